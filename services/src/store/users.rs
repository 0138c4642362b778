//! Users. The row keeps the indexed attributes in columns and the rest of the SCIM profile as JSON
//! (the contract's User message); `user_emails` is a derived index of the emails for lookups.

use super::audit::{Event, user_changes};
use super::entities::{user_emails, users};
use super::external_ids::{self, Kind};
use super::filter::Resource;
use super::sql::Sql;
use super::{InlineRows, ListQuery, Store, expect_one, timestamp};
use crate::domain::accounts::{self, EmailChange};
use crate::domain::audit::Actor;
use crate::domain::validate;
use crate::error::{CoreError, CoreResult};
use roster::{ErrorCode, pb};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, Set,
    TryIntoModel,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Default page size of list calls.
pub const DEFAULT_PAGE: i32 = 100;
/// Largest page size of list calls.
pub const MAX_PAGE: i32 = 1000;

/// How a user is looked up.
pub enum UserLookup<'a> {
    /// By id (already validated).
    Id(&'a str),
    /// By userName, case-insensitively.
    UserName(&'a str),
    /// By externalId, exactly.
    ExternalId(&'a str),
}

/// Page bounds from a request: (offset, limit).
pub fn page(start_index: i64, count: Option<i32>) -> CoreResult<(u64, u64)> {
    let count = count.unwrap_or(DEFAULT_PAGE).max(0);
    if count > MAX_PAGE {
        return Err(CoreError::new(
            roster::ErrorCode::TooMany,
            "count",
            format!("count may be at most {MAX_PAGE}"),
        ));
    }
    Ok((start_index.max(1) as u64 - 1, count as u64))
}

fn custom_to_json(attributes: &[pb::CustomAttribute]) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for attribute in attributes {
        let value = serde_json::from_str(&attribute.value_json).unwrap_or(serde_json::Value::Null);
        object
            .entry(attribute.schema.clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()))
            .as_object_mut()
            .map(|schema| schema.insert(attribute.name.clone(), value));
    }
    serde_json::Value::Object(object)
}

fn custom_from_json(value: &serde_json::Value) -> Vec<pb::CustomAttribute> {
    let Some(object) = value.as_object() else {
        return Vec::new();
    };
    let mut attributes = Vec::new();
    for (schema, values) in object {
        for (name, value) in values.as_object().into_iter().flatten() {
            attributes.push(pb::CustomAttribute {
                schema: schema.clone(),
                name: name.clone(),
                value_json: value.to_string(),
            });
        }
    }
    attributes
}

fn to_pb(mut row: users::Model) -> CoreResult<pb::User> {
    let profile = serde_json::from_value(row.profile.take()).map_err(|error| {
        CoreError::internal(
            anyhow::Error::new(error).context("while reading a stored user profile"),
        )
    })?;
    with_columns(profile, row)
}

/// The user of a decoded profile, with what the row's columns hold (`row.profile` is not read).
fn with_columns(mut user: pb::User, row: users::Model) -> CoreResult<pb::User> {
    user.id = row.id;
    user.external_id = row.external_id;
    user.user_name = row.user_name;
    user.active = row.active_assigned.then_some(row.active);
    user.custom_attributes = custom_from_json(&row.custom_attributes);
    user.meta = Some(pb::Meta {
        created: Some(timestamp(row.created_at)),
        last_modified: Some(timestamp(row.updated_at)),
        version: row.version,
    });
    Ok(user)
}

fn profile_json(user: &pb::User) -> CoreResult<serde_json::Value> {
    serde_json::to_value(user).map_err(|error| {
        CoreError::internal(anyhow::Error::new(error).context("while encoding a user"))
    })
}

