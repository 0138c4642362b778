//! Starting and stopping rosterd: open the store (running migrations), bootstrap an empty
//! database, bind both listeners, serve until told to stop, then drain in-flight requests.

use crate::config::{Config, Role};
use crate::domain::clock::Clock;
use crate::grpc::DomainApi;
use crate::grpc::{
    AuditApi, ConnectionApi, Core, GroupApi, OrganizationApi, PolicyApi, RoleApi, TokenApi, UserApi,
};
use crate::store::{Store, StoreOptions};
use crate::telemetry::{Metrics, ObserveLayer};
use anyhow::Context as _;
use roster::pb;
use roster::pb::audit_service_server::AuditServiceServer;
use roster::pb::connection_service_server::ConnectionServiceServer;
use roster::pb::domain_service_server::DomainServiceServer;
use roster::pb::group_service_server::GroupServiceServer;
use roster::pb::organization_service_server::OrganizationServiceServer;
use roster::pb::policy_service_server::PolicyServiceServer;
use roster::pb::role_service_server::RoleServiceServer;
use roster::pb::token_service_server::TokenServiceServer;
use roster::pb::user_service_server::UserServiceServer;
use std::net::SocketAddr;
use std::path::Path;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The organization and admin secret created on the first start.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    /// The first organization.
    pub organization: pb::Organization,
    /// Its admin token's secret (scopes `admin` and `system`), shown once.
    pub secret: String,
}

/// A running rosterd.
pub struct Running {
    /// Where gRPC listens (`None` in the facade role).
    pub grpc_addr: Option<SocketAddr>,
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    /// Set on the first start with an empty database.
    pub bootstrap: Option<Bootstrap>,
    store: Option<Store>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    policy_watcher: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, closes the database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        if let Some(watcher) = self.policy_watcher {
            watcher.abort();
        }
        for task in self.tasks {
            task.await.context("while joining a server task")??;
        }
        if let Some(store) = self.store {
            store.close().await;
        }
        Ok(())
    }
}

/// Starts serving according to `config`. Listeners are bound before this returns, so port 0 is
/// resolved in the returned addresses.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let metrics = Metrics::new();
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut store = None;
    let mut grpc_addr = None;
    let mut bootstrap = None;
    let mut policy_watcher = None;
    let facade_core;

    if config.role == Role::All {
        let options = StoreOptions {
            url: config.database_url.clone(),
            max_connections: config.max_connections,
            sqlite_synchronous: config.sqlite_synchronous.clone(),
            inline_reads: config.sqlite_inline_reads,
            direct_writes: config.sqlite_direct_writes,
            mmap_bytes: u64::from(config.sqlite_mmap_mib) << 20,
        };
        let opened = Store::connect(&options, Clock::system()).await?;
        let mut core = Core::with_trusted_proxies(opened.clone(), config.trusted_proxies.clone());
        core.skip_policy =
            std::env::var("ROSTER_UNSAFE_SKIP_POLICY").is_ok_and(|value| value == "1");
        if core.skip_policy {
            tracing::warn!(
                "ROSTER_UNSAFE_SKIP_POLICY=1: every authenticated caller may do anything; for measuring authorization's cost only"
            );
        }
        crate::policy::watcher::start(&opened, &core.policy).await?;
        policy_watcher = Some(crate::policy::watcher::spawn(
            opened.clone(),
            core.policy.clone(),
        ));
        bootstrap = bootstrap_if_empty(&core).await?;
        if let (Some(first), Some(path)) = (&bootstrap, &config.bootstrap_token_file) {
            write_secret_file(path, &first.secret)?;
        }
        let listener = tokio::net::TcpListener::bind(config.grpc_addr)
            .await
            .with_context(|| format!("while binding gRPC to {}", config.grpc_addr))?;
        grpc_addr = Some(listener.local_addr()?);
        // The facade calls the core's own service implementations: no socket, no encoding.
        facade_core = roster_scim::Core {
            users: std::sync::Arc::new(UserApi(core.clone())),
            groups: std::sync::Arc::new(GroupApi(core.clone())),
            organizations: std::sync::Arc::new(OrganizationApi(core.clone())),
        };
        tasks.push(tokio::spawn(serve_grpc(
            core,
            listener,
            config.max_message_bytes,
            metrics.clone(),
            stopped.clone(),
            crate::dns::TxtResolver::new(config.dns_resolver)?,
        )));
        store = Some(opened);
    } else {
        let url = config.core.clone().unwrap_or_default();
        let channel = tonic::transport::Channel::from_shared(url.clone())
            .with_context(|| format!("invalid --core URL {url}"))?
            .connect_lazy();
        facade_core = roster_scim::Core::remote(channel);
    }
    let facade_config = roster_scim::FacadeConfig {
        public_url: config.public_url.clone(),
        ..Default::default()
    };

    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("while binding HTTP to {}", config.http_addr))?;
    let http_addr = listener.local_addr()?;
    let router = crate::http::router(store.clone(), metrics.clone(), facade_core, facade_config)
        .layer(ObserveLayer::new(metrics, "http"));
    let mut http_stopped = stopped;
    tasks.push(tokio::spawn(async move {
        // The client's socket address reaches the facade (ConnectInfo), which hands it to the core
        // for connections' IP allow-lists.
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = http_stopped.wait_for(|stop| *stop).await;
        })
        .await
        .context("while serving HTTP")
    }));
    Ok(Running {
        grpc_addr,
        http_addr,
        bootstrap,
        store,
        stop,
        tasks,
        policy_watcher,
    })
}

