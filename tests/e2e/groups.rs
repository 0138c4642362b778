//! GroupService end to end: creation with members, membership deltas and their atomicity, versions,
//! concurrency, member paging, ListGroups filters, deletion (also of nested groups) and errors.

use crate::harness::{TestServer, compare, create_group, create_user, failure, member, not};
use roster::pb::{self, CompareOp, MemberType, filter::Node, group_change::Change};
use std::collections::BTreeSet;
use std::time::Duration;
use tonic::Code;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn typed(id: &str, kind: MemberType) -> pb::Member {
    pb::Member {
        value: id.into(),
        r#type: kind as i32,
        display: String::new(),
    }
}

fn members(ids: &[&str]) -> pb::MemberList {
    pb::MemberList {
        members: ids.iter().map(|id| member(id)).collect(),
    }
}

fn change(change: Change) -> pb::GroupChange {
    pb::GroupChange {
        change: Some(change),
    }
}

fn add(ids: &[&str]) -> pb::GroupChange {
    change(Change::AddMembers(members(ids)))
}

fn remove(ids: &[&str]) -> pb::GroupChange {
    change(Change::RemoveMembers(members(ids)))
}

fn replace_with(ids: &[&str]) -> pb::GroupChange {
    change(Change::ReplaceMembers(members(ids)))
}

fn set_name(name: &str) -> pb::GroupChange {
    change(Change::SetDisplayName(name.into()))
}

fn set_external(external_id: &str) -> pb::GroupChange {
    change(Change::SetExternalId(external_id.into()))
}

fn version(group: &pb::Group) -> i64 {
    group.meta.as_ref().expect("meta is always set").version
}

fn last_modified(group: &pb::Group) -> i64 {
    let timestamp = group
        .meta
        .as_ref()
        .unwrap()
        .last_modified
        .as_ref()
        .expect("lastModified is set");
    timestamp.seconds * 1_000_000 + i64::from(timestamp.nanos) / 1000
}

async fn create(
    server: &TestServer,
    group: pb::Group,
) -> Result<pb::GroupWriteResponse, tonic::Status> {
    server
        .groups(&server.admin)
        .create_group(pb::CreateGroupRequest { group: Some(group) })
        .await
        .map(tonic::Response::into_inner)
}

fn named(display_name: &str, external_id: Option<&str>, members: Vec<pb::Member>) -> pb::Group {
    pb::Group {
        display_name: display_name.into(),
        external_id: external_id.map(Into::into),
        members,
        ..Default::default()
    }
}

