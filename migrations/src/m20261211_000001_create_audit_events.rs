//! The audit log: one row per write (outcome `ok`) and per refused authorization (`denied`),
//! inserted by the store in the transaction of the change it records, so a change and its record
//! commit or roll back together.
//!
//! - `principal_kind` is `token` (an API token: its id and name, which is the connection name an
//!   identity provider's token carries, "Okta production") or `service` (rosterd itself, e.g. the
//!   bootstrap). `client` is the caller's user agent (at most 256 characters, control characters
//!   stripped), `request_id` the `x-request-id` the request carried or was given.
//! - `operation` is `<resource>.<verb>` (`user.create`, `group.update`, `token.revoke`,
//!   `role.assign_user`); `target_kind`/`target_id` name what it acted on.
//! - `changes` is JSON text: `{attribute: {"before": v, "after": v}}` with short values; never a
//!   secret or a password (the store builds it from a fixed list of attributes).
//! - `outcome` is `ok` or `denied`; `reason` is a short code for a denial (`missing_scope:admin`).
//!
//! There is no foreign key to `organizations`: the log outlives whatever it records. The index on
//! (org_id, occurred_at, id) serves the newest-first keyset paging of AuditService.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261211_000001_create_audit_events"
    }
}

const TABLES: &str = r#"
CREATE TABLE audit_events (
    id TEXT NOT NULL PRIMARY KEY,
    org_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    principal_kind TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    client TEXT NOT NULL,
    request_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    changes TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NULL
);
CREATE INDEX ix_audit_events_org_time ON audit_events (org_id, occurred_at, id)
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
            .execute_unprepared("DROP TABLE IF EXISTS audit_events")
            .await?;
        Ok(())
    }
}
