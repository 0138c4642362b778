//! Runs the SCIM subcommands against a small in-memory SCIM server (the few routes the tool calls)
//! that shares its users with the gRPC mock of `mock_tests`, plus an in-memory `GroupService`.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use roster::pb::group_service_server::{GroupService, GroupServiceServer};
use roster::pb::user_service_server::UserServiceServer;
use roster::pb::{self, User, group_change::Change};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::http::Target;
use crate::mock_tests::{Mock, TOKEN, check_auth, connector, field};
use crate::scim::{self, GroupOptions, ScimLookupOptions};
use crate::seed;

#[derive(Default)]
struct Groups {
    /// Member ids by group id.
    groups: Mutex<HashMap<String, BTreeSet<String>>>,
    next_id: AtomicU64,
}

type GrpcResult<T> = Result<tonic::Response<T>, tonic::Status>;

#[tonic::async_trait]
impl GroupService for Groups {
    async fn create_group(
        &self,
        request: tonic::Request<pb::CreateGroupRequest>,
    ) -> GrpcResult<pb::GroupWriteResponse> {
        check_auth(&request)?;
        let group = request.into_inner().group.unwrap_or_default();
        let id = format!("g{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let members = group.members.into_iter().map(|m| m.value).collect();
        self.groups.lock().unwrap().insert(id.clone(), members);
        Ok(tonic::Response::new(pb::GroupWriteResponse {
            member_count: 0,
            group: Some(pb::Group {
                id,
                display_name: group.display_name,
                ..Default::default()
            }),
            skipped_member_ids: Vec::new(),
        }))
    }

    async fn get_group(&self, _: tonic::Request<pb::GetGroupRequest>) -> GrpcResult<pb::Group> {
        Err(tonic::Status::unimplemented("get"))
    }

    async fn list_groups(
        &self,
        _: tonic::Request<pb::ListGroupsRequest>,
    ) -> GrpcResult<pb::ListGroupsResponse> {
        Err(tonic::Status::unimplemented("list"))
    }

    async fn update_group(
        &self,
        request: tonic::Request<pb::UpdateGroupRequest>,
    ) -> GrpcResult<pb::GroupWriteResponse> {
        check_auth(&request)?;
        let request = request.into_inner();
        let mut references = 0;
        let mut groups = self.groups.lock().unwrap();
        let members = groups
            .get_mut(&request.id)
            .ok_or_else(|| tonic::Status::not_found("group"))?;
        for change in request.changes {
            let Some(Change::AddMembers(list)) = change.change else {
                return Err(tonic::Status::unimplemented("only add_members"));
            };
            references += list.members.len();
            members.extend(list.members.into_iter().map(|m| m.value));
        }
        if references > 10_000 {
            return Err(tonic::Status::invalid_argument(
                "too many member references",
            ));
        }
        Ok(tonic::Response::new(pb::GroupWriteResponse {
            member_count: 0,
            group: Some(pb::Group {
                id: request.id,
                ..Default::default()
            }),
            skipped_member_ids: Vec::new(),
        }))
    }

    async fn delete_group(
        &self,
        _: tonic::Request<pb::DeleteGroupRequest>,
    ) -> GrpcResult<pb::DeleteGroupResponse> {
        Err(tonic::Status::unimplemented("delete"))
    }

    async fn list_group_members(
        &self,
        request: tonic::Request<pb::ListGroupMembersRequest>,
    ) -> GrpcResult<pb::ListGroupMembersResponse> {
        check_auth(&request)?;
        let request = request.into_inner();
        let groups = self.groups.lock().unwrap();
        let members = groups
            .get(&request.group_id)
            .ok_or_else(|| tonic::Status::not_found("group"))?;
        let size = request.page_size.clamp(1, 1000) as usize;
        let page: Vec<String> = members
            .iter()
            .filter(|id| request.page_token.is_empty() || **id > request.page_token)
            .take(size)
            .cloned()
            .collect();
        let next_page_token = match page.last() {
            Some(last) if page.len() == size => last.clone(),
            _ => String::new(),
        };
        Ok(tonic::Response::new(pb::ListGroupMembersResponse {
            members: page
                .into_iter()
                .map(|value| pb::Member {
                    value,
                    ..Default::default()
                })
                .collect(),
            next_page_token,
        }))
    }
}

struct Servers {
    grpc: String,
    http: String,
    users: Arc<Mock>,
    groups: Arc<Groups>,
    /// HTTP connections accepted.
    accepted: Arc<AtomicU64>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/scim+json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn handle(
    users: Arc<Mock>,
    groups: Arc<Groups>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let authorized = request
        .headers()
        .get("authorization")
        .is_some_and(|v| v == format!("Bearer {TOKEN}").as_str());
    if !authorized {
        return reply(StatusCode::UNAUTHORIZED, &json!({"detail": "bad token"}));
    }
    assert!(request.headers().contains_key("host"));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let segments: Vec<&str> = path.trim_start_matches("/scim/v2/").split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["Users"]) => {
            let filter = percent_decode(query.strip_prefix("filter=").unwrap());
            let name = filter
                .strip_prefix("userName eq \"")
                .and_then(|rest| rest.strip_suffix('"'))
                .unwrap();
            let found: Vec<Value> = users
                .users
                .lock()
                .unwrap()
                .get(&name.to_ascii_lowercase())
                .map(|user| json!({"id": user.id, "userName": user.user_name}))
                .into_iter()
                .collect();
            reply(
                StatusCode::OK,
                &json!({"totalResults": found.len(), "Resources": found}),
            )
        }
        (Method::POST, ["Users"]) => {
            let body: Value = serde_json::from_slice(&body).unwrap();
            let user = User {
                user_name: body["userName"].as_str().unwrap().to_owned(),
                ..Default::default()
            };
            match users.insert(user) {
                Some(user) => reply(StatusCode::CREATED, &json!({"id": user.id})),
                None => reply(StatusCode::CONFLICT, &json!({"scimType": "uniqueness"})),
            }
        }
        (Method::PATCH, ["Groups", id]) => {
            let body: Value = serde_json::from_slice(&body).unwrap();
            let op = &body["Operations"][0];
            assert_eq!(op["op"], "add");
            assert_eq!(op["path"], "members");
            let member = op["value"][0]["value"].as_str().unwrap().to_owned();
            match groups.groups.lock().unwrap().get_mut(*id) {
                Some(members) => {
                    assert!(members.insert(member), "already a member");
                    reply(StatusCode::OK, &json!({"id": id}))
                }
                None => reply(StatusCode::NOT_FOUND, &json!({"detail": "no group"})),
            }
        }
        (Method::GET, ["Groups", id]) => {
            assert_eq!(query, "excludedAttributes=members");
            if groups.groups.lock().unwrap().contains_key(*id) {
                reply(StatusCode::OK, &json!({"id": id, "displayName": "g"}))
            } else {
                reply(StatusCode::NOT_FOUND, &json!({"detail": "no group"}))
            }
        }
        _ => reply(StatusCode::NOT_FOUND, &json!({"detail": "no route"})),
    }
}

