//! API tokens (SECURITY-TESTS 5.E): the secret's format, shown once and stored nowhere; revocation
//! and expiry take effect at once; scopes can only be handed down; tokens stay in their
//! organization.

use crate::harness::{TestServer, crc32, dump_rows, failure, is_lower_hex, mint, query_text};
use roster::pb;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tonic::Code;

/// Checks `^roster_[0-9a-f]{32}_[0-9a-f]{48}[0-9a-f]{8}$` by hand; returns (id, random, checksum).
fn split_secret(secret: &str) -> (&str, &str, &str) {
    let body = secret
        .strip_prefix("roster_")
        .unwrap_or_else(|| panic!("{secret} lacks the roster_ prefix"));
    assert_eq!(body.len(), 32 + 1 + 48 + 8, "{secret} has the wrong length");
    let (id, rest) = body.split_at(32);
    let rest = rest
        .strip_prefix('_')
        .unwrap_or_else(|| panic!("{secret} lacks the _ after the id"));
    let (random, checksum) = rest.split_at(48);
    for (part, text) in [("id", id), ("random part", random), ("checksum", checksum)] {
        assert!(
            is_lower_hex(text),
            "the {part} of {secret} is not lowercase hex"
        );
    }
    (id, random, checksum)
}

fn create(
    name: &str,
    scopes: &[&str],
    expires_at: Option<prost_types::Timestamp>,
) -> pb::CreateTokenRequest {
    pb::CreateTokenRequest {
        name: name.into(),
        scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
        expires_at,
        connection_id: String::new(),
    }
}

fn timestamp_in(offset_seconds: i64) -> prost_types::Timestamp {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    prost_types::Timestamp {
        seconds: now.as_secs() as i64 + offset_seconds,
        // Whole microseconds: what the server keeps.
        nanos: now.subsec_micros() as i32 * 1000,
    }
}

/// The instant a timestamp names.
fn instant(timestamp: prost_types::Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::new(timestamp.seconds as u64, timestamp.nanos as u32)
}

