//! The audit log's rules that need no I/O: who acted (`Actor`), how the client and request id are
//! cleaned before they are stored, and how a before/after summary of changed attributes is built
//! with short values. The store decides which attributes go in (a fixed list per resource, so a
//! secret or a password never can).

use serde_json::{Map, Value};

/// Longest stored user agent, in characters.
pub const MAX_CLIENT: usize = 256;
/// Longest stored request id, in characters.
pub const MAX_REQUEST_ID: usize = 64;
/// Longest value kept in a change summary, in characters (longer ones are cut and end with `…`).
pub const MAX_VALUE: usize = 200;
/// Most ids listed per membership direction in a group's change summary.
pub const MAX_LISTED_IDS: usize = 20;

/// What kind of principal acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A provisioning connection (an identity provider's), through one of its tokens.
    Connection,
    /// Any other API token (an administrator's or a service's).
    Token,
    /// rosterd itself (the bootstrap of an empty database).
    Service,
}

impl PrincipalKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Token => "token",
            Self::Service => "service",
        }
    }
}

/// Who made a request, in which organization, with which client and request id: passed into every
/// store write so the audit row is written in the write's own transaction.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The organization the request is scoped to (the token's).
    pub org_id: String,
    /// Connection, token or service.
    pub principal_kind: PrincipalKind,
    /// The connection's id, the token's id, or the service's name.
    pub principal_id: String,
    /// The connection's name ("Okta production"), the token's name, or the service's name.
    pub principal_name: String,
    /// The token that made the request (empty for the service).
    pub token_id: String,
    /// The user agent, cleaned by [`clean_client`].
    pub client: String,
    /// The request id, cleaned by [`clean_request_id`].
    pub request_id: String,
}

impl Actor {
    /// The externalId namespace the actor writes: its connection's id, or `None` (the default
    /// namespace) for any other principal.
    pub fn namespace(&self) -> Option<&str> {
        (self.principal_kind == PrincipalKind::Connection).then_some(self.principal_id.as_str())
    }

    /// rosterd itself acting in `org_id` (no client, no request).
    pub fn service(org_id: &str, name: &str) -> Self {
        Self {
            org_id: org_id.to_owned(),
            principal_kind: PrincipalKind::Service,
            principal_id: name.to_owned(),
            principal_name: name.to_owned(),
            token_id: String::new(),
            client: "rosterd".to_owned(),
            request_id: String::new(),
        }
    }
}

/// A user agent as stored: control characters removed, at most [`MAX_CLIENT`] characters.
pub fn clean_client(user_agent: &str) -> String {
    user_agent
        .chars()
        .filter(|character| !character.is_control())
        .take(MAX_CLIENT)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A request id as stored: printable ASCII only, at most [`MAX_REQUEST_ID`] characters; anything
/// else is dropped (the telemetry layer replaces such ids before the request gets here).
pub fn clean_request_id(request_id: &str) -> String {
    if !request_id.is_empty()
        && request_id.len() <= MAX_REQUEST_ID
        && request_id.bytes().all(|byte| byte.is_ascii_graphic())
    {
        request_id.to_owned()
    } else {
        String::new()
    }
}

/// A value shortened for a summary: strings longer than [`MAX_VALUE`] characters are cut, and
/// arrays or objects whose JSON text is longer become that text, cut.
pub fn short(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(cut(text)),
        Value::Array(_) | Value::Object(_) => {
            let text = value.to_string();
            if text.chars().count() > MAX_VALUE {
                Value::String(cut(&text))
            } else {
                value.clone()
            }
        }
        other => other.clone(),
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_VALUE {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_VALUE - 1).collect();
    cut.push('…');
    cut
}

/// A summary of changed attributes: `{name: {"before": v, "after": v}}`.
#[derive(Debug, Default)]
pub struct Changes(Map<String, Value>);

impl Changes {
    /// An empty summary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `name` when `before` and `after` differ (`Null` for absent), with short values.
    pub fn compare(&mut self, name: &str, before: &Value, after: &Value) -> &mut Self {
        if before != after {
            self.set(name, before, after);
        }
        self
    }

    /// Records `name` whatever its values.
    pub fn set(&mut self, name: &str, before: &Value, after: &Value) -> &mut Self {
        let mut entry = Map::new();
        entry.insert("before".to_owned(), short(before));
        entry.insert("after".to_owned(), short(after));
        self.0.insert(name.to_owned(), Value::Object(entry));
        self
    }

    /// Records a value that is neither before nor after (a membership delta, a count).
    pub fn note(&mut self, name: &str, value: Value) -> &mut Self {
        self.0.insert(name.to_owned(), value);
        self
    }

    /// Compares every attribute named in `attributes` between two JSON objects.
    pub fn compare_objects(&mut self, attributes: &[&str], before: &Value, after: &Value) {
        for name in attributes {
            let before = before.get(*name).unwrap_or(&Value::Null);
            let after = after.get(*name).unwrap_or(&Value::Null);
            self.compare(name, normalized(before), normalized(after));
        }
    }

    /// The summary as JSON text.
    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Empty arrays and objects count as absent, so `[]` versus no value is no change.
fn normalized(value: &Value) -> &Value {
    match value {
        Value::Array(items) if items.is_empty() => &Value::Null,
        Value::Object(fields) if fields.is_empty() => &Value::Null,
        other => other,
    }
}

/// A membership delta: counts and up to [`MAX_LISTED_IDS`] ids per direction.
pub fn membership(added: &[String], removed: &[String]) -> Value {
    let list = |ids: &[String]| -> Value {
        Value::Array(
            ids.iter()
                .take(MAX_LISTED_IDS)
                .map(|id| Value::String(id.clone()))
                .collect(),
        )
    };
    serde_json::json!({
        "added": added.len(),
        "removed": removed.len(),
        "addedIds": list(added),
        "removedIds": list(removed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clients_lose_control_characters_and_length() {
        assert_eq!(
            clean_client("Okta SCIM Client 1.0.0"),
            "Okta SCIM Client 1.0.0"
        );
        assert_eq!(
            clean_client("evil\r\nInjected: yes\u{7}"),
            "evilInjected: yes"
        );
        assert_eq!(clean_client(&"a".repeat(1000)).len(), MAX_CLIENT);
    }

    #[test]
    fn request_ids_are_printable_and_short() {
        assert_eq!(clean_request_id("req-1"), "req-1");
        assert_eq!(clean_request_id("has space"), "");
        assert_eq!(clean_request_id(&"x".repeat(65)), "");
    }

    #[test]
    fn summaries_keep_changed_attributes_with_short_values() {
        let before = json!({"userName": "a", "title": "x".repeat(500), "emails": []});
        let after = json!({"userName": "b", "title": "x".repeat(500)});
        let mut changes = Changes::new();
        changes.compare_objects(&["userName", "title", "emails"], &before, &after);
        let parsed: Value = serde_json::from_str(&changes.to_json()).unwrap();
        assert_eq!(parsed, json!({"userName": {"before": "a", "after": "b"}}));
        let long = short(&json!("y".repeat(500)));
        assert_eq!(long.as_str().unwrap().chars().count(), MAX_VALUE);
    }

    #[test]
    fn memberships_list_at_most_twenty_ids() {
        let ids: Vec<String> = (0..30).map(|n| n.to_string()).collect();
        let value = membership(&ids, &[]);
        assert_eq!(value["added"], 30);
        assert_eq!(value["addedIds"].as_array().unwrap().len(), MAX_LISTED_IDS);
    }
}
