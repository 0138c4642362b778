//! API tokens: only the SHA-256 of a secret is stored; lookups go by the id the secret embeds.

use super::entities::api_tokens as tok;
use super::sql::Sql;
use super::{Event, Store, WriteTxn, micros, timestamp};
use crate::domain::audit::{Actor, Changes};
use crate::domain::connection::{self, Cidr};
use crate::domain::token;
use crate::error::{CoreError, CoreResult};
use roster::pb;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, Set,
    sea_query::{Expr, ExprTrait},
};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// The connection a token belongs to, as authentication needs it.
#[derive(Clone, Debug)]
pub struct AuthConnection {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its IP allow-list (empty: any address).
    pub ip_allow_list: Vec<Cidr>,
    /// Whether it was deleted (its tokens are then refused, revoked or not).
    pub deleted: bool,
}

/// What authentication needs of a stored token.
#[derive(Clone, Debug)]
pub struct AuthToken {
    /// Token id.
    pub id: String,
    /// Its organization.
    pub org_id: String,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    /// Expiry, microseconds.
    pub expires_at: Option<i64>,
    /// Revocation, microseconds.
    pub revoked_at: Option<i64>,
    /// Last use, microseconds.
    pub last_used_at: Option<i64>,
    /// The connection it belongs to.
    pub connection: Option<AuthConnection>,
}

#[derive(FromQueryResult)]
struct AuthRow {
    id: String,
    org_id: String,
    name: String,
    scopes: String,
    secret_hash: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    connection_id: Option<String>,
    connection_name: Option<String>,
    ip_allow_list: Option<String>,
    deleted_at: Option<i64>,
}

#[derive(FromQueryResult)]
struct NameRow {
    id: String,
    name: String,
}