async fn serve_grpc(
    core: Core,
    listener: tokio::net::TcpListener,
    max_message_bytes: usize,
    metrics: std::sync::Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
    dns: crate::dns::TxtResolver,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<UserServiceServer<UserApi>>().await;
    health.set_serving::<DomainServiceServer<DomainApi>>().await;
    health.set_serving::<GroupServiceServer<GroupApi>>().await;
    health.set_serving::<TokenServiceServer<TokenApi>>().await;
    health
        .set_serving::<OrganizationServiceServer<OrganizationApi>>()
        .await;
    health.set_serving::<RoleServiceServer<RoleApi>>().await;
    health.set_serving::<AuditServiceServer<AuditApi>>().await;
    health.set_serving::<PolicyServiceServer<PolicyApi>>().await;
    health
        .set_serving::<ConnectionServiceServer<ConnectionApi>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(roster::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(roster::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    tonic::transport::Server::builder()
        .layer(ObserveLayer::new(metrics, "grpc"))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            DomainServiceServer::new(DomainApi::new(core.clone(), dns))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            OrganizationServiceServer::new(OrganizationApi(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            ConnectionServiceServer::new(ConnectionApi(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            TokenServiceServer::new(TokenApi(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            UserServiceServer::new(UserApi(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            GroupServiceServer::new(GroupApi(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            RoleServiceServer::new(RoleApi(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            PolicyServiceServer::new(PolicyApi(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            AuditServiceServer::new(AuditApi(core)).max_decoding_message_size(max_message_bytes),
        )
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        )
        .await
        .context("while serving gRPC")
}

/// On an empty database, creates organization `default` and a token with `admin` and `system`.
async fn bootstrap_if_empty(core: &Core) -> anyhow::Result<Option<Bootstrap>> {
    if core.store.count_organizations().await? > 0 {
        return Ok(None);
    }
    let attempt = async {
        let txn = core.store.begin_write().await?;
        let organization = core
            .store
            .create_organization(&txn, "default", "Default organization")
            .await?;
        // The bootstrap is rosterd itself acting in the new organization.
        let actor = crate::domain::audit::Actor::service(&organization.id, "bootstrap");
        let event = crate::store::Event {
            operation: "organization.create",
            target_kind: "organization",
            target_id: &organization.id,
        };
        let mut changes = crate::domain::audit::Changes::new();
        changes.set(
            "name",
            &serde_json::Value::Null,
            &serde_json::Value::from("default"),
        );
        core.store.audit(&txn, &actor, event, &changes).await?;
        let scopes = [
            roster::scopes::ADMIN.to_owned(),
            roster::scopes::SYSTEM.to_owned(),
        ];
        let token = core
            .store
            .create_token(
                &txn,
                &actor,
                &organization.id,
                "bootstrap",
                &scopes,
                None,
                "bootstrap",
                None,
            )
            .await?;
        txn.commit().await?;
        Ok::<_, crate::error::CoreError>(Bootstrap {
            organization,
            secret: token.secret,
        })
    };
    match attempt.await {
        Ok(bootstrap) => Ok(Some(bootstrap)),
        // Another rosterd on the same database bootstrapped first.
        Err(error) if error.code == roster::ErrorCode::Uniqueness => Ok(None),
        Err(error) => {
            Err(anyhow::Error::new(error).context("while bootstrapping the first organization"))
        }
    }
}

/// Writes the secret to a new file readable by its owner only.
fn write_secret_file(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("while creating the bootstrap token file {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}
