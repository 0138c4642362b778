//! `active` may be unassigned (RFC 7644 §3.5.2.2: a removed attribute has no value). The
//! `users.active` column stays NOT NULL so `active eq true` stays an index-friendly comparison;
//! an unassigned `active` is stored as `active = false, active_assigned = false`: a user whose
//! `active` was removed reads without it and counts as inactive, so removing it never quietly
//! reactivates anyone.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261220_000002_unassigned_active"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE users ADD COLUMN active_assigned BOOLEAN NOT NULL DEFAULT TRUE",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE users DROP COLUMN active_assigned")
            .await?;
        Ok(())
    }
}
