//! Accounts (a person across organizations, keyed by the lowercased account email) and the reads
//! the domain-verified email rules need, all on the write's own transaction so the rules see the
//! state the write commits against. The rules themselves are `domain/accounts.rs`.
//!
//! Cost: the new accounts of a whole create batch are one multi-row `INSERT ... ON CONFLICT DO
//! NOTHING RETURNING` (one statement per user cost creates ~20% on SQLite, where every statement is
//! a hand-off to the connection's thread); adopting
//! an existing account adds one indexed read (the account, whether another organization's user
//! links to it, whether the domain is verified). A replace whose addresses did not change reads
//! nothing; one that changes them reads the verified domains and, when it removes an address,
//! whether the account is shared, in one statement.

use super::Store;
use super::sql::Sql;
use crate::domain::accounts::{self, EmailChange};
use crate::domain::domains::{self, VerifiedDomains, email_domain};
use crate::error::CoreResult;
use sea_orm::{ConnectionTrait, FromQueryResult};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(FromQueryResult)]
struct IdRow {
    id: String,
}

#[derive(FromQueryResult)]
struct KeyedRow {
    id: String,
    email_key: String,
}

#[derive(FromQueryResult)]
struct AdoptRow {
    id: String,
    shared: i32,
    verified: i32,
}

#[derive(FromQueryResult)]
struct RuleRow {
    shared: i32,
    name: Option<String>,
}

impl Store {
    /// The account a new user of `org_id` with account email `key` belongs to: a new one, or the
    /// existing one, which it may adopt only when no other organization's user links to it or
    /// `org_id` has verified its domain. The account itself is never rewritten.
    pub(super) async fn account_for_create(
        &self,
        conn: &impl ConnectionTrait,
        org_id: &str,
        key: &str,
        now: i64,
    ) -> CoreResult<String> {
        if let Some(id) = self.insert_account(conn, key, now).await? {
            return Ok(id);
        }
        let domain = email_domain(key).unwrap_or_default();
        let mut select = Sql::new(self.backend);
        select
            .push(
                "SELECT a.id AS id, CASE WHEN EXISTS (SELECT 1 FROM users u \
                 WHERE u.account_id = a.id AND u.org_id <> ",
            )
            .bind(org_id)
            .push(
                ") THEN 1 ELSE 0 END AS shared, CASE WHEN EXISTS (SELECT 1 FROM domains d \
                 WHERE d.org_id = ",
            )
            .bind(org_id)
            .push(" AND d.status = ")
            .bind(domains::VERIFIED)
            .push(" AND d.name = ")
            .bind(domain.clone())
            .push(") THEN 1 ELSE 0 END AS verified FROM accounts a WHERE a.email_key = ")
            .bind(key);
        let row = conn.query_one_raw(select.build()).await?;
        let Some(row) = row else {
            // Only a concurrent transaction that inserted the key and rolled back gets here.
            return self.insert_or_find_account(conn, key, now).await;
        };
        let row = AdoptRow::from_query_result(&row, "")?;
        if row.shared != 0 {
            let verified = if row.verified != 0 {
                VerifiedDomains::new([domain])
            } else {
                VerifiedDomains::default()
            };
            accounts::check_adoption(key, &verified)?;
        }
        Ok(row.id)
    }

    /// Checks a replace's change of addresses (nothing to read when there is none).
    pub(super) async fn check_email_change(
        &self,
        conn: &impl ConnectionTrait,
        org_id: &str,
        account_id: Option<&str>,
        change: &EmailChange,
    ) -> CoreResult<()> {
        if change.is_empty() {
            return Ok(());
        }
        let mut select = Sql::new(self.backend);
        select.push("SELECT ");
        match account_id.filter(|_| change.removes_any()) {
            Some(account_id) => {
                select
                    .push("CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.account_id = ")
                    .bind(account_id)
                    .push(" AND u.org_id <> ")
                    .bind(org_id)
                    .push(") THEN 1 ELSE 0 END AS shared");
            }
            None => {
                select.push("0 AS shared");
            }
        }
        select
            .push(", d.name AS name FROM (SELECT 1 AS one) o LEFT JOIN domains d ON d.org_id = ")
            .bind(org_id)
            .push(" AND d.status = ")
            .bind(domains::VERIFIED);
        let rows = conn.query_all_raw(select.build()).await?;
        let mut shared = false;
        let mut names = Vec::with_capacity(rows.len());
        for row in &rows {
            let row = RuleRow::from_query_result(row, "")?;
            shared |= row.shared != 0;
            names.extend(row.name);
        }
        change.check(&VerifiedDomains::new(names), shared)
    }

