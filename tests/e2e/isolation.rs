//! Tenant isolation and authorization (SECURITY-TESTS 5.A): another organization's resources are
//! indistinguishable from missing ones, never listed, never linked; scopes are enforced on every
//! write; bad credentials are refused without an oracle.

use crate::harness::{
    Bearer, TestServer, compare, crc32, create_group, failure, member, mint, user,
};
use roster::pb;
use roster::pb::CompareOp::Eq;
use roster::pb::group_change::Change;
use roster::pb::group_service_client::GroupServiceClient;
use roster::pb::organization_service_client::OrganizationServiceClient;
use roster::pb::token_service_client::TokenServiceClient;
use roster::pb::user_service_client::UserServiceClient;
use tonic::Code;

/// What organization B owns; everything was created by B's admin.
struct OrgB {
    admin: String,
    user: pb::User,
    group: pb::Group,
    token: pb::ApiToken,
    token_secret: String,
}

const B_USER_NAME: &str = "bob@b.example";
const B_EXTERNAL_ID: &str = "ext-bob";
const B_EMAIL: &str = "bob.private@b.example";
const B_GROUP: &str = "B Team";
const B_GROUP_EXTERNAL_ID: &str = "ext-b-team";

async fn populate_b(server: &TestServer, admin: String) -> OrgB {
    let mut bob = user(B_USER_NAME);
    bob.external_id = Some(B_EXTERNAL_ID.into());
    bob.emails.push(pb::MultiValue {
        value: B_EMAIL.into(),
        ..Default::default()
    });
    let user = server
        .users(&admin)
        .create_user(pb::CreateUserRequest { user: Some(bob) })
        .await
        .expect("B creates a user")
        .into_inner();
    let group = server
        .groups(&admin)
        .create_group(pb::CreateGroupRequest {
            group: Some(pb::Group {
                display_name: B_GROUP.into(),
                external_id: Some(B_GROUP_EXTERNAL_ID.into()),
                members: vec![member(&user.id)],
                ..Default::default()
            }),
        })
        .await
        .expect("B creates a group")
        .into_inner();
    assert!(group.skipped_member_ids.is_empty(), "{group:?}");
    let (token, token_secret) = mint(server, &admin, "B reader", &["scim:read"]).await;
    OrgB {
        admin,
        user,
        group: group.group.unwrap(),
        token,
        token_secret,
    }
}