async fn start() -> Servers {
    let users = Arc::new(Mock::default());
    let groups = Arc::new(Groups::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        Server::builder()
            .add_service(UserServiceServer::from_arc(users.clone()))
            .add_service(GroupServiceServer::from_arc(groups.clone()))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicU64::new(0));
    let (u, g, a) = (users.clone(), groups.clone(), accepted.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            a.fetch_add(1, Ordering::Relaxed);
            let (u, g) = (u.clone(), g.clone());
            let service = service_fn(move |request| {
                let (u, g) = (u.clone(), g.clone());
                async move { Ok::<_, Infallible>(handle(u, g, request).await) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    Servers {
        grpc,
        http,
        users,
        groups,
        accepted,
    }
}

fn target(url: &str, token: &str) -> Target {
    Target::new(url, token, Duration::from_secs(10)).unwrap()
}

fn u64_field(report: &crate::stats::Report, key: &str) -> u64 {
    field(report, key)
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_lookup_side_by_side_and_create_on_kept_alive_connections() {
    let servers = start().await;
    let grpc = connector(&servers.grpc, TOKEN);
    seed::run(&grpc, 4, 2, 300, "user").await.unwrap();

    let options = ScimLookupOptions {
        users: 300,
        prefix: "user".to_owned(),
        requests: Some(200),
        duration: None,
        seed: 3,
        warmup: 20,
    };
    let report = scim::lookup(&target(&servers.http, TOKEN), Some((&grpc, 3)), 3, options)
        .await
        .unwrap();
    assert_eq!(u64_field(&report, "count"), 200);
    assert_eq!(u64_field(&report, "not_found"), 0);
    assert_eq!(u64_field(&report, "errors"), 0);
    assert_eq!(u64_field(&report, "grpc_count"), 200);
    assert!(report.get("overhead_p99_us").is_some());
    // Warm-up, probe and measured requests all went over the same three connections.
    assert_eq!(u64_field(&report, "connections_opened"), 3);
    assert_eq!(servers.accepted.load(Ordering::Relaxed), 3);

    // A duration bound stops the run by itself.
    let options = ScimLookupOptions {
        users: 300,
        prefix: "user".to_owned(),
        requests: None,
        duration: Some(Duration::from_millis(200)),
        seed: 1,
        warmup: 0,
    };
    let report = scim::lookup(&target(&servers.http, TOKEN), None, 2, options)
        .await
        .unwrap();
    assert!(u64_field(&report, "count") > 0);

    // Users that were never seeded fail fast.
    let options = ScimLookupOptions {
        users: 400,
        prefix: "user".to_owned(),
        requests: Some(10),
        duration: None,
        seed: 1,
        warmup: 0,
    };
    let err = scim::lookup(&target(&servers.http, TOKEN), None, 2, options)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("does not exist"), "{err:#}");

    let report = scim::create(&target(&servers.http, TOKEN), 4, 50)
        .await
        .unwrap();
    assert_eq!(u64_field(&report, "created"), 50);
    assert_eq!(servers.users.users.lock().unwrap().len(), 350);

    // A bad token stops the run at once.
    let err = scim::create(&target(&servers.http, "wrong"), 4, 50)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("401"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_group_fills_in_batches_then_patches_and_gets() {
    let servers = start().await;
    let options = GroupOptions {
        members: 120,
        patches: 30,
        requests: 50,
        warmup: 5,
        member_prefix: "member".to_owned(),
        patch_prefix: "patch".to_owned(),
        batch: 50,
    };
    let report = scim::group(
        &target(&servers.http, TOKEN),
        &connector(&servers.grpc, TOKEN),
        3,
        2,
        options,
    )
    .await
    .unwrap();
    assert_eq!(u64_field(&report, "patch_count"), 30);
    assert_eq!(u64_field(&report, "get_count"), 50);
    assert_eq!(u64_field(&report, "members_after"), 155);
    assert_eq!(u64_field(&report, "members_expected"), 155);
    let groups = servers.groups.groups.lock().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups.values().next().unwrap().len(), 155);
    assert_eq!(servers.accepted.load(Ordering::Relaxed), 3);
}