impl Store {
    /// Creates a user (validated by the caller).
    pub async fn create_user(
        &self,
        actor: &Actor,
        org_id: &str,
        user: pb::User,
    ) -> CoreResult<pb::User> {
        let now = self.clock.now_micros();
        let id = Uuid::now_v7().to_string();
        let row = users::ActiveModel {
            id: Set(id.clone()),
            org_id: Set(org_id.to_owned()),
            account_id: Set(None),
            user_name: Set(user.user_name.clone()),
            user_name_key: Set(validate::key(&user.user_name)),
            // A connection's externalId lives in its namespace, not in the column.
            external_id: Set(match actor.namespace() {
                Some(_) => None,
                None => user.external_id.clone(),
            }),
            display_name: Set(user.display_name.clone()),
            display_name_key: Set(user.display_name.as_deref().map(validate::key)),
            active: Set(user.active.unwrap_or(true)),
            active_assigned: Set(true),
            user_type: Set(user.user_type.clone()),
            profile: Set(profile_json(&user)?),
            custom_attributes: Set(custom_to_json(&user.custom_attributes)),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        self.batched_create(actor, org_id, row, user, id).await
    }

    /// Writes a batch of queued new users inside `txn` (a create batch's transaction) with one
    /// statement per table rather than one per user: on SQLite each statement is a hand-off to the
    /// connection's thread. `new_accounts` are the accounts the batch created, by key. Errors come
    /// in the order a single create reports them (manager, then a duplicate userName, then a refused
    /// account adoption, then roles); a failed batch is replayed one create at a time.
    pub(super) async fn insert_users_in(
        &self,
        txn: &super::WriteTxn,
        org_id: &str,
        batch: &[super::create_batch::PendingCreate],
        new_accounts: &HashMap<String, String>,
    ) -> CoreResult<Vec<pb::User>> {
        let mut rows = Vec::with_capacity(batch.len());
        let mut refused = None;
        for pending in batch {
            let user = &pending.user;
            check_manager(&**txn, org_id, user).await?;
            let mut row = pending.row.clone();
            if let Some(key) = accounts::account_email(user) {
                let now = self.clock.now_micros();
                let account = match new_accounts.get(&key) {
                    // Created by this batch: nobody else links to it yet.
                    Some(id) => Ok(id.clone()),
                    None => self.account_for_create(&**txn, org_id, &key, now).await,
                };
                match account {
                    Ok(account_id) => row.account_id = Set(Some(account_id)),
                    Err(error) if error.code == ErrorCode::Forbidden => {
                        refused.get_or_insert(error);
                    }
                    Err(error) => return Err(error),
                }
            }
            rows.push(row);
        }
        users::Entity::insert_many(rows.iter().cloned())
            .exec_without_returning(&**txn)
            .await?;
        // A refused adoption rolls back; a duplicate userName (above) is reported first, as on a
        // replace.
        if let Some(error) = refused {
            return Err(error);
        }
        let emails: Vec<user_emails::ActiveModel> = batch
            .iter()
            .flat_map(|pending| email_rows(org_id, &pending.id, &pending.user.emails))
            .collect();
        if !emails.is_empty() {
            user_emails::Entity::insert_many(emails)
                .exec_without_returning(&**txn)
                .await?;
        }
        let new_users: Vec<(&str, &pb::User)> = batch
            .iter()
            .map(|pending| (pending.id.as_str(), &pending.user))
            .collect();
        self.roles_for_new_users(txn, org_id, &new_users).await?;
        let mut created = Vec::with_capacity(batch.len());
        for (pending, row) in batch.iter().zip(rows) {
            let mut user = to_pb(row.try_into_model()?)?;
            if let Some(namespace) = pending.actor.namespace() {
                let value = pending.user.external_id.as_deref();
                external_ids::set_value(
                    &**txn,
                    self.backend,
                    org_id,
                    namespace,
                    Kind::User,
                    &pending.id,
                    value,
                )
                .await?;
                user.external_id = pending.user.external_id.clone();
            }
            created.push(user);
        }
        let changes: Vec<_> = created
            .iter()
            .map(|user| user_changes(None, Some(user)))
            .collect();
        let events: Vec<_> = batch
            .iter()
            .zip(&changes)
            .map(|(pending, changes)| {
                let event = Event {
                    operation: "user.create",
                    target_kind: "user",
                    target_id: pending.id.as_str(),
                };
                (&pending.actor, event, changes)
            })
            .collect();
        self.audit_many(txn.into(), &events).await?;
        Ok(created)
    }

    /// One user of the organization, with the externalId of `namespace` (the caller's
    /// connection; `None`: the default column), by which an externalId lookup goes too.
    pub async fn get_user(
        &self,
        org_id: &str,
        lookup: UserLookup<'_>,
        include_groups: bool,
        namespace: Option<&str>,
    ) -> CoreResult<pb::User> {
        // In a connection's namespace an externalId names a user through `external_ids`.
        let resolved = match (&lookup, namespace) {
            (UserLookup::ExternalId(external_id), Some(namespace)) => Some(
                external_ids::resource_of(
                    self.conn(),
                    self.backend,
                    org_id,
                    namespace,
                    Kind::User,
                    external_id,
                )
                .await?
                .ok_or_else(|| CoreError::not_found("user"))?,
            ),
            _ => None,
        };
        // One statement, with the groups when asked (see `MEMBER_OF_SQLITE`); on SQLite it runs
        // on the calling thread when an inline connection is free.
        let mut select = Sql::new(self.backend);
        select
            .push(if include_groups {
                super::member_of_select(self.backend)
            } else {
                "SELECT u.* FROM "
            })
            .push("users u WHERE u.org_id = ")
            .bind(org_id);
        match (lookup, &resolved) {
            (_, Some(id)) => select.push(" AND u.id = ").bind(id.as_str()),
            (UserLookup::Id(id), None) => select.push(" AND u.id = ").bind(id),
            (UserLookup::UserName(name), None) => select
                .push(" AND u.user_name_key = ")
                .bind(validate::key(name)),
            (UserLookup::ExternalId(external_id), None) => {
                select.push(" AND u.external_id = ").bind(external_id)
            }
        };
        select.push(" LIMIT 1");
        let statement = select.build();
        let inline = self
            .inline
            .as_ref()
            .and_then(|inline| inline.users(&statement));
        let (row, member_of) = match inline {
            Some(rows) => rows?
                .into_iter()
                .next()
                .map(|row| (with_columns(row.profile, row.model), row.member_of)),
            None => match self.conn().query_one_raw(statement).await? {
                Some(row) => Some((
                    to_pb(users::Model::from_query_result(&row, "")?),
                    if include_groups {
                        row.try_get("", "member_of")?
                    } else {
                        None
                    },
                )),
                None => None,
            },
        }
        .ok_or_else(|| CoreError::not_found("user"))?;
        let mut user = row?;
        external_ids::overlay_users(
            self.conn(),
            self.backend,
            org_id,
            namespace,
            std::slice::from_mut(&mut user),
        )
        .await?;
        if include_groups {
            user.groups = member_of_groups(member_of.as_deref())?;
        }
        Ok(user)
    }

    /// Users matching a filter, sorted and paged, with the total; externalIds (shown and filtered)
    /// are those of `namespace`.
    pub async fn list_users(
        &self,
        org_id: &str,
        request: &pb::ListUsersRequest,
        namespace: Option<&str>,
    ) -> CoreResult<pb::ListUsersResponse> {
        let page = self
            .list_page(
                Resource::User,
                org_id,
                ListQuery {
                    filter: request.filter.as_ref(),
                    sort_by: request.sort_by.as_ref(),
                    start_index: request.start_index,
                    count: request.count,
                    cursor: request.cursor.as_deref(),
                    namespace,
                    with_groups: request.include_groups,
                },
            )
            .await?;
        let mut users = Vec::with_capacity(page.rows.len());
        match page.inline {
            Some(InlineRows::Users(rows)) => {
                for row in rows {
                    let mut user = with_columns(row.profile, row.model)?;
                    if request.include_groups {
                        user.groups = member_of_groups(row.member_of.as_deref())?;
                    }
                    users.push(user);
                }
            }
            _ => {
                for row in page.rows {
                    let mut user = to_pb(users::Model::from_query_result(&row, "")?)?;
                    if request.include_groups {
                        let member_of: Option<String> = row.try_get("", "member_of")?;
                        user.groups = member_of_groups(member_of.as_deref())?;
                    }
                    users.push(user);
                }
            }
        }
        external_ids::overlay_users(self.conn(), self.backend, org_id, namespace, &mut users)
            .await?;
        Ok(pb::ListUsersResponse {
            users,
            total_results: page.total,
            start_index: page.start_index,
            next_cursor: page.next_cursor,
        })
    }

    /// Replaces a user (validated by the caller) under an optional version check.
    pub async fn replace_user(
        &self,
        actor: &Actor,
        org_id: &str,
        user: pb::User,
        expected_version: Option<i64>,
    ) -> CoreResult<pb::User> {
        let txn = self.begin_write().await?;
        // FOR UPDATE (PostgreSQL; SQLite has one writer anyway): concurrent replaces queue here
        // instead of failing the version check they did not ask for.
        let current = users::Entity::find_by_id(user.id.clone())
            .filter(users::Column::OrgId.eq(org_id))
            .lock_exclusive()
            .one(&*txn)
            .await?
            .ok_or_else(|| CoreError::not_found("user"))?;
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(CoreError::version_mismatch(current.version));
        }
        check_manager(&*txn, org_id, &user).await?;
        let namespace = actor.namespace();
        let mut previous = to_pb(current.clone())?;
        external_ids::overlay_users(
            &*txn,
            self.backend,
            org_id,
            namespace,
            std::slice::from_mut(&mut previous),
        )
        .await?;
        // A connection changes its own namespace's externalId, never the column.
        let column_external_id = match namespace {
            Some(_) => current.external_id.clone(),
            None => user.external_id.clone(),
        };
        let now = self.clock.now_micros();
        // The domain-verified email rules (domain/accounts.rs): nothing to read unless the
        // addresses change.
        // A refusal is returned after the update, so a duplicate userName or externalId is
        // reported first (and the transaction rolls back either way).
        let change = EmailChange::between(&previous, &user);
        let refused = match self
            .check_email_change(&*txn, org_id, current.account_id.as_deref(), &change)
            .await
        {
            Ok(()) => None,
            Err(error) if error.code == ErrorCode::Forbidden => Some(error),
            Err(error) => return Err(error),
        };
        let mut account_id = current.account_id.clone();
        let new_account_email = accounts::account_email(&user);
        if refused.is_none()
            && let Some(key) = &new_account_email
            && accounts::account_email(&previous).as_ref() != Some(key)
        {
            account_id = Some(
                self.account_for_change(&*txn, account_id.as_deref(), key, now)
                    .await?,
            );
        }
        let result = users::Entity::update_many()
            .col_expr(users::Column::AccountId, account_id.into())
            .col_expr(users::Column::UserName, user.user_name.clone().into())
            .col_expr(
                users::Column::UserNameKey,
                validate::key(&user.user_name).into(),
            )
            .col_expr(users::Column::ExternalId, column_external_id.into())
            .col_expr(users::Column::DisplayName, user.display_name.clone().into())
            .col_expr(
                users::Column::DisplayNameKey,
                user.display_name.as_deref().map(validate::key).into(),
            )
            // A replace without `active` leaves it unassigned, which counts as inactive.
            .col_expr(users::Column::Active, user.active.unwrap_or(false).into())
            .col_expr(users::Column::ActiveAssigned, user.active.is_some().into())
            .col_expr(users::Column::UserType, user.user_type.clone().into())
            .col_expr(users::Column::Profile, profile_json(&user)?.into())
            .col_expr(
                users::Column::CustomAttributes,
                custom_to_json(&user.custom_attributes).into(),
            )
            .col_expr(users::Column::Version, (current.version + 1).into())
            .col_expr(users::Column::UpdatedAt, now.into())
            .filter(users::Column::Id.eq(&current.id))
            .filter(users::Column::OrgId.eq(org_id))
            .filter(users::Column::Version.eq(current.version))
            .exec(&*txn)
            .await?;
        if result.rows_affected != 1 {
            return Err(CoreError::version_mismatch(current.version));
        }
        if let Some(error) = refused {
            return Err(error);
        }
        user_emails::Entity::delete_many()
            .filter(user_emails::Column::UserId.eq(&current.id))
            .exec(&*txn)
            .await?;
        insert_emails(&*txn, org_id, &current.id, &user.emails).await?;
        if let Some(namespace) = namespace {
            let value = user.external_id.as_deref();
            external_ids::set_value(
                &*txn,
                self.backend,
                org_id,
                namespace,
                Kind::User,
                &current.id,
                value,
            )
            .await?;
        }
        self.roles_for_replaced_user(&txn, org_id, &previous, &user)
            .await?;
        let row = users::Entity::find_by_id(current.id.clone())
            .one(&*txn)
            .await?
            .ok_or_else(|| CoreError::not_found("user"))?;
        let mut replaced = to_pb(row)?;
        if namespace.is_some() {
            replaced.external_id = user.external_id.clone();
        }
        let event = Event {
            operation: "user.replace",
            target_kind: "user",
            target_id: &replaced.id,
        };
        let changes = user_changes(Some(&previous), Some(&replaced));
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok(replaced)
    }

