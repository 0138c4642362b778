//! RoleService end to end: the default catalog of every organization, the precedence explicit >
//! group > default, the highest-ranked group role, recomputation of exactly the members a change
//! touches (membership deltas, group role changes, group deletion, catalog changes), concurrent
//! membership changes of one user, provisioning writes (userType, roles, over gRPC and SCIM),
//! unknown names, isolation, scopes, the migration's backfill, and `rosterctl role`.

use crate::harness::{
    TestDb, TestServer, create_group, create_user, failure, member, query_text, rosterctl_json,
};
use roster::pb::{
    self, AssignmentSource, RoleReason, assign_group_role_request, assign_user_role_request,
    group_change::Change,
};
use std::collections::BTreeMap;
use tonic::Code;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const DEFAULTS: [(&str, i32, bool); 4] = [
    ("Admin", 400, false),
    ("FullMember", 300, false),
    ("FreeMember", 200, true),
    ("Guest", 100, false),
];

const VALID_NAMES: &str = "valid roles are Admin, FullMember, FreeMember, Guest";

async fn list_roles(server: &TestServer, secret: &str) -> Vec<(String, i32, bool)> {
    server
        .roles(secret)
        .list_roles(pb::ListRolesRequest {})
        .await
        .expect("list roles")
        .into_inner()
        .roles
        .into_iter()
        .map(|role| (role.name, role.rank, role.is_default))
        .collect()
}

fn defaults() -> Vec<(String, i32, bool)> {
    DEFAULTS
        .iter()
        .map(|(name, rank, is_default)| (name.to_string(), *rank, *is_default))
        .collect()
}

async fn effective(server: &TestServer, user_id: &str) -> pb::EffectiveRole {
    server
        .roles(&server.admin)
        .get_effective_role(pb::GetEffectiveRoleRequest {
            user_id: user_id.into(),
        })
        .await
        .unwrap_or_else(|status| panic!("effective role of {user_id}: {status:?}"))
        .into_inner()
}

/// (role, reason, source or group display name) of a user.
async fn role_of(server: &TestServer, user_id: &str) -> (String, RoleReason, String) {
    let role = effective(server, user_id).await;
    let detail = match role.reason() {
        RoleReason::Group => {
            assert!(!role.group_id.is_empty(), "a group reason names the group");
            role.group_display_name.clone()
        }
        RoleReason::Explicit => format!("{:?}", role.source()),
        _ => {
            assert_eq!(role.source(), AssignmentSource::Unspecified);
            assert!(role.group_id.is_empty());
            String::new()
        }
    };
    (role.role.clone(), role.reason(), detail)
}

fn expect(role: &str, reason: RoleReason, detail: &str) -> (String, RoleReason, String) {
    (role.to_owned(), reason, detail.to_owned())
}

fn default_role() -> (String, RoleReason, String) {
    expect("FreeMember", RoleReason::Default, "")
}

