//! The Roster v1 contract: the generated gRPC messages, clients and servers (`pb`), and
//! [`ErrorCode`], the one table that maps an error to its gRPC code, HTTP status and SCIM
//! `scimType`. This crate owns the wire contract and must never depend on the core
//! (`roster-services`) or the facade (`roster-scim`): both depend on it.

pub mod error;

pub use error::{ErrorCode, error_detail, status};

/// Generated code for the `roster.v1` package.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("roster.v1");
}

/// The encoded `FileDescriptorSet` of every `.proto` in `proto/`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/roster_descriptor.bin"));

/// Every scope a token can carry.
pub mod scopes {
    /// Read users, groups, the role catalog and effective roles.
    pub const SCIM_READ: &str = "scim:read";
    /// Create, change and delete users and groups.
    pub const SCIM_WRITE: &str = "scim:write";
    /// Manage the organization's tokens and roles; implies both SCIM scopes in its own
    /// organization.
    pub const ADMIN: &str = "admin";
    /// Create and list organizations (held by the bootstrap token).
    pub const SYSTEM: &str = "system";
    /// All scopes, in a stable order.
    pub const ALL: [&str; 4] = [SCIM_READ, SCIM_WRITE, ADMIN, SYSTEM];
}

/// The address of the HTTP client a SCIM request came from. The in-process SCIM facade attaches it
/// to its core calls as a request *extension* (which a remote gRPC caller cannot set); the core
/// checks connections' IP allow-lists against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// The metadata header a remote SCIM facade forwards the HTTP client's IP address in; the core
/// believes it only from peers in its `trusted_proxies` setting.
pub const CLIENT_ADDR_HEADER: &str = "x-roster-client-addr";

/// The prefix of every token secret, so secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "roster_";