    /// Deletes a user and every membership row naming it (its role row goes by cascade).
    pub async fn delete_user(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
        expected_version: Option<i64>,
    ) -> CoreResult<()> {
        let txn = self.begin_write().await?;
        // Lock the row first so a concurrent membership add (which key-share locks the member)
        // either finishes before this delete forgets the memberships or sees the user gone.
        let current = users::Entity::find_by_id(id.to_owned())
            .filter(users::Column::OrgId.eq(org_id))
            .lock_exclusive()
            .one(&*txn)
            .await?
            .ok_or_else(|| CoreError::not_found("user"))?;
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(CoreError::version_mismatch(current.version));
        }
        self.forget_member(&txn, org_id, id).await?;
        let mut previous = to_pb(current)?;
        external_ids::overlay_users(
            &*txn,
            self.backend,
            org_id,
            actor.namespace(),
            std::slice::from_mut(&mut previous),
        )
        .await?;
        external_ids::forget(&*txn, self.backend, org_id, Kind::User, id).await?;
        let result = users::Entity::delete_many()
            .filter(users::Column::Id.eq(id))
            .filter(users::Column::OrgId.eq(org_id))
            .exec(&*txn)
            .await?;
        expect_one(result.rows_affected, "user")?;
        let event = Event {
            operation: "user.delete",
            target_kind: "user",
            target_id: id,
        };
        let changes = user_changes(Some(&previous), None);
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await
    }
}

