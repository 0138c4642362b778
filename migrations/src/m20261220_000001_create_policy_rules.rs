//! The casbin policy, stored as rows so every rosterd sharing the database enforces the same one.
//!
//! - `policy_rules`: one casbin rule per row. `kind` is `p` (a permission: subject, domain,
//!   object, action, effect) or `g` (a grouping: subject, role in `object`, domain; `action` and
//!   `effect` are empty). `domain` is an organization id or `*` (a rule for every organization,
//!   written only by the `system` scope). The core validates every value against a small grammar
//!   before it reaches this table, so no value can alias another tenant's rules.
//! - `uq_policy_rules_rule`: a rule exists once; adding it twice is ALREADY_EXISTS.
//! - `policy_state`: one row. `version` is bumped in the transaction of every policy change;
//!   each rosterd watches it and swaps in a freshly built enforcer when it moves. `seeded` records
//!   that the starting policy (`services/policy/policy.csv`) was written, so a platform engineer's
//!   removal of a starting rule survives restarts.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261220_000001_create_policy_rules"
    }
}

const TABLES: &str = r#"
CREATE TABLE policy_rules (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('p', 'g')),
    subject TEXT NOT NULL,
    domain TEXT NOT NULL,
    object TEXT NOT NULL,
    action TEXT NOT NULL,
    effect TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE UNIQUE INDEX uq_policy_rules_rule ON policy_rules (domain, kind, subject, object, action, effect);
CREATE TABLE policy_state (
    id INTEGER NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL,
    seeded INTEGER NOT NULL
);
INSERT INTO policy_state (id, version, seeded) VALUES (1, 0, 0)
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
        connection
            .execute_unprepared("DROP TABLE IF EXISTS policy_state")
            .await?;
        connection
            .execute_unprepared("DROP TABLE IF EXISTS policy_rules")
            .await?;
        Ok(())
    }
}
