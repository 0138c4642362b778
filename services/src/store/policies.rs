//! Policy rules and the policy version. The store only reads and writes rows; which changes are
//! allowed (grammar, tenant, lock-out) is decided in `policy/changes.rs` inside the transaction
//! these functions are given.

use super::sql::Sql;
use super::{Event, Store, WriteTxn};
use crate::domain::audit::{Actor, Changes};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Kind, Rule};
use roster::ErrorCode;
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde_json::Value;
use uuid::Uuid;

/// A stored rule.
#[derive(Clone, Debug)]
pub struct StoredRule {
    /// Its id.
    pub id: String,
    /// The rule.
    pub rule: Rule,
    /// When it was written, microseconds.
    pub created_at: i64,
    /// Who wrote it (`policy.csv` for the starting policy).
    pub created_by: String,
}

#[derive(FromQueryResult)]
struct RuleRow {
    id: String,
    kind: String,
    subject: String,
    domain: String,
    object: String,
    action: String,
    effect: String,
    created_at: i64,
    created_by: String,
}

#[derive(FromQueryResult)]
struct VersionRow {
    version: i64,
    seeded: i32,
}

/// An active token's subjects, for the lock-out check.
#[derive(FromQueryResult)]
pub struct TokenSubjects {
    /// Token id.
    pub id: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Its provisioning connection, if any.
    pub connection_id: Option<String>,
}

/// A statement with no parameters.
fn fixed(backend: sea_orm::DbBackend, text: &str) -> sea_orm::Statement {
    let mut sql = Sql::new(backend);
    sql.push(text);
    sql.build()
}

const RULE_COLUMNS: &str = "SELECT id, kind, subject, domain, object, action, effect, created_at, created_by FROM policy_rules";

fn stored(row: RuleRow) -> CoreResult<StoredRule> {
    let kind = Kind::from_ptype(&row.kind).ok_or_else(|| {
        CoreError::internal(anyhow::anyhow!(
            "policy rule {} has kind {}",
            row.id,
            row.kind
        ))
    })?;
    Ok(StoredRule {
        id: row.id,
        rule: Rule {
            kind,
            subject: row.subject,
            domain: row.domain,
            object: row.object,
            action: row.action,
            effect: row.effect,
        },
        created_at: row.created_at,
        created_by: row.created_by,
    })
}

async fn rules_in(
    conn: &impl ConnectionTrait,
    backend: sea_orm::DbBackend,
    domains: Option<&[&str]>,
) -> CoreResult<Vec<StoredRule>> {
    let mut select = Sql::new(backend);
    select.push(RULE_COLUMNS);
    if let Some(domains) = domains {
        select
            .push(" WHERE domain IN ")
            .bind_list(domains.iter().copied());
    }
    select.push(" ORDER BY created_at, id");
    let rows = conn.query_all_raw(select.build()).await?;
    rows.iter()
        .map(|row| stored(RuleRow::from_query_result(row, "")?))
        .collect()
}

impl Store {
    /// The policy version and whether the starting policy was written.
    pub async fn policy_version(&self) -> CoreResult<(i64, bool)> {
        let row = self
            .conn()
            .query_one_raw(fixed(
                self.backend,
                "SELECT version, seeded FROM policy_state WHERE id = 1",
            ))
            .await?
            .ok_or_else(|| CoreError::internal(anyhow::anyhow!("policy_state has no row")))?;
        let row = VersionRow::from_query_result(&row, "")?;
        Ok((row.version, row.seeded != 0))
    }

    /// Every rule with the version it was read at (the version is read first, so a change that
    /// lands in between is picked up by the next reload).
    pub async fn load_policy(&self) -> CoreResult<(i64, Vec<StoredRule>)> {
        let (version, _) = self.policy_version().await?;
        let rules = rules_in(self.conn(), self.backend, None).await?;
        Ok((version, rules))
    }

    /// The rules of `domains` (organization ids and/or `*`).
    pub async fn list_policy_rules(&self, domains: &[&str]) -> CoreResult<Vec<StoredRule>> {
        rules_in(self.conn(), self.backend, Some(domains)).await
    }

    /// The rules of `domains`, read in `txn` (the candidate policy of a change).
    pub async fn policy_rules_in(
        &self,
        txn: &WriteTxn,
        domains: &[&str],
    ) -> CoreResult<Vec<StoredRule>> {
        rules_in(&**txn, self.backend, Some(domains)).await
    }

    /// Bumps the policy version: the first statement of every policy change, so concurrent
    /// changes queue on this row (PostgreSQL) or on the write lock (SQLite) and each one's
    /// lock-out check sees the other's result.
    pub async fn bump_policy_version(&self, txn: &WriteTxn) -> CoreResult<()> {
        txn.execute_raw(fixed(
            self.backend,
            "UPDATE policy_state SET version = version + 1 WHERE id = 1",
        ))
        .await?;
        Ok(())
    }

