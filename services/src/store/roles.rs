//! Roles: the per-organization catalog, group roles, and every user's explicit assignment and
//! stored effective role (`user_roles`). The effective role is recomputed in the transaction of
//! each change that can alter it, for the users that change touches and no others, so reading it
//! is one primary-key lookup. The precedence rule itself is `domain::role`.
//!
//! Locking on PostgreSQL (READ COMMITTED): every recompute first reads the catalog `FOR SHARE`
//! (catalog writers hold it `FOR UPDATE`), then locks the `user_roles` rows it will write, in id
//! order, and only then reads memberships and group roles, in later statements that see every
//! change committed while it waited. So two concurrent changes that touch one user (two groups
//! gaining that member, a group role change and a membership change) serialise on the user's row
//! and the second computes from the first's result. Group-level changes lock the group row before
//! any of this, as membership changes already do. SQLite has one writer at a time.

use super::sql::Sql;
use super::{Event, Store, WriteTxn, timestamp};
use crate::domain::audit::{Actor, Changes};
use crate::domain::role::{
    self, AssignedBy, Assignment, Catalog, Effective, GroupRole, Reason, RoleDef,
};
use crate::error::{CoreError, CoreResult};
use roster::pb;
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Ids per `IN (...)` list.
const CHUNK: usize = 500;

#[derive(FromQueryResult)]
struct RoleRow {
    name: String,
    rank: i32,
    is_default: bool,
    created_at: i64,
    updated_at: i64,
}

impl RoleRow {
    fn to_pb(&self) -> pb::Role {
        pb::Role {
            name: self.name.clone(),
            rank: self.rank,
            is_default: self.is_default,
            created: Some(timestamp(self.created_at)),
            last_modified: Some(timestamp(self.updated_at)),
        }
    }
}

#[derive(FromQueryResult)]
struct UserRoleRow {
    user_id: String,
    assigned_role: Option<String>,
    assigned_by: Option<String>,
    effective_role: String,
    reason: String,
    via_group_id: Option<String>,
}

impl UserRoleRow {
    fn assignment(&self) -> Option<Assignment> {
        Some(Assignment {
            role: self.assigned_role.clone()?,
            by: self
                .assigned_by
                .as_deref()
                .and_then(AssignedBy::parse)
                .unwrap_or(AssignedBy::Admin),
        })
    }

    fn stored(&self) -> Effective {
        let reason = Reason::parse(&self.reason).unwrap_or(Reason::Default);
        Effective {
            role: self.effective_role.clone(),
            reason,
            via_group: self.via_group_id.clone(),
        }
    }
}

#[derive(FromQueryResult)]
struct MembershipRow {
    member_id: String,
    group_id: String,
    role: String,
}

#[derive(FromQueryResult)]
struct EffectiveRow {
    user_id: String,
    effective_role: String,
    reason: String,
    assigned_by: Option<String>,
    via_group_id: Option<String>,
    group_display_name: Option<String>,
    rank: i32,
}

#[derive(FromQueryResult)]
struct IdRow {
    id: String,
}

#[derive(FromQueryResult)]
struct GroupRow {
    id: String,
    display_name: String,
}

#[derive(FromQueryResult)]
struct RoleNameRow {
    role: String,
}

/// How the catalog is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// A plain read (outside a write).
    None,
    /// `FOR SHARE`: recomputes, which must not interleave with a catalog change.
    Share,
    /// `FOR UPDATE`: catalog changes.
    Update,
}

fn unknown_role_row(name: &str) -> CoreError {
    CoreError::internal(anyhow::anyhow!(
        "the catalog has no default role or lacks {name}"
    ))
}

impl Store {
    /// The organization's role catalog, highest rank first.
    pub async fn list_roles(&self, org_id: &str) -> CoreResult<Vec<pb::Role>> {
        let rows = self.role_rows(self.conn(), org_id, Lock::None).await?;
        Ok(rows.iter().map(RoleRow::to_pb).collect())
    }

