//! A member count on each group, kept in the same transaction as every membership change, so a
//! write can tell how large the group is without reading its members.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261212_000001_count_group_members"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        connection
            .execute_unprepared(
                "ALTER TABLE groups ADD COLUMN member_count BIGINT NOT NULL DEFAULT 0",
            )
            .await?;
        connection
            .execute_unprepared(
                "UPDATE groups SET member_count = \
                 (SELECT COUNT(*) FROM group_members gm WHERE gm.group_id = groups.id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE groups DROP COLUMN member_count")
            .await?;
        Ok(())
    }
}
