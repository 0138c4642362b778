//! Domains of an organization (`domains`): registration with a fresh challenge, verification (the
//! DNS check itself happens outside any transaction, in the gRPC adapter), deletion, and the
//! verified names the email rules read.
//!
//! "Verified by one organization only" is the database's rule (the partial unique index
//! `uq_domains_verified_name`): the store checks first so the usual case gets a clear answer
//! before any DNS work, and a concurrent verification by another organization that slips past the
//! check fails on the index and gets the same ALREADY_EXISTS.

use super::sql::Sql;
use super::{Event, Store, timestamp};
use crate::domain::audit::{Actor, Changes};
use crate::domain::domains::{self, DomainName, VerifiedDomains};
use crate::error::{CoreError, CoreResult};
use roster::{ErrorCode, pb};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, SqlErr};
use serde_json::Value;
use uuid::Uuid;

const COLUMNS: &str =
    "SELECT id, org_id, name, challenge, status, verified_at, verified_by, created_at FROM domains";

/// A stored domain.
#[derive(Clone, Debug, FromQueryResult)]
pub struct DomainRow {
    /// Its id.
    pub id: String,
    /// Its organization.
    pub org_id: String,
    /// The lowercase name.
    pub name: String,
    /// The challenge value.
    pub challenge: String,
    /// `pending` or `verified`.
    pub status: String,
    /// When it was verified.
    pub verified_at: Option<i64>,
    /// `dns` or `manual:<principal>`.
    pub verified_by: Option<String>,
    /// When it was registered.
    pub created_at: i64,
}

impl DomainRow {
    /// Whether it is verified.
    pub fn is_verified(&self) -> bool {
        self.status == domains::VERIFIED
    }

    /// The validated name.
    pub fn domain_name(&self) -> DomainName {
        DomainName::from_stored(self.name.clone())
    }

    /// The contract's message.
    pub fn to_pb(&self) -> pb::Domain {
        let status = if self.is_verified() {
            pb::DomainStatus::Verified
        } else {
            pb::DomainStatus::Pending
        };
        pb::Domain {
            id: self.id.clone(),
            name: self.name.clone(),
            status: status as i32,
            challenge_record_name: self.domain_name().challenge_record_name(),
            challenge_value: self.challenge.clone(),
            created: Some(timestamp(self.created_at)),
            verified_at: self.verified_at.map(timestamp),
            verified_by: self.verified_by.clone().unwrap_or_default(),
        }
    }
}

#[derive(FromQueryResult)]
struct NameRow {
    name: String,
}

fn verified_elsewhere(name: &str) -> CoreError {
    CoreError::new(
        ErrorCode::Uniqueness,
        "name",
        format!("{name} is already verified by another organization"),
    )
}

/// Maps the two unique indexes of `domains` (by index name on PostgreSQL, by column list on
/// SQLite) to ALREADY_EXISTS; anything else goes through the general mapping.
fn map_unique(error: DbErr, name: &str) -> CoreError {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = error.sql_err() {
        if message.contains("uq_domains_org_name")
            || message.contains("domains.org_id, domains.name")
        {
            return CoreError::new(
                ErrorCode::Uniqueness,
                "name",
                format!("{name} is already registered in this organization"),
            );
        }
        if message.contains("uq_domains_verified_name") || message.contains("domains.name") {
            return verified_elsewhere(name);
        }
    }
    error.into()
}

impl Store {
    /// Registers `name` in the organization, pending, with a fresh challenge.
    pub async fn register_domain(
        &self,
        actor: &Actor,
        org_id: &str,
        name: &DomainName,
    ) -> CoreResult<pb::Domain> {
        let challenge = domains::new_challenge().map_err(|error| {
            CoreError::internal(anyhow::anyhow!("os random source failed: {error}"))
        })?;
        let row = DomainRow {
            id: Uuid::new_v4().to_string(),
            org_id: org_id.to_owned(),
            name: name.as_str().to_owned(),
            challenge,
            status: domains::PENDING.to_owned(),
            verified_at: None,
            verified_by: None,
            created_at: self.clock.now_micros(),
        };
        let txn = self.begin_write().await?;
        let mut insert = Sql::new(self.backend);
        insert
            .push("INSERT INTO domains (id, org_id, name, challenge, status, created_at) VALUES (")
            .bind(row.id.as_str())
            .push(", ")
            .bind(org_id)
            .push(", ")
            .bind(row.name.as_str())
            .push(", ")
            .bind(row.challenge.as_str())
            .push(", ")
            .bind(row.status.as_str())
            .push(", ")
            .bind(row.created_at)
            .push(")");
        txn.execute_raw(insert.build())
            .await
            .map_err(|error| map_unique(error, name.as_str()))?;
        let mut changes = Changes::new();
        changes.set("name", &Value::Null, &Value::from(row.name.as_str()));
        let event = Event {
            operation: "domain.register",
            target_kind: "domain",
            target_id: &row.id,
        };
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok(row.to_pb())
    }

    /// The organization's domains, by name.
    pub async fn list_domains(&self, org_id: &str) -> CoreResult<Vec<pb::Domain>> {
        let mut select = Sql::new(self.backend);
        select
            .push(COLUMNS)
            .push(" WHERE org_id = ")
            .bind(org_id)
            .push(" ORDER BY name, id");
        let rows = self.conn().query_all_raw(select.build()).await?;
        rows.iter()
            .map(|row| Ok(DomainRow::from_query_result(row, "")?.to_pb()))
            .collect()
    }

