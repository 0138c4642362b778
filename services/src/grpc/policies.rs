//! PolicyService: rule changes (through `policy::changes`, which guards tenants and lock-out),
//! listing, and decisions (Explain for people, Enforce for internal services).

use super::{Core, Principal, required};
use crate::domain::validate;
use crate::error::{CoreError, CoreResult};
use crate::policy::changes::{self, Change};
use crate::policy::{self, Decision, Kind, Rule, SUBJECT_SEPARATOR, rules};
use crate::store::{StoredRule, timestamp};
use roster::pb::{self, policy_service_server::PolicyService};
use tonic::{Request, Response, Status};

/// The PolicyService implementation.
pub struct PolicyApi(pub Core);

fn rule_to_pb(id: &str, rule: &Rule) -> pb::PolicyRule {
    let (object, role) = match rule.kind {
        Kind::Permission => (rule.object.clone(), String::new()),
        Kind::Grouping => (String::new(), rule.object.clone()),
    };
    pb::PolicyRule {
        id: id.to_owned(),
        kind: rule.kind.ptype().to_owned(),
        subject: rule.subject.clone(),
        domain: rule.domain.clone(),
        object,
        action: rule.action.clone(),
        effect: rule.effect.clone(),
        role,
        created: None,
        created_by: String::new(),
    }
}

fn stored_to_pb(stored: &StoredRule) -> pb::PolicyRule {
    pb::PolicyRule {
        created: Some(timestamp(stored.created_at)),
        created_by: stored.created_by.clone(),
        ..rule_to_pb(&stored.id, &stored.rule)
    }
}

/// The rule a request describes; an empty domain is the caller's organization.
fn rule_from_pb(rule: &pb::PolicyRule, org_id: &str) -> CoreResult<Rule> {
    let domain = if rule.domain.trim().is_empty() {
        org_id
    } else {
        rule.domain.as_str()
    };
    match rule.kind.trim() {
        "" | "p" => policy::rules::permission(
            &rule.subject,
            domain,
            &rule.object,
            &rule.action,
            &rule.effect,
        ),
        "g" => policy::rules::grouping(&rule.subject, &rule.role, domain),
        _ => Err(CoreError::invalid(
            "rule.kind",
            "rule.kind must be p (permission) or g (grouping)",
        )),
    }
}

impl PolicyApi {
    /// Everything `subject` is in `org_id`: a token's scopes, a user's effective role.
    async fn expand(&self, org_id: &str, subject: &str) -> CoreResult<String> {
        let subject = rules::subject("subject", subject)?;
        let (kind, name) = subject.split_once(':').unwrap_or_default();
        match kind {
            "token" => {
                let id = validate::id("subject", name)?;
                let token = self.0.store.get_token(org_id, &id).await?;
                let connection = Some(token.connection_id.as_str()).filter(|id| !id.is_empty());
                Ok(policy::subjects_of_token(
                    &token.id,
                    token.scopes.iter().map(String::as_str),
                    connection,
                ))
            }
            "user" => {
                let id = validate::id("subject", name)?;
                let effective = self.0.store.effective_role(org_id, &id).await?;
                Ok(format!(
                    "user:{id}{SUBJECT_SEPARATOR}role:{}",
                    effective.role
                ))
            }
            _ => Ok(subject),
        }
    }

    async fn decide(
        &self,
        org_id: &str,
        request: &pb::DecisionRequest,
    ) -> CoreResult<pb::Decision> {
        let subjects = self.expand(org_id, &request.subject).await?;
        let object = rules::object("object", &request.object)?;
        let action = rules::action("action", &request.action)?;
        let decision = self
            .0
            .policy
            .decide(&subjects, org_id, &object, &action)
            .await?;
        Ok(decision_to_pb(decision, subjects, org_id))
    }
}

fn decision_to_pb(decision: Decision, subjects: String, org_id: &str) -> pb::Decision {
    let reason = match (&decision.rule, decision.allowed) {
        (Some((id, rule)), true) => format!("allowed by rule {id}: {}", rule.to_line()),
        (Some((id, rule)), false) => format!("denied by rule {id}: {}", rule.to_line()),
        (None, _) => "no rule allows it (default deny)".to_owned(),
    };
    pb::Decision {
        allowed: decision.allowed,
        rule: decision
            .rule
            .as_ref()
            .map(|(id, rule)| rule_to_pb(id, rule)),
        reason,
        subjects: subjects
            .split(SUBJECT_SEPARATOR)
            .map(str::to_owned)
            .collect(),
        organization_id: org_id.to_owned(),
    }
}

