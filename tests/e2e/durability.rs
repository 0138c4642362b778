//! Durability (SECURITY-TESTS 5.F, 5.G): data survives a clean restart without a second bootstrap,
//! and every acknowledged write survives `kill -9` of rosterd in the middle of concurrent writes,
//! with the database intact afterwards.

use crate::harness::{
    Bearer, TestDb, TestServer, create_group, create_user, mint, query_text, user,
};
use roster::pb;
use roster::pb::organization_service_client::OrganizationServiceClient;
use roster::pb::user_service_client::UserServiceClient;
use roster_services::config::Config;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::Code;
use tonic::transport::Channel;

fn get(id: &str) -> pb::GetUserRequest {
    pb::GetUserRequest {
        lookup: Some(pb::get_user_request::Lookup::Id(id.into())),
        include_groups: true,
    }
}

/// What the database held before a restart, as the API reported it.
struct Snapshot {
    b_admin: String,
    reader: String,
    revoked: String,
    alice: pb::User,
    bob: pb::User,
    group: pb::Group,
    orgs: pb::ListOrganizationsResponse,
    tokens: Vec<pb::ApiToken>,
}

impl Snapshot {
    async fn take(
        server: &TestServer,
        b_admin: String,
        reader: String,
        revoked: String,
        alice: &str,
        bob: &str,
        group: &str,
    ) -> Self {
        Snapshot {
            alice: server
                .users(&server.admin)
                .get_user(get(alice))
                .await
                .expect("alice")
                .into_inner(),
            bob: server
                .users(&b_admin)
                .get_user(get(bob))
                .await
                .expect("bob")
                .into_inner(),
            group: server
                .groups(&server.admin)
                .get_group(pb::GetGroupRequest {
                    id: group.into(),
                    include_members: true,
                })
                .await
                .expect("the group")
                .into_inner(),
            orgs: server
                .orgs(&server.admin)
                .list_organizations(pb::ListOrganizationsRequest {})
                .await
                .unwrap()
                .into_inner(),
            tokens: server
                .tokens(&server.admin)
                .list_tokens(pb::ListTokensRequest {
                    include_revoked: true,
                })
                .await
                .unwrap()
                .into_inner()
                .tokens,
            b_admin,
            reader,
            revoked,
        }
    }

