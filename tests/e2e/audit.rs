//! AuditService end to end: every kind of write records exactly one event, in its own transaction,
//! naming the token (id and name), the client's user agent and the request id, over gRPC and over
//! SCIM; a failed write records nothing and changes nothing; a refused authorization is recorded
//! as `denied`; one organization never sees another's events; no audit row holds a token secret
//! or a password; paging and filters; reading the log needs `admin`; `rosterctl audit`.

use crate::harness::{Bearer, TestServer, create_user, dump_rows, failure, member, mint, user};
use crate::scim_client::{ScimClient, header_text};
use reqwest::{Method, StatusCode};
use roster::pb::{
    self, assign_group_role_request, assign_user_role_request,
    audit_service_client::AuditServiceClient, group_change::Change,
    group_service_client::GroupServiceClient,
    organization_service_client::OrganizationServiceClient, role_service_client::RoleServiceClient,
    token_service_client::TokenServiceClient, user_service_client::UserServiceClient,
};
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn audit(server: &TestServer, secret: &str) -> AuditServiceClient<crate::harness::Authed> {
    AuditServiceClient::with_interceptor(server.channel(), Bearer(Some(secret.to_owned())))
}

/// Every event of the caller's organization matching `filter`, oldest first.
async fn events(
    server: &TestServer,
    secret: &str,
    filter: pb::ListAuditEventsRequest,
) -> Vec<pb::AuditEvent> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = audit(server, secret)
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 1000,
                page_token,
                ..filter.clone()
            })
            .await
            .expect("list audit events")
            .into_inner();
        all.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    all.reverse();
    all
}

async fn all_events(server: &TestServer, secret: &str) -> Vec<pb::AuditEvent> {
    events(server, secret, Default::default()).await
}

fn by_operation(prefix: &str) -> pb::ListAuditEventsRequest {
    pb::ListAuditEventsRequest {
        operation_prefix: prefix.into(),
        ..Default::default()
    }
}

fn changes(event: &pb::AuditEvent) -> Value {
    serde_json::from_str(&event.changes_json)
        .unwrap_or_else(|error| panic!("changes of {event:?} are not JSON: {error}"))
}

/// A request carrying `x-request-id`.
fn with_id<T>(message: T, request_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-request-id", request_id.parse().unwrap());
    request
}

/// A channel whose calls carry `user-agent: <agent> tonic/...`.
async fn channel_with_agent(server: &TestServer, agent: &str) -> Channel {
    Endpoint::from_shared(server.grpc_url())
        .unwrap()
        .user_agent(agent)
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

/// The one event with this request id.
fn only<'a>(events: &'a [pb::AuditEvent], request_id: &str) -> &'a pb::AuditEvent {
    let matching: Vec<&pb::AuditEvent> = events
        .iter()
        .filter(|event| event.request_id == request_id)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected exactly one event for request {request_id}: {matching:#?}"
    );
    matching[0]
}

