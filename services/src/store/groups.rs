//! Groups and memberships. Membership rows are changed by deltas (insert the new, delete the
//! gone), never by rewriting a list, and bumping the group's version on every change serialises
//! concurrent changes of one group without losing any.

use super::audit::{Event, group_changes};
use super::direct_writes::{IdRow, Tx};
use super::entities::{group_members as gm, groups};
use super::external_ids::{self, Kind};
use super::filter::Resource;
use super::sql::Sql;
use super::{InlineRows, ListQuery, Store, WriteTxn, expect_one, timestamp};
use crate::domain::audit::{self, Actor};
use crate::domain::validate::{self, MAX_SHORT};
use crate::error::{CoreError, CoreResult};
use roster::pb::{self, MemberType, group_change::Change};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect, QueryTrait, Set,
};
use std::collections::{BTreeSet, HashSet};
use uuid::Uuid;

/// Most member references one call may carry.
pub const MAX_MEMBER_CHANGES: usize = 10_000;
/// Rows per multi-row statement (keeps parameter counts far below every backend's limit).
const CHUNK: usize = 500;

const USER: i16 = 1;
const GROUP: i16 = 2;

pub(super) fn to_pb(row: groups::Model) -> pb::Group {
    pb::Group {
        id: row.id,
        external_id: row.external_id,
        display_name: row.display_name,
        members: Vec::new(),
        meta: Some(pb::Meta {
            created: Some(timestamp(row.created_at)),
            last_modified: Some(timestamp(row.updated_at)),
            version: row.version,
        }),
    }
}

fn member_type_code(code: i16) -> i32 {
    if code == GROUP {
        MemberType::Group as i32
    } else {
        MemberType::User as i32
    }
}

#[derive(FromQueryResult)]
struct MemberRow {
    member_id: String,
    member_type: i16,
    display: Option<String>,
}

/// Validates a group's displayName and externalId.
pub fn validate_group(group: &mut pb::Group) -> CoreResult<()> {
    validate::required("display_name", &group.display_name, MAX_SHORT)?;
    if group.external_id.as_deref() == Some("") {
        group.external_id = None;
    }
    validate::optional("external_id", group.external_id.as_deref(), MAX_SHORT)
}

impl Store {
    /// Creates a group with its initial members.
    pub async fn create_group(
        &self,
        actor: &Actor,
        org_id: &str,
        group: pb::Group,
    ) -> CoreResult<pb::GroupWriteResponse> {
        let now = self.clock.now_micros();
        let id = Uuid::now_v7().to_string();
        let txn = self.begin_write().await?;
        groups::ActiveModel {
            id: Set(id.clone()),
            org_id: Set(org_id.to_owned()),
            display_name: Set(group.display_name.clone()),
            display_name_key: Set(validate::key(&group.display_name)),
            // A connection's externalId lives in its namespace, not in the column.
            external_id: Set(match actor.namespace() {
                Some(_) => None,
                None => group.external_id.clone(),
            }),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            member_count: Set(0),
        }
        .insert(&*txn)
        .await?;
        if let Some(namespace) = actor.namespace() {
            let value = group.external_id.as_deref();
            external_ids::set_value(
                &*txn,
                self.backend,
                org_id,
                namespace,
                Kind::Group,
                &id,
                value,
            )
            .await?;
        }
        let mut skipped = Vec::new();
        let added = self
            .add_members((&txn).into(), org_id, &id, &group.members, &mut skipped)
            .await?;
        self.count_members(&txn, org_id, &id, added.len() as i64)
            .await?;
        let row = groups::Entity::find_by_id(id.clone())
            .one(&*txn)
            .await?
            .ok_or_else(|| CoreError::not_found("group"))?;
        let member_count = row.member_count;
        let mut created = to_pb(row);
        if actor.namespace().is_some() {
            created.external_id = group.external_id.clone();
        }
        let mut changes = group_changes(None, Some(&created));
        if !added.is_empty() {
            changes.note("members", audit::membership(&added, &[]));
        }
        let event = Event {
            operation: "group.create",
            target_kind: "group",
            target_id: &id,
        };
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok(pb::GroupWriteResponse {
            group: Some(created),
            skipped_member_ids: skipped,
            member_count,
        })
    }

