//! The connection to the server: a lazily connected channel, the interceptor that authenticates
//! every call with the bearer token, the service clients, and the one-line rendering of failures.

use std::error::Error;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use roster::pb::audit_service_client::AuditServiceClient;
use roster::pb::group_service_client::GroupServiceClient;
use roster::pb::organization_service_client::OrganizationServiceClient;
use roster::pb::role_service_client::RoleServiceClient;
use roster::pb::token_service_client::TokenServiceClient;
use roster::pb::user_service_client::UserServiceClient;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, ConnectError, Request, Status};

/// How long to wait for the TCP connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A channel whose calls carry the bearer token.
pub type Authenticated = InterceptedService<Channel, BearerAuth>;

/// Adds `authorization: Bearer <secret>` to every call; the value is marked sensitive.
#[derive(Clone)]
pub struct BearerAuth(AsciiMetadataValue);

impl BearerAuth {
    /// Builds the header value; the error never contains the secret.
    fn new(secret: &str) -> Result<Self> {
        let secret = secret.trim();
        if secret.is_empty() {
            bail!("the token is empty");
        }
        let mut value = AsciiMetadataValue::try_from(format!("Bearer {secret}")).map_err(|_| {
            anyhow!("the token contains characters that cannot be sent in a header")
        })?;
        value.set_sensitive(true);
        Ok(Self(value))
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The server connection; nothing is dialled until the first call.
pub struct Connection {
    channel: Channel,
    auth: BearerAuth,
}

impl Connection {
    /// Prepares a lazy connection to `server` (a URL accepted by [`parse_server_url`]).
    pub fn new(server: &str, token: &str) -> Result<Self> {
        let endpoint = Endpoint::from_shared(server.to_owned())?.connect_timeout(CONNECT_TIMEOUT);
        Ok(Self {
            channel: endpoint.connect_lazy(),
            auth: BearerAuth::new(token)?,
        })
    }

    /// The OrganizationService client.
    pub fn organizations(&self) -> OrganizationServiceClient<Authenticated> {
        OrganizationServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// The TokenService client.
    pub fn tokens(&self) -> TokenServiceClient<Authenticated> {
        TokenServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// The UserService client.
    pub fn users(&self) -> UserServiceClient<Authenticated> {
        UserServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// The GroupService client.
    pub fn groups(&self) -> GroupServiceClient<Authenticated> {
        GroupServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// The RoleService client.
    pub fn roles(&self) -> RoleServiceClient<Authenticated> {
        RoleServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    /// The DomainService client.
    pub fn domains(&self) -> roster::pb::domain_service_client::DomainServiceClient<Authenticated> {
        roster::pb::domain_service_client::DomainServiceClient::with_interceptor(
            self.channel.clone(),
            self.auth.clone(),
        )
    }

    /// The PolicyService client.
    pub fn policies(
        &self,
    ) -> roster::pb::policy_service_client::PolicyServiceClient<Authenticated> {
        roster::pb::policy_service_client::PolicyServiceClient::with_interceptor(
            self.channel.clone(),
            self.auth.clone(),
        )
    }

    /// The ConnectionService client.
    pub fn connections(
        &self,
    ) -> roster::pb::connection_service_client::ConnectionServiceClient<Authenticated> {
        roster::pb::connection_service_client::ConnectionServiceClient::with_interceptor(
            self.channel.clone(),
            self.auth.clone(),
        )
    }

    /// The AuditService client.
    pub fn audit(&self) -> AuditServiceClient<Authenticated> {
        AuditServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }
}

/// Validates `--server`: an `http://HOST:PORT` URL (this build has no TLS).
pub fn parse_server_url(url: &str) -> Result<String, String> {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http") => {}
        Some("https") => {
            return Err("https is not supported by this build of rosterctl; use http://".into());
        }
        _ => return Err("expected a URL like http://127.0.0.1:50051".into()),
    }
    Endpoint::from_shared(url.to_owned()).map_err(|err| err.to_string())?;
    Ok(url.to_owned())
}

/// The text after `error: ` for a failed command: `<CODE>: <message>` (and the field at fault) for
/// an error status, `cannot reach <server>: <cause>` when the connection failed.
pub fn describe_error(err: &anyhow::Error, server: &str) -> String {
    let Some(status) = err.downcast_ref::<Status>() else {
        return format!("{err:#}");
    };
    if let Some(cause) = connect_failure(status) {
        return format!("cannot reach {server}: {cause}");
    }
    let mut line = format!("{}: {}", code_name(status.code()), status.message());
    let (_, field) = roster::error_detail(status);
    if !field.is_empty() {
        let _ = write!(line, " (field: {field})");
    }
    line
}

/// The cause of a failed connection, when `status` reports one.
fn connect_failure(status: &Status) -> Option<String> {
    let mut source = status.source();
    while let Some(err) = source {
        if let Some(connect) = err.downcast_ref::<ConnectError>() {
            return Some(error_chain(connect.0.as_ref()));
        }
        source = err.source();
    }
    None
}

/// An error and its sources, joined by `: `, without repeating a message.
fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut messages: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(err) = current {
        let message = err.to_string();
        if messages.last() != Some(&message) {
            messages.push(message);
        }
        current = err.source();
    }
    messages.join(": ")
}

/// The canonical name of a gRPC code: `NOT_FOUND`, `INVALID_ARGUMENT`.
fn code_name(code: Code) -> String {
    let mut name = String::new();
    for (index, letter) in format!("{code:?}").chars().enumerate() {
        if letter.is_ascii_uppercase() && index > 0 {
            name.push('_');
        }
        name.push(letter.to_ascii_uppercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster::ErrorCode;

    #[test]
    fn code_names_are_canonical() {
        assert_eq!(code_name(Code::Ok), "OK");
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
    }

    #[test]
    fn status_errors_name_code_and_field() {
        let status = roster::status(ErrorCode::Uniqueness, "user_name", "user_name is taken");
        let line = describe_error(&status.into(), "http://x");
        assert_eq!(
            line,
            "ALREADY_EXISTS: user_name is taken (field: user_name)"
        );
        let line = describe_error(&Status::not_found("no such user").into(), "http://x");
        assert_eq!(line, "NOT_FOUND: no such user");
    }

    #[test]
    fn server_url_must_be_http() {
        assert!(parse_server_url("http://127.0.0.1:50051").is_ok());
        assert!(parse_server_url("HTTP://localhost:1").is_ok());
        assert!(parse_server_url("https://roster.example").is_err());
        assert!(parse_server_url("127.0.0.1:50051").is_err());
    }

    #[test]
    fn token_is_validated_without_echoing_it() {
        assert!(BearerAuth::new("roster_abc").is_ok());
        let err = BearerAuth::new("bad\nsecret").err().unwrap().to_string();
        assert!(!err.contains("secret"), "{err}");
        assert!(BearerAuth::new("  ").is_err());
    }
}
