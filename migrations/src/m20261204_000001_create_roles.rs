//! Roles (user types): each organization's role catalog, the role a group gives its members, and
//! every user's explicit assignment with the effective role it resolves to (stored, so a read is
//! one primary-key lookup; the store recomputes it in the transaction of every change that can
//! alter it).
//!
//! - `roles`: the catalog. `name` is exact (its primary key with `org_id`); `name_key` (lowercase,
//!   without spaces, `-`, `_` and `.`) is unique too, so no two roles differ only in case or
//!   separators ("FullMember" and "Full Member"). Ranks are unique per organization, so "the
//!   highest-ranked role" is always one role; exactly one role per organization is the default.
//! - `group_roles`: at most one role per group, given to its direct user members.
//! - `user_roles`: one row per user: the explicit assignment (`assigned_role`, and `assigned_by`:
//!   `userType`, `roles` or `admin`) and the effective role with its reason (`explicit`, `group`
//!   with `via_group_id`, or `default`). `via_group_id` has no foreign key on purpose: on
//!   PostgreSQL its key-share lock on the group row would let a membership change and a concurrent
//!   deletion of that group deadlock; the store recomputes the members before a group goes.
//!
//! Every existing organization gets the defaults Admin (400) > FullMember (300) > FreeMember (200,
//! the default) > Guest (100), the same list the store seeds into a new organization (the core's
//! `domain::role::DEFAULT_ROLES`; this crate cannot depend on the core, so it repeats it). Existing
//! users get an explicit role when their userType, or else their primary (or only) `roles` value,
//! names one exactly; everyone else gets the default. (The core's rule also picks the
//! highest-ranked of several non-primary `roles` values; such users get it on their next write.)

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000001_create_roles"
    }
}

const TABLES: &str = r#"
CREATE TABLE roles (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    rank INTEGER NOT NULL,
    is_default BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT uq_roles_org_name PRIMARY KEY (org_id, name)
);
CREATE UNIQUE INDEX uq_roles_org_name_key ON roles (org_id, name_key);
CREATE UNIQUE INDEX uq_roles_org_rank ON roles (org_id, rank);
CREATE UNIQUE INDEX uq_roles_org_default ON roles (org_id) WHERE is_default;

CREATE TABLE group_roles (
    group_id TEXT NOT NULL PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (org_id, role) REFERENCES roles (org_id, name)
);
CREATE INDEX ix_group_roles_org_role ON group_roles (org_id, role);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    assigned_role TEXT NULL,
    assigned_by TEXT NULL,
    effective_role TEXT NOT NULL,
    reason TEXT NOT NULL,
    via_group_id TEXT NULL,
    updated_at BIGINT NOT NULL,
    FOREIGN KEY (org_id, assigned_role) REFERENCES roles (org_id, name),
    FOREIGN KEY (org_id, effective_role) REFERENCES roles (org_id, name)
);
CREATE INDEX ix_user_roles_org_reason ON user_roles (org_id, reason);
CREATE INDEX ix_user_roles_org_effective ON user_roles (org_id, effective_role);

CREATE INDEX ix_users_org_user_type ON users (org_id, user_type);

INSERT INTO roles (org_id, name, name_key, rank, is_default, created_at, updated_at)
    SELECT id, 'Admin', 'admin', 400, FALSE, created_at, created_at FROM organizations;
INSERT INTO roles (org_id, name, name_key, rank, is_default, created_at, updated_at)
    SELECT id, 'FullMember', 'fullmember', 300, FALSE, created_at, created_at FROM organizations;
INSERT INTO roles (org_id, name, name_key, rank, is_default, created_at, updated_at)
    SELECT id, 'FreeMember', 'freemember', 200, TRUE, created_at, created_at FROM organizations;
INSERT INTO roles (org_id, name, name_key, rank, is_default, created_at, updated_at)
    SELECT id, 'Guest', 'guest', 100, FALSE, created_at, created_at FROM organizations;

INSERT INTO user_roles (user_id, org_id, assigned_role, assigned_by, effective_role, reason,
                        via_group_id, updated_at)
    SELECT id, org_id,
        CASE WHEN user_type IN (ROLE_NAMES) THEN user_type END,
        CASE WHEN user_type IN (ROLE_NAMES) THEN 'userType' END,
        CASE WHEN user_type IN (ROLE_NAMES) THEN user_type ELSE 'FreeMember' END,
        CASE WHEN user_type IN (ROLE_NAMES) THEN 'explicit' ELSE 'default' END,
        NULL, updated_at
    FROM users
"#;

/// The primary (or only) `roles` value of users without an explicit role yet, per backend.
const ROLES_FROM_PROFILE_POSTGRES: &str = r#"
UPDATE user_roles SET assigned_role = picked.value, assigned_by = 'roles',
    effective_role = picked.value, reason = 'explicit'
FROM (
    SELECT u.id, element->>'value' AS value
    FROM users u
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(u.profile->'roles') = 'array' THEN u.profile->'roles'
             ELSE '[]'::jsonb END) AS element
    WHERE element->>'primary' = 'true'
       OR jsonb_array_length(CASE WHEN jsonb_typeof(u.profile->'roles') = 'array'
                                  THEN u.profile->'roles' ELSE '[]'::jsonb END) = 1
) picked
WHERE user_roles.user_id = picked.id AND user_roles.assigned_role IS NULL
  AND picked.value IN (ROLE_NAMES)
"#;

const ROLES_FROM_PROFILE_SQLITE: [&str; 2] = [
    r#"
UPDATE user_roles SET assigned_role = (
    SELECT json_extract(element.value, '$.value')
    FROM users u, json_each(u.profile, '$.roles') AS element
    WHERE u.id = user_roles.user_id
      AND (json_extract(element.value, '$.primary') = 1
           OR json_array_length(u.profile, '$.roles') = 1)
      AND json_extract(element.value, '$.value') IN (ROLE_NAMES)
    LIMIT 1)
WHERE assigned_role IS NULL
"#,
    r#"
UPDATE user_roles SET assigned_by = 'roles', effective_role = assigned_role, reason = 'explicit'
WHERE assigned_role IS NOT NULL AND assigned_by IS NULL
"#,
];

const ROLE_NAMES: &str = "'Admin', 'FullMember', 'FreeMember', 'Guest'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        let mut statements: Vec<&str> = TABLES
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        match manager.get_database_backend() {
            DbBackend::Postgres => statements.push(ROLES_FROM_PROFILE_POSTGRES),
            _ => statements.extend(ROLES_FROM_PROFILE_SQLITE),
        }
        for statement in statements {
            connection
                .execute_unprepared(&statement.replace("ROLE_NAMES", ROLE_NAMES))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        connection
            .execute_unprepared("DROP INDEX IF EXISTS ix_users_org_user_type")
            .await?;
        for table in ["user_roles", "group_roles", "roles"] {
            connection
                .execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
