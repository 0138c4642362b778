//! The test server and its clients.

use roster::pb;
use roster::pb::group_service_client::GroupServiceClient;
use roster::pb::organization_service_client::OrganizationServiceClient;
use roster::pb::role_service_client::RoleServiceClient;
use roster::pb::token_service_client::TokenServiceClient;
use roster::pb::user_service_client::UserServiceClient;
use roster_services::config::Config;
use roster_services::startup::{self, Running};
use std::net::SocketAddr;
use std::path::PathBuf;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Adds `authorization: Bearer <secret>` to every call.
#[derive(Clone)]
pub struct Bearer(pub Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(secret) = &self.0 {
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer {secret}").parse().expect("ascii secret"),
            );
        }
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;

/// A fresh database for one test.
pub enum TestDb {
    Sqlite { dir: PathBuf },
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn new() -> (Self, String) {
        match std::env::var("ROSTER_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                use sqlx::Connection as _;
                let name = format!("roster_test_{}", uuid::Uuid::new_v4().simple());
                let mut connection = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to the test PostgreSQL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut connection)
                    .await
                    .expect("create the test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(base, _)| base.to_owned())
                    .unwrap_or(admin_url.clone());
                let url = format!("{base}/{name}");
                (TestDb::Postgres { admin_url, name }, url)
            }
            _ => {
                let dir = std::env::temp_dir()
                    .join(format!("roster-e2e-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).expect("create a temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.join("roster.db").display());
                (TestDb::Sqlite { dir }, url)
            }
        }
    }

    pub async fn drop_database(self) {
        match self {
            TestDb::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDb::Postgres { admin_url, name } => {
                use sqlx::Connection as _;
                if let Ok(mut connection) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut connection)
                    .await;
                }
            }
        }
    }
}

/// A running rosterd on a fresh database.
pub struct TestServer {
    running: Option<Running>,
    db: Option<TestDb>,
    pub database_url: String,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// The bootstrap token (scopes admin + system) of organization `default`.
    pub admin: String,
    pub org_id: String,
    channel: Channel,
}

pub fn init_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        roster_services::telemetry::init_logging(roster_services::config::LogFormat::Text);
    }
}

impl TestServer {
    pub async fn start() -> Self {
        init_logging();
        let (db, database_url) = TestDb::new().await;
        Self::start_on(db, database_url).await
    }