    /// One domain of the organization; NOT_FOUND when it has no such id.
    pub async fn get_domain(&self, org_id: &str, id: &str) -> CoreResult<DomainRow> {
        domain_row(self.conn(), self.backend, org_id, id)
            .await?
            .ok_or_else(|| CoreError::not_found("domain"))
    }

    /// ALREADY_EXISTS when an organization other than `org_id` holds `name` verified.
    pub async fn check_not_verified_elsewhere(&self, org_id: &str, name: &str) -> CoreResult<()> {
        let mut select = Sql::new(self.backend);
        select
            .push("SELECT name FROM domains WHERE name = ")
            .bind(name)
            .push(" AND status = ")
            .bind(domains::VERIFIED)
            .push(" AND org_id <> ")
            .bind(org_id);
        match self.conn().query_one_raw(select.build()).await? {
            Some(_) => Err(verified_elsewhere(name)),
            None => Ok(()),
        }
    }

    /// Marks a domain of the organization verified now, by `verified_by` (`dns` or
    /// `manual:<principal>`). An already verified domain is returned unchanged. ALREADY_EXISTS when
    /// another organization holds the name verified (also when it won a race with this call).
    pub async fn mark_domain_verified(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
        verified_by: &str,
    ) -> CoreResult<pb::Domain> {
        let txn = self.begin_write().await?;
        let row = domain_row(&*txn, self.backend, org_id, id)
            .await?
            .ok_or_else(|| CoreError::not_found("domain"))?;
        if row.is_verified() {
            return Ok(row.to_pb());
        }
        let mut update = Sql::new(self.backend);
        update
            .push("UPDATE domains SET status = ")
            .bind(domains::VERIFIED)
            .push(", verified_at = ")
            .bind(self.clock.now_micros())
            .push(", verified_by = ")
            .bind(verified_by)
            .push(" WHERE id = ")
            .bind(id)
            .push(" AND org_id = ")
            .bind(org_id)
            // A concurrent verification in this organization that committed first keeps its
            // instant and method.
            .push(" AND status = ")
            .bind(domains::PENDING);
        txn.execute_raw(update.build())
            .await
            .map_err(|error| map_unique(error, &row.name))?;
        let row = domain_row(&*txn, self.backend, org_id, id)
            .await?
            .ok_or_else(|| CoreError::not_found("domain"))?;
        let mut changes = Changes::new();
        changes
            .set(
                "status",
                &Value::from(domains::PENDING),
                &Value::from(row.status.as_str()),
            )
            .set("verifiedBy", &Value::Null, &Value::from(verified_by));
        // The event belongs to the domain's organization, also when the operator verified it.
        let actor = Actor {
            org_id: org_id.to_owned(),
            ..actor.clone()
        };
        let event = Event {
            operation: "domain.verify",
            target_kind: "domain",
            target_id: id,
        };
        self.audit(&txn, &actor, event, &changes).await?;
        txn.commit().await?;
        Ok(row.to_pb())
    }

    /// Deletes a domain of the organization; returns it as it was.
    pub async fn delete_domain(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
    ) -> CoreResult<pb::Domain> {
        let txn = self.begin_write().await?;
        let row = domain_row(&*txn, self.backend, org_id, id)
            .await?
            .ok_or_else(|| CoreError::not_found("domain"))?;
        let mut delete = Sql::new(self.backend);
        delete
            .push("DELETE FROM domains WHERE id = ")
            .bind(id)
            .push(" AND org_id = ")
            .bind(org_id);
        let result = txn.execute_raw(delete.build()).await?;
        super::expect_one(result.rows_affected(), "domain")?;
        let mut changes = Changes::new();
        changes.set("name", &Value::from(row.name.as_str()), &Value::Null);
        let event = Event {
            operation: "domain.delete",
            target_kind: "domain",
            target_id: id,
        };
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok(row.to_pb())
    }

    /// The names the organization has verified, for the domain-verified email rules.
    pub async fn verified_domain_names(&self, org_id: &str) -> CoreResult<VerifiedDomains> {
        verified_domain_names_in(self.conn(), self.backend, org_id).await
    }
}

/// The names `org_id` has verified, read on `conn` (a write transaction, so a rule checked there
/// sees the same state the write commits against).
pub(crate) async fn verified_domain_names_in(
    conn: &impl ConnectionTrait,
    backend: sea_orm::DbBackend,
    org_id: &str,
) -> CoreResult<VerifiedDomains> {
    let mut select = Sql::new(backend);
    select
        .push("SELECT name FROM domains WHERE org_id = ")
        .bind(org_id)
        .push(" AND status = ")
        .bind(domains::VERIFIED);
    let rows = conn.query_all_raw(select.build()).await?;
    let names = rows
        .iter()
        .map(|row| Ok(NameRow::from_query_result(row, "")?.name))
        .collect::<CoreResult<Vec<String>>>()?;
    Ok(VerifiedDomains::new(names))
}

async fn domain_row(
    conn: &impl ConnectionTrait,
    backend: sea_orm::DbBackend,
    org_id: &str,
    id: &str,
) -> CoreResult<Option<DomainRow>> {
    let mut select = Sql::new(backend);
    select
        .push(COLUMNS)
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND org_id = ")
        .bind(org_id);
    match conn.query_one_raw(select.build()).await? {
        Some(row) => Ok(Some(DomainRow::from_query_result(&row, "")?)),
        None => Ok(None),
    }
}
