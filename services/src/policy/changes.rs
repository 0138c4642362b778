//! Policy changes: who may change which rules, and the lock-out guard. A change runs in one
//! transaction that bumps the policy version first (so concurrent changes queue), applies the
//! change, rebuilds the candidate policy and refuses the change if no active token of the
//! caller's organization could change policy afterwards; then it is audited and committed, and
//! this process installs the new policy before answering.

use super::engine::{PolicyEngine, Snapshot};
use super::rules::{EVERY_ORGANIZATION, Kind, Rule, SYSTEM_OBJECTS};
use super::{subjects_of_token, watcher};
use crate::domain::audit::Actor;
use crate::error::{CoreError, CoreResult};
use crate::store::{Store, StoredRule};
use roster::ErrorCode;

/// What to change.
pub enum Change {
    /// Add this rule.
    Add(Rule),
    /// Remove the rule with this id.
    Remove(String),
}

/// Applies `change` for a caller of `org_id`. `global` changes work on domain `*` (the caller
/// has already been authorized for `policies.global`); others on the caller's organization only.
pub async fn apply(
    store: &Store,
    engine: &PolicyEngine,
    actor: &Actor,
    org_id: &str,
    global: bool,
    change: Change,
) -> CoreResult<StoredRule> {
    let domain = if global { EVERY_ORGANIZATION } else { org_id };
    if let Change::Add(rule) = &change {
        check_scope(rule, domain, global)?;
    }
    let txn = store.begin_write().await?;
    store.bump_policy_version(&txn).await?;
    let (stored, added) = match change {
        Change::Add(rule) => (
            store
                .insert_policy_rule(&txn, &rule, &format!("token:{}", actor.principal_id))
                .await?,
            true,
        ),
        Change::Remove(id) => (store.delete_policy_rule(&txn, &id, &[domain]).await?, false),
    };
    let candidate = store
        .policy_rules_in(&txn, &[org_id, EVERY_ORGANIZATION])
        .await?;
    let snapshot = Snapshot::new(
        0,
        candidate
            .into_iter()
            .map(|stored| (stored.id, stored.rule))
            .collect(),
    );
    let (check_domain, check_object) = if global {
        (EVERY_ORGANIZATION, "policies.global")
    } else {
        (org_id, "policies")
    };
    let mut someone_can = false;
    for token in store.active_token_subjects(&txn, org_id).await? {
        let subjects = subjects_of_token(
            &token.id,
            token.scopes.split_whitespace(),
            token.connection_id.as_deref(),
        );
        if snapshot
            .decide(&subjects, check_domain, check_object, "write")
            .await?
            .allowed
        {
            someone_can = true;
            break;
        }
    }
    if !someone_can {
        return Err(CoreError::new(
            ErrorCode::FailedPrecondition,
            "rule",
            format!(
                "refused: after this change no active token of the organization could change {} again",
                if global {
                    "the policy of every organization"
                } else {
                    "its policy"
                }
            ),
        ));
    }
    let operation = match (global, added) {
        (false, true) => "policy.add",
        (false, false) => "policy.remove",
        (true, true) => "policy.global.add",
        (true, false) => "policy.global.remove",
    };
    store
        .audit_policy_change(&txn, actor, org_id, operation, &stored, added)
        .await?;
    txn.commit().await?;
    watcher::reload(store, engine).await?;
    Ok(stored)
}

/// A rule's domain must be the one the change works on, and an organization's rules cannot name
/// system-level objects (they would never apply, and would read like a grant).
fn check_scope(rule: &Rule, domain: &str, global: bool) -> CoreResult<()> {
    if rule.domain != domain {
        return Err(CoreError::invalid(
            "rule.domain",
            if global {
                "a rule for every organization has domain *".to_owned()
            } else {
                "rule.domain must be your organization's id (or empty); rules for every organization (*) need the system scope".to_owned()
            },
        ));
    }
    if !global && rule.kind == Kind::Permission && SYSTEM_OBJECTS.contains(&rule.object.as_str()) {
        return Err(CoreError::invalid(
            "rule.object",
            format!(
                "{} is a system-level object; only rules for every organization can name it",
                rule.object
            ),
        ));
    }
    Ok(())
}