    pub async fn start_on(db: TestDb, database_url: String) -> Self {
        let config = Config {
            database_url: database_url.clone(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        let running = startup::start(config).await.expect("rosterd starts");
        let bootstrap = running
            .bootstrap
            .clone()
            .expect("a fresh database bootstraps");
        let grpc_addr = running.grpc_addr.expect("gRPC is served");
        let channel = Channel::from_shared(format!("http://{grpc_addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        TestServer {
            http_addr: running.http_addr,
            running: Some(running),
            db: Some(db),
            database_url,
            grpc_addr,
            admin: bootstrap.secret,
            org_id: bootstrap.organization.id,
            channel,
        }
    }

    /// Stops the server and drops its database.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn users(&self, secret: &str) -> UserServiceClient<Authed> {
        UserServiceClient::with_interceptor(self.channel.clone(), Bearer(Some(secret.to_owned())))
    }

    pub fn groups(&self, secret: &str) -> GroupServiceClient<Authed> {
        GroupServiceClient::with_interceptor(self.channel.clone(), Bearer(Some(secret.to_owned())))
    }

    pub fn tokens(&self, secret: &str) -> TokenServiceClient<Authed> {
        TokenServiceClient::with_interceptor(self.channel.clone(), Bearer(Some(secret.to_owned())))
    }

    pub fn roles(&self, secret: &str) -> RoleServiceClient<Authed> {
        RoleServiceClient::with_interceptor(self.channel.clone(), Bearer(Some(secret.to_owned())))
    }

    pub fn orgs(&self, secret: &str) -> OrganizationServiceClient<Authed> {
        OrganizationServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer(Some(secret.to_owned())),
        )
    }

    /// Creates another organization; returns (organization id, admin secret).
    pub async fn new_org(&self, name: &str) -> (String, String) {
        let response = self
            .orgs(&self.admin)
            .create_organization(pb::CreateOrganizationRequest {
                name: name.into(),
                display_name: String::new(),
            })
            .await
            .expect("create organization")
            .into_inner();
        (
            response.organization.unwrap().id,
            response.admin_token.unwrap().secret,
        )
    }

    /// Mints a token with `scopes` in the bootstrap organization.
    pub async fn token(&self, scopes: &[&str]) -> String {
        self.tokens(&self.admin)
            .create_token(pb::CreateTokenRequest {
                name: format!("test {}", scopes.join(" ")),
                scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
                expires_at: None,
                connection_id: String::new(),
            })
            .await
            .expect("create token")
            .into_inner()
            .secret
    }
}

/// A user with one work email.
pub fn user(user_name: &str) -> pb::User {
    pb::User {
        user_name: user_name.into(),
        emails: vec![pb::MultiValue {
            value: user_name.into(),
            r#type: Some("work".into()),
            display: None,
            primary: true,
        }],
        ..Default::default()
    }
}

pub async fn create_user(server: &TestServer, secret: &str, user_name: &str) -> pb::User {
    server
        .users(secret)
        .create_user(pb::CreateUserRequest {
            user: Some(user(user_name)),
        })
        .await
        .expect("create user")
        .into_inner()
}

pub async fn create_group(
    server: &TestServer,
    secret: &str,
    display_name: &str,
    members: &[&str],
) -> pb::GroupWriteResponse {
    server
        .groups(secret)
        .create_group(pb::CreateGroupRequest {
            group: Some(pb::Group {
                display_name: display_name.into(),
                members: members.iter().map(|id| member(id)).collect(),
                ..Default::default()
            }),
        })
        .await
        .expect("create group")
        .into_inner()
}

pub fn member(id: &str) -> pb::Member {
    pb::Member {
        value: id.into(),
        r#type: 0,
        display: String::new(),
    }
}

/// `attribute[.sub] op "value"` as a filter AST.
pub fn compare(attribute: &str, sub: &str, op: pb::CompareOp, value: &str) -> pb::Filter {
    pb::Filter {
        node: Some(pb::filter::Node::Compare(pb::Comparison {
            path: Some(pb::AttributePath {
                schema: String::new(),
                attribute: attribute.into(),
                sub_attribute: sub.into(),
            }),
            op: op as i32,
            value: Some(pb::FilterValue {
                kind: Some(pb::filter_value::Kind::StringValue(value.into())),
            }),
        })),
    }
}

pub fn and(filters: Vec<pb::Filter>) -> pb::Filter {
    pb::Filter {
        node: Some(pb::filter::Node::And(pb::FilterList { filters })),
    }
}

pub fn or(filters: Vec<pb::Filter>) -> pb::Filter {
    pb::Filter {
        node: Some(pb::filter::Node::Or(pb::FilterList { filters })),
    }
}

pub fn not(filter: pb::Filter) -> pb::Filter {
    pb::Filter {
        node: Some(pb::filter::Node::Not(Box::new(filter))),
    }
}

/// The gRPC code and ErrorDetail field of a failed call.
pub fn failure<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
) -> (tonic::Code, String, String) {
    let status = result.expect_err("the call should fail");
    let (_, field) = roster::error_detail(&status);
    (status.code(), field, status.message().to_owned())
}

// Helpers of the isolation, token, CLI and durability tests.

