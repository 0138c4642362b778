//! Runs the subcommands against an in-memory `UserService` that honours the parts of the contract
//! the tool relies on (bearer auth, ALREADY_EXISTS, NOT_FOUND, `userName` eq/sw/gt filters, `and`,
//! sorting by userName, paging with `count`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use roster::pb::user_service_server::{UserService, UserServiceServer};
use roster::pb::{
    CompareOp, CreateUserRequest, DeleteUserRequest, DeleteUserResponse, Filter, GetUserRequest,
    ListUsersRequest, ListUsersResponse, ReplaceUserRequest, User, filter, filter_value,
    get_user_request,
};
use serde_json::Value;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::bench::{self, LookupOptions};
use crate::client::Connector;
use crate::seed;
use crate::stats::Report;

pub const TOKEN: &str = "roster_test";

#[derive(Default)]
pub struct Mock {
    /// Users by lowercased userName.
    pub users: Mutex<BTreeMap<String, User>>,
    /// Ids handed out so far.
    next_id: AtomicU64,
}

impl Mock {
    /// Stores a new user under a fresh id; `None` when the userName is taken.
    pub fn insert(&self, mut user: User) -> Option<User> {
        let mut users = self.users.lock().unwrap();
        let key = user.user_name.to_ascii_lowercase();
        if users.contains_key(&key) {
            return None;
        }
        user.id = format!("u{:06}", self.next_id.fetch_add(1, Ordering::Relaxed));
        users.insert(key, user.clone());
        Some(user)
    }
}

pub fn check_auth<T>(request: &Request<T>) -> Result<(), Status> {
    match request.metadata().get("authorization") {
        Some(value) if value == format!("Bearer {TOKEN}").as_str() => Ok(()),
        _ => Err(Status::unauthenticated("bad token")),
    }
}