async fn define(
    server: &TestServer,
    secret: &str,
    name: &str,
    rank: i32,
    make_default: bool,
) -> Result<pb::Role, tonic::Status> {
    server
        .roles(secret)
        .define_role(pb::DefineRoleRequest {
            name: name.into(),
            rank,
            make_default,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn assign_user(
    server: &TestServer,
    secret: &str,
    user_id: &str,
    role: Option<&str>,
) -> Result<pb::EffectiveRole, tonic::Status> {
    let assignment = match role {
        Some(role) => assign_user_role_request::Assignment::Role(role.into()),
        None => assign_user_role_request::Assignment::Clear(true),
    };
    server
        .roles(secret)
        .assign_user_role(pb::AssignUserRoleRequest {
            user_id: user_id.into(),
            assignment: Some(assignment),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn assign_group(
    server: &TestServer,
    secret: &str,
    group_id: &str,
    role: Option<&str>,
) -> Result<pb::AssignGroupRoleResponse, tonic::Status> {
    let assignment = match role {
        Some(role) => assign_group_role_request::Assignment::Role(role.into()),
        None => assign_group_role_request::Assignment::Clear(true),
    };
    server
        .roles(secret)
        .assign_group_role(pb::AssignGroupRoleRequest {
            group_id: group_id.into(),
            assignment: Some(assignment),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// A group with members and (optionally) a role; returns its id.
async fn role_group(
    server: &TestServer,
    name: &str,
    members: &[&str],
    role: Option<&str>,
) -> String {
    let id = create_group(server, &server.admin, name, members)
        .await
        .group
        .unwrap()
        .id;
    if let Some(role) = role {
        assign_group(server, &server.admin, &id, Some(role))
            .await
            .expect("assign group role");
    }
    id
}

async fn change_members(server: &TestServer, group_id: &str, change: Change) {
    server
        .groups(&server.admin)
        .update_group(pb::UpdateGroupRequest {
            id: group_id.into(),
            expected_version: None,
            changes: vec![pb::GroupChange {
                change: Some(change),
            }],
        })
        .await
        .expect("update group");
}

fn members(ids: &[&str]) -> pb::MemberList {
    pb::MemberList {
        members: ids.iter().map(|id| member(id)).collect(),
    }
}

async fn create_typed(
    server: &TestServer,
    user_name: &str,
    user_type: Option<&str>,
    roles: Vec<pb::MultiValue>,
) -> Result<pb::User, tonic::Status> {
    server
        .users(&server.admin)
        .create_user(pb::CreateUserRequest {
            user: Some(pb::User {
                user_name: user_name.into(),
                user_type: user_type.map(Into::into),
                roles,
                ..Default::default()
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

fn role_value(value: &str, primary: bool) -> pb::MultiValue {
    pb::MultiValue {
        value: value.into(),
        primary,
        ..Default::default()
    }
}

async fn replace(server: &TestServer, user: pb::User) -> Result<pb::User, tonic::Status> {
    server
        .users(&server.admin)
        .replace_user(pb::ReplaceUserRequest {
            user: Some(user),
            expected_version: None,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Every user's role row as `user_id -> "role|reason|via_group|updated_at"`, read from the database.
async fn role_rows(server: &TestServer) -> BTreeMap<String, String> {
    query_text(
        &server.database_url,
        "SELECT user_id || '=' || effective_role || '|' || reason || '|' || \
         COALESCE(via_group_id, '-') || '|' || CAST(updated_at AS TEXT) FROM user_roles",
    )
    .await
    .into_iter()
    .map(|line| {
        let (id, rest) = line.split_once('=').unwrap();
        (id.to_owned(), rest.to_owned())
    })
    .collect()
}

/// The ids whose rows differ between two snapshots.
fn changed(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut ids: Vec<String> = after
        .iter()
        .filter(|(id, row)| before.get(*id) != Some(*row))
        .map(|(id, _)| id.clone())
        .collect();
    ids.extend(before.keys().filter(|id| !after.contains_key(*id)).cloned());
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    ids.sort();
    ids
}

// ---------------------------------------------------------------------------------------------
// The catalog
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_organization_starts_with_the_default_catalog() {
    let server = TestServer::start().await;
    assert_eq!(list_roles(&server, &server.admin).await, defaults());
    let (_, other_admin) = server.new_org("acme").await;
    assert_eq!(list_roles(&server, &other_admin).await, defaults());

    // A new user without userType or roles is a FreeMember by default.
    let alice = create_user(&server, &server.admin, "alice@example.com").await;
    assert_eq!(role_of(&server, &alice.id).await, default_role());
    let full = effective(&server, &alice.id).await;
    assert_eq!((full.rank, full.user_id.as_str()), (200, alice.id.as_str()));

    // Catalogs are per organization.
    define(&server, &other_admin, "Contractor", 150, false)
        .await
        .expect("define in acme");
    assert_eq!(list_roles(&server, &server.admin).await, defaults());
    assert_eq!(list_roles(&server, &other_admin).await.len(), 5);
    server.stop().await;
}

#[tokio::test]
async fn defining_roles_changes_ranks_defaults_and_user_types() {
    let server = TestServer::start().await;
    // Users whose userType names no role yet.
    let contractor = create_typed(&server, "c@example.com", Some("Contractor"), vec![])
        .await
        .unwrap();
    let pinned = create_typed(&server, "p@example.com", Some("Contractor"), vec![])
        .await
        .unwrap();
    assign_user(&server, &server.admin, &pinned.id, Some("Guest"))
        .await
        .unwrap();
    let plain = create_user(&server, &server.admin, "plain@example.com").await;
    assert_eq!(role_of(&server, &contractor.id).await, default_role());

    // Defining the role makes it their explicit role, except where an administrator assigned one.
    let before = role_rows(&server).await;
    let role = define(&server, &server.admin, "Contractor", 250, false)
        .await
        .expect("define Contractor");
    assert_eq!(
        (role.name.as_str(), role.rank, role.is_default),
        ("Contractor", 250, false)
    );
    assert_eq!(
        role_of(&server, &contractor.id).await,
        expect("Contractor", RoleReason::Explicit, "UserType")
    );
    assert_eq!(
        role_of(&server, &pinned.id).await,
        expect("Guest", RoleReason::Explicit, "Admin")
    );
    assert_eq!(
        changed(&before, &role_rows(&server).await),
        sorted(&[&contractor.id])
    );
    let names: Vec<String> = list_roles(&server, &server.admin)
        .await
        .into_iter()
        .map(|(name, _, _)| name)
        .collect();
    assert_eq!(
        names,
        ["Admin", "FullMember", "Contractor", "FreeMember", "Guest"]
    );

    // Redefining with the same rank changes nothing; a new rank is kept.
    let same = define(&server, &server.admin, "Contractor", 250, false)
        .await
        .unwrap();
    assert_eq!(same.last_modified, role.last_modified);
    let moved = define(&server, &server.admin, "Contractor", 50, false)
        .await
        .unwrap();
    assert_eq!(moved.rank, 50);
    assert_eq!(moved.created, role.created);

    // Moving the default moves every user who had it, and only them.
    let before = role_rows(&server).await;
    let guest = define(&server, &server.admin, "Guest", 100, true)
        .await
        .unwrap();
    assert!(guest.is_default);
    let catalog = list_roles(&server, &server.admin).await;
    assert_eq!(
        catalog
            .iter()
            .filter(|(_, _, is_default)| *is_default)
            .count(),
        1,
        "{catalog:?}"
    );
    assert_eq!(
        role_of(&server, &plain.id).await,
        expect("Guest", RoleReason::Default, "")
    );
    assert_eq!(
        changed(&before, &role_rows(&server).await),
        sorted(&[&plain.id])
    );
    let newcomer = create_user(&server, &server.admin, "new@example.com").await;
    assert_eq!(
        role_of(&server, &newcomer.id).await,
        expect("Guest", RoleReason::Default, "")
    );
    // A new role can be the default from the start.
    define(&server, &server.admin, "Visitor", 10, true)
        .await
        .unwrap();
    assert_eq!(
        role_of(&server, &plain.id).await,
        expect("Visitor", RoleReason::Default, "")
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Precedence
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn explicit_beats_group_beats_default() {
    let server = TestServer::start().await;
    let okta = create_typed(&server, "okta@example.com", Some("FullMember"), vec![])
        .await
        .unwrap();
    let entra = create_typed(
        &server,
        "entra@example.com",
        None,
        vec![role_value("Guest", false), role_value("Admin", true)],
    )
    .await
    .unwrap();
    let plain = create_user(&server, &server.admin, "plain@example.com").await;
    assert_eq!(
        role_of(&server, &okta.id).await,
        expect("FullMember", RoleReason::Explicit, "UserType")
    );
    assert_eq!(
        role_of(&server, &entra.id).await,
        expect("Admin", RoleReason::Explicit, "Roles")
    );
    assert_eq!(role_of(&server, &plain.id).await, default_role());

    // A group role applies to members without an explicit role.
    let guests = role_group(&server, "Guests", &[&okta.id, &plain.id], Some("Guest")).await;
    assert_eq!(
        role_of(&server, &plain.id).await,
        expect("Guest", RoleReason::Group, "Guests")
    );
    let detail = effective(&server, &plain.id).await;
    assert_eq!(detail.group_id, guests);
    assert_eq!(
        role_of(&server, &okta.id).await,
        expect("FullMember", RoleReason::Explicit, "UserType"),
        "an explicit role beats a group role, whatever their ranks"
    );

    // An administrator's explicit assignment beats the group; clearing it falls back.
    let assigned = assign_user(&server, &server.admin, &plain.id, Some("Admin"))
        .await
        .expect("assign");
    assert_eq!(
        (assigned.role.as_str(), assigned.reason(), assigned.source()),
        ("Admin", RoleReason::Explicit, AssignmentSource::Admin)
    );
    assert_eq!(assigned.rank, 400);
    let cleared = assign_user(&server, &server.admin, &plain.id, None)
        .await
        .expect("clear");
    assert_eq!(
        (
            cleared.role.as_str(),
            cleared.reason(),
            cleared.group_display_name.as_str()
        ),
        ("Guest", RoleReason::Group, "Guests")
    );
    // Renaming the group shows in the reason (the name is read, not stored).
    server
        .groups(&server.admin)
        .update_group(pb::UpdateGroupRequest {
            id: guests.clone(),
            expected_version: None,
            changes: vec![pb::GroupChange {
                change: Some(Change::SetDisplayName("Visitors".into())),
            }],
        })
        .await
        .unwrap();
    assert_eq!(
        role_of(&server, &plain.id).await,
        expect("Guest", RoleReason::Group, "Visitors")
    );
    // Leaving the group: back to the default.
    change_members(
        &server,
        &guests,
        Change::RemoveMembers(members(&[&plain.id])),
    )
    .await;
    assert_eq!(role_of(&server, &plain.id).await, default_role());
    server.stop().await;
}

#[tokio::test]
async fn the_highest_ranked_group_role_wins() {
    let server = TestServer::start().await;
    let user = create_user(&server, &server.admin, "u@example.com").await;
    let guests = role_group(&server, "Guests", &[&user.id], Some("Guest")).await;
    let full = role_group(&server, "Full", &[&user.id], Some("FullMember")).await;
    let plain = role_group(&server, "Plain", &[&user.id], None).await;
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("FullMember", RoleReason::Group, "Full")
    );

    // A role given to a third group that outranks the others takes over, and goes with it.
    let response = assign_group(&server, &server.admin, &plain, Some("Admin"))
        .await
        .unwrap();
    assert_eq!(
        (
            response.role.as_str(),
            response.group_display_name.as_str(),
            response.changed_members
        ),
        ("Admin", "Plain", 1)
    );
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("Admin", RoleReason::Group, "Plain")
    );
    let same = assign_group(&server, &server.admin, &plain, Some("Admin"))
        .await
        .unwrap();
    assert_eq!(
        same.changed_members, 0,
        "assigning the same role changes nothing"
    );
    let cleared = assign_group(&server, &server.admin, &plain, None)
        .await
        .unwrap();
    assert_eq!((cleared.role.as_str(), cleared.changed_members), ("", 1));
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("FullMember", RoleReason::Group, "Full")
    );

    // Re-ranking the catalog re-weighs the groups: Guest above FullMember.
    define(&server, &server.admin, "Guest", 350, false)
        .await
        .unwrap();
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("Guest", RoleReason::Group, "Guests")
    );
    define(&server, &server.admin, "Guest", 100, false)
        .await
        .unwrap();
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("FullMember", RoleReason::Group, "Full")
    );

    // Two groups with the same role: the reason stays with the group it came from.
    let also_full = role_group(&server, "Also full", &[&user.id], Some("FullMember")).await;
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("FullMember", RoleReason::Group, "Full")
    );
    change_members(&server, &full, Change::RemoveMembers(members(&[&user.id]))).await;
    let now = effective(&server, &user.id).await;
    assert_eq!(
        (now.role.as_str(), now.group_id.as_str()),
        ("FullMember", also_full.as_str())
    );
    let _ = guests;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// What a change recomputes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn membership_changes_recompute_exactly_the_touched_members() {
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    for index in 0..6 {
        ids.push(
            create_user(&server, &server.admin, &format!("m{index}@example.com"))
                .await
                .id,
        );
    }
    let [u0, u1, u2, u3, u4, u5] = [0, 1, 2, 3, 4, 5].map(|index| ids[index].as_str());
    let full = role_group(&server, "Full", &[u0, u1], Some("FullMember")).await;
    let guests = role_group(&server, "Guests", &[u2], Some("Guest")).await;
    let no_role = role_group(&server, "No role", &[u3], None).await;
    assert_eq!(
        role_of(&server, u0).await,
        expect("FullMember", RoleReason::Group, "Full")
    );
    assert_eq!(
        role_of(&server, u2).await,
        expect("Guest", RoleReason::Group, "Guests")
    );

    // Add: only the added member's row changes.
    let before = role_rows(&server).await;
    change_members(&server, &full, Change::AddMembers(members(&[u2, u0]))).await;
    assert_eq!(changed(&before, &role_rows(&server).await), sorted(&[u2]));
    assert_eq!(
        role_of(&server, u2).await,
        expect("FullMember", RoleReason::Group, "Full")
    );

    // Remove: the removed member falls back to its next group role.
    let before = role_rows(&server).await;
    change_members(&server, &full, Change::RemoveMembers(members(&[u2, u5]))).await;
    assert_eq!(changed(&before, &role_rows(&server).await), sorted(&[u2]));
    assert_eq!(
        role_of(&server, u2).await,
        expect("Guest", RoleReason::Group, "Guests")
    );

    // Replace: the members that left and the ones that came, nobody else.
    let before = role_rows(&server).await;
    change_members(
        &server,
        &full,
        Change::ReplaceMembers(members(&[u1, u3, u4])),
    )
    .await;
    assert_eq!(
        changed(&before, &role_rows(&server).await),
        sorted(&[u0, u3, u4])
    );
    assert_eq!(role_of(&server, u0).await, default_role());
    for id in [u1, u3, u4] {
        assert_eq!(
            role_of(&server, id).await,
            expect("FullMember", RoleReason::Group, "Full")
        );
    }

    // A group without a role changes nobody's role.
    let before = role_rows(&server).await;
    change_members(&server, &no_role, Change::AddMembers(members(&[u0, u5]))).await;
    change_members(&server, &no_role, Change::RemoveMembers(members(&[u3]))).await;
    assert_eq!(
        changed(&before, &role_rows(&server).await),
        Vec::<String>::new()
    );

    // Nested groups do not pass their role on: a member of a member group keeps its own.
    change_members(&server, &full, Change::AddMembers(members(&[&no_role]))).await;
    assert_eq!(role_of(&server, u5).await, default_role());

    // A group role change recomputes that group's members only.
    let before = role_rows(&server).await;
    let response = assign_group(&server, &server.admin, &guests, Some("Admin"))
        .await
        .unwrap();
    assert_eq!(response.changed_members, 1);
    assert_eq!(changed(&before, &role_rows(&server).await), sorted(&[u2]));
    server.stop().await;
}

#[tokio::test]
async fn deleting_a_group_recomputes_its_members() {
    let server = TestServer::start().await;
    let alice = create_user(&server, &server.admin, "alice@example.com").await;
    let bob = create_user(&server, &server.admin, "bob@example.com").await;
    let carol = create_typed(&server, "carol@example.com", Some("Guest"), vec![])
        .await
        .unwrap();
    let other = create_user(&server, &server.admin, "other@example.com").await;
    let admins = role_group(
        &server,
        "Admins",
        &[&alice.id, &bob.id, &carol.id],
        Some("Admin"),
    )
    .await;
    role_group(&server, "Full", &[&bob.id], Some("FullMember")).await;
    role_group(&server, "Others", &[&other.id], Some("Guest")).await;
    assert_eq!(
        role_of(&server, &bob.id).await,
        expect("Admin", RoleReason::Group, "Admins")
    );

    let before = role_rows(&server).await;
    server
        .groups(&server.admin)
        .delete_group(pb::DeleteGroupRequest {
            id: admins.clone(),
            expected_version: None,
        })
        .await
        .expect("delete group");
    assert_eq!(
        changed(&before, &role_rows(&server).await),
        sorted(&[&alice.id, &bob.id]),
        "carol's explicit role and the other group's member are untouched"
    );
    assert_eq!(role_of(&server, &alice.id).await, default_role());
    assert_eq!(
        role_of(&server, &bob.id).await,
        expect("FullMember", RoleReason::Group, "Full")
    );
    assert_eq!(
        role_of(&server, &carol.id).await,
        expect("Guest", RoleReason::Explicit, "UserType")
    );
    let rows = query_text(
        &server.database_url,
        &format!("SELECT group_id FROM group_roles WHERE group_id = '{admins}'"),
    )
    .await;
    assert!(rows.is_empty(), "the group's role went with it");

    // Deleting a user removes its role row.
    server
        .users(&server.admin)
        .delete_user(pb::DeleteUserRequest {
            id: alice.id.clone(),
            expected_version: None,
        })
        .await
        .unwrap();
    assert!(!role_rows(&server).await.contains_key(&alice.id));
    let (code, _, _) = failure(
        server
            .roles(&server.admin)
            .get_effective_role(pb::GetEffectiveRoleRequest {
                user_id: alice.id.clone(),
            })
            .await,
    );
    assert_eq!(code, Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_membership_changes_of_one_user_settle_on_the_best_role() {
    let server = TestServer::start().await;
    let admins = role_group(&server, "Admins", &[], Some("Admin")).await;
    let guests = role_group(&server, "Guests", &[], Some("Guest")).await;
    let full = role_group(&server, "Full", &[], Some("FullMember")).await;
    for round in 0..8 {
        let user = create_user(&server, &server.admin, &format!("c{round}@example.com")).await;
        let add = |group: String| {
            let server = &server;
            let id = user.id.clone();
            async move {
                change_members(server, &group, Change::AddMembers(members(&[&id]))).await;
            }
        };
        tokio::join!(add(guests.clone()), add(admins.clone()), add(full.clone()));
        assert_eq!(
            role_of(&server, &user.id).await,
            expect("Admin", RoleReason::Group, "Admins"),
            "round {round}"
        );
        let remove = |group: String| {
            let server = &server;
            let id = user.id.clone();
            async move {
                change_members(server, &group, Change::RemoveMembers(members(&[&id]))).await;
            }
        };
        tokio::join!(remove(admins.clone()), remove(full.clone()));
        assert_eq!(
            role_of(&server, &user.id).await,
            expect("Guest", RoleReason::Group, "Guests"),
            "round {round}"
        );
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Provisioning writes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn provisioning_writes_follow_the_latest_statement() {
    let server = TestServer::start().await;
    let user = create_typed(&server, "p@example.com", Some("FullMember"), vec![])
        .await
        .unwrap();
    assign_user(&server, &server.admin, &user.id, Some("Admin"))
        .await
        .unwrap();

    // A replace that re-sends the same userType (a PATCH of the name does) keeps the assignment.
    let mut renamed = user.clone();
    renamed.display_name = Some("Renamed".into());
    let renamed = replace(&server, renamed).await.unwrap();
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("Admin", RoleReason::Explicit, "Admin")
    );
    // A new userType from the provider is the latest statement.
    let mut guest = renamed.clone();
    guest.user_type = Some("Guest".into());
    let guest = replace(&server, guest).await.unwrap();
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("Guest", RoleReason::Explicit, "UserType")
    );
    // A userType that is no role is an attribute: the provider's role goes, the value stays.
    let mut employee = guest.clone();
    employee.user_type = Some("Employee".into());
    let employee = replace(&server, employee).await.unwrap();
    assert_eq!(employee.user_type.as_deref(), Some("Employee"));
    assert_eq!(role_of(&server, &user.id).await, default_role());
    // An administrator's role survives provider writes that name no role.
    assign_user(&server, &server.admin, &user.id, Some("FullMember"))
        .await
        .unwrap();
    let mut contractor = employee.clone();
    contractor.user_type = Some("Contractor".into());
    let contractor = replace(&server, contractor).await.unwrap();
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("FullMember", RoleReason::Explicit, "Admin")
    );
    // Entra's roles: the primary value.
    let mut entra = contractor.clone();
    entra.roles = vec![role_value("Guest", true), role_value("Admin", false)];
    let entra = replace(&server, entra).await.unwrap();
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("Guest", RoleReason::Explicit, "Roles")
    );
    // A near miss stored before its role existed does not block later profile updates, but a
    // changed one is refused.
    let lower = create_typed(&server, "lower@example.com", Some("vendor"), vec![])
        .await
        .unwrap();
    define(&server, &server.admin, "Vendor", 250, false)
        .await
        .unwrap();
    let mut renamed = lower.clone();
    renamed.display_name = Some("Lower".into());
    let renamed = replace(&server, renamed)
        .await
        .expect("an unchanged userType does not block the update");
    assert_eq!(role_of(&server, &lower.id).await, default_role());
    let mut spaced = renamed.clone();
    spaced.user_type = Some("ven dor".into());
    let (code, field, _) = failure(replace(&server, spaced).await);
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "user_type"));
    let mut exact = renamed.clone();
    exact.user_type = Some("Vendor".into());
    replace(&server, exact).await.unwrap();
    assert_eq!(
        role_of(&server, &lower.id).await,
        expect("Vendor", RoleReason::Explicit, "UserType")
    );

    // Roles removed: the provider's role goes, the user's groups count again.
    role_group(&server, "Full", &[&user.id], Some("FullMember")).await;
    let mut none = entra.clone();
    none.roles.clear();
    replace(&server, none).await.unwrap();
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("FullMember", RoleReason::Group, "Full")
    );
    server.stop().await;
}

#[tokio::test]
async fn scim_user_type_and_roles_assign_roles() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let base = format!("http://{}/scim/v2", server.http_addr);
    let send = |method: reqwest::Method, path: String, body: serde_json::Value| {
        let request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&server.admin)
            .header("content-type", "application/scim+json")
            .body(body.to_string());
        async move {
            let response = request.send().await.expect("SCIM request");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body)
        }
    };

    // Okta: userType as the administrator typed it in the assignment.
    let (status, created) = send(
        reqwest::Method::POST,
        "/Users".into(),
        serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "okta@example.com",
            "userType": "FullMember",
            "emails": [{"value": "okta@example.com", "type": "work", "primary": true}],
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        role_of(&server, &id).await,
        expect("FullMember", RoleReason::Explicit, "UserType")
    );

    // "Full Member" with a space: a 400 that names the valid roles, and nothing changes.
    let (status, error) = send(
        reqwest::Method::PATCH,
        format!("/Users/{id}"),
        serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "userType", "value": "Full Member"}],
        }),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    let detail = error["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(VALID_NAMES), "{error}");
    assert!(detail.contains("did you mean FullMember"), "{error}");

    // Entra: the app role as the primary roles value.
    let (status, patched) = send(
        reqwest::Method::PATCH,
        format!("/Users/{id}"),
        serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "Remove", "path": "userType"},
                {"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "Admin"},
            ],
        }),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        role_of(&server, &id).await,
        expect("Admin", RoleReason::Explicit, "Roles")
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Errors, isolation, scopes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_role_names_are_invalid_and_list_the_valid_ones() {
    let server = TestServer::start().await;
    let user = create_user(&server, &server.admin, "u@example.com").await;
    let group = role_group(&server, "G", &[&user.id], None).await;

    let (code, field, message) =
        failure(assign_user(&server, &server.admin, &user.id, Some("Full Member")).await);
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "role"));
    assert!(message.contains(VALID_NAMES), "{message}");
    assert!(message.contains("did you mean FullMember"), "{message}");
    let (code, _, message) =
        failure(assign_group(&server, &server.admin, &group, Some("Owner")).await);
    assert_eq!(code, Code::InvalidArgument);
    assert!(message.contains(VALID_NAMES), "{message}");
    let (code, field, _) = failure(
        server
            .roles(&server.admin)
            .assign_user_role(pb::AssignUserRoleRequest {
                user_id: user.id.clone(),
                assignment: None,
            })
            .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "role"));
    assert_eq!(
        role_of(&server, &user.id).await,
        default_role(),
        "nothing changed"
    );

    // Provisioning: a near miss is refused, an unrelated value is an attribute.
    let (code, field, message) =
        failure(create_typed(&server, "a@example.com", Some("Full Member"), vec![]).await);
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "user_type"));
    assert!(message.contains(VALID_NAMES), "{message}");
    let (code, field, _) = failure(
        create_typed(
            &server,
            "b@example.com",
            None,
            vec![role_value("free member", true)],
        )
        .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "roles"));
    let employee = create_typed(
        &server,
        "c@example.com",
        Some("Employee"),
        vec![role_value("admiral", true)],
    )
    .await
    .expect("values that are no role are attributes");
    assert_eq!(role_of(&server, &employee.id).await, default_role());
    let (code, _, _) = failure(
        server
            .users(&server.admin)
            .get_user(pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::UserName(
                    "a@example.com".into(),
                )),
                include_groups: false,
            })
            .await,
    );
    assert_eq!(code, Code::NotFound, "a refused create stores nothing");

    // The catalog: names are checked, near duplicates and taken ranks refused.
    for (name, rank, expected_code, expected_field) in [
        ("Full Member", 350, Code::InvalidArgument, "name"),
        ("", 350, Code::InvalidArgument, "name"),
        ("Owner", 0, Code::InvalidArgument, "rank"),
        ("fullmember", 350, Code::AlreadyExists, "name"),
        ("Owner", 300, Code::AlreadyExists, "rank"),
    ] {
        let (code, field, message) =
            failure(define(&server, &server.admin, name, rank, false).await);
        assert_eq!(
            (code, field.as_str()),
            (expected_code, expected_field),
            "{name} {rank}: {message}"
        );
    }
    assert_eq!(list_roles(&server, &server.admin).await, defaults());
    server.stop().await;
}