impl TestServer {
    /// The channel to the server, for clients with hand-made credentials.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Shuts rosterd down cleanly but keeps its database, then starts a new rosterd on it, which
    /// must not bootstrap again; the admin secret and organization carry over.
    pub async fn restart(mut self) -> Self {
        let running = self.running.take().expect("the server is running");
        running.shutdown().await.expect("clean shutdown");
        let config = Config {
            database_url: self.database_url.clone(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        let running = startup::start(config).await.expect("rosterd restarts");
        assert!(
            running.bootstrap.is_none(),
            "a restart on a used database bootstrapped again: {:?}",
            running
                .bootstrap
                .as_ref()
                .map(|bootstrap| &bootstrap.organization)
        );
        let grpc_addr = running.grpc_addr.expect("gRPC is served");
        self.channel = Channel::from_shared(format!("http://{grpc_addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        self.grpc_addr = grpc_addr;
        self.http_addr = running.http_addr;
        self.running = Some(running);
        self
    }
}

/// Runs `sql`, which returns one text column, directly on the database (not through rosterd).
pub async fn query_text(database_url: &str, sql: &str) -> Vec<String> {
    use sqlx::Connection as _;
    let query = sqlx::AssertSqlSafe(sql.to_owned());
    let rows: Vec<Option<String>> = if database_url.starts_with("postgres") {
        let mut connection = sqlx::PgConnection::connect(database_url)
            .await
            .expect("connect to PostgreSQL");
        let rows = sqlx::query_scalar(query).fetch_all(&mut connection).await;
        let _ = connection.close().await;
        rows
    } else {
        let mut connection = sqlx::SqliteConnection::connect(database_url)
            .await
            .expect("open the SQLite file");
        let rows = sqlx::query_scalar(query).fetch_all(&mut connection).await;
        let _ = connection.close().await;
        rows
    }
    .unwrap_or_else(|error| panic!("{sql}: {error}"));
    rows.into_iter().map(Option::unwrap_or_default).collect()
}

/// Every row of every table, each rendered as `table: <all columns as text>`, read directly from
/// the database.
pub async fn dump_rows(database_url: &str) -> Vec<String> {
    let mut dump = Vec::new();
    if database_url.starts_with("postgres") {
        let tables = query_text(
            database_url,
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        .await;
        for table in tables {
            dump.extend(
                query_text(
                    database_url,
                    &format!("SELECT '{table}: ' || t::text FROM \"{table}\" t"),
                )
                .await,
            );
        }
    } else {
        let tables = query_text(
            database_url,
            "SELECT name FROM sqlite_master WHERE type = 'table'",
        )
        .await;
        for table in tables {
            let columns = query_text(
                database_url,
                &format!("SELECT name FROM pragma_table_info('{table}')"),
            )
            .await;
            let values: Vec<String> = columns
                .iter()
                .map(|column| format!("COALESCE(CAST(\"{column}\" AS TEXT), 'NULL')"))
                .collect();
            let sql = format!(
                "SELECT '{table}: ' || {} FROM \"{table}\"",
                values.join(" || ' | ' || ")
            );
            dump.extend(query_text(database_url, &sql).await);
        }
    }
    dump
}

/// CRC-32 (IEEE 802.3, as zlib and crc32fast compute it), bit by bit.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Whether `text` is non-empty and all lowercase hex digits.
pub fn is_lower_hex(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// Mints a token with `scopes` with the given admin secret; returns (token, secret).
pub async fn mint(
    server: &TestServer,
    admin: &str,
    name: &str,
    scopes: &[&str],
) -> (pb::ApiToken, String) {
    let response = server
        .tokens(admin)
        .create_token(pb::CreateTokenRequest {
            name: name.into(),
            scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
            expires_at: None,
            connection_id: String::new(),
        })
        .await
        .expect("create token")
        .into_inner();
    (response.token.expect("the token"), response.secret)
}

// Helpers of the domain tests.

impl TestServer {
    /// Starts rosterd on a fresh database like [`TestServer::start`], after `config_tweak` has
    /// changed its configuration (for example to point domain verification at a test DNS server).
    pub async fn start_with(config_tweak: impl FnOnce(&mut Config)) -> Self {
        init_logging();
        let (db, database_url) = TestDb::new().await;
        let mut config = Config {
            database_url: database_url.clone(),
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        config_tweak(&mut config);
        let running = startup::start(config).await.expect("rosterd starts");
        let bootstrap = running
            .bootstrap
            .clone()
            .expect("a fresh database bootstraps");
        let grpc_addr = running.grpc_addr.expect("gRPC is served");
        let channel = Channel::from_shared(format!("http://{grpc_addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        TestServer {
            http_addr: running.http_addr,
            running: Some(running),
            db: Some(db),
            database_url,
            grpc_addr,
            admin: bootstrap.secret,
            org_id: bootstrap.organization.id,
            channel,
        }
    }
}

/// Runs the real rosterctl with `--json` and `token` against `server`; returns (exit code, stdout
/// as JSON or null, stderr).
pub async fn rosterctl_json(
    server: &TestServer,
    token: &str,
    args: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rosterctl"));
    command
        .arg("--server")
        .arg(server.grpc_url())
        .arg("--json")
        .args(args)
        .env_remove("ROSTER_SERVER")
        .env("ROSTER_TOKEN", token);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("rosterctl runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    (
        output.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or_default(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Registers `name` in the organization of `org_admin` (its admin token) and has the operator
/// (the bootstrap token, `system`) mark it verified by hand: the cheap way to let a test change
/// emails in that domain. `org_id` is that organization's id.
pub async fn verify_domain(server: &TestServer, org_admin: &str, org_id: &str, name: &str) {
    use roster::pb::domain_service_client::DomainServiceClient;
    let domain =
        DomainServiceClient::with_interceptor(server.channel(), Bearer(Some(org_admin.to_owned())))
            .register_domain(pb::RegisterDomainRequest { name: name.into() })
            .await
            .expect("register a domain")
            .into_inner();
    DomainServiceClient::with_interceptor(server.channel(), Bearer(Some(server.admin.clone())))
        .mark_domain_verified(pb::MarkDomainVerifiedRequest {
            id: domain.id,
            organization_id: org_id.into(),
        })
        .await
        .expect("mark a domain verified");
}