    /// Creates a role or changes its rank (and makes it the default when asked), recomputing the
    /// effective roles that depend on it: a new role becomes the explicit role of users whose
    /// userType names it (unless an administrator assigned theirs), a new rank is re-weighed for
    /// the members of groups carrying the role, and a new default replaces the old one for users
    /// who had the default.
    pub async fn define_role(
        &self,
        actor: &Actor,
        org_id: &str,
        name: &str,
        rank: i32,
        make_default: bool,
    ) -> CoreResult<pb::Role> {
        role::validate_name("name", name)?;
        if rank < 1 {
            return Err(CoreError::invalid("rank", "rank must be a positive number"));
        }
        let txn = self.begin_write().await?;
        // Locking every row of the catalog serialises catalog changes of one organization.
        let rows = self.role_rows(&*txn, org_id, Lock::Update).await?;
        let key = role::fold(name);
        if let Some(other) = rows
            .iter()
            .find(|row| row.name != name && role::fold(&row.name) == key)
        {
            return Err(CoreError::new(
                roster::ErrorCode::Uniqueness,
                "name",
                format!(
                    "name differs from the existing role {} only in case or separators",
                    other.name
                ),
            ));
        }
        if let Some(other) = rows.iter().find(|row| row.name != name && row.rank == rank) {
            return Err(CoreError::new(
                roster::ErrorCode::Uniqueness,
                "rank",
                format!("rank {rank} is already held by the role {}", other.name),
            ));
        }
        let now = self.clock.now_micros();
        let existing = rows.iter().find(|row| row.name == name);
        match existing {
            None => {
                let mut insert = Sql::new(self.backend);
                insert
                    .push("INSERT INTO roles (org_id, name, name_key, rank, is_default, created_at, updated_at) VALUES (")
                    .bind(org_id)
                    .push(", ")
                    .bind(name)
                    .push(", ")
                    .bind(key.as_str())
                    .push(", ")
                    .bind(rank)
                    .push(", ")
                    .bind(false)
                    .push(", ")
                    .bind(now)
                    .push(", ")
                    .bind(now)
                    .push(")");
                txn.execute_raw(insert.build()).await?;
            }
            Some(row) if row.rank != rank => {
                let mut update = Sql::new(self.backend);
                update
                    .push("UPDATE roles SET rank = ")
                    .bind(rank)
                    .push(", updated_at = ")
                    .bind(now)
                    .push(" WHERE org_id = ")
                    .bind(org_id)
                    .push(" AND name = ")
                    .bind(name);
                txn.execute_raw(update.build()).await?;
            }
            Some(_) => {}
        }
        if make_default && !existing.is_some_and(|row| row.is_default) {
            self.move_default(&txn, org_id, name, now).await?;
        }
        match existing {
            None => {
                // Users whose userType names the new role now have it explicitly (userType comes
                // first, so their roles attribute cannot name anything that overrides it), unless
                // an administrator assigned theirs. Found by the (org_id, user_type) index.
                let mut select = Sql::new(self.backend);
                select
                    .push(
                        "SELECT ur.user_id AS id FROM users u JOIN user_roles ur ON ur.user_id = u.id \
                         WHERE u.org_id = ",
                    )
                    .bind(org_id)
                    .push(" AND u.user_type = ")
                    .bind(name)
                    .push(" AND (ur.assigned_by IS NULL OR ur.assigned_by <> ")
                    .bind(AssignedBy::Admin.as_str())
                    .push(")");
                let ids = ids_of(&*txn, select).await?;
                let assignment = Assignment {
                    role: name.to_owned(),
                    by: AssignedBy::UserType,
                };
                self.set_assignments(&txn, org_id, &ids, Some(&assignment), now)
                    .await?;
                self.recompute(&txn, org_id, &ids).await?;
            }
            Some(row) if row.rank != rank => {
                // Only members of groups that carry the role can see its rank matter.
                let mut select = Sql::new(self.backend);
                select
                    .push(
                        "SELECT DISTINCT gm.member_id AS id FROM group_roles gr \
                         JOIN group_members gm ON gm.group_id = gr.group_id AND gm.org_id = gr.org_id \
                         WHERE gr.org_id = ",
                    )
                    .bind(org_id)
                    .push(" AND gr.role = ")
                    .bind(name)
                    .push(" AND gm.member_type = 1");
                let ids = ids_of(&*txn, select).await?;
                self.recompute(&txn, org_id, &ids).await?;
            }
            Some(_) => {}
        }
        let row = self
            .role_rows(&*txn, org_id, Lock::None)
            .await?
            .into_iter()
            .find(|row| row.name == name)
            .ok_or_else(|| unknown_role_row(name))?;
        let mut changes = Changes::new();
        changes
            .compare(
                "rank",
                &existing.map_or(Value::Null, |row| Value::from(row.rank)),
                &Value::from(row.rank),
            )
            .compare(
                "isDefault",
                &existing.map_or(Value::Null, |row| Value::from(row.is_default)),
                &Value::from(row.is_default),
            );
        let event = Event {
            operation: "role.define",
            target_kind: "role",
            target_id: name,
        };
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok(row.to_pb())
    }

