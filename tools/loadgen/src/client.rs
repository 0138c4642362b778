//! gRPC connections: tonic channels to the server, and a `UserService` client that adds the
//! `authorization: Bearer <token>` metadata to every call.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use roster::pb::group_service_client::GroupServiceClient;
use roster::pb::user_service_client::UserServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// A `UserService` client whose calls carry the bearer token.
pub type UserClient = UserServiceClient<InterceptedService<Channel, Auth>>;

/// A `GroupService` client whose calls carry the bearer token.
pub type GroupClient = GroupServiceClient<InterceptedService<Channel, Auth>>;

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Clone)]
pub struct Auth(MetadataValue<Ascii>);

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// Where and how to connect.
pub struct Connector {
    endpoint: Endpoint,
    auth: Auth,
}

impl Connector {
    /// `server` is a URL such as `http://127.0.0.1:50051` (`http://` is assumed when no scheme is
    /// given); `timeout` bounds every call and every connection attempt.
    pub fn new(server: &str, token: &str, timeout: Duration) -> Result<Self> {
        let token = token.trim();
        if token.is_empty() {
            bail!("the token is empty");
        }
        let url = if server.contains("://") {
            server.to_owned()
        } else {
            format!("http://{server}")
        };
        let endpoint = Endpoint::from_shared(url)
            .with_context(|| format!("invalid --server {server:?}"))?
            .timeout(timeout)
            .connect_timeout(timeout)
            .tcp_nodelay(true);
        let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
            .parse()
            .context("the token is not valid ASCII metadata")?;
        value.set_sensitive(true);
        Ok(Self {
            endpoint,
            auth: Auth(value),
        })
    }

    /// Opens one channel (one HTTP/2 connection, eagerly, so a wrong address fails here).
    pub async fn channel(&self) -> Result<Channel> {
        self.endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to {}", self.endpoint.uri()))
    }

    /// One client per worker over `channels` separate connections (worker `i` uses channel
    /// `i % channels`); tonic channels multiplex calls, so several workers may share one.
    pub async fn clients(&self, workers: usize, channels: usize) -> Result<Vec<UserClient>> {
        let channels = channels.clamp(1, workers.max(1));
        let mut opened = Vec::with_capacity(channels);
        for _ in 0..channels {
            opened.push(self.channel().await?);
        }
        Ok((0..workers)
            .map(|i| {
                UserServiceClient::with_interceptor(opened[i % channels].clone(), self.auth.clone())
            })
            .collect())
    }

    /// A `GroupService` client over a new connection.
    pub async fn group_client(&self) -> Result<GroupClient> {
        Ok(GroupServiceClient::with_interceptor(
            self.channel().await?,
            self.auth.clone(),
        ))
    }
}

/// Errors that mean the whole run is misconfigured (bad token, missing scope, unknown RPC,
/// rejected request): repeating the call cannot help, so the run stops at once.
pub fn is_fatal(code: Code) -> bool {
    matches!(
        code,
        Code::Unauthenticated
            | Code::PermissionDenied
            | Code::Unimplemented
            | Code::InvalidArgument
    )
}

/// Errors worth retrying a write for.
pub fn is_transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::Aborted | Code::ResourceExhausted | Code::DeadlineExceeded
    )
}

/// A one-line rendering of a status (tonic's `Display` includes details and metadata).
pub fn describe(status: &Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}