/// The enterprise manager must be a user of the same organization.
async fn check_manager(
    conn: &impl ConnectionTrait,
    org_id: &str,
    user: &pb::User,
) -> CoreResult<()> {
    let Some(manager_id) = user
        .enterprise
        .as_ref()
        .and_then(|enterprise| enterprise.manager.as_ref())
        .and_then(|manager| manager.value.as_deref())
        .filter(|value| !value.is_empty())
    else {
        return Ok(());
    };
    let found = users::Entity::find_by_id(validate::id("enterprise.manager.value", manager_id)?)
        .filter(users::Column::OrgId.eq(org_id))
        .one(conn)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(CoreError::invalid(
            "enterprise.manager.value",
            "enterprise.manager.value names no user of this organization",
        )),
    }
}

async fn insert_emails(
    conn: &impl ConnectionTrait,
    org_id: &str,
    user_id: &str,
    emails: &[pb::MultiValue],
) -> CoreResult<()> {
    if emails.is_empty() {
        return Ok(());
    }
    user_emails::Entity::insert_many(email_rows(org_id, user_id, emails))
        .exec(conn)
        .await?;
    Ok(())
}

/// The groups of a `member_of` column (a JSON array of `[id, displayName]`; NULL for none), in
/// displayName order (case-insensitive, as the unique index compares them).
fn member_of_groups(member_of: Option<&str>) -> CoreResult<Vec<pb::UserGroupRef>> {
    let Some(text) = member_of else {
        return Ok(Vec::new());
    };
    let pairs: Vec<(String, String)> = serde_json::from_str(text).map_err(|error| {
        CoreError::internal(anyhow::Error::new(error).context("while reading a user's groups"))
    })?;
    let mut groups: Vec<pb::UserGroupRef> = pairs
        .into_iter()
        .map(|(value, display)| pb::UserGroupRef { value, display })
        .collect();
    if groups.len() > 1 {
        groups.sort_by_cached_key(|group| validate::key(&group.display));
    }
    Ok(groups)
}

/// The `user_emails` index rows of one user's emails.
fn email_rows<'a>(
    org_id: &'a str,
    user_id: &'a str,
    emails: &'a [pb::MultiValue],
) -> impl Iterator<Item = user_emails::ActiveModel> + 'a {
    emails
        .iter()
        .enumerate()
        .map(|(position, email)| user_emails::ActiveModel {
            user_id: Set(user_id.to_owned()),
            position: Set(position as i32),
            org_id: Set(org_id.to_owned()),
            value: Set(email.value.clone()),
            value_key: Set(validate::key(&email.value)),
            r#type: Set(email.r#type.clone()),
            is_primary: Set(email.primary),
            display: Set(email.display.clone()),
        })
}