    /// The account of a user whose account email becomes `key` (the change already passed the
    /// rules, so `key`'s domain is verified): the user's account moves to the new address unless
    /// another account holds it, in which case the user joins that one; a user without an account
    /// gets one.
    pub(super) async fn account_for_change(
        &self,
        conn: &impl ConnectionTrait,
        account_id: Option<&str>,
        key: &str,
        now: i64,
    ) -> CoreResult<String> {
        if let Some(account_id) = account_id {
            let mut update = Sql::new(self.backend);
            update
                .push("UPDATE accounts SET email_key = ")
                .bind(key)
                .push(" WHERE id = ")
                .bind(account_id)
                .push(" AND NOT EXISTS (SELECT 1 FROM accounts held WHERE held.email_key = ")
                .bind(key)
                .push(")");
            if conn.execute_raw(update.build()).await?.rows_affected() == 1 {
                return Ok(account_id.to_owned());
            }
        }
        self.insert_or_find_account(conn, key, now).await
    }

    async fn insert_or_find_account(
        &self,
        conn: &impl ConnectionTrait,
        key: &str,
        now: i64,
    ) -> CoreResult<String> {
        if let Some(id) = self.insert_account(conn, key, now).await? {
            return Ok(id);
        }
        let mut select = Sql::new(self.backend);
        select
            .push("SELECT id FROM accounts WHERE email_key = ")
            .bind(key);
        match conn.query_one_raw(select.build()).await? {
            Some(row) => Ok(IdRow::from_query_result(&row, "")?.id),
            None => Err(crate::error::CoreError::internal(anyhow::anyhow!(
                "an account key conflicted but no account holds it"
            ))),
        }
    }

    /// Inserts an account for each of `keys` that has none, in one statement; returns the new
    /// accounts by key (keys that exist already are absent).
    pub(super) async fn insert_accounts(
        &self,
        conn: &impl ConnectionTrait,
        keys: &[String],
        now: i64,
    ) -> CoreResult<HashMap<String, String>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut insert = Sql::new(self.backend);
        insert.push("INSERT INTO accounts (id, email_key, created_at) VALUES ");
        for (index, key) in keys.iter().enumerate() {
            if index > 0 {
                insert.push(", ");
            }
            insert
                .push("(")
                .bind(Uuid::now_v7().to_string())
                .push(", ")
                .bind(key.as_str())
                .push(", ")
                .bind(now)
                .push(")");
        }
        insert.push(" ON CONFLICT (email_key) DO NOTHING RETURNING id, email_key");
        let rows = conn.query_all_raw(insert.build()).await?;
        rows.iter()
            .map(|row| {
                let row = KeyedRow::from_query_result(row, "")?;
                Ok((row.email_key, row.id))
            })
            .collect()
    }

    /// Inserts a new account for `key`; `None` when one exists.
    async fn insert_account(
        &self,
        conn: &impl ConnectionTrait,
        key: &str,
        now: i64,
    ) -> CoreResult<Option<String>> {
        let mut insert = Sql::new(self.backend);
        insert
            .push("INSERT INTO accounts (id, email_key, created_at) VALUES (")
            .bind(Uuid::now_v7().to_string())
            .push(", ")
            .bind(key)
            .push(", ")
            .bind(now)
            .push(") ON CONFLICT (email_key) DO NOTHING RETURNING id");
        let row = conn.query_one_raw(insert.build()).await?;
        row.map(|row| Ok(IdRow::from_query_result(&row, "")?.id))
            .transpose()
    }
}
