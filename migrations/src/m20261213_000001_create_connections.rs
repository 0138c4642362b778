//! Provisioning connections: the named link of an identity provider ("Okta production") that its
//! API tokens belong to.
//!
//! - `name_key` is the lowercase name; `uq_connections_org_name` keeps names unique per
//!   organization ignoring case among connections not deleted (a partial unique index), so a
//!   deleted connection's name can be used again.
//! - `kind` is `okta`, `entra` or `generic`; `ip_allow_list` holds canonical CIDR blocks separated
//!   by spaces (empty: any address). The store validates both.
//! - A connection is deleted by setting `deleted_at` (its tokens are revoked in the same
//!   transaction), so tokens and audit events keep naming it.
//! - `api_tokens.connection_id` says which connection a token belongs to (NULL: none).
//! - `audit_events.token_id` keeps the token of a request whose principal is its connection.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261213_000001_create_connections"
    }
}

const TABLES: &str = r#"
CREATE TABLE connections (
    id TEXT NOT NULL PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('okta', 'entra', 'generic')),
    ip_allow_list TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT NULL
);
CREATE UNIQUE INDEX uq_connections_org_name ON connections (org_id, name_key)
    WHERE deleted_at IS NULL;
ALTER TABLE api_tokens ADD COLUMN connection_id TEXT NULL REFERENCES connections (id);
CREATE INDEX ix_api_tokens_connection ON api_tokens (connection_id);
ALTER TABLE audit_events ADD COLUMN token_id TEXT NULL
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
        let connection = manager.get_connection();
        for statement in [
            "ALTER TABLE audit_events DROP COLUMN token_id",
            "DROP INDEX IF EXISTS ix_api_tokens_connection",
            "ALTER TABLE api_tokens DROP COLUMN connection_id",
            "DROP TABLE IF EXISTS connections",
        ] {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
