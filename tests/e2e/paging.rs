//! Cursor pagination (RFC 9865) on ListUsers and ListGroups: keyset pages in creation order.

use crate::harness::{TestServer, create_group, create_user, failure};
use roster::pb;
use tonic::Code;

#[tokio::test]
async fn cursor_pages_visit_every_user_once_in_creation_order() {
    let server = TestServer::start().await;
    let mut created = Vec::new();
    for index in 0..7 {
        created.push(
            create_user(&server, &server.admin, &format!("page-{index}@example.com"))
                .await
                .id,
        );
    }
    let mut users = server.users(&server.admin);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = users
            .list_users(pb::ListUsersRequest {
                count: Some(3),
                cursor: Some(cursor.clone()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert_eq!(page.total_results, 7);
        assert!(page.users.len() <= 3);
        seen.extend(page.users.into_iter().map(|user| user.id));
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
        assert!(pages < 10, "cursor paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
    server.stop().await;
}

#[tokio::test]
async fn bad_cursors_and_cursor_with_sort_are_refused() {
    let server = TestServer::start().await;
    create_user(&server, &server.admin, "one@example.com").await;
    let mut users = server.users(&server.admin);
    for bad in ["zz", "00", &hex_of("123:not-a-uuid")] {
        let result = users
            .list_users(pb::ListUsersRequest {
                cursor: Some(bad.to_owned()),
                ..Default::default()
            })
            .await;
        let status = result.expect_err("a forged cursor is refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            roster::error_detail(&status).0,
            roster::ErrorCode::InvalidCursor
        );
    }
    let sort_by = Some(pb::SortBy {
        path: Some(pb::AttributePath {
            attribute: "userName".into(),
            ..Default::default()
        }),
        order: 0,
    });
    let (code, field, _) = failure(
        users
            .list_users(pb::ListUsersRequest {
                cursor: Some(String::new()),
                sort_by,
                ..Default::default()
            })
            .await,
    );
    assert_eq!((code, field.as_str()), (Code::InvalidArgument, "cursor"));
    server.stop().await;
}

#[tokio::test]
async fn group_cursor_pages_end_with_an_empty_cursor() {
    let server = TestServer::start().await;
    for index in 0..4 {
        create_group(&server, &server.admin, &format!("group {index}"), &[]).await;
    }
    let mut groups = server.groups(&server.admin);
    let first = groups
        .list_groups(pb::ListGroupsRequest {
            count: Some(2),
            cursor: Some(String::new()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.groups.len(), 2);
    assert!(!first.next_cursor.is_empty());
    let second = groups
        .list_groups(pb::ListGroupsRequest {
            count: Some(2),
            cursor: Some(first.next_cursor),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.groups.len(), 2);
    // Exactly two pages of two: the second page is full, so the server looks one row ahead and
    // finds nothing, and says so with an empty cursor.
    assert!(second.next_cursor.is_empty());
    assert_ne!(first.groups[0].id, second.groups[0].id);
    server.stop().await;
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test]
async fn write_responses_carry_the_member_count() {
    use crate::harness::member;
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    for index in 0..4 {
        ids.push(
            create_user(
                &server,
                &server.admin,
                &format!("count-{index}@example.com"),
            )
            .await
            .id,
        );
    }
    let created = create_group(&server, &server.admin, "counted", &[&ids[0], &ids[1]]).await;
    assert_eq!(created.member_count, 2);
    let group_id = created.group.unwrap().id;
    let mut groups = server.groups(&server.admin);
    let change = |change| pb::GroupChange {
        change: Some(change),
    };
    let list = |members: &[&str]| pb::MemberList {
        members: members.iter().map(|id| member(id)).collect(),
    };
    // A re-added member is not counted twice.
    let added = groups
        .update_group(pb::UpdateGroupRequest {
            id: group_id.clone(),
            expected_version: None,
            changes: vec![change(pb::group_change::Change::AddMembers(list(&[
                &ids[1], &ids[2], &ids[3],
            ])))],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.member_count, 4);
    let removed = groups
        .update_group(pb::UpdateGroupRequest {
            id: group_id.clone(),
            expected_version: Some(added.group.unwrap().meta.unwrap().version),
            changes: vec![change(pb::group_change::Change::RemoveMembers(list(&[
                &ids[0],
            ])))],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.member_count, 3);
    // Deleting a member user leaves the count right.
    server
        .users(&server.admin)
        .delete_user(pb::DeleteUserRequest {
            id: ids[3].clone(),
            expected_version: None,
        })
        .await
        .unwrap();
    let replaced = groups
        .update_group(pb::UpdateGroupRequest {
            id: group_id.clone(),
            expected_version: None,
            changes: vec![change(pb::group_change::Change::ReplaceMembers(list(&[
                &ids[1], &ids[2],
            ])))],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replaced.member_count, 2);
    server.stop().await;
}