    /// Assigns a role to a user explicitly (`Some`), or clears the assignment (`None`).
    pub async fn assign_user_role(
        &self,
        actor: &Actor,
        org_id: &str,
        user_id: &str,
        role_name: Option<&str>,
    ) -> CoreResult<pb::EffectiveRole> {
        let txn = self.begin_write().await?;
        let catalog = self.catalog(&*txn, org_id, Lock::Share).await?;
        if let Some(name) = role_name {
            catalog.require("role", name)?;
        }
        let rows = self.user_role_rows(&*txn, org_id, &[user_id], true).await?;
        if rows.is_empty() {
            return Err(CoreError::not_found("user"));
        }
        let assignment = role_name.map(|name| Assignment {
            role: name.to_owned(),
            by: AssignedBy::Admin,
        });
        let now = self.clock.now_micros();
        self.set_assignments(
            &txn,
            org_id,
            &[user_id.to_owned()],
            assignment.as_ref(),
            now,
        )
        .await?;
        self.recompute(&txn, org_id, &[user_id.to_owned()]).await?;
        let effective = self.read_effective(&*txn, org_id, user_id).await?;
        let text = |value: Option<&str>| value.map_or(Value::Null, Value::from);
        let mut changes = Changes::new();
        changes
            .compare(
                "assignedRole",
                &text(rows[0].assigned_role.as_deref()),
                &text(role_name),
            )
            .compare(
                "effectiveRole",
                &Value::from(rows[0].effective_role.as_str()),
                &Value::from(effective.role.as_str()),
            );
        let event = Event {
            operation: "role.assign_user",
            target_kind: "user",
            target_id: user_id,
        };
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok(effective)
    }

