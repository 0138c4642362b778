//! Provisioning connections (`connections`): create, read, rename or re-list, and delete (a
//! `deleted_at` marker; the connection's tokens are revoked in the same transaction). Every
//! statement is scoped by organization, and a deleted connection is NOT_FOUND like an unknown one.

use super::sql::Sql;
use super::{Event, Store, WriteTxn, timestamp};
use crate::domain::audit::{Actor, Changes};
use crate::domain::connection::{self, Cidr};
use crate::domain::validate;
use crate::error::{CoreError, CoreResult};
use roster::{ErrorCode, pb};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, SqlErr};
use serde_json::{Value, json};
use uuid::Uuid;

const COLUMNS: &str = "SELECT id, org_id, name, kind, ip_allow_list, created_at, created_by, \
                       updated_at FROM connections";

/// A stored connection (not deleted).
#[derive(Clone, Debug, FromQueryResult)]
pub struct ConnectionRow {
    /// Its id.
    pub id: String,
    /// Its organization.
    pub org_id: String,
    /// Its name.
    pub name: String,
    /// `okta`, `entra` or `generic`.
    pub kind: String,
    /// Canonical CIDR blocks separated by spaces.
    pub ip_allow_list: String,
    /// When it was created.
    pub created_at: i64,
    /// `token:<id>` of its creator.
    pub created_by: String,
    /// When it last changed.
    pub updated_at: i64,
}

/// The stored name of a kind (`None` for an unspecified or unknown value).
pub fn kind_name(kind: i32) -> Option<&'static str> {
    match pb::ConnectionKind::try_from(kind).ok()? {
        pb::ConnectionKind::Okta => Some("okta"),
        pb::ConnectionKind::Entra => Some("entra"),
        pb::ConnectionKind::Generic => Some("generic"),
        pb::ConnectionKind::Unspecified => None,
    }
}

impl ConnectionRow {
    /// The contract's message.
    pub fn to_pb(&self) -> pb::Connection {
        let kind = match self.kind.as_str() {
            "okta" => pb::ConnectionKind::Okta,
            "entra" => pb::ConnectionKind::Entra,
            _ => pb::ConnectionKind::Generic,
        };
        pb::Connection {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: kind as i32,
            ip_allow_list: self
                .ip_allow_list
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            created: Some(timestamp(self.created_at)),
            created_by: self.created_by.clone(),
            updated: Some(timestamp(self.updated_at)),
        }
    }

    fn allow_list_json(&self) -> Value {
        json!(self.ip_allow_list.split_whitespace().collect::<Vec<&str>>())
    }
}

/// Maps the unique index on (organization, lowercase name) to ALREADY_EXISTS (by index name on
/// PostgreSQL, by column list on SQLite).
fn map_unique(error: DbErr, name: &str) -> CoreError {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = error.sql_err()
        && (message.contains("uq_connections_org_name")
            || message.contains("connections.org_id, connections.name_key"))
    {
        let shown: String = name.chars().take(64).collect();
        return CoreError::new(
            ErrorCode::Uniqueness,
            "name",
            format!("a connection named {shown:?} already exists in this organization"),
        );
    }
    error.into()
}