    /// One group, with the externalId of `namespace`; members only when asked (otherwise the
    /// membership table is not read).
    pub async fn get_group(
        &self,
        org_id: &str,
        id: &str,
        include_members: bool,
        namespace: Option<&str>,
    ) -> CoreResult<pb::Group> {
        let select = groups::Entity::find_by_id(id.to_owned())
            .filter(groups::Column::OrgId.eq(org_id))
            .build(self.backend);
        let rows = match self
            .inline
            .as_ref()
            .and_then(|inline| inline.groups(&select))
        {
            Some(rows) => rows?,
            None => {
                let mut rows = Vec::new();
                for row in self.conn().query_all_raw(select).await? {
                    rows.push(groups::Model::from_query_result(&row, "")?);
                }
                rows
            }
        };
        let row = rows
            .into_iter()
            .next()
            .ok_or_else(|| CoreError::not_found("group"))?;
        let mut group = to_pb(row);
        external_ids::overlay_groups(
            self.conn(),
            self.backend,
            org_id,
            namespace,
            std::slice::from_mut(&mut group),
        )
        .await?;
        if include_members {
            group.members = self.member_page(org_id, id, "", None).await?;
        }
        Ok(group)
    }

    /// Groups matching a filter, sorted and paged, without members; externalIds (shown and
    /// filtered) are those of `namespace`.
    pub async fn list_groups(
        &self,
        org_id: &str,
        request: &pb::ListGroupsRequest,
        namespace: Option<&str>,
    ) -> CoreResult<pb::ListGroupsResponse> {
        let page = self
            .list_page(
                Resource::Group,
                org_id,
                ListQuery {
                    filter: request.filter.as_ref(),
                    sort_by: request.sort_by.as_ref(),
                    start_index: request.start_index,
                    count: request.count,
                    cursor: request.cursor.as_deref(),
                    namespace,
                    with_groups: false,
                },
            )
            .await?;
        let mut groups_page = Vec::with_capacity(page.rows.len());
        match page.inline {
            Some(InlineRows::Groups(rows)) => groups_page.extend(rows.into_iter().map(to_pb)),
            _ => {
                for row in page.rows {
                    groups_page.push(to_pb(groups::Model::from_query_result(&row, "")?));
                }
            }
        }
        external_ids::overlay_groups(
            self.conn(),
            self.backend,
            org_id,
            namespace,
            &mut groups_page,
        )
        .await?;
        Ok(pb::ListGroupsResponse {
            groups: groups_page,
            total_results: page.total,
            start_index: page.start_index,
            next_cursor: page.next_cursor,
        })
    }