// ---------------------------------------------------------------------------------------------
// Every write kind, over gRPC
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_write_records_exactly_one_event_with_principal_client_and_request_id() {
    let server = TestServer::start().await;
    let (operator, secret) =
        mint(&server, &server.admin, "ops console", &["admin", "system"]).await;
    let channel = channel_with_agent(&server, "billing-service/2.1").await;
    let auth = || Bearer(Some(secret.clone()));
    let mut users = UserServiceClient::with_interceptor(channel.clone(), auth());
    let mut groups = GroupServiceClient::with_interceptor(channel.clone(), auth());
    let mut tokens = TokenServiceClient::with_interceptor(channel.clone(), auth());
    let mut roles = RoleServiceClient::with_interceptor(channel.clone(), auth());
    let mut orgs = OrganizationServiceClient::with_interceptor(channel.clone(), auth());

    let alice = users
        .create_user(with_id(
            pb::CreateUserRequest {
                user: Some(user("alice@example.com")),
            },
            "req-user-create",
        ))
        .await
        .expect("create")
        .into_inner();
    let bob = create_user(&server, &server.admin, "bob@example.com").await;
    let mut changed = alice.clone();
    changed.display_name = Some("Alice Liddell".into());
    changed.active = Some(false);
    users
        .replace_user(with_id(
            pb::ReplaceUserRequest {
                user: Some(changed),
                expected_version: None,
            },
            "req-user-replace",
        ))
        .await
        .expect("replace");
    let group = groups
        .create_group(with_id(
            pb::CreateGroupRequest {
                group: Some(pb::Group {
                    display_name: "Engineering".into(),
                    members: vec![member(&alice.id)],
                    ..Default::default()
                }),
            },
            "req-group-create",
        ))
        .await
        .expect("create group")
        .into_inner()
        .group
        .unwrap();
    groups
        .update_group(with_id(
            pb::UpdateGroupRequest {
                id: group.id.clone(),
                expected_version: None,
                changes: vec![
                    pb::GroupChange {
                        change: Some(Change::SetDisplayName("Platform".into())),
                    },
                    pb::GroupChange {
                        change: Some(Change::AddMembers(pb::MemberList {
                            members: vec![member(&bob.id)],
                        })),
                    },
                    pb::GroupChange {
                        change: Some(Change::RemoveMembers(pb::MemberList {
                            members: vec![member(&alice.id)],
                        })),
                    },
                ],
            },
            "req-group-update",
        ))
        .await
        .expect("update group");
    roles
        .define_role(with_id(
            pb::DefineRoleRequest {
                name: "Contractor".into(),
                rank: 50,
                make_default: false,
            },
            "req-role-define",
        ))
        .await
        .expect("define role");
    roles
        .assign_user_role(with_id(
            pb::AssignUserRoleRequest {
                user_id: bob.id.clone(),
                assignment: Some(assign_user_role_request::Assignment::Role(
                    "FullMember".into(),
                )),
            },
            "req-role-user",
        ))
        .await
        .expect("assign user role");
    roles
        .assign_group_role(with_id(
            pb::AssignGroupRoleRequest {
                group_id: group.id.clone(),
                assignment: Some(assign_group_role_request::Assignment::Role("Guest".into())),
            },
            "req-role-group",
        ))
        .await
        .expect("assign group role");
    let minted = tokens
        .create_token(with_id(
            pb::CreateTokenRequest {
                name: "Entra ID".into(),
                scopes: vec!["scim:read".into()],
                expires_at: None,
                connection_id: String::new(),
            },
            "req-token-create",
        ))
        .await
        .expect("create token")
        .into_inner();
    let minted_id = minted.token.unwrap().id;
    tokens
        .revoke_token(with_id(
            pb::RevokeTokenRequest {
                id: minted_id.clone(),
            },
            "req-token-revoke",
        ))
        .await
        .expect("revoke");
    let created_org = orgs
        .create_organization(with_id(
            pb::CreateOrganizationRequest {
                name: "acme".into(),
                display_name: "Acme".into(),
            },
            "req-org-create",
        ))
        .await
        .expect("create org")
        .into_inner()
        .organization
        .unwrap();
    groups
        .delete_group(with_id(
            pb::DeleteGroupRequest {
                id: group.id.clone(),
                expected_version: None,
            },
            "req-group-delete",
        ))
        .await
        .expect("delete group");
    users
        .delete_user(with_id(
            pb::DeleteUserRequest {
                id: alice.id.clone(),
                expected_version: None,
            },
            "req-user-delete",
        ))
        .await
        .expect("delete user");

    let mine = events(
        &server,
        &server.admin,
        pb::ListAuditEventsRequest {
            principal_id: operator.id.clone(),
            ..Default::default()
        },
    )
    .await;
    let expected = [
        ("req-user-create", "user.create", "user", alice.id.as_str()),
        ("req-user-replace", "user.replace", "user", &alice.id),
        ("req-group-create", "group.create", "group", &group.id),
        ("req-group-update", "group.update", "group", &group.id),
        ("req-role-define", "role.define", "role", "Contractor"),
        ("req-role-user", "role.assign_user", "user", &bob.id),
        ("req-role-group", "role.assign_group", "group", &group.id),
        ("req-token-create", "token.create", "token", &minted_id),
        ("req-token-revoke", "token.revoke", "token", &minted_id),
        (
            "req-org-create",
            "organization.create",
            "organization",
            &created_org.id,
        ),
        ("req-group-delete", "group.delete", "group", &group.id),
        ("req-user-delete", "user.delete", "user", &alice.id),
    ];
    assert_eq!(
        mine.iter()
            .map(|event| event.operation.as_str())
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|(_, operation, _, _)| *operation)
            .collect::<Vec<_>>(),
        "one event per write, in order"
    );
    for (request_id, operation, target_kind, target_id) in expected {
        let event = only(&mine, request_id);
        assert_eq!(event.operation, operation);
        assert_eq!(event.target_kind, target_kind, "{operation}");
        assert_eq!(event.target_id, target_id, "{operation}");
        assert_eq!(event.outcome, "ok");
        assert_eq!(event.reason, "");
        assert_eq!(event.principal_kind, "token");
        assert_eq!(event.principal_id, operator.id);
        assert_eq!(event.principal_name, "ops console");
        assert_eq!(
            event.token_id, operator.id,
            "a plain token is its own principal"
        );
        assert_eq!(event.organization_id, server.org_id);
        assert!(
            event.client.starts_with("billing-service/2.1"),
            "client of {operation}: {}",
            event.client
        );
        assert!(event.occurred_at.is_some());
    }

    // The summaries name what changed, with before and after.
    let created = changes(only(&mine, "req-user-create"));
    assert_eq!(
        created["userName"],
        json!({"before": null, "after": "alice@example.com"})
    );
    assert_eq!(created["emails"]["before"], Value::Null);
    let replaced = changes(only(&mine, "req-user-replace"));
    assert_eq!(
        replaced,
        json!({
            "displayName": {"before": null, "after": "Alice Liddell"},
            "active": {"before": true, "after": false},
        })
    );
    let group_created = changes(only(&mine, "req-group-create"));
    assert_eq!(group_created["displayName"]["after"], "Engineering");
    assert_eq!(group_created["members"]["added"], 1);
    assert_eq!(group_created["members"]["addedIds"], json!([alice.id]));
    let group_updated = changes(only(&mine, "req-group-update"));
    assert_eq!(
        group_updated,
        json!({
            "displayName": {"before": "Engineering", "after": "Platform"},
            "members": {"added": 1, "removed": 1, "addedIds": [bob.id], "removedIds": [alice.id]},
        })
    );
    assert_eq!(
        changes(only(&mine, "req-role-define"))["rank"],
        json!({"before": null, "after": 50})
    );
    assert_eq!(
        changes(only(&mine, "req-role-user"))["assignedRole"],
        json!({"before": null, "after": "FullMember"})
    );
    assert_eq!(
        changes(only(&mine, "req-role-group"))["role"],
        json!({"before": null, "after": "Guest"})
    );
    let token_created = changes(only(&mine, "req-token-create"));
    assert_eq!(token_created["name"]["after"], "Entra ID");
    assert_eq!(token_created["scopes"]["after"], json!(["scim:read"]));
    assert!(changes(only(&mine, "req-token-revoke"))["revokedAt"]["after"].is_i64());
    assert_eq!(
        changes(only(&mine, "req-org-create"))["name"]["after"],
        "acme"
    );
    assert_eq!(
        changes(only(&mine, "req-group-delete"))["displayName"],
        json!({"before": "Platform", "after": null})
    );
    assert_eq!(
        changes(only(&mine, "req-user-delete"))["userName"],
        json!({"before": "alice@example.com", "after": null})
    );

    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// SCIM: the connection's name, the identity provider's user agent, the request id
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scim_writes_record_the_connection_the_client_and_the_request_id() {
    let server = TestServer::start().await;
    // The identity provider's token belongs to the connection "Okta production"; the log names
    // the connection as the principal and keeps the token's id.
    let okta = roster::pb::connection_service_client::ConnectionServiceClient::with_interceptor(
        server.channel(),
        Bearer(Some(server.admin.clone())),
    )
    .create_connection(pb::CreateConnectionRequest {
        name: "Okta production".into(),
        kind: pb::ConnectionKind::Okta as i32,
        ip_allow_list: vec![],
    })
    .await
    .expect("create the connection")
    .into_inner();
    let created_token =
        TokenServiceClient::with_interceptor(server.channel(), Bearer(Some(server.admin.clone())))
            .create_token(pb::CreateTokenRequest {
                name: "okta scim token".into(),
                scopes: vec!["scim:read".into(), "scim:write".into()],
                expires_at: None,
                connection_id: okta.id.clone(),
            })
            .await
            .expect("mint the connection's token")
            .into_inner();
    let token = created_token.token.expect("the token");
    let secret = created_token.secret;
    let scim = ScimClient::new(&server, &secret);
    let okta_headers = [
        ("user-agent", "Okta SCIM Client 1.0.0"),
        ("x-request-id", "okta-req-1"),
    ];
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "carol@example.com",
        "name": {"givenName": "Carol", "familyName": "Danvers"},
        "emails": [{"value": "carol@example.com", "type": "work", "primary": true}],
        "active": true,
    });
    let (status, _, created) = scim
        .request(
            Method::POST,
            "/Users",
            &okta_headers,
            Some(crate::scim_client::Body::Json(body)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // A PATCH without a request id: the one rosterd generated (and echoed) is the one recorded.
    let patch = crate::scim_client::patch_op(json!([
        {"op": "replace", "path": "active", "value": false}
    ]));
    let (status, headers, reply) = scim
        .request(
            Method::PATCH,
            &format!("/Users/{id}"),
            &[("user-agent", "Okta SCIM Client 1.0.0")],
            Some(crate::scim_client::Body::Json(patch)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let generated = header_text(&headers, "x-request-id")
        .expect("rosterd echoes a request id")
        .to_owned();

    let entra = [
        ("user-agent", "Azure AD SCIM Client"),
        ("x-request-id", "entra-7"),
    ];
    let (status, _, _) = scim
        .request(Method::DELETE, &format!("/Users/{id}"), &entra, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let recorded = events(
        &server,
        &server.admin,
        pb::ListAuditEventsRequest {
            target_id: id.clone(),
            ..Default::default()
        },
    )
    .await;
    let summary: Vec<(&str, &str, &str)> = recorded
        .iter()
        .map(|event| {
            (
                event.operation.as_str(),
                event.client.as_str(),
                event.request_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("user.create", "Okta SCIM Client 1.0.0", "okta-req-1"),
            ("user.replace", "Okta SCIM Client 1.0.0", generated.as_str()),
            ("user.delete", "Azure AD SCIM Client", "entra-7"),
        ]
    );
    for event in &recorded {
        assert_eq!(event.principal_kind, "connection");
        assert_eq!(event.principal_id, okta.id);
        assert_eq!(event.principal_name, "Okta production");
        assert_eq!(event.token_id, token.id);
        assert_eq!(event.outcome, "ok");
    }
    assert_eq!(
        changes(&recorded[1]),
        json!({"active": {"before": true, "after": false}}),
        "a PATCH of one attribute records only that attribute"
    );
    assert_eq!(changes(&recorded[0])["name"]["after"]["givenName"], "Carol");

    // A user agent with a control character (a tab: the only one HTTP lets through) and a huge
    // length is cleaned and cut.
    let long_agent = format!("Evil\tAgent {}", "x".repeat(400));
    let (status, _, _) = scim
        .request(
            Method::POST,
            "/Users",
            &[("user-agent", long_agent.as_str())],
            Some(crate::scim_client::Body::Json(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "dave@example.com",
            }))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let latest = events(&server, &server.admin, by_operation("user.create")).await;
    let client = &latest.last().unwrap().client;
    assert_eq!(client.chars().count(), 256, "{client}");
    assert!(client.starts_with("EvilAgent xxx"), "{client:?}");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Atomicity: a failed write records nothing and changes nothing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_failed_write_leaves_no_event_and_no_change() {
    let server = TestServer::start().await;
    let first = create_user(&server, &server.admin, "erin@example.com").await;
    let before = all_events(&server, &server.admin).await;

    // A duplicate userName (another case): ALREADY_EXISTS, no event, no second user.
    let duplicate = server
        .users(&server.admin)
        .create_user(pb::CreateUserRequest {
            user: Some(user("ERIN@example.com")),
        })
        .await;
    assert_eq!(failure(duplicate).0, Code::AlreadyExists);
    // A replace under a stale version: FAILED_PRECONDITION, nothing changes.
    let mut stale = first.clone();
    stale.display_name = Some("Erin".into());
    let mismatch = server
        .users(&server.admin)
        .replace_user(pb::ReplaceUserRequest {
            user: Some(stale),
            expected_version: Some(99),
        })
        .await;
    assert_eq!(failure(mismatch).0, Code::FailedPrecondition);
    // A group rename onto an existing name fails after the version bump: all of it rolls back.
    let taken = crate::harness::create_group(&server, &server.admin, "Taken", &[]).await;
    let other = crate::harness::create_group(&server, &server.admin, "Other", &[]).await;
    let before_groups = all_events(&server, &server.admin).await;
    let rename = server
        .groups(&server.admin)
        .update_group(pb::UpdateGroupRequest {
            id: other.group.as_ref().unwrap().id.clone(),
            expected_version: None,
            changes: vec![
                pb::GroupChange {
                    change: Some(Change::AddMembers(pb::MemberList {
                        members: vec![member(&first.id)],
                    })),
                },
                pb::GroupChange {
                    change: Some(Change::SetDisplayName("taken".into())),
                },
            ],
        })
        .await;
    assert_eq!(failure(rename).0, Code::AlreadyExists);
    let _ = taken;

    let after = all_events(&server, &server.admin).await;
    assert_eq!(
        after.len(),
        before_groups.len(),
        "no event for failed writes"
    );
    assert_eq!(
        before.len() + 2,
        before_groups.len(),
        "the two group creations"
    );
    let stored = server
        .users(&server.admin)
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::Id(first.id.clone())),
            include_groups: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stored.display_name, None,
        "the stale replace changed nothing"
    );
    assert!(
        stored.groups.is_empty(),
        "the failed group update added nothing"
    );
    assert_eq!(
        stored.meta.unwrap().version,
        first.meta.unwrap().version,
        "the user is as it was"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Refused authorizations
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn refused_authorizations_are_recorded_as_denied() {
    let server = TestServer::start().await;
    let (reader, reader_secret) = mint(&server, &server.admin, "read only", &["scim:read"]).await;
    let (writer, writer_secret) =
        mint(&server, &server.admin, "Okta production", &["scim:write"]).await;
    let (admin_only, admin_only_secret) =
        mint(&server, &server.admin, "org admin", &["admin"]).await;

    let refused = server
        .users(&reader_secret)
        .create_user(with_id(
            pb::CreateUserRequest {
                user: Some(user("frank@example.com")),
            },
            "denied-1",
        ))
        .await;
    assert_eq!(failure(refused).0, Code::PermissionDenied);
    // Reading the audit log needs admin: an identity provider's token is refused, and recorded.
    let refused = audit(&server, &writer_secret)
        .list_audit_events(pb::ListAuditEventsRequest::default())
        .await;
    assert_eq!(failure(refused).0, Code::PermissionDenied);
    // Granting a scope the creator lacks is a refusal too.
    let refused = server
        .tokens(&admin_only_secret)
        .create_token(pb::CreateTokenRequest {
            name: "escalate".into(),
            scopes: vec!["system".into()],
            expires_at: None,
            connection_id: String::new(),
        })
        .await;
    assert_eq!(failure(refused).0, Code::PermissionDenied);
    // A bad token has no organization: nothing to record, and nothing is.
    let before = all_events(&server, &server.admin).await.len();
    let unauthenticated = server
        .users("roster_not_a_token")
        .create_user(pb::CreateUserRequest {
            user: Some(user("ghost@example.com")),
        })
        .await;
    assert_eq!(failure(unauthenticated).0, Code::Unauthenticated);

    let denied = events(
        &server,
        &server.admin,
        pb::ListAuditEventsRequest {
            outcome: "denied".into(),
            ..Default::default()
        },
    )
    .await;
    let summary: Vec<(&str, &str, &str, &str)> = denied
        .iter()
        .map(|event| {
            (
                event.operation.as_str(),
                event.principal_id.as_str(),
                event.principal_name.as_str(),
                event.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "user.create",
                reader.id.as_str(),
                "read only",
                "policy:default_deny"
            ),
            (
                "audit.list",
                writer.id.as_str(),
                "Okta production",
                "policy:default_deny"
            ),
            (
                "token.create",
                admin_only.id.as_str(),
                "org admin",
                "scope_not_held:system"
            ),
        ]
    );
    assert_eq!(denied[0].request_id, "denied-1");
    for event in &denied {
        assert_eq!(event.outcome, "denied");
        assert_eq!(event.changes_json, "{}");
        assert_eq!(event.organization_id, server.org_id);
    }
    assert_eq!(all_events(&server, &server.admin).await.len(), before);
    // The refused create created nothing.
    let found = server
        .users(&server.admin)
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::UserName(
                "frank@example.com".into(),
            )),
            include_groups: false,
        })
        .await;
    assert_eq!(failure(found).0, Code::NotFound);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Isolation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_organization_sees_only_its_own_events() {
    let server = TestServer::start().await;
    let (org_b, admin_b) = server.new_org("globex").await;
    // One person in both organizations: A joins B's account, so A has verified the domain.
    crate::harness::verify_domain(&server, &server.admin, &server.org_id, "example.com").await;
    let in_b = create_user(&server, &admin_b, "gina@example.com").await;
    let in_a = create_user(&server, &server.admin, "gina@example.com").await;

    let seen_by_a = all_events(&server, &server.admin).await;
    let seen_by_b = all_events(&server, &admin_b).await;
    assert!(
        seen_by_a
            .iter()
            .all(|event| event.organization_id == server.org_id)
    );
    assert!(seen_by_b.iter().all(|event| event.organization_id == org_b));
    assert!(seen_by_a.iter().any(|event| event.target_id == in_a.id));
    assert!(!seen_by_a.iter().any(|event| event.target_id == in_b.id));
    assert!(!seen_by_b.iter().any(|event| event.target_id == in_a.id));
    // B's log starts with the minting of its first admin token, then its own user.
    let operations: Vec<&str> = seen_by_b
        .iter()
        .map(|event| event.operation.as_str())
        .collect();
    assert_eq!(operations, vec!["token.create", "user.create"]);
    // A's log has the creation of B (the operator's organization records it).
    assert!(
        seen_by_a
            .iter()
            .any(|event| event.operation == "organization.create" && event.target_id == org_b)
    );
    // Filters cannot reach across: B asking for A's target id gets nothing.
    let probe = events(
        &server,
        &admin_b,
        pb::ListAuditEventsRequest {
            target_id: in_a.id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert!(probe.is_empty());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Secrets and passwords
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_audit_row_holds_a_token_secret_or_a_password() {
    let server = TestServer::start().await;
    let (_, okta_secret) = mint(
        &server,
        &server.admin,
        "Okta production",
        &["scim:read", "scim:write"],
    )
    .await;
    let (_, org_secret) = server.new_org("initech").await;
    let password = "Correct-Horse-Battery-Staple-42";
    let scim = ScimClient::new(&server, &okta_secret);
    let (status, _, created) = scim
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "heidi@example.com",
                "password": password,
                "emails": [{"value": "heidi@example.com", "primary": true}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, _, reply) = scim
        .put(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "heidi@example.com",
                "password": password,
                "displayName": "Heidi",
            }),
        )
        .await;
    assert!(status.is_success(), "{status} {reply}");
    // A refused call with a valid secret is recorded without it.
    let refused = server
        .tokens(&okta_secret)
        .list_tokens(pb::ListTokensRequest::default())
        .await;
    assert_eq!(failure(refused).0, Code::PermissionDenied);

    let rows: Vec<String> = dump_rows(&server.database_url)
        .await
        .into_iter()
        .filter(|row| row.starts_with("audit_events: "))
        .collect();
    assert!(rows.len() >= 5, "{rows:#?}");
    for secret in [&server.admin, &okta_secret, &org_secret] {
        // The whole secret, and its random part alone.
        let random = secret.rsplit('_').next().unwrap();
        for row in &rows {
            assert!(!row.contains(secret.as_str()), "a secret in {row}");
            assert!(!row.contains(random), "a secret's random part in {row}");
        }
    }
    for row in &rows {
        assert!(!row.contains(password), "the password in {row}");
        assert!(
            !row.to_lowercase().contains("password"),
            "a password attribute in {row}"
        );
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Paging and filters
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn paging_and_filters() {
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    for n in 0..25 {
        ids.push(
            create_user(&server, &server.admin, &format!("user{n:02}@example.com"))
                .await
                .id,
        );
    }
    let middle = all_events(&server, &server.admin).await;
    let cut = middle.last().unwrap().occurred_at.unwrap();
    crate::harness::create_group(&server, &server.admin, "Late", &[]).await;

    // Pages of 10, newest first, no duplicates, nothing lost while walking.
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = audit(&server, &server.admin)
            .list_audit_events(pb::ListAuditEventsRequest {
                operation_prefix: "user.".into(),
                page_size: 10,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages.push(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![10, 10, 5]
    );
    let walked: Vec<String> = pages
        .concat()
        .into_iter()
        .map(|event| event.target_id)
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(walked, newest_first);

    // Filters: operation prefix, target, principal, outcome, since/until.
    assert!(
        events(&server, &server.admin, by_operation("group."))
            .await
            .len()
            == 1
    );
    assert!(
        events(&server, &server.admin, by_operation("grou"))
            .await
            .len()
            == 1
    );
    assert!(
        events(&server, &server.admin, by_operation("user.delete"))
            .await
            .is_empty()
    );
    let one = events(
        &server,
        &server.admin,
        pb::ListAuditEventsRequest {
            target_id: ids[7].clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(one.len(), 1);
    let late = events(
        &server,
        &server.admin,
        pb::ListAuditEventsRequest {
            since: Some(prost_types::Timestamp {
                seconds: cut.seconds,
                nanos: cut.nanos + 1000,
            }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        late.iter()
            .map(|event| event.operation.as_str())
            .collect::<Vec<_>>(),
        vec!["group.create"]
    );
    let early = events(
        &server,
        &server.admin,
        pb::ListAuditEventsRequest {
            until: Some(cut),
            outcome: "ok".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(early.len(), middle.len() - 1, "until is exclusive");
    let nobody = events(
        &server,
        &server.admin,
        pb::ListAuditEventsRequest {
            principal_id: "00000000-0000-0000-0000-000000000000".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(nobody.is_empty());

    // Bad arguments.
    let mut client = audit(&server, &server.admin);
    for request in [
        pb::ListAuditEventsRequest {
            page_size: 1001,
            ..Default::default()
        },
        pb::ListAuditEventsRequest {
            page_token: "not-a-token".into(),
            ..Default::default()
        },
        pb::ListAuditEventsRequest {
            outcome: "maybe".into(),
            ..Default::default()
        },
    ] {
        let result = client.list_audit_events(request).await;
        assert_eq!(failure(result).0, Code::InvalidArgument);
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// rosterctl audit
// ---------------------------------------------------------------------------------------------

async fn rosterctl(server: &TestServer, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rosterctl"));
    command
        .arg("--server")
        .arg(server.grpc_url())
        .arg("--json")
        .args(args)
        .env_remove("ROSTER_SERVER")
        .env("ROSTER_TOKEN", &server.admin);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("rosterctl runs");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn rosterctl_lists_and_tails_the_audit_log() {
    let server = TestServer::start().await;
    let ivan = create_user(&server, &server.admin, "ivan@example.com").await;
    crate::harness::create_group(&server, &server.admin, "Ops", &[]).await;

    let (code, stdout, stderr) = rosterctl(
        &server,
        &["audit", "list", "--operation", "user.", "--limit", "5"],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    let listed = listed["events"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{stdout}");
    assert_eq!(listed[0]["operation"], "user.create");
    assert_eq!(listed[0]["targetId"], ivan.id.as_str());
    assert_eq!(
        listed[0]["changes"]["userName"]["after"],
        "ivan@example.com"
    );
    let (code, stdout, _) = rosterctl(&server, &["audit", "list", "--target", &ivan.id]).await;
    assert_eq!(code, Some(0));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // `tail` prints what is recorded while it runs (one JSON object per line), then stops.
    let tail = {
        let grpc = server.grpc_url();
        let admin = server.admin.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_rosterctl"))
                .args(["--server", &grpc, "--json", "audit", "tail", "--for", "6"])
                .env_remove("ROSTER_SERVER")
                .env("ROSTER_TOKEN", admin)
                .output()
                .expect("rosterctl runs")
        })
    };
    let started = std::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let judy = create_user(&server, &server.admin, "judy@example.com").await;
    let output = tail.await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(elapsed.as_secs() < 20, "tail stops by itself");
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let targets: Vec<&str> = lines
        .iter()
        .filter_map(|event| event["targetId"].as_str())
        .collect();
    assert!(targets.contains(&judy.id.as_str()), "{lines:#?}");
    assert!(
        !targets.contains(&ivan.id.as_str()),
        "old events are not tailed"
    );
    server.stop().await;
}

/// Concurrent creates are written in batches with one statement per table; every user of a burst
/// still gets its own email index rows, its own role row and its own audit event, and a duplicate
/// in the burst fails alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_creates_records_every_users_emails_role_and_event() {
    let server = TestServer::start().await;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..40 {
        let mut client = server.users(&server.admin);
        let mut new = user(&format!("burst-{index:02}@example.com"));
        if index % 4 == 0 {
            new.user_type = Some("Guest".into());
        }
        tasks.spawn(async move {
            client
                .create_user(pb::CreateUserRequest { user: Some(new) })
                .await
        });
    }
    // One duplicate of a name in the same burst: it alone fails.
    let mut client = server.users(&server.admin);
    tasks.spawn(async move {
        client
            .create_user(pb::CreateUserRequest {
                user: Some(user("BURST-07@example.com")),
            })
            .await
    });
    let (mut created, mut duplicates) = (Vec::new(), 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("the task does not panic") {
            Ok(response) => created.push(response.into_inner()),
            Err(status) if status.code() == Code::AlreadyExists => duplicates += 1,
            Err(status) => panic!("unexpected failure in a burst: {status:?}"),
        }
    }
    assert_eq!((created.len(), duplicates), (40, 1));
    let roles =
        RoleServiceClient::with_interceptor(server.channel(), Bearer(Some(server.admin.clone())));
    for user in &created {
        let found = server
            .users(&server.admin)
            .list_users(pb::ListUsersRequest {
                filter: Some(crate::harness::compare(
                    "emails",
                    "value",
                    pb::CompareOp::Eq,
                    &user.user_name,
                )),
                ..Default::default()
            })
            .await
            .expect("filter by email")
            .into_inner();
        assert_eq!(
            found.total_results, 1,
            "{} is found by its email",
            user.user_name
        );
        let role = roles
            .clone()
            .get_effective_role(pb::GetEffectiveRoleRequest {
                user_id: user.id.clone(),
            })
            .await
            .expect("effective role")
            .into_inner();
        let expected = if user.user_type.as_deref() == Some("Guest") {
            "Guest"
        } else {
            "FreeMember"
        };
        assert_eq!(role.role, expected, "role of {}", user.user_name);
    }
    let events = events(&server, &server.admin, by_operation("user.create")).await;
    let targets: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|event| event.target_id.as_str())
        .collect();
    assert_eq!(
        events.len(),
        40,
        "one event per created user, none for the duplicate"
    );
    for user in &created {
        assert!(
            targets.contains(user.id.as_str()),
            "{} has its event",
            user.id
        );
    }
    server.stop().await;
}