    /// Gives a group a role for its direct user members (`Some`), or takes it away (`None`), and
    /// recomputes those members.
    pub async fn assign_group_role(
        &self,
        actor: &Actor,
        org_id: &str,
        group_id: &str,
        role_name: Option<&str>,
    ) -> CoreResult<pb::AssignGroupRoleResponse> {
        let txn = self.begin_write().await?;
        // The group row first, as membership changes lock it: a concurrent membership change of
        // this group either finishes before (and its members are read below) or waits and then
        // sees the new role.
        let mut select = Sql::new(self.backend);
        select
            .push("SELECT id, display_name FROM groups WHERE id = ")
            .bind(group_id)
            .push(" AND org_id = ")
            .bind(org_id);
        if self.backend == sea_orm::DbBackend::Postgres {
            select.push(" FOR UPDATE");
        }
        let group = match txn.query_one_raw(select.build()).await? {
            Some(row) => GroupRow::from_query_result(&row, "")?,
            None => return Err(CoreError::not_found("group")),
        };
        let catalog = self.catalog(&*txn, org_id, Lock::Share).await?;
        if let Some(name) = role_name {
            catalog.require("role", name)?;
        }
        let current = self.group_role(&*txn, org_id, group_id).await?;
        let mut changed_members = 0;
        if current.as_deref() != role_name {
            let mut write = Sql::new(self.backend);
            match role_name {
                Some(name) => {
                    write
                        .push(
                            "INSERT INTO group_roles (group_id, org_id, role, created_at) VALUES (",
                        )
                        .bind(group_id)
                        .push(", ")
                        .bind(org_id)
                        .push(", ")
                        .bind(name)
                        .push(", ")
                        .bind(self.clock.now_micros())
                        .push(") ON CONFLICT (group_id) DO UPDATE SET role = excluded.role");
                }
                None => {
                    write
                        .push("DELETE FROM group_roles WHERE group_id = ")
                        .bind(group_id)
                        .push(" AND org_id = ")
                        .bind(org_id);
                }
            }
            txn.execute_raw(write.build()).await?;
            let members = self.user_members(&*txn, org_id, group_id).await?;
            changed_members = self.recompute(&txn, org_id, &members).await?;
        }
        let text = |value: Option<&str>| value.map_or(Value::Null, Value::from);
        let mut changes = Changes::new();
        changes.compare("role", &text(current.as_deref()), &text(role_name));
        if changed_members > 0 {
            changes.note("changedMembers", Value::from(changed_members as i64));
        }
        let event = Event {
            operation: "role.assign_group",
            target_kind: "group",
            target_id: group_id,
        };
        self.audit(&txn, actor, event, &changes).await?;
        txn.commit().await?;
        Ok(pb::AssignGroupRoleResponse {
            group_id: group.id,
            group_display_name: group.display_name,
            role: role_name.unwrap_or_default().to_owned(),
            changed_members: changed_members as i64,
        })
    }

