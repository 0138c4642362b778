//! The casbin policy layer: every gRPC call is decided here on (subjects, organization, object,
//! action). `rules` is the grammar and the starting policy, `engine` the partitioned enforcer,
//! `permissions` the table from an RPC to what it needs, `watcher` the reload loop that keeps
//! every rosterd on one database on the same policy.

pub mod engine;
pub mod permissions;
pub mod rules;
pub mod watcher;

pub use engine::{Decision, PolicyEngine, SUBJECT_SEPARATOR, Snapshot};
pub use permissions::{Level, Permission, permission};
pub use rules::{Kind, Rule};

pub mod changes;

/// The subject set of a token: the token itself, each scope and its connection, joined by `|`.
pub fn subjects_of_token<'a>(
    token_id: &str,
    scopes: impl IntoIterator<Item = &'a str>,
    connection_id: Option<&str>,
) -> String {
    let mut subjects = format!("token:{token_id}");
    for scope in scopes {
        subjects.push(SUBJECT_SEPARATOR);
        subjects.push_str("scope:");
        subjects.push_str(scope);
    }
    if let Some(connection) = connection_id {
        subjects.push(SUBJECT_SEPARATOR);
        subjects.push_str("connection:");
        subjects.push_str(connection);
    }
    subjects
}
