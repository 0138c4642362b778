//! The domain-verified email rules (issue 5 item 5; SECURITY-TESTS.md §1.2 and §5.B items 8-11)
//! on every write path: SCIM POST adopting an account, SCIM PUT, PATCH add, PATCH replace with
//! path `emails`, path-less PATCH replace with a value object, PATCH `emails[type eq
//! "work"].value`, and gRPC ReplaceUser; with single-organization accounts and accounts shared
//! with another organization. A refusal is 403 (PERMISSION_DENIED on gRPC) with a detail naming
//! the domain, and the stored user is unchanged.
//!
//! Organization A (the bootstrap organization) makes the changes and has verified `example.com`;
//! organization B has verified `globex.io`; nobody has verified `unverified.org`.

use crate::harness::{Bearer, TestServer, failure, verify_domain};
use crate::scim_client::{ScimClient, USER_SCHEMA, assert_error, filtered, patch_op};
use reqwest::StatusCode;
use roster::pb;
use roster::pb::audit_service_client::AuditServiceClient;
use roster::pb::get_user_request::Lookup;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use tonic::Code;

const OWN: &str = "example.com";
const THEIRS: &str = "globex.io";
const NOBODYS: &str = "unverified.org";

/// The address a change moves to.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// A new address in A's verified domain.
    OwnVerified,
    /// A new address in A's verified domain, written `New@EXAMPLE.com`.
    CaseVariant,
    /// The address the user already has, in another case: no change at all.
    SameAddressOtherCase,
    /// A domain nobody verified.
    Unverified,
    /// B's verified domain.
    OtherOrganizations,
    /// `example.com.evil.io`: a suffix of A's domain is not A's domain.
    LookAlike,
}

const TARGETS: [Target; 6] = [
    Target::OwnVerified,
    Target::CaseVariant,
    Target::SameAddressOtherCase,
    Target::Unverified,
    Target::OtherOrganizations,
    Target::LookAlike,
];

impl Target {
    /// The address to write, for a case numbered `n` whose user has `current`.
    fn address(self, n: usize, current: &str) -> String {
        match self {
            Target::OwnVerified => format!("new{n}@{OWN}"),
            Target::CaseVariant => format!("New{n}@EXAMPLE.com"),
            Target::SameAddressOtherCase => current.to_uppercase(),
            Target::Unverified => format!("new{n}@{NOBODYS}"),
            Target::OtherOrganizations => format!("new{n}@{THEIRS}"),
            Target::LookAlike => format!("new{n}@example.com.evil.io"),
        }
    }

    /// The domain a refusal names when the target itself is refused.
    fn refused_domain(self) -> Option<&'static str> {
        match self {
            Target::OwnVerified | Target::CaseVariant | Target::SameAddressOtherCase => None,
            Target::Unverified => Some(NOBODYS),
            Target::OtherOrganizations => Some(THEIRS),
            Target::LookAlike => Some("example.com.evil.io"),
        }
    }
}

/// The write paths that change an existing user.
#[derive(Clone, Copy, Debug)]
enum Path {
    ScimPut,
    PatchAdd,
    PatchReplaceEmails,
    PatchPathlessValue,
    PatchWorkValue,
    GrpcReplace,
}

const PATHS: [Path; 6] = [
    Path::ScimPut,
    Path::PatchAdd,
    Path::PatchReplaceEmails,
    Path::PatchPathlessValue,
    Path::PatchWorkValue,
    Path::GrpcReplace,
];

impl Path {
    /// Whether the path drops the user's current address (PATCH add keeps it).
    fn removes_current(self) -> bool {
        !matches!(self, Path::PatchAdd)
    }
}

/// Who else holds the user's account.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Start {
    /// Only A: the current address is in a domain nobody verified.
    SingleOrganization,
    /// A and B, the account's address in A's verified domain (B created it first, A adopted it).
    SharedInOwnDomain,
    /// A and B, the account's address in B's verified domain (A created it, B adopted it): A may
    /// add addresses but not change that one.
    SharedInTheirDomain,
}