/// Asserts both calls failed with NOT_FOUND and exactly the same message and detail.
fn assert_same_not_found<T: std::fmt::Debug>(
    what: &str,
    foreign: Result<T, tonic::Status>,
    unknown: Result<T, tonic::Status>,
) {
    let foreign = foreign.expect_err(&format!(
        "{what} on another organization's resource should fail"
    ));
    let unknown = unknown.expect_err(&format!("{what} on an unknown id should fail"));
    assert_eq!(foreign.code(), Code::NotFound, "{what}: {foreign:?}");
    assert_eq!(unknown.code(), Code::NotFound, "{what}: {unknown:?}");
    assert_eq!(
        foreign.message().as_bytes(),
        unknown.message().as_bytes(),
        "{what}: messages differ"
    );
    assert_eq!(
        foreign.details(),
        unknown.details(),
        "{what}: error details differ"
    );
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn get_by(lookup: pb::get_user_request::Lookup) -> pb::GetUserRequest {
    pb::GetUserRequest {
        lookup: Some(lookup),
        include_groups: true,
    }
}

fn rename(id: &str) -> pb::UpdateGroupRequest {
    pb::UpdateGroupRequest {
        id: id.into(),
        expected_version: None,
        changes: vec![pb::GroupChange {
            change: Some(Change::SetDisplayName("Stolen".into())),
        }],
    }
}

#[tokio::test]
async fn another_organizations_resources_are_indistinguishable_from_missing_ones() {
    use pb::get_user_request::Lookup;
    let server = TestServer::start().await;
    let (_, a_admin) = server.new_org("org-a").await;
    let (_, b_admin) = server.new_org("org-b").await;
    let b = populate_b(&server, b_admin).await;
    let (b_user, b_group) = (b.user.id.clone(), b.group.id.clone());
    let mut users = server.users(&a_admin);
    let mut groups = server.groups(&a_admin);
    let mut tokens = server.tokens(&a_admin);

    assert_same_not_found(
        "GetUser",
        users.get_user(get_by(Lookup::Id(b_user.clone()))).await,
        users.get_user(get_by(Lookup::Id(random_id()))).await,
    );
    assert_same_not_found(
        "GetUser by userName",
        users
            .get_user(get_by(Lookup::UserName(B_USER_NAME.into())))
            .await,
        users
            .get_user(get_by(Lookup::UserName("nobody@b.example".into())))
            .await,
    );
    assert_same_not_found(
        "GetUser by userName in another case",
        users
            .get_user(get_by(Lookup::UserName(B_USER_NAME.to_uppercase())))
            .await,
        users
            .get_user(get_by(Lookup::UserName("nobody@b.example".into())))
            .await,
    );
    assert_same_not_found(
        "GetUser by externalId",
        users
            .get_user(get_by(Lookup::ExternalId(B_EXTERNAL_ID.into())))
            .await,
        users
            .get_user(get_by(Lookup::ExternalId("ext-nobody".into())))
            .await,
    );
    let replacement = |id: &str| {
        let mut stolen = user("stolen@a.example");
        stolen.id = id.into();
        pb::ReplaceUserRequest {
            user: Some(stolen),
            expected_version: None,
        }
    };
    assert_same_not_found(
        "ReplaceUser",
        users.replace_user(replacement(&b_user)).await,
        users.replace_user(replacement(&random_id())).await,
    );
    // A version check must not reveal that the row exists (FAILED_PRECONDITION would).
    let versioned = |id: &str| pb::ReplaceUserRequest {
        expected_version: Some(99),
        ..replacement(id)
    };
    assert_same_not_found(
        "ReplaceUser with expected_version",
        users.replace_user(versioned(&b_user)).await,
        users.replace_user(versioned(&random_id())).await,
    );
    for expected_version in [None, Some(1), Some(99)] {
        let delete = |id: &str| pb::DeleteUserRequest {
            id: id.into(),
            expected_version,
        };
        assert_same_not_found(
            &format!("DeleteUser (expected_version {expected_version:?})"),
            users.delete_user(delete(&b_user)).await,
            users.delete_user(delete(&random_id())).await,
        );
    }
    for include_members in [false, true] {
        let get = |id: &str| pb::GetGroupRequest {
            id: id.into(),
            include_members,
        };
        assert_same_not_found(
            "GetGroup",
            groups.get_group(get(&b_group)).await,
            groups.get_group(get(&random_id())).await,
        );
    }
    assert_same_not_found(
        "UpdateGroup",
        groups.update_group(rename(&b_group)).await,
        groups.update_group(rename(&random_id())).await,
    );
    let remove_with_version = |id: &str| pb::UpdateGroupRequest {
        id: id.into(),
        expected_version: Some(99),
        changes: vec![pb::GroupChange {
            change: Some(Change::RemoveMembers(pb::MemberList {
                members: vec![member(&b_user)],
            })),
        }],
    };
    assert_same_not_found(
        "UpdateGroup with expected_version",
        groups.update_group(remove_with_version(&b_group)).await,
        groups.update_group(remove_with_version(&random_id())).await,
    );
    for expected_version in [None, Some(1), Some(99)] {
        let delete = |id: &str| pb::DeleteGroupRequest {
            id: id.into(),
            expected_version,
        };
        assert_same_not_found(
            &format!("DeleteGroup (expected_version {expected_version:?})"),
            groups.delete_group(delete(&b_group)).await,
            groups.delete_group(delete(&random_id())).await,
        );
    }
    let members = |id: &str| pb::ListGroupMembersRequest {
        group_id: id.into(),
        page_size: 0,
        page_token: String::new(),
    };
    assert_same_not_found(
        "ListGroupMembers",
        groups.list_group_members(members(&b_group)).await,
        groups.list_group_members(members(&random_id())).await,
    );
    assert_same_not_found(
        "RevokeToken",
        tokens
            .revoke_token(pb::RevokeTokenRequest {
                id: b.token.id.clone(),
            })
            .await,
        tokens
            .revoke_token(pb::RevokeTokenRequest { id: random_id() })
            .await,
    );

    // B's data is untouched.
    let mut b_users = server.users(&b.admin);
    let after = b_users
        .get_user(get_by(Lookup::Id(b_user.clone())))
        .await
        .expect("B still has its user")
        .into_inner();
    assert_eq!(after.user_name, B_USER_NAME);
    assert_eq!(after.meta.unwrap().version, b.user.meta.unwrap().version);
    assert_eq!(
        after
            .groups
            .iter()
            .map(|group| group.value.as_str())
            .collect::<Vec<_>>(),
        [b_group.as_str()]
    );
    let group = server
        .groups(&b.admin)
        .get_group(pb::GetGroupRequest {
            id: b_group.clone(),
            include_members: true,
        })
        .await
        .expect("B still has its group")
        .into_inner();
    assert_eq!(group.display_name, B_GROUP);
    assert_eq!(
        group.meta.unwrap().version,
        b.group.meta.unwrap().version,
        "B's group version moved"
    );
    assert_eq!(
        group
            .members
            .iter()
            .map(|member| member.value.as_str())
            .collect::<Vec<_>>(),
        [b_user.as_str()]
    );
    let b_tokens = server
        .tokens(&b.admin)
        .list_tokens(pb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens;
    let token = b_tokens
        .iter()
        .find(|token| token.id == b.token.id)
        .expect("B's token is listed");
    assert_eq!(token.revoked_at, None, "A revoked B's token");
    server
        .users(&b.token_secret)
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect("B's token still works");
    server.stop().await;
}

#[tokio::test]
async fn lists_and_filters_never_cross_organizations() {
    let server = TestServer::start().await;
    let (_, a_admin) = server.new_org("org-a").await;
    let (_, b_admin) = server.new_org("org-b").await;
    let b = populate_b(&server, b_admin).await;
    let a_user = crate::harness::create_user(&server, &a_admin, "alice@a.example").await;
    let a_group = create_group(&server, &a_admin, "A Team", &[&a_user.id])
        .await
        .group
        .unwrap();
    let mut users = server.users(&a_admin);
    let mut groups = server.groups(&a_admin);

    let user_filters = [
        ("userName", compare("userName", "", Eq, B_USER_NAME)),
        (
            "userName (other case)",
            compare("userName", "", Eq, &B_USER_NAME.to_uppercase()),
        ),
        (
            "userName sw",
            compare("userName", "", pb::CompareOp::Sw, "bob"),
        ),
        ("externalId", compare("externalId", "", Eq, B_EXTERNAL_ID)),
        ("emails.value", compare("emails", "value", Eq, B_EMAIL)),
        ("emails", compare("emails", "", Eq, B_EMAIL)),
        (
            "emails co",
            compare("emails", "value", pb::CompareOp::Co, "b.example"),
        ),
        ("id", compare("id", "", Eq, &b.user.id)),
        ("groups.value", compare("groups", "value", Eq, &b.group.id)),
    ];
    for (what, filter) in user_filters {
        let page = users
            .list_users(pb::ListUsersRequest {
                filter: Some(filter),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| panic!("ListUsers filtered by {what}: {status:?}"))
            .into_inner();
        assert_eq!(
            page.total_results, 0,
            "ListUsers filtered by {what} sees B: {page:?}"
        );
        assert!(
            page.users.is_empty(),
            "ListUsers filtered by {what} sees B: {page:?}"
        );
    }
    let group_filters = [
        ("displayName", compare("displayName", "", Eq, B_GROUP)),
        (
            "externalId",
            compare("externalId", "", Eq, B_GROUP_EXTERNAL_ID),
        ),
        ("id", compare("id", "", Eq, &b.group.id)),
        ("members.value", compare("members", "value", Eq, &b.user.id)),
    ];
    for (what, filter) in group_filters {
        let page = groups
            .list_groups(pb::ListGroupsRequest {
                filter: Some(filter),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| panic!("ListGroups filtered by {what}: {status:?}"))
            .into_inner();
        assert_eq!(
            page.total_results, 0,
            "ListGroups filtered by {what} sees B: {page:?}"
        );
        assert!(
            page.groups.is_empty(),
            "ListGroups filtered by {what} sees B: {page:?}"
        );
    }

    // Unfiltered lists hold exactly A's own resources.
    let page = users
        .list_users(pb::ListUsersRequest {
            include_groups: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = page.users.iter().map(|user| user.id.as_str()).collect();
    assert_eq!(ids, [a_user.id.as_str()], "{page:?}");
    assert_eq!(page.total_results, 1);
    let page = groups
        .list_groups(pb::ListGroupsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = page.groups.iter().map(|group| group.id.as_str()).collect();
    assert_eq!(ids, [a_group.id.as_str()], "{page:?}");
    assert_eq!(page.total_results, 1);
    let a_tokens = server
        .tokens(&a_admin)
        .list_tokens(pb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert!(!a_tokens.is_empty());
    assert!(
        a_tokens.iter().all(|token| token.id != b.token.id),
        "A lists B's token: {a_tokens:?}"
    );
    let a_org = server
        .orgs(&a_admin)
        .get_organization(pb::GetOrganizationRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        a_tokens
            .iter()
            .all(|token| token.organization_id == a_org.id),
        "{a_tokens:?}"
    );

    // And the other way round.
    let page = server
        .users(&b.admin)
        .list_users(pb::ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        page.users
            .iter()
            .map(|user| user.id.as_str())
            .collect::<Vec<_>>(),
        [b.user.id.as_str()]
    );
    let page = server
        .groups(&b.admin)
        .list_groups(pb::ListGroupsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        page.groups
            .iter()
            .map(|group| group.id.as_str())
            .collect::<Vec<_>>(),
        [b.group.id.as_str()]
    );
    // The bootstrap organization sees neither.
    let page = server
        .users(&server.admin)
        .list_users(pb::ListUsersRequest {
            count: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.into_inner().total_results, 0);
    server.stop().await;
}

#[tokio::test]
async fn members_from_another_organization_are_skipped_and_not_stored() {
    let server = TestServer::start().await;
    let (_, a_admin) = server.new_org("org-a").await;
    let (_, b_admin) = server.new_org("org-b").await;
    let b = populate_b(&server, b_admin).await;
    let a_user = crate::harness::create_user(&server, &a_admin, "alice@a.example").await;
    let mut groups = server.groups(&a_admin);

    // On create, untyped and typed.
    let created = groups
        .create_group(pb::CreateGroupRequest {
            group: Some(pb::Group {
                display_name: "A Team".into(),
                members: vec![
                    member(&a_user.id),
                    member(&b.user.id),
                    pb::Member {
                        value: b.group.id.clone(),
                        r#type: pb::MemberType::Group as i32,
                        display: String::new(),
                    },
                ],
                ..Default::default()
            }),
        })
        .await
        .expect("create A's group")
        .into_inner();
    let mut skipped = created.skipped_member_ids.clone();
    skipped.sort();
    let mut expected = vec![b.user.id.clone(), b.group.id.clone()];
    expected.sort();
    assert_eq!(skipped, expected, "{created:?}");
    let a_group = created.group.unwrap().id;

    // On add and replace.
    let changes = [
        Change::AddMembers(pb::MemberList {
            members: vec![pb::Member {
                value: b.user.id.clone(),
                r#type: pb::MemberType::User as i32,
                display: String::new(),
            }],
        }),
        Change::AddMembers(pb::MemberList {
            members: vec![member(&b.group.id)],
        }),
        Change::ReplaceMembers(pb::MemberList {
            members: vec![member(&a_user.id), member(&b.user.id)],
        }),
    ];
    for change in changes {
        let response = groups
            .update_group(pb::UpdateGroupRequest {
                id: a_group.clone(),
                expected_version: None,
                changes: vec![pb::GroupChange {
                    change: Some(change.clone()),
                }],
            })
            .await
            .unwrap_or_else(|status| panic!("{change:?}: {status:?}"))
            .into_inner();
        assert_eq!(
            response.skipped_member_ids.len(),
            1,
            "{change:?}: {response:?}"
        );
        assert!(
            [&b.user.id, &b.group.id].contains(&&response.skipped_member_ids[0]),
            "{change:?}: {response:?}"
        );
    }

    let members = groups
        .list_group_members(pb::ListGroupMembersRequest {
            group_id: a_group.clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(
        members
            .iter()
            .map(|member| member.value.as_str())
            .collect::<Vec<_>>(),
        [a_user.id.as_str()]
    );
    let with_members = groups
        .get_group(pb::GetGroupRequest {
            id: a_group.clone(),
            include_members: true,
        })
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(with_members.len(), 1, "{with_members:?}");
    let filtered = groups
        .list_groups(pb::ListGroupsRequest {
            filter: Some(compare("members", "value", Eq, &b.user.id)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filtered.total_results, 0, "{filtered:?}");

    // B's user does not appear to belong to A's group.
    let bob = server
        .users(&b.admin)
        .get_user(get_by(pb::get_user_request::Lookup::Id(b.user.id.clone())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        bob.groups
            .iter()
            .map(|group| group.value.as_str())
            .collect::<Vec<_>>(),
        [b.group.id.as_str()]
    );
    // Deleting A's group leaves B's membership alone.
    groups
        .delete_group(pb::DeleteGroupRequest {
            id: a_group,
            expected_version: None,
        })
        .await
        .unwrap();
    let b_members = server
        .groups(&b.admin)
        .list_group_members(pb::ListGroupMembersRequest {
            group_id: b.group.id.clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(
        b_members
            .iter()
            .map(|member| member.value.as_str())
            .collect::<Vec<_>>(),
        [b.user.id.as_str()]
    );
    server.stop().await;
}

#[tokio::test]
async fn unique_names_are_unique_per_organization_only() {
    let server = TestServer::start().await;
    let (_, a_admin) = server.new_org("org-a").await;
    let (b_id, b_admin) = server.new_org("org-b").await;
    // One person in both organizations: B joins A's account, so B has verified the domain.
    crate::harness::verify_domain(&server, &b_admin, &b_id, "example.com").await;
    let mut created = Vec::new();
    for admin in [&a_admin, &b_admin] {
        let mut shared = user("shared@example.com");
        shared.external_id = Some("ext-shared".into());
        let user = server
            .users(admin)
            .create_user(pb::CreateUserRequest { user: Some(shared) })
            .await
            .expect("the same userName and externalId are free in another organization")
            .into_inner();
        let group = server
            .groups(admin)
            .create_group(pb::CreateGroupRequest {
                group: Some(pb::Group {
                    display_name: "Engineering".into(),
                    external_id: Some("ext-eng".into()),
                    members: vec![member(&user.id)],
                    ..Default::default()
                }),
            })
            .await
            .expect("the same displayName is free in another organization")
            .into_inner();
        assert!(group.skipped_member_ids.is_empty(), "{group:?}");
        created.push((user.id, group.group.unwrap().id));
    }
    assert_ne!(created[0].0, created[1].0);
    assert_ne!(created[0].1, created[1].1);
    // Within one organization the names stay unique.
    let (code, field, _) = failure(
        server
            .users(&a_admin)
            .create_user(pb::CreateUserRequest {
                user: Some(user("SHARED@example.com")),
            })
            .await,
    );
    assert_eq!((code, field.as_str()), (Code::AlreadyExists, "user_name"));
    // Each organization's lookup by name finds its own.
    for (admin, (user_id, _)) in [&a_admin, &b_admin].into_iter().zip(&created) {
        let found = server
            .users(admin)
            .get_user(get_by(pb::get_user_request::Lookup::UserName(
                "shared@example.com".into(),
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(&found.id, user_id);
        let found = server
            .users(admin)
            .get_user(get_by(pb::get_user_request::Lookup::ExternalId(
                "ext-shared".into(),
            )))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(&found.id, user_id);
    }
    server.stop().await;
}

#[tokio::test]
async fn scopes_are_enforced_on_every_write() {
    let server = TestServer::start().await;
    let existing =
        crate::harness::create_user(&server, &server.admin, "existing@example.com").await;
    let group = create_group(&server, &server.admin, "Existing", &[])
        .await
        .group
        .unwrap();
    let reader = server.token(&["scim:read"]).await;
    let writer = server.token(&["scim:write"]).await;
    let (victim, _) = mint(&server, &server.admin, "victim", &["scim:read"]).await;

    let mut users = server.users(&reader);
    let mut groups = server.groups(&reader);
    let denied = |what: &str, code: Code| {
        assert_eq!(
            code,
            Code::PermissionDenied,
            "{what} with a scim:read token"
        )
    };
    denied(
        "CreateUser",
        failure(
            users
                .create_user(pb::CreateUserRequest {
                    user: Some(user("new@example.com")),
                })
                .await,
        )
        .0,
    );
    let mut renamed = existing.clone();
    renamed.user_name = "renamed@example.com".into();
    denied(
        "ReplaceUser",
        failure(
            users
                .replace_user(pb::ReplaceUserRequest {
                    user: Some(renamed),
                    expected_version: None,
                })
                .await,
        )
        .0,
    );
    denied(
        "DeleteUser",
        failure(
            users
                .delete_user(pb::DeleteUserRequest {
                    id: existing.id.clone(),
                    expected_version: None,
                })
                .await,
        )
        .0,
    );
    denied(
        "CreateGroup",
        failure(
            groups
                .create_group(pb::CreateGroupRequest {
                    group: Some(pb::Group {
                        display_name: "New".into(),
                        ..Default::default()
                    }),
                })
                .await,
        )
        .0,
    );
    denied(
        "UpdateGroup",
        failure(groups.update_group(rename(&group.id)).await).0,
    );
    denied(
        "DeleteGroup",
        failure(
            groups
                .delete_group(pb::DeleteGroupRequest {
                    id: group.id.clone(),
                    expected_version: None,
                })
                .await,
        )
        .0,
    );
    let create_token = || pb::CreateTokenRequest {
        name: "escalate".into(),
        scopes: vec!["scim:read".into()],
        expires_at: None,
        connection_id: String::new(),
    };
    denied(
        "CreateToken",
        failure(server.tokens(&reader).create_token(create_token()).await).0,
    );
    denied(
        "ListTokens",
        failure(
            server
                .tokens(&reader)
                .list_tokens(pb::ListTokensRequest::default())
                .await,
        )
        .0,
    );
    // Reads work, and nothing was changed.
    let page = users
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect("scim:read reads")
        .into_inner();
    assert_eq!(page.users.len(), 1);
    assert_eq!(page.users[0].user_name, "existing@example.com");
    assert_eq!(page.users[0].meta.unwrap().version, 1);
    let after = groups
        .get_group(pb::GetGroupRequest {
            id: group.id.clone(),
            include_members: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (after.display_name.as_str(), after.meta.unwrap().version),
        ("Existing", 1)
    );

    // A scim:write token writes users but cannot manage tokens.
    let mut tokens = server.tokens(&writer);
    server
        .users(&writer)
        .create_user(pb::CreateUserRequest {
            user: Some(user("written@example.com")),
        })
        .await
        .expect("scim:write writes");
    let denied = |what: &str, code: Code| {
        assert_eq!(
            code,
            Code::PermissionDenied,
            "{what} with a scim:write token"
        )
    };
    denied(
        "ListTokens",
        failure(tokens.list_tokens(pb::ListTokensRequest::default()).await).0,
    );
    denied(
        "CreateToken",
        failure(tokens.create_token(create_token()).await).0,
    );
    denied(
        "RevokeToken",
        failure(
            tokens
                .revoke_token(pb::RevokeTokenRequest {
                    id: victim.id.clone(),
                })
                .await,
        )
        .0,
    );
    let listed = server
        .tokens(&server.admin)
        .list_tokens(pb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert_eq!(
        listed
            .iter()
            .find(|token| token.id == victim.id)
            .unwrap()
            .revoked_at,
        None
    );
    assert_eq!(
        listed.len(),
        4,
        "bootstrap, reader, writer, victim: {listed:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_organization_admin_is_not_a_system_admin() {
    let server = TestServer::start().await;
    let (b_org, b_admin) = server.new_org("org-b").await;
    let mut orgs = server.orgs(&b_admin);
    let (code, _, _) = failure(
        orgs.create_organization(pb::CreateOrganizationRequest {
            name: "sneaky".into(),
            display_name: String::new(),
        })
        .await,
    );
    assert_eq!(code, Code::PermissionDenied);
    let (code, _, _) = failure(
        orgs.list_organizations(pb::ListOrganizationsRequest {})
            .await,
    );
    assert_eq!(code, Code::PermissionDenied);
    let own = orgs
        .get_organization(pb::GetOrganizationRequest {})
        .await
        .expect("any token reads its organization")
        .into_inner();
    assert_eq!(
        (own.id.as_str(), own.name.as_str()),
        (b_org.as_str(), "org-b")
    );
    // Nothing was created.
    let all = server
        .orgs(&server.admin)
        .list_organizations(pb::ListOrganizationsRequest {})
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = all
        .organizations
        .iter()
        .map(|org| org.name.as_str())
        .collect();
    assert_eq!(names, ["default", "org-b"]);
    server.stop().await;
}

/// A client of each service with a hand-made `authorization` header (or none).
struct Clients {
    users: UserServiceClient<crate::harness::Authed>,
    groups: GroupServiceClient<crate::harness::Authed>,
    tokens: TokenServiceClient<crate::harness::Authed>,
    orgs: OrganizationServiceClient<crate::harness::Authed>,
}

impl Clients {
    fn new(server: &TestServer, secret: Option<&str>) -> Self {
        let bearer = Bearer(secret.map(str::to_owned));
        Clients {
            users: UserServiceClient::with_interceptor(server.channel(), bearer.clone()),
            groups: GroupServiceClient::with_interceptor(server.channel(), bearer.clone()),
            tokens: TokenServiceClient::with_interceptor(server.channel(), bearer.clone()),
            orgs: OrganizationServiceClient::with_interceptor(server.channel(), bearer),
        }
    }

    /// The status of one call of each service; all must fail.
    async fn failures(&mut self) -> Vec<(&'static str, tonic::Status)> {
        vec![
            (
                "ListUsers",
                self.users
                    .list_users(pb::ListUsersRequest::default())
                    .await
                    .expect_err("ListUsers"),
            ),
            (
                "CreateUser",
                self.users
                    .create_user(pb::CreateUserRequest {
                        user: Some(user("x@example.com")),
                    })
                    .await
                    .expect_err("CreateUser"),
            ),
            (
                "ListGroups",
                self.groups
                    .list_groups(pb::ListGroupsRequest::default())
                    .await
                    .expect_err("ListGroups"),
            ),
            (
                "GetCurrentToken",
                self.tokens
                    .get_current_token(pb::GetCurrentTokenRequest {})
                    .await
                    .expect_err("GetCurrentToken"),
            ),
            (
                "GetOrganization",
                self.orgs
                    .get_organization(pb::GetOrganizationRequest {})
                    .await
                    .expect_err("GetOrganization"),
            ),
        ]
    }
}

/// `secret` with the character at `index` replaced by another hex digit.
fn flip(secret: &str, index: usize) -> String {
    let mut bytes = secret.as_bytes().to_vec();
    bytes[index] = if bytes[index] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

/// `secret` with its CRC-32 recomputed, so only the stored hash can tell it is wrong.
fn with_valid_checksum(secret: &str) -> String {
    let body = &secret[..secret.len() - 8];
    format!("{body}{:08x}", crc32(&body.as_bytes()["roster_".len()..]))
}

#[tokio::test]
async fn bad_credentials_are_unauthenticated_without_an_oracle() {
    let server = TestServer::start().await;
    let (_, secret) = mint(&server, &server.admin, "reader", &["scim:read"]).await;
    assert_eq!(secret.len(), 96, "{secret}");
    // Sanity: the real secret works through the same hand-made clients.
    Clients::new(&server, Some(&secret))
        .users
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect("the real secret works");
    assert_eq!(
        with_valid_checksum(&secret),
        secret,
        "the checksum is CRC-32 of the part after roster_"
    );

    let mut invalid_messages = Vec::new();
    let wrong_random_part = with_valid_checksum(&flip(&secret, 60));
    let unknown_id = with_valid_checksum(&flip(&secret, 10));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("garbage", Some("garbage".into())),
        ("empty", Some(String::new())),
        ("prefix only", Some("roster_".into())),
        (
            "a character of the random part flipped",
            Some(flip(&secret, 60)),
        ),
        ("a character of the id flipped", Some(flip(&secret, 10))),
        (
            "a character of the checksum flipped",
            Some(flip(&secret, 93)),
        ),
        (
            "random part changed, checksum recomputed",
            Some(wrong_random_part),
        ),
        ("unknown id, checksum recomputed", Some(unknown_id)),
        ("truncated", Some(secret[..95].to_owned())),
        ("extended", Some(format!("{secret}0"))),
        ("upper case", Some(secret.to_uppercase())),
    ];
    for (what, credential) in cases {
        let failures = Clients::new(&server, credential.as_deref())
            .failures()
            .await;
        if credential
            .as_deref()
            .is_some_and(|credential| credential.len() >= 90)
        {
            invalid_messages.push((what, failures[0].1.message().to_owned()));
        }
        for (call, status) in failures {
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{what}: {call}: {status:?}"
            );
            if let Some(credential) = &credential
                && !credential.is_empty()
            {
                assert!(
                    !status.message().contains(credential.as_str()),
                    "{what}: {call} echoes the credential"
                );
            }
        }
    }
    // Well-formed but wrong secrets all get the same answer, whichever check refused them.
    let first = invalid_messages[0].1.clone();
    for (what, message) in &invalid_messages {
        assert_eq!(
            message, &first,
            "{what} is refused differently from {}",
            invalid_messages[0].0
        );
    }
    // A header that is not a bearer token.
    let status = UserServiceClient::with_interceptor(server.channel(), Basic(secret.clone()))
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect_err("Basic auth is refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // The real secret still works after all that.
    server
        .users(&secret)
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect("the real secret works");
    server.stop().await;
}

/// Sends `authorization: Basic <secret>`.
#[derive(Clone)]
struct Basic(String);

impl tonic::service::Interceptor for Basic {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert(
            "authorization",
            format!("Basic {}", self.0).parse().unwrap(),
        );
        Ok(request)
    }
}