#[tokio::test]
async fn another_organizations_users_and_groups_are_not_found() {
    let server = TestServer::start().await;
    let user = create_user(&server, &server.admin, "u@example.com").await;
    let group = role_group(&server, "G", &[&user.id], Some("FullMember")).await;
    let (_, other) = server.new_org("other").await;

    let (code, _, _) = failure(
        server
            .roles(&other)
            .get_effective_role(pb::GetEffectiveRoleRequest {
                user_id: user.id.clone(),
            })
            .await,
    );
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(assign_user(&server, &other, &user.id, Some("Admin")).await);
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(assign_user(&server, &other, &user.id, None).await);
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(assign_group(&server, &other, &group, Some("Guest")).await);
    assert_eq!(code, Code::NotFound);
    let (code, _, _) = failure(assign_group(&server, &other, &group, None).await);
    assert_eq!(code, Code::NotFound);
    let unknown = uuid::Uuid::new_v4().to_string();
    let (code, _, _) = failure(assign_user(&server, &server.admin, &unknown, Some("Admin")).await);
    assert_eq!(code, Code::NotFound);

    // The other organization's catalog change does not reach this one's users.
    define(&server, &other, "FullMember", 50, true)
        .await
        .unwrap();
    let mine = effective(&server, &user.id).await;
    assert_eq!((mine.role.as_str(), mine.rank), ("FullMember", 300));
    assert_eq!(
        role_of(&server, &user.id).await,
        expect("FullMember", RoleReason::Group, "G")
    );
    server.stop().await;
}