struct World {
    server: TestServer,
    a: ScimClient,
    b_admin: String,
    counter: AtomicUsize,
}

impl World {
    async fn start() -> Self {
        let server = TestServer::start().await;
        let (b_org, b_admin) = server.new_org("globex").await;
        verify_domain(&server, &server.admin, &server.org_id, OWN).await;
        verify_domain(&server, &b_admin, &b_org, THEIRS).await;
        let a = ScimClient::new(&server, &server.admin);
        World {
            server,
            a,
            b_admin,
            counter: AtomicUsize::new(0),
        }
    }

    fn next(&self) -> usize {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    async fn create(&self, secret: &str, user_name: &str, email: &str) -> pb::User {
        self.server
            .users(secret)
            .create_user(pb::CreateUserRequest {
                user: Some(user_with(user_name, email)),
            })
            .await
            .unwrap_or_else(|status| panic!("create {user_name} <{email}>: {status:?}"))
            .into_inner()
    }

    /// A user of A in the given situation; returns it and its address.
    async fn user_of_a(&self, start: Start, n: usize) -> (pb::User, String) {
        let handle = format!("h{n}");
        let address = match start {
            Start::SingleOrganization => format!("h{n}@{NOBODYS}"),
            Start::SharedInOwnDomain => format!("h{n}@{OWN}"),
            Start::SharedInTheirDomain => format!("h{n}@{THEIRS}"),
        };
        let user = match start {
            Start::SingleOrganization => self.create(&self.server.admin, &handle, &address).await,
            Start::SharedInOwnDomain => {
                self.create(&self.b_admin, &handle, &address).await;
                self.create(&self.server.admin, &handle, &address).await
            }
            Start::SharedInTheirDomain => {
                let user = self.create(&self.server.admin, &handle, &address).await;
                self.create(&self.b_admin, &handle, &address).await;
                user
            }
        };
        (user, address)
    }

    async fn get(&self, id: &str) -> pb::User {
        self.server
            .users(&self.server.admin)
            .get_user(pb::GetUserRequest {
                lookup: Some(Lookup::Id(id.into())),
                include_groups: false,
            })
            .await
            .expect("get user")
            .into_inner()
    }

    /// Sends the change; returns (HTTP status or the gRPC code mapped to one, detail).
    async fn change(&self, path: Path, user: &pb::User, target: &str) -> (StatusCode, String) {
        let url = format!("/Users/{}", user.id);
        let work = json!([{"value": target, "type": "work", "primary": true}]);
        let reply = match path {
            Path::ScimPut => {
                let body = json!({
                    "schemas": [USER_SCHEMA], "userName": user.user_name, "emails": work,
                });
                self.a.put(&url, &body).await
            }
            Path::PatchAdd => {
                let operation = json!([{
                    "op": "add", "path": "emails", "value": [{"value": target, "type": "home"}],
                }]);
                self.a.patch(&url, &patch_op(operation)).await
            }
            Path::PatchReplaceEmails => {
                let operation = json!([{"op": "replace", "path": "emails", "value": work}]);
                self.a.patch(&url, &patch_op(operation)).await
            }
            Path::PatchPathlessValue => {
                let operation = json!([{"op": "replace", "value": {"emails": work}}]);
                self.a.patch(&url, &patch_op(operation)).await
            }
            Path::PatchWorkValue => {
                let operation = json!([{
                    "op": "replace", "path": r#"emails[type eq "work"].value"#, "value": target,
                }]);
                self.a.patch(&url, &patch_op(operation)).await
            }
            Path::GrpcReplace => {
                let mut replacement = user.clone();
                replacement.meta = None;
                replacement.emails = vec![email(target)];
                let result = self
                    .server
                    .users(&self.server.admin)
                    .replace_user(pb::ReplaceUserRequest {
                        user: Some(replacement),
                        expected_version: None,
                    })
                    .await;
                return match result {
                    Ok(_) => (StatusCode::OK, String::new()),
                    Err(status) => {
                        let (code, field, message) = failure::<()>(Err(status));
                        assert_eq!(code, Code::PermissionDenied, "{message}");
                        assert!(field == "emails" || field == "user_name", "{field}");
                        (StatusCode::FORBIDDEN, message)
                    }
                };
            }
        };
        let detail = reply.2["detail"].as_str().unwrap_or_default().to_owned();
        if reply.0 == StatusCode::FORBIDDEN {
            assert_error(&reply, StatusCode::FORBIDDEN, None);
        }
        (reply.0, detail)
    }
}

fn email(value: &str) -> pb::MultiValue {
    pb::MultiValue {
        value: value.into(),
        r#type: Some("work".into()),
        display: None,
        primary: true,
    }
}

fn user_with(user_name: &str, address: &str) -> pb::User {
    pb::User {
        user_name: user_name.into(),
        emails: vec![email(address)],
        ..Default::default()
    }
}

/// What the rules say: `None` when the change is allowed, else the domain the refusal names.
fn expected(start: Start, path: Path, target: Target) -> Option<&'static str> {
    if let Some(domain) = target.refused_domain() {
        return Some(domain);
    }
    let changes = !matches!(target, Target::SameAddressOtherCase);
    (changes && start == Start::SharedInTheirDomain && path.removes_current()).then_some(THEIRS)
}

