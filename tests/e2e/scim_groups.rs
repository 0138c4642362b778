//! The SCIM facade's `/Groups`, `/Bulk`, discovery, the OpenAPI document and the root `.search`
//! over real HTTP: membership through every PATCH dialect (IDP-QUIRKS.md §0.2, §0.11-§0.13, §2.4),
//! projection of members, replace and delete, concurrent membership changes (SECURITY-TESTS.md
//! §5.F), members and ids of other organizations (§5.A), bulk references and limits (§5.D).

use crate::harness::TestServer;
use crate::scim_client::{
    Body, ENTERPRISE, GROUP_SCHEMA, LIST_RESPONSE, SCIM_JSON, ScimClient, USER_SCHEMA,
    assert_error, assert_list, content_type, filtered, header_text, patch_op,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn id_of(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {resource}"))
        .to_owned()
}

/// Creates a user over SCIM; returns its id.
async fn user(client: &ScimClient, user_name: &str) -> String {
    let (status, _, body) = client
        .post(
            "/Users",
            &json!({"schemas": [USER_SCHEMA], "userName": user_name}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    id_of(&body)
}

/// Creates a group over SCIM; returns the created representation.
async fn group(client: &ScimClient, display_name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
    let (status, _, body) = client
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": display_name, "members": members}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// The member ids in a representation.
fn member_ids(resource: &Value) -> BTreeSet<String> {
    resource["members"]
        .as_array()
        .map(|members| {
            members
                .iter()
                .map(|member| member["value"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The group's member ids as GET returns them.
async fn members_of(client: &ScimClient, group_id: &str) -> BTreeSet<String> {
    let (status, _, body) = client.get(&format!("/Groups/{group_id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    member_ids(&body)
}

fn ids(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// PATCHes a group and asserts 200; returns the response body.
async fn patch(client: &ScimClient, group_id: &str, operations: Value) -> Value {
    let (status, _, body) = client
        .patch(
            &format!("/Groups/{group_id}"),
            &patch_op(operations.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{operations}: {body}");
    body
}

/// Asserts that a PATCH response either omits `members` or lists exactly `expected`.
#[track_caller]
fn assert_members_absent_or(body: &Value, expected: &BTreeSet<String>) {
    if body.get("members").is_some() {
        assert_eq!(&member_ids(body), expected, "{body}");
    }
}

fn unknown_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The display names a group filter returns, sorted.
async fn group_names(client: &ScimClient, filter: &str) -> Vec<String> {
    let reply = client.get(&filtered("/Groups", filter)).await;
    let mut names: Vec<String> = assert_list(&reply)
        .iter()
        .map(|group| group["displayName"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Create, read, filters, projection
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scim_group_create_read_filter_and_exclude_members() {
    let server = TestServer::start().await;
    let client = ScimClient::new(&server, &server.admin);
    let u1 = user(&client, "g.one@example.com").await;
    let u2 = user(&client, "g.two@example.com").await;
    let u3 = user(&client, "g.three@example.com").await;

    let (status, headers, created) = client
        .post(
            "/Groups",
            &json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": "Engineering",
                "externalId": "eng-1",
                "members": [{"value": u1}, {"value": u2, "type": "User"}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(content_type(&headers).starts_with(SCIM_JSON));
    let gid = id_of(&created);
    assert_eq!(
        header_text(&headers, "location"),
        created["meta"]["location"].as_str()
    );
    assert_eq!(
        created["meta"]["location"],
        format!("{}/Groups/{gid}", client.base)
    );
    assert_eq!(header_text(&headers, "etag"), Some("W/\"1\""));
    assert_eq!(created["meta"]["resourceType"], "Group");
    assert_eq!(created["schemas"], json!([GROUP_SCHEMA]));
    assert_eq!(created["externalId"], "eng-1");
    assert_eq!(member_ids(&created), ids(&[&u1, &u2]));
    let sales = group(&client, "Sales", &[&u3]).await;

    // GET with members, and without them when excluded.
    let (status, headers, read) = client.get(&format!("/Groups/{gid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_text(&headers, "etag"), Some("W/\"1\""));
    assert_eq!(member_ids(&read), ids(&[&u1, &u2]));
    assert_eq!(read["displayName"], "Engineering");
    let (status, _, read) = client
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(read.get("members").is_none(), "{read}");
    assert_eq!(read["displayName"], "Engineering");
    assert_eq!(read["id"], gid);
    let (_, _, read) = client
        .get(&format!("/Groups/{gid}?attributes=displayName"))
        .await;
    assert!(read.get("members").is_none(), "{read}");
    assert!(read.get("externalId").is_none(), "{read}");

    // Entra's lookup: filter on displayName (ignoring case) with members excluded.
    let reply = client
        .get(&format!(
            "{}&excludedAttributes=members",
            filtered("/Groups", r#"displayName eq "ENGINEERING""#)
        ))
        .await;
    let found = assert_list(&reply);
    assert_eq!(found.len(), 1, "{}", reply.2);
    assert_eq!(found[0]["id"], gid);
    assert!(found[0].get("members").is_none(), "{}", found[0]);
    let reply = client
        .get(&filtered("/Groups", r#"displayName eq "engineering""#))
        .await;
    let found = assert_list(&reply);
    assert_eq!(found.len(), 1);
    assert_eq!(member_ids(&found[0]), ids(&[&u1, &u2]));
    assert_eq!(
        group_names(&client, &format!(r#"members.value eq "{u1}""#)).await,
        ["Engineering"]
    );
    assert_eq!(
        group_names(&client, &format!(r#"members.value eq "{u3}""#)).await,
        ["Sales"]
    );
    assert_eq!(
        group_names(&client, &format!(r#"members[value eq "{u2}"]"#)).await,
        ["Engineering"]
    );
    assert_eq!(
        group_names(&client, r#"displayName sw "s""#).await,
        ["Sales"]
    );
    assert_eq!(
        group_names(&client, r#"externalId eq "eng-1""#).await,
        ["Engineering"]
    );
    assert!(
        group_names(&client, r#"displayName eq "Nobody""#)
            .await
            .is_empty()
    );
    // Okta's probe and the user's view of its groups.
    let reply = client.get("/Groups?startIndex=1&count=100").await;
    assert_eq!(assert_list(&reply).len(), 2);
    let (_, _, member) = client.get(&format!("/Users/{u3}")).await;
    let groups: Vec<&Value> = member["groups"]
        .as_array()
        .map(|groups| groups.iter().collect())
        .unwrap_or_default();
    assert_eq!(groups.len(), 1, "{member}");
    assert_eq!(groups[0]["value"], sales["id"]);

    // Entra's create: an extra Microsoft schema URI and meta, no members.
    let (status, _, entra) = client
        .post(
            "/Groups",
            &json!({
                "schemas": [GROUP_SCHEMA, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "displayName",
                "meta": {"resourceType": "Group"},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entra}");
    assert!(
        entra
            .get("members")
            .is_none_or(|members| members == &json!([])),
        "{entra}"
    );

    // displayName is unique ignoring case.
    let reply = client
        .post(
            "/Groups",
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "engineering"}),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, Some("uniqueness"));
    let reply = client.post("/Groups", &json!({"members": []})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, Some("invalidValue"));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// PATCH dialects
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scim_group_patch_membership_dialects() {
    let server = TestServer::start().await;
    let client = ScimClient::new(&server, &server.admin);
    let mut users = Vec::new();
    for n in 1..=6 {
        users.push(user(&client, &format!("member{n}@example.com")).await);
    }
    let [u1, u2, u3, u4, u5, u6] = [0, 1, 2, 3, 4, 5].map(|index| users[index].as_str());
    let created = group(&client, "Patched", &[]).await;
    let gid = id_of(&created);

    // Several members in one add (Entra, with "$ref": null). A small group's PATCH response may
    // list members; if it does they are complete (large groups: see
    // scim_group_patch_response_omits_members_of_a_large_group).
    let (status, headers, body) = client
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{
                "op": "Add",
                "path": "members",
                "value": [{"$ref": null, "value": u1}, {"$ref": null, "value": u2}, {"value": u3}],
            }])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_members_absent_or(&body, &ids(&[u1, u2, u3]));
    assert_eq!(body["displayName"], "Patched");
    assert_eq!(header_text(&headers, "etag"), Some("W/\"2\""));
    assert_eq!(members_of(&client, &gid).await, ids(&[u1, u2, u3]));

    // With attributes=members the response lists them.
    let (status, _, body) = client
        .patch(
            &format!("/Groups/{gid}?attributes=members"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": u4}]}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(member_ids(&body), ids(&[u1, u2, u3, u4]));

    // Re-adding an existing member succeeds without a duplicate.
    patch(
        &client,
        &gid,
        json!([{"op": "add", "path": "members", "value": [{"value": u1}]}]),
    )
    .await;
    let (_, _, read) = client.get(&format!("/Groups/{gid}")).await;
    assert_eq!(read["members"].as_array().map(Vec::len), Some(4));

    // remove with a value filter (RFC, and Entra with the flag).
    patch(
        &client,
        &gid,
        json!([{"op": "remove", "path": format!("members[value eq \"{u4}\"]")}]),
    )
    .await;
    assert_eq!(members_of(&client, &gid).await, ids(&[u1, u2, u3]));

    // Entra's remove with a value list: only the listed member goes.
    patch(
        &client,
        &gid,
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": u2}]}]),
    )
    .await;
    assert_eq!(members_of(&client, &gid).await, ids(&[u1, u3]));

    // Okta: remove and add in one request.
    patch(
        &client,
        &gid,
        json!([
            {"op": "remove", "path": format!("members[value eq \"{u1}\"]")},
            {"op": "add", "path": "members", "value": [{"value": u5, "display": "member5@example.com"}]},
        ]),
    )
    .await;
    assert_eq!(members_of(&client, &gid).await, ids(&[u3, u5]));

    // Okta's full push: replace the member list.
    patch(
        &client,
        &gid,
        json!([{"op": "replace", "path": "members", "value": [{"value": u6}, {"value": u1}]}]),
    )
    .await;
    assert_eq!(members_of(&client, &gid).await, ids(&[u1, u6]));

    // Okta's rename carries the id inside the value.
    let body = patch(
        &client,
        &gid,
        json!([{"op": "replace", "value": {"id": gid, "displayName": "Renamed"}}]),
    )
    .await;
    assert_eq!(body["displayName"], "Renamed");
    assert_members_absent_or(&body, &ids(&[u1, u6]));
    assert_eq!(members_of(&client, &gid).await, ids(&[u1, u6]));
    // Entra's rename.
    let body = patch(
        &client,
        &gid,
        json!([{"op": "Replace", "path": "displayName", "value": "Renamed Again"}]),
    )
    .await;
    assert_eq!(body["displayName"], "Renamed Again");

    // remove of members without a value: all of them.
    patch(&client, &gid, json!([{"op": "remove", "path": "members"}])).await;
    assert!(members_of(&client, &gid).await.is_empty());

    // Refused: another id, a read-only attribute, an unknown attribute, a filter with add.
    for (operations, scim_type) in [
        (
            json!([{"op": "replace", "value": {"id": unknown_id(), "displayName": "X"}}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "meta", "value": {}}]),
            "mutability",
        ),
        (
            json!([{"op": "add", "path": "noSuch", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "add", "path": format!("members[value eq \"{u1}\"]"), "value": [{"value": u1}]}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "displayName", "value": ""}]),
            "invalidValue",
        ),
    ] {
        let reply = client
            .patch(&format!("/Groups/{gid}"), &patch_op(operations.clone()))
            .await;
        assert_eq!(
            reply.0,
            StatusCode::BAD_REQUEST,
            "{operations}: {}",
            reply.2
        );
        assert_error(&reply, StatusCode::BAD_REQUEST, Some(scim_type));
    }
    let (_, _, read) = client.get(&format!("/Groups/{gid}")).await;
    assert_eq!(read["displayName"], "Renamed Again");
    server.stop().await;
}

/// A change to a large group costs what it changes: the PATCH response leaves the members out
/// unless `attributes=members` asks for them; `excludedAttributes=members` always drops them.
#[tokio::test]
async fn scim_group_patch_response_omits_members_of_a_large_group() {
    let server = TestServer::start().await;
    let client = ScimClient::new(&server, &server.admin);
    let operations: Vec<Value> = (0..102)
        .map(|n| {
            json!({
                "method": "POST", "path": "/Users", "bulkId": format!("m{n}"),
                "data": {"userName": format!("large{n:03}@example.com")},
            })
        })
        .collect();
    let (status, _, body) = client
        .post(
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "Operations": operations}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let users: Vec<String> = body["Operations"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .map(|result| {
                    assert_eq!(result["status"], "201", "{result}");
                    let location = result["location"].as_str().unwrap_or_default();
                    location.rsplit('/').next().unwrap_or_default().to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(users.len(), 102);
    let first: Vec<&str> = users[..101].iter().map(String::as_str).collect();
    let gid = id_of(&group(&client, "Large", &first).await);

    let body = patch(
        &client,
        &gid,
        json!([{"op": "replace", "path": "displayName", "value": "Larger"}]),
    )
    .await;
    assert_eq!(body["displayName"], "Larger");
    assert!(
        body.get("members").is_none(),
        "members listed in a PATCH response"
    );
    let add_last =
        patch_op(json!([{"op": "add", "path": "members", "value": [{"value": users[101]}]}]));
    let (status, _, body) = client
        .patch(
            &format!("/Groups/{gid}?excludedAttributes=members"),
            &add_last,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("members").is_none());
    let (status, _, body) = client
        .patch(
            &format!("/Groups/{gid}?attributes=members"),
            &patch_op(
                json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected: BTreeSet<String> = users[1..].iter().cloned().collect();
    assert_eq!(member_ids(&body), expected);
    assert_eq!(members_of(&client, &gid).await, expected);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Replace and delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scim_group_put_replaces_and_delete_removes() {
    let server = TestServer::start().await;
    let client = ScimClient::new(&server, &server.admin);
    let u1 = user(&client, "put.one@example.com").await;
    let u2 = user(&client, "put.two@example.com").await;
    let created = group(&client, "Before", &[&u1]).await;
    let gid = id_of(&created);
    let path = format!("/Groups/{gid}");

    let (status, headers, replaced) = client
        .request(
            Method::PUT,
            &path,
            &[("if-match", "W/\"1\"")],
            Some(Body::Json(json!({
                "schemas": [GROUP_SCHEMA],
                "id": gid,
                "displayName": "After",
                "members": [{"value": u2}],
            }))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["displayName"], "After");
    assert_eq!(member_ids(&replaced), ids(&[&u2]));
    assert!(replaced.get("externalId").is_none());
    let version = header_text(&headers, "etag").unwrap_or_default().to_owned();
    assert_ne!(version, "W/\"1\"");
    assert_eq!(members_of(&client, &gid).await, ids(&[&u2]));

    // Stale versions are refused; the current one passes If-None-Match as 304.
    let reply = client
        .request(
            Method::PUT,
            &path,
            &[("if-match", "W/\"1\"")],
            Some(Body::Json(json!({"displayName": "Stale"}))),
        )
        .await;
    assert_error(&reply, StatusCode::PRECONDITION_FAILED, None);
    let reply = client
        .request(
            Method::PATCH,
            &path,
            &[("if-match", "W/\"1\"")],
            Some(Body::Json(patch_op(
                json!([{"op": "replace", "path": "displayName", "value": "Stale"}]),
            ))),
        )
        .await;
    assert_error(&reply, StatusCode::PRECONDITION_FAILED, None);
    let reply = client
        .request(Method::DELETE, &path, &[("if-match", "W/\"1\"")], None)
        .await;
    assert_error(&reply, StatusCode::PRECONDITION_FAILED, None);
    let (status, _, _) = client
        .request(
            Method::GET,
            &path,
            &[("if-none-match", version.as_str())],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    // The user sees its new group.
    let (_, _, member) = client.get(&format!("/Users/{u2}")).await;
    assert_eq!(member["groups"][0]["value"], gid, "{member}");
    let (_, _, former) = client.get(&format!("/Users/{u1}")).await;
    assert!(
        former
            .get("groups")
            .is_none_or(|groups| groups == &json!([])),
        "{former}"
    );

    let (status, _, _) = client.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for reply in [
        client.get(&path).await,
        client.delete(&path).await,
        client.put(&path, &json!({"displayName": "Ghost"})).await,
        client
            .patch(
                &path,
                &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": u1}]}])),
            )
            .await,
    ] {
        assert_error(&reply, StatusCode::NOT_FOUND, None);
    }
    let (_, _, member) = client.get(&format!("/Users/{u2}")).await;
    assert!(
        member
            .get("groups")
            .is_none_or(|groups| groups == &json!([])),
        "{member}"
    );
    // The user outlives its group.
    let (status, _, _) = client.get(&format!("/Users/{u2}")).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Concurrency (SECURITY-TESTS.md §5.F)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scim_group_concurrent_member_adds_are_all_kept() {
    let server = TestServer::start().await;
    let client = ScimClient::new(&server, &server.admin);
    let mut users = Vec::new();
    for n in 0..50 {
        users.push(user(&client, &format!("parallel{n:02}@example.com")).await);
    }
    let gid = id_of(&group(&client, "Crowd", &[]).await);

    let mut tasks = tokio::task::JoinSet::new();
    for member in users.clone() {
        let client = client.clone();
        let gid = gid.clone();
        tasks.spawn(async move {
            client
                .patch(
                    &format!("/Groups/{gid}"),
                    &patch_op(
                        json!([{"op": "add", "path": "members", "value": [{"value": member}]}]),
                    ),
                )
                .await
        });
    }
    while let Some(reply) = tasks.join_next().await {
        let (status, _, body) = reply.expect("the task ran");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let expected: BTreeSet<String> = users.iter().cloned().collect();
    assert_eq!(members_of(&client, &gid).await, expected);
    let reply = client
        .get(&filtered(
            "/Groups",
            &format!(r#"members.value eq "{}""#, users[49]),
        ))
        .await;
    assert_eq!(assert_list(&reply).len(), 1);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Other organizations (SECURITY-TESTS.md §5.A)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scim_group_members_and_ids_of_other_organizations() {
    let server = TestServer::start().await;
    let a = ScimClient::new(&server, &server.admin);
    let (_, secret_b) = server.new_org("beta").await;
    let b = ScimClient::new(&server, &secret_b);
    let theirs_user = user(&b, "b.member@example.com").await;
    let theirs = group(&b, "Beta Only", &[&theirs_user]).await;
    let their_gid = id_of(&theirs);
    let ours_user = user(&a, "a.member@example.com").await;

    // A member id of another organization is never stored: on create, add and replace.
    let (status, _, created) = a
        .post(
            "/Groups",
            &json!({"displayName": "Alpha", "members": [{"value": ours_user}, {"value": theirs_user}]}),
        )
        .await;
    assert!(!status.is_server_error(), "{status} {created}");
    let gid = if status == StatusCode::CREATED {
        id_of(&created)
    } else {
        assert!(status.is_client_error(), "{status}");
        id_of(&group(&a, "Alpha", &[&ours_user]).await)
    };
    assert_eq!(members_of(&a, &gid).await, ids(&[&ours_user]));
    for operations in [
        json!([{"op": "add", "path": "members", "value": [{"value": theirs_user}]}]),
        json!([{"op": "replace", "path": "members", "value": [{"value": ours_user}, {"value": theirs_user, "type": "User"}]}]),
        json!([{"op": "add", "path": "members", "value": [{"value": their_gid, "type": "Group"}]}]),
    ] {
        let (status, _, body) = a
            .patch(&format!("/Groups/{gid}"), &patch_op(operations))
            .await;
        assert!(!status.is_server_error(), "{status} {body}");
        assert_eq!(members_of(&a, &gid).await, ids(&[&ours_user]));
    }
    let (status, _, body) = a
        .put(
            &format!("/Groups/{gid}"),
            &json!({"displayName": "Alpha", "members": [{"value": theirs_user}]}),
        )
        .await;
    assert!(!status.is_server_error(), "{status} {body}");
    let stored = members_of(&a, &gid).await;
    assert!(!stored.contains(&theirs_user), "{stored:?}");
    // B's user still has only its own group.
    let (_, _, their_member) = b.get(&format!("/Users/{theirs_user}")).await;
    assert_eq!(their_member["groups"].as_array().map(Vec::len), Some(1));

    // B's group through A's token: exactly the answer for an unknown id.
    let unknown = unknown_id();
    for (method, payload) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"displayName": "Hijacked"}))),
        (
            Method::PATCH,
            Some(patch_op(
                json!([{"op": "add", "path": "members", "value": [{"value": ours_user}]}]),
            )),
        ),
        (Method::DELETE, None),
    ] {
        let (their_status, _, their_bytes) = a
            .raw(
                method.clone(),
                &format!("/Groups/{their_gid}"),
                &[],
                payload.clone().map(Body::Json),
            )
            .await;
        let (unknown_status, _, unknown_bytes) = a
            .raw(
                method.clone(),
                &format!("/Groups/{unknown}"),
                &[],
                payload.map(Body::Json),
            )
            .await;
        assert_eq!(their_status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(unknown_status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(
            String::from_utf8_lossy(&their_bytes),
            String::from_utf8_lossy(&unknown_bytes),
            "{method}"
        );
    }
    assert!(
        group_names(&a, r#"displayName eq "Beta Only""#)
            .await
            .is_empty()
    );
    assert!(
        group_names(&a, &format!(r#"members.value eq "{theirs_user}""#))
            .await
            .is_empty()
    );
    // B's group is unchanged.
    let (status, headers, read) = b.get(&format!("/Groups/{their_gid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_text(&headers, "etag"), Some("W/\"1\""));
    assert_eq!(read["displayName"], "Beta Only");
    assert_eq!(member_ids(&read), ids(&[&theirs_user]));
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Bulk
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scim_bulk_resolves_bulk_id_references() {
    let server = TestServer::start().await;
    let client = ScimClient::new(&server, &server.admin);
    let (status, _, body) = client
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST],
                "Operations": [
                    {
                        "method": "POST", "path": "/Users", "bulkId": "alice",
                        "data": {"schemas": [USER_SCHEMA], "userName": "bulk.alice@example.com"},
                    },
                    {
                        "method": "POST", "path": "/Groups", "bulkId": "team",
                        "data": {
                            "schemas": [GROUP_SCHEMA],
                            "displayName": "Bulk Team",
                            "members": [{"type": "User", "value": "bulkId:alice"}],
                        },
                    },
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["schemas"], json!([BULK_RESPONSE]));
    let results = body["Operations"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 2, "{body}");
    assert_eq!(results[0]["status"], "201", "{body}");
    assert_eq!(results[0]["bulkId"], "alice");
    assert_eq!(results[1]["status"], "201", "{body}");
    let user_location = results[0]["location"].as_str().unwrap_or_default();
    let user_id = user_location
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(user_location.starts_with(&format!("{}/Users/", client.base)));
    assert!(results[0]["version"].is_string(), "{body}");
    let group_id = results[1]["location"]
        .as_str()
        .and_then(|location| location.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();

    assert_eq!(members_of(&client, &group_id).await, ids(&[&user_id]));
    let (status, _, read) = client.get(&format!("/Users/{user_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["userName"], "bulk.alice@example.com");
    assert_eq!(read["groups"][0]["value"], group_id);

    // A reference to a bulkId that was never created fails that operation only.
    let (status, _, body) = client
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST],
                "Operations": [
                    {
                        "method": "POST", "path": "/Groups", "bulkId": "orphans",
                        "data": {"displayName": "Orphans", "members": [{"value": "bulkId:nobody"}]},
                    },
                    {
                        "method": "POST", "path": "/Users", "bulkId": "bob",
                        "data": {"userName": "bulk.bob@example.com"},
                    },
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Operations"][0]["status"], "409", "{body}");
    assert_eq!(body["Operations"][1]["status"], "201", "{body}");
    assert!(
        group_names(&client, r#"displayName eq "Orphans""#)
            .await
            .is_empty()
    );
    server.stop().await;
}

/// A later operation addresses a resource created earlier by `bulkId:` in its path (RFC 7644
/// §3.7: bulkIds cross-reference new resources "in and across operations").
#[tokio::test]
async fn scim_bulk_resolves_bulk_id_in_an_operation_path() {
    let server = TestServer::start().await;
    let client = ScimClient::new(&server, &server.admin);
    let (status, _, body) = client
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST],
                "Operations": [
                    {
                        "method": "POST", "path": "/Users", "bulkId": "carol",
                        "data": {"userName": "bulk.carol@example.com"},
                    },
                    {
                        "method": "POST", "path": "/Groups", "bulkId": "crew",
                        "data": {"displayName": "Bulk Crew"},
                    },
                    {
                        "method": "PATCH", "path": "/Users/bulkId:carol",
                        "data": patch_op(json!([{"op": "replace", "path": "title", "value": "Bulked"}])),
                    },
                    {
                        "method": "PATCH", "path": "/Groups/bulkId:crew",
                        "data": patch_op(json!([{"op": "add", "path": "members", "value": [{"value": "bulkId:carol"}]}])),
                    },
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let statuses: Vec<&str> = body["Operations"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .map(|result| result["status"].as_str().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(statuses, ["201", "201", "200", "200"], "{body}");
    let user_id = body["Operations"][0]["location"]
        .as_str()
        .and_then(|location| location.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    let group_id = body["Operations"][1]["location"]
        .as_str()
        .and_then(|location| location.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    let (_, _, read) = client.get(&format!("/Users/{user_id}")).await;
    assert_eq!(read["title"], "Bulked");
    assert_eq!(members_of(&client, &group_id).await, ids(&[&user_id]));
    server.stop().await;
}

#[tokio::test]
async fn scim_bulk_fail_on_errors_and_limits() {
    let server = TestServer::start().await;
    let client = ScimClient::new(&server, &server.admin);
    let bad = |bulk_id: &str| json!({"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": {"displayName": "no userName"}});
    let good = |bulk_id: &str, user_name: &str| json!({"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": {"userName": user_name}});
    let count = |client: &ScimClient, user_name: &'static str| {
        let client = client.clone();
        async move {
            let reply = client
                .get(&filtered(
                    "/Users",
                    &format!(r#"userName eq "{user_name}""#),
                ))
                .await;
            assert_list(&reply).len()
        }
    };

    // failOnErrors: 2 stops after the second error.
    let (status, _, body) = client
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST],
                "failOnErrors": 2,
                "Operations": [
                    bad("e1"),
                    good("ok1", "first.ok@example.com"),
                    bad("e2"),
                    good("ok2", "never@example.com"),
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["Operations"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 3, "{body}");
    assert_eq!(results[0]["status"], "400");
    assert_eq!(results[0]["response"]["scimType"], "invalidValue", "{body}");
    assert_eq!(results[1]["status"], "201");
    assert_eq!(results[2]["status"], "400");
    assert_eq!(count(&client, "first.ok@example.com").await, 1);
    assert_eq!(count(&client, "never@example.com").await, 0);

    // Without failOnErrors every operation runs.
    let (status, _, body) = client
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST],
                "Operations": [bad("e1"), bad("e2"), good("ok", "after.errors@example.com")],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Operations"].as_array().map(Vec::len), Some(3));
    assert_eq!(count(&client, "after.errors@example.com").await, 1);

    // More than maxOperations: 413 tooMany, and nothing runs.
    let operations: Vec<Value> = (0..1001)
        .map(|n| good(&format!("b{n}"), &format!("toomany{n}@example.com")))
        .collect();
    let reply = client
        .post(
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "Operations": operations}),
        )
        .await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, Some("tooMany"));
    assert_eq!(count(&client, "toomany0@example.com").await, 0);
    let reply = client
        .get(&filtered("/Users", r#"userName sw "toomany""#))
        .await;
    assert_eq!(reply.2["totalResults"], 0);

    // Malformed bulk requests.
    for malformed in [
        json!({"schemas": [BULK_REQUEST]}),
        json!({"schemas": [BULK_REQUEST], "Operations": [{"method": "POST", "path": "/Users", "data": {"userName": "x"}}]}),
        json!({"schemas": [BULK_REQUEST], "Operations": [{"method": "GET", "path": "/Users"}]}),
        json!({"schemas": [BULK_REQUEST], "failOnErrors": -1, "Operations": []}),
    ] {
        let reply = client.post("/Bulk", &malformed).await;
        assert_eq!(reply.0, StatusCode::BAD_REQUEST, "{malformed}: {}", reply.2);
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Discovery, OpenAPI, root search
// ---------------------------------------------------------------------------------------------

/// Checks every attribute (and sub-attribute) carries all characteristics of RFC 7643 §7.
fn check_attributes(schema_id: &str, attributes: &[Value], names: &mut BTreeSet<String>) {
    for attribute in attributes {
        let name = attribute["name"].as_str().unwrap_or_default();
        assert!(!name.is_empty(), "{schema_id}: {attribute}");
        names.insert(name.to_owned());
        let kind = attribute["type"].as_str().unwrap_or_default();
        assert!(
            [
                "string",
                "boolean",
                "decimal",
                "integer",
                "dateTime",
                "reference",
                "complex",
                "binary"
            ]
            .contains(&kind),
            "{schema_id}.{name}: type {kind}"
        );
        for flag in ["multiValued", "required", "caseExact"] {
            assert!(
                attribute[flag].is_boolean(),
                "{schema_id}.{name}: {flag} in {attribute}"
            );
        }
        let mutability = attribute["mutability"].as_str().unwrap_or_default();
        assert!(
            ["readOnly", "readWrite", "immutable", "writeOnly"].contains(&mutability),
            "{schema_id}.{name}: mutability {mutability}"
        );
        let returned = attribute["returned"].as_str().unwrap_or_default();
        assert!(
            ["always", "never", "default", "request"].contains(&returned),
            "{schema_id}.{name}: returned {returned}"
        );
        let uniqueness = attribute["uniqueness"].as_str().unwrap_or_default();
        assert!(
            ["none", "server", "global"].contains(&uniqueness),
            "{schema_id}.{name}: uniqueness {uniqueness}"
        );
        if kind == "complex" {
            let subs = attribute["subAttributes"]
                .as_array()
                .unwrap_or_else(|| panic!("{schema_id}.{name} has no subAttributes"));
            let mut sub_names = BTreeSet::new();
            check_attributes(&format!("{schema_id}.{name}"), subs, &mut sub_names);
            assert!(!sub_names.is_empty());
        }
    }
}

fn attribute<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema["attributes"]
        .as_array()
        .and_then(|attributes| {
            attributes
                .iter()
                .find(|attribute| attribute["name"] == name)
        })
        .unwrap_or_else(|| panic!("no attribute {name} in {}", schema["id"]))
}

#[tokio::test]
async fn scim_discovery_documents() {
    let server = TestServer::start().await;
    let client = ScimClient::new(&server, &server.admin);

    let (status, headers, config) = client.get("/ServiceProviderConfig").await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert!(content_type(&headers).starts_with(SCIM_JSON));
    assert_eq!(
        config["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    for feature in ["patch", "bulk", "filter", "sort", "etag"] {
        assert_eq!(config[feature]["supported"], true, "{feature}: {config}");
    }
    assert_eq!(config["bulk"]["maxOperations"], 1000);
    assert_eq!(config["bulk"]["maxPayloadSize"], 1024 * 1024);
    assert_eq!(config["filter"]["maxResults"], 1000);
    assert_eq!(config["changePassword"]["supported"], false);
    assert!(
        config["authenticationSchemes"]
            .as_array()
            .is_some_and(|schemes| schemes
                .iter()
                .any(|scheme| scheme["type"] == "oauthbearertoken")),
        "{config}"
    );

    let reply = client.get("/ResourceTypes").await;
    let types = assert_list(&reply);
    assert_eq!(reply.2["totalResults"], 2);
    let user_type = types
        .iter()
        .find(|resource_type| resource_type["id"] == "User")
        .expect("the User resource type");
    assert_eq!(user_type["endpoint"], "/Users");
    assert_eq!(user_type["schema"], USER_SCHEMA);
    assert!(
        user_type["schemaExtensions"]
            .as_array()
            .is_some_and(
                |extensions| extensions
                    .iter()
                    .any(|extension| extension["schema"] == ENTERPRISE
                        && extension["required"] == false)
            ),
        "{user_type}"
    );
    let group_type = types
        .iter()
        .find(|resource_type| resource_type["id"] == "Group")
        .expect("the Group resource type");
    assert_eq!(group_type["endpoint"], "/Groups");
    assert_eq!(group_type["schema"], GROUP_SCHEMA);
    let (status, _, single) = client.get("/ResourceTypes/Group").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&single, group_type);
    let reply = client.get("/ResourceTypes/Printer").await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);

    let reply = client.get("/Schemas").await;
    let schemas = assert_list(&reply);
    let schema_ids: BTreeSet<String> = schemas
        .iter()
        .map(|schema| schema["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        schema_ids,
        ids(&[USER_SCHEMA, ENTERPRISE, GROUP_SCHEMA]),
        "{}",
        reply.2
    );
    for schema in &schemas {
        let schema_id = schema["id"].as_str().unwrap_or_default();
        let attributes = schema["attributes"].as_array().cloned().unwrap_or_default();
        assert!(!attributes.is_empty(), "{schema_id}");
        let mut names = BTreeSet::new();
        check_attributes(schema_id, &attributes, &mut names);
        let expected: &[&str] = if schema_id == USER_SCHEMA {
            &[
                "userName",
                "name",
                "displayName",
                "emails",
                "active",
                "groups",
            ]
        } else if schema_id == GROUP_SCHEMA {
            &["displayName", "members"]
        } else {
            &["employeeNumber", "department", "manager"]
        };
        for name in expected {
            assert!(names.contains(*name), "{schema_id} lacks {name}");
        }
        // Each schema is also served on its own.
        let (status, _, single) = client.get(&format!("/Schemas/{schema_id}")).await;
        assert_eq!(status, StatusCode::OK, "{schema_id}");
        assert_eq!(&single, schema);
    }
    let user_schema = schemas
        .iter()
        .find(|schema| schema["id"] == USER_SCHEMA)
        .expect("the User schema");
    let user_name = attribute(user_schema, "userName");
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(attribute(user_schema, "groups")["mutability"], "readOnly");
    if let Some(password) = user_schema["attributes"].as_array().and_then(|attributes| {
        attributes
            .iter()
            .find(|attribute| attribute["name"] == "password")
    }) {
        assert_eq!(password["returned"], "never");
    }
    let group_schema = schemas
        .iter()
        .find(|schema| schema["id"] == GROUP_SCHEMA)
        .expect("the Group schema");
    assert_eq!(attribute(group_schema, "members")["multiValued"], true);
    let reply = client
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Printer")
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, None);
    server.stop().await;
}

#[tokio::test]
async fn scim_openapi_document_and_root_search() {
    let server = TestServer::start().await;
    let client = ScimClient::new(&server, &server.admin);

    let (status, headers, document) = client.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type(&headers).contains("json"), "{headers:?}");
    assert!(document.is_object(), "not JSON: {document}");
    assert!(document["openapi"].is_string(), "{document}");
    let paths = document["paths"].as_object().expect("paths");
    assert!(!paths.is_empty());
    assert!(paths.keys().any(|path| path.contains("Users")), "{paths:?}");
    assert!(
        paths.keys().any(|path| path.contains("Groups")),
        "{paths:?}"
    );

    let uid = user(&client, "root.search@example.com").await;
    let (status, _, _) = client
        .patch(
            &format!("/Users/{uid}"),
            &patch_op(json!([{"op": "add", "path": "displayName", "value": "Shared"}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let gid = id_of(&group(&client, "Shared", &[&uid]).await);
    group(&client, "Other", &[]).await;

    let search = |body: Value| {
        let client = client.clone();
        async move {
            let (status, headers, reply) = client.post("/.search", &body).await;
            assert_eq!(status, StatusCode::OK, "{body}: {reply}");
            assert_eq!(reply["schemas"], json!([LIST_RESPONSE]));
            assert_list(&(status, headers, reply.clone()));
            reply
        }
    };
    let everything =
        search(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})).await;
    assert_eq!(everything["totalResults"], 3);
    let kinds: BTreeSet<String> = everything["Resources"]
        .as_array()
        .map(|resources| {
            resources
                .iter()
                .map(|resource| {
                    resource["meta"]["resourceType"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(kinds, ids(&["User", "Group"]));

    let shared = search(json!({"filter": "displayName eq \"shared\""})).await;
    assert_eq!(shared["totalResults"], 2, "{shared}");
    let found: BTreeSet<String> = shared["Resources"]
        .as_array()
        .map(|resources| resources.iter().map(id_of).collect())
        .unwrap_or_default();
    assert_eq!(found, ids(&[&uid, &gid]));
    // An attribute only users have matches no group.
    let users_only = search(json!({"filter": "userName sw \"root\""})).await;
    assert_eq!(users_only["totalResults"], 1);
    assert_eq!(users_only["Resources"][0]["id"], uid);
    // Paging runs over the concatenation.
    let page = search(json!({"count": 1, "startIndex": 2})).await;
    assert_eq!(page["totalResults"], 3);
    assert_eq!(page["Resources"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["Resources"][0]["meta"]["resourceType"], "Group");
    let reply = client
        .post("/.search", &json!({"filter": "displayName eq"}))
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    server.stop().await;
}