impl Store {
    /// Creates a connection of the organization (name and blocks already validated).
    pub async fn create_connection(
        &self,
        actor: &Actor,
        org_id: &str,
        name: &str,
        kind: &str,
        blocks: &[Cidr],
        created_by: &str,
    ) -> CoreResult<pb::Connection> {
        let now = self.clock.now_micros();
        let row = ConnectionRow {
            id: Uuid::new_v4().to_string(),
            org_id: org_id.to_owned(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            ip_allow_list: connection::stored_list(blocks),
            created_at: now,
            created_by: created_by.to_owned(),
            updated_at: now,
        };
        let txn = self.begin_write().await?;
        let mut insert = Sql::new(self.backend);
        insert
            .push(
                "INSERT INTO connections (id, org_id, name, name_key, kind, ip_allow_list, \
                 created_at, created_by, updated_at) VALUES (",
            )
            .bind(row.id.as_str())
            .push(", ")
            .bind(org_id)
            .push(", ")
            .bind(name)
            .push(", ")
            .bind(validate::key(name))
            .push(", ")
            .bind(kind)
            .push(", ")
            .bind(row.ip_allow_list.as_str())
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(created_by)
            .push(", ")
            .bind(now)
            .push(")");
        txn.execute_raw(insert.build())
            .await
            .map_err(|error| map_unique(error, name))?;
        let mut changes = Changes::new();
        changes
            .set("name", &Value::Null, &Value::from(name))
            .set("kind", &Value::Null, &Value::from(kind))
            .set("ipAllowList", &Value::Null, &row.allow_list_json());
        let event = Event {
            operation: "connection.create",
            target_kind: "connection",
            target_id: &row.id,
        };
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok(row.to_pb())
    }

    /// The organization's connections, by name.
    pub async fn list_connections(&self, org_id: &str) -> CoreResult<Vec<pb::Connection>> {
        let mut select = Sql::new(self.backend);
        select
            .push(COLUMNS)
            .push(" WHERE org_id = ")
            .bind(org_id)
            .push(" AND deleted_at IS NULL ORDER BY name_key, id");
        let rows = self.conn().query_all_raw(select.build()).await?;
        rows.iter()
            .map(|row| Ok(ConnectionRow::from_query_result(row, "")?.to_pb()))
            .collect()
    }

    /// One connection of the organization; NOT_FOUND when it has no such id (or it was deleted).
    pub async fn get_connection(&self, org_id: &str, id: &str) -> CoreResult<ConnectionRow> {
        connection_row(self.conn(), self.backend, org_id, id, false)
            .await?
            .ok_or_else(|| CoreError::not_found("connection"))
    }

    /// The live connection `id` of the organization, read in `txn` and, on PostgreSQL, locked
    /// against a concurrent delete until `txn` ends (so a token is never minted for a connection
    /// whose deletion already revoked its tokens).
    pub(crate) async fn connection_in(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        id: &str,
    ) -> CoreResult<ConnectionRow> {
        connection_row(&**txn, self.backend, org_id, id, true)
            .await?
            .ok_or_else(|| {
                CoreError::new(ErrorCode::NotFound, "connection_id", "connection not found")
            })
    }

    /// Renames a connection and/or replaces its allow-list (values already validated).
    pub async fn update_connection(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
        name: Option<&str>,
        blocks: Option<&[Cidr]>,
    ) -> CoreResult<pb::Connection> {
        let txn = self.begin_write().await?;
        let before = connection_row(&*txn, self.backend, org_id, id, true)
            .await?
            .ok_or_else(|| CoreError::not_found("connection"))?;
        let mut after = before.clone();
        if let Some(name) = name {
            after.name = name.to_owned();
        }
        if let Some(blocks) = blocks {
            after.ip_allow_list = connection::stored_list(blocks);
        }
        let mut changes = Changes::new();
        changes
            .compare(
                "name",
                &Value::from(before.name.as_str()),
                &Value::from(after.name.as_str()),
            )
            .compare(
                "ipAllowList",
                &before.allow_list_json(),
                &after.allow_list_json(),
            );
        if changes.is_empty() {
            return Ok(before.to_pb());
        }
        after.updated_at = self.clock.now_micros();
        let mut update = Sql::new(self.backend);
        update
            .push("UPDATE connections SET name = ")
            .bind(after.name.as_str())
            .push(", name_key = ")
            .bind(validate::key(&after.name))
            .push(", ip_allow_list = ")
            .bind(after.ip_allow_list.as_str())
            .push(", updated_at = ")
            .bind(after.updated_at)
            .push(" WHERE id = ")
            .bind(id)
            .push(" AND org_id = ")
            .bind(org_id)
            .push(" AND deleted_at IS NULL");
        let result = txn
            .execute_raw(update.build())
            .await
            .map_err(|error| map_unique(error, &after.name))?;
        super::expect_one(result.rows_affected(), "connection")?;
        let event = Event {
            operation: "connection.update",
            target_kind: "connection",
            target_id: id,
        };
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok(after.to_pb())
    }

    /// Deletes a connection and revokes its active tokens, in one transaction; returns the
    /// connection as it was and the ids of the tokens revoked.
    pub async fn delete_connection(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
    ) -> CoreResult<(pb::Connection, Vec<String>)> {
        let txn = self.begin_write().await?;
        let row = connection_row(&*txn, self.backend, org_id, id, true)
            .await?
            .ok_or_else(|| CoreError::not_found("connection"))?;
        let now = self.clock.now_micros();
        let mut delete = Sql::new(self.backend);
        delete
            .push("UPDATE connections SET deleted_at = ")
            .bind(now)
            .push(" WHERE id = ")
            .bind(id)
            .push(" AND org_id = ")
            .bind(org_id)
            .push(" AND deleted_at IS NULL");
        let result = txn.execute_raw(delete.build()).await?;
        super::expect_one(result.rows_affected(), "connection")?;
        let mut revoke = Sql::new(self.backend);
        revoke
            .push("UPDATE api_tokens SET revoked_at = ")
            .bind(now)
            .push(" WHERE org_id = ")
            .bind(org_id)
            .push(" AND connection_id = ")
            .bind(id)
            .push(" AND revoked_at IS NULL RETURNING id");
        let revoked: Vec<String> = txn
            .query_all_raw(revoke.build())
            .await?
            .iter()
            .map(|row| row.try_get::<String>("", "id"))
            .collect::<Result<_, _>>()?;
        let mut changes = Changes::new();
        changes
            .set("name", &Value::from(row.name.as_str()), &Value::Null)
            .note("revokedTokens", json!(revoked.len()));
        let event = Event {
            operation: "connection.delete",
            target_kind: "connection",
            target_id: id,
        };
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok((row.to_pb(), revoked))
    }
}

async fn connection_row(
    conn: &impl ConnectionTrait,
    backend: sea_orm::DbBackend,
    org_id: &str,
    id: &str,
    lock: bool,
) -> CoreResult<Option<ConnectionRow>> {
    let mut select = Sql::new(backend);
    select
        .push(COLUMNS)
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND org_id = ")
        .bind(org_id)
        .push(" AND deleted_at IS NULL");
    if lock && backend == sea_orm::DbBackend::Postgres {
        select.push(" FOR UPDATE");
    }
    match conn.query_one_raw(select.build()).await? {
        Some(row) => Ok(Some(ConnectionRow::from_query_result(&row, "")?)),
        None => Ok(None),
    }
}
