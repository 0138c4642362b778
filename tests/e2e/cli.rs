//! `rosterctl` against a real rosterd: the binary is run as a child process, as a person would.

use crate::harness::{TestServer, create_user};
use roster::pb;
use serde_json::Value;
use std::process::{Command, Output};

/// What one run of rosterctl did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts success; returns stdout.
    fn succeeded(&self) -> &str {
        assert_eq!(self.code, Some(0), "rosterctl failed: {}", self.stderr);
        &self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    fn json(&self) -> Value {
        assert_eq!(self.code, Some(0), "rosterctl failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {}", self.stdout))
    }
}

/// Runs `rosterctl --server <server> <args>` with `ROSTER_TOKEN=<token>` (unset when `None`).
async fn rosterctl(server: &str, token: Option<&str>, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rosterctl"));
    command
        .arg("--server")
        .arg(server)
        .args(args)
        .env_remove("ROSTER_SERVER")
        .env_remove("ROSTER_TOKEN");
    if let Some(token) = token {
        command.env("ROSTER_TOKEN", token);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("rosterctl runs");
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn ids(values: &Value, key: &str) -> Vec<String> {
    values[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} array in {values}"))
        .iter()
        .map(|value| {
            value
                .get("id")
                .or(value.get("value"))
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn rosterctl_manages_users_groups_and_tokens() {
    let server = TestServer::start().await;
    let url = server.grpc_url();
    let admin = Some(server.admin.as_str());

    let org = rosterctl(&url, admin, &["org", "get", "--json"])
        .await
        .json();
    assert_eq!(org["id"], server.org_id.as_str());
    assert_eq!(org["name"], "default");

    let alice = rosterctl(
        &url,
        admin,
        &[
            "user",
            "create",
            "alice@example.com",
            "--email",
            "alice@example.com",
            "--json",
        ],
    )
    .await
    .json();
    let alice_id = alice["id"].as_str().expect("an id").to_owned();
    assert_eq!(alice["userName"], "alice@example.com");
    assert_eq!(alice["emails"][0]["value"], "alice@example.com");
    assert_eq!(alice["emails"][0]["primary"], true);
    create_user(&server, &server.admin, "bob@example.com").await;

    let found = rosterctl(
        &url,
        admin,
        &["user", "list", "--user-name", "ALICE@example.com", "--json"],
    )
    .await
    .json();
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(ids(&found, "users"), [alice_id.as_str()]);
    let by_email = rosterctl(
        &url,
        admin,
        &["user", "list", "--email", "alice@example.com", "--json"],
    )
    .await
    .json();
    assert_eq!(ids(&by_email, "users"), [alice_id.as_str()]);
    let everyone = rosterctl(&url, admin, &["user", "list", "--json"])
        .await
        .json();
    assert_eq!(everyone["totalResults"], 2, "{everyone}");

    let created = rosterctl(&url, admin, &["group", "create", "Eng", "--json"])
        .await
        .json();
    let group_id = created["group"]["id"]
        .as_str()
        .expect("a group id")
        .to_owned();
    assert_eq!(created["group"]["displayName"], "Eng");
    let stray = uuid::Uuid::new_v4().to_string();
    let added = rosterctl(
        &url,
        admin,
        &[
            "group",
            "add-member",
            &group_id,
            &alice_id,
            &stray,
            "--json",
        ],
    )
    .await;
    let added_json = added.json();
    assert_eq!(
        added_json["skippedMemberIds"],
        serde_json::json!([stray]),
        "{added_json}"
    );
    let members = rosterctl(&url, admin, &["group", "members", &group_id, "--json"])
        .await
        .json();
    assert_eq!(ids(&members, "members"), [alice_id.as_str()], "{members}");
    assert_eq!(members["members"][0]["type"], "user");
    assert_eq!(members["members"][0]["display"], "alice@example.com");
    assert_eq!(members["totalResults"], 1);
    // The server agrees.
    let group = server
        .groups(&server.admin)
        .get_group(pb::GetGroupRequest {
            id: group_id.clone(),
            include_members: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        group
            .members
            .iter()
            .map(|member| member.value.as_str())
            .collect::<Vec<_>>(),
        [alice_id.as_str()]
    );

    let alice = rosterctl(&url, admin, &["user", "get", "ALICE@example.com", "--json"])
        .await
        .json();
    assert_eq!(alice["id"], alice_id.as_str());
    assert_eq!(
        alice["groups"],
        serde_json::json!([{ "value": group_id, "display": "Eng" }])
    );
    let by_name = rosterctl(
        &url,
        admin,
        &["group", "list", "--display-name", "ENG", "--json"],
    )
    .await
    .json();
    assert_eq!(ids(&by_name, "groups"), [group_id.as_str()], "{by_name}");

    rosterctl(
        &url,
        admin,
        &["group", "remove-member", &group_id, &alice_id, "--json"],
    )
    .await
    .json();
    let members = rosterctl(&url, admin, &["group", "members", &group_id, "--json"])
        .await
        .json();
    assert_eq!(members["totalResults"], 0, "{members}");
    assert_eq!(members["members"], serde_json::json!([]));
    // The table output too.
    let table = rosterctl(&url, admin, &["user", "list"]).await;
    assert_eq!(table.code, Some(0), "{}", table.stderr);
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(
        table.stdout.contains(&alice_id) && table.stdout.contains("bob@example.com"),
        "{}",
        table.stdout
    );

    // A read-only token minted by the CLI reads but cannot write.
    let minted = rosterctl(
        &url,
        admin,
        &["token", "create", "ci", "--scope", "scim:read", "--json"],
    )
    .await;
    let minted_json = minted.json();
    let secret = minted_json["secret"]
        .as_str()
        .expect("the secret")
        .to_owned();
    assert!(
        secret.starts_with("roster_") && secret.len() == 96,
        "{secret}"
    );
    assert_eq!(
        minted_json["token"]["scopes"],
        serde_json::json!(["scim:read"])
    );
    assert!(
        minted.stderr.contains("shown only this once"),
        "{}",
        minted.stderr
    );
    let listed = rosterctl(&url, Some(&secret), &["user", "list", "--json"])
        .await
        .json();
    assert_eq!(listed["totalResults"], 2, "{listed}");
    let refused = rosterctl(
        &url,
        Some(&secret),
        &["user", "create", "mallory@example.com"],
    )
    .await;
    assert_ne!(refused.code, Some(0));
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("PERMISSION_DENIED"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    assert!(
        !refused.stderr.contains(&secret),
        "the secret is echoed: {}",
        refused.stderr
    );
    let mallory = server
        .users(&server.admin)
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::UserName(
                "mallory@example.com".into(),
            )),
            include_groups: false,
        })
        .await;
    assert_eq!(
        mallory.expect_err("mallory was not created").code(),
        tonic::Code::NotFound
    );
    // The token lists without its secret.
    let tokens = rosterctl(&url, admin, &["token", "list", "--json"]).await;
    assert_eq!(tokens.json()["tokens"].as_array().map(Vec::len), Some(2));
    assert!(!tokens.stdout.contains(&secret) && !tokens.stdout.contains(&server.admin));
    server.stop().await;
}

#[tokio::test]
async fn rosterctl_reports_a_bad_token_clearly() {
    let server = TestServer::start().await;
    let url = server.grpc_url();
    let bad = "roster_0123456789abcdef0123456789abcdef_0123456789abcdef0123456789abcdef0123456789abcdef01234567";
    for token in [bad, "garbage"] {
        let run = rosterctl(&url, Some(token), &["user", "list"]).await;
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        let stderr = run.stderr.trim_end();
        assert!(stderr.starts_with("error: UNAUTHENTICATED: "), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!stderr.contains(token), "the token is echoed: {stderr}");
    }
    // No token at all is a usage error.
    let run = rosterctl(&url, None, &["user", "list"]).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("ROSTER_TOKEN"), "{}", run.stderr);
    server.stop().await;
}

#[tokio::test]
async fn rosterctl_reports_an_unreachable_server() {
    // A port that was just free and is now closed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let run = rosterctl(&url, Some("roster_whatever"), &["org", "get"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot reach {url}")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("roster_whatever"), "{}", run.stderr);
}

#[tokio::test]
async fn rosterctl_manages_organizations_and_the_token_lifecycle() {
    let server = TestServer::start().await;
    let url = server.grpc_url();
    let system = Some(server.admin.as_str());

    let created = rosterctl(
        &url,
        system,
        &[
            "org",
            "create",
            "acme",
            "--display-name",
            "Acme Inc",
            "--json",
        ],
    )
    .await;
    let created_json = created.json();
    assert_eq!(created_json["organization"]["name"], "acme");
    assert_eq!(created_json["organization"]["displayName"], "Acme Inc");
    assert!(
        created.stderr.contains("shown only this once"),
        "{}",
        created.stderr
    );
    let acme_id = created_json["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let acme_admin = created_json["adminToken"]["secret"]
        .as_str()
        .expect("the admin secret")
        .to_owned();
    assert_eq!(
        created_json["adminToken"]["token"]["scopes"],
        serde_json::json!(["admin"])
    );

    let orgs = rosterctl(&url, system, &["org", "list", "--json"])
        .await
        .json();
    let names: Vec<&str> = orgs["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|org| org["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "acme"]);
    let own = rosterctl(&url, Some(&acme_admin), &["org", "get", "--json"])
        .await
        .json();
    assert_eq!(own["id"], acme_id.as_str());
    // The new organization's admin is not a system admin.
    for args in [&["org", "list"][..], &["org", "create", "sneaky"][..]] {
        let refused = rosterctl(&url, Some(&acme_admin), args).await;
        assert_eq!(refused.code, Some(1), "{args:?}: {}", refused.stderr);
        assert!(
            refused.stderr.starts_with("error: PERMISSION_DENIED: "),
            "{args:?}: {}",
            refused.stderr
        );
    }

    // Mint with an expiry, describe, revoke: the token is refused from then on.
    let minted = rosterctl(
        &url,
        Some(&acme_admin),
        &[
            "token",
            "create",
            "ci",
            "--scope",
            "scim:write",
            "--expires-in",
            "1h",
            "--json",
        ],
    )
    .await
    .json();
    let secret = minted["secret"].as_str().unwrap().to_owned();
    let token_id = minted["token"]["id"].as_str().unwrap().to_owned();
    assert!(minted["token"]["expiresAt"].is_string(), "{minted}");
    let me = rosterctl(&url, Some(&secret), &["token", "whoami", "--json"])
        .await
        .json();
    assert_eq!(me["id"], token_id.as_str());
    assert_eq!(me["organizationId"], acme_id.as_str());
    rosterctl(
        &url,
        Some(&secret),
        &["user", "create", "carol@acme.example"],
    )
    .await
    .succeeded();
    // The user landed in acme, not in the default organization.
    let acme_users = rosterctl(&url, Some(&acme_admin), &["user", "list", "--json"])
        .await
        .json();
    assert_eq!(acme_users["totalResults"], 1, "{acme_users}");
    let default_users = rosterctl(&url, system, &["user", "list", "--json"])
        .await
        .json();
    assert_eq!(default_users["totalResults"], 0, "{default_users}");
    // Another organization cannot revoke it.
    let foreign = rosterctl(&url, system, &["token", "revoke", &token_id]).await;
    assert_eq!(foreign.code, Some(1));
    assert!(
        foreign.stderr.starts_with("error: NOT_FOUND: "),
        "{}",
        foreign.stderr
    );
    let revoked = rosterctl(
        &url,
        Some(&acme_admin),
        &["token", "revoke", &token_id, "--json"],
    )
    .await
    .json();
    assert!(revoked["revokedAt"].is_string(), "{revoked}");
    let refused = rosterctl(&url, Some(&secret), &["user", "list"]).await;
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.starts_with("error: UNAUTHENTICATED: "),
        "{}",
        refused.stderr
    );
    let listed = rosterctl(
        &url,
        Some(&acme_admin),
        &["token", "list", "--include-revoked", "--json"],
    )
    .await
    .json();
    let ci = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["id"] == token_id.as_str())
        .cloned();
    assert!(ci.is_some_and(|ci| ci["revokedAt"].is_string()), "{listed}");
    server.stop().await;
}
