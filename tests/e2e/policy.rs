//! The casbin policy layer end to end: a table of principal × operation → decision over real
//! gRPC calls, attribute-level rules on provisioning writes (gRPC and SCIM), read-only tokens,
//! the guards on policy changes (grammar, tenant, lock-out, duplicates), isolation between
//! organizations, PolicyService.Enforce for internal services against provisioned roles,
//! Explain, `rosterctl policy`, and propagation of a change to a second rosterd on the same
//! database.

use crate::harness::{Bearer, TestServer, create_user, failure, member, mint, rosterctl_json};
use crate::scim_client::{ScimClient, USER_SCHEMA, assert_error, patch_op};
use reqwest::StatusCode;
use roster::pb::{
    self, audit_service_client::AuditServiceClient, policy_service_client::PolicyServiceClient,
};
use serde_json::json;
use std::time::{Duration, Instant};
use tonic::Code;

fn policies(server: &TestServer, secret: &str) -> PolicyServiceClient<crate::harness::Authed> {
    PolicyServiceClient::with_interceptor(server.channel(), Bearer(Some(secret.to_owned())))
}

fn permission(
    subject: &str,
    domain: &str,
    object: &str,
    action: &str,
    effect: &str,
) -> pb::PolicyRule {
    pb::PolicyRule {
        kind: "p".into(),
        subject: subject.into(),
        domain: domain.into(),
        object: object.into(),
        action: action.into(),
        effect: effect.into(),
        ..Default::default()
    }
}

async fn add(
    server: &TestServer,
    secret: &str,
    rule: pb::PolicyRule,
) -> Result<pb::PolicyRule, tonic::Status> {
    policies(server, secret)
        .add_rule(pb::AddRuleRequest { rule: Some(rule) })
        .await
        .map(|response| response.into_inner())
}

async fn decide(
    server: &TestServer,
    secret: &str,
    subject: &str,
    object: &str,
    action: &str,
) -> pb::Decision {
    policies(server, secret)
        .enforce(pb::DecisionRequest {
            subject: subject.into(),
            object: object.into(),
            action: action.into(),
            organization_id: String::new(),
        })
        .await
        .expect("enforce")
        .into_inner()
}

fn scim_user(user_name: &str, user_type: &str) -> serde_json::Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "userType": user_type,
        "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
    })
}