    /// Asserts the restarted server holds exactly what the snapshot saw, and still works.
    async fn check(&self, server: &TestServer, pass: &str) {
        let alice = server
            .users(&server.admin)
            .get_user(get(&self.alice.id))
            .await
            .expect(pass)
            .into_inner();
        assert_eq!(alice, self.alice, "{pass}");
        let bob = server
            .users(&self.b_admin)
            .get_user(get(&self.bob.id))
            .await
            .expect(pass)
            .into_inner();
        assert_eq!(bob, self.bob, "{pass}");
        let group = server
            .groups(&server.admin)
            .get_group(pb::GetGroupRequest {
                id: self.group.id.clone(),
                include_members: true,
            })
            .await
            .expect(pass)
            .into_inner();
        assert_eq!(group, self.group, "{pass}");
        assert_eq!(group.members.len(), 1, "{pass}");
        // No second organization "default", no new token.
        let orgs = server
            .orgs(&server.admin)
            .list_organizations(pb::ListOrganizationsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(orgs, self.orgs, "{pass}");
        let tokens = server
            .tokens(&server.admin)
            .list_tokens(pb::ListTokensRequest {
                include_revoked: true,
            })
            .await
            .unwrap()
            .into_inner()
            .tokens;
        let state = |tokens: &[pb::ApiToken]| -> Vec<(String, bool)> {
            tokens
                .iter()
                .map(|token| (token.id.clone(), token.revoked_at.is_some()))
                .collect()
        };
        assert_eq!(state(&tokens), state(&self.tokens), "{pass}");
        // Credentials keep their state.
        server
            .users(&self.reader)
            .list_users(pb::ListUsersRequest::default())
            .await
            .expect("the reader still works");
        let refused = server
            .users(&self.revoked)
            .list_users(pb::ListUsersRequest::default())
            .await;
        assert_eq!(
            refused.expect_err("the revoked token stays revoked").code(),
            Code::Unauthenticated,
            "{pass}"
        );
        // Uniqueness still holds, and new writes work.
        let duplicate = server
            .users(&server.admin)
            .create_user(pb::CreateUserRequest {
                user: Some(user("ALICE@example.com")),
            })
            .await;
        assert_eq!(
            duplicate.expect_err("alice exists").code(),
            Code::AlreadyExists,
            "{pass}"
        );
        let fresh = create_user(
            server,
            &server.admin,
            &format!("new-{}@example.com", uuid::Uuid::new_v4().simple()),
        )
        .await;
        server
            .users(&server.admin)
            .delete_user(pb::DeleteUserRequest {
                id: fresh.id,
                expected_version: None,
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn data_survives_a_restart_without_a_second_bootstrap() {
    let server = TestServer::start().await;
    let (_, b_admin) = server.new_org("org-b").await;
    let alice = create_user(&server, &server.admin, "alice@example.com").await;
    let bob = create_user(&server, &b_admin, "bob@example.com").await;
    let group = create_group(&server, &server.admin, "Eng", &[&alice.id])
        .await
        .group
        .unwrap();
    let (_, reader) = mint(&server, &server.admin, "reader", &["scim:read"]).await;
    let (revoked, revoked_secret) = mint(&server, &server.admin, "revoked", &["scim:read"]).await;
    server
        .tokens(&server.admin)
        .revoke_token(pb::RevokeTokenRequest { id: revoked.id })
        .await
        .unwrap();
    let snapshot = Snapshot::take(
        &server,
        b_admin,
        reader,
        revoked_secret,
        &alice.id,
        &bob.id,
        &group.id,
    )
    .await;
    assert_eq!(
        snapshot
            .orgs
            .organizations
            .iter()
            .map(|org| org.name.as_str())
            .collect::<Vec<_>>(),
        ["default", "org-b"]
    );
    assert_eq!(snapshot.alice.groups.len(), 1);

    let first_addr = server.grpc_addr;
    let server = server.restart().await;
    assert_ne!(server.grpc_addr, first_addr, "a new rosterd serves");
    snapshot.check(&server, "after the first restart").await;
    let server = server.restart().await;
    snapshot.check(&server, "after the second restart").await;
    server.stop().await;
}

// --- kill -9 during writes -----------------------------------------------------------------------

/// The child process reads its database URL and where to announce itself from these.
const CHILD_DB: &str = "ROSTER_E2E_CHILD_DB";
const CHILD_READY: &str = "ROSTER_E2E_CHILD_READY";

/// Not a test of its own: the body of the rosterd child process that
/// `acknowledged_writes_survive_kill_9` starts by running this test binary again with only this
/// test selected. Without the environment variables it returns at once. With them it serves the
/// database, writes `<grpc address>\n<bootstrap secret or empty>\n` to the ready file, and serves
/// until killed.
#[test]
fn child_server() {
    let (Ok(database_url), Ok(ready)) = (std::env::var(CHILD_DB), std::env::var(CHILD_READY))
    else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let config = Config {
            database_url,
            grpc_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        let running = roster_services::startup::start(config)
            .await
            .expect("the child rosterd starts");
        let secret = running
            .bootstrap
            .as_ref()
            .map(|bootstrap| bootstrap.secret.clone())
            .unwrap_or_default();
        let announcement = format!("{}\n{secret}\n", running.grpc_addr.expect("gRPC is served"));
        let temporary = format!("{ready}.tmp");
        std::fs::write(&temporary, announcement).expect("write the ready file");
        std::fs::rename(&temporary, &ready).expect("publish the ready file");
        std::future::pending::<()>().await;
    });
}

/// A rosterd child process, killed (SIGKILL) when dropped, so a failing test leaves none behind.
pub(crate) struct ChildServer {
    process: std::process::Child,
    log: PathBuf,
    grpc_addr: SocketAddr,
    bootstrap_secret: Option<String>,
}

impl ChildServer {
    pub(crate) async fn spawn(database_url: &str, work: &Path) -> Self {
        let ready = work.join("ready");
        let _ = std::fs::remove_file(&ready);
        let log = work.join("child.log");
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the child log");
        let process = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "durability::child_server",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_DB, database_url)
            .env(CHILD_READY, &ready)
            .stdin(std::process::Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .expect("spawn the child rosterd");
        let mut child = ChildServer {
            process,
            log,
            grpc_addr: "0.0.0.0:0".parse().unwrap(),
            bootstrap_secret: None,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                let mut lines = text.lines();
                child.grpc_addr = lines.next().unwrap().parse().expect("a gRPC address");
                child.bootstrap_secret = lines
                    .next()
                    .filter(|secret| !secret.is_empty())
                    .map(str::to_owned);
                return child;
            }
            if let Some(status) = child.process.try_wait().unwrap() {
                panic!(
                    "the child rosterd exited with {status}: {}",
                    child.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the child rosterd was not ready in 60 s: {}",
                child.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the child")
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the writers of one round did.
#[derive(Default)]
struct Writes {
    /// userName → id of every create the server acknowledged.
    acknowledged: Mutex<Vec<(String, String)>>,
    /// Every userName sent, acknowledged or not.
    attempted: Mutex<Vec<String>>,
}

const WRITERS: usize = 8;

/// Creates users from `WRITERS` concurrent tasks until `kill_after` are acknowledged, then kills the
/// child in the middle of the stream of writes.
async fn write_then_kill(
    child: &mut ChildServer,
    admin: &str,
    round: usize,
    kill_after: usize,
) -> Arc<Writes> {
    let writes = Arc::new(Writes::default());
    let next = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let channel = child.channel().await;
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..WRITERS {
        let mut client =
            UserServiceClient::with_interceptor(channel.clone(), Bearer(Some(admin.to_owned())));
        let (writes, next, killed) = (writes.clone(), next.clone(), killed.clone());
        writers.spawn(async move {
            loop {
                let name = format!(
                    "r{round}-u{:05}@example.com",
                    next.fetch_add(1, Ordering::SeqCst)
                );
                writes.attempted.lock().unwrap().push(name.clone());
                let call = client.create_user(pb::CreateUserRequest {
                    user: Some(user(&name)),
                });
                match tokio::time::timeout(Duration::from_secs(30), call).await {
                    Ok(Ok(created)) => writes
                        .acknowledged
                        .lock()
                        .unwrap()
                        .push((name, created.into_inner().id)),
                    Ok(Err(status)) => {
                        assert!(
                            killed.load(Ordering::SeqCst),
                            "a create failed before the kill: {status:?}"
                        );
                        return;
                    }
                    Err(_) => {
                        assert!(
                            killed.load(Ordering::SeqCst),
                            "a create hung before the kill"
                        );
                        return;
                    }
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while writes.acknowledged.lock().unwrap().len() < kill_after {
        if writers.is_empty() || Instant::now() > deadline {
            break;
        }
        if let Some(finished) = writers.try_join_next() {
            finished.expect("a writer failed");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    killed.store(true, Ordering::SeqCst);
    child.kill();
    while let Some(finished) = writers.join_next().await {
        finished.expect("a writer failed");
    }
    let acknowledged = writes.acknowledged.lock().unwrap().len();
    assert!(
        acknowledged >= kill_after,
        "only {acknowledged} creates were acknowledged before the deadline"
    );
    writes
}

/// Every user of the organization, id → userName, read in pages.
async fn all_users(
    client: &mut UserServiceClient<crate::harness::Authed>,
) -> HashMap<String, String> {
    let mut users = HashMap::new();
    let mut start_index = 1;
    loop {
        let page = client
            .list_users(pb::ListUsersRequest {
                start_index,
                count: Some(1000),
                ..Default::default()
            })
            .await
            .expect("list users")
            .into_inner();
        let got = page.users.len() as i64;
        for user in page.users {
            assert!(
                users.insert(user.id.clone(), user.user_name).is_none(),
                "{} listed twice",
                user.id
            );
        }
        start_index += got;
        if got == 0 || start_index > page.total_results {
            assert_eq!(
                users.len() as i64,
                page.total_results,
                "the pages do not add up to the total"
            );
            return users;
        }
    }
}

/// Checks the database file directly: SQLite's own integrity check, and no duplicate userNames.
async fn check_database(database_url: &str, when: &str) {
    if database_url.starts_with("sqlite") {
        let integrity = query_text(database_url, "PRAGMA integrity_check").await;
        assert_eq!(integrity, ["ok"], "integrity_check {when}");
        let foreign_keys = query_text(
            database_url,
            "SELECT CAST(\"table\" AS TEXT) FROM pragma_foreign_key_check",
        )
        .await;
        assert!(
            foreign_keys.is_empty(),
            "foreign_key_check {when}: {foreign_keys:?}"
        );
    }
    let duplicates = query_text(
        database_url,
        "SELECT CAST(COUNT(*) - COUNT(DISTINCT user_name_key) AS TEXT) FROM users",
    )
    .await;
    assert_eq!(duplicates, ["0"], "duplicate userNames {when}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    crate::harness::init_logging();
    let (db, database_url) = TestDb::new().await;
    let work = std::env::temp_dir().join(format!(
        "roster-e2e-child-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&work).unwrap();

    let mut child = ChildServer::spawn(&database_url, &work).await;
    let admin = child
        .bootstrap_secret
        .clone()
        .expect("the first start bootstraps");
    // userName → id of every acknowledged create of every round.
    let mut acknowledged: HashMap<String, String> = HashMap::new();
    // Every userName that exists once the round's creates were re-run.
    let mut expected_names: HashSet<String> = HashSet::new();
    for round in 0..3 {
        let writes = write_then_kill(&mut child, &admin, round, 300 + 40 * round).await;
        check_database(&database_url, &format!("after kill {round}")).await;

        child = ChildServer::spawn(&database_url, &work).await;
        assert_eq!(
            child.bootstrap_secret, None,
            "the restart after kill {round} bootstrapped again"
        );
        let channel = child.channel().await;
        let orgs = OrganizationServiceClient::with_interceptor(
            channel.clone(),
            Bearer(Some(admin.clone())),
        )
        .list_organizations(pb::ListOrganizationsRequest {})
        .await
        .expect("the admin token survives")
        .into_inner();
        assert_eq!(orgs.organizations.len(), 1, "{orgs:?}");
        let mut users = UserServiceClient::with_interceptor(channel, Bearer(Some(admin.clone())));

        // Every acknowledged user, of this round and the earlier ones, is there.
        acknowledged.extend(writes.acknowledged.lock().unwrap().iter().cloned());
        let stored = all_users(&mut users).await;
        for (name, id) in &acknowledged {
            assert_eq!(
                stored.get(id),
                Some(name),
                "acknowledged user {name} ({id}) lost after kill {round}"
            );
        }
        // Users whose create was in flight may or may not exist; nothing else does.
        let attempted: Vec<String> = writes.attempted.lock().unwrap().clone();
        println!(
            "round {round}: {} creates acknowledged, {} sent, {} users stored after the kill",
            writes.acknowledged.lock().unwrap().len(),
            attempted.len(),
            stored.len()
        );
        let attempted_set: HashSet<&String> = attempted.iter().collect();
        for name in stored.values() {
            assert!(
                expected_names.contains(name) || attempted_set.contains(name),
                "unexpected user {name}"
            );
        }

        // Re-running every create of the round: acknowledged ones conflict, never duplicate.
        let acknowledged_names: HashSet<String> = writes
            .acknowledged
            .lock()
            .unwrap()
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        for name in &attempted {
            let result = users
                .create_user(pb::CreateUserRequest {
                    user: Some(user(name)),
                })
                .await;
            match result {
                Ok(_) => assert!(
                    !acknowledged_names.contains(name),
                    "{name} was created twice"
                ),
                Err(status) => assert_eq!(
                    status.code(),
                    Code::AlreadyExists,
                    "re-creating {name}: {status:?}"
                ),
            }
            expected_names.insert(name.clone());
        }
        let stored = all_users(&mut users).await;
        let names: HashSet<&String> = stored.values().collect();
        assert_eq!(
            names.len(),
            stored.len(),
            "duplicate userNames after round {round}"
        );
        assert_eq!(
            names,
            expected_names.iter().collect::<HashSet<_>>(),
            "after round {round}"
        );
        check_database(&database_url, &format!("after round {round}")).await;
    }
    child.kill();
    check_database(&database_url, "at the end").await;
    drop(child);
    db.drop_database().await;
    let _ = std::fs::remove_dir_all(&work);
}