#[tokio::test]
async fn reads_need_scim_read_and_changes_need_admin() {
    let server = TestServer::start().await;
    let user = create_user(&server, &server.admin, "u@example.com").await;
    let group = role_group(&server, "G", &[], None).await;
    let reader = server.token(&["scim:read"]).await;
    let writer = server.token(&["scim:read", "scim:write"]).await;

    assert_eq!(list_roles(&server, &reader).await, defaults());
    let read = server
        .roles(&reader)
        .get_effective_role(pb::GetEffectiveRoleRequest {
            user_id: user.id.clone(),
        })
        .await
        .expect("scim:read reads effective roles")
        .into_inner();
    assert_eq!(read.role, "FreeMember");

    for secret in [&reader, &writer] {
        let (code, _, _) = failure(assign_user(&server, secret, &user.id, Some("Admin")).await);
        assert_eq!(code, Code::PermissionDenied);
        let (code, _, _) = failure(assign_group(&server, secret, &group, Some("Admin")).await);
        assert_eq!(code, Code::PermissionDenied);
        let (code, _, _) = failure(define(&server, secret, "Owner", 500, false).await);
        assert_eq!(code, Code::PermissionDenied);
    }
    assert_eq!(role_of(&server, &user.id).await, default_role());
    assert_eq!(list_roles(&server, &server.admin).await, defaults());

    let unauthenticated = pb::role_service_client::RoleServiceClient::new(server.channel())
        .list_roles(pb::ListRolesRequest {})
        .await;
    assert_eq!(failure(unauthenticated).0, Code::Unauthenticated);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The migration
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_migration_gives_existing_organizations_and_users_their_roles() {
    use roster_migrations::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    crate::harness::init_logging();
    let (db, url) = TestDb::new().await;
    let connection = sea_orm::Database::connect(&url).await.expect("connect");
    Migrator::up(&connection, Some(1))
        .await
        .expect("the first migration");
    let profile = |json: &str| json.replace('\'', "''");
    let users = [
        ("u-okta", "FullMember", "{\"roles\":[]}"),
        ("u-employee", "Employee", "{\"roles\":[]}"),
        (
            "u-entra",
            "",
            "{\"roles\":[{\"value\":\"Admin\",\"primary\":false},{\"value\":\"Guest\",\"primary\":true}]}",
        ),
        (
            "u-only",
            "",
            "{\"roles\":[{\"value\":\"FullMember\",\"primary\":false}]}",
        ),
        (
            "u-other",
            "",
            "{\"roles\":[{\"value\":\"admiral\",\"primary\":true}]}",
        ),
    ];
    let mut statements = vec![
        "INSERT INTO organizations (id, name, display_name, created_at) VALUES \
         ('o1', 'one', 'One', 1), ('o2', 'two', 'Two', 2)"
            .to_owned(),
    ];
    for (id, user_type, json) in users {
        let user_type = if user_type.is_empty() {
            "NULL".to_owned()
        } else {
            format!("'{user_type}'")
        };
        statements.push(format!(
            "INSERT INTO users (id, org_id, user_name, user_name_key, active, user_type, profile, \
             custom_attributes, version, created_at, updated_at) VALUES \
             ('{id}', 'o1', '{id}', '{id}', TRUE, {user_type}, '{}', '{{}}', 1, 5, 5)",
            profile(json)
        ));
    }
    for statement in statements {
        connection
            .execute_unprepared(&statement)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
    Migrator::up(&connection, None)
        .await
        .expect("the roles migration");
    connection.close().await.unwrap();

    let roles = query_text(
        &url,
        "SELECT org_id || ':' || name || ':' || CAST(rank AS TEXT) || ':' || \
         CASE WHEN is_default THEN 'default' ELSE '-' END FROM roles ORDER BY org_id, rank DESC",
    )
    .await;
    assert_eq!(
        roles,
        [
            "o1:Admin:400:-",
            "o1:FullMember:300:-",
            "o1:FreeMember:200:default",
            "o1:Guest:100:-",
            "o2:Admin:400:-",
            "o2:FullMember:300:-",
            "o2:FreeMember:200:default",
            "o2:Guest:100:-",
        ]
    );
    let rows = query_text(
        &url,
        "SELECT user_id || ':' || effective_role || ':' || reason || ':' || \
         COALESCE(assigned_by, '-') FROM user_roles ORDER BY user_id",
    )
    .await;
    assert_eq!(
        rows,
        [
            "u-employee:FreeMember:default:-",
            "u-entra:Guest:explicit:roles",
            "u-okta:FullMember:explicit:userType",
            "u-only:FullMember:explicit:roles",
            "u-other:FreeMember:default:-",
        ]
    );
    db.drop_database().await;
}

#[tokio::test]
async fn rosterctl_drives_roles() {
    let server = TestServer::start().await;
    let user = create_user(&server, &server.admin, "u@example.com").await;
    let group = role_group(&server, "Engineering", &[&user.id], None).await;
    let admin = server.admin.clone();

    let (code, list, stderr) = rosterctl_json(&server, &admin, &["role", "list"]).await;
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<&str> = list["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|role| role["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Admin", "FullMember", "FreeMember", "Guest"]);
    assert_eq!(list["roles"][2]["isDefault"], true);

    let (code, defined, stderr) = rosterctl_json(
        &server,
        &admin,
        &["role", "define", "Owner", "--rank", "500"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        (defined["name"].as_str(), defined["rank"].as_i64()),
        (Some("Owner"), Some(500))
    );

    let (code, assigned, stderr) = rosterctl_json(
        &server,
        &admin,
        &["role", "assign-group", &group, "FullMember"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(assigned["changedMembers"], 1);
    assert_eq!(assigned["groupDisplayName"], "Engineering");

    let (code, shown, stderr) =
        rosterctl_json(&server, &admin, &["role", "effective", &user.id]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(shown["role"], "FullMember");
    assert_eq!(shown["reason"], "group");
    assert_eq!(shown["groupId"], group.as_str());

    let (code, shown, stderr) =
        rosterctl_json(&server, &admin, &["role", "assign-user", &user.id, "Owner"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        (
            shown["role"].as_str(),
            shown["reason"].as_str(),
            shown["source"].as_str()
        ),
        (Some("Owner"), Some("explicit"), Some("admin"))
    );
    let (code, shown, _) = rosterctl_json(
        &server,
        &admin,
        &["role", "assign-user", &user.id, "--clear"],
    )
    .await;
    assert_eq!((code, shown["reason"].as_str()), (0, Some("group")));
    let (code, cleared, _) = rosterctl_json(
        &server,
        &admin,
        &["role", "assign-group", &group, "--clear"],
    )
    .await;
    assert_eq!((code, cleared["role"].is_null()), (0, true));

    let (code, _, stderr) = rosterctl_json(
        &server,
        &admin,
        &["role", "assign-user", &user.id, "Full Member"],
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: INVALID_ARGUMENT: role names no role")
            && stderr.contains("(field: role)"),
        "{stderr}"
    );
    server.stop().await;
}
