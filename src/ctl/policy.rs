//! `rosterctl policy`: the casbin rules that authorize every call, and decisions. Changing rules
//! needs `policies write` (`admin`; `system` for rules of every organization, domain `*`).

use anyhow::Result;
use clap::Subcommand;
use roster::pb::{
    AddRuleRequest, Decision, DecisionRequest, ListRulesRequest, PolicyRule, RemoveRuleRequest,
};
use serde_json::{Value, json};

use super::conn::Connection;
use super::output::{Report, render_fields, render_table, timestamp_json};

/// Policy commands.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// List the organization's rules and the rules for every organization.
    List {
        /// Only rules of this subject (`connection:<id>`, `role:FullMember`, ...).
        #[arg(long)]
        subject: Option<String>,
        /// Only rules of this object (or, for groupings, role).
        #[arg(long)]
        object: Option<String>,
    },
    /// Add a permission: SUBJECT may (or, with --deny, may not) ACTION on OBJECT.
    Allow {
        /// `kind:name`: scope, token, connection, role, user, group or service.
        subject: String,
        /// The object (`users`, `users.role`, `workflows`, or `*`).
        object: String,
        /// The action (`read`, `write`, `set:Admin`, or `*`).
        action: String,
        /// The domain: default the token's organization; `*` for every organization (system).
        #[arg(long)]
        domain: Option<String>,
    },
    /// Add a deny rule (it overrides every allow).
    Deny {
        /// `kind:name`.
        subject: String,
        /// The object.
        object: String,
        /// The action.
        action: String,
        /// The domain (see allow).
        #[arg(long)]
        domain: Option<String>,
    },
    /// Make SUBJECT a member of ROLE in the organization (a grouping rule).
    Group {
        /// `kind:name`.
        subject: String,
        /// The role, `kind:name` (usually `role:<Name>`).
        role: String,
    },
    /// Remove a rule by id.
    Remove {
        /// The rule's id.
        id: String,
        /// The rule belongs to every organization (domain `*`; needs `system`).
        #[arg(long)]
        global: bool,
    },
    /// Would SUBJECT be allowed ACTION on OBJECT, and which rule decides?
    Explain {
        /// `kind:name`; `token:<id>` and `user:<id>` are expanded to their scopes and role.
        subject: String,
        /// The object.
        object: String,
        /// The action.
        action: String,
        /// Another organization (needs `system`).
        #[arg(long)]
        organization: Option<String>,
    },
    /// Ask for a decision as an internal service does (PolicyService.Enforce).
    Enforce {
        /// `kind:name`.
        subject: String,
        /// The object.
        object: String,
        /// The action.
        action: String,
    },
}

/// Runs a policy command.
pub async fn run(command: PolicyCommand, conn: &Connection) -> Result<Report> {
    let mut client = conn.policies();
    match command {
        PolicyCommand::List { subject, object } => {
            let rules = client
                .list_rules(ListRulesRequest {
                    subject: subject.unwrap_or_default(),
                    object: object.unwrap_or_default(),
                })
                .await?
                .into_inner()
                .rules;
            let json = json!({ "rules": rules.iter().map(rule_json).collect::<Vec<_>>() });
            let rows: Vec<Vec<String>> = rules
                .iter()
                .map(|rule| vec![rule.id.clone(), line(rule), rule.created_by.clone()])
                .collect();
            Ok(Report::new(
                json,
                render_table(&["ID", "RULE", "BY"], &rows),
            ))
        }
        PolicyCommand::Allow {
            subject,
            object,
            action,
            domain,
        } => add(&mut client, "p", subject, object, action, "allow", domain).await,
        PolicyCommand::Deny {
            subject,
            object,
            action,
            domain,
        } => add(&mut client, "p", subject, object, action, "deny", domain).await,
        PolicyCommand::Group { subject, role } => {
            let rule = PolicyRule {
                kind: "g".to_owned(),
                subject,
                role,
                ..Default::default()
            };
            let rule = client
                .add_rule(AddRuleRequest { rule: Some(rule) })
                .await?
                .into_inner();
            Ok(details(&rule))
        }
        PolicyCommand::Remove { id, global } => {
            let rule = client
                .remove_rule(RemoveRuleRequest { id, global })
                .await?
                .into_inner()
                .rule
                .unwrap_or_default();
            Ok(details(&rule))
        }
        PolicyCommand::Explain {
            subject,
            object,
            action,
            organization,
        } => {
            let decision = client
                .explain(DecisionRequest {
                    subject,
                    object,
                    action,
                    organization_id: organization.unwrap_or_default(),
                })
                .await?
                .into_inner();
            Ok(decision_report(&decision))
        }
        PolicyCommand::Enforce {
            subject,
            object,
            action,
        } => {
            let decision = client
                .enforce(DecisionRequest {
                    subject,
                    object,
                    action,
                    organization_id: String::new(),
                })
                .await?
                .into_inner();
            Ok(decision_report(&decision))
        }
    }
}

async fn add(
    client: &mut roster::pb::policy_service_client::PolicyServiceClient<super::conn::Authenticated>,
    kind: &str,
    subject: String,
    object: String,
    action: String,
    effect: &str,
    domain: Option<String>,
) -> Result<Report> {
    let rule = PolicyRule {
        kind: kind.to_owned(),
        subject,
        object,
        action,
        effect: effect.to_owned(),
        domain: domain.unwrap_or_default(),
        ..Default::default()
    };
    let rule = client
        .add_rule(AddRuleRequest { rule: Some(rule) })
        .await?
        .into_inner();
    Ok(details(&rule))
}

/// A rule as a policy.csv line.
fn line(rule: &PolicyRule) -> String {
    if rule.kind == "g" {
        format!("g, {}, {}, {}", rule.subject, rule.role, rule.domain)
    } else {
        format!(
            "p, {}, {}, {}, {}, {}",
            rule.subject, rule.domain, rule.object, rule.action, rule.effect
        )
    }
}

fn rule_json(rule: &PolicyRule) -> Value {
    json!({
        "id": rule.id,
        "kind": rule.kind,
        "subject": rule.subject,
        "domain": rule.domain,
        "object": rule.object,
        "action": rule.action,
        "effect": rule.effect,
        "role": rule.role,
        "created": timestamp_json(rule.created.as_ref()),
        "createdBy": rule.created_by,
        "line": line(rule),
    })
}

fn details(rule: &PolicyRule) -> Report {
    let text = render_fields(&[("id", rule.id.clone()), ("rule", line(rule))]);
    Report::new(rule_json(rule), text)
}

fn decision_report(decision: &Decision) -> Report {
    let json = json!({
        "allowed": decision.allowed,
        "reason": decision.reason,
        "rule": decision.rule.as_ref().map(rule_json),
        "subjects": decision.subjects,
        "organizationId": decision.organization_id,
    });
    let text = render_fields(&[
        (
            "decision",
            if decision.allowed {
                "allowed"
            } else {
                "denied"
            }
            .to_owned(),
        ),
        ("reason", decision.reason.clone()),
        ("subjects", decision.subjects.join(" ")),
    ]);
    Report::new(json, text)
}