#[tokio::test]
async fn created_secrets_have_the_documented_format_and_are_shown_only_once() {
    let server = TestServer::start().await;
    let mut admin = server.tokens(&server.admin);
    let created = admin
        .create_token(create(
            "Okta production",
            &["scim:read", "scim:write"],
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    let secret = created.secret.clone();
    let token = created.token.clone().expect("the token");
    let (id, random, checksum) = split_secret(&secret);
    assert_eq!(
        id,
        token.id.replace('-', ""),
        "the secret embeds the token id"
    );
    assert_eq!(
        checksum,
        format!("{:08x}", crc32(&secret.as_bytes()[7..88])),
        "the checksum is CRC-32 of <id>_<random>"
    );
    assert_eq!(
        token.secret_prefix,
        secret[..15],
        "secret_prefix is roster_ and 8 hex digits of the id"
    );
    assert_eq!(
        (token.name.as_str(), token.scopes.as_slice()),
        (
            "Okta production",
            &["scim:read".to_owned(), "scim:write".to_owned()][..]
        )
    );
    assert_eq!(token.organization_id, server.org_id);
    assert!(
        token.revoked_at.is_none() && token.expires_at.is_none() && token.last_used_at.is_none(),
        "{token:?}"
    );

    // Another token has another id and random part.
    let other = admin
        .create_token(create("other", &["scim:read"], None))
        .await
        .unwrap()
        .into_inner()
        .secret;
    let (other_id, other_random, _) = split_secret(&other);
    assert_ne!(other_id, id);
    assert_ne!(other_random, random);
    // The bootstrap secret has the same format.
    split_secret(&server.admin);

    // No later response carries the secret or its random part.
    let listed = admin
        .list_tokens(pb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.tokens.iter().any(|listed| listed.id == token.id),
        "{listed:?}"
    );
    let current = server
        .tokens(&secret)
        .get_current_token(pb::GetCurrentTokenRequest {})
        .await
        .unwrap()
        .into_inner();
    let revoked = admin
        .revoke_token(pb::RevokeTokenRequest {
            id: token.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let after = admin
        .list_tokens(pb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner();
    for (what, debug) in [
        ("ListTokens", format!("{listed:?}")),
        ("GetCurrentToken", format!("{current:?}")),
        ("RevokeToken", format!("{revoked:?}")),
        ("ListTokens after revocation", format!("{after:?}")),
    ] {
        assert!(!debug.contains(&secret), "{what} returns the secret");
        assert!(
            !debug.contains(random),
            "{what} returns the secret's random part"
        );
        assert!(
            !debug.contains(&server.admin[40..88]),
            "{what} returns the admin secret's random part"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn the_database_holds_no_secret() {
    let server = TestServer::start().await;
    let (_, b_admin) = server.new_org("org-b").await;
    let mut secrets = vec![server.admin.clone(), b_admin.clone()];
    secrets.push(
        mint(&server, &server.admin, "reader", &["scim:read"])
            .await
            .1,
    );
    secrets.push(mint(&server, &b_admin, "b writer", &["scim:write"]).await.1);
    let expiring = server
        .tokens(&server.admin)
        .create_token(create("expiring", &["scim:read"], Some(timestamp_in(3600))))
        .await
        .unwrap()
        .into_inner();
    secrets.push(expiring.secret);
    // Use and revoke some, so every column has been written.
    for secret in &secrets {
        server
            .tokens(secret)
            .get_current_token(pb::GetCurrentTokenRequest {})
            .await
            .expect("the token works");
    }
    let revoked = mint(&server, &server.admin, "revoked", &["scim:read"]).await;
    server
        .tokens(&server.admin)
        .revoke_token(pb::RevokeTokenRequest { id: revoked.0.id })
        .await
        .unwrap();
    secrets.push(revoked.1);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let hashes = query_text(&server.database_url, "SELECT secret_hash FROM api_tokens").await;
    assert_eq!(hashes.len(), secrets.len(), "one row per token: {hashes:?}");
    for hash in &hashes {
        assert!(
            hash.len() == 64 && is_lower_hex(hash),
            "secret_hash is not 64 hex digits: {hash}"
        );
    }
    let rows = dump_rows(&server.database_url).await;
    let token_rows: Vec<&String> = rows
        .iter()
        .filter(|row| row.starts_with("api_tokens: "))
        .collect();
    assert_eq!(token_rows.len(), secrets.len(), "{rows:#?}");
    for secret in &secrets {
        let (_, random, checksum) = split_secret(secret);
        for row in &rows {
            assert!(
                !row.contains(secret.as_str()),
                "the database stores a secret: {row}"
            );
            assert!(
                !row.contains(random),
                "the database stores a secret's random part: {row}"
            );
            assert!(!row.contains(&format!("{random}{checksum}")), "{row}");
        }
    }
    // On SQLite, not even the raw file (or its write-ahead log) holds one.
    if let Some(path) = server.database_url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap();
        for file in [path.to_owned(), format!("{path}-wal")] {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            for secret in &secrets {
                let (_, random, _) = split_secret(secret);
                assert!(
                    !bytes
                        .windows(random.len())
                        .any(|window| window == random.as_bytes()),
                    "{file} holds a secret"
                );
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_revoked_token_is_refused_on_the_very_next_call() {
    let server = TestServer::start().await;
    let (token, secret) = mint(&server, &server.admin, "soon revoked", &["scim:read"]).await;
    let mut users = server.users(&secret);
    users
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect("works before revocation");
    let mut admin = server.tokens(&server.admin);
    let revoked = admin
        .revoke_token(pb::RevokeTokenRequest {
            id: token.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.id, token.id);
    let revoked_at = revoked.revoked_at.expect("revoked_at is set");
    let (code, _, _) = failure(users.list_users(pb::ListUsersRequest::default()).await);
    assert_eq!(code, Code::Unauthenticated);
    let (code, _, _) = failure(
        server
            .tokens(&secret)
            .get_current_token(pb::GetCurrentTokenRequest {})
            .await,
    );
    assert_eq!(code, Code::Unauthenticated);

    // Revoking again succeeds and keeps the first revocation time.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = admin
        .revoke_token(pb::RevokeTokenRequest {
            id: token.id.clone(),
        })
        .await
        .expect("revoke is idempotent")
        .into_inner();
    assert_eq!(
        again.revoked_at,
        Some(revoked_at),
        "a second revocation moved revoked_at"
    );
    let (code, _, _) = failure(users.list_users(pb::ListUsersRequest::default()).await);
    assert_eq!(code, Code::Unauthenticated);

    // Only include_revoked lists it.
    let active = admin
        .list_tokens(pb::ListTokensRequest {
            include_revoked: false,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert!(
        active.iter().all(|listed| listed.id != token.id),
        "{active:?}"
    );
    let all = admin
        .list_tokens(pb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens;
    let listed = all
        .iter()
        .find(|listed| listed.id == token.id)
        .expect("listed with include_revoked");
    assert_eq!(listed.revoked_at, Some(revoked_at));
    // A revoked admin token cannot mint a replacement for itself.
    let (admin_token, admin_secret) =
        mint(&server, &server.admin, "second admin", &["admin"]).await;
    admin
        .revoke_token(pb::RevokeTokenRequest { id: admin_token.id })
        .await
        .unwrap();
    let (code, _, _) = failure(
        server
            .tokens(&admin_secret)
            .create_token(create("comeback", &["admin"], None))
            .await,
    );
    assert_eq!(code, Code::Unauthenticated);
    server.stop().await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let server = TestServer::start().await;
    let expires_at = timestamp_in(2);
    let created = server
        .tokens(&server.admin)
        .create_token(create("short-lived", &["scim:read"], Some(expires_at)))
        .await
        .expect("an expiry in the future is accepted")
        .into_inner();
    assert_eq!(created.token.unwrap().expires_at, Some(expires_at));
    let mut users = server.users(&created.secret);
    users
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect("works before expiry");
    let deadline = instant(expires_at) + Duration::from_millis(100);
    if let Ok(wait) = deadline.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let (code, _, _) = failure(users.list_users(pb::ListUsersRequest::default()).await);
    assert_eq!(code, Code::Unauthenticated);
    let (code, _, _) = failure(
        server
            .tokens(&created.secret)
            .get_current_token(pb::GetCurrentTokenRequest {})
            .await,
    );
    assert_eq!(code, Code::Unauthenticated);
    server.stop().await;
}

#[tokio::test]
async fn invalid_token_requests_are_rejected() {
    let server = TestServer::start().await;
    let (_, b_admin) = server.new_org("org-b").await;
    let mut admin = server.tokens(&server.admin);
    let cases = [
        (
            "an expiry in the past",
            create("past", &["scim:read"], Some(timestamp_in(-60))),
            Code::InvalidArgument,
            "expires_at",
        ),
        (
            "an expiry of now",
            create("now", &["scim:read"], Some(timestamp_in(0))),
            Code::InvalidArgument,
            "expires_at",
        ),
        (
            "an unknown scope",
            create("root", &["root"], None),
            Code::InvalidArgument,
            "scopes",
        ),
        (
            "a known and an unknown scope",
            create("mixed", &["scim:read", "scim:delete"], None),
            Code::InvalidArgument,
            "scopes",
        ),
        (
            "two scopes in one string",
            create("joined", &["scim:read admin"], None),
            Code::InvalidArgument,
            "scopes",
        ),
        (
            "no scope",
            create("none", &[], None),
            Code::InvalidArgument,
            "scopes",
        ),
        (
            "no name",
            create("", &["scim:read"], None),
            Code::InvalidArgument,
            "name",
        ),
    ];
    for (what, request, code, field) in cases {
        let (actual, actual_field, message) = failure(admin.create_token(request).await);
        assert_eq!(
            (actual, actual_field.as_str()),
            (code, field),
            "{what}: {message}"
        );
    }
    // Least privilege: an organization admin cannot hand out `system`, even with other scopes.
    let mut b_tokens = server.tokens(&b_admin);
    for scopes in [
        &["system"][..],
        &["admin", "system"][..],
        &["scim:read", "system"][..],
    ] {
        let (code, _, message) = failure(
            b_tokens
                .create_token(create("escalate", scopes, None))
                .await,
        );
        assert_eq!(code, Code::PermissionDenied, "{scopes:?}: {message}");
    }
    b_tokens
        .create_token(create("delegate", &["admin", "scim:read"], None))
        .await
        .expect("an admin grants admin and SCIM scopes");
    // A scim:write token cannot mint tokens at all, not even weaker ones.
    let writer = server.token(&["scim:write"]).await;
    for scopes in [&["scim:read"][..], &["scim:write"][..], &["admin"][..]] {
        let (code, _, _) = failure(
            server
                .tokens(&writer)
                .create_token(create("from writer", scopes, None))
                .await,
        );
        assert_eq!(code, Code::PermissionDenied, "{scopes:?}");
    }
    // Nothing above was stored (bootstrap, writer; B: admin, delegate).
    let listed = admin
        .list_tokens(pb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let listed = b_tokens
        .list_tokens(pb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|token| !token.scopes.iter().any(|scope| scope == "system")),
        "{listed:?}"
    );
    // The system admin can grant system.
    admin
        .create_token(create("second system", &["system"], None))
        .await
        .expect("a system token grants system");
    server.stop().await;
}

#[tokio::test]
async fn last_used_at_is_recorded_after_use() {
    let server = TestServer::start().await;
    let (token, secret) = mint(&server, &server.admin, "used", &["scim:read"]).await;
    let (unused, _) = mint(&server, &server.admin, "unused", &["scim:read"]).await;
    let mut admin = server.tokens(&server.admin);
    let find = |tokens: &[pb::ApiToken], id: &str| {
        tokens
            .iter()
            .find(|token| token.id == id)
            .cloned()
            .expect("listed")
    };
    let listed = admin
        .list_tokens(pb::ListTokensRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert_eq!(
        find(&listed, &token.id).last_used_at,
        None,
        "set before any use"
    );

    server
        .users(&secret)
        .list_users(pb::ListUsersRequest::default())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let last_used = loop {
        let listed = admin
            .list_tokens(pb::ListTokensRequest::default())
            .await
            .unwrap()
            .into_inner()
            .tokens;
        if let Some(last_used) = find(&listed, &token.id).last_used_at {
            assert_eq!(
                find(&listed, &unused.id).last_used_at,
                None,
                "an unused token got last_used_at"
            );
            break last_used;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "last_used_at not set 2 s after use"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let created = token.created.unwrap();
    // The contract allows coarsening to the minute.
    assert!(
        last_used.seconds >= created.seconds - 60,
        "{last_used:?} is long before {created:?}"
    );
    assert!(
        last_used.seconds <= timestamp_in(1).seconds,
        "{last_used:?} is in the future"
    );
    server.stop().await;
}

#[tokio::test]
async fn get_current_token_describes_the_caller() {
    let server = TestServer::start().await;
    let admin_self = server
        .tokens(&server.admin)
        .get_current_token(pb::GetCurrentTokenRequest {})
        .await
        .unwrap()
        .into_inner();
    let (token, secret) = mint(&server, &server.admin, "ci", &["scim:write"]).await;
    let current = server
        .tokens(&secret)
        .get_current_token(pb::GetCurrentTokenRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.id, token.id);
    assert_eq!(current.name, "ci");
    assert_eq!(current.scopes, ["scim:write"]);
    assert_eq!(current.organization_id, server.org_id);
    assert_eq!(current.secret_prefix, secret[..15]);
    assert_eq!(current.created_by, format!("token:{}", admin_self.id));
    assert_eq!(current.created, token.created);
    assert_eq!(admin_self.created_by, "bootstrap");
    // An organization's admin describes itself, in its own organization.
    let (b_org, b_admin) = server.new_org("org-b").await;
    let b_self = server
        .tokens(&b_admin)
        .get_current_token(pb::GetCurrentTokenRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b_self.organization_id, b_org);
    assert_eq!(b_self.scopes, ["admin"]);
    assert_ne!(b_self.id, admin_self.id);
    server.stop().await;
}

#[tokio::test]
async fn tokens_cannot_be_managed_across_organizations() {
    let server = TestServer::start().await;
    let (_, a_admin) = server.new_org("org-a").await;
    let (_, b_admin) = server.new_org("org-b").await;
    let (a_token, a_secret) = mint(&server, &a_admin, "a reader", &["scim:read"]).await;
    let a_admin_token = server
        .tokens(&a_admin)
        .get_current_token(pb::GetCurrentTokenRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut b_tokens = server.tokens(&b_admin);
    for id in [&a_token.id, &a_admin_token.id] {
        let foreign = b_tokens
            .revoke_token(pb::RevokeTokenRequest { id: id.clone() })
            .await
            .expect_err("B revokes A's token");
        let unknown = b_tokens
            .revoke_token(pb::RevokeTokenRequest {
                id: uuid::Uuid::new_v4().to_string(),
            })
            .await
            .expect_err("unknown token");
        assert_eq!(foreign.code(), Code::NotFound, "{foreign:?}");
        assert_eq!(
            (foreign.message(), foreign.details()),
            (unknown.message(), unknown.details())
        );
    }
    // The system admin of the bootstrap organization is no exception.
    let (code, _, _) = failure(
        server
            .tokens(&server.admin)
            .revoke_token(pb::RevokeTokenRequest {
                id: a_token.id.clone(),
            })
            .await,
    );
    assert_eq!(code, Code::NotFound);
    // A's tokens are intact and still work.
    server
        .users(&a_secret)
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect("A's token still works");
    server
        .tokens(&a_admin)
        .list_tokens(pb::ListTokensRequest::default())
        .await
        .expect("A's admin still works");
    let listed = server
        .tokens(&a_admin)
        .list_tokens(pb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert!(
        listed.iter().all(|token| token.revoked_at.is_none()),
        "{listed:?}"
    );
    assert_eq!(listed.len(), 2);
    server.stop().await;
}