    /// A user's effective role and the reason for it: one lookup.
    pub async fn effective_role(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> CoreResult<pb::EffectiveRole> {
        self.read_effective(self.conn(), org_id, user_id).await
    }

    /// Seeds a new organization's catalog with the defaults, inside its creation transaction.
    pub(super) async fn seed_roles(&self, txn: &WriteTxn, org_id: &str) -> CoreResult<()> {
        let now = self.clock.now_micros();
        let mut insert = Sql::new(self.backend);
        insert.push(
            "INSERT INTO roles (org_id, name, name_key, rank, is_default, created_at, updated_at) VALUES ",
        );
        for (index, (name, rank, is_default)) in role::DEFAULT_ROLES.iter().enumerate() {
            if index > 0 {
                insert.push(", ");
            }
            insert
                .push("(")
                .bind(org_id)
                .push(", ")
                .bind(*name)
                .push(", ")
                .bind(role::fold(name))
                .push(", ")
                .bind(*rank)
                .push(", ")
                .bind(*is_default)
                .push(", ")
                .bind(now)
                .push(", ")
                .bind(now)
                .push(")");
        }
        txn.execute_raw(insert.build()).await?;
        Ok(())
    }

    /// The role row of a user being created: its explicit role from userType or roles (a near
    /// miss of a role name is INVALID_ARGUMENT), else the default (a new user is in no group).
    pub(super) async fn roles_for_new_user(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        user_id: &str,
        user: &pb::User,
    ) -> CoreResult<()> {
        self.roles_for_new_users(txn, org_id, &[(user_id, user)])
            .await
    }

    /// [`Self::roles_for_new_user`] for a create batch: one catalog read and one multi-row insert,
    /// since every statement costs SQLite's single writer a thread hand-off.
    pub(super) async fn roles_for_new_users(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        users: &[(&str, &pb::User)],
    ) -> CoreResult<()> {
        if users.is_empty() {
            return Ok(());
        }
        let catalog = self.catalog(&**txn, org_id, Lock::Share).await?;
        let now = self.clock.now_micros();
        let mut insert = Sql::new(self.backend);
        insert.push(
            "INSERT INTO user_roles (user_id, org_id, assigned_role, assigned_by, effective_role, \
             reason, via_group_id, updated_at) VALUES ",
        );
        for (index, (user_id, user)) in users.iter().enumerate() {
            let assignment = role::from_profile(&catalog, user.user_type.as_deref(), &user.roles)?;
            let effective = role::effective(
                &catalog,
                assignment
                    .as_ref()
                    .map(|assignment| assignment.role.as_str()),
                &[],
                None,
            )
            .ok_or_else(|| unknown_role_row("the default"))?;
            if index > 0 {
                insert.push(", ");
            }
            insert.bind_list([
                sea_orm::Value::from(*user_id),
                org_id.into(),
                assignment
                    .as_ref()
                    .map(|assignment| assignment.role.clone())
                    .into(),
                assignment
                    .as_ref()
                    .map(|assignment| assignment.by.as_str().to_owned())
                    .into(),
                effective.role.as_str().into(),
                effective.reason.as_str().into(),
                effective.via_group.into(),
                now.into(),
            ]);
        }
        txn.execute_raw(insert.build()).await?;
        Ok(())
    }

    /// Re-derives a replaced user's explicit role from its new attributes (see
    /// `domain::role::after_provisioning`) and recomputes its effective role. A near miss of a
    /// role name is refused only when the role attributes change: one stored before the role
    /// existed ("vendor", then "Vendor" defined) must not block every later profile update.
    pub(super) async fn roles_for_replaced_user(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        old: &pb::User,
        new: &pb::User,
    ) -> CoreResult<()> {
        let user_id = new.id.as_str();
        let catalog = self.catalog(&**txn, org_id, Lock::Share).await?;
        let changed = role::role_attributes_changed(old, new);
        let derived = match role::from_profile(&catalog, new.user_type.as_deref(), &new.roles) {
            Ok(derived) => derived,
            Err(_) if !changed => return Ok(()),
            Err(error) => return Err(error),
        };
        let rows = self
            .user_role_rows(&**txn, org_id, &[user_id], true)
            .await?;
        let Some(row) = rows.first() else {
            // Every user has a row (created with it, or by the migration); recreate a lost one.
            return self.roles_for_new_user(txn, org_id, user_id, new).await;
        };
        let current = row.assignment();
        let next = role::after_provisioning(current.clone(), changed, derived);
        if next != current {
            let now = self.clock.now_micros();
            self.set_assignments(txn, org_id, &[user_id.to_owned()], next.as_ref(), now)
                .await?;
        }
        self.recompute(txn, org_id, &[user_id.to_owned()]).await?;
        Ok(())
    }

    /// After a membership change of a group: recomputes the touched ids (users among them; other
    /// ids are ignored) when the group carries a role. A group without a role cannot change
    /// anyone's role, so most membership changes cost one primary-key read here.
    pub(super) async fn roles_after_membership(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        group_id: &str,
        touched: &[String],
    ) -> CoreResult<()> {
        if touched.is_empty() || self.group_role(&**txn, org_id, group_id).await?.is_none() {
            return Ok(());
        }
        self.recompute(txn, org_id, touched).await?;
        Ok(())
    }

    /// [`Self::roles_after_membership`] for a caller that already knows the group carries a role.
    pub(super) async fn recompute_members(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        touched: &[String],
    ) -> CoreResult<()> {
        self.recompute(txn, org_id, touched).await?;
        Ok(())
    }

    /// The direct user members of a group that carries a role (empty when it carries none): the
    /// users a deletion of the group must recompute once its memberships are gone.
    pub(super) async fn members_with_group_role(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        group_id: &str,
    ) -> CoreResult<Vec<String>> {
        if self.group_role(&**txn, org_id, group_id).await?.is_none() {
            return Ok(Vec::new());
        }
        self.user_members(&**txn, org_id, group_id).await
    }

    /// Recomputes the effective role of `user_ids` (ids without a role row, such as group ids, are
    /// ignored) and writes those that changed; returns how many did.
    async fn recompute(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        user_ids: &[String],
    ) -> CoreResult<u64> {
        if user_ids.is_empty() {
            return Ok(0);
        }
        let catalog = self.catalog(&**txn, org_id, Lock::Share).await?;
        let mut ids: Vec<&str> = user_ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        // Users by their new (role, reason, group): one UPDATE per distinct outcome.
        let mut changes: BTreeMap<(String, &'static str, Option<String>), Vec<String>> =
            BTreeMap::new();
        for chunk in ids.chunks(CHUNK) {
            let rows = self.user_role_rows(&**txn, org_id, chunk, true).await?;
            if rows.is_empty() {
                continue;
            }
            let mut select = Sql::new(self.backend);
            select
                .push(
                    "SELECT gm.member_id, gr.group_id, gr.role FROM group_members gm \
                     JOIN group_roles gr ON gr.group_id = gm.group_id AND gr.org_id = gm.org_id \
                     WHERE gm.org_id = ",
                )
                .bind(org_id)
                .push(" AND gm.member_type = 1 AND gm.member_id IN ")
                .bind_list(rows.iter().map(|row| row.user_id.as_str()));
            let mut group_roles: HashMap<String, Vec<GroupRole>> = HashMap::new();
            for row in txn.query_all_raw(select.build()).await? {
                let row = MembershipRow::from_query_result(&row, "")?;
                group_roles
                    .entry(row.member_id)
                    .or_default()
                    .push(GroupRole {
                        group_id: row.group_id,
                        role: row.role,
                    });
            }
            for row in &rows {
                let stored = row.stored();
                let current_group = (stored.reason == Reason::Group)
                    .then_some(stored.via_group.as_deref())
                    .flatten();
                let groups = group_roles
                    .get(&row.user_id)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let effective = role::effective(
                    &catalog,
                    row.assigned_role.as_deref(),
                    groups,
                    current_group,
                )
                .ok_or_else(|| unknown_role_row("the default"))?;
                if effective != stored {
                    changes
                        .entry((
                            effective.role,
                            effective.reason.as_str(),
                            effective.via_group,
                        ))
                        .or_default()
                        .push(row.user_id.clone());
                }
            }
        }
        let now = self.clock.now_micros();
        let mut changed = 0u64;
        for ((role_name, reason, via_group), users) in changes {
            for chunk in users.chunks(CHUNK) {
                let mut update = Sql::new(self.backend);
                update
                    .push("UPDATE user_roles SET effective_role = ")
                    .bind(role_name.as_str())
                    .push(", reason = ")
                    .bind(reason)
                    .push(", via_group_id = ")
                    .bind(via_group.clone())
                    .push(", updated_at = ")
                    .bind(now)
                    .push(" WHERE org_id = ")
                    .bind(org_id)
                    .push(" AND user_id IN ")
                    .bind_list(chunk.iter().map(String::as_str));
                changed += txn.execute_raw(update.build()).await?.rows_affected();
            }
        }
        Ok(changed)
    }

    /// Makes `name` the default role, and the role of every user who had the old default.
    async fn move_default(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        name: &str,
        now: i64,
    ) -> CoreResult<()> {
        let mut unset = Sql::new(self.backend);
        unset
            .push("UPDATE roles SET is_default = ")
            .bind(false)
            .push(", updated_at = ")
            .bind(now)
            .push(" WHERE org_id = ")
            .bind(org_id)
            .push(" AND is_default = ")
            .bind(true);
        txn.execute_raw(unset.build()).await?;
        let mut set = Sql::new(self.backend);
        set.push("UPDATE roles SET is_default = ")
            .bind(true)
            .push(", updated_at = ")
            .bind(now)
            .push(" WHERE org_id = ")
            .bind(org_id)
            .push(" AND name = ")
            .bind(name);
        txn.execute_raw(set.build()).await?;
        // Exactly the users whose role is the default change, and all to the same role: one
        // statement over the (org_id, reason) index.
        let mut users = Sql::new(self.backend);
        users
            .push("UPDATE user_roles SET effective_role = ")
            .bind(name)
            .push(", updated_at = ")
            .bind(now)
            .push(" WHERE org_id = ")
            .bind(org_id)
            .push(" AND reason = ")
            .bind(Reason::Default.as_str());
        txn.execute_raw(users.build()).await?;
        Ok(())
    }

    /// Sets (or clears) the explicit assignment of `user_ids`.
    async fn set_assignments(
        &self,
        txn: &WriteTxn,
        org_id: &str,
        user_ids: &[String],
        assignment: Option<&Assignment>,
        now: i64,
    ) -> CoreResult<()> {
        for chunk in user_ids.chunks(CHUNK) {
            let mut update = Sql::new(self.backend);
            update
                .push("UPDATE user_roles SET assigned_role = ")
                .bind(assignment.map(|assignment| assignment.role.clone()))
                .push(", assigned_by = ")
                .bind(assignment.map(|assignment| assignment.by.as_str()))
                .push(", updated_at = ")
                .bind(now)
                .push(" WHERE org_id = ")
                .bind(org_id)
                .push(" AND user_id IN ")
                .bind_list(chunk.iter().map(String::as_str));
            txn.execute_raw(update.build()).await?;
        }
        Ok(())
    }

    async fn role_rows(
        &self,
        conn: &impl ConnectionTrait,
        org_id: &str,
        lock: Lock,
    ) -> CoreResult<Vec<RoleRow>> {
        let mut select = Sql::new(self.backend);
        select
            .push(
                "SELECT name, rank, is_default, created_at, updated_at FROM roles WHERE org_id = ",
            )
            .bind(org_id)
            .push(" ORDER BY rank DESC, name");
        if self.backend == sea_orm::DbBackend::Postgres {
            match lock {
                Lock::None => {}
                Lock::Share => {
                    select.push(" FOR SHARE");
                }
                Lock::Update => {
                    select.push(" FOR UPDATE");
                }
            }
        }
        let rows = conn.query_all_raw(select.build()).await?;
        rows.iter()
            .map(|row| Ok(RoleRow::from_query_result(row, "")?))
            .collect()
    }

    async fn catalog(
        &self,
        conn: &impl ConnectionTrait,
        org_id: &str,
        lock: Lock,
    ) -> CoreResult<Catalog> {
        let rows = self.role_rows(conn, org_id, lock).await?;
        Ok(Catalog::new(
            rows.into_iter()
                .map(|row| RoleDef {
                    name: row.name,
                    rank: row.rank,
                    is_default: row.is_default,
                })
                .collect(),
        ))
    }

    /// The role rows of `user_ids` in id order, locked for update on PostgreSQL when asked.
    async fn user_role_rows(
        &self,
        conn: &impl ConnectionTrait,
        org_id: &str,
        user_ids: &[&str],
        lock: bool,
    ) -> CoreResult<Vec<UserRoleRow>> {
        let mut select = Sql::new(self.backend);
        select
            .push(
                "SELECT user_id, assigned_role, assigned_by, effective_role, reason, via_group_id \
                 FROM user_roles WHERE org_id = ",
            )
            .bind(org_id)
            .push(" AND user_id IN ")
            .bind_list(user_ids.iter().copied())
            .push(" ORDER BY user_id");
        if lock && self.backend == sea_orm::DbBackend::Postgres {
            select.push(" FOR UPDATE");
        }
        let rows = conn.query_all_raw(select.build()).await?;
        rows.iter()
            .map(|row| Ok(UserRoleRow::from_query_result(row, "")?))
            .collect()
    }

    async fn group_role(
        &self,
        conn: &impl ConnectionTrait,
        org_id: &str,
        group_id: &str,
    ) -> CoreResult<Option<String>> {
        let mut select = Sql::new(self.backend);
        select
            .push("SELECT role FROM group_roles WHERE group_id = ")
            .bind(group_id)
            .push(" AND org_id = ")
            .bind(org_id);
        match conn.query_one_raw(select.build()).await? {
            Some(row) => Ok(Some(RoleNameRow::from_query_result(&row, "")?.role)),
            None => Ok(None),
        }
    }

    async fn user_members(
        &self,
        conn: &impl ConnectionTrait,
        org_id: &str,
        group_id: &str,
    ) -> CoreResult<Vec<String>> {
        let mut select = Sql::new(self.backend);
        select
            .push("SELECT member_id AS id FROM group_members WHERE group_id = ")
            .bind(group_id)
            .push(" AND org_id = ")
            .bind(org_id)
            .push(" AND member_type = 1");
        ids_of(conn, select).await
    }

    async fn read_effective(
        &self,
        conn: &impl ConnectionTrait,
        org_id: &str,
        user_id: &str,
    ) -> CoreResult<pb::EffectiveRole> {
        let mut select = Sql::new(self.backend);
        select
            .push(
                "SELECT ur.user_id, ur.effective_role, ur.reason, ur.assigned_by, ur.via_group_id, \
                 g.display_name AS group_display_name, r.rank \
                 FROM user_roles ur \
                 JOIN roles r ON r.org_id = ur.org_id AND r.name = ur.effective_role \
                 LEFT JOIN groups g ON g.id = ur.via_group_id AND g.org_id = ur.org_id \
                 WHERE ur.org_id = ",
            )
            .bind(org_id)
            .push(" AND ur.user_id = ")
            .bind(user_id);
        let row = match conn.query_one_raw(select.build()).await? {
            Some(row) => EffectiveRow::from_query_result(&row, "")?,
            None => return Err(CoreError::not_found("user")),
        };
        let reason = Reason::parse(&row.reason).unwrap_or(Reason::Default);
        let source = match (
            reason,
            row.assigned_by.as_deref().and_then(AssignedBy::parse),
        ) {
            (Reason::Explicit, Some(AssignedBy::UserType)) => pb::AssignmentSource::UserType,
            (Reason::Explicit, Some(AssignedBy::Roles)) => pb::AssignmentSource::Roles,
            (Reason::Explicit, Some(AssignedBy::Admin)) => pb::AssignmentSource::Admin,
            _ => pb::AssignmentSource::Unspecified,
        };
        let (group_id, group_display_name) = if reason == Reason::Group {
            (
                row.via_group_id.unwrap_or_default(),
                row.group_display_name.unwrap_or_default(),
            )
        } else {
            (String::new(), String::new())
        };
        Ok(pb::EffectiveRole {
            user_id: row.user_id,
            role: row.effective_role,
            rank: row.rank,
            reason: match reason {
                Reason::Explicit => pb::RoleReason::Explicit,
                Reason::Group => pb::RoleReason::Group,
                Reason::Default => pb::RoleReason::Default,
            } as i32,
            source: source as i32,
            group_id,
            group_display_name,
        })
    }
}

/// The `id` column of every row `select` returns.
async fn ids_of(conn: &impl ConnectionTrait, select: Sql) -> CoreResult<Vec<String>> {
    let rows = conn.query_all_raw(select.build()).await?;
    rows.iter()
        .map(|row| Ok(IdRow::from_query_result(row, "")?.id))
        .collect()
}
