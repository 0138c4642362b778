//! Provisioning connections end to end: CRUD and isolation, tokens that belong to a connection,
//! the audit log naming the connection, IP allow-lists over gRPC and SCIM (in-process facade,
//! remote facade through a trusted proxy, and forged addresses), and the CLI.

use crate::harness::{Authed, Bearer, TestServer, failure, mint, rosterctl_json};
use crate::scim_client::{ScimClient, USER_SCHEMA};
use reqwest::StatusCode;
use roster::pb;
use roster::pb::audit_service_client::AuditServiceClient;
use roster::pb::connection_service_client::ConnectionServiceClient;
use serde_json::json;
use std::net::IpAddr;
use tonic::Code;

fn connections(server: &TestServer, secret: &str) -> ConnectionServiceClient<Authed> {
    ConnectionServiceClient::with_interceptor(server.channel(), Bearer(Some(secret.to_owned())))
}

async fn create(
    server: &TestServer,
    secret: &str,
    name: &str,
    kind: pb::ConnectionKind,
    allow: &[&str],
) -> Result<pb::Connection, tonic::Status> {
    connections(server, secret)
        .create_connection(pb::CreateConnectionRequest {
            name: name.into(),
            kind: kind as i32,
            ip_allow_list: allow.iter().map(|block| block.to_string()).collect(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn set_allow_list(server: &TestServer, id: &str, allow: &[&str]) -> pb::Connection {
    connections(server, &server.admin)
        .update_connection(pb::UpdateConnectionRequest {
            id: id.into(),
            name: None,
            ip_allow_list: Some(pb::IpAllowList {
                cidrs: allow.iter().map(|block| block.to_string()).collect(),
            }),
        })
        .await
        .expect("update the allow-list")
        .into_inner()
}

/// Mints a SCIM token (read and write) for `connection_id` with the bootstrap admin.
async fn connection_token(
    server: &TestServer,
    name: &str,
    connection_id: &str,
) -> Result<(pb::ApiToken, String), tonic::Status> {
    server
        .tokens(&server.admin)
        .create_token(pb::CreateTokenRequest {
            name: name.into(),
            scopes: vec!["scim:read".into(), "scim:write".into()],
            expires_at: None,
            connection_id: connection_id.into(),
        })
        .await
        .map(|response| {
            let response = response.into_inner();
            (response.token.expect("the token"), response.secret)
        })
}

async fn audit_events(
    server: &TestServer,
    filter: pb::ListAuditEventsRequest,
) -> Vec<pb::AuditEvent> {
    let mut events =
        AuditServiceClient::with_interceptor(server.channel(), Bearer(Some(server.admin.clone())))
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 1000,
                ..filter
            })
            .await
            .expect("list audit events")
            .into_inner()
            .events;
    events.reverse();
    events
}

fn list_request() -> pb::ListUsersRequest {
    pb::ListUsersRequest {
        count: Some(10),
        ..Default::default()
    }
}

#[tokio::test]
async fn connections_are_created_validated_listed_updated_and_deleted_per_organization() {
    let server = TestServer::start().await;
    let okta = create(
        &server,
        &server.admin,
        "Okta production",
        pb::ConnectionKind::Okta,
        &["203.0.113.0/24", "2001:DB8::/32", "198.51.100.7"],
    )
    .await
    .expect("create");
    assert_eq!(okta.name, "Okta production");
    assert_eq!(okta.kind, pb::ConnectionKind::Okta as i32);
    assert_eq!(
        okta.ip_allow_list,
        ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"],
        "blocks are stored in canonical form"
    );
    assert!(okta.created_by.starts_with("token:"));
    let entra = create(
        &server,
        &server.admin,
        "Entra",
        pb::ConnectionKind::Entra,
        &[],
    )
    .await
    .expect("create");
    assert!(entra.ip_allow_list.is_empty());

    // Validation: clear INVALID_ARGUMENT naming the field.
    let cases: [(&str, pb::ConnectionKind, &[&str], &str, &str); 6] = [
        ("", pb::ConnectionKind::Okta, &[], "name", "required"),
        (" padded", pb::ConnectionKind::Okta, &[], "name", "spaces"),
        (
            &"x".repeat(129),
            pb::ConnectionKind::Okta,
            &[],
            "name",
            "limit is 128",
        ),
        (
            "No kind",
            pb::ConnectionKind::Unspecified,
            &[],
            "kind",
            "okta, entra, generic",
        ),
        (
            "Bad block",
            pb::ConnectionKind::Generic,
            &["10.0.0.1/8"],
            "ip_allow_list",
            "10.0.0.0/8",
        ),
        (
            "Bad text",
            pb::ConnectionKind::Generic,
            &["example.com"],
            "ip_allow_list",
            "not an IP",
        ),
    ];
    for (name, kind, allow, field, message) in cases {
        let (code, got_field, got_message) =
            failure(create(&server, &server.admin, name, kind, allow).await);
        assert_eq!(code, Code::InvalidArgument, "{name:?}");
        assert_eq!(got_field, field, "{name:?}");
        assert!(got_message.contains(message), "{name:?}: {got_message}");
    }
    // Names are unique per organization, ignoring case.
    let (code, field, _) = failure(
        create(
            &server,
            &server.admin,
            "OKTA PRODUCTION",
            pb::ConnectionKind::Okta,
            &[],
        )
        .await,
    );
    assert_eq!((code, field.as_str()), (Code::AlreadyExists, "name"));

    let listed = connections(&server, &server.admin)
        .list_connections(pb::ListConnectionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .connections;
    assert_eq!(
        listed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["Entra", "Okta production"]
    );
    let got = connections(&server, &server.admin)
        .get_connection(pb::GetConnectionRequest {
            id: okta.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, okta);

    // Update: a rename (not onto another connection's name) and a new allow-list.
    let (code, field, _) = failure(
        connections(&server, &server.admin)
            .update_connection(pb::UpdateConnectionRequest {
                id: okta.id.clone(),
                name: Some("entra".into()),
                ip_allow_list: None,
            })
            .await,
    );
    assert_eq!((code, field.as_str()), (Code::AlreadyExists, "name"));
    let renamed = connections(&server, &server.admin)
        .update_connection(pb::UpdateConnectionRequest {
            id: okta.id.clone(),
            name: Some("Okta prod (EU)".into()),
            ip_allow_list: Some(pb::IpAllowList { cidrs: vec![] }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.name, "Okta prod (EU)");
    assert!(renamed.ip_allow_list.is_empty());
    assert_eq!(renamed.kind, okta.kind);

    // Another organization sees none of it: NOT_FOUND for every id, an empty list.
    let (_, other_admin) = server.new_org("other").await;
    let mut other = connections(&server, &other_admin);
    assert!(
        other
            .list_connections(pb::ListConnectionsRequest {})
            .await
            .unwrap()
            .into_inner()
            .connections
            .is_empty()
    );
    let (code, _, _) = failure(
        other
            .get_connection(pb::GetConnectionRequest {
                id: okta.id.clone(),
            })
            .await,
    );
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(
        other
            .update_connection(pb::UpdateConnectionRequest {
                id: okta.id.clone(),
                name: Some("stolen".into()),
                ip_allow_list: None,
            })
            .await,
    );
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(
        other
            .delete_connection(pb::DeleteConnectionRequest {
                id: okta.id.clone(),
            })
            .await,
    );
    assert_eq!(code, Code::NotFound);
    let (code, field, _) = failure(
        server
            .tokens(&other_admin)
            .create_token(pb::CreateTokenRequest {
                name: "x".into(),
                scopes: vec!["scim:read".into()],
                expires_at: None,
                connection_id: okta.id.clone(),
            })
            .await,
    );
    assert_eq!((code, field.as_str()), (Code::NotFound, "connection_id"));
    // Same names are fine in another organization.
    create(
        &server,
        &other_admin,
        "Okta prod (EU)",
        pb::ConnectionKind::Okta,
        &[],
    )
    .await
    .expect("names are per organization");

    // Only `admin` manages connections; the refusal is audited.
    let scim = server.token(&["scim:read", "scim:write"]).await;
    let (code, _, _) = failure(
        connections(&server, &scim)
            .list_connections(pb::ListConnectionsRequest {})
            .await,
    );
    assert_eq!(code, Code::PermissionDenied);

    // Delete revokes the connection's tokens in the same transaction.
    let (_, first) = connection_token(&server, "okta 1", &okta.id).await.unwrap();
    let (_, second) = connection_token(&server, "okta 2", &okta.id).await.unwrap();
    let (_, entra_secret) = connection_token(&server, "entra 1", &entra.id)
        .await
        .unwrap();
    server
        .users(&first)
        .list_users(list_request())
        .await
        .expect("the token works before the delete");
    let deleted = connections(&server, &server.admin)
        .delete_connection(pb::DeleteConnectionRequest {
            id: okta.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.revoked_tokens, 2);
    assert_eq!(deleted.connection.unwrap().name, "Okta prod (EU)");
    for secret in [&first, &second] {
        let (code, _, _) = failure(server.users(secret).list_users(list_request()).await);
        assert_eq!(code, Code::Unauthenticated);
    }
    server
        .users(&entra_secret)
        .list_users(list_request())
        .await
        .expect("another connection's token is untouched");
    let (code, _, _) = failure(
        connections(&server, &server.admin)
            .get_connection(pb::GetConnectionRequest {
                id: okta.id.clone(),
            })
            .await,
    );
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(connection_token(&server, "late", &okta.id).await);
    assert_eq!(code, Code::NotFound, "no token for a deleted connection");
    let revoked = server
        .tokens(&server.admin)
        .list_tokens(pb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens;
    let okta_tokens: Vec<_> = revoked
        .iter()
        .filter(|token| token.connection_id == okta.id)
        .collect();
    assert_eq!(okta_tokens.len(), 2);
    assert!(okta_tokens.iter().all(|token| token.revoked_at.is_some()));
    // The name is free again.
    create(
        &server,
        &server.admin,
        "okta prod (eu)",
        pb::ConnectionKind::Okta,
        &[],
    )
    .await
    .expect("a deleted connection's name can be reused");

    // Every write is audited.
    let operations: Vec<String> = audit_events(
        &server,
        pb::ListAuditEventsRequest {
            operation_prefix: "connection.".into(),
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .map(|event| format!("{} {}", event.operation, event.outcome))
    .collect();
    assert_eq!(
        operations,
        [
            "connection.create ok",
            "connection.create ok",
            "connection.update ok",
            "connection.list denied",
            "connection.delete ok",
            "connection.create ok",
        ]
    );
    let delete_event = audit_events(
        &server,
        pb::ListAuditEventsRequest {
            operation_prefix: "connection.delete".into(),
            ..Default::default()
        },
    )
    .await;
    let changes: serde_json::Value = serde_json::from_str(&delete_event[0].changes_json).unwrap();
    assert_eq!(changes["revokedTokens"], 2);
    assert_eq!(changes["name"]["before"], "Okta prod (EU)");
    server.stop().await;
}

#[tokio::test]
async fn a_connection_token_shows_its_connection_and_is_audited_under_its_name() {
    let server = TestServer::start().await;
    let okta = create(
        &server,
        &server.admin,
        "Okta production",
        pb::ConnectionKind::Okta,
        &[],
    )
    .await
    .unwrap();
    let (token, secret) = connection_token(&server, "okta scim", &okta.id)
        .await
        .unwrap();
    assert_eq!(token.connection_id, okta.id);
    assert_eq!(token.connection_name, "Okta production");
    let whoami = server
        .tokens(&secret)
        .get_current_token(pb::GetCurrentTokenRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            whoami.connection_id.as_str(),
            whoami.connection_name.as_str()
        ),
        (okta.id.as_str(), "Okta production")
    );
    // Plain tokens have no connection.
    let (plain, plain_secret) = mint(&server, &server.admin, "ops", &["scim:write"]).await;
    assert!(plain.connection_id.is_empty() && plain.connection_name.is_empty());

    // A write over gRPC and one over SCIM, both audited under the connection.
    let alice = crate::harness::create_user(&server, &secret, "alice@example.com").await;
    let scim = ScimClient::new(&server, &secret);
    let (status, _, body) = scim
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "bob@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    crate::harness::create_user(&server, &plain_secret, "carol@example.com").await;

    let created = audit_events(
        &server,
        pb::ListAuditEventsRequest {
            operation_prefix: "user.create".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(created.len(), 3);
    for event in &created[..2] {
        assert_eq!(event.principal_kind, "connection");
        assert_eq!(event.principal_id, okta.id);
        assert_eq!(event.principal_name, "Okta production");
        assert_eq!(event.token_id, token.id);
    }
    assert_eq!(created[0].target_id, alice.id);
    assert_eq!(created[2].principal_kind, "token");
    assert_eq!(created[2].principal_id, plain.id);
    assert_eq!(created[2].token_id, plain.id);

    // The principal filter matches the connection (all its tokens) or one token.
    for principal in [&okta.id, &token.id] {
        let by = audit_events(
            &server,
            pb::ListAuditEventsRequest {
                principal_id: principal.clone(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(by.len(), 2, "{principal}");
    }

    // A rename shows from the next request on, in the log and on the token.
    connections(&server, &server.admin)
        .update_connection(pb::UpdateConnectionRequest {
            id: okta.id.clone(),
            name: Some("Okta (renamed)".into()),
            ip_allow_list: None,
        })
        .await
        .unwrap();
    let dave = crate::harness::create_user(&server, &secret, "dave@example.com").await;
    let event = audit_events(
        &server,
        pb::ListAuditEventsRequest {
            target_id: dave.id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(event[0].principal_name, "Okta (renamed)");
    let listed = server
        .tokens(&server.admin)
        .list_tokens(pb::ListTokensRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tokens;
    let shown = listed.iter().find(|t| t.id == token.id).unwrap();
    assert_eq!(shown.connection_name, "Okta (renamed)");

    // The token's creation names its connection.
    let minted = audit_events(
        &server,
        pb::ListAuditEventsRequest {
            target_id: token.id.clone(),
            ..Default::default()
        },
    )
    .await;
    let changes: serde_json::Value = serde_json::from_str(&minted[0].changes_json).unwrap();
    assert_eq!(changes["connection"]["after"], okta.id.as_str());
    server.stop().await;
}

#[tokio::test]
async fn the_ip_allow_list_holds_over_grpc_and_the_in_process_scim_facade() {
    let server = TestServer::start().await;
    let okta = create(
        &server,
        &server.admin,
        "Okta production",
        pb::ConnectionKind::Okta,
        &["10.0.0.0/8"],
    )
    .await
    .unwrap();
    let (token, secret) = connection_token(&server, "okta scim", &okta.id)
        .await
        .unwrap();

    // From 127.0.0.1, outside the list: PERMISSION_DENIED over gRPC, 403 over SCIM.
    let (code, _, message) = failure(server.users(&secret).list_users(list_request()).await);
    assert_eq!(code, Code::PermissionDenied);
    assert!(message.contains("127.0.0.1"), "{message}");
    let scim = ScimClient::new(&server, &secret);
    let (status, _, body) = scim.get("/Users").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A forged address is not believed: not as gRPC metadata from an untrusted peer, not as an
    // HTTP header through the facade.
    let mut forged = tonic::Request::new(list_request());
    forged
        .metadata_mut()
        .insert("authorization", format!("Bearer {secret}").parse().unwrap());
    forged
        .metadata_mut()
        .insert(roster::CLIENT_ADDR_HEADER, "10.1.2.3".parse().unwrap());
    let plain = roster::pb::user_service_client::UserServiceClient::new(server.channel());
    let (code, _, _) = failure(plain.clone().list_users(forged).await);
    assert_eq!(code, Code::PermissionDenied);
    let (status, _, _) = scim
        .request(
            reqwest::Method::GET,
            "/Users",
            &[
                (roster::CLIENT_ADDR_HEADER, "10.1.2.3"),
                ("x-forwarded-for", "10.1.2.3"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bulk operations are checked against the same client.
    let (status, _, body) = scim
        .post(
            "/Bulk",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [{"method": "POST", "path": "/Users", "bulkId": "a",
                    "data": {"schemas": [USER_SCHEMA], "userName": "bulk@example.com"}}]
            }),
        )
        .await;
    assert!(
        status == StatusCode::FORBIDDEN || body["Operations"][0]["status"] == "403",
        "{status} {body}"
    );

    // The refusals are audited as denied, with the address.
    let denied = audit_events(
        &server,
        pb::ListAuditEventsRequest {
            outcome: "denied".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(denied.len() >= 4, "{denied:?}");
    for event in &denied {
        assert_eq!(event.reason, "ip_not_allowed:127.0.0.1");
        assert_eq!(event.principal_kind, "connection");
        assert_eq!(event.principal_name, "Okta production");
        assert_eq!(event.token_id, token.id);
    }
    assert_eq!(denied[0].operation, "user.list");

    // A list that holds the address lets the same token in, from the next request on.
    set_allow_list(&server, &okta.id, &["10.0.0.0/8", "127.0.0.1"]).await;
    server
        .users(&secret)
        .list_users(list_request())
        .await
        .expect("allowed over gRPC");
    let (status, _, body) = scim.get("/Users").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The facade passes the HTTP client's own address: 127.0.0.2 is outside 127.0.0.1/32.
    let (status, _, _) = scim
        .clone()
        .bound_to("127.0.0.2".parse().unwrap())
        .get("/Users")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    set_allow_list(&server, &okta.id, &["127.0.0.2"]).await;
    let (status, _, body) = scim
        .clone()
        .bound_to("127.0.0.2".parse().unwrap())
        .get("/Users")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = scim.get("/Users").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An empty list allows any address; tokens without a connection are never limited.
    set_allow_list(&server, &okta.id, &[]).await;
    let (status, _, _) = scim.get("/Users").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_remote_facade_forwards_the_client_address_to_a_core_that_trusts_it() {
    // The core trusts 127.0.0.1 (where the remote facade connects from) as a proxy.
    let server = TestServer::start_with(|config| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let okta = create(
        &server,
        &server.admin,
        "Okta production",
        pb::ConnectionKind::Okta,
        &["127.0.0.2"],
    )
    .await
    .unwrap();
    let (_, secret) = connection_token(&server, "okta scim", &okta.id)
        .await
        .unwrap();
    let facade = roster_services::startup::start(roster_services::config::Config {
        role: roster_services::config::Role::Facade,
        core: Some(server.grpc_url()),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    })
    .await
    .expect("a remote facade starts");
    let remote = ScimClient::at_url(&format!("http://{}/scim/v2", facade.http_addr), &secret);

    // The facade connects to the core from 127.0.0.1 and forwards the client's address.
    let (status, _, body) = remote
        .clone()
        .bound_to("127.0.0.2".parse().unwrap())
        .get("/Users")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = remote.get("/Users").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "127.0.0.1 is not on the list"
    );

    // Over gRPC, the trusted peer's header is believed...
    let forged = |address: &str| {
        let mut request = tonic::Request::new(list_request());
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {secret}").parse().unwrap());
        request
            .metadata_mut()
            .insert(roster::CLIENT_ADDR_HEADER, address.parse().unwrap());
        request
    };
    let mut plain = roster::pb::user_service_client::UserServiceClient::new(server.channel());
    plain
        .list_users(forged("127.0.0.2"))
        .await
        .expect("a trusted proxy's forwarded address counts");
    // ...but not from an untrusted peer (127.0.0.3 is not in the trusted list).
    let channel = tonic::transport::Endpoint::from_shared(server.grpc_url())
        .unwrap()
        .local_address(Some("127.0.0.3".parse::<IpAddr>().unwrap()))
        .connect()
        .await
        .expect("connect from 127.0.0.3");
    let mut untrusted = roster::pb::user_service_client::UserServiceClient::new(channel);
    let (code, _, message) = failure(untrusted.list_users(forged("127.0.0.2")).await);
    assert_eq!(code, Code::PermissionDenied);
    assert!(message.contains("127.0.0.3"), "{message}");
    facade.shutdown().await.expect("the facade stops");
    server.stop().await;
}

#[tokio::test]
async fn rosterctl_manages_connections_and_mints_their_tokens_by_name() {
    let server = TestServer::start().await;
    let (code, created, stderr) = rosterctl_json(
        &server,
        &server.admin,
        &[
            "connection",
            "create",
            "Okta production",
            "--kind",
            "okta",
            "--allow-ip",
            "10.0.0.0/8",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(created["name"], "Okta production");
    assert_eq!(created["kind"], "okta");
    assert_eq!(created["ipAllowList"], json!(["10.0.0.0/8"]));
    let id = created["id"].as_str().unwrap().to_owned();

    let (code, _, stderr) = rosterctl_json(
        &server,
        &server.admin,
        &[
            "connection",
            "create",
            "bad",
            "--kind",
            "entra",
            "--allow-ip",
            "10.0.0.1/8",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("10.0.0.0/8"), "{stderr}");

    let (code, listed, _) = rosterctl_json(&server, &server.admin, &["connection", "list"]).await;
    assert_eq!(code, 0);
    assert_eq!(listed["connections"][0]["id"], id.as_str());

    let (code, token, stderr) = rosterctl_json(
        &server,
        &server.admin,
        &[
            "token",
            "create",
            "okta scim",
            "--scope",
            "scim:read",
            "--connection",
            "okta PRODUCTION",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(token["token"]["connectionId"], id.as_str());
    assert_eq!(token["token"]["connectionName"], "Okta production");

    let (code, updated, stderr) = rosterctl_json(
        &server,
        &server.admin,
        &[
            "connection",
            "update",
            &id,
            "--name",
            "Okta EU",
            "--allow-any-ip",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(updated["name"], "Okta EU");
    assert_eq!(updated["ipAllowList"], json!([]));
    let (code, got, _) =
        rosterctl_json(&server, &server.admin, &["connection", "get", "Okta EU"]).await;
    assert_eq!(code, 0);
    assert_eq!(got["id"], id.as_str());

    let (code, deleted, stderr) =
        rosterctl_json(&server, &server.admin, &["connection", "delete", "okta eu"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(deleted["revokedTokens"], 1);
    let (code, _, stderr) =
        rosterctl_json(&server, &server.admin, &["connection", "get", &id]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("NOT_FOUND"), "{stderr}");
    server.stop().await;
}

/// The `id`s of a SCIM list reply.
fn ids(reply: &crate::scim_client::Reply) -> Vec<String> {
    crate::scim_client::assert_list(reply)
        .iter()
        .map(|resource| resource["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_connection_sees_and_filters_its_own_external_ids() {
    use crate::scim_client::{GROUP_SCHEMA, filtered, patch_op};
    let server = TestServer::start().await;
    let okta = create(
        &server,
        &server.admin,
        "Okta",
        pb::ConnectionKind::Okta,
        &[],
    )
    .await
    .unwrap();
    let entra = create(
        &server,
        &server.admin,
        "Entra",
        pb::ConnectionKind::Entra,
        &[],
    )
    .await
    .unwrap();
    let (_, okta_secret) = connection_token(&server, "okta", &okta.id).await.unwrap();
    let (_, entra_secret) = connection_token(&server, "entra", &entra.id).await.unwrap();
    let okta_scim = ScimClient::new(&server, &okta_secret);
    let entra_scim = ScimClient::new(&server, &entra_secret);
    let admin_scim = ScimClient::new(&server, &server.admin);

    // Okta creates Alice with its externalId; Entra gives the same person its own.
    let (status, _, alice) = okta_scim
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "alice@example.com", "externalId": "00u-okta-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");
    assert_eq!(alice["externalId"], "00u-okta-1");
    let alice_id = alice["id"].as_str().unwrap().to_owned();
    let (status, _, patched) = entra_scim
        .patch(
            &format!("/Users/{alice_id}"),
            &patch_op(json!([{"op": "Replace", "path": "externalId", "value": "entra-guid-9"}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["externalId"], "entra-guid-9");

    // Each sees its own; the default namespace (tokens without a connection) sees neither.
    let (_, _, seen) = okta_scim.get(&format!("/Users/{alice_id}")).await;
    assert_eq!(seen["externalId"], "00u-okta-1");
    let (_, _, seen) = entra_scim.get(&format!("/Users/{alice_id}")).await;
    assert_eq!(seen["externalId"], "entra-guid-9");
    let (_, _, seen) = admin_scim.get(&format!("/Users/{alice_id}")).await;
    assert!(seen.get("externalId").is_none(), "{seen}");

    // Filters see only their own namespace.
    let by = |client: &ScimClient, value: &str| {
        let client = client.clone();
        let path = filtered("/Users", &format!("externalId eq \"{value}\""));
        async move { ids(&client.get(&path).await) }
    };
    assert_eq!(by(&okta_scim, "00u-okta-1").await, [alice_id.as_str()]);
    assert!(by(&okta_scim, "entra-guid-9").await.is_empty());
    assert_eq!(by(&entra_scim, "entra-guid-9").await, [alice_id.as_str()]);
    assert!(by(&entra_scim, "00u-okta-1").await.is_empty());
    assert!(by(&admin_scim, "00u-okta-1").await.is_empty());
    let present = ids(&entra_scim.get(&filtered("/Users", "externalId pr")).await);
    assert_eq!(present, [alice_id.as_str()]);
    let (status, _, _) = okta_scim.get("/Users?sortBy=externalId").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "sorting by a namespaced externalId works"
    );

    // Unique per namespace: Okta cannot reuse its value, Entra and the default namespace can.
    let (status, _, body) = okta_scim
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "bob@example.com", "externalId": "00u-okta-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["scimType"], "uniqueness");
    let (status, _, bob) = entra_scim
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "bob@example.com", "externalId": "00u-okta-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    let (status, _, carol) = admin_scim
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "carol@example.com", "externalId": "00u-okta-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{carol}");
    assert_eq!(
        by(&admin_scim, "00u-okta-1").await,
        [carol["id"].as_str().unwrap()]
    );
    assert_eq!(by(&okta_scim, "00u-okta-1").await, [alice_id.as_str()]);

    // A PUT by Okta keeps Entra's value and the column untouched.
    let (status, _, replaced) = okta_scim
        .put(
            &format!("/Users/{alice_id}"),
            &json!({"schemas": [USER_SCHEMA], "userName": "alice@example.com", "externalId": "00u-okta-2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["externalId"], "00u-okta-2");
    assert_eq!(by(&entra_scim, "entra-guid-9").await, [alice_id.as_str()]);

    // The gRPC lookup by externalId uses the caller's namespace too.
    let found = server
        .users(&entra_secret)
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::ExternalId(
                "entra-guid-9".into(),
            )),
            include_groups: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.id, alice_id);
    let (code, _, _) = failure(
        server
            .users(&okta_secret)
            .get_user(pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::ExternalId(
                    "entra-guid-9".into(),
                )),
                include_groups: false,
            })
            .await,
    );
    assert_eq!(code, Code::NotFound);

    // Groups likewise.
    let (status, _, group) = okta_scim
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering", "externalId": "okta-g"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().unwrap().to_owned();
    let (status, _, body) = entra_scim
        .patch(
            &format!("/Groups/{group_id}"),
            &patch_op(json!([{"op": "replace", "path": "externalId", "value": "entra-g"}])),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let (_, _, seen) = okta_scim.get(&format!("/Groups/{group_id}")).await;
    assert_eq!(seen["externalId"], "okta-g");
    let (_, _, seen) = entra_scim.get(&format!("/Groups/{group_id}")).await;
    assert_eq!(seen["externalId"], "entra-g");
    let groups_by = |client: &ScimClient, value: &str| {
        let client = client.clone();
        let path = filtered("/Groups", &format!("externalId eq \"{value}\""));
        async move { ids(&client.get(&path).await) }
    };
    assert_eq!(groups_by(&entra_scim, "entra-g").await, [group_id.as_str()]);
    assert!(groups_by(&entra_scim, "okta-g").await.is_empty());
    assert!(groups_by(&admin_scim, "okta-g").await.is_empty());

    // The audit log records each connection's own value.
    let created = audit_events(
        &server,
        pb::ListAuditEventsRequest {
            target_id: alice_id.clone(),
            ..Default::default()
        },
    )
    .await;
    let changes: Vec<serde_json::Value> = created
        .iter()
        .map(|event| serde_json::from_str(&event.changes_json).unwrap())
        .collect();
    assert_eq!(changes[0]["externalId"]["after"], "00u-okta-1");
    assert_eq!(
        changes[1]["externalId"],
        json!({"before": null, "after": "entra-guid-9"})
    );

    // Deleting a user or a group removes its values in every namespace.
    let (status, _, _) = okta_scim.delete(&format!("/Users/{alice_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = entra_scim.delete(&format!("/Groups/{group_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let left = crate::harness::query_text(
        &server.database_url,
        &format!(
            "SELECT resource_id FROM external_ids WHERE resource_id IN ('{alice_id}', '{group_id}')"
        ),
    )
    .await;
    assert!(left.is_empty(), "{left:?}");
    assert!(by(&entra_scim, "entra-guid-9").await.is_empty());
    server.stop().await;
}