/// The names of the organization's connections among `ids` (deleted ones too).
async fn connection_names(
    conn: &impl ConnectionTrait,
    backend: sea_orm::DbBackend,
    org_id: &str,
    rows: &[tok::Model],
) -> CoreResult<HashMap<String, String>> {
    let mut ids: Vec<&str> = rows
        .iter()
        .filter_map(|row| row.connection_id.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut select = Sql::new(backend);
    select
        .push("SELECT id, name FROM connections WHERE org_id = ")
        .bind(org_id)
        .push(" AND id IN ")
        .bind_list(ids);
    let found = conn.query_all_raw(select.build()).await?;
    found
        .iter()
        .map(|row| {
            let row = NameRow::from_query_result(row, "")?;
            Ok((row.id, row.name))
        })
        .collect()
}

fn to_pb_named(row: tok::Model, names: &HashMap<String, String>) -> pb::ApiToken {
    let connection_name = row
        .connection_id
        .as_ref()
        .and_then(|id| names.get(id).cloned())
        .unwrap_or_default();
    let mut token = to_pb(row);
    token.connection_name = connection_name;
    token
}

fn to_pb(row: tok::Model) -> pb::ApiToken {
    pb::ApiToken {
        id: row.id,
        name: row.name,
        scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
        expires_at: row.expires_at.map(timestamp),
        created: Some(timestamp(row.created_at)),
        created_by: row.created_by,
        last_used_at: row.last_used_at.map(timestamp),
        revoked_at: row.revoked_at.map(timestamp),
        organization_id: row.org_id,
        secret_prefix: row.secret_prefix,
        connection_id: row.connection_id.unwrap_or_default(),
        connection_name: String::new(),
    }
}

impl Store {
    /// Mints a token of `org_id` inside `txn`; returns it with its secret (shown once). The audit
    /// event goes to `org_id`'s log (an organization's first token is minted by a principal of
    /// another organization) and names the token, never its secret. With `connection_id`, the
    /// token belongs to that live connection of `org_id` (NOT_FOUND otherwise).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_token(
        &self,
        txn: &WriteTxn,
        actor: &Actor,
        org_id: &str,
        name: &str,
        scopes: &[String],
        expires_at: Option<&prost_types::Timestamp>,
        created_by: &str,
        connection_id: Option<&str>,
    ) -> CoreResult<pb::CreateTokenResponse> {
        let connection = match connection_id {
            Some(id) => Some(self.connection_in(txn, org_id, id).await?),
            None => None,
        };
        let id = Uuid::new_v4();
        let minted = token::mint(id).map_err(|error| {
            CoreError::internal(anyhow::anyhow!("os random source failed: {error}"))
        })?;
        let row = tok::ActiveModel {
            id: Set(id.to_string()),
            org_id: Set(org_id.to_owned()),
            name: Set(name.to_owned()),
            scopes: Set(scopes.join(" ")),
            secret_hash: Set(minted.hash),
            secret_prefix: Set(minted.prefix),
            expires_at: Set(expires_at.map(micros)),
            created_at: Set(self.clock.now_micros()),
            created_by: Set(created_by.to_owned()),
            last_used_at: Set(None),
            revoked_at: Set(None),
            connection_id: Set(connection.as_ref().map(|row| row.id.clone())),
        }
        .insert(&**txn)
        .await?;
        let mut token = to_pb(row);
        let mut changes = Changes::new();
        if let Some(connection) = &connection {
            token.connection_name = connection.name.clone();
            changes.set(
                "connection",
                &Value::Null,
                &Value::String(connection.id.clone()),
            );
        }
        changes
            .set("name", &Value::Null, &Value::String(token.name.clone()))
            .set("scopes", &Value::Null, &serde_json::json!(token.scopes))
            .set(
                "expiresAt",
                &Value::Null,
                &expires_at.map_or(Value::Null, |expiry| Value::from(micros(expiry))),
            );
        let event = Event {
            operation: "token.create",
            target_kind: "token",
            target_id: &token.id,
        };
        let actor = Actor {
            org_id: org_id.to_owned(),
            ..actor.clone()
        };
        self.audit(txn, &actor, event, &changes).await?;
        Ok(pb::CreateTokenResponse {
            token: Some(token),
            secret: minted.secret,
        })
    }

    /// The organization's tokens, newest first.
    pub async fn list_tokens(
        &self,
        org_id: &str,
        include_revoked: bool,
    ) -> CoreResult<Vec<pb::ApiToken>> {
        let mut query = tok::Entity::find().filter(tok::Column::OrgId.eq(org_id));
        if !include_revoked {
            query = query.filter(tok::Column::RevokedAt.is_null());
        }
        let rows = query
            .order_by_desc(tok::Column::CreatedAt)
            .all(self.conn())
            .await?;
        let names = connection_names(self.conn(), self.backend, org_id, &rows).await?;
        Ok(rows
            .into_iter()
            .map(|row| to_pb_named(row, &names))
            .collect())
    }

    /// One token of the organization.
    pub async fn get_token(&self, org_id: &str, id: &str) -> CoreResult<pb::ApiToken> {
        let row = tok::Entity::find_by_id(id.to_owned())
            .filter(tok::Column::OrgId.eq(org_id))
            .one(self.conn())
            .await?
            .ok_or_else(|| CoreError::not_found("token"))?;
        let rows = [row];
        let names = connection_names(self.conn(), self.backend, org_id, &rows).await?;
        let [row] = rows;
        Ok(to_pb_named(row, &names))
    }

    /// Revokes a token of the organization (idempotent: the first revocation time is kept).
    pub async fn revoke_token(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
    ) -> CoreResult<pb::ApiToken> {
        let txn = self.begin_write().await?;
        let result = tok::Entity::update_many()
            .col_expr(tok::Column::RevokedAt, Expr::value(self.clock.now_micros()))
            .filter(tok::Column::Id.eq(id))
            .filter(tok::Column::OrgId.eq(org_id))
            .filter(tok::Column::RevokedAt.is_null())
            .exec(&*txn)
            .await?;
        let row = tok::Entity::find_by_id(id.to_owned())
            .filter(tok::Column::OrgId.eq(org_id))
            .one(&*txn)
            .await?
            .ok_or_else(|| CoreError::not_found("token"))?;
        let mut changes = Changes::new();
        // A repeated revocation changes nothing; its event says so with an empty summary.
        if result.rows_affected == 1 {
            changes.set(
                "revokedAt",
                &Value::Null,
                &row.revoked_at.map_or(Value::Null, Value::from),
            );
        }
        let event = Event {
            operation: "token.revoke",
            target_kind: "token",
            target_id: id,
        };
        self.audit(&txn, actor, event, &changes).await?;
        let rows = [row];
        let names = connection_names(&*txn, self.backend, org_id, &rows).await?;
        txn.commit().await?;
        let [row] = rows;
        Ok(to_pb_named(row, &names))
    }

    /// The token with this id, whatever its organization: authentication's lookup, before the
    /// organization is known.
    /// Its connection comes along in the same statement (same organization only).
    pub async fn find_token_for_auth(&self, id: &str) -> CoreResult<Option<AuthToken>> {
        let mut select = Sql::new(self.backend);
        select
            .push(
                "SELECT t.id, t.org_id, t.name, t.scopes, t.secret_hash, t.expires_at, \
                 t.revoked_at, t.last_used_at, t.connection_id, c.name AS connection_name, \
                 c.ip_allow_list, c.deleted_at FROM api_tokens t LEFT JOIN connections c \
                 ON c.id = t.connection_id AND c.org_id = t.org_id WHERE t.id = ",
            )
            .bind(id);
        let Some(row) = self.conn().query_one_raw(select.build()).await? else {
            return Ok(None);
        };
        let row = AuthRow::from_query_result(&row, "")?;
        let connection = row.connection_id.map(|connection_id| AuthConnection {
            id: connection_id,
            // A token whose connection row is missing is treated as deleted (refused).
            deleted: row.deleted_at.is_some() || row.connection_name.is_none(),
            name: row.connection_name.unwrap_or_default(),
            ip_allow_list: connection::parse_stored(row.ip_allow_list.as_deref().unwrap_or("")),
        });
        Ok(Some(AuthToken {
            id: row.id,
            org_id: row.org_id,
            name: row.name,
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            secret_hash: row.secret_hash,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
            connection,
        }))
    }

    /// Records a use of the token, at most once a minute per token to spare writes.
    pub async fn touch_token(&self, id: &str) -> CoreResult<()> {
        let now = self.clock.now_micros();
        let txn = self.begin_write().await?;
        tok::Entity::update_many()
            .col_expr(tok::Column::LastUsedAt, Expr::value(now))
            .filter(tok::Column::Id.eq(id))
            .filter(
                tok::Column::LastUsedAt
                    .is_null()
                    .or(tok::Column::LastUsedAt.lt(now - 60_000_000)),
            )
            .exec(&*txn)
            .await?;
        txn.commit().await
    }
}
