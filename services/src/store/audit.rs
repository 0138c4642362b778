//! The audit log. Writes call [`Store::audit`] inside their own transaction, so a change and its
//! event commit or roll back together; refused authorizations get a small transaction of their
//! own ([`Store::audit_denied`]). Summaries are built here from a fixed list of attributes per
//! resource, so nothing outside that list (a password, a token secret, custom attributes) can
//! reach the log.

use super::direct_writes::Tx;
use super::sql::Sql;
use super::{Store, WriteTxn, decode_cursor, encode_cursor, micros, timestamp};
use crate::domain::audit::{Actor, Changes, MAX_CLIENT};
use crate::domain::validate;
use crate::error::{CoreError, CoreResult};
use roster::pb;
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde_json::Value;
use uuid::Uuid;

/// The SCIM-visible user attributes a summary compares (SCIM names).
const USER_ATTRIBUTES: [&str; 8] = [
    "userName",
    "externalId",
    "active",
    "displayName",
    "name",
    "userType",
    "emails",
    "roles",
];

/// Default and largest page of ListAuditEvents.
const DEFAULT_PAGE: u64 = 100;
const MAX_PAGE: u64 = 1000;

#[derive(FromQueryResult)]
struct EventRow {
    id: String,
    org_id: String,
    occurred_at: i64,
    principal_kind: String,
    principal_id: String,
    principal_name: String,
    client: String,
    request_id: String,
    operation: String,
    target_kind: String,
    target_id: String,
    changes: String,
    outcome: String,
    reason: Option<String>,
    token_id: Option<String>,
}

impl EventRow {
    fn into_pb(self) -> pb::AuditEvent {
        pb::AuditEvent {
            id: self.id,
            organization_id: self.org_id,
            occurred_at: Some(timestamp(self.occurred_at)),
            principal_kind: self.principal_kind,
            principal_id: self.principal_id,
            principal_name: self.principal_name,
            client: self.client,
            request_id: self.request_id,
            operation: self.operation,
            target_kind: self.target_kind,
            target_id: self.target_id,
            changes_json: self.changes,
            outcome: self.outcome,
            reason: self.reason.unwrap_or_default(),
            token_id: self.token_id.unwrap_or_default(),
        }
    }
}

/// A user as the JSON object a summary compares: the stored profile's SCIM names plus the
/// attributes kept in columns. The enterprise extension is flattened to `enterprise.<name>`.
fn user_json(user: Option<&pb::User>) -> Value {
    let Some(user) = user else {
        return Value::Object(Default::default());
    };
    let mut value = serde_json::to_value(user).unwrap_or(Value::Null);
    let Some(object) = value.as_object_mut() else {
        return Value::Object(Default::default());
    };
    object.insert("userName".to_owned(), Value::String(user.user_name.clone()));
    object.insert(
        "externalId".to_owned(),
        user.external_id.clone().map_or(Value::Null, Value::String),
    );
    object.insert(
        "active".to_owned(),
        user.active.map_or(Value::Null, Value::Bool),
    );
    if let Some(Value::Object(enterprise)) = object.remove("enterprise") {
        for (name, field) in enterprise {
            object.insert(format!("enterprise.{name}"), field);
        }
    }
    value
}

/// The changed SCIM-visible attributes of a user (`None` before a create, after a delete).
pub(super) fn user_changes(before: Option<&pb::User>, after: Option<&pb::User>) -> Changes {
    let before = user_json(before);
    let after = user_json(after);
    let mut changes = Changes::new();
    changes.compare_objects(&USER_ATTRIBUTES, &before, &after);
    let mut enterprise: Vec<&str> = before
        .as_object()
        .into_iter()
        .chain(after.as_object())
        .flat_map(|object| object.keys())
        .map(String::as_str)
        .filter(|name| name.starts_with("enterprise."))
        .collect();
    enterprise.sort_unstable();
    enterprise.dedup();
    changes.compare_objects(&enterprise, &before, &after);
    changes
}

/// The changed attributes of a group (members are noted by the caller).
pub(super) fn group_changes(before: Option<&pb::Group>, after: Option<&pb::Group>) -> Changes {
    let json = |group: Option<&pb::Group>| {
        group.map_or(Value::Object(Default::default()), |group| {
            serde_json::json!({
                "displayName": group.display_name,
                "externalId": group.external_id,
            })
        })
    };
    let mut changes = Changes::new();
    changes.compare_objects(&["displayName", "externalId"], &json(before), &json(after));
    changes
}

/// What was done, to what: one audit event's description.
pub struct Event<'a> {
    /// `<resource>.<verb>`.
    pub operation: &'a str,
    /// `user`, `group`, `token`, `organization`, `role` or empty.
    pub target_kind: &'a str,
    /// The target's id (a role's name), or empty.
    pub target_id: &'a str,
}

impl Store {
    /// Records a successful write inside its transaction.
    pub async fn audit(
        &self,
        txn: &WriteTxn,
        actor: &Actor,
        event: Event<'_>,
        changes: &Changes,
    ) -> CoreResult<()> {
        self.insert_event(&**txn, actor, event, &changes.to_json(), "ok", None)
            .await
    }

    /// Records a refused authorization in a transaction of its own.
    pub async fn audit_denied(
        &self,
        actor: &Actor,
        event: Event<'_>,
        reason: &str,
    ) -> CoreResult<()> {
        let txn = self.begin_write().await?;
        self.insert_event(&*txn, actor, event, "{}", "denied", Some(reason))
            .await?;
        txn.commit().await
    }

