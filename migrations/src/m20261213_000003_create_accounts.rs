//! Accounts: one row per person, keyed by the lowercased email address that identifies them
//! across organizations (`users.account_id` links each organization's user resource to it).
//!
//! - `uq_accounts_email_key`: one account per address, so a create that names an address some
//!   account already has adopts that account (the store inserts with `ON CONFLICT DO NOTHING` and
//!   reads the winner), and a concurrent move of two accounts to one address fails for the
//!   second.
//! - No foreign key from `users.account_id` (the column predates the table, and SQLite cannot add
//!   one to an existing column); accounts are never deleted, so the link cannot dangle.
//! - Users written before this migration have no account until a write changes their account
//!   email.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261213_000003_create_accounts"
    }
}

const TABLES: &str = r#"
CREATE TABLE accounts (
    id TEXT NOT NULL PRIMARY KEY,
    email_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX uq_accounts_email_key ON accounts (email_key)
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
            .execute_unprepared("DROP TABLE IF EXISTS accounts")
            .await?;
        Ok(())
    }
}