    /// Applies changes to a group in one transaction, under an optional version check.
    pub async fn update_group(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
        expected_version: Option<i64>,
        changes: Vec<Change>,
    ) -> CoreResult<pb::GroupWriteResponse> {
        let references: usize = changes
            .iter()
            .map(|change| match change {
                Change::AddMembers(list)
                | Change::RemoveMembers(list)
                | Change::ReplaceMembers(list) => list.members.len(),
                _ => 0,
            })
            .sum();
        if references > MAX_MEMBER_CHANGES {
            return Err(CoreError::new(
                roster::ErrorCode::TooMany,
                "changes",
                format!("at most {MAX_MEMBER_CHANGES} member references per call"),
            ));
        }
        // Membership-only changes without a version check join the group's next batch.
        if expected_version.is_none()
            && let Some((add, remove)) = super::membership_batch::membership_only(&changes)
        {
            let mut response = self
                .batched_membership_update(actor, org_id, id, add, remove)
                .await?;
            if let Some(group) = response.group.as_mut() {
                external_ids::overlay_groups(
                    self.conn(),
                    self.backend,
                    org_id,
                    actor.namespace(),
                    std::slice::from_mut(group),
                )
                .await?;
            }
            return Ok(response);
        }
        let namespace = actor.namespace();
        let txn = self.begin_write().await?;
        // Bumping the version first locks the group's row (PostgreSQL) for the transaction, so
        // concurrent changes of one group queue and each sees the previous one's rows.
        let mut before = self.bump_group(&txn, org_id, id, expected_version).await?;
        external_ids::overlay_groups(
            &*txn,
            self.backend,
            org_id,
            namespace,
            std::slice::from_mut(&mut before),
        )
        .await?;
        let mut skipped = Vec::new();
        // Every id a membership change names, for the role recompute at the end.
        let mut touched: Vec<String> = Vec::new();
        // What the changes really added and removed, for the audit summary.
        let mut added: Vec<String> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        for change in changes {
            match change {
                Change::SetDisplayName(name) => {
                    validate::required("display_name", &name, MAX_SHORT)?;
                    groups::Entity::update_many()
                        .col_expr(groups::Column::DisplayNameKey, validate::key(&name).into())
                        .col_expr(groups::Column::DisplayName, name.into())
                        .filter(groups::Column::Id.eq(id))
                        .filter(groups::Column::OrgId.eq(org_id))
                        .exec(&*txn)
                        .await?;
                }
                Change::SetExternalId(external_id) => {
                    validate::optional("external_id", Some(&external_id), MAX_SHORT)?;
                    let external_id = Some(external_id).filter(|value| !value.is_empty());
                    if let Some(namespace) = namespace {
                        external_ids::set_value(
                            &*txn,
                            self.backend,
                            org_id,
                            namespace,
                            Kind::Group,
                            id,
                            external_id.as_deref(),
                        )
                        .await?;
                    } else {
                        groups::Entity::update_many()
                            .col_expr(groups::Column::ExternalId, external_id.into())
                            .filter(groups::Column::Id.eq(id))
                            .filter(groups::Column::OrgId.eq(org_id))
                            .exec(&*txn)
                            .await?;
                    }
                }
                Change::AddMembers(list) => {
                    touched.extend(valid_ids(&list.members));
                    added.extend(
                        self.add_members((&txn).into(), org_id, id, &list.members, &mut skipped)
                            .await?,
                    );
                }
                Change::RemoveMembers(list) => {
                    let ids: Vec<String> = valid_ids(&list.members).collect();
                    removed.extend(
                        remove_members((&txn).into(), self.backend, org_id, id, &ids).await?,
                    );
                    touched.extend(ids);
                }
                Change::ReplaceMembers(list) => {
                    let current: HashSet<String> = self.member_ids(&*txn, org_id, id).await?;
                    let wanted: HashSet<String> = list
                        .members
                        .iter()
                        .filter_map(|member| validate::id("members", &member.value).ok())
                        .collect();
                    let gone: Vec<String> = current.difference(&wanted).cloned().collect();
                    removed.extend(
                        remove_members((&txn).into(), self.backend, org_id, id, &gone).await?,
                    );
                    touched.extend(gone);
                    let new: Vec<pb::Member> = list
                        .members
                        .into_iter()
                        .filter(|member| !current.contains(&member.value.to_lowercase()))
                        .collect();
                    touched.extend(valid_ids(&new));
                    added.extend(
                        self.add_members((&txn).into(), org_id, id, &new, &mut skipped)
                            .await?,
                    );
                }
            }
        }
        // Effective roles of exactly the members touched (a no-op unless the group has a role).
        self.roles_after_membership(&txn, org_id, id, &touched)
            .await?;
        self.count_members(&txn, org_id, id, added.len() as i64 - removed.len() as i64)
            .await?;
        let row = groups::Entity::find_by_id(id.to_owned())
            .one(&*txn)
            .await?
            .ok_or_else(|| CoreError::not_found("group"))?;
        let member_count = row.member_count;
        let mut updated = to_pb(row);
        external_ids::overlay_groups(
            &*txn,
            self.backend,
            org_id,
            namespace,
            std::slice::from_mut(&mut updated),
        )
        .await?;
        let mut changes = group_changes(Some(&before), Some(&updated));
        if !added.is_empty() || !removed.is_empty() {
            changes.note("members", audit::membership(&added, &removed));
        }
        let event = Event {
            operation: "group.update",
            target_kind: "group",
            target_id: id,
        };
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok(pb::GroupWriteResponse {
            group: Some(updated),
            skipped_member_ids: skipped,
            member_count,
        })
    }

