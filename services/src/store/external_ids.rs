//! externalId namespaces (`external_ids`). A caller whose token belongs to a connection reads,
//! writes and filters the externalIds of that connection's namespace (its id); every other caller
//! uses the `external_id` columns of `users` and `groups` (the default namespace), untouched here.

use super::sql::Sql;
use crate::error::{CoreError, CoreResult};
use roster::{ErrorCode, pb};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, SqlErr};
use std::collections::HashMap;

/// `user` or `group`, as stored in `resource_kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Users.
    User,
    /// Groups.
    Group,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
        }
    }
}

#[derive(FromQueryResult)]
struct ValueRow {
    resource_id: String,
    external_id: String,
}

/// The namespace's externalIds of `ids`, by resource id.
pub(crate) async fn values_of(
    conn: &impl ConnectionTrait,
    backend: DbBackend,
    org_id: &str,
    namespace: &str,
    kind: Kind,
    ids: &[&str],
) -> CoreResult<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut values = HashMap::new();
    for chunk in ids.chunks(500) {
        let mut select = Sql::new(backend);
        select
            .push("SELECT resource_id, external_id FROM external_ids WHERE org_id = ")
            .bind(org_id)
            .push(" AND resource_kind = ")
            .bind(kind.as_str())
            .push(" AND namespace = ")
            .bind(namespace)
            .push(" AND resource_id IN ")
            .bind_list(chunk.iter().copied());
        for row in conn.query_all_raw(select.build()).await? {
            let row = ValueRow::from_query_result(&row, "")?;
            values.insert(row.resource_id, row.external_id);
        }
    }
    Ok(values)
}

/// The resource the namespace's `external_id` names, if any.
pub(crate) async fn resource_of(
    conn: &impl ConnectionTrait,
    backend: DbBackend,
    org_id: &str,
    namespace: &str,
    kind: Kind,
    external_id: &str,
) -> CoreResult<Option<String>> {
    let mut select = Sql::new(backend);
    select
        .push("SELECT resource_id, external_id FROM external_ids WHERE org_id = ")
        .bind(org_id)
        .push(" AND namespace = ")
        .bind(namespace)
        .push(" AND resource_kind = ")
        .bind(kind.as_str())
        .push(" AND external_id = ")
        .bind(external_id);
    match conn.query_one_raw(select.build()).await? {
        Some(row) => Ok(Some(ValueRow::from_query_result(&row, "")?.resource_id)),
        None => Ok(None),
    }
}

/// Sets (or, with `None`, clears) the namespace's externalId of one resource.
pub(crate) async fn set_value(
    conn: &impl ConnectionTrait,
    backend: DbBackend,
    org_id: &str,
    namespace: &str,
    kind: Kind,
    resource_id: &str,
    external_id: Option<&str>,
) -> CoreResult<()> {
    let mut delete = Sql::new(backend);
    delete
        .push("DELETE FROM external_ids WHERE org_id = ")
        .bind(org_id)
        .push(" AND resource_kind = ")
        .bind(kind.as_str())
        .push(" AND resource_id = ")
        .bind(resource_id)
        .push(" AND namespace = ")
        .bind(namespace);
    conn.execute_raw(delete.build()).await?;
    let Some(external_id) = external_id else {
        return Ok(());
    };
    let mut insert = Sql::new(backend);
    insert
        .push(
            "INSERT INTO external_ids (org_id, namespace, resource_kind, resource_id, \
             external_id) VALUES (",
        )
        .bind(org_id)
        .push(", ")
        .bind(namespace)
        .push(", ")
        .bind(kind.as_str())
        .push(", ")
        .bind(resource_id)
        .push(", ")
        .bind(external_id)
        .push(")");
    conn.execute_raw(insert.build())
        .await
        .map_err(|error| map_unique(error, kind))?;
    Ok(())
}

/// Deletes every namespace's externalId of a resource (in its delete transaction).
pub(crate) async fn forget(
    conn: &impl ConnectionTrait,
    backend: DbBackend,
    org_id: &str,
    kind: Kind,
    resource_id: &str,
) -> CoreResult<()> {
    let mut delete = Sql::new(backend);
    delete
        .push("DELETE FROM external_ids WHERE org_id = ")
        .bind(org_id)
        .push(" AND resource_kind = ")
        .bind(kind.as_str())
        .push(" AND resource_id = ")
        .bind(resource_id);
    conn.execute_raw(delete.build()).await?;
    Ok(())
}

/// Replaces each user's externalId with the namespace's (none when it has none there).
pub(crate) async fn overlay_users(
    conn: &impl ConnectionTrait,
    backend: DbBackend,
    org_id: &str,
    namespace: Option<&str>,
    users: &mut [pb::User],
) -> CoreResult<()> {
    let Some(namespace) = namespace else {
        return Ok(());
    };
    let ids: Vec<&str> = users.iter().map(|user| user.id.as_str()).collect();
    let mut values = values_of(conn, backend, org_id, namespace, Kind::User, &ids).await?;
    for user in users {
        user.external_id = values.remove(&user.id);
    }
    Ok(())
}

/// Replaces each group's externalId with the namespace's (none when it has none there).
pub(crate) async fn overlay_groups(
    conn: &impl ConnectionTrait,
    backend: DbBackend,
    org_id: &str,
    namespace: Option<&str>,
    groups: &mut [pb::Group],
) -> CoreResult<()> {
    let Some(namespace) = namespace else {
        return Ok(());
    };
    let ids: Vec<&str> = groups.iter().map(|group| group.id.as_str()).collect();
    let mut values = values_of(conn, backend, org_id, namespace, Kind::Group, &ids).await?;
    for group in groups {
        group.external_id = values.remove(&group.id);
    }
    Ok(())
}

/// A duplicate value in the namespace is ALREADY_EXISTS on `external_id`, like the columns'.
fn map_unique(error: DbErr, kind: Kind) -> CoreError {
    if let Some(SqlErr::UniqueConstraintViolation(message)) = error.sql_err()
        && (message.contains("uq_external_ids_value")
            || message.contains("external_ids.external_id"))
    {
        return CoreError::new(
            ErrorCode::Uniqueness,
            "external_id",
            format!(
                "external_id is already taken by another {} of this connection",
                kind.as_str()
            ),
        );
    }
    error.into()
}
