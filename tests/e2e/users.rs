//! UserService end to end: create and read, the profile round trip, uniqueness (also under
//! concurrency), filters, sorting and paging through ListUsers, replace, delete, input validation
//! and group references.

use crate::harness::{TestServer, and, compare, create_group, create_user, failure, not, or, user};
use roster::pb::{self, CompareOp, filter::Node, filter_value::Kind};
use std::collections::BTreeSet;
use std::time::Duration;
use tonic::Code;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";
const OTHER: &str = "urn:example:params:scim:schemas:extension:other:1.0:User";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn path(schema: &str, attribute: &str, sub: &str) -> pb::AttributePath {
    pb::AttributePath {
        schema: schema.into(),
        attribute: attribute.into(),
        sub_attribute: sub.into(),
    }
}

/// `path op value` with any kind of literal.
fn compare_kind(path: pb::AttributePath, op: CompareOp, kind: Kind) -> pb::Filter {
    pb::Filter {
        node: Some(Node::Compare(pb::Comparison {
            path: Some(path),
            op: op as i32,
            value: Some(pb::FilterValue { kind: Some(kind) }),
        })),
    }
}

fn present(attribute: &str, sub: &str) -> pb::Filter {
    pb::Filter {
        node: Some(Node::Present(path("", attribute, sub))),
    }
}

fn value_path(attribute: &str, filter: pb::Filter) -> pb::Filter {
    pb::Filter {
        node: Some(Node::ValuePath(Box::new(pb::ValuePathFilter {
            path: Some(path("", attribute, "")),
            filter: Some(Box::new(filter)),
        }))),
    }
}

fn multi(value: &str, kind: Option<&str>, display: Option<&str>, primary: bool) -> pb::MultiValue {
    pb::MultiValue {
        value: value.into(),
        r#type: kind.map(Into::into),
        display: display.map(Into::into),
        primary,
    }
}

fn custom(schema: &str, name: &str, value_json: &str) -> pb::CustomAttribute {
    pb::CustomAttribute {
        schema: schema.into(),
        name: name.into(),
        value_json: value_json.into(),
    }
}