/// What each principal may do, checked by making the real call. Side effects of allowed calls are
/// harmless (fresh names each time).
#[tokio::test]
async fn every_call_is_decided_by_the_policy_table() {
    let server = TestServer::start().await;
    let (_, org_admin) = server.new_org("table").await;
    let (_, reader) = mint(&server, &server.admin, "reader", &["scim:read"]).await;
    let (_, writer) = mint(&server, &server.admin, "writer", &["scim:write"]).await;
    let (_, both) = mint(&server, &server.admin, "both", &["scim:read", "scim:write"]).await;
    let system = server.admin.clone(); // admin + system

    const OPS: [&str; 10] = [
        "users read",
        "users write",
        "groups write",
        "roles read",
        "tokens read",
        "audit read",
        "policies read",
        "policies enforce",
        "organizations write",
        "domains read",
    ];
    // principal → expected outcome per operation, in OPS order.
    let table: [(&str, &str, [bool; 10]); 5] = [
        (
            "reader",
            &reader,
            [
                true, false, false, true, false, false, false, true, false, true,
            ],
        ),
        (
            "writer",
            &writer,
            [
                false, true, true, false, false, false, false, false, false, false,
            ],
        ),
        (
            "reader+writer",
            &both,
            [
                true, true, true, true, false, false, false, true, false, true,
            ],
        ),
        (
            "org admin",
            &org_admin,
            [true, true, true, true, true, true, true, true, false, true],
        ),
        (
            "system",
            &system,
            [true, true, true, true, true, true, true, true, true, true],
        ),
    ];
    let mut counter = 0;
    let mut mismatches = Vec::new();
    for (name, secret, expected) in table {
        for (op, expect) in OPS.iter().zip(expected) {
            counter += 1;
            let result: Result<(), tonic::Status> = match *op {
                "users read" => server
                    .users(secret)
                    .list_users(pb::ListUsersRequest::default())
                    .await
                    .map(drop),
                "users write" => server
                    .users(secret)
                    .create_user(pb::CreateUserRequest {
                        user: Some(crate::harness::user(&format!("table{counter}"))),
                    })
                    .await
                    .map(drop),
                "groups write" => server
                    .groups(secret)
                    .create_group(pb::CreateGroupRequest {
                        group: Some(pb::Group {
                            display_name: format!("table{counter}"),
                            ..Default::default()
                        }),
                    })
                    .await
                    .map(drop),
                "roles read" => server
                    .roles(secret)
                    .list_roles(pb::ListRolesRequest {})
                    .await
                    .map(drop),
                "tokens read" => server
                    .tokens(secret)
                    .list_tokens(pb::ListTokensRequest::default())
                    .await
                    .map(drop),
                "audit read" => AuditServiceClient::with_interceptor(
                    server.channel(),
                    Bearer(Some(secret.to_owned())),
                )
                .list_audit_events(pb::ListAuditEventsRequest::default())
                .await
                .map(drop),
                "policies read" => policies(&server, secret)
                    .list_rules(pb::ListRulesRequest::default())
                    .await
                    .map(drop),
                "policies enforce" => policies(&server, secret)
                    .enforce(pb::DecisionRequest {
                        subject: "role:Guest".into(),
                        object: "workflows".into(),
                        action: "view".into(),
                        organization_id: String::new(),
                    })
                    .await
                    .map(drop),
                "organizations write" => server
                    .orgs(secret)
                    .create_organization(pb::CreateOrganizationRequest {
                        name: format!("table{counter}"),
                        display_name: String::new(),
                    })
                    .await
                    .map(drop),
                "domains read" => {
                    roster::pb::domain_service_client::DomainServiceClient::with_interceptor(
                        server.channel(),
                        Bearer(Some(secret.to_owned())),
                    )
                    .list_domains(pb::ListDomainsRequest {})
                    .await
                    .map(drop)
                }
                _ => unreachable!(),
            };
            let allowed = match &result {
                Ok(()) => true,
                Err(status) if status.code() == Code::PermissionDenied => false,
                Err(status) => panic!("{name} {op}: unexpected {status:?}"),
            };
            if allowed != expect {
                mismatches.push(format!("{name} × {op}: expected {expect}, got {allowed}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    server.stop().await;
}

#[tokio::test]
async fn an_attribute_rule_keeps_a_provisioning_token_from_making_admins() {
    let server = TestServer::start().await;
    let (okta, okta_secret) = mint(
        &server,
        &server.admin,
        "Okta production",
        &["scim:read", "scim:write"],
    )
    .await;
    // The platform engineer's rule, through rosterctl: this token may never set Admin.
    let subject = format!("token:{}", okta.id);
    let (code, rule, stderr) = rosterctl_json(
        &server,
        &server.admin,
        &["policy", "deny", &subject, "users.role", "set:Admin"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let rule_id = rule["id"].as_str().expect("rule id").to_owned();

    let scim = ScimClient::new(&server, &okta_secret);
    let reply = scim.post("/Users", &scim_user("ann", "FullMember")).await;
    assert_eq!(reply.0, StatusCode::CREATED, "{:?}", reply.2);
    let ann = reply.2["id"].as_str().unwrap().to_owned();

    let reply = scim.post("/Users", &scim_user("mallory", "Admin")).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    let detail = reply.2["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("set:Admin") && detail.contains(&rule_id),
        "{detail} vs {rule_id}"
    );
    assert!(
        scim.get("/Users?filter=userName%20eq%20%22mallory%22")
            .await
            .2["totalResults"]
            == 0,
        "a refused create must leave nothing behind"
    );

    // Entra's dialect (roles) over gRPC is held to the same rule.
    let mut entra_style = crate::harness::user("eve");
    entra_style.roles = vec![pb::MultiValue {
        value: "Admin".into(),
        primary: true,
        ..Default::default()
    }];
    let refused = server
        .users(&okta_secret)
        .create_user(pb::CreateUserRequest {
            user: Some(entra_style),
        })
        .await;
    assert_eq!(failure(refused).0, Code::PermissionDenied);

    // A PATCH promoting ann is refused and changes nothing.
    let promote = patch_op(json!([{"op": "replace", "path": "userType", "value": "Admin"}]));
    let reply = scim.patch(&format!("/Users/{ann}"), &promote).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    assert_eq!(
        scim.get(&format!("/Users/{ann}")).await.2["userType"],
        "FullMember"
    );

    // An Admin the administrator appointed can still be renamed by the provider: its unchanged
    // userType is not a new statement.
    let boss = ScimClient::new(&server, &server.admin)
        .post("/Users", &scim_user("boss", "Admin"))
        .await;
    assert_eq!(boss.0, StatusCode::CREATED, "{:?}", boss.2);
    let boss = boss.2["id"].as_str().unwrap().to_owned();
    let rename = patch_op(json!([{"op": "replace", "path": "displayName", "value": "The Boss"}]));
    let reply = scim.patch(&format!("/Users/{boss}"), &rename).await;
    assert_eq!(reply.0, StatusCode::OK, "{:?}", reply.2);

    // The refusal is in the audit log with the rule that decided.
    let events =
        AuditServiceClient::with_interceptor(server.channel(), Bearer(Some(server.admin.clone())))
            .list_audit_events(pb::ListAuditEventsRequest {
                outcome: "denied".into(),
                principal_id: okta.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
    assert!(
        events
            .iter()
            .any(|event| event.reason == format!("policy:denied_by:{rule_id}")),
        "{events:#?}"
    );

    // Removing the rule takes effect at once.
    let (code, _, stderr) =
        rosterctl_json(&server, &server.admin, &["policy", "remove", &rule_id]).await;
    assert_eq!(code, 0, "{stderr}");
    let reply = scim.patch(&format!("/Users/{ann}"), &promote).await;
    assert_eq!(reply.0, StatusCode::OK, "{:?}", reply.2);
    server.stop().await;
}

#[tokio::test]
async fn a_token_may_be_held_to_reading() {
    let server = TestServer::start().await;
    let (token, secret) = mint(
        &server,
        &server.admin,
        "reader-ish",
        &["scim:read", "scim:write"],
    )
    .await;
    let rule = add(
        &server,
        &server.admin,
        permission(&format!("token:{}", token.id), "", "users", "write", "deny"),
    )
    .await
    .expect("add the deny rule");
    assert_eq!(
        rule.domain, server.org_id,
        "an empty domain is the caller's organization"
    );

    let scim = ScimClient::new(&server, &secret);
    assert_eq!(scim.get("/Users").await.0, StatusCode::OK);
    let reply = scim.post("/Users", &scim_user("nope", "Guest")).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    // Groups were not named, so they stay writable.
    let group = scim
        .post("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "ok"}))
        .await;
    assert_eq!(group.0, StatusCode::CREATED, "{:?}", group.2);

    policies(&server, &server.admin)
        .remove_rule(pb::RemoveRuleRequest {
            id: rule.id,
            global: false,
        })
        .await
        .expect("remove");
    assert_eq!(
        scim.post("/Users", &scim_user("yes", "Guest")).await.0,
        StatusCode::CREATED
    );
    server.stop().await;
}

#[tokio::test]
async fn policy_changes_are_validated_scoped_and_cannot_lock_everyone_out() {
    let server = TestServer::start().await;
    let (org_b, admin_b) = server.new_org("other").await;

    // Lock-out: the organization's only admin token may not deny itself policy changes.
    let lockout = add(
        &server,
        &admin_b,
        permission("scope:admin", "", "policies", "write", "deny"),
    )
    .await;
    let (code, _, message) = failure(lockout);
    assert_eq!(code, Code::FailedPrecondition, "{message}");
    assert!(message.contains("could change"), "{message}");
    // ... but a rule for another subject is fine.
    add(
        &server,
        &admin_b,
        permission("role:Guest", "", "workflows", "view", "allow"),
    )
    .await
    .expect("an ordinary rule");
    // The same rule twice is ALREADY_EXISTS.
    let again = add(
        &server,
        &admin_b,
        permission("role:Guest", "", "workflows", "view", "allow"),
    )
    .await;
    assert_eq!(failure(again).0, Code::AlreadyExists);

    // Crafted names are refused before they reach the store.
    for (rule, field) in [
        (
            permission("role:a::b", "", "workflows", "view", "allow"),
            "subject",
        ),
        (
            permission("role:a|scope:admin", "", "workflows", "view", "allow"),
            "subject",
        ),
        (
            permission("admin", "", "workflows", "view", "allow"),
            "subject",
        ),
        (
            permission("role:x", "", "work flows", "view", "allow"),
            "object",
        ),
        (
            permission("role:x", "", "workflows", ".*", "allow"),
            "action",
        ),
        (
            permission("role:x", "", "workflows", "view", "maybe"),
            "effect",
        ),
        (
            permission("role:x", "acme", "workflows", "view", "allow"),
            "domain",
        ),
        (
            permission("role:x", &server.org_id, "workflows", "view", "allow"),
            "rule.domain",
        ),
        (
            permission("role:x", "", "organizations", "write", "allow"),
            "rule.object",
        ),
    ] {
        let (code, got, message) = failure(add(&server, &admin_b, rule).await);
        assert_eq!(
            (code, got.as_str()),
            (Code::InvalidArgument, field),
            "{message}"
        );
    }
    // An organization's admin cannot write rules for every organization.
    let global = add(
        &server,
        &admin_b,
        permission("scope:scim:read", "*", "users", "write", "allow"),
    )
    .await;
    assert_eq!(failure(global).0, Code::PermissionDenied);

    // Isolation: organization A's rule is invisible to B and cannot be removed by B.
    let rule_a = add(
        &server,
        &server.admin,
        permission("scope:scim:read", "", "users", "read", "deny"),
    )
    .await
    .expect("a rule of organization A");
    let listed_b = policies(&server, &admin_b)
        .list_rules(pb::ListRulesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert!(listed_b.iter().all(|rule| rule.id != rule_a.id));
    assert!(
        listed_b
            .iter()
            .all(|rule| rule.domain == org_b || rule.domain == "*")
    );
    let removed = policies(&server, &admin_b)
        .remove_rule(pb::RemoveRuleRequest {
            id: rule_a.id.clone(),
            global: false,
        })
        .await;
    assert_eq!(failure(removed).0, Code::NotFound);
    // A's deny applies in A only.
    let (_, reader_a) = mint(&server, &server.admin, "reader a", &["scim:read"]).await;
    let (_, reader_b) = mint(&server, &admin_b, "reader b", &["scim:read"]).await;
    let list = |secret: String| {
        let client = server.users(&secret);
        async move {
            let mut client = client;
            client
                .list_users(pb::ListUsersRequest::default())
                .await
                .map(drop)
        }
    };
    assert_eq!(failure(list(reader_a).await).0, Code::PermissionDenied);
    list(reader_b)
        .await
        .expect("organization B is not affected");

    // The operator cannot remove the last grant of global policy changes.
    let global_rules = policies(&server, &server.admin)
        .list_rules(pb::ListRulesRequest {
            subject: "scope:system".into(),
            object: "policies.global".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert_eq!(global_rules.len(), 1, "{global_rules:#?}");
    let removed = policies(&server, &server.admin)
        .remove_rule(pb::RemoveRuleRequest {
            id: global_rules[0].id.clone(),
            global: true,
        })
        .await;
    assert_eq!(failure(removed).0, Code::FailedPrecondition);

    // Every change is audited with the rule.
    let events =
        AuditServiceClient::with_interceptor(server.channel(), Bearer(Some(admin_b.clone())))
            .list_audit_events(pb::ListAuditEventsRequest {
                operation_prefix: "policy.".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
    assert!(
        events
            .iter()
            .any(|event| event.operation == "policy.add"
                && event.changes_json.contains("p, role:Guest")),
        "{events:#?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn internal_services_enforce_against_the_roles_roster_provisioned() {
    let server = TestServer::start().await;
    let (_, service) = mint(&server, &server.admin, "workflow service", &["scim:read"]).await;
    let rule = add(
        &server,
        &server.admin,
        permission("role:FullMember", "", "workflows", "edit", "allow"),
    )
    .await
    .unwrap();

    let full = ScimClient::new(&server, &server.admin)
        .post("/Users", &scim_user("full", "FullMember"))
        .await
        .2["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let free = create_user(&server, &server.admin, "free").await.id;

    let decision = decide(
        &server,
        &service,
        &format!("user:{full}"),
        "workflows",
        "edit",
    )
    .await;
    assert!(decision.allowed, "{decision:?}");
    assert_eq!(
        decision.rule.as_ref().map(|rule| rule.id.as_str()),
        Some(rule.id.as_str())
    );
    assert!(decision.subjects.contains(&"role:FullMember".to_owned()));
    let decision = decide(
        &server,
        &service,
        &format!("user:{free}"),
        "workflows",
        "edit",
    )
    .await;
    assert!(!decision.allowed);
    assert!(
        decision.reason.contains("default deny"),
        "{}",
        decision.reason
    );
    assert!(
        !decide(
            &server,
            &service,
            &format!("user:{full}"),
            "workflows",
            "delete"
        )
        .await
        .allowed
    );

    // "Every member of group X is a FullMember": the decision follows the membership.
    let group = crate::harness::create_group(&server, &server.admin, "editors", &[])
        .await
        .group
        .unwrap();
    server
        .roles(&server.admin)
        .assign_group_role(pb::AssignGroupRoleRequest {
            group_id: group.id.clone(),
            assignment: Some(pb::assign_group_role_request::Assignment::Role(
                "FullMember".into(),
            )),
        })
        .await
        .unwrap();
    server
        .groups(&server.admin)
        .update_group(pb::UpdateGroupRequest {
            id: group.id.clone(),
            changes: vec![pb::GroupChange {
                change: Some(pb::group_change::Change::AddMembers(pb::MemberList {
                    members: vec![member(&free)],
                })),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        decide(
            &server,
            &service,
            &format!("user:{free}"),
            "workflows",
            "edit"
        )
        .await
        .allowed
    );

    // Another organization's user is not found; Explain needs more than scim:read.
    let (_, admin_b) = server.new_org("elsewhere").await;
    let stranger = create_user(&server, &admin_b, "stranger").await.id;
    let refused = policies(&server, &service)
        .enforce(pb::DecisionRequest {
            subject: format!("user:{stranger}"),
            object: "workflows".into(),
            action: "edit".into(),
            organization_id: String::new(),
        })
        .await;
    assert_eq!(failure(refused).0, Code::NotFound);
    let explain = policies(&server, &service)
        .explain(pb::DecisionRequest {
            subject: format!("user:{full}"),
            object: "workflows".into(),
            action: "edit".into(),
            organization_id: String::new(),
        })
        .await;
    assert_eq!(failure(explain).0, Code::PermissionDenied);

    // Explain through rosterctl, by the administrator.
    let (code, decision, stderr) = rosterctl_json(
        &server,
        &server.admin,
        &[
            "policy",
            "explain",
            &format!("user:{full}"),
            "workflows",
            "edit",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(decision["allowed"], true);
    assert_eq!(decision["rule"]["id"], rule.id.as_str());
    server.stop().await;
}

#[tokio::test]
async fn a_policy_change_reaches_another_rosterd_on_the_same_database_within_two_seconds() {
    let server = TestServer::start().await;
    // A second rosterd as its own OS process on the same database (this test binary re-run as
    // the durability tests' child server).
    let work =
        std::env::temp_dir().join(format!("roster-policy-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&work).unwrap();
    let second = crate::durability::ChildServer::spawn(&server.database_url, &work).await;
    let channel = second.channel().await;
    let (token, reader) = mint(&server, &server.admin, "reader", &["scim:read"]).await;
    let mut users_on_second = pb::user_service_client::UserServiceClient::with_interceptor(
        channel,
        Bearer(Some(reader.clone())),
    );
    users_on_second
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect("allowed before the change");

    let changed = Instant::now();
    let rule = add(
        &server,
        &server.admin,
        permission(&format!("token:{}", token.id), "", "users", "read", "deny"),
    )
    .await
    .unwrap();
    let mut seen = None;
    while changed.elapsed() < Duration::from_secs(5) {
        match users_on_second
            .list_users(pb::ListUsersRequest::default())
            .await
        {
            Err(status) if status.code() == Code::PermissionDenied => {
                seen = Some(changed.elapsed());
                break;
            }
            Err(status) => panic!("unexpected {status:?}"),
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let seen = seen.expect("the second rosterd never applied the change");
    assert!(seen < Duration::from_secs(2), "took {seen:?}");

    policies(&server, &server.admin)
        .remove_rule(pb::RemoveRuleRequest {
            id: rule.id,
            global: false,
        })
        .await
        .unwrap();
    let removed = Instant::now();
    loop {
        if users_on_second
            .list_users(pb::ListUsersRequest::default())
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            removed.elapsed() < Duration::from_secs(2),
            "removal not applied in 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(second);
    let _ = std::fs::remove_dir_all(&work);
    server.stop().await;
}

#[tokio::test]
async fn rules_for_every_organization_come_from_the_operator() {
    let server = TestServer::start().await;
    let (org_b, admin_b) = server.new_org("tenant").await;
    let rule = add(
        &server,
        &server.admin,
        permission("role:Guest", "*", "handbook", "read", "allow"),
    )
    .await
    .expect("the system scope writes a rule for every organization");
    assert_eq!(rule.domain, "*");
    let explained = policies(&server, &admin_b)
        .explain(pb::DecisionRequest {
            subject: "role:Guest".into(),
            object: "handbook".into(),
            action: "read".into(),
            organization_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(explained.allowed, "{explained:?}");
    assert_eq!(explained.organization_id, org_b);
    // A grouping cannot span organizations.
    let grouping = pb::PolicyRule {
        kind: "g".into(),
        subject: "user:x".into(),
        role: "role:Admin".into(),
        domain: "*".into(),
        ..Default::default()
    };
    assert_eq!(
        failure(add(&server, &server.admin, grouping).await).0,
        Code::InvalidArgument
    );
    // An organization's admin may not explain another organization's policy.
    let other = policies(&server, &admin_b)
        .explain(pb::DecisionRequest {
            subject: "role:Guest".into(),
            object: "handbook".into(),
            action: "read".into(),
            organization_id: server.org_id.clone(),
        })
        .await;
    assert_eq!(failure(other).0, Code::NotFound);
    server.stop().await;
}

/// The issue's own examples, with a connection as the policy subject: "Entra may set userType to
/// FullMember or Guest but never Admin" and "this connection may read but not write".
#[tokio::test]
async fn a_connection_is_a_policy_subject() {
    let server = TestServer::start().await;
    let connections =
        roster::pb::connection_service_client::ConnectionServiceClient::with_interceptor(
            server.channel(),
            Bearer(Some(server.admin.clone())),
        );
    let connection = |name: &'static str, kind: pb::ConnectionKind| {
        let mut client = connections.clone();
        async move {
            client
                .create_connection(pb::CreateConnectionRequest {
                    name: name.into(),
                    kind: kind as i32,
                    ip_allow_list: Vec::new(),
                })
                .await
                .expect("create connection")
                .into_inner()
        }
    };
    let entra = connection("Entra production", pb::ConnectionKind::Entra).await;
    let auditor = connection("Read-only auditor", pb::ConnectionKind::Generic).await;
    let token_for = |connection_id: String| {
        let mut tokens = server.tokens(&server.admin);
        async move {
            tokens
                .create_token(pb::CreateTokenRequest {
                    name: "idp".into(),
                    scopes: vec!["scim:read".into(), "scim:write".into()],
                    connection_id,
                    ..Default::default()
                })
                .await
                .expect("mint")
                .into_inner()
                .secret
        }
    };
    let entra_secret = token_for(entra.id.clone()).await;
    let auditor_secret = token_for(auditor.id.clone()).await;
    for action in ["set:Admin", "set:FreeMember"] {
        add(
            &server,
            &server.admin,
            permission(
                &format!("connection:{}", entra.id),
                "",
                "users.role",
                action,
                "deny",
            ),
        )
        .await
        .unwrap();
    }
    for object in ["users", "groups"] {
        add(
            &server,
            &server.admin,
            permission(
                &format!("connection:{}", auditor.id),
                "",
                object,
                "write",
                "deny",
            ),
        )
        .await
        .unwrap();
    }

    // Entra sends app roles as `roles`.
    let entra_scim = ScimClient::new(&server, &entra_secret);
    let with_role = |name: &str, role: &str| {
        json!({
            "schemas": [USER_SCHEMA],
            "userName": name,
            "roles": [{"value": role, "primary": true}],
        })
    };
    for (name, role, expected) in [
        ("g1", "Guest", StatusCode::CREATED),
        ("f1", "FullMember", StatusCode::CREATED),
        ("a1", "Admin", StatusCode::FORBIDDEN),
        ("m1", "FreeMember", StatusCode::FORBIDDEN),
    ] {
        let reply = entra_scim.post("/Users", &with_role(name, role)).await;
        assert_eq!(reply.0, expected, "{role}: {:?}", reply.2);
    }

    let auditor_scim = ScimClient::new(&server, &auditor_secret);
    assert_eq!(auditor_scim.get("/Users").await.0, StatusCode::OK);
    assert_error(
        &auditor_scim
            .post("/Users", &scim_user("nobody", "Guest"))
            .await,
        StatusCode::FORBIDDEN,
        None,
    );

    // Explain names the connection's rule for a token of it.
    let entra_token = server
        .tokens(&server.admin)
        .list_tokens(pb::ListTokensRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tokens
        .into_iter()
        .find(|token| token.connection_id == entra.id)
        .unwrap();
    let explained = policies(&server, &server.admin)
        .explain(pb::DecisionRequest {
            subject: format!("token:{}", entra_token.id),
            object: "users.role".into(),
            action: "set:Admin".into(),
            organization_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!explained.allowed);
    assert!(
        explained
            .subjects
            .contains(&format!("connection:{}", entra.id)),
        "{explained:?}"
    );
    assert!(
        explained.reason.starts_with("denied by rule"),
        "{}",
        explained.reason
    );
    server.stop().await;
}
