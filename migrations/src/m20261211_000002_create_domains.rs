//! Domains an organization registers and proves it controls (by a DNS TXT record, or by an
//! operator's hand).
//!
//! - `name` is the lowercase ASCII hostname without a trailing dot; the store validates it.
//! - `uq_domains_org_name`: one row per name per organization (registering it twice is
//!   ALREADY_EXISTS). Several organizations may each hold a *pending* row for one name, each with
//!   its own challenge.
//! - `uq_domains_verified_name`: a partial unique index over the verified rows only, so at most one
//!   organization holds a name verified. Two organizations verifying at once both pass the
//!   store's check; the database refuses the second commit and the store maps the violation to
//!   ALREADY_EXISTS, the same answer as a plain attempt after the first one won.
//! - `status` is `pending` or `verified`; a verified row has `verified_at` and `verified_by`
//!   (`dns`, or `manual:<principal>` for an operator's manual verification).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261211_000002_create_domains"
    }
}

const TABLES: &str = r#"
CREATE TABLE domains (
    id TEXT NOT NULL PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    challenge TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'verified')),
    verified_at BIGINT NULL,
    verified_by TEXT NULL,
    created_at BIGINT NOT NULL,
    CHECK ((status = 'verified') = (verified_at IS NOT NULL AND verified_by IS NOT NULL))
);
CREATE UNIQUE INDEX uq_domains_org_name ON domains (org_id, name);
CREATE UNIQUE INDEX uq_domains_verified_name ON domains (name) WHERE status = 'verified'
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for statement in TABLES.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS domains")
            .await?;
        Ok(())
    }
}