fn rfc3339(timestamp: &prost_types::Timestamp) -> String {
    chrono::DateTime::from_timestamp(timestamp.seconds, timestamp.nanos as u32)
        .expect("a valid timestamp")
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn micros(timestamp: &prost_types::Timestamp) -> i64 {
    timestamp.seconds * 1_000_000 + i64::from(timestamp.nanos) / 1000
}

fn meta(user: &pb::User) -> &pb::Meta {
    user.meta.as_ref().expect("meta is always set")
}

async fn create(server: &TestServer, user: pb::User) -> Result<pb::User, tonic::Status> {
    server
        .users(&server.admin)
        .create_user(pb::CreateUserRequest { user: Some(user) })
        .await
        .map(tonic::Response::into_inner)
}

async fn get(
    server: &TestServer,
    lookup: pb::get_user_request::Lookup,
) -> Result<pb::User, tonic::Status> {
    server
        .users(&server.admin)
        .get_user(pb::GetUserRequest {
            lookup: Some(lookup),
            include_groups: false,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get_id(server: &TestServer, id: &str) -> Result<pb::User, tonic::Status> {
    get(server, pb::get_user_request::Lookup::Id(id.into())).await
}

async fn list(
    server: &TestServer,
    request: pb::ListUsersRequest,
) -> Result<pb::ListUsersResponse, tonic::Status> {
    server
        .users(&server.admin)
        .list_users(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn list_filtered(
    server: &TestServer,
    filter: pb::Filter,
) -> Result<pb::ListUsersResponse, tonic::Status> {
    list(
        server,
        pb::ListUsersRequest {
            filter: Some(filter),
            count: Some(1000),
            ..Default::default()
        },
    )
    .await
}

/// The userNames matching `filter`, sorted; checks total_results agrees with the page.
async fn matching(server: &TestServer, filter: pb::Filter) -> Vec<String> {
    let response = list_filtered(server, filter.clone())
        .await
        .unwrap_or_else(|status| panic!("{filter:?}: {status:?}"));
    assert_eq!(
        response.total_results,
        response.users.len() as i64,
        "total_results of {filter:?}"
    );
    let mut names: Vec<String> = response
        .users
        .into_iter()
        .map(|user| user.user_name)
        .collect();
    names.sort();
    names
}

fn names(response: &pb::ListUsersResponse) -> Vec<&str> {
    response
        .users
        .iter()
        .map(|user| user.user_name.as_str())
        .collect()
}

async fn replace(
    server: &TestServer,
    user: pb::User,
    expected_version: Option<i64>,
) -> Result<pb::User, tonic::Status> {
    server
        .users(&server.admin)
        .replace_user(pb::ReplaceUserRequest {
            user: Some(user),
            expected_version,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn delete(
    server: &TestServer,
    id: &str,
    expected_version: Option<i64>,
) -> Result<(), tonic::Status> {
    server
        .users(&server.admin)
        .delete_user(pb::DeleteUserRequest {
            id: id.into(),
            expected_version,
        })
        .await
        .map(|_| ())
}

async fn total_users(server: &TestServer) -> i64 {
    list(
        server,
        pb::ListUsersRequest {
            count: Some(0),
            ..Default::default()
        },
    )
    .await
    .expect("list users")
    .total_results
}

/// Custom attributes as comparable (schema, name, parsed JSON) triples.
fn custom_set(attributes: &[pb::CustomAttribute]) -> BTreeSet<(String, String, String)> {
    attributes
        .iter()
        .map(|attribute| {
            let value: serde_json::Value = serde_json::from_str(&attribute.value_json)
                .unwrap_or_else(|_| {
                    panic!("returned value_json is JSON: {}", attribute.value_json)
                });
            (
                attribute.schema.clone(),
                attribute.name.clone(),
                value.to_string(),
            )
        })
        .collect()
}

fn full_profile(manager_id: &str) -> pb::User {
    pb::User {
        // Ignored on create.
        id: uuid::Uuid::new_v4().to_string(),
        external_id: Some("HR-0001".into()),
        user_name: "Grace.Hopper@Example.com".into(),
        name: Some(pb::Name {
            formatted: Some("Rear Admiral Grace Brewster Murray Hopper, PhD".into()),
            family_name: Some("Hopper".into()),
            given_name: Some("Grace".into()),
            middle_name: Some("Brewster Murray".into()),
            honorific_prefix: Some("Rear Admiral".into()),
            honorific_suffix: Some("PhD".into()),
        }),
        display_name: Some("Grace Hopper".into()),
        nick_name: Some("Amazing Grace".into()),
        profile_url: Some("https://example.com/~grace".into()),
        title: Some("Computer Scientist".into()),
        user_type: Some("Employee".into()),
        preferred_language: Some("en-US".into()),
        locale: Some("en-US".into()),
        timezone: Some("America/New_York".into()),
        active: Some(false),
        emails: vec![
            multi("grace@example.com", Some("work"), Some("Work mail"), true),
            multi("Grace@Home.test", Some("home"), None, false),
        ],
        phone_numbers: vec![
            multi("+1 555 0100", Some("work"), None, true),
            multi("+1 555 0199", Some("mobile"), Some("cell"), false),
        ],
        ims: vec![multi("grace@xmpp.test", Some("xmpp"), None, false)],
        photos: vec![multi(
            "https://example.com/grace.jpg",
            Some("photo"),
            None,
            true,
        )],
        addresses: vec![
            pb::Address {
                formatted: Some("1 Navy Way\nArlington, VA 22201\nUS".into()),
                street_address: Some("1 Navy Way".into()),
                locality: Some("Arlington".into()),
                region: Some("VA".into()),
                postal_code: Some("22201".into()),
                country: Some("US".into()),
                r#type: Some("work".into()),
                primary: true,
            },
            pb::Address {
                locality: Some("New York".into()),
                r#type: Some("home".into()),
                ..Default::default()
            },
        ],
        entitlements: vec![multi(
            "compiler-access",
            None,
            Some("Compiler access"),
            false,
        )],
        roles: vec![multi("admiral", Some("navy"), None, true)],
        x509_certificates: vec![multi(
            "MIIDQTCCAimgAwIBAgITBmyfz5m/jAo54vB4ikPmljZbyjANBgkqhkiG9w0BAQsFADA5MQswCQYDVQQGEwJVUzEP",
            None,
            Some("Grace's certificate"),
            false,
        )],
        enterprise: Some(pb::EnterpriseUser {
            employee_number: Some("0001".into()),
            cost_center: Some("CC-42".into()),
            organization: Some("US Navy".into()),
            division: Some("Research".into()),
            department: Some("Programming Languages".into()),
            manager: Some(pb::Manager {
                value: Some(manager_id.into()),
                display_name: Some("Howard Aiken".into()),
            }),
        }),
        custom_attributes: vec![
            custom(
                ACME,
                "badge",
                r#"{"level": 3, "zones": ["a", "b"], "escort": null, "nested": {"k": true}}"#,
            ),
            custom(ACME, "clearance", r#""top secret""#),
            custom(OTHER, "score", "42.5"),
            custom(OTHER, "remote", "true"),
            custom(OTHER, "tags", r#"["x", 1, false]"#),
        ],
        // Read-only: ignored on writes.
        groups: vec![pb::UserGroupRef {
            value: uuid::Uuid::new_v4().to_string(),
            display: "ignored".into(),
        }],
        meta: Some(pb::Meta {
            created: None,
            last_modified: None,
            version: 99,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Create and read
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_assigns_id_and_meta_and_defaults_active() {
    let server = TestServer::start().await;
    let created = create_user(&server, &server.admin, "alice@example.com").await;
    let id = uuid::Uuid::parse_str(&created.id).expect("the id is a UUID");
    assert_eq!(
        created.id,
        id.hyphenated().to_string(),
        "ids are returned hyphenated lowercase"
    );
    let meta = meta(&created);
    assert_eq!(meta.version, 1);
    assert!(meta.created.is_some());
    assert_eq!(
        meta.created, meta.last_modified,
        "a new user was last modified when created"
    );
    let now = chrono::Utc::now().timestamp_micros();
    let created_at = micros(meta.created.as_ref().unwrap());
    assert!(
        (now - created_at).abs() < 60_000_000,
        "created is now-ish: {created_at} vs {now}"
    );
    assert_eq!(created.active, Some(true), "active defaults to true");
    assert_eq!(created.user_name, "alice@example.com");
    assert_eq!(created.emails, user("alice@example.com").emails);
    assert!(created.groups.is_empty());
    assert!(created.custom_attributes.is_empty());

    let fetched = get_id(&server, &created.id).await.expect("get by id");
    assert_eq!(fetched, created, "GetUser returns what CreateUser returned");

    // Other spellings of the same UUID find the user too.
    let fetched = get_id(&server, &created.id.to_uppercase())
        .await
        .expect("get by uppercase id");
    assert_eq!(fetched.id, created.id);
    let fetched = get_id(&server, &id.simple().to_string())
        .await
        .expect("get by simple id");
    assert_eq!(fetched.id, created.id);

    // An unknown id is NOT_FOUND.
    let (code, field, _) = failure(get_id(&server, &uuid::Uuid::new_v4().to_string()).await);
    assert_eq!((code, field.as_str()), (Code::NotFound, "id"));
    server.stop().await;
}

#[tokio::test]
async fn get_by_user_name_is_case_insensitive_and_by_external_id_is_exact() {
    let server = TestServer::start().await;
    let mut alice = user("Alice.Smith@Example.com");
    alice.external_id = Some("Ext-Alice-1".into());
    let alice = create(&server, alice).await.expect("create alice");
    let bob = create_user(&server, &server.admin, "bob@example.com").await;

    use pb::get_user_request::Lookup;
    for spelling in [
        "Alice.Smith@Example.com",
        "alice.smith@example.com",
        "ALICE.SMITH@EXAMPLE.COM",
    ] {
        let found = get(&server, Lookup::UserName(spelling.into()))
            .await
            .expect(spelling);
        assert_eq!(found.id, alice.id, "{spelling}");
        assert_eq!(
            found.user_name, "Alice.Smith@Example.com",
            "the stored spelling is kept"
        );
    }
    let found = get(&server, Lookup::UserName("BOB@example.com".into()))
        .await
        .expect("bob by name");
    assert_eq!(found.id, bob.id);

    let found = get(&server, Lookup::ExternalId("Ext-Alice-1".into()))
        .await
        .expect("by external id");
    assert_eq!(found.id, alice.id);
    assert_eq!(found.external_id.as_deref(), Some("Ext-Alice-1"));
    for wrong in ["ext-alice-1", "EXT-ALICE-1", "Ext-Alice-"] {
        let (code, _, _) = failure(get(&server, Lookup::ExternalId(wrong.into())).await);
        assert_eq!(code, Code::NotFound, "externalId is caseExact: {wrong}");
    }
    let (code, _, _) =
        failure(get(&server, Lookup::UserName("alice.smith@example.co".into())).await);
    assert_eq!(code, Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn profile_round_trips_every_field() {
    let server = TestServer::start().await;
    let manager = create_user(&server, &server.admin, "howard@example.com").await;
    let input = full_profile(&manager.id);
    let created = create(&server, input.clone())
        .await
        .expect("create the full profile");

    assert_ne!(created.id, input.id, "the id is server-assigned");
    assert_eq!(meta(&created).version, 1, "meta is server-maintained");
    assert!(created.groups.is_empty(), "groups are read-only");
    assert_eq!(created.active, Some(false), "active false is kept");
    assert_eq!(
        custom_set(&created.custom_attributes),
        custom_set(&input.custom_attributes)
    );

    let mut expected = input.clone();
    expected.id = created.id.clone();
    expected.meta = created.meta;
    expected.groups.clear();
    expected.custom_attributes.clear();
    let mut actual = created.clone();
    actual.custom_attributes.clear();
    assert_eq!(
        actual, expected,
        "every profile field round-trips through CreateUser"
    );

    // The stored copy is the same when read back, by each lookup and through ListUsers.
    let fetched = get_id(&server, &created.id).await.expect("get");
    let mut fetched_plain = fetched.clone();
    fetched_plain.custom_attributes.clear();
    assert_eq!(
        fetched_plain, expected,
        "every profile field round-trips through storage"
    );
    assert_eq!(
        custom_set(&fetched.custom_attributes),
        custom_set(&input.custom_attributes)
    );
    let listed = list_filtered(&server, compare("externalId", "", CompareOp::Eq, "HR-0001"))
        .await
        .expect("list");
    assert_eq!(listed.users.len(), 1);
    let mut listed_plain = listed.users[0].clone();
    assert_eq!(
        custom_set(&listed_plain.custom_attributes),
        custom_set(&input.custom_attributes)
    );
    listed_plain.custom_attributes.clear();
    assert_eq!(listed_plain, expected, "ListUsers returns the same profile");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Uniqueness
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn duplicate_user_name_or_external_id_is_already_exists() {
    let server = TestServer::start().await;
    let mut first = user("Bob@Example.com");
    first.external_id = Some("emp-7".into());
    create(&server, first).await.expect("create the first user");

    for duplicate in ["Bob@Example.com", "bob@example.com", "BOB@EXAMPLE.COM"] {
        let (code, field, message) = failure(create(&server, user(duplicate)).await);
        assert_eq!(
            (code, field.as_str()),
            (Code::AlreadyExists, "user_name"),
            "{duplicate}: {message}"
        );
    }

    let mut same_external = user("robert@example.com");
    same_external.external_id = Some("emp-7".into());
    let (code, field, message) = failure(create(&server, same_external).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::AlreadyExists, "external_id"),
        "{message}"
    );

    // externalId is caseExact: another case is another value.
    let mut other_case = user("robert@example.com");
    other_case.external_id = Some("EMP-7".into());
    create(&server, other_case)
        .await
        .expect("externalId differing in case is not a duplicate");

    // An empty externalId means none, and many users may have none.
    let mut empty_a = user("nobody-a@example.com");
    empty_a.external_id = Some(String::new());
    let empty_a = create(&server, empty_a).await.expect("empty externalId a");
    assert_eq!(empty_a.external_id, None);
    let mut empty_b = user("nobody-b@example.com");
    empty_b.external_id = Some(String::new());
    create(&server, empty_b).await.expect("empty externalId b");

    assert_eq!(
        total_users(&server).await,
        4,
        "no failed create left a row behind"
    );
    server.stop().await;
}

#[tokio::test]
async fn user_names_compare_case_insensitively_beyond_ascii() {
    let server = TestServer::start().await;
    let created = create_user(&server, &server.admin, "ÅSA.ÖBERG@example.com").await;
    let (code, field, _) = failure(create(&server, user("åsa.öberg@EXAMPLE.com")).await);
    assert_eq!((code, field.as_str()), (Code::AlreadyExists, "user_name"));
    let found = get(
        &server,
        pb::get_user_request::Lookup::UserName("åsa.öberg@example.com".into()),
    )
    .await
    .expect("get");
    assert_eq!(found.id, created.id);
    assert_eq!(
        matching(
            &server,
            compare("userName", "", CompareOp::Eq, "Åsa.Öberg@Example.COM")
        )
        .await,
        vec!["ÅSA.ÖBERG@example.com".to_owned()]
    );
    server.stop().await;
}

async fn race_creates(server: &TestServer, spellings: Vec<String>) -> (usize, usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for spelling in spellings {
        let mut client = server.users(&server.admin);
        tasks.spawn(async move {
            client
                .create_user(pb::CreateUserRequest {
                    user: Some(user(&spelling)),
                })
                .await
        });
    }
    let (mut ok, mut exists) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("the task does not panic") {
            Ok(_) => ok += 1,
            Err(status) if status.code() == Code::AlreadyExists => {
                let (_, field) = roster::error_detail(&status);
                assert_eq!(
                    field, "user_name",
                    "the loser of the race learns which field: {status:?}"
                );
                exists += 1;
            }
            Err(status) => panic!("unexpected failure in a create race: {status:?}"),
        }
    }
    (ok, exists)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_user_name_store_exactly_one() {
    let server = TestServer::start().await;
    let (ok, exists) = race_creates(&server, vec!["racer@example.com".to_owned(); 20]).await;
    assert_eq!((ok, exists), (1, 19));
    let found = matching(
        &server,
        compare("userName", "", CompareOp::Eq, "racer@example.com"),
    )
    .await;
    assert_eq!(found, vec!["racer@example.com".to_owned()]);
    assert_eq!(total_users(&server).await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_case_variants_store_exactly_one() {
    let server = TestServer::start().await;
    let base = "racer.case@example.com";
    let spellings: Vec<String> = (0..20u32)
        .map(|variant| {
            base.chars()
                .enumerate()
                .map(|(index, c)| {
                    if variant & (1 << (index % 5)) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect();
    assert_eq!(
        spellings.iter().collect::<BTreeSet<_>>().len(),
        20,
        "20 distinct spellings"
    );
    let (ok, exists) = race_creates(&server, spellings.clone()).await;
    assert_eq!((ok, exists), (1, 19));
    let response = list_filtered(
        &server,
        compare("userName", "", CompareOp::Eq, "RACER.CASE@EXAMPLE.COM"),
    )
    .await
    .unwrap();
    assert_eq!(response.total_results, 1);
    assert!(
        spellings.contains(&response.users[0].user_name),
        "the winner's spelling is stored"
    );
    assert_eq!(total_users(&server).await, 1);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

struct Directory {
    alice: pb::User,
    bob: pb::User,
    carol: pb::User,
    dave: pb::User,
}

/// Four users with distinguishing attributes, created in this order with a pause between each so
/// their creation instants differ.
async fn seed_directory(server: &TestServer) -> Directory {
    let alice = pb::User {
        user_name: "alice@example.com".into(),
        external_id: Some("EXT-Alice".into()),
        display_name: Some("Alice A.".into()),
        name: Some(pb::Name {
            given_name: Some("Alice".into()),
            family_name: Some("Anderson".into()),
            ..Default::default()
        }),
        title: Some("Engineer".into()),
        emails: vec![
            multi("alice@example.com", Some("work"), None, true),
            multi("Alice.Home@Mail.test", Some("home"), None, false),
        ],
        phone_numbers: vec![multi("+1 555 0101", Some("mobile"), None, false)],
        enterprise: Some(pb::EnterpriseUser {
            department: Some("R&D".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let bob = pb::User {
        user_name: "bob@example.com".into(),
        external_id: Some("ext-bob".into()),
        name: Some(pb::Name {
            given_name: Some("Bob".into()),
            family_name: Some("Brown".into()),
            ..Default::default()
        }),
        active: Some(false),
        emails: vec![multi("Bob@Example.org", Some("work"), None, false)],
        phone_numbers: vec![multi("+1 555 0202", Some("work"), None, false)],
        enterprise: Some(pb::EnterpriseUser {
            department: Some("Sales".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let carol = pb::User {
        user_name: "Carol@Example.net".into(),
        name: Some(pb::Name {
            given_name: Some("Carol".into()),
            family_name: Some("Carter".into()),
            ..Default::default()
        }),
        title: Some("Manager".into()),
        emails: vec![
            multi("carol@corp.test", Some("work"), None, true),
            multi("carol@example.com", Some("home"), None, false),
        ],
        ..Default::default()
    };
    let dave = pb::User {
        user_name: "dave".into(),
        title: Some(String::new()),
        phone_numbers: vec![multi("+1 555 0404", Some("Mobile"), None, false)],
        ..Default::default()
    };
    let mut created = Vec::new();
    for profile in [alice, bob, carol, dave] {
        created.push(create(server, profile).await.expect("seed a user"));
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut created = created.into_iter();
    Directory {
        alice: created.next().unwrap(),
        bob: created.next().unwrap(),
        carol: created.next().unwrap(),
        dave: created.next().unwrap(),
    }
}

fn expect(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    names.sort();
    names
}

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "Carol@Example.net";
const DAVE: &str = "dave";

#[tokio::test]
async fn filters_on_user_name_and_emails() {
    let server = TestServer::start().await;
    seed_directory(&server).await;
    use CompareOp::*;

    assert_eq!(
        matching(&server, compare("userName", "", Eq, "ALICE@Example.COM")).await,
        expect(&[ALICE])
    );
    assert_eq!(
        matching(&server, compare("USERNAME", "", Eq, "carol@example.net")).await,
        expect(&[CAROL])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Eq, "alice")).await,
        expect(&[])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Ne, "alice@example.com")).await,
        expect(&[BOB, CAROL, DAVE])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Co, "EXAMPLE")).await,
        expect(&[ALICE, BOB, CAROL])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Sw, "CAR")).await,
        expect(&[CAROL])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Ew, ".COM")).await,
        expect(&[ALICE, BOB])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Gt, "bob@example.com")).await,
        expect(&[CAROL, DAVE])
    );

    // emails.value is case-insensitive and sees every email, not only the primary one.
    assert_eq!(
        matching(
            &server,
            compare("emails", "value", Eq, "alice.home@MAIL.test")
        )
        .await,
        expect(&[ALICE])
    );
    assert_eq!(
        matching(&server, compare("emails", "value", Eq, "bob@example.org")).await,
        expect(&[BOB])
    );
    // `emails eq` compares the value sub-attribute.
    assert_eq!(
        matching(&server, compare("emails", "", Eq, "CAROL@EXAMPLE.COM")).await,
        expect(&[CAROL])
    );
    assert_eq!(
        matching(&server, compare("emails", "value", Ew, "@example.com")).await,
        expect(&[ALICE, CAROL])
    );
    assert_eq!(
        matching(&server, compare("emails", "type", Eq, "HOME")).await,
        expect(&[ALICE, CAROL])
    );
    let primary = compare_kind(path("", "emails", "primary"), Eq, Kind::BoolValue(true));
    assert_eq!(matching(&server, primary).await, expect(&[ALICE, CAROL]));
    assert_eq!(
        matching(&server, present("emails", "")).await,
        expect(&[ALICE, BOB, CAROL])
    );

    // emails[type eq "work" and value co "@example"]: both conditions on the same element. Carol has
    // a work email and an @example email, but not one that is both.
    let work_at_example = value_path(
        "emails",
        and(vec![
            compare("type", "", Eq, "work"),
            compare("value", "", Co, "@example"),
        ]),
    );
    assert_eq!(
        matching(&server, work_at_example).await,
        expect(&[ALICE, BOB])
    );
    let home_at_corp = value_path(
        "emails",
        and(vec![
            compare("type", "", Eq, "home"),
            compare("value", "", Co, "corp"),
        ]),
    );
    assert_eq!(matching(&server, home_at_corp).await, expect(&[]));
    server.stop().await;
}

#[tokio::test]
async fn filters_on_names_external_id_and_logic() {
    let server = TestServer::start().await;
    let directory = seed_directory(&server).await;
    use CompareOp::*;

    assert_eq!(
        matching(&server, compare("name", "familyName", Eq, "brown")).await,
        expect(&[BOB])
    );
    assert_eq!(
        matching(&server, compare("NAME", "FAMILYNAME", Sw, "c")).await,
        expect(&[CAROL])
    );
    assert_eq!(
        matching(&server, compare("name", "givenName", Co, "LIC")).await,
        expect(&[ALICE])
    );
    assert_eq!(
        matching(&server, compare("name", "givenName", Ew, "b")).await,
        expect(&[BOB])
    );
    assert_eq!(
        matching(&server, compare("displayName", "", Eq, "alice a.")).await,
        expect(&[ALICE])
    );

    // externalId is caseExact.
    assert_eq!(
        matching(&server, compare("externalId", "", Eq, "EXT-Alice")).await,
        expect(&[ALICE])
    );
    assert_eq!(
        matching(&server, compare("externalId", "", Eq, "ext-alice")).await,
        expect(&[])
    );
    assert_eq!(
        matching(&server, compare("externalId", "", Sw, "ext-")).await,
        expect(&[BOB])
    );
    assert_eq!(
        matching(&server, compare("externalId", "", Co, "XT-")).await,
        expect(&[ALICE])
    );
    assert_eq!(
        matching(&server, compare("externalId", "", Co, "-")).await,
        expect(&[ALICE, BOB])
    );
    assert_eq!(
        matching(&server, compare("externalId", "", Ew, "ALICE")).await,
        expect(&[])
    );
    assert_eq!(
        matching(&server, compare("id", "", Eq, &directory.dave.id)).await,
        expect(&[DAVE])
    );
    let either = or(vec![
        compare("id", "", Eq, &directory.carol.id),
        compare("id", "", Eq, &directory.alice.id),
    ]);
    assert_eq!(matching(&server, either).await, expect(&[ALICE, CAROL]));

    // not, or, and, and their nesting.
    assert_eq!(
        matching(
            &server,
            not(compare("userName", "", Eq, "alice@example.com"))
        )
        .await,
        expect(&[BOB, CAROL, DAVE])
    );
    // `not` of a comparison on an absent attribute still matches the users without it.
    assert_eq!(
        matching(&server, not(compare("externalId", "", Eq, "ext-bob"))).await,
        expect(&[ALICE, CAROL, DAVE])
    );
    assert_eq!(
        matching(
            &server,
            or(vec![
                compare("userName", "", Eq, "ALICE@example.com"),
                compare("externalId", "", Eq, "ext-bob")
            ])
        )
        .await,
        expect(&[ALICE, BOB])
    );
    assert_eq!(
        matching(
            &server,
            and(vec![
                compare("userName", "", Co, "example"),
                not(or(vec![
                    compare("name", "givenName", Eq, "alice"),
                    compare("name", "givenName", Eq, "carol")
                ])),
            ])
        )
        .await,
        expect(&[BOB])
    );
    server.stop().await;
}

#[tokio::test]
async fn filters_on_presence_booleans_dates_extensions_and_phones() {
    let server = TestServer::start().await;
    let directory = seed_directory(&server).await;
    use CompareOp::*;

    // pr: a value that is present and not empty (dave's title is "").
    assert_eq!(
        matching(&server, present("title", "")).await,
        expect(&[ALICE, CAROL])
    );
    assert_eq!(
        matching(&server, not(present("title", ""))).await,
        expect(&[BOB, DAVE])
    );
    assert_eq!(
        matching(&server, present("externalId", "")).await,
        expect(&[ALICE, BOB])
    );
    assert_eq!(
        matching(&server, present("name", "familyName")).await,
        expect(&[ALICE, BOB, CAROL])
    );

    // Booleans.
    assert_eq!(
        matching(
            &server,
            compare_kind(path("", "active", ""), Eq, Kind::BoolValue(false))
        )
        .await,
        expect(&[BOB])
    );
    assert_eq!(
        matching(
            &server,
            compare_kind(path("", "active", ""), Eq, Kind::BoolValue(true))
        )
        .await,
        expect(&[ALICE, CAROL, DAVE])
    );
    assert_eq!(
        matching(
            &server,
            compare_kind(path("", "active", ""), Ne, Kind::BoolValue(true))
        )
        .await,
        expect(&[BOB])
    );

    // Dates: strictly after bob's creation instant, and from it on.
    let bob_created = rfc3339(meta(&directory.bob).created.as_ref().unwrap());
    let created = || path("", "meta", "created");
    assert_eq!(
        matching(
            &server,
            compare_kind(created(), Gt, Kind::DateTimeValue(bob_created.clone()))
        )
        .await,
        expect(&[CAROL, DAVE])
    );
    assert_eq!(
        matching(
            &server,
            compare_kind(created(), Ge, Kind::DateTimeValue(bob_created.clone()))
        )
        .await,
        expect(&[BOB, CAROL, DAVE])
    );
    assert_eq!(
        matching(
            &server,
            compare_kind(created(), Lt, Kind::DateTimeValue(bob_created.clone()))
        )
        .await,
        expect(&[ALICE])
    );
    assert_eq!(
        matching(
            &server,
            compare_kind(
                path("", "meta", "lastModified"),
                Le,
                Kind::DateTimeValue(bob_created)
            )
        )
        .await,
        expect(&[ALICE, BOB])
    );
    // A date-time with an offset is the same instant.
    let alice_created = meta(&directory.alice).created.unwrap();
    let shifted =
        chrono::DateTime::from_timestamp(alice_created.seconds, alice_created.nanos as u32)
            .unwrap()
            .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    assert_eq!(
        matching(
            &server,
            compare_kind(created(), Eq, Kind::DateTimeValue(shifted))
        )
        .await,
        expect(&[ALICE])
    );

    // The enterprise extension, named by its schema URN.
    let department = |value: &str| {
        compare_kind(
            path(ENTERPRISE, "department", ""),
            Eq,
            Kind::StringValue(value.into()),
        )
    };
    assert_eq!(matching(&server, department("r&d")).await, expect(&[ALICE]));
    assert_eq!(matching(&server, department("SALES")).await, expect(&[BOB]));
    let lowercase_urn = compare_kind(
        path(&ENTERPRISE.to_lowercase(), "DEPARTMENT", ""),
        Eq,
        Kind::StringValue("sales".into()),
    );
    assert_eq!(matching(&server, lowercase_urn).await, expect(&[BOB]));
    let department_present = pb::Filter {
        node: Some(Node::Present(path(ENTERPRISE, "department", ""))),
    };
    assert_eq!(
        matching(&server, department_present).await,
        expect(&[ALICE, BOB])
    );

    // phoneNumbers[type eq "mobile"] (type compares case-insensitively; dave's is "Mobile").
    let mobile = value_path("phoneNumbers", compare("type", "", Eq, "mobile"));
    assert_eq!(matching(&server, mobile).await, expect(&[ALICE, DAVE]));
    assert_eq!(
        matching(&server, compare("phoneNumbers", "value", Co, "0202")).await,
        expect(&[BOB])
    );
    assert_eq!(
        matching(&server, compare("phoneNumbers", "", Ew, "0404")).await,
        expect(&[DAVE])
    );
    // A JSON boolean inside an element, on both backends.
    let primary_phone = value_path(
        "phoneNumbers",
        compare_kind(path("", "primary", ""), Eq, Kind::BoolValue(false)),
    );
    assert_eq!(
        matching(&server, primary_phone).await,
        expect(&[ALICE, BOB, DAVE])
    );
    let primary_phone = compare_kind(
        path("", "phoneNumbers", "primary"),
        Eq,
        Kind::BoolValue(true),
    );
    assert_eq!(matching(&server, primary_phone).await, expect(&[]));
    server.stop().await;
}

#[tokio::test]
async fn invalid_filters_are_invalid_argument() {
    let server = TestServer::start().await;
    seed_directory(&server).await;
    use CompareOp::*;

    let invalid = |filter: pb::Filter| {
        let server = &server;
        async move { failure(list_filtered(server, filter).await) }
    };
    for (what, filter) in [
        ("unknown attribute", compare("shoeSize", "", Eq, "42")),
        (
            "unknown sub-attribute",
            compare("name", "nickname", Eq, "x"),
        ),
        (
            "sub-attribute injection",
            compare("name", "x') OR 1=1 --", Eq, "x"),
        ),
        (
            "extension attribute without its schema",
            compare("department", "", Eq, "Sales"),
        ),
        (
            "unknown schema",
            compare_kind(
                path("urn:example:nope", "userName", ""),
                Eq,
                Kind::StringValue("x".into()),
            ),
        ),
        (
            "missing operator",
            compare("userName", "", Unspecified, "x"),
        ),
        (
            "co on a boolean",
            compare_kind(path("", "active", ""), Co, Kind::BoolValue(true)),
        ),
        ("a string for a boolean", compare("active", "", Eq, "true")),
        (
            "a date that is not RFC 3339",
            compare_kind(
                path("", "meta", "created"),
                Gt,
                Kind::DateTimeValue("yesterday".into()),
            ),
        ),
        ("empty node", pb::Filter { node: None }),
        ("empty and", and(vec![])),
        (
            "value path on a single-valued attribute",
            value_path("userName", compare("value", "", Eq, "x")),
        ),
    ] {
        let (code, field, message) = invalid(filter).await;
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, "filter"),
            "{what}: {message}"
        );
    }

    // A filter nested 40 deep is refused, naming the nesting.
    let mut deep = compare("userName", "", Eq, "alice@example.com");
    for _ in 0..40 {
        deep = not(deep);
    }
    let (code, field, message) = invalid(deep).await;
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "filter"));
    assert!(
        message.contains("nested"),
        "the message mentions the nesting: {message}"
    );

    // 30 levels is within the limit (an even number of nots is the identity).
    let mut shallow = compare("userName", "", Eq, "alice@example.com");
    for _ in 0..30 {
        shallow = not(shallow);
    }
    assert_eq!(matching(&server, shallow).await, expect(&[ALICE]));

    // At most 256 comparisons.
    let terms = |count: usize| {
        or((0..count)
            .map(|n| compare("userName", "", Eq, &format!("nobody{n}")))
            .collect())
    };
    assert_eq!(matching(&server, terms(256)).await, expect(&[]));
    let (code, field, message) = invalid(terms(257)).await;
    assert_eq!(
        (code, field.as_str()),
        (Code::InvalidArgument, "filter"),
        "{message}"
    );

    // Sorting by a multi-valued attribute is refused too.
    let sort = pb::SortBy {
        path: Some(path("", "emails", "")),
        order: 0,
    };
    let (code, field, _) = failure(
        list(
            &server,
            pb::ListUsersRequest {
                sort_by: Some(sort),
                ..Default::default()
            },
        )
        .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "sort_by"));
    server.stop().await;
}

#[tokio::test]
async fn a_filter_nested_beyond_the_wire_limit_fails_without_harming_the_server() {
    let server = TestServer::start().await;
    create_user(&server, &server.admin, "alice@example.com").await;
    let mut deep = compare("userName", "", CompareOp::Eq, "alice@example.com");
    for _ in 0..1000 {
        deep = not(deep);
    }
    let status = list_filtered(&server, deep)
        .await
        .expect_err("a 1000-deep filter is refused");
    assert!(
        matches!(status.code(), Code::InvalidArgument | Code::Internal),
        "refused while decoding or compiling: {:?}",
        status.code()
    );
    assert_eq!(total_users(&server).await, 1, "the server still answers");
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_sort_attribute_blames_sort_by() {
    let server = TestServer::start().await;
    create_user(&server, &server.admin, "alice@example.com").await;
    for (attribute, sub) in [("shoeSize", ""), ("name", ""), ("name", "nope")] {
        let sort_by = Some(pb::SortBy {
            path: Some(path("", attribute, sub)),
            order: 0,
        });
        let (code, field, message) = failure(
            list(
                &server,
                pb::ListUsersRequest {
                    sort_by,
                    ..Default::default()
                },
            )
            .await,
        );
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, "sort_by"),
            "sorting by {attribute}.{sub}: the field at fault is sort_by, not filter ({message})"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn null_comparisons_agree_with_presence() {
    let server = TestServer::start().await;
    seed_directory(&server).await;
    use CompareOp::*;
    let null = |attribute: &str, sub: &str, op: CompareOp| {
        compare_kind(path("", attribute, sub), op, Kind::NullValue(true))
    };

    let mut wrong = Vec::new();
    let cases = [
        // externalId: alice and bob have one.
        (
            "externalId ne null",
            null("externalId", "", Ne),
            expect(&[ALICE, BOB]),
        ),
        (
            "externalId eq null",
            null("externalId", "", Eq),
            expect(&[CAROL, DAVE]),
        ),
        // "ne null" means "present" and "eq null" means "not present" (common.proto), and `pr`
        // is "has a non-empty value": dave's empty title is not present.
        (
            "title ne null",
            null("title", "", Ne),
            expect(&[ALICE, CAROL]),
        ),
        ("title eq null", null("title", "", Eq), expect(&[BOB, DAVE])),
        // A multi-valued attribute is present when it has an element: dave has no email.
        (
            "emails ne null",
            null("emails", "", Ne),
            expect(&[ALICE, BOB, CAROL]),
        ),
        ("emails eq null", null("emails", "", Eq), expect(&[DAVE])),
    ];
    for (what, filter, expected) in cases {
        let actual = matching(&server, filter).await;
        if actual != expected {
            wrong.push(format!("{what}: got {actual:?}, expected {expected:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "null comparisons disagree with presence:\n{}",
        wrong.join("\n")
    );
    server.stop().await;
}

#[tokio::test]
async fn like_wildcards_in_literals_match_literally() {
    let server = TestServer::start().await;
    for name in [
        "50%off",
        "deal-50off",
        "500ff",
        "a_b",
        "axb",
        r"back\slash",
        "backslash",
    ] {
        create_user(&server, &server.admin, name).await;
    }
    use CompareOp::*;
    assert_eq!(
        matching(&server, compare("userName", "", Co, "50%")).await,
        expect(&["50%off"])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Co, "%")).await,
        expect(&["50%off"])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Sw, "50%")).await,
        expect(&["50%off"])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Ew, "%off")).await,
        expect(&["50%off"])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Co, "a_b")).await,
        expect(&["a_b"])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Co, "_")).await,
        expect(&["a_b"])
    );
    assert_eq!(
        matching(&server, compare("userName", "", Co, r"k\s")).await,
        expect(&[r"back\slash"])
    );
    // Through the email index and a JSON attribute too.
    assert_eq!(
        matching(&server, compare("emails", "value", Co, "0%O")).await,
        expect(&["50%off"])
    );
    assert_eq!(
        matching(&server, compare("phoneNumbers", "value", Co, "%")).await,
        expect(&[])
    );
    server.stop().await;
}

#[tokio::test]
#[ignore = "server bug (SQLite only): case-insensitive filters on JSON attributes use SQLite lower(), which folds ASCII only"]
async fn json_attributes_compare_case_insensitively_beyond_ascii() {
    let server = TestServer::start().await;
    let mut muller = user("mueller@example.com");
    muller.name = Some(pb::Name {
        family_name: Some("Müller".into()),
        ..Default::default()
    });
    create(&server, muller).await.expect("create");
    let mut other = user("miller@example.com");
    other.name = Some(pb::Name {
        family_name: Some("Miller".into()),
        ..Default::default()
    });
    create(&server, other).await.expect("create");
    assert_eq!(
        matching(
            &server,
            compare("name", "familyName", CompareOp::Eq, "Müller")
        )
        .await,
        expect(&["mueller@example.com"])
    );
    assert_eq!(
        matching(
            &server,
            compare("name", "familyName", CompareOp::Eq, "MÜLLER")
        )
        .await,
        expect(&["mueller@example.com"]),
        "name.familyName is not caseExact, so ü and Ü are the same letter"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Sorting and paging
// ---------------------------------------------------------------------------------------------

/// Users created in the order delta, alpha, charlie, bravo, echo, with given names that sort
/// differently from their userNames (and differently again by byte order).
async fn seed_sortable(server: &TestServer) {
    for (name, given) in [
        ("delta", "Bea"),
        ("alpha", "Eve"),
        ("charlie", "carl"),
        ("bravo", "Dan"),
        ("echo", "ann"),
    ] {
        let mut profile = user(name);
        profile.name = Some(pb::Name {
            given_name: Some(given.into()),
            ..Default::default()
        });
        create(server, profile).await.expect("create");
    }
}

fn sort(attribute: &str, sub: &str, order: pb::SortOrder) -> Option<pb::SortBy> {
    Some(pb::SortBy {
        path: Some(path("", attribute, sub)),
        order: order as i32,
    })
}

#[tokio::test]
async fn sorting_by_user_name_and_given_name() {
    let server = TestServer::start().await;
    seed_sortable(&server).await;
    use pb::SortOrder::*;
    let sorted = |sort_by: Option<pb::SortBy>| {
        let server = &server;
        async move {
            list(
                server,
                pb::ListUsersRequest {
                    sort_by,
                    ..Default::default()
                },
            )
            .await
            .expect("list")
        }
    };

    assert_eq!(
        names(&sorted(None).await),
        ["delta", "alpha", "charlie", "bravo", "echo"],
        "creation order by default"
    );
    assert_eq!(
        names(&sorted(sort("userName", "", Ascending)).await),
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!(
        names(&sorted(sort("userName", "", Unspecified)).await),
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!(
        names(&sorted(sort("USERNAME", "", Descending)).await),
        ["echo", "delta", "charlie", "bravo", "alpha"]
    );
    // Case-insensitive: ann, Bea, carl, Dan, Eve.
    assert_eq!(
        names(&sorted(sort("name", "givenName", Ascending)).await),
        ["echo", "delta", "charlie", "bravo", "alpha"]
    );
    assert_eq!(
        names(&sorted(sort("name", "givenName", Descending)).await),
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!(
        names(&sorted(sort("meta", "created", Descending)).await),
        ["echo", "bravo", "charlie", "alpha", "delta"]
    );
    server.stop().await;
}

#[tokio::test]
async fn paging_with_start_index_and_count() {
    let server = TestServer::start().await;
    seed_sortable(&server).await;
    let page = |start_index: i64, count: Option<i32>| {
        let server = &server;
        async move {
            list(
                server,
                pb::ListUsersRequest {
                    sort_by: sort("userName", "", pb::SortOrder::Ascending),
                    start_index,
                    count,
                    ..Default::default()
                },
            )
            .await
        }
    };

    let second = page(2, Some(2)).await.expect("page 2");
    assert_eq!(names(&second), ["bravo", "charlie"]);
    assert_eq!((second.total_results, second.start_index), (5, 2));
    let last = page(5, Some(2)).await.expect("last page");
    assert_eq!(names(&last), ["echo"]);
    assert_eq!((last.total_results, last.start_index), (5, 5));

    // start_index 0 counts as 1; no count means the default page (all five here).
    let first = page(0, None).await.expect("default page");
    assert_eq!(
        names(&first),
        ["alpha", "bravo", "charlie", "delta", "echo"]
    );
    assert_eq!((first.total_results, first.start_index), (5, 1));

    // count 0 returns only the total.
    let only_total = page(1, Some(0)).await.expect("count 0");
    assert!(only_total.users.is_empty());
    assert_eq!(only_total.total_results, 5);

    // Beyond the end: an empty page with the total.
    let beyond = page(6, Some(10)).await.expect("beyond");
    assert!(beyond.users.is_empty());
    assert_eq!(beyond.total_results, 5);
    let far_beyond = page(1_000_000, Some(10)).await.expect("far beyond");
    assert!(far_beyond.users.is_empty());
    assert_eq!(far_beyond.total_results, 5);

    // The maximum is allowed, one more is not.
    assert_eq!(
        page(1, Some(1000)).await.expect("count 1000").users.len(),
        5
    );
    let (code, field, message) = failure(page(1, Some(1001)).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::InvalidArgument, "count"),
        "{message}"
    );

    // Paging composes with a filter: the total counts the matches only.
    let filtered = list(
        &server,
        pb::ListUsersRequest {
            filter: Some(compare("userName", "", CompareOp::Co, "a")),
            sort_by: sort("userName", "", pb::SortOrder::Descending),
            start_index: 2,
            count: Some(2),
            ..Default::default()
        },
    )
    .await
    .expect("filtered page");
    // alpha, bravo, charlie, delta contain an "a"; descending: delta, charlie | bravo, alpha.
    assert_eq!(names(&filtered), ["charlie", "bravo"]);
    assert_eq!(filtered.total_results, 4);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Replace
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn replace_replaces_the_whole_user_and_bumps_the_version() {
    let server = TestServer::start().await;
    // The replace changes addresses, so their domain is verified.
    crate::harness::verify_domain(&server, &server.admin, &server.org_id, "example.com").await;
    let mut original = user("alice@example.com");
    original.title = Some("Engineer".into());
    original.external_id = Some("a-1".into());
    original
        .emails
        .push(multi("old@example.com", Some("home"), None, false));
    original.custom_attributes = vec![custom(ACME, "badge", "7")];
    let original = create(&server, original).await.expect("create");
    tokio::time::sleep(Duration::from_millis(5)).await;

    let mut replacement = user("Alice.Renamed@example.com");
    replacement.id = original.id.clone();
    replacement.emails = vec![multi("new@example.com", Some("work"), None, true)];
    replacement.display_name = Some("Alice R.".into());
    let replaced = replace(&server, replacement, Some(1))
        .await
        .expect("replace at version 1");

    assert_eq!(replaced.id, original.id);
    assert_eq!(replaced.user_name, "Alice.Renamed@example.com");
    assert_eq!(replaced.display_name.as_deref(), Some("Alice R."));
    assert_eq!(
        replaced.title, None,
        "attributes left out of a replace are removed"
    );
    assert_eq!(replaced.external_id, None);
    assert!(replaced.custom_attributes.is_empty());
    assert_eq!(
        replaced.emails,
        vec![multi("new@example.com", Some("work"), None, true)]
    );
    let (before, after) = (meta(&original), meta(&replaced));
    assert_eq!(after.version, 2);
    assert_eq!(after.created, before.created, "created does not change");
    assert!(
        micros(after.last_modified.as_ref().unwrap())
            > micros(before.last_modified.as_ref().unwrap()),
        "lastModified advances"
    );
    assert_eq!(get_id(&server, &original.id).await.expect("get"), replaced);

    // The email index follows the replace.
    use CompareOp::Eq;
    assert_eq!(
        matching(&server, compare("emails", "value", Eq, "old@example.com")).await,
        expect(&[])
    );
    assert_eq!(
        matching(&server, compare("emails", "value", Eq, "alice@example.com")).await,
        expect(&[])
    );
    assert_eq!(
        matching(&server, compare("emails", "value", Eq, "NEW@example.com")).await,
        expect(&["Alice.Renamed@example.com"])
    );
    // So do userName lookups: the old name is free, the new one is found.
    let (code, _, _) = failure(
        get(
            &server,
            pb::get_user_request::Lookup::UserName("alice@example.com".into()),
        )
        .await,
    );
    assert_eq!(code, Code::NotFound);
    let found = get(
        &server,
        pb::get_user_request::Lookup::UserName("alice.renamed@EXAMPLE.com".into()),
    )
    .await
    .unwrap();
    assert_eq!(found.id, original.id);
    create_user(&server, &server.admin, "alice@example.com").await;

    // Replacing without a version check works at any version.
    let mut again = replaced.clone();
    again.title = Some("Lead".into());
    let again = replace(&server, again, None)
        .await
        .expect("unconditional replace");
    assert_eq!(meta(&again).version, 3);
    assert_eq!(again.title.as_deref(), Some("Lead"));
    server.stop().await;
}

#[tokio::test]
async fn replace_conflicts_and_missing_users() {
    let server = TestServer::start().await;
    let alice = create_user(&server, &server.admin, "alice@example.com").await;
    let mut bob = user("bob@example.com");
    bob.external_id = Some("bob-1".into());
    let bob = create(&server, bob).await.expect("create bob");
    let mut first = alice.clone();
    first.title = Some("v2".into());
    let v2 = replace(&server, first, Some(1))
        .await
        .expect("replace to version 2");

    // A stale expected_version changes nothing.
    let mut stale = v2.clone();
    stale.title = Some("stale".into());
    let (code, field, message) = failure(replace(&server, stale, Some(1)).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::FailedPrecondition, "expected_version"),
        "{message}"
    );
    assert!(
        message.contains('2'),
        "the message names the current version: {message}"
    );
    let (code, _, _) = failure(replace(&server, v2.clone(), Some(3)).await);
    assert_eq!(
        code,
        Code::FailedPrecondition,
        "a future version is as wrong as a past one"
    );
    assert_eq!(
        get_id(&server, &alice.id).await.unwrap(),
        v2,
        "a failed replace leaves the user unchanged"
    );

    // Taking another user's userName (in another case) or externalId.
    let mut taken = v2.clone();
    taken.user_name = "BOB@example.com".into();
    let (code, field, _) = failure(replace(&server, taken, Some(2)).await);
    assert_eq!((code, field.as_str()), (Code::AlreadyExists, "user_name"));
    let mut taken = v2.clone();
    taken.external_id = Some("bob-1".into());
    let (code, field, _) = failure(replace(&server, taken, Some(2)).await);
    assert_eq!((code, field.as_str()), (Code::AlreadyExists, "external_id"));
    assert_eq!(get_id(&server, &alice.id).await.unwrap(), v2);
    assert_eq!(get_id(&server, &bob.id).await.unwrap(), bob);

    // Changing only the case of one's own userName is fine.
    let mut recased = v2.clone();
    recased.user_name = "Alice@Example.com".into();
    let recased = replace(&server, recased, Some(2))
        .await
        .expect("re-case own userName");
    assert_eq!(recased.user_name, "Alice@Example.com");

    // Unknown and malformed ids.
    let mut unknown = user("ghost@example.com");
    unknown.id = uuid::Uuid::new_v4().to_string();
    let (code, field, _) = failure(replace(&server, unknown.clone(), None).await);
    assert_eq!((code, field.as_str()), (Code::NotFound, "id"));
    let (code, _, _) = failure(replace(&server, unknown, Some(1)).await);
    assert_eq!(code, Code::NotFound);
    let mut malformed = user("ghost@example.com");
    malformed.id = "not-a-uuid".into();
    let (code, field, _) = failure(replace(&server, malformed, None).await);
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "user.id"));
    let (code, field, _) = failure(replace(&server, user("ghost@example.com"), None).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::InvalidArgument, "user.id"),
        "an empty id is refused"
    );
    let (code, field, _) = failure(
        server
            .users(&server.admin)
            .replace_user(pb::ReplaceUserRequest {
                user: None,
                expected_version: None,
            })
            .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "user"));

    // Invalid content is refused before anything is written.
    let mut invalid = recased.clone();
    invalid.user_name = String::new();
    let (code, field, _) = failure(replace(&server, invalid, None).await);
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "user_name"));
    assert_eq!(get_id(&server, &alice.id).await.unwrap(), recased);
    assert_eq!(total_users(&server).await, 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_unconditional_replaces_all_succeed() {
    let server = TestServer::start().await;
    let original = create_user(&server, &server.admin, "contended@example.com").await;
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..10 {
        let mut client = server.users(&server.admin);
        let mut next = original.clone();
        next.title = Some(format!("writer {writer}"));
        tasks.spawn(async move {
            client
                .replace_user(pb::ReplaceUserRequest {
                    user: Some(next),
                    expected_version: None,
                })
                .await
        });
    }
    let mut failures = Vec::new();
    while let Some(result) = tasks.join_next().await {
        if let Err(status) = result.unwrap() {
            failures.push(format!("{:?}: {}", status.code(), status.message()));
        }
    }
    assert!(
        failures.is_empty(),
        "a replace without expected_version must not fail on a version race: {failures:?}"
    );
    let after = get_id(&server, &original.id).await.unwrap();
    assert_eq!(
        meta(&after).version,
        11,
        "each replace bumped the version once"
    );
    assert!(
        after
            .title
            .as_deref()
            .is_some_and(|title| title.starts_with("writer "))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_replaces_let_exactly_one_win() {
    let server = TestServer::start().await;
    let original = create_user(&server, &server.admin, "contended@example.com").await;
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..10 {
        let mut client = server.users(&server.admin);
        let mut next = original.clone();
        next.title = Some(format!("writer {writer}"));
        tasks.spawn(async move {
            client
                .replace_user(pb::ReplaceUserRequest {
                    user: Some(next),
                    expected_version: Some(1),
                })
                .await
        });
    }
    let (mut ok, mut stale) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(_) => ok += 1,
            Err(status) if status.code() == Code::FailedPrecondition => stale += 1,
            Err(status) => panic!("unexpected failure: {status:?}"),
        }
    }
    assert_eq!((ok, stale), (1, 9));
    assert_eq!(
        meta(&get_id(&server, &original.id).await.unwrap()).version,
        2
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_removes_the_user_under_an_optional_version_check() {
    let server = TestServer::start().await;
    let alice = create_user(&server, &server.admin, "alice@example.com").await;
    let bob = create_user(&server, &server.admin, "bob@example.com").await;

    let (code, field, _) = failure(delete(&server, &alice.id, Some(2)).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::FailedPrecondition, "expected_version")
    );
    assert_eq!(
        get_id(&server, &alice.id).await.expect("still there"),
        alice
    );

    delete(&server, &alice.id, Some(1))
        .await
        .expect("delete at version 1");
    let (code, field, _) = failure(get_id(&server, &alice.id).await);
    assert_eq!((code, field.as_str()), (Code::NotFound, "id"));
    let (code, _, _) = failure(
        get(
            &server,
            pb::get_user_request::Lookup::UserName("alice@example.com".into()),
        )
        .await,
    );
    assert_eq!(code, Code::NotFound);
    assert_eq!(
        matching(
            &server,
            compare("emails", "value", CompareOp::Eq, "alice@example.com")
        )
        .await,
        expect(&[])
    );
    assert_eq!(total_users(&server).await, 1);

    // Deleting again, or an unknown id, is NOT_FOUND; a malformed id is INVALID_ARGUMENT.
    let (code, _, _) = failure(delete(&server, &alice.id, None).await);
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(delete(&server, &uuid::Uuid::new_v4().to_string(), None).await);
    assert_eq!(code, Code::NotFound);
    let (code, field, _) = failure(delete(&server, "42", None).await);
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "id"));

    // The userName is free again.
    let again = create_user(&server, &server.admin, "ALICE@example.com").await;
    assert_ne!(again.id, alice.id);
    delete(&server, &bob.id, None)
        .await
        .expect("unconditional delete");
    assert_eq!(total_users(&server).await, 1);
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_user_removes_it_from_its_groups() {
    let server = TestServer::start().await;
    let alice = create_user(&server, &server.admin, "alice@example.com").await;
    let bob = create_user(&server, &server.admin, "bob@example.com").await;
    let team = create_group(&server, &server.admin, "team", &[&alice.id, &bob.id])
        .await
        .group
        .unwrap();
    let solo = create_group(&server, &server.admin, "solo", &[&alice.id])
        .await
        .group
        .unwrap();
    let other = create_group(&server, &server.admin, "other", &[&bob.id])
        .await
        .group
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;

    delete(&server, &alice.id, None)
        .await
        .expect("delete alice");

    let mut groups = server.groups(&server.admin);
    let get_group = |id: &str| pb::GetGroupRequest {
        id: id.into(),
        include_members: true,
    };
    let team_after = groups
        .get_group(get_group(&team.id))
        .await
        .unwrap()
        .into_inner();
    let values: Vec<&str> = team_after
        .members
        .iter()
        .map(|member| member.value.as_str())
        .collect();
    assert_eq!(values, [bob.id.as_str()], "only bob is left in team");
    let (team_before, team_now) = (
        team.meta.as_ref().unwrap(),
        team_after.meta.as_ref().unwrap(),
    );
    assert_eq!(
        team_now.version,
        team_before.version + 1,
        "the membership change bumps the group's version"
    );
    assert!(
        micros(team_now.last_modified.as_ref().unwrap())
            > micros(team_before.last_modified.as_ref().unwrap())
    );

    let solo_after = groups
        .get_group(get_group(&solo.id))
        .await
        .unwrap()
        .into_inner();
    assert!(solo_after.members.is_empty());
    assert_eq!(
        solo_after.meta.unwrap().version,
        solo.meta.unwrap().version + 1
    );
    let other_after = groups
        .get_group(get_group(&other.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        other_after.meta.unwrap().version,
        other.meta.unwrap().version,
        "unrelated groups are untouched"
    );

    let pages = groups
        .list_group_members(pb::ListGroupMembersRequest {
            group_id: team.id.clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pages.members.len(), 1);
    let of_alice = groups
        .list_groups(pb::ListGroupsRequest {
            filter: Some(compare("members", "value", CompareOp::Eq, &alice.id)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of_alice.total_results, 0, "no group lists the deleted user");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_users_are_refused_with_the_field_at_fault() {
    let server = TestServer::start().await;
    let cases: Vec<(&str, pb::User, &str)> = vec![
        ("empty userName", user(""), "user_name"),
        ("blank userName", user("   "), "user_name"),
        (
            "257-character userName",
            user(&"x".repeat(257)),
            "user_name",
        ),
        (
            "control character in userName",
            user("bell\u{7}@example.com"),
            "user_name",
        ),
        ("NUL in userName", user("nul\u{0}@example.com"), "user_name"),
        (
            "escape in displayName",
            pb::User {
                display_name: Some("\u{1b}[31mred".into()),
                ..user("a@example.com")
            },
            "display_name",
        ),
        (
            "control character in title",
            pb::User {
                title: Some("boss\u{8}".into()),
                ..user("a@example.com")
            },
            "title",
        ),
        (
            "long externalId",
            pb::User {
                external_id: Some("e".repeat(257)),
                ..user("a@example.com")
            },
            "external_id",
        ),
        (
            "two primary emails",
            pb::User {
                emails: vec![
                    multi("one@example.com", Some("work"), None, true),
                    multi("two@example.com", Some("home"), None, true),
                ],
                ..user("a@example.com")
            },
            "emails",
        ),
        (
            "an empty email",
            pb::User {
                emails: vec![multi("", Some("work"), None, false)],
                ..user("a@example.com")
            },
            "emails",
        ),
        (
            "two primary phone numbers",
            pb::User {
                phone_numbers: vec![multi("1", None, None, true), multi("2", None, None, true)],
                ..user("a@example.com")
            },
            "phone_numbers",
        ),
        (
            "two primary addresses",
            pb::User {
                addresses: vec![
                    pb::Address {
                        primary: true,
                        ..Default::default()
                    },
                    pb::Address {
                        primary: true,
                        ..Default::default()
                    },
                ],
                ..user("a@example.com")
            },
            "addresses",
        ),
        (
            "101 roles",
            pb::User {
                roles: (0..101)
                    .map(|n| multi(&n.to_string(), None, None, false))
                    .collect(),
                ..user("a@example.com")
            },
            "roles",
        ),
        (
            "custom attribute value that is not JSON",
            pb::User {
                custom_attributes: vec![custom(ACME, "badge", "not json")],
                ..user("a@example.com")
            },
            "custom_attributes",
        ),
        (
            "custom attribute schema that is not a URN",
            pb::User {
                custom_attributes: vec![custom("acme", "badge", "1")],
                ..user("a@example.com")
            },
            "custom_attributes",
        ),
        (
            "manager that is not a UUID",
            pb::User {
                enterprise: Some(pb::EnterpriseUser {
                    manager: Some(pb::Manager {
                        value: Some("boss".into()),
                        display_name: None,
                    }),
                    ..Default::default()
                }),
                ..user("a@example.com")
            },
            "enterprise.manager.value",
        ),
    ];
    for (what, profile, expected_field) in cases {
        let (code, field, message) = failure(create(&server, profile).await);
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, expected_field),
            "{what}: {message}"
        );
    }

    // A long value is not echoed back.
    let long = "y".repeat(300);
    let (code, field, message) = failure(create(&server, user(&long)).await);
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "user_name"));
    assert!(
        !message.contains(&long[..64]),
        "the message does not echo the input: {message}"
    );
    assert!(message.len() < 200, "the message is short: {message}");

    // The missing message, lookup and malformed ids.
    let (code, field, _) = failure(
        server
            .users(&server.admin)
            .create_user(pb::CreateUserRequest { user: None })
            .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "user"));
    let (code, field, _) = failure(
        server
            .users(&server.admin)
            .get_user(pb::GetUserRequest {
                lookup: None,
                include_groups: false,
            })
            .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "lookup"));
    for malformed in ["not-a-uuid", "", "0000", "' OR 1=1 --"] {
        let (code, field, _) = failure(get_id(&server, malformed).await);
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, "id"),
            "{malformed:?}"
        );
    }
    let (code, field, _) = failure(
        get(
            &server,
            pb::get_user_request::Lookup::UserName(String::new()),
        )
        .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "user_name"));
    assert_eq!(total_users(&server).await, 0, "nothing invalid was stored");

    // The limits themselves are allowed: 256 characters (not bytes), newlines and tabs in text.
    let at_limit = "é".repeat(256);
    let created = create_user(&server, &server.admin, &at_limit).await;
    assert_eq!(created.user_name, at_limit);
    let mut multiline = user("multi@example.com");
    multiline.display_name = Some("two\tparts".into());
    multiline.addresses = vec![pb::Address {
        formatted: Some("line 1\nline 2".into()),
        ..Default::default()
    }];
    create(&server, multiline)
        .await
        .expect("tabs and newlines are not control characters here");
    server.stop().await;
}

#[tokio::test]
async fn control_characters_in_the_manager_display_name_are_refused() {
    let server = TestServer::start().await;
    let manager_name = pb::User {
        enterprise: Some(pb::EnterpriseUser {
            manager: Some(pb::Manager {
                value: None,
                display_name: Some("boss\u{0}\u{1b}[2J".into()),
            }),
            ..Default::default()
        }),
        ..user("a@example.com")
    };
    let (code, _, message) = failure(create(&server, manager_name).await);
    assert_eq!(
        code,
        Code::InvalidArgument,
        "a control character in manager.displayName: {message}"
    );
    assert_eq!(total_users(&server).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_nul_escape_inside_a_custom_json_value_is_stored_faithfully_or_refused() {
    let server = TestServer::start().await;
    let value_json = r#""a\u0000b""#;
    let nul_escape = pb::User {
        custom_attributes: vec![custom(ACME, "badge", value_json)],
        ..user("b@example.com")
    };
    match create(&server, nul_escape.clone()).await {
        Ok(created) => {
            let fetched = get_id(&server, &created.id).await.expect("get");
            assert_eq!(
                custom_set(&fetched.custom_attributes),
                custom_set(&nul_escape.custom_attributes)
            );
        }
        Err(status) => {
            let (_, field) = roster::error_detail(&status);
            assert_eq!(
                (status.code(), field.as_str()),
                (Code::InvalidArgument, "custom_attributes"),
                "a NUL inside a custom JSON value is refused as invalid, not an internal error: {status:?}"
            );
            assert_eq!(total_users(&server).await, 0);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_request_fails_and_the_server_keeps_serving() {
    let server = TestServer::start().await;
    let mut huge = user("huge@example.com");
    // 100 photos of 52 KiB each: about 5.2 MiB, over the 4 MiB message limit.
    huge.photos = (0..100)
        .map(|n| {
            multi(
                &format!("https://example.com/{n}/{}", "p".repeat(52 * 1024)),
                None,
                None,
                false,
            )
        })
        .collect();
    let status = create(&server, huge)
        .await
        .expect_err("a 5 MiB request is refused");
    assert!(
        matches!(
            status.code(),
            Code::ResourceExhausted | Code::OutOfRange | Code::InvalidArgument
        ),
        "refused as too large, not as a crash: {status:?}"
    );
    // The server still answers, on the same channel and on a new one.
    let created = create_user(&server, &server.admin, "after@example.com").await;
    assert_eq!(total_users(&server).await, 1);
    let channel = tonic::transport::Channel::from_shared(server.grpc_url())
        .unwrap()
        .connect()
        .await
        .expect("reconnect");
    let mut fresh = roster::pb::user_service_client::UserServiceClient::with_interceptor(
        channel,
        crate::harness::Bearer(Some(server.admin.clone())),
    );
    let fetched = fresh
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::Id(created.id.clone())),
            include_groups: false,
        })
        .await
        .expect("a new connection is served")
        .into_inner();
    assert_eq!(fetched.id, created.id);

    // One value over its own limit (8192 characters) is refused by validation.
    let mut long_values = user("long@example.com");
    long_values.photos = vec![multi(&"q".repeat(8193), None, None, false)];
    let (code, field, _) = failure(create(&server, long_values).await);
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "photos"));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Groups of a user
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn include_groups_returns_the_groups_with_display_names() {
    let server = TestServer::start().await;
    let alice = create_user(&server, &server.admin, "alice@example.com").await;
    let bob = create_user(&server, &server.admin, "bob@example.com").await;
    let zeta = create_group(&server, &server.admin, "Zeta Team", &[&alice.id])
        .await
        .group
        .unwrap();
    let alpha = create_group(&server, &server.admin, "alpha team", &[&alice.id, &bob.id])
        .await
        .group
        .unwrap();
    create_group(&server, &server.admin, "empty", &[]).await;
    // Membership of a group inside a group is not direct membership of the user.
    let outer = create_group(&server, &server.admin, "outer", &[&zeta.id])
        .await
        .group
        .unwrap();

    let with_groups = server
        .users(&server.admin)
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::Id(alice.id.clone())),
            include_groups: true,
        })
        .await
        .unwrap()
        .into_inner();
    let refs: Vec<(&str, &str)> = with_groups
        .groups
        .iter()
        .map(|group| (group.value.as_str(), group.display.as_str()))
        .collect();
    assert_eq!(
        refs,
        [
            (alpha.id.as_str(), "alpha team"),
            (zeta.id.as_str(), "Zeta Team")
        ],
        "sorted by display name"
    );
    assert!(!refs.iter().any(|(id, _)| *id == outer.id));

    let without = get_id(&server, &alice.id).await.unwrap();
    assert!(without.groups.is_empty(), "groups only when asked");

    let listed = list(
        &server,
        pb::ListUsersRequest {
            sort_by: sort("userName", "", pb::SortOrder::Ascending),
            include_groups: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let groups_of: Vec<Vec<&str>> = listed
        .users
        .iter()
        .map(|user| {
            user.groups
                .iter()
                .map(|group| group.display.as_str())
                .collect()
        })
        .collect();
    assert_eq!(
        groups_of,
        vec![vec!["alpha team", "Zeta Team"], vec!["alpha team"]]
    );

    // Renaming a group shows in the user's references; the groups filter finds members.
    server
        .groups(&server.admin)
        .update_group(pb::UpdateGroupRequest {
            id: zeta.id.clone(),
            expected_version: None,
            changes: vec![pb::GroupChange {
                change: Some(pb::group_change::Change::SetDisplayName("Aardvarks".into())),
            }],
        })
        .await
        .unwrap();
    let renamed = server
        .users(&server.admin)
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::UserName(
                "ALICE@example.com".into(),
            )),
            include_groups: true,
        })
        .await
        .unwrap()
        .into_inner();
    let displays: Vec<&str> = renamed
        .groups
        .iter()
        .map(|group| group.display.as_str())
        .collect();
    assert_eq!(displays, ["Aardvarks", "alpha team"]);
    assert_eq!(
        matching(
            &server,
            compare("groups", "value", CompareOp::Eq, &alpha.id)
        )
        .await,
        expect(&["alice@example.com", "bob@example.com"])
    );
    assert_eq!(
        matching(&server, compare("groups", "", CompareOp::Eq, &zeta.id)).await,
        expect(&["alice@example.com"])
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Access
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn user_calls_need_a_token_with_the_right_scope() {
    let server = TestServer::start().await;
    let alice = create_user(&server, &server.admin, "alice@example.com").await;

    let channel = tonic::transport::Channel::from_shared(server.grpc_url())
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let mut anonymous = roster::pb::user_service_client::UserServiceClient::with_interceptor(
        channel,
        crate::harness::Bearer(None),
    );
    let (code, _, _) = failure(anonymous.list_users(pb::ListUsersRequest::default()).await);
    assert_eq!(code, Code::Unauthenticated);
    let (code, _, _) = failure(
        server
            .users("not-a-token")
            .list_users(pb::ListUsersRequest::default())
            .await,
    );
    assert_eq!(code, Code::Unauthenticated);

    let reader = server.token(&["scim:read"]).await;
    let listed = server
        .users(&reader)
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect("read")
        .into_inner();
    assert_eq!(listed.total_results, 1);
    let (code, _, _) = failure(
        server
            .users(&reader)
            .create_user(pb::CreateUserRequest {
                user: Some(user("bob@example.com")),
            })
            .await,
    );
    assert_eq!(code, Code::PermissionDenied, "scim:read cannot write");
    let (code, _, _) = failure(
        server
            .users(&reader)
            .delete_user(pb::DeleteUserRequest {
                id: alice.id.clone(),
                expected_version: None,
            })
            .await,
    );
    assert_eq!(code, Code::PermissionDenied);

    let writer = server.token(&["scim:write"]).await;
    create_user(&server, &writer, "bob@example.com").await;
    let (code, _, _) = failure(
        server
            .users(&writer)
            .get_user(pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Id(alice.id.clone())),
                include_groups: false,
            })
            .await,
    );
    assert_eq!(
        code,
        Code::PermissionDenied,
        "scim:write alone does not read"
    );
    assert_eq!(total_users(&server).await, 2);
    server.stop().await;
}

/// On SQLite a short lookup by an `eq` on a unique attribute runs on the calling thread over
/// rusqlite (`store/inline_reads.rs`) while larger pages use the sqlx pool: both must decode a user
/// (every column kind: JSON profile, booleans, NULLs, the groups column) and a group identically.
#[tokio::test]
async fn point_reads_and_pooled_reads_return_the_same_resources() {
    let server = TestServer::start().await;
    let manager = create_user(&server, &server.admin, "manager@example.com").await;
    let grace = create(&server, full_profile(&manager.id)).await.unwrap();
    let group = create_group(&server, &server.admin, "Engineers", &[grace.id.as_str()])
        .await
        .group
        .expect("the created group");
    let lookup = |count: i32| pb::ListUsersRequest {
        filter: Some(compare("userName", "", CompareOp::Eq, &grace.user_name)),
        count: Some(count),
        include_groups: true,
        ..Default::default()
    };
    // count 10: a point read; count 1000: the pool.
    let point = list(&server, lookup(10)).await.unwrap();
    let pooled = list(&server, lookup(1000)).await.unwrap();
    assert_eq!(point.total_results, 1);
    assert_eq!(point, pooled);
    assert_eq!(point.users[0].groups.len(), 1, "the user's group is listed");
    assert_eq!(point.users[0].groups[0].value, group.id);
    // GetUser by id and by userName (one statement with the groups, inline on SQLite).
    for lookup in [
        pb::get_user_request::Lookup::Id(grace.id.clone()),
        pb::get_user_request::Lookup::UserName(grace.user_name.to_uppercase()),
    ] {
        let fetched = server
            .users(&server.admin)
            .get_user(pb::GetUserRequest {
                lookup: Some(lookup),
                include_groups: true,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(fetched, pooled.users[0]);
    }
    // A user with NULL columns (no externalId, displayName or userType) and no groups.
    let plain = |count: i32| pb::ListUsersRequest {
        filter: Some(compare(
            "userName",
            "",
            CompareOp::Eq,
            "MANAGER@example.com",
        )),
        count: Some(count),
        include_groups: true,
        ..Default::default()
    };
    let point = list(&server, plain(10)).await.unwrap();
    assert_eq!(point, list(&server, plain(1000)).await.unwrap());
    assert_eq!(point.users.len(), 1);
    assert!(point.users[0].groups.is_empty());
    // A group by id (a point read) and in a pooled page.
    let mut groups = server.groups(&server.admin);
    let by_id = groups
        .get_group(pb::GetGroupRequest {
            id: group.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let page = groups
        .list_groups(pb::ListGroupsRequest {
            filter: Some(compare("displayName", "", CompareOp::Sw, "Eng")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.groups.len(), 1);
    assert_eq!(by_id.display_name, page.groups[0].display_name);
    assert_eq!(by_id.meta, page.groups[0].meta);
    assert_eq!(by_id.external_id, page.groups[0].external_id);
    // A write is seen by the very next point read.
    let renamed = pb::User {
        display_name: Some("Amazing Grace".into()),
        ..point_user(&server, &grace.user_name).await
    };
    replace(&server, renamed, None).await.unwrap();
    assert_eq!(
        point_user(&server, &grace.user_name)
            .await
            .display_name
            .as_deref(),
        Some("Amazing Grace")
    );
    server.stop().await;
}

async fn point_user(server: &TestServer, user_name: &str) -> pb::User {
    list(
        server,
        pb::ListUsersRequest {
            filter: Some(compare("userName", "", CompareOp::Eq, user_name)),
            count: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .users
    .remove(0)
}