/// Whether `principal` may act on every organization's policy (scope `system` by default).
async fn may_govern_all(core: &Core, principal: &Principal, action: &str) -> CoreResult<bool> {
    if core.skip_policy {
        return Ok(true);
    }
    Ok(core
        .policy
        .decide(
            &principal.subjects,
            rules::EVERY_ORGANIZATION,
            "policies.global",
            action,
        )
        .await?
        .allowed)
}

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn add_rule(
        &self,
        request: Request<pb::AddRuleRequest>,
    ) -> Result<Response<pb::PolicyRule>, Status> {
        let global = request
            .get_ref()
            .rule
            .as_ref()
            .is_some_and(|rule| rule.domain.trim() == rules::EVERY_ORGANIZATION);
        let operation = if global {
            "policy.global.add"
        } else {
            "policy.add"
        };
        let (principal, actor) = self.0.authorize(&request, operation).await?;
        let rule = required(request.get_ref().rule.as_ref(), "rule")?;
        let rule = rule_from_pb(rule, &principal.org_id)?;
        let stored = changes::apply(
            &self.0.store,
            &self.0.policy,
            &actor,
            &principal.org_id,
            global,
            Change::Add(rule),
        )
        .await?;
        tracing::info!(rule = %stored.rule.to_line(), id = %stored.id, "policy rule added");
        Ok(Response::new(stored_to_pb(&stored)))
    }

    async fn remove_rule(
        &self,
        request: Request<pb::RemoveRuleRequest>,
    ) -> Result<Response<pb::RemoveRuleResponse>, Status> {
        let global = request.get_ref().global;
        let operation = if global {
            "policy.global.remove"
        } else {
            "policy.remove"
        };
        let (principal, actor) = self.0.authorize(&request, operation).await?;
        let id = validate::id("id", &request.get_ref().id)?;
        let stored = changes::apply(
            &self.0.store,
            &self.0.policy,
            &actor,
            &principal.org_id,
            global,
            Change::Remove(id),
        )
        .await?;
        tracing::info!(rule = %stored.rule.to_line(), id = %stored.id, "policy rule removed");
        Ok(Response::new(pb::RemoveRuleResponse {
            rule: Some(stored_to_pb(&stored)),
        }))
    }

    async fn list_rules(
        &self,
        request: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesResponse>, Status> {
        let (principal, _) = self.0.authorize(&request, "policy.list").await?;
        let request = request.get_ref();
        let subject = request.subject.trim();
        let object = request.object.trim();
        let rules = self
            .0
            .store
            .list_policy_rules(&[principal.org_id.as_str(), rules::EVERY_ORGANIZATION])
            .await?
            .iter()
            .filter(|stored| subject.is_empty() || stored.rule.subject == subject)
            .filter(|stored| object.is_empty() || stored.rule.object == object)
            .map(stored_to_pb)
            .collect();
        Ok(Response::new(pb::ListRulesResponse { rules }))
    }

    async fn explain(
        &self,
        request: Request<pb::DecisionRequest>,
    ) -> Result<Response<pb::Decision>, Status> {
        let (principal, _) = self.0.authorize(&request, "policy.explain").await?;
        let request = request.get_ref();
        let org_id =
            if request.organization_id.is_empty() || request.organization_id == principal.org_id {
                principal.org_id.clone()
            } else {
                let org_id = validate::id("organization_id", &request.organization_id)?;
                if !may_govern_all(&self.0, &principal, "read").await? {
                    // Another organization's policy is not this caller's to see.
                    return Err(CoreError::not_found("organization").into());
                }
                org_id
            };
        Ok(Response::new(self.decide(&org_id, request).await?))
    }

    async fn enforce(
        &self,
        request: Request<pb::DecisionRequest>,
    ) -> Result<Response<pb::Decision>, Status> {
        let (principal, _) = self.0.authorize(&request, "policy.enforce").await?;
        let request = request.get_ref();
        if !request.organization_id.is_empty() && request.organization_id != principal.org_id {
            return Err(CoreError::invalid(
                "organization_id",
                "Enforce answers about the caller's organization only; leave organization_id empty",
            )
            .into());
        }
        Ok(Response::new(
            self.decide(&principal.org_id, request).await?,
        ))
    }
}
