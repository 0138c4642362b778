//! Per-request context: the caller's credentials (forwarded to the core, which authenticates), the
//! base URL resources are located under, and the mapping of core statuses to SCIM errors.

use crate::core::Core;
use crate::scim::discovery::Limits;
use crate::scim::error::ScimError;
use axum::http::{HeaderMap, StatusCode};
use roster::ErrorCode;
use std::sync::Arc;

/// Facade settings.
#[derive(Clone, Debug, Default)]
pub struct FacadeConfig {
    /// The public origin (`https://scim.example.com`) used in `meta.location`; when unset, the
    /// request's `Host` header is used with `http://`.
    pub public_url: Option<String>,
    /// Advertised and enforced limits.
    pub limits: Limits,
}

/// Shared state of the router.
#[derive(Clone)]
pub struct Facade {
    /// The core's services.
    pub core: Core,
    /// Settings.
    pub config: Arc<FacadeConfig>,
    /// The finished router, so `/Bulk` can run each operation exactly as a request of its own.
    pub router: Arc<std::sync::OnceLock<axum::Router>>,
}

/// The SCIM base path of a request (`/scim/v2` or `/orgs/{org}/scim/v2`) and the HTTP client's
/// socket address when the server knows it, set by the routing middleware.
#[derive(Clone, Debug)]
pub struct BasePath(pub String, pub Option<std::net::SocketAddr>);

/// What a handler needs to call the core on the caller's behalf.
#[derive(Clone, Debug)]
pub struct Ctx {
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    request_id: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    user_agent: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    client: Option<std::net::SocketAddr>,
    /// Absolute base URL of SCIM resources for this request (no trailing slash).
    pub base_url: String,
}

impl Ctx {
    /// Builds the context from the request headers.
    pub fn new(headers: &HeaderMap, base: &BasePath, config: &FacadeConfig) -> Self {
        let metadata = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| {
                    value
                        .parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>()
                        .ok()
                })
        };
        let origin = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = headers
                    .get(axum::http::header::HOST)
                    .and_then(|value| value.to_str().ok())
                    .filter(|host| host.bytes().all(|byte| byte.is_ascii_graphic()))
                    .unwrap_or("localhost");
                format!("http://{host}")
            }
        };
        Self {
            authorization: metadata("authorization"),
            request_id: metadata("x-request-id"),
            user_agent: metadata("user-agent"),
            client: base.1,
            base_url: format!("{origin}{}", base.0),
        }
    }

    /// A core request carrying the caller's credentials, request id and client (its user agent,
    /// and its socket address as a [`roster::ClientAddr`] extension: never metadata, which any
    /// gRPC caller could send).
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(address) = self.client {
            request.extensions_mut().insert(roster::ClientAddr(address));
        }
        let metadata = request.metadata_mut();
        if let Some(value) = &self.authorization {
            metadata.insert("authorization", value.clone());
        }
        if let Some(value) = &self.request_id {
            metadata.insert("x-request-id", value.clone());
        }
        if let Some(value) = &self.user_agent {
            metadata.insert("user-agent", value.clone());
        }
        request
    }
}

/// A core status as a SCIM error: the status table in `roster::ErrorCode` decides the HTTP status
/// and `scimType`; internal errors say nothing more than that.
pub fn scim_error(status: tonic::Status) -> ScimError {
    let (code, _field) = roster::error_detail(&status);
    let http =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let detail = match code {
        ErrorCode::Internal => "internal error".to_owned(),
        ErrorCode::VersionMismatch => {
            "the resource has changed: If-Match does not name its current version".to_owned()
        }
        ErrorCode::Unavailable => "service unavailable".to_owned(),
        _ if status.message().is_empty() => {
            http.canonical_reason().unwrap_or("error").to_lowercase()
        }
        _ => status.message().to_owned(),
    };
    if code == ErrorCode::Internal {
        tracing::error!(message = %status.message(), "core returned an internal error");
    }
    ScimError::new(http, code.scim_type(), detail)
}