async fn get(
    server: &TestServer,
    id: &str,
    include_members: bool,
) -> Result<pb::Group, tonic::Status> {
    server
        .groups(&server.admin)
        .get_group(pb::GetGroupRequest {
            id: id.into(),
            include_members,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn update(
    server: &TestServer,
    id: &str,
    expected_version: Option<i64>,
    changes: Vec<pb::GroupChange>,
) -> Result<pb::GroupWriteResponse, tonic::Status> {
    server
        .groups(&server.admin)
        .update_group(pb::UpdateGroupRequest {
            id: id.into(),
            expected_version,
            changes,
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
        .groups(&server.admin)
        .delete_group(pb::DeleteGroupRequest {
            id: id.into(),
            expected_version,
        })
        .await
        .map(|_| ())
}

async fn member_page(
    server: &TestServer,
    group_id: &str,
    page_size: i32,
    page_token: &str,
) -> Result<pb::ListGroupMembersResponse, tonic::Status> {
    server
        .groups(&server.admin)
        .list_group_members(pb::ListGroupMembersRequest {
            group_id: group_id.into(),
            page_size,
            page_token: page_token.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Every member, through ListGroupMembers pages of `page_size`; returns the pages' sizes too.
async fn all_members(
    server: &TestServer,
    group_id: &str,
    page_size: i32,
) -> (Vec<pb::Member>, Vec<usize>) {
    let mut all = Vec::new();
    let mut sizes = Vec::new();
    let mut token = String::new();
    loop {
        let page = member_page(server, group_id, page_size, &token)
            .await
            .expect("a page of members");
        sizes.push(page.members.len());
        if !page.next_page_token.is_empty() {
            assert_eq!(
                Some(&page.next_page_token),
                page.members.last().map(|member| &member.value),
                "the token continues after the page's last member"
            );
        }
        all.extend(page.members);
        if page.next_page_token.is_empty() {
            return (all, sizes);
        }
        token = page.next_page_token;
        assert!(sizes.len() < 1000, "paging terminates");
    }
}

/// The member ids of a group, read with GetGroup(include_members).
async fn member_ids(server: &TestServer, group_id: &str) -> BTreeSet<String> {
    let group = get(server, group_id, true)
        .await
        .expect("get group with members");
    let ids: BTreeSet<String> = group
        .members
        .iter()
        .map(|member| member.value.clone())
        .collect();
    assert_eq!(ids.len(), group.members.len(), "no member is listed twice");
    ids
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

async fn list(
    server: &TestServer,
    request: pb::ListGroupsRequest,
) -> Result<pb::ListGroupsResponse, tonic::Status> {
    server
        .groups(&server.admin)
        .list_groups(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Display names of the groups matching `filter`, sorted; checks total_results agrees.
async fn matching(server: &TestServer, filter: pb::Filter) -> Vec<String> {
    let response = list(
        server,
        pb::ListGroupsRequest {
            filter: Some(filter.clone()),
            count: Some(1000),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|status| panic!("{filter:?}: {status:?}"));
    assert_eq!(response.total_results, response.groups.len() as i64);
    let mut names: Vec<String> = response
        .groups
        .into_iter()
        .map(|group| group.display_name)
        .collect();
    names.sort();
    names
}

fn expect(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    names.sort();
    names
}

fn display_names(response: &pb::ListGroupsResponse) -> Vec<&str> {
    response
        .groups
        .iter()
        .map(|group| group.display_name.as_str())
        .collect()
}

async fn total_groups(server: &TestServer) -> i64 {
    list(
        server,
        pb::ListGroupsRequest {
            count: Some(0),
            ..Default::default()
        },
    )
    .await
    .expect("list groups")
    .total_results
}

async fn create_users(server: &TestServer, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for index in 0..count {
        ids.push(
            create_user(
                server,
                &server.admin,
                &format!("{prefix}{index:03}@example.com"),
            )
            .await
            .id,
        );
    }
    ids
}

// ---------------------------------------------------------------------------------------------
// Create and read
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_with_members_reports_skipped_ids_and_lists_members_with_display() {
    let server = TestServer::start().await;
    let alice = server
        .users(&server.admin)
        .create_user(pb::CreateUserRequest {
            user: Some(pb::User {
                user_name: "alice@example.com".into(),
                display_name: Some("Alice Display".into()),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let bob = create_user(&server, &server.admin, "bob@example.com").await;
    let child = create_group(&server, &server.admin, "child", &[])
        .await
        .group
        .unwrap();
    let unknown = uuid::Uuid::new_v4().to_string();

    let response = create(
        &server,
        named(
            "parent",
            Some("P-1"),
            vec![
                member(&alice.id),
                member(&alice.id.to_uppercase()),
                typed(&bob.id, MemberType::User),
                typed(&child.id, MemberType::Group),
                member(&unknown),
                member("not-a-uuid"),
            ],
        ),
    )
    .await
    .expect("create parent");
    let skipped: BTreeSet<String> = response.skipped_member_ids.iter().cloned().collect();
    assert_eq!(
        skipped,
        set(&[&unknown, "not-a-uuid"]),
        "unknown and malformed ids are skipped"
    );
    let parent = response.group.expect("the group");
    assert!(uuid::Uuid::parse_str(&parent.id).is_ok());
    assert_eq!(parent.display_name, "parent");
    assert_eq!(parent.external_id.as_deref(), Some("P-1"));
    assert!(
        parent.members.is_empty(),
        "a write response carries no members"
    );
    assert_eq!(version(&parent), 1);
    let meta = parent.meta.as_ref().unwrap();
    assert_eq!(meta.created, meta.last_modified);

    let with_members = get(&server, &parent.id, true)
        .await
        .expect("get with members");
    let mut expected = vec![
        pb::Member {
            value: alice.id.clone(),
            r#type: MemberType::User as i32,
            display: "Alice Display".into(),
        },
        pb::Member {
            value: bob.id.clone(),
            r#type: MemberType::User as i32,
            display: "bob@example.com".into(),
        },
        pb::Member {
            value: child.id.clone(),
            r#type: MemberType::Group as i32,
            display: "child".into(),
        },
    ];
    expected.sort_by(|a, b| a.value.cmp(&b.value));
    assert_eq!(
        with_members.members, expected,
        "members with type and display, ordered by id"
    );

    let without = get(&server, &parent.id, false)
        .await
        .expect("get without members");
    assert!(without.members.is_empty(), "no members unless asked");
    assert_eq!(
        without, parent,
        "GetGroup returns what CreateGroup returned"
    );
    let (paged, _) = all_members(&server, &parent.id, 0).await;
    assert_eq!(paged, expected, "ListGroupMembers agrees with GetGroup");

    // A group with no members, and members named with the wrong type.
    let carol = create_user(&server, &server.admin, "carol@example.com").await;
    let response = create(
        &server,
        named(
            "mistyped",
            None,
            vec![
                typed(&carol.id, MemberType::Group),
                typed(&child.id, MemberType::User),
            ],
        ),
    )
    .await
    .expect("create mistyped");
    let mistyped = response.group.unwrap();
    let stored = get(&server, &mistyped.id, true).await.unwrap().members;
    for (id, real_type) in [
        (&carol.id, MemberType::User),
        (&child.id, MemberType::Group),
    ] {
        let skipped = response.skipped_member_ids.contains(id);
        let kept = stored.iter().find(|member| &member.value == id);
        match kept {
            Some(member) => {
                assert!(!skipped, "{id} is either skipped or kept, not both");
                assert_eq!(
                    member.r#type, real_type as i32,
                    "a kept member has its real type"
                );
            }
            None => assert!(
                skipped,
                "a member that was not stored is reported as skipped"
            ),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn group_names_and_external_ids_are_unique_and_validated() {
    let server = TestServer::start().await;
    create(&server, named("Admins", Some("G-1"), vec![]))
        .await
        .expect("create admins");

    let (code, field, _) = failure(create(&server, named("ADMINS", None, vec![])).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::AlreadyExists, "display_name")
    );
    let (code, field, _) = failure(create(&server, named("admins", Some("G-2"), vec![])).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::AlreadyExists, "display_name")
    );
    let (code, field, _) = failure(create(&server, named("Operators", Some("G-1"), vec![])).await);
    assert_eq!((code, field.as_str()), (Code::AlreadyExists, "external_id"));
    create(&server, named("Operators", Some("g-1"), vec![]))
        .await
        .expect("externalId is caseExact");
    let cleared = create(&server, named("Auditors", Some(""), vec![]))
        .await
        .expect("empty externalId");
    assert_eq!(
        cleared.group.unwrap().external_id,
        None,
        "an empty externalId means none"
    );

    let long = "n".repeat(257);
    for (what, group, expected_field) in [
        ("empty displayName", named("", None, vec![]), "display_name"),
        (
            "blank displayName",
            named("   ", None, vec![]),
            "display_name",
        ),
        (
            "257-character displayName",
            named(&long, None, vec![]),
            "display_name",
        ),
        (
            "control character in displayName",
            named("bell\u{7}", None, vec![]),
            "display_name",
        ),
        (
            "257-character externalId",
            named("fine", Some(&long), vec![]),
            "external_id",
        ),
        (
            "NUL in externalId",
            named("fine", Some("x\u{0}"), vec![]),
            "external_id",
        ),
    ] {
        let (code, field, message) = failure(create(&server, group).await);
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, expected_field),
            "{what}: {message}"
        );
        assert!(
            !message.contains(&long),
            "the message does not echo the input"
        );
    }
    let (code, field, _) = failure(
        server
            .groups(&server.admin)
            .create_group(pb::CreateGroupRequest { group: None })
            .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "group"));
    create(&server, named(&"n".repeat(256), None, vec![]))
        .await
        .expect("256 characters is the limit");
    assert_eq!(total_groups(&server).await, 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_display_name_store_exactly_one() {
    let server = TestServer::start().await;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..20 {
        let mut client = server.groups(&server.admin);
        let name = if index % 2 == 0 { "Racers" } else { "RACERS" };
        tasks.spawn(async move {
            client
                .create_group(pb::CreateGroupRequest {
                    group: Some(named(name, None, vec![])),
                })
                .await
        });
    }
    let (mut ok, mut exists) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(_) => ok += 1,
            Err(status) if status.code() == Code::AlreadyExists => {
                assert_eq!(roster::error_detail(&status).1, "display_name");
                exists += 1;
            }
            Err(status) => panic!("unexpected failure: {status:?}"),
        }
    }
    assert_eq!((ok, exists), (1, 19));
    assert_eq!(total_groups(&server).await, 1);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// UpdateGroup
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn update_adds_removes_and_replaces_members() {
    let server = TestServer::start().await;
    let users = create_users(&server, "member", 4).await;
    let [u1, u2, u3, u4] = [&users[0], &users[1], &users[2], &users[3]].map(String::as_str);
    let group = create_group(&server, &server.admin, "team", &[])
        .await
        .group
        .unwrap();
    let id = group.id.as_str();
    assert_eq!(version(&group), 1);
    let mut previous = group.clone();
    // Each call changes membership; checks it and that version and lastModified moved on.
    async fn step(
        server: &TestServer,
        previous: &mut pb::Group,
        changes: Vec<pb::GroupChange>,
        expected: &[&str],
    ) -> pb::GroupWriteResponse {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let response = update(server, &previous.id, None, changes)
            .await
            .expect("update");
        let group = response.group.clone().unwrap();
        assert!(
            group.members.is_empty(),
            "a write response carries no members"
        );
        assert_eq!(
            version(&group),
            version(previous) + 1,
            "a membership change bumps the version by one"
        );
        assert!(
            last_modified(&group) > last_modified(previous),
            "lastModified advances"
        );
        assert_eq!(member_ids(server, &group.id).await, set(expected));
        assert_eq!(
            get(server, &group.id, false).await.unwrap(),
            group,
            "the response is the stored group"
        );
        *previous = group;
        response
    }

    let response = step(&server, &mut previous, vec![add(&[u1, u2])], &[u1, u2]).await;
    assert!(response.skipped_member_ids.is_empty());
    // Re-adding is idempotent, in any spelling of the id.
    let upper = u1.to_uppercase();
    let response = step(
        &server,
        &mut previous,
        vec![add(&[u1, u3, &upper])],
        &[u1, u2, u3],
    )
    .await;
    assert!(
        response.skipped_member_ids.is_empty(),
        "{:?}",
        response.skipped_member_ids
    );
    let (paged, _) = all_members(&server, id, 0).await;
    assert_eq!(paged.len(), 3, "no duplicate rows");
    // Removing ignores ids that are not members.
    let unknown = uuid::Uuid::new_v4().to_string();
    step(
        &server,
        &mut previous,
        vec![remove(&[u2, &unknown, "junk"])],
        &[u1, u3],
    )
    .await;
    step(
        &server,
        &mut previous,
        vec![remove(&[&u1.to_uppercase()])],
        &[u3],
    )
    .await;
    // Replacing makes the membership exactly the list.
    step(
        &server,
        &mut previous,
        vec![replace_with(&[u3, u4, u1])],
        &[u1, u3, u4],
    )
    .await;
    let response = step(
        &server,
        &mut previous,
        vec![replace_with(&[u2, &unknown])],
        &[u2],
    )
    .await;
    assert_eq!(response.skipped_member_ids, [unknown]);
    step(&server, &mut previous, vec![replace_with(&[])], &[]).await;
    // Several changes in one call apply in order.
    step(
        &server,
        &mut previous,
        vec![add(&[u1, u2, u3]), remove(&[u2]), add(&[u4])],
        &[u1, u3, u4],
    )
    .await;
    // A group cannot contain itself.
    let response = step(&server, &mut previous, vec![add(&[id])], &[u1, u3, u4]).await;
    assert_eq!(response.skipped_member_ids, [id.to_owned()]);
    server.stop().await;
}

#[tokio::test]
async fn update_sets_display_name_and_external_id() {
    let server = TestServer::start().await;
    let group = create_group(&server, &server.admin, "Team", &[])
        .await
        .group
        .unwrap();
    let other = create(&server, named("Other", Some("other-ext"), vec![]))
        .await
        .unwrap()
        .group
        .unwrap();

    let renamed = update(&server, &group.id, None, vec![set_name("Renamed Team")])
        .await
        .unwrap()
        .group
        .unwrap();
    assert_eq!(renamed.display_name, "Renamed Team");
    assert_eq!(version(&renamed), 2);
    assert_eq!(
        get(&server, &group.id, false).await.unwrap().display_name,
        "Renamed Team"
    );
    assert_eq!(
        matching(
            &server,
            compare("displayName", "", CompareOp::Eq, "renamed TEAM")
        )
        .await,
        expect(&["Renamed Team"])
    );
    assert_eq!(
        matching(&server, compare("displayName", "", CompareOp::Eq, "team")).await,
        expect(&[])
    );
    // Changing only the case of its own name is allowed.
    let recased = update(&server, &group.id, None, vec![set_name("RENAMED TEAM")])
        .await
        .expect("re-case");
    assert_eq!(recased.group.unwrap().display_name, "RENAMED TEAM");
    // The old name is free again.
    create_group(&server, &server.admin, "team", &[]).await;

    let with_external = update(&server, &group.id, None, vec![set_external("Ext-9")])
        .await
        .unwrap()
        .group
        .unwrap();
    assert_eq!(with_external.external_id.as_deref(), Some("Ext-9"));
    assert_eq!(
        matching(&server, compare("externalId", "", CompareOp::Eq, "Ext-9")).await,
        expect(&["RENAMED TEAM"])
    );
    let cleared = update(&server, &group.id, None, vec![set_external("")])
        .await
        .unwrap()
        .group
        .unwrap();
    assert_eq!(cleared.external_id, None, "an empty externalId clears it");
    assert_eq!(
        get(&server, &group.id, false).await.unwrap().external_id,
        None
    );
    assert_eq!(
        matching(&server, compare("externalId", "", CompareOp::Eq, "Ext-9")).await,
        expect(&[])
    );

    // Taken names and ids, and invalid ones, are refused.
    let (code, field, _) = failure(update(&server, &group.id, None, vec![set_name("OTHER")]).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::AlreadyExists, "display_name")
    );
    let (code, field, _) =
        failure(update(&server, &group.id, None, vec![set_external("other-ext")]).await);
    assert_eq!((code, field.as_str()), (Code::AlreadyExists, "external_id"));
    let (code, field, _) = failure(update(&server, &group.id, None, vec![set_name("")]).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::InvalidArgument, "display_name")
    );
    let (code, field, _) =
        failure(update(&server, &group.id, None, vec![set_name(&"x".repeat(257))]).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::InvalidArgument, "display_name")
    );
    let (code, field, _) =
        failure(update(&server, &group.id, None, vec![set_external("tab\u{1}")]).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::InvalidArgument, "external_id")
    );
    let after = get(&server, &group.id, false).await.unwrap();
    assert_eq!(after, cleared, "failed updates changed nothing");
    assert_eq!(get(&server, &other.id, false).await.unwrap(), other);
    server.stop().await;
}

#[tokio::test]
async fn update_is_all_or_nothing() {
    let server = TestServer::start().await;
    let users = create_users(&server, "atomic", 2).await;
    let [u1, u2] = [users[0].as_str(), users[1].as_str()];
    let alpha = create(&server, named("alpha", None, vec![member(u1)]))
        .await
        .unwrap()
        .group
        .unwrap();
    create(&server, named("beta", Some("beta-ext"), vec![]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;

    let failing_batches: Vec<(&str, Vec<pb::GroupChange>, Code, &str)> = vec![
        (
            "a later rename to a taken name",
            vec![
                add(&[u2]),
                remove(&[u1]),
                set_external("x"),
                set_name("BETA"),
            ],
            Code::AlreadyExists,
            "display_name",
        ),
        (
            "a later externalId that is taken",
            vec![
                set_name("alpha prime"),
                add(&[u2]),
                set_external("beta-ext"),
            ],
            Code::AlreadyExists,
            "external_id",
        ),
        (
            "a later invalid name",
            vec![replace_with(&[u2]), set_name(" ")],
            Code::InvalidArgument,
            "display_name",
        ),
        (
            "a change that sets nothing",
            vec![add(&[u2]), pb::GroupChange { change: None }],
            Code::InvalidArgument,
            "changes",
        ),
    ];
    for (what, changes, expected_code, expected_field) in failing_batches {
        let (code, field, message) = failure(update(&server, &alpha.id, None, changes).await);
        assert_eq!(
            (code, field.as_str()),
            (expected_code, expected_field),
            "{what}: {message}"
        );
        let now = get(&server, &alpha.id, false).await.unwrap();
        assert_eq!(
            now, alpha,
            "{what}: name, externalId, version and lastModified are unchanged"
        );
        assert_eq!(
            member_ids(&server, &alpha.id).await,
            set(&[u1]),
            "{what}: members added earlier are not present"
        );
    }

    // The same changes without the failing one all apply, with one version bump for the call.
    let response = update(
        &server,
        &alpha.id,
        None,
        vec![
            add(&[u2]),
            remove(&[u1]),
            set_external("x"),
            set_name("Alpha Prime"),
        ],
    )
    .await
    .expect("a valid batch");
    let updated = response.group.unwrap();
    assert_eq!(updated.display_name, "Alpha Prime");
    assert_eq!(updated.external_id.as_deref(), Some("x"));
    assert!(version(&updated) > version(&alpha));
    assert_eq!(member_ids(&server, &alpha.id).await, set(&[u2]));
    server.stop().await;
}

#[tokio::test]
async fn expected_version_guards_updates_and_deletes() {
    let server = TestServer::start().await;
    let users = create_users(&server, "versioned", 2).await;
    let group = create_group(&server, &server.admin, "guarded", &[])
        .await
        .group
        .unwrap();

    let (code, field, message) =
        failure(update(&server, &group.id, Some(2), vec![add(&[&users[0]])]).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::FailedPrecondition, "expected_version"),
        "{message}"
    );
    assert_eq!(
        get(&server, &group.id, false).await.unwrap(),
        group,
        "nothing changed"
    );
    assert!(member_ids(&server, &group.id).await.is_empty());

    let v2 = update(&server, &group.id, Some(1), vec![add(&[&users[0]])])
        .await
        .expect("at version 1")
        .group
        .unwrap();
    assert_eq!(version(&v2), 2);
    let (code, _, _) = failure(
        update(
            &server,
            &group.id,
            Some(1),
            vec![add(&[&users[1]]), set_name("x")],
        )
        .await,
    );
    assert_eq!(code, Code::FailedPrecondition, "version 1 is stale now");
    assert_eq!(member_ids(&server, &group.id).await, set(&[&users[0]]));
    assert_eq!(get(&server, &group.id, false).await.unwrap(), v2);
    let v3 = update(&server, &group.id, Some(2), vec![remove(&[&users[0]])])
        .await
        .expect("at version 2")
        .group
        .unwrap();
    assert_eq!(version(&v3), 3);

    let (code, field, _) = failure(delete(&server, &group.id, Some(2)).await);
    assert_eq!(
        (code, field.as_str()),
        (Code::FailedPrecondition, "expected_version")
    );
    assert_eq!(
        get(&server, &group.id, false).await.expect("still there"),
        v3
    );
    delete(&server, &group.id, Some(3))
        .await
        .expect("delete at version 3");
    let (code, _, _) = failure(get(&server, &group.id, false).await);
    assert_eq!(code, Code::NotFound);

    // A version check on a group that does not exist is NOT_FOUND, not a version mismatch.
    let (code, _, _) = failure(update(&server, &group.id, Some(1), vec![add(&[&users[1]])]).await);
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(delete(&server, &group.id, Some(1)).await);
    assert_eq!(code, Code::NotFound);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_of_distinct_members_are_all_kept() {
    let server = TestServer::start().await;
    let users = create_users(&server, "parallel", 50).await;
    let group = create_group(&server, &server.admin, "crowd", &[])
        .await
        .group
        .unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for user_id in users.clone() {
        let mut client = server.groups(&server.admin);
        let group_id = group.id.clone();
        tasks.spawn(async move {
            client
                .update_group(pb::UpdateGroupRequest {
                    id: group_id,
                    expected_version: None,
                    changes: vec![add(&[&user_id])],
                })
                .await
                .map(tonic::Response::into_inner)
        });
    }
    while let Some(result) = tasks.join_next().await {
        let response = result.unwrap().expect("every concurrent add succeeds");
        assert!(response.skipped_member_ids.is_empty());
    }

    let (members, sizes) = all_members(&server, &group.id, 16).await;
    assert_eq!(sizes, [16, 16, 16, 2]);
    let ids: BTreeSet<String> = members.iter().map(|member| member.value.clone()).collect();
    assert_eq!(
        ids,
        users.iter().cloned().collect::<BTreeSet<_>>(),
        "no add was lost"
    );
    assert_eq!(members.len(), 50);
    let after = get(&server, &group.id, false).await.unwrap();
    assert_eq!(version(&after), 51, "each add bumped the version once");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_removes_and_adds_of_one_group_do_not_interfere() {
    let server = TestServer::start().await;
    let users = create_users(&server, "churn", 40).await;
    let (stay, go) = users.split_at(20);
    let initial: Vec<&str> = go.iter().map(String::as_str).collect();
    let group = create_group(&server, &server.admin, "churn", &initial)
        .await
        .group
        .unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for (joining, leaving) in stay.iter().cloned().zip(go.iter().cloned()) {
        let mut client = server.groups(&server.admin);
        let group_id = group.id.clone();
        tasks.spawn(async move {
            client
                .update_group(pb::UpdateGroupRequest {
                    id: group_id,
                    expected_version: None,
                    changes: vec![add(&[&joining]), remove(&[&leaving])],
                })
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().expect("every concurrent update succeeds");
    }
    assert_eq!(
        member_ids(&server, &group.id).await,
        stay.iter().cloned().collect::<BTreeSet<_>>()
    );
    assert_eq!(version(&get(&server, &group.id, false).await.unwrap()), 21);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adding_a_user_while_it_is_deleted_leaves_no_dangling_member() {
    let server = TestServer::start().await;
    let group = create_group(&server, &server.admin, "racy", &[])
        .await
        .group
        .unwrap();
    for round in 0..40 {
        let user_id = create_user(
            &server,
            &server.admin,
            &format!("doomed{round}@example.com"),
        )
        .await
        .id;
        let mut groups = server.groups(&server.admin);
        let mut users = server.users(&server.admin);
        let (group_id, adding) = (group.id.clone(), user_id.clone());
        let add_task = tokio::spawn(async move {
            groups
                .update_group(pb::UpdateGroupRequest {
                    id: group_id,
                    expected_version: None,
                    changes: vec![add(&[&adding])],
                })
                .await
        });
        let delete_task = tokio::spawn(async move {
            users
                .delete_user(pb::DeleteUserRequest {
                    id: user_id,
                    expected_version: None,
                })
                .await
        });
        add_task
            .await
            .unwrap()
            .expect("the add succeeds (or skips the deleted user)");
        delete_task.await.unwrap().expect("the delete succeeds");
        let (members, _) = all_members(&server, &group.id, 0).await;
        assert!(
            members.is_empty(),
            "round {round}: a deleted user is still listed as a member: {members:?}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adding_a_group_while_it_is_deleted_leaves_no_dangling_member() {
    let server = TestServer::start().await;
    let parent = create_group(&server, &server.admin, "racy parent", &[])
        .await
        .group
        .unwrap();
    for round in 0..40 {
        let child_id = create_group(&server, &server.admin, &format!("doomed {round}"), &[])
            .await
            .group
            .unwrap()
            .id;
        let mut adder = server.groups(&server.admin);
        let mut deleter = server.groups(&server.admin);
        let (parent_id, adding) = (parent.id.clone(), child_id.clone());
        let add_task = tokio::spawn(async move {
            adder
                .update_group(pb::UpdateGroupRequest {
                    id: parent_id,
                    expected_version: None,
                    changes: vec![add(&[&adding])],
                })
                .await
        });
        let delete_task = tokio::spawn(async move {
            deleter
                .delete_group(pb::DeleteGroupRequest {
                    id: child_id,
                    expected_version: None,
                })
                .await
        });
        add_task
            .await
            .unwrap()
            .expect("the add succeeds (or skips the deleted group)");
        delete_task.await.unwrap().expect("the delete succeeds");
        let (members, _) = all_members(&server, &parent.id, 0).await;
        assert!(
            members.is_empty(),
            "round {round}: a deleted group is still listed as a member: {members:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn too_many_member_references_are_refused() {
    let server = TestServer::start().await;
    let group = create_group(&server, &server.admin, "big", &[])
        .await
        .group
        .unwrap();
    let ids: Vec<String> = (0..10_001)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (code, _, message) = failure(
        update(
            &server,
            &group.id,
            None,
            vec![add(&refs[..6000]), remove(&refs[6000..])],
        )
        .await,
    );
    assert_eq!(code, Code::InvalidArgument, "{message}");
    assert_eq!(get(&server, &group.id, false).await.unwrap(), group);
    let (code, _, message) = failure(
        create(
            &server,
            named("huge", None, refs.iter().map(|id| member(id)).collect()),
        )
        .await,
    );
    assert_eq!(code, Code::InvalidArgument, "{message}");
    assert_eq!(
        total_groups(&server).await,
        1,
        "the refused create left no group behind"
    );
    // 10000 references are allowed (all unknown here, so all skipped).
    let response = update(&server, &group.id, None, vec![add(&refs[..10_000])])
        .await
        .expect("10000 references");
    assert_eq!(response.skipped_member_ids.len(), 10_000);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// ListGroupMembers
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_group_members_pages_in_id_order() {
    let server = TestServer::start().await;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..250 {
        let mut client = server.users(&server.admin);
        tasks.spawn(async move {
            client
                .create_user(pb::CreateUserRequest {
                    user: Some(crate::harness::user(&format!(
                        "paged{index:03}@example.com"
                    ))),
                })
                .await
                .map(|response| response.into_inner().id)
        });
    }
    let mut users = BTreeSet::new();
    while let Some(result) = tasks.join_next().await {
        users.insert(result.unwrap().expect("create user"));
    }
    assert_eq!(users.len(), 250);
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    let response = create_group(&server, &server.admin, "large", &refs).await;
    assert!(response.skipped_member_ids.is_empty());
    let group = response.group.unwrap();

    let (members, sizes) = all_members(&server, &group.id, 100).await;
    assert_eq!(sizes, [100, 100, 50], "three pages");
    let ids: Vec<String> = members.iter().map(|member| member.value.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "ordered by id, each once");
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), users);
    assert!(
        members
            .iter()
            .all(|member| member.r#type == MemberType::User as i32)
    );
    assert!(
        members
            .iter()
            .all(|member| member.display.starts_with("paged")),
        "display is the userName"
    );

    // The last page has no token; page_size 0 means 100.
    let last = member_page(&server, &group.id, 100, &ids[199])
        .await
        .unwrap();
    assert_eq!(last.members.len(), 50);
    assert!(last.next_page_token.is_empty());
    let default_page = member_page(&server, &group.id, 0, "").await.unwrap();
    assert_eq!(default_page.members.len(), 100);
    assert_eq!(default_page.next_page_token, ids[99]);
    // A token after the last member gives an empty last page.
    let past = member_page(&server, &group.id, 10, &ids[249])
        .await
        .unwrap();
    assert!(past.members.is_empty());
    assert!(past.next_page_token.is_empty());
    // GetGroup with include_members returns them all.
    assert_eq!(
        get(&server, &group.id, true).await.unwrap().members,
        members
    );

    // Out-of-range sizes and malformed tokens.
    for page_size in [1001, -1] {
        let (code, field, _) = failure(member_page(&server, &group.id, page_size, "").await);
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, "page_size"),
            "{page_size}"
        );
    }
    assert_eq!(
        member_page(&server, &group.id, 1000, "")
            .await
            .unwrap()
            .members
            .len(),
        250
    );
    let (code, field, _) = failure(member_page(&server, &group.id, 10, "garbage").await);
    assert_eq!(
        (code, field.as_str()),
        (Code::InvalidArgument, "page_token")
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// ListGroups
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn list_groups_filters_sorts_and_pages() {
    let server = TestServer::start().await;
    let u = create_user(&server, &server.admin, "u@example.com")
        .await
        .id;
    let v = create_user(&server, &server.admin, "v@example.com")
        .await
        .id;
    let ops = create(&server, named("engineering-ops", None, vec![]))
        .await
        .unwrap()
        .group
        .unwrap();
    let engineering = create(
        &server,
        named(
            "Engineering",
            Some("E-1"),
            vec![member(&u), member(&ops.id)],
        ),
    )
    .await
    .unwrap();
    create(&server, named("Sales", Some("s-1"), vec![member(&v)]))
        .await
        .unwrap();
    create(&server, named("Support", None, vec![member(&u)]))
        .await
        .unwrap();
    let engineering = engineering.group.unwrap();
    use CompareOp::*;

    assert_eq!(
        matching(&server, compare("displayName", "", Eq, "ENGINEERING")).await,
        expect(&["Engineering"])
    );
    assert_eq!(
        matching(&server, compare("DISPLAYNAME", "", Sw, "eng")).await,
        expect(&["Engineering", "engineering-ops"])
    );
    assert_eq!(
        matching(&server, compare("displayName", "", Co, "S")).await,
        expect(&["engineering-ops", "Sales", "Support"])
    );
    assert_eq!(
        matching(&server, compare("members", "value", Eq, &u)).await,
        expect(&["Engineering", "Support"])
    );
    assert_eq!(
        matching(&server, compare("members", "", Eq, &v)).await,
        expect(&["Sales"])
    );
    assert_eq!(
        matching(&server, compare("members", "value", Eq, &ops.id)).await,
        expect(&["Engineering"])
    );
    assert_eq!(
        matching(&server, compare("members", "type", Eq, "Group")).await,
        expect(&["Engineering"])
    );
    assert_eq!(
        matching(&server, compare("externalId", "", Eq, "E-1")).await,
        expect(&["Engineering"])
    );
    assert_eq!(
        matching(&server, compare("externalId", "", Eq, "e-1")).await,
        expect(&[]),
        "externalId is caseExact"
    );
    assert_eq!(
        matching(&server, compare("id", "", Eq, &engineering.id)).await,
        expect(&["Engineering"])
    );
    let present = |attribute: &str| pb::Filter {
        node: Some(Node::Present(pb::AttributePath {
            schema: String::new(),
            attribute: attribute.into(),
            sub_attribute: String::new(),
        })),
    };
    assert_eq!(
        matching(&server, present("externalId")).await,
        expect(&["Engineering", "Sales"])
    );
    assert_eq!(
        matching(&server, not(present("members"))).await,
        expect(&["engineering-ops"])
    );

    for unknown in ["userName", "emails", "shoeSize"] {
        let (code, field, _) = failure(
            list(
                &server,
                pb::ListGroupsRequest {
                    filter: Some(compare(unknown, "", Eq, "x")),
                    ..Default::default()
                },
            )
            .await,
        );
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, "filter"),
            "{unknown}"
        );
    }
    let (code, field, _) = failure(
        list(
            &server,
            pb::ListGroupsRequest {
                filter: Some(compare("members", "type", Eq, "Robot")),
                ..Default::default()
            },
        )
        .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "filter"));

    let sorted = |order: pb::SortOrder, start_index: i64, count: Option<i32>| {
        let server = &server;
        async move {
            let sort_by = pb::SortBy {
                path: Some(pb::AttributePath {
                    schema: String::new(),
                    attribute: "displayName".into(),
                    sub_attribute: String::new(),
                }),
                order: order as i32,
            };
            list(
                server,
                pb::ListGroupsRequest {
                    filter: None,
                    sort_by: Some(sort_by),
                    start_index,
                    count,
                    cursor: None,
                },
            )
            .await
            .unwrap()
        }
    };
    let ascending = sorted(pb::SortOrder::Ascending, 0, None).await;
    assert_eq!(
        display_names(&ascending),
        ["Engineering", "engineering-ops", "Sales", "Support"]
    );
    assert!(
        ascending
            .groups
            .iter()
            .all(|group| group.members.is_empty()),
        "ListGroups returns no members"
    );
    let descending = sorted(pb::SortOrder::Descending, 1, Some(10)).await;
    assert_eq!(
        display_names(&descending),
        ["Support", "Sales", "engineering-ops", "Engineering"]
    );
    let page = sorted(pb::SortOrder::Ascending, 2, Some(2)).await;
    assert_eq!(display_names(&page), ["engineering-ops", "Sales"]);
    assert_eq!((page.total_results, page.start_index), (4, 2));
    let only_total = sorted(pb::SortOrder::Ascending, 1, Some(0)).await;
    assert!(only_total.groups.is_empty());
    assert_eq!(only_total.total_results, 4);
    let beyond = sorted(pb::SortOrder::Ascending, 5, Some(10)).await;
    assert!(beyond.groups.is_empty());
    assert_eq!(beyond.total_results, 4);
    let creation = list(&server, pb::ListGroupsRequest::default())
        .await
        .unwrap();
    assert_eq!(
        display_names(&creation),
        ["engineering-ops", "Engineering", "Sales", "Support"],
        "creation order by default"
    );
    let (code, field, _) = failure(
        list(
            &server,
            pb::ListGroupsRequest {
                count: Some(1001),
                ..Default::default()
            },
        )
        .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "count"));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Delete and errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_group_removes_it_everywhere() {
    let server = TestServer::start().await;
    let u = create_user(&server, &server.admin, "u@example.com")
        .await
        .id;
    let child = create_group(&server, &server.admin, "child", &[&u])
        .await
        .group
        .unwrap();
    let parent = create_group(&server, &server.admin, "parent", &[&child.id, &u])
        .await
        .group
        .unwrap();
    let grand = create_group(&server, &server.admin, "grand", &[&parent.id])
        .await
        .group
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;

    delete(&server, &child.id, None)
        .await
        .expect("delete child");
    let (code, field, _) = failure(get(&server, &child.id, false).await);
    assert_eq!((code, field.as_str()), (Code::NotFound, "id"));
    let (code, _, _) = failure(member_page(&server, &child.id, 0, "").await);
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(update(&server, &child.id, None, vec![add(&[&u])]).await);
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(delete(&server, &child.id, None).await);
    assert_eq!(code, Code::NotFound, "deleting twice");

    // The parent lost its nested member, and its version says so.
    let parent_after = get(&server, &parent.id, true).await.unwrap();
    let values: Vec<&str> = parent_after
        .members
        .iter()
        .map(|member| member.value.as_str())
        .collect();
    assert_eq!(values, [u.as_str()]);
    assert_eq!(version(&parent_after), version(&parent) + 1);
    assert!(last_modified(&parent_after) > last_modified(&parent));
    // The grandparent is untouched.
    let grand_after = get(&server, &grand.id, true).await.unwrap();
    assert_eq!(version(&grand_after), version(&grand));
    assert_eq!(grand_after.members.len(), 1);
    assert_eq!(
        matching(
            &server,
            compare("members", "value", CompareOp::Eq, &child.id)
        )
        .await,
        expect(&[])
    );
    // The user's groups no longer name it.
    let user = server
        .users(&server.admin)
        .get_user(pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::Id(u.clone())),
            include_groups: true,
        })
        .await
        .unwrap()
        .into_inner();
    let groups: Vec<&str> = user
        .groups
        .iter()
        .map(|group| group.display.as_str())
        .collect();
    assert_eq!(groups, ["parent"]);
    // The name is free again, and the user survives.
    create_group(&server, &server.admin, "CHILD", &[]).await;

    delete(&server, &parent.id, None)
        .await
        .expect("delete parent");
    assert!(
        get(&server, &grand.id, true)
            .await
            .unwrap()
            .members
            .is_empty()
    );
    assert_eq!(total_groups(&server).await, 2);
    server.stop().await;
}

#[tokio::test]
async fn unknown_group_ids_are_not_found_and_malformed_ones_invalid() {
    let server = TestServer::start().await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let (code, field, _) = failure(get(&server, &unknown, true).await);
    assert_eq!((code, field.as_str()), (Code::NotFound, "id"));
    let (code, _, _) = failure(update(&server, &unknown, None, vec![set_name("x")]).await);
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(delete(&server, &unknown, None).await);
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(member_page(&server, &unknown, 0, "").await);
    assert_eq!(code, Code::NotFound);

    for malformed in ["nope", "", "123e4567-e89b-12d3-a456", "' OR 1=1 --"] {
        let (code, field, _) = failure(get(&server, malformed, false).await);
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, "id"),
            "get {malformed:?}"
        );
        let (code, field, _) = failure(update(&server, malformed, None, vec![set_name("x")]).await);
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, "id"),
            "update {malformed:?}"
        );
        let (code, field, _) = failure(delete(&server, malformed, None).await);
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, "id"),
            "delete {malformed:?}"
        );
        let (code, field, _) = failure(member_page(&server, malformed, 0, "").await);
        assert_eq!(
            (code, field.as_str()),
            (Code::InvalidArgument, "group_id"),
            "members {malformed:?}"
        );
    }

    // A user's id is not a group's.
    let user = create_user(&server, &server.admin, "u@example.com").await;
    let (code, _, _) = failure(get(&server, &user.id, false).await);
    assert_eq!(code, Code::NotFound);
    // Other spellings of a group's id find it.
    let group = create_group(&server, &server.admin, "found", &[])
        .await
        .group
        .unwrap();
    let simple = uuid::Uuid::parse_str(&group.id)
        .unwrap()
        .simple()
        .to_string();
    assert_eq!(get(&server, &simple, false).await.unwrap().id, group.id);
    assert_eq!(
        get(&server, &group.id.to_uppercase(), false)
            .await
            .unwrap()
            .id,
        group.id
    );
    server.stop().await;
}