/// Runs every path × target for users of A in `start`.
async fn matrix(start: Start) {
    let world = World::start().await;
    let mut checked = 0;
    for path in PATHS {
        for target in TARGETS {
            let n = world.next();
            let (user, current) = world.user_of_a(start, n).await;
            let before = world.get(&user.id).await;
            let address = target.address(n, &current);
            let (status, detail) = world.change(path, &before, &address).await;
            let case = format!("{start:?} {path:?} {target:?} ({address}): {status} {detail}");
            match expected(start, path, target) {
                None => {
                    assert_eq!(status, StatusCode::OK, "{case}");
                    let after = world.get(&user.id).await;
                    let stored: Vec<String> = after
                        .emails
                        .iter()
                        .map(|email| email.value.to_lowercase())
                        .collect();
                    assert!(stored.contains(&address.to_lowercase()), "{case}");
                }
                Some(domain) => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{case}");
                    assert!(
                        detail.starts_with(&format!(
                            "{domain} is not a verified domain of this organization"
                        )),
                        "{case}"
                    );
                    assert_eq!(world.get(&user.id).await, before, "unchanged after {case}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, PATHS.len() * TARGETS.len());
    world.server.stop().await;
}

#[tokio::test]
async fn email_changes_of_single_organization_users() {
    matrix(Start::SingleOrganization).await;
}

#[tokio::test]
async fn email_changes_of_accounts_shared_in_the_own_domain() {
    matrix(Start::SharedInOwnDomain).await;
}

#[tokio::test]
async fn email_changes_of_accounts_shared_in_another_organizations_domain() {
    matrix(Start::SharedInTheirDomain).await;
}

#[tokio::test]
async fn a_create_adopts_another_organizations_account_only_in_a_verified_domain() {
    let world = World::start().await;
    // (address B holds, address A posts, the domain a refusal names)
    let cases = [
        ("p1@example.com", "p1@example.com", None),
        ("p2@example.com", "P2@EXAMPLE.com", None),
        ("p3@unverified.org", "p3@unverified.org", Some(NOBODYS)),
        ("p4@globex.io", "p4@globex.io", Some(THEIRS)),
        (
            "p5@example.com.evil.io",
            "p5@example.com.evil.io",
            Some("example.com.evil.io"),
        ),
    ];
    for (theirs, posted, refused) in cases {
        world.create(&world.b_admin, "person", theirs).await;
        // B's userName is "person" too: userNames are per organization; the account is the
        // address. The POST carries the address as userName and as the work email.
        let body = json!({
            "schemas": [USER_SCHEMA], "userName": posted,
            "emails": [{"value": posted, "type": "work", "primary": true}],
        });
        let reply = world.a.post("/Users", &body).await;
        let listed = world
            .a
            .get(&filtered("/Users", &format!(r#"userName eq "{posted}""#)))
            .await;
        match refused {
            None => {
                assert_eq!(reply.0, StatusCode::CREATED, "{posted}: {}", reply.2);
                assert_eq!(listed.2["totalResults"], 1, "{posted}");
            }
            Some(domain) => {
                assert_error(&reply, StatusCode::FORBIDDEN, None);
                let detail = reply.2["detail"].as_str().unwrap_or_default();
                assert!(
                    detail.starts_with(&format!(
                        "{domain} is not a verified domain of this organization"
                    )),
                    "{posted}: {detail}"
                );
                assert_eq!(listed.2["totalResults"], 0, "nothing created for {posted}");
            }
        }
        // B's user is untouched whatever A did.
        let b = ScimClient::new(&world.server, &world.b_admin);
        let theirs_listed = b
            .get(&filtered(
                "/Users",
                &format!(r#"emails.value eq "{theirs}""#),
            ))
            .await;
        assert_eq!(theirs_listed.2["totalResults"], 1, "{theirs}");
        assert_eq!(
            theirs_listed.2["Resources"][0]["emails"][0]["value"], theirs,
            "{theirs}"
        );
        // A second organization-B user for the next case would collide on "person".
        let id = theirs_listed.2["Resources"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            b.delete(&format!("/Users/{id}")).await.0,
            StatusCode::NO_CONTENT
        );
    }

    // A new account is anyone's to create: it changes nobody's address. gRPC's CreateUser is
    // the same path as SCIM's POST.
    let reply = world
        .a
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "fresh@unverified.org"}),
        )
        .await;
    assert_eq!(reply.0, StatusCode::CREATED, "{}", reply.2);
    world
        .create(&world.server.admin, "fresh2", "fresh2@globex.io")
        .await;
    // ...but B, which verified globex.io, may then join it.
    world
        .create(&world.b_admin, "fresh2", "fresh2@globex.io")
        .await;
    // And over gRPC A cannot join B's account outside its domains.
    world.create(&world.b_admin, "q", "q@globex.io").await;
    let result = world
        .server
        .users(&world.server.admin)
        .create_user(pb::CreateUserRequest {
            user: Some(user_with("q", "Q@GLOBEX.IO")),
        })
        .await;
    let (code, field, message) = failure(result);
    assert_eq!((code, field.as_str()), (Code::PermissionDenied, "emails"));
    assert!(
        message.starts_with("globex.io is not a verified domain"),
        "{message}"
    );
    world.server.stop().await;
}

#[tokio::test]
async fn a_user_name_that_is_an_address_counts_and_okta_flows_still_work() {
    let world = World::start().await;
    // Okta: userName and primary email are the same address, in a domain nobody verified.
    let created = world
        .a
        .post(
            "/Users",
            &json!({
                "schemas": [USER_SCHEMA], "userName": "okta@unverified.org",
                "name": {"givenName": "O", "familyName": "K"},
                "emails": [{"value": "okta@unverified.org", "type": "work", "primary": true}],
                "active": true,
            }),
        )
        .await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.2);
    let id = created.2["id"].as_str().unwrap().to_owned();
    let url = format!("/Users/{id}");
    // Okta's PUT re-sends the unchanged addresses (here in another case): no change.
    let put = json!({
        "schemas": [USER_SCHEMA], "userName": "OKTA@unverified.org",
        "name": {"givenName": "Otto", "familyName": "K"},
        "emails": [{"value": "okta@UNVERIFIED.org", "type": "work", "primary": true}],
        "active": true,
    });
    assert_eq!(world.a.put(&url, &put).await.0, StatusCode::OK);
    // Okta's deactivation PATCH.
    let deactivate = patch_op(json!([{"op": "replace", "value": {"active": false}}]));
    assert_eq!(world.a.patch(&url, &deactivate).await.0, StatusCode::OK);
    // A rename of the userName alone to another unverified address is a change of an address.
    let before = world.get(&id).await;
    let rename = patch_op(json!([{"op": "replace", "path": "userName", "value": "x@evil.io"}]));
    let reply = world.a.patch(&url, &rename).await;
    assert_error(&reply, StatusCode::FORBIDDEN, None);
    assert!(
        reply.2["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("evil.io is not a verified domain of this organization"),
        "{}",
        reply.2
    );
    assert_eq!(world.get(&id).await, before);
    // To a verified domain it is fine; a userName that is not an address is not one.
    let rename = patch_op(json!([{"op": "replace", "path": "userName", "value": "o@example.com"}]));
    assert_eq!(world.a.patch(&url, &rename).await.0, StatusCode::OK);
    let rename = patch_op(json!([{"op": "replace", "path": "userName", "value": "otto"}]));
    assert_eq!(world.a.patch(&url, &rename).await.0, StatusCode::OK);
    // Removing an address of a single-organization account is free.
    let remove = patch_op(json!([{"op": "remove", "path": "emails"}]));
    assert_eq!(world.a.patch(&url, &remove).await.0, StatusCode::OK);
    world.server.stop().await;
}

#[tokio::test]
async fn a_refused_change_is_audited_as_denied() {
    let world = World::start().await;
    let (user, _) = world.user_of_a(Start::SingleOrganization, 0).await;
    let (status, _) = world
        .change(Path::PatchReplaceEmails, &user, "x@unverified.org")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = world
        .change(Path::GrpcReplace, &user, "y@unverified.org")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let events = AuditServiceClient::with_interceptor(
        world.server.channel(),
        Bearer(Some(world.server.admin.clone())),
    )
    .list_audit_events(pb::ListAuditEventsRequest {
        outcome: "denied".into(),
        operation_prefix: "user.".into(),
        ..Default::default()
    })
    .await
    .expect("list audit events")
    .into_inner()
    .events;
    assert_eq!(events.len(), 2, "{events:?}");
    for event in &events {
        assert_eq!(event.operation, "user.replace");
        assert_eq!(event.target_id, user.id);
        assert_eq!(event.reason, "email_domain_not_verified");
    }
    world.server.stop().await;
}

#[tokio::test]
async fn no_write_path_accepts_a_password() {
    let world = World::start().await;
    let secret = "t1meMa$heen-42";
    // POST: the password is dropped (Okta sends one with password sync on), never stored.
    let created = world
        .a
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": "pw", "password": secret}),
        )
        .await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.2);
    let id = created.2["id"].as_str().unwrap().to_owned();
    let url = format!("/Users/{id}");
    // PUT: the same.
    let put = json!({"schemas": [USER_SCHEMA], "userName": "pw", "password": secret});
    let replaced = world.a.put(&url, &put).await;
    assert_eq!(replaced.0, StatusCode::OK, "{}", replaced.2);
    // PATCH, in each form: refused.
    for operation in [
        json!({"op": "replace", "path": "password", "value": secret}),
        json!({"op": "replace", "value": {"password": secret}}),
        json!({"op": "add", "path": "password", "value": secret}),
    ] {
        let reply = world.a.patch(&url, &patch_op(json!([operation]))).await;
        assert_eq!(reply.0, StatusCode::BAD_REQUEST, "{operation}: {}", reply.2);
        assert!(
            reply.2["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("password"),
            "{}",
            reply.2
        );
    }
    // Nothing anywhere holds it: the SCIM representation, the gRPC message (which has no
    // password field at all) and the database.
    let fetched: Value = world.a.get(&url).await.2;
    assert!(!fetched.to_string().contains(secret), "{fetched}");
    assert!(fetched.get("password").is_none());
    let user = world.get(&id).await;
    assert!(!format!("{user:?}").contains(secret));
    let rows = crate::harness::dump_rows(&world.server.database_url).await;
    assert!(!rows.iter().any(|row| row.contains(secret)));
    world.server.stop().await;
}