    /// Deletes a group, its memberships and its own membership in other groups.
    pub async fn delete_group(
        &self,
        actor: &Actor,
        org_id: &str,
        id: &str,
        expected_version: Option<i64>,
    ) -> CoreResult<()> {
        let txn = self.begin_write().await?;
        // FOR UPDATE (PostgreSQL): a concurrent add of this group as a member key-share locks it,
        // so either that add commits first and is forgotten below, or it waits and skips it. The
        // version bump alone takes a weaker lock that does not conflict with key-share.
        let mut before = groups::Entity::find_by_id(id.to_owned())
            .filter(groups::Column::OrgId.eq(org_id))
            .lock_exclusive()
            .one(&*txn)
            .await?
            .map(to_pb)
            .ok_or_else(|| CoreError::not_found("group"))?;
        external_ids::overlay_groups(
            &*txn,
            self.backend,
            org_id,
            actor.namespace(),
            std::slice::from_mut(&mut before),
        )
        .await?;
        self.bump_group(&txn, org_id, id, expected_version).await?;
        external_ids::forget(&*txn, self.backend, org_id, Kind::Group, id).await?;
        // Members that got a role from this group are recomputed once their membership is gone.
        let role_members = self.members_with_group_role(&txn, org_id, id).await?;
        self.forget_member(&txn, org_id, id).await?;
        gm::Entity::delete_many()
            .filter(gm::Column::GroupId.eq(id))
            .filter(gm::Column::OrgId.eq(org_id))
            .exec(&*txn)
            .await?;
        self.roles_after_membership(&txn, org_id, id, &role_members)
            .await?;
        let result = groups::Entity::delete_many()
            .filter(groups::Column::Id.eq(id))
            .filter(groups::Column::OrgId.eq(org_id))
            .exec(&*txn)
            .await?;
        expect_one(result.rows_affected, "group")?;
        let event = Event {
            operation: "group.delete",
            target_kind: "group",
            target_id: id,
        };
        self.audit(&txn, actor, event, &group_changes(Some(&before), None))
            .await?;
        txn.commit().await
    }