    /// Records the events of several writes of one transaction (a create or membership batch) in
    /// one multi-row statement.
    pub(super) async fn audit_many(
        &self,
        tx: Tx<'_>,
        events: &[(&Actor, Event<'_>, &Changes)],
    ) -> CoreResult<()> {
        let Some(((first_actor, first_event, first_changes), rest)) = events.split_first() else {
            return Ok(());
        };
        let mut insert = Sql::new(self.backend);
        insert.push(INSERT_EVENTS);
        let now = self.clock.now_micros();
        event_row(
            &mut insert,
            first_actor,
            first_event,
            &first_changes.to_json(),
            "ok",
            None,
            now,
        );
        for (actor, event, changes) in rest {
            insert.push(", ");
            event_row(
                &mut insert,
                actor,
                event,
                &changes.to_json(),
                "ok",
                None,
                now,
            );
        }
        tx.execute(insert.build()).await?;
        Ok(())
    }

    async fn insert_event(
        &self,
        conn: &impl ConnectionTrait,
        actor: &Actor,
        event: Event<'_>,
        changes: &str,
        outcome: &str,
        reason: Option<&str>,
    ) -> CoreResult<()> {
        let mut insert = Sql::new(self.backend);
        insert.push(INSERT_EVENTS);
        let now = self.clock.now_micros();
        event_row(&mut insert, actor, &event, changes, outcome, reason, now);
        conn.execute_raw(insert.build()).await?;
        Ok(())
    }

    /// A page of the organization's events, newest first, filtered.
    pub async fn list_audit_events(
        &self,
        org_id: &str,
        request: &pb::ListAuditEventsRequest,
    ) -> CoreResult<pb::ListAuditEventsResponse> {
        let limit = match request.page_size {
            0 => DEFAULT_PAGE,
            size @ 1.. if size as u64 <= MAX_PAGE => size as u64,
            _ => {
                return Err(CoreError::invalid(
                    "page_size",
                    "page_size must be between 0 and 1000",
                ));
            }
        };
        let after = if request.page_token.is_empty() {
            None
        } else {
            Some(decode_cursor(&request.page_token).map_err(|mut error| {
                error.field = "page_token";
                error
            })?)
        };
        let mut select = Sql::new(self.backend);
        select
            .push(
                "SELECT id, org_id, occurred_at, principal_kind, principal_id, principal_name, \
                 client, request_id, operation, target_kind, target_id, changes, outcome, reason, \
                 token_id FROM audit_events WHERE org_id = ",
            )
            .bind(org_id);
        if !request.operation_prefix.is_empty() {
            validate::required("operation_prefix", &request.operation_prefix, 64)?;
            let length = request.operation_prefix.chars().count() as i32;
            select
                .push(" AND substr(operation, 1, ")
                .bind(length)
                .push(") = ")
                .bind(request.operation_prefix.as_str());
        }
        if !request.target_id.is_empty() {
            validate::required("target_id", &request.target_id, 256)?;
            select
                .push(" AND target_id = ")
                .bind(request.target_id.as_str());
        }
        if !request.principal_id.is_empty() {
            validate::required("principal_id", &request.principal_id, 256)?;
            select
                .push(" AND (principal_id = ")
                .bind(request.principal_id.as_str())
                .push(" OR token_id = ")
                .bind(request.principal_id.as_str())
                .push(")");
        }
        if !request.outcome.is_empty() {
            if !matches!(request.outcome.as_str(), "ok" | "denied") {
                return Err(CoreError::invalid(
                    "outcome",
                    "outcome must be ok or denied",
                ));
            }
            select
                .push(" AND outcome = ")
                .bind(request.outcome.as_str());
        }
        if let Some(since) = &request.since {
            select.push(" AND occurred_at >= ").bind(micros(since));
        }
        if let Some(until) = &request.until {
            select.push(" AND occurred_at < ").bind(micros(until));
        }
        if let Some((occurred_at, id)) = &after {
            select
                .push(" AND (occurred_at < ")
                .bind(*occurred_at)
                .push(" OR (occurred_at = ")
                .bind(*occurred_at)
                .push(" AND id < ")
                .bind(id.as_str())
                .push("))");
        }
        select
            .push(" ORDER BY occurred_at DESC, id DESC LIMIT ")
            .bind(limit as i64 + 1);
        let rows = self.conn().query_all_raw(select.build()).await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit as usize) {
            events.push(EventRow::from_query_result(row, "")?);
        }
        let next_page_token = match events.last() {
            Some(last) if rows.len() as u64 > limit => encode_cursor(last.occurred_at, &last.id),
            _ => String::new(),
        };
        Ok(pb::ListAuditEventsResponse {
            events: events.into_iter().map(EventRow::into_pb).collect(),
            next_page_token,
        })
    }
}

const INSERT_EVENTS: &str = "INSERT INTO audit_events (id, org_id, occurred_at, principal_kind, \
     principal_id, principal_name, client, request_id, operation, target_kind, target_id, changes, \
     outcome, reason, token_id) VALUES ";

/// Appends one `(…)` row of [`INSERT_EVENTS`].
fn event_row(
    insert: &mut Sql,
    actor: &Actor,
    event: &Event<'_>,
    changes: &str,
    outcome: &str,
    reason: Option<&str>,
    now: i64,
) {
    let client: String = actor.client.chars().take(MAX_CLIENT).collect();
    insert.bind_list([
        sea_orm::Value::from(Uuid::now_v7().to_string()),
        actor.org_id.as_str().into(),
        now.into(),
        actor.principal_kind.as_str().into(),
        actor.principal_id.as_str().into(),
        actor.principal_name.as_str().into(),
        client.into(),
        actor.request_id.as_str().into(),
        event.operation.into(),
        event.target_kind.into(),
        event.target_id.into(),
        changes.into(),
        outcome.into(),
        reason.map(str::to_owned).into(),
        (!actor.token_id.is_empty())
            .then(|| actor.token_id.clone())
            .into(),
    ]);
}
