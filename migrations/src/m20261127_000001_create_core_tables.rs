//! Organizations, API tokens, users (with their email index), groups and memberships.
//!
//! Written as SQL per backend rather than with the schema builder because the schema leans on what
//! differs: `jsonb` on PostgreSQL (so filters can reach into the profile with an index-friendly
//! operator) and named unique indexes that the store recognises. Ids are UUIDs in text form and
//! instants are microseconds since the Unix epoch, so both backends store and sort them alike.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000001_create_core_tables"
    }
}

/// Statements shared by both backends once `JSON_TYPE` is substituted.
const TABLES: &str = r#"
CREATE TABLE organizations (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX uq_organizations_name ON organizations (name);

CREATE TABLE api_tokens (
    id TEXT NOT NULL PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    secret_prefix TEXT NOT NULL,
    expires_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    last_used_at BIGINT NULL,
    revoked_at BIGINT NULL
);
CREATE INDEX ix_api_tokens_org ON api_tokens (org_id, created_at);

CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    account_id TEXT NULL,
    user_name TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    external_id TEXT NULL,
    display_name TEXT NULL,
    display_name_key TEXT NULL,
    active BOOLEAN NOT NULL,
    user_type TEXT NULL,
    profile JSON_TYPE NOT NULL,
    custom_attributes JSON_TYPE NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX uq_users_org_user_name ON users (org_id, user_name_key);
CREATE UNIQUE INDEX uq_users_org_external_id ON users (org_id, external_id);
CREATE INDEX ix_users_org_display_name ON users (org_id, display_name_key);
CREATE INDEX ix_users_org_created ON users (org_id, created_at, id);
CREATE INDEX ix_users_account ON users (account_id);

CREATE TABLE user_emails (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    org_id TEXT NOT NULL,
    value TEXT NOT NULL,
    value_key TEXT NOT NULL,
    type TEXT NULL,
    is_primary BOOLEAN NOT NULL,
    display TEXT NULL,
    PRIMARY KEY (user_id, position)
);
CREATE INDEX ix_user_emails_org_value ON user_emails (org_id, value_key);

CREATE TABLE groups (
    id TEXT NOT NULL PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    external_id TEXT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX uq_groups_org_display_name ON groups (org_id, display_name_key);
CREATE UNIQUE INDEX uq_groups_org_external_id ON groups (org_id, external_id);
CREATE INDEX ix_groups_org_created ON groups (org_id, created_at, id);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    member_type SMALLINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX ix_group_members_org_member ON group_members (org_id, member_id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let json_type = match manager.get_database_backend() {
            DbBackend::Postgres => "JSONB",
            _ => "TEXT",
        };
        let connection = manager.get_connection();
        for statement in TABLES.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            connection
                .execute_unprepared(&statement.replace("JSON_TYPE", json_type))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for table in [
            "group_members",
            "groups",
            "user_emails",
            "users",
            "api_tokens",
            "organizations",
        ] {
            connection
                .execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