    /// A page of members ordered by id, after `after`.
    pub async fn member_page(
        &self,
        org_id: &str,
        group_id: &str,
        after: &str,
        limit: Option<u64>,
    ) -> CoreResult<Vec<pb::Member>> {
        // The page is chosen first (an index range on the primary key) and only its rows are joined
        // for display names: joining before the LIMIT lets PostgreSQL hash-join every user of the
        // organization, which made a page cost O(organization) instead of O(page).
        let mut sql = Sql::new(self.backend);
        sql.push("SELECT p.member_id, p.member_type, COALESCE(u.display_name, u.user_name, g.display_name) AS display FROM (SELECT gm.member_id, gm.member_type FROM group_members gm WHERE gm.group_id = ")
            .bind(group_id)
            // The organization is checked on the group's row, so the page is a range of the
            // (group_id, member_id) primary key whatever the planner knows of the organization's
            // other memberships.
            .push(" AND EXISTS (SELECT 1 FROM groups g0 WHERE g0.id = gm.group_id AND g0.org_id = ")
            .bind(org_id)
            .push(")");
        if !after.is_empty() {
            sql.push(" AND gm.member_id > ").bind(after);
        }
        sql.push(" ORDER BY gm.member_id");
        if let Some(limit) = limit {
            sql.push(" LIMIT ").bind(limit as i64);
        }
        sql.push(
            ") p LEFT JOIN users u ON p.member_type = 1 AND u.id = p.member_id \
             LEFT JOIN groups g ON p.member_type = 2 AND g.id = p.member_id ORDER BY p.member_id",
        );
        let rows = self.conn().query_all_raw(sql.build()).await?;
        rows.iter()
            .map(|row| {
                let row = MemberRow::from_query_result(row, "")?;
                Ok(pb::Member {
                    value: row.member_id,
                    r#type: member_type_code(row.member_type),
                    display: row.display.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Checks the group exists in the organization (for member listing).
    pub async fn group_exists(&self, org_id: &str, id: &str) -> CoreResult<()> {
        groups::Entity::find_by_id(id.to_owned())
            .filter(groups::Column::OrgId.eq(org_id))
            .one(self.conn())
            .await?
            .map(|_| ())
            .ok_or_else(|| CoreError::not_found("group"))
    }

    /// Removes `member_id` from every group of the organization, bumping those groups' versions.
    pub(super) async fn forget_member(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        member_id: &str,
    ) -> CoreResult<()> {
        let mut bump = Sql::new(self.backend);
        bump.push("UPDATE groups SET version = version + 1, member_count = member_count - 1, updated_at = ")
            .bind(self.clock.now_micros())
            .push(" WHERE org_id = ")
            .bind(org_id)
            .push(" AND id IN (SELECT group_id FROM group_members WHERE org_id = ")
            .bind(org_id)
            .push(" AND member_id = ")
            .bind(member_id)
            .push(")");
        txn.execute_raw(bump.build()).await?;
        gm::Entity::delete_many()
            .filter(gm::Column::OrgId.eq(org_id))
            .filter(gm::Column::MemberId.eq(member_id))
            .exec(&**txn)
            .await?;
        Ok(())
    }

    async fn bump_group(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        id: &str,
        expected_version: Option<i64>,
    ) -> CoreResult<pb::Group> {
        let mut sql = Sql::new(self.backend);
        sql.push("UPDATE groups SET version = version + 1, updated_at = ")
            .bind(self.clock.now_micros())
            .push(" WHERE id = ")
            .bind(id)
            .push(" AND org_id = ")
            .bind(org_id);
        if let Some(expected) = expected_version {
            sql.push(" AND version = ").bind(expected);
        }
        // RETURNING gives the row as it was before the caller's changes (only the version moved),
        // which the audit summary compares against, without another read.
        sql.push(" RETURNING *");
        if let Some(row) = txn.query_one_raw(sql.build()).await? {
            return Ok(to_pb(groups::Model::from_query_result(&row, "")?));
        }
        let current = groups::Entity::find_by_id(id.to_owned())
            .filter(groups::Column::OrgId.eq(org_id))
            .one(&**txn)
            .await?
            .ok_or_else(|| CoreError::not_found("group"))?;
        Err(CoreError::version_mismatch(current.version))
    }

    /// Moves the group's member count by `delta` (members really inserted minus really removed).
    pub(super) async fn count_members(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        id: &str,
        delta: i64,
    ) -> CoreResult<()> {
        if delta == 0 {
            return Ok(());
        }
        txn.execute_raw(self.count_update(org_id, id, delta).build())
            .await?;
        Ok(())
    }

    /// `UPDATE groups SET member_count = member_count + delta` for one group of the organization.
    fn count_update(&self, org_id: &str, id: &str, delta: i64) -> Sql {
        let mut sql = Sql::new(self.backend);
        sql.push("UPDATE groups SET member_count = member_count + ")
            .bind(delta)
            .push(" WHERE id = ")
            .bind(id)
            .push(" AND org_id = ")
            .bind(org_id);
        sql
    }

    /// Moves the group's member count by `delta` (possibly 0) and returns the group row as it is
    /// then, with the role the group carries (if any), in one statement; NOT_FOUND when the group
    /// is not the organization's.
    pub(super) async fn count_members_returning(
        &self,
        tx: Tx<'_>,
        org_id: &str,
        id: &str,
        delta: i64,
    ) -> CoreResult<(groups::Model, Option<String>)> {
        let mut sql = self.count_update(org_id, id, delta);
        sql.push(
            " RETURNING *, (SELECT gr.role FROM group_roles gr WHERE gr.group_id = groups.id \
                 AND gr.org_id = groups.org_id) AS carried_role",
        );
        tx.group_with_role(sql.build())
            .await?
            .ok_or_else(|| CoreError::not_found("group"))
    }

    /// Bumps the version by `calls` (one per call of a membership batch); NOT_FOUND when the group
    /// is not the organization's.
    pub(super) async fn bump_group_by(
        &self,
        tx: Tx<'_>,
        org_id: &str,
        id: &str,
        calls: i64,
    ) -> CoreResult<()> {
        let mut sql = Sql::new(self.backend);
        sql.push("UPDATE groups SET version = version + ")
            .bind(calls)
            .push(", updated_at = ")
            .bind(self.clock.now_micros())
            .push(" WHERE id = ")
            .bind(id)
            .push(" AND org_id = ")
            .bind(org_id);
        if tx.execute(sql.build()).await? == 1 {
            Ok(())
        } else {
            Err(CoreError::not_found("group"))
        }
    }

    async fn member_ids(
        &self,
        conn: &impl ConnectionTrait,
        org_id: &str,
        group_id: &str,
    ) -> CoreResult<HashSet<String>> {
        let mut sql = Sql::new(self.backend);
        sql.push("SELECT member_id AS id FROM group_members WHERE group_id = ")
            .bind(group_id)
            .push(" AND org_id = ")
            .bind(org_id);
        let rows = conn.query_all_raw(sql.build()).await?;
        rows.iter()
            .map(|row| Ok(IdRow::from_query_result(row, "")?.id))
            .collect()
    }

    /// Inserts the members that exist in the organization; reports the others in `skipped`.
    pub(super) async fn add_members(
        &self,
        tx: Tx<'_>,
        org_id: &str,
        group_id: &str,
        members: &[pb::Member],
        skipped: &mut Vec<String>,
    ) -> CoreResult<Vec<String>> {
        if members.len() > MAX_MEMBER_CHANGES {
            return Err(CoreError::new(
                roster::ErrorCode::TooMany,
                "members",
                format!("at most {MAX_MEMBER_CHANGES} members per call"),
            ));
        }
        let mut wanted_users = BTreeSet::new();
        let mut wanted_groups = BTreeSet::new();
        let mut untyped = BTreeSet::new();
        for member in members {
            let Ok(id) = validate::id("members", &member.value) else {
                skipped.push(member.value.chars().take(64).collect());
                continue;
            };
            if id == group_id {
                skipped.push(id);
                continue;
            }
            match MemberType::try_from(member.r#type).unwrap_or(MemberType::Unspecified) {
                MemberType::User => wanted_users.insert(id),
                MemberType::Group => wanted_groups.insert(id),
                MemberType::Unspecified => untyped.insert(id),
            };
        }
        let user_candidates: Vec<String> =
            wanted_users.iter().chain(untyped.iter()).cloned().collect();
        let found_users = existing(tx, self.backend, "users", org_id, &user_candidates).await?;
        let group_candidates: Vec<String> = wanted_groups
            .iter()
            .chain(untyped.iter().filter(|id| !found_users.contains(*id)))
            .cloned()
            .collect();
        let found_groups = existing(tx, self.backend, "groups", org_id, &group_candidates).await?;
        for id in wanted_users.iter().filter(|id| !found_users.contains(*id)) {
            skipped.push(id.clone());
        }
        for id in wanted_groups
            .iter()
            .filter(|id| !found_groups.contains(*id))
        {
            skipped.push(id.clone());
        }
        for id in untyped
            .iter()
            .filter(|id| !found_users.contains(*id) && !found_groups.contains(*id))
        {
            skipped.push(id.clone());
        }
        let now = self.clock.now_micros();
        let rows: Vec<(String, i16)> = found_users
            .into_iter()
            .map(|id| (id, USER))
            .chain(found_groups.into_iter().map(|id| (id, GROUP)))
            .collect();
        let mut inserted = Vec::new();
        for chunk in rows.chunks(CHUNK) {
            let mut sql = Sql::new(self.backend);
            sql.push("INSERT INTO group_members (group_id, member_id, org_id, member_type, created_at) VALUES ");
            for (index, (member_id, member_type)) in chunk.iter().enumerate() {
                if index > 0 {
                    sql.push(", ");
                }
                sql.push("(")
                    .bind(group_id)
                    .push(", ")
                    .bind(member_id.as_str())
                    .push(", ")
                    .bind(org_id)
                    .push(", ")
                    .bind(*member_type)
                    .push(", ")
                    .bind(now)
                    .push(")");
            }
            // RETURNING names only the rows really inserted (not those already there).
            sql.push(" ON CONFLICT (group_id, member_id) DO NOTHING RETURNING member_id AS id");
            inserted.extend(tx.ids(sql.build()).await?);
        }
        Ok(inserted)
    }
}

/// The well-formed ids of `members`, normalised as stored.
fn valid_ids(members: &[pb::Member]) -> impl Iterator<Item = String> + '_ {
    members
        .iter()
        .filter_map(|member| validate::id("members", &member.value).ok())
}

/// The subset of `ids` that are rows of `table` in the organization.
async fn existing(
    tx: Tx<'_>,
    backend: sea_orm::DbBackend,
    table: &'static str,
    org_id: &str,
    ids: &[String],
) -> CoreResult<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let mut sql = Sql::new(backend);
        // `+org_id` keeps SQLite on the primary key: with a plain `org_id = ?` its planner walks
        // the organization's (org_id, created_at) index, every user of it, for a handful of ids.
        let org_column = if backend == sea_orm::DbBackend::Sqlite {
            "+org_id"
        } else {
            "org_id"
        };
        sql.push(&format!("SELECT id FROM {table} WHERE id IN "))
            .bind_list(chunk.iter().map(String::as_str))
            .push(&format!(" AND {org_column} = "))
            .bind(org_id);
        // A member being deleted concurrently is either waited for (and then skipped) or
        // waits for this insert (and then forgets the new row too).
        if backend == sea_orm::DbBackend::Postgres {
            sql.push(" FOR KEY SHARE");
        }
        found.extend(tx.ids(sql.build()).await?);
    }
    Ok(found)
}

/// Deletes the membership rows of `ids`; returns the ids that were members.
pub(super) async fn remove_members(
    tx: Tx<'_>,
    backend: sea_orm::DbBackend,
    org_id: &str,
    group_id: &str,
    ids: &[String],
) -> CoreResult<Vec<String>> {
    let mut removed = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut sql = Sql::new(backend);
        sql.push("DELETE FROM group_members WHERE group_id = ")
            .bind(group_id)
            .push(" AND org_id = ")
            .bind(org_id)
            .push(" AND member_id IN ")
            .bind_list(chunk.iter().map(String::as_str))
            .push(" RETURNING member_id AS id");
        removed.extend(tx.ids(sql.build()).await?);
    }
    Ok(removed)
}
