//! Organizations: the tenants every other row belongs to.

use super::entities::organizations as org;
use super::{Store, WriteTxn, timestamp};
use crate::error::{CoreError, CoreResult};
use roster::pb;
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, QueryOrder, Set};
use uuid::Uuid;

fn to_pb(row: org::Model) -> pb::Organization {
    pb::Organization {
        id: row.id,
        name: row.name,
        display_name: row.display_name,
        created: Some(timestamp(row.created_at)),
    }
}

impl Store {
    /// Creates an organization inside `txn` (the caller also mints its first token there), with
    /// the default role catalog.
    pub async fn create_organization(
        &self,
        txn: &WriteTxn,
        name: &str,
        display_name: &str,
    ) -> CoreResult<pb::Organization> {
        let row = org::ActiveModel {
            id: Set(Uuid::new_v4().to_string()),
            name: Set(name.to_owned()),
            display_name: Set(display_name.to_owned()),
            created_at: Set(self.clock.now_micros()),
        }
        .insert(&**txn)
        .await?;
        self.seed_roles(txn, &row.id).await?;
        Ok(to_pb(row))
    }

    /// One organization by id.
    pub async fn get_organization(&self, org_id: &str) -> CoreResult<pb::Organization> {
        org::Entity::find_by_id(org_id.to_owned())
            .one(self.conn())
            .await?
            .map(to_pb)
            .ok_or_else(|| CoreError::not_found("organization"))
    }

    /// Every organization, oldest first.
    pub async fn list_organizations(&self) -> CoreResult<Vec<pb::Organization>> {
        let rows = org::Entity::find()
            .order_by_asc(org::Column::CreatedAt)
            .all(self.conn())
            .await?;
        Ok(rows.into_iter().map(to_pb).collect())
    }

    /// How many organizations exist (bootstrap runs when none does).
    pub async fn count_organizations(&self) -> CoreResult<u64> {
        Ok(org::Entity::find().count(self.conn()).await?)
    }
}
