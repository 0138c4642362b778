//! End-to-end tests of commands against in-process mock services: the bearer header, the requests
//! built from flags, paging, and how failures are reported.

use std::sync::{Arc, Mutex};

use roster::ErrorCode;
use roster::pb::group_service_server::{GroupService, GroupServiceServer};
use roster::pb::user_service_server::{UserService, UserServiceServer};
use roster::pb::*;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use super::conn::{Connection, describe_error};
use super::group::{self, GroupCommand};
use super::org::{self, OrgCommand};
use super::user::{self, UserCommand};

/// What the mocks saw: each call's `authorization` header and a description of its request.
type Calls = Arc<Mutex<Vec<(String, String)>>>;

fn record<T: std::fmt::Debug>(calls: &Calls, request: &Request<T>) {
    let auth = request
        .metadata()
        .get("authorization")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    calls
        .lock()
        .unwrap()
        .push((auth, format!("{:?}", request.get_ref())));
}

#[derive(Clone, Default)]
struct Mock(Calls);

#[tonic::async_trait]
impl UserService for Mock {
    async fn create_user(&self, _: Request<CreateUserRequest>) -> Result<Response<User>, Status> {
        Err(Status::unimplemented("create_user"))
    }

    async fn get_user(&self, request: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        record(&self.0, &request);
        Err(roster::status(ErrorCode::NotFound, "id", "no such user"))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        record(&self.0, &request);
        let user = User {
            id: "u1".into(),
            user_name: "alice".into(),
            ..User::default()
        };
        Ok(Response::new(ListUsersResponse {
            users: vec![user],
            total_results: 1,
            start_index: 1,
            next_cursor: String::new(),
        }))
    }

    async fn replace_user(&self, _: Request<ReplaceUserRequest>) -> Result<Response<User>, Status> {
        Err(Status::unimplemented("replace_user"))
    }

    async fn delete_user(
        &self,
        _: Request<DeleteUserRequest>,
    ) -> Result<Response<DeleteUserResponse>, Status> {
        Err(Status::unimplemented("delete_user"))
    }
}

#[tonic::async_trait]
impl GroupService for Mock {
    async fn create_group(
        &self,
        _: Request<CreateGroupRequest>,
    ) -> Result<Response<GroupWriteResponse>, Status> {
        Err(Status::unimplemented("create_group"))
    }

    async fn get_group(&self, _: Request<GetGroupRequest>) -> Result<Response<Group>, Status> {
        Err(Status::unimplemented("get_group"))
    }

    async fn list_groups(
        &self,
        _: Request<ListGroupsRequest>,
    ) -> Result<Response<ListGroupsResponse>, Status> {
        Err(Status::unimplemented("list_groups"))
    }

    async fn update_group(
        &self,
        request: Request<UpdateGroupRequest>,
    ) -> Result<Response<GroupWriteResponse>, Status> {
        record(&self.0, &request);
        Ok(Response::new(GroupWriteResponse {
            member_count: 0,
            group: Some(Group {
                id: request.into_inner().id,
                ..Group::default()
            }),
            skipped_member_ids: vec!["nobody".into()],
        }))
    }

    async fn delete_group(
        &self,
        _: Request<DeleteGroupRequest>,
    ) -> Result<Response<DeleteGroupResponse>, Status> {
        Err(Status::unimplemented("delete_group"))
    }

    /// Three pages of one member each, keyed by the page token.
    async fn list_group_members(
        &self,
        request: Request<ListGroupMembersRequest>,
    ) -> Result<Response<ListGroupMembersResponse>, Status> {
        record(&self.0, &request);
        let (member, next) = match request.get_ref().page_token.as_str() {
            "" => ("m1", "p2"),
            "p2" => ("m2", "p3"),
            _ => ("m3", ""),
        };
        Ok(Response::new(ListGroupMembersResponse {
            members: vec![Member {
                value: member.into(),
                r#type: MemberType::User.into(),
                display: String::new(),
            }],
            next_page_token: next.into(),
        }))
    }
}

/// Serves the mock on a free port; returns its URL and what it records.
async fn serve() -> (String, Calls) {
    let mock = Mock::default();
    let calls = mock.0.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = Server::builder()
        .add_service(UserServiceServer::new(mock.clone()))
        .add_service(GroupServiceServer::new(mock))
        .serve_with_incoming(TcpListenerStream::new(listener));
    tokio::spawn(server);
    (url, calls)
}

#[tokio::test]
async fn user_list_sends_bearer_token_and_filter() {
    let (url, calls) = serve().await;
    let conn = Connection::new(&url, "roster_secret").unwrap();
    let command = UserCommand::List {
        user_name: Some("alice".into()),
        email: Some("a@example.com".into()),
        count: Some(5),
        start_index: 1,
    };
    let report = user::run(command, &conn).await.unwrap();
    assert_eq!(report.json()["users"][0]["userName"], "alice");
    assert_eq!(report.json()["totalResults"], 1);

    let calls = calls.lock().unwrap();
    assert_eq!(calls[0].0, "Bearer roster_secret");
    assert!(calls[0].1.contains("And(FilterList"), "{}", calls[0].1);
    assert!(
        calls[0].1.contains("sub_attribute: \"value\""),
        "{}",
        calls[0].1
    );
}

#[tokio::test]
async fn user_get_by_name_reports_code_and_field() {
    let (url, calls) = serve().await;
    let conn = Connection::new(&url, "t").unwrap();
    let command = UserCommand::Get {
        id_or_user_name: "alice".into(),
        by_user_name: false,
    };
    let err = user::run(command, &conn).await.err().unwrap();
    assert_eq!(
        describe_error(&err, &url),
        "NOT_FOUND: no such user (field: id)"
    );
    assert!(calls.lock().unwrap()[0].1.contains("UserName(\"alice\")"));
}

#[tokio::test]
async fn group_members_follows_every_page() {
    let (url, calls) = serve().await;
    let conn = Connection::new(&url, "t").unwrap();
    let command = GroupCommand::Members {
        id: "g1".into(),
        page_size: Some(1),
    };
    let report = group::run(command, &conn).await.unwrap();
    let members = report.json()["members"].as_array().unwrap();
    let ids: Vec<&str> = members
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m1", "m2", "m3"]);
    assert_eq!(members[0]["type"], "user");
    assert_eq!(calls.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn add_member_sends_one_change_and_reports_skipped_ids() {
    let (url, calls) = serve().await;
    let conn = Connection::new(&url, "t").unwrap();
    let command = GroupCommand::AddMember {
        group_id: "g1".into(),
        member_ids: vec!["u1".into(), "nobody".into()],
    };
    let report = group::run(command, &conn).await.unwrap();
    assert_eq!(report.json()["skippedMemberIds"][0], "nobody");
    let calls = calls.lock().unwrap();
    assert!(
        calls[0].1.contains("AddMembers(MemberList"),
        "{}",
        calls[0].1
    );
}

#[tokio::test]
async fn unreachable_server_is_reported_as_such() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let conn = Connection::new(&url, "t").unwrap();
    let err = org::run(OrgCommand::Get, &conn).await.err().unwrap();
    let line = describe_error(&err, &url);
    assert!(line.starts_with(&format!("cannot reach {url}: ")), "{line}");
}