    /// Writes the starting policy once per database (a second rosterd starting at the same
    /// time finds `seeded` set and writes nothing). Returns whether it wrote.
    pub async fn seed_policy(&self, rules: &[Rule]) -> CoreResult<bool> {
        let txn = self.begin_write().await?;
        let claimed = txn
            .execute_raw(
                fixed(self.backend, "UPDATE policy_state SET seeded = 1, version = version + 1 WHERE id = 1 AND seeded = 0"),
            )
            .await?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        for rule in rules {
            self.insert_policy_rule(&txn, rule, "policy.csv").await?;
        }
        txn.commit().await?;
        Ok(true)
    }

    /// Inserts `rule`; ALREADY_EXISTS when the same rule is stored.
    pub async fn insert_policy_rule(
        &self,
        txn: &WriteTxn,
        rule: &Rule,
        created_by: &str,
    ) -> CoreResult<StoredRule> {
        let id = Uuid::new_v4().to_string();
        let now = self.clock.now_micros();
        let mut insert = Sql::new(self.backend);
        insert
            .push("INSERT INTO policy_rules (id, kind, subject, domain, object, action, effect, created_at, created_by) VALUES (")
            .bind(id.as_str())
            .push(", ")
            .bind(rule.kind.ptype())
            .push(", ")
            .bind(rule.subject.as_str())
            .push(", ")
            .bind(rule.domain.as_str())
            .push(", ")
            .bind(rule.object.as_str())
            .push(", ")
            .bind(rule.action.as_str())
            .push(", ")
            .bind(rule.effect.as_str())
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(created_by)
            .push(") ON CONFLICT DO NOTHING");
        let result = txn.execute_raw(insert.build()).await?;
        if result.rows_affected() == 0 {
            return Err(CoreError::new(
                ErrorCode::Uniqueness,
                "rule",
                format!("the rule `{}` exists already", rule.to_line()),
            ));
        }
        Ok(StoredRule {
            id,
            rule: rule.clone(),
            created_at: now,
            created_by: created_by.to_owned(),
        })
    }

    /// Deletes the rule `id` if it belongs to one of `domains`; NOT_FOUND otherwise (another
    /// organization's rule is not found, not forbidden).
    pub async fn delete_policy_rule(
        &self,
        txn: &WriteTxn,
        id: &str,
        domains: &[&str],
    ) -> CoreResult<StoredRule> {
        let mut select = Sql::new(self.backend);
        select
            .push(RULE_COLUMNS)
            .push(" WHERE id = ")
            .bind(id)
            .push(" AND domain IN ")
            .bind_list(domains.iter().copied());
        let row = txn
            .query_one_raw(select.build())
            .await?
            .ok_or_else(|| CoreError::not_found("policy rule"))?;
        let found = stored(RuleRow::from_query_result(&row, "")?)?;
        let mut delete = Sql::new(self.backend);
        delete.push("DELETE FROM policy_rules WHERE id = ").bind(id);
        txn.execute_raw(delete.build()).await?;
        Ok(found)
    }

    /// The active (unrevoked, unexpired) tokens of `org_id`, read in `txn`.
    pub async fn active_token_subjects(
        &self,
        txn: &WriteTxn,
        org_id: &str,
    ) -> CoreResult<Vec<TokenSubjects>> {
        let now = self.clock.now_micros();
        let mut select = Sql::new(self.backend);
        select
            .push("SELECT id, scopes, connection_id FROM api_tokens WHERE org_id = ")
            .bind(org_id)
            .push(" AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ")
            .bind(now)
            .push(")");
        let rows = txn.query_all_raw(select.build()).await?;
        rows.iter()
            .map(|row| Ok(TokenSubjects::from_query_result(row, "")?))
            .collect()
    }

    /// Records a policy change in `org_id`'s audit log, inside its transaction.
    pub async fn audit_policy_change(
        &self,
        txn: &WriteTxn,
        actor: &Actor,
        org_id: &str,
        operation: &'static str,
        rule: &StoredRule,
        added: bool,
    ) -> CoreResult<()> {
        let line = Value::String(rule.rule.to_line());
        let mut changes = Changes::new();
        if added {
            changes.set("rule", &Value::Null, &line);
        } else {
            changes.set("rule", &line, &Value::Null);
        }
        let actor = Actor {
            org_id: org_id.to_owned(),
            ..actor.clone()
        };
        let event = Event {
            operation,
            target_kind: "policy_rule",
            target_id: &rule.id,
        };
        self.audit(txn, &actor, event, &changes).await
    }
}