fn matches(filter: &Filter, user_name: &str) -> Result<bool, Status> {
    let name = user_name.to_ascii_lowercase();
    match &filter.node {
        Some(filter::Node::And(list)) => {
            for f in &list.filters {
                if !matches(f, user_name)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Some(filter::Node::Compare(c)) => {
            let attribute = c.path.as_ref().map(|p| p.attribute.as_str());
            if !attribute.is_some_and(|a| a.eq_ignore_ascii_case("userName")) {
                return Err(Status::invalid_argument("only userName"));
            }
            let Some(filter_value::Kind::StringValue(v)) =
                c.value.as_ref().and_then(|v| v.kind.as_ref())
            else {
                return Err(Status::invalid_argument("string expected"));
            };
            let v = v.to_ascii_lowercase();
            match CompareOp::try_from(c.op) {
                Ok(CompareOp::Eq) => Ok(name == v),
                Ok(CompareOp::Sw) => Ok(name.starts_with(&v)),
                Ok(CompareOp::Gt) => Ok(name > v),
                _ => Err(Status::invalid_argument("unsupported op")),
            }
        }
        _ => Err(Status::invalid_argument("unsupported filter")),
    }
}

#[tonic::async_trait]
impl UserService for Mock {
    async fn create_user(
        &self,
        request: Request<CreateUserRequest>,
    ) -> Result<Response<User>, Status> {
        check_auth(&request)?;
        let user = request
            .into_inner()
            .user
            .ok_or_else(|| Status::invalid_argument("no user"))?;
        if user.user_name.is_empty() || user.emails.len() != 1 || user.name.is_none() {
            return Err(Status::invalid_argument("incomplete user"));
        }
        self.insert(user)
            .map(Response::new)
            .ok_or_else(|| Status::already_exists("userName taken"))
    }

    async fn get_user(&self, request: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        check_auth(&request)?;
        let Some(get_user_request::Lookup::UserName(name)) = request.into_inner().lookup else {
            return Err(Status::invalid_argument("user_name lookup expected"));
        };
        let users = self.users.lock().unwrap();
        users
            .get(&name.to_ascii_lowercase())
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found("no such user"))
    }

    async fn list_users(
        &self,
        request: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        check_auth(&request)?;
        let request = request.into_inner();
        let count = request.count.unwrap_or(100);
        if !(0..=1000).contains(&count) {
            return Err(Status::invalid_argument("count"));
        }
        let users = self.users.lock().unwrap();
        let mut matching = Vec::new();
        // BTreeMap order is userName order, which is what the tool sorts by.
        for user in users.values() {
            if request
                .filter
                .as_ref()
                .map_or(Ok(true), |f| matches(f, &user.user_name))?
            {
                matching.push(user.clone());
            }
        }
        let start = request.start_index.max(1);
        Ok(Response::new(ListUsersResponse {
            total_results: matching.len() as i64,
            users: matching
                .into_iter()
                .skip(start as usize - 1)
                .take(count as usize)
                .collect(),
            start_index: start,
            next_cursor: String::new(),
        }))
    }

    async fn replace_user(&self, _: Request<ReplaceUserRequest>) -> Result<Response<User>, Status> {
        Err(Status::unimplemented("replace"))
    }

    async fn delete_user(
        &self,
        _: Request<DeleteUserRequest>,
    ) -> Result<Response<DeleteUserResponse>, Status> {
        Err(Status::unimplemented("delete"))
    }
}

async fn start() -> (String, std::sync::Arc<Mock>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mock = std::sync::Arc::new(Mock::default());
    let service = UserServiceServer::from_arc(mock.clone());
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    (url, mock)
}

pub fn connector(url: &str, token: &str) -> Connector {
    Connector::new(url, token, Duration::from_secs(10)).unwrap()
}

pub fn field(report: &Report, key: &str) -> Value {
    report.get(key).cloned().unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_tops_up_then_lookups_find_every_user() {
    let (url, mock) = start().await;
    let conn = connector(&url, TOKEN);

    let report = seed::run(&conn, 4, 2, 2500, "bench").await.unwrap();
    assert_eq!(field(&report, "created"), 2500);
    assert_eq!(field(&report, "present_after"), 2500);

    // Drop a few across the listing pages: a re-run creates exactly those.
    {
        let mut users = mock.users.lock().unwrap();
        for i in [0, 1500, 2499] {
            users.remove(&format!("bench-{i:06}@example.com")).unwrap();
        }
    }
    let report = seed::run(&conn, 4, 4, 2500, "bench").await.unwrap();
    assert_eq!(field(&report, "present_before"), 2497);
    assert_eq!(field(&report, "created"), 3);
    assert_eq!(field(&report, "skipped"), 0);
    assert_eq!(field(&report, "present_after"), 2500);

    // Already complete: nothing to do.
    let report = seed::run(&conn, 4, 4, 2000, "bench").await.unwrap();
    assert_eq!(field(&report, "created"), 0);

    for filter in [false, true] {
        let options = LookupOptions {
            users: 2500,
            prefix: "bench".to_owned(),
            requests: Some(400),
            duration: None,
            filter,
            seed: 7,
        };
        let report = bench::lookup(&conn, 3, 3, options).await.unwrap();
        assert_eq!(field(&report, "count"), 400);
        assert_eq!(field(&report, "not_found"), 0);
        assert_eq!(field(&report, "errors"), 0);
        assert!(
            field(&report, "p999_us").as_u64().unwrap()
                <= field(&report, "max_us").as_u64().unwrap()
        );
    }

    let options = LookupOptions {
        users: 2500,
        prefix: "bench".to_owned(),
        requests: None,
        duration: Some(Duration::from_millis(300)),
        filter: false,
        seed: 1,
    };
    let report = bench::lookup(&conn, 2, 1, options).await.unwrap();
    assert!(field(&report, "count").as_u64().unwrap() > 0);

    // Lookups of users that were never seeded fail fast.
    let options = LookupOptions {
        users: 5000,
        prefix: "bench".to_owned(),
        requests: Some(10),
        duration: None,
        filter: false,
        seed: 1,
    };
    assert!(bench::lookup(&conn, 2, 1, options).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_makes_unique_users_and_a_bad_token_stops_the_run() {
    let (url, mock) = start().await;
    let report = bench::create(&connector(&url, TOKEN), 4, 1, 120)
        .await
        .unwrap();
    assert_eq!(field(&report, "created"), 120);
    assert_eq!(field(&report, "errors"), 0);
    assert_eq!(mock.users.lock().unwrap().len(), 120);

    let err = bench::create(&connector(&url, "wrong"), 4, 1, 120)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("Unauthenticated"), "{err:#}");
    let err = seed::run(&connector(&url, "wrong"), 2, 1, 10, "x")
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("Unauthenticated"), "{err:#}");
}
