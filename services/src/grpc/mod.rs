//! tonic adapters: each RPC authenticates the caller, checks its scope, converts the request into
//! core calls and the result into the contract's messages. Business rules live in `domain/` and
//! `store/`, not here.

mod audit;
mod auth;
mod connections;
mod domains;
mod groups;
mod organizations;
mod policies;
mod roles;
mod tokens;
mod users;

pub use audit::AuditApi;
pub use auth::{Authenticator, Principal, actor_of};
pub use connections::ConnectionApi;
pub use domains::DomainApi;
pub use groups::GroupApi;
pub use organizations::OrganizationApi;
pub use policies::PolicyApi;
pub use roles::RoleApi;
pub use tokens::TokenApi;
pub use users::UserApi;

use crate::policy::PolicyEngine;
use crate::store::Store;

/// What every RPC handler needs.
#[derive(Clone)]
pub struct Core {
    /// The database.
    pub store: Store,
    /// Checks bearer tokens.
    pub auth: Authenticator,
    /// The casbin policy every call is authorized by.
    pub policy: PolicyEngine,
    /// Authentication only, no policy: for measuring what authorization costs (never in
    /// production; set by `ROSTER_UNSAFE_SKIP_POLICY=1`, and rosterd says so loudly).
    pub skip_policy: bool,
}

impl Core {
    /// A core over `store`, with an empty policy (deny everything) until one is loaded.
    pub fn new(store: Store) -> Self {
        Self {
            auth: Authenticator::new(store.clone()),
            store,
            policy: PolicyEngine::default(),
            skip_policy: false,
        }
    }

    /// A core over `store` that believes the client address remote SCIM facades in
    /// `trusted_proxies` forward.
    pub fn with_trusted_proxies(
        store: Store,
        trusted_proxies: Vec<crate::domain::connection::Cidr>,
    ) -> Self {
        Self {
            auth: Authenticator::with_trusted_proxies(store.clone(), trusted_proxies),
            store,
            policy: PolicyEngine::default(),
            skip_policy: false,
        }
    }
}

/// The request's message, with an INVALID_ARGUMENT naming it when a required one is missing.
fn required<T>(value: Option<T>, field: &'static str) -> Result<T, tonic::Status> {
    value.ok_or_else(|| {
        roster::status(
            roster::ErrorCode::InvalidValue,
            field,
            format!("{field} is required"),
        )
    })
}
