//! API tokens: only the SHA-256 of a secret is stored; lookups go by the id the secret embeds.

use super::entities::api_tokens as tok;
use super::{Event, Store, WriteTxn, micros, timestamp};
use crate::domain::audit::{Actor, Changes};
use crate::domain::token;
use crate::error::{CoreError, CoreResult};
use roster::pb;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    sea_query::{Expr, ExprTrait},
};
use serde_json::Value;
use uuid::Uuid;

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
    }
}

impl Store {
    /// Mints a token of `org_id` inside `txn`; returns it with its secret (shown once). The audit
    /// event goes to `org_id`'s log (an organization's first token is minted by a principal of
    /// another organization) and names the token, never its secret.
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
    ) -> CoreResult<pb::CreateTokenResponse> {
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
        }
        .insert(&**txn)
        .await?;
        let token = to_pb(row);
        let mut changes = Changes::new();
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
        Ok(rows.into_iter().map(to_pb).collect())
    }

    /// One token of the organization.
    pub async fn get_token(&self, org_id: &str, id: &str) -> CoreResult<pb::ApiToken> {
        tok::Entity::find_by_id(id.to_owned())
            .filter(tok::Column::OrgId.eq(org_id))
            .one(self.conn())
            .await?
            .map(to_pb)
            .ok_or_else(|| CoreError::not_found("token"))
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
        txn.commit().await?;
        Ok(to_pb(row))
    }

    /// The token with this id, whatever its organization: authentication's lookup, before the
    /// organization is known.
    pub async fn find_token_for_auth(&self, id: &str) -> CoreResult<Option<AuthToken>> {
        let row = tok::Entity::find_by_id(id.to_owned())
            .one(self.conn())
            .await?;
        Ok(row.map(|row| AuthToken {
            id: row.id,
            org_id: row.org_id,
            name: row.name,
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            secret_hash: row.secret_hash,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
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
