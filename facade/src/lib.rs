//! Roster's SCIM 2.0 facade: an axum router that speaks SCIM (RFC 7643, RFC 7644) and reaches the
//! core only through the gRPC contract (`roster`). It parses, translates and renders; it checks no
//! policy and must never depend on `roster-services`.

#![recursion_limit = "256"]

pub mod context;
pub mod core;
pub mod openapi;
pub mod routes;
pub mod scim;

pub use context::{Facade, FacadeConfig};
pub use core::Core;

/// The SCIM media type (RFC 7644 §8.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// The facade's routes over `core`, to be merged into the HTTP server.
pub fn router(core: Core, config: FacadeConfig) -> axum::Router {
    let facade = Facade {
        core,
        config: std::sync::Arc::new(config),
        router: Default::default(),
    };
    let router = routes::router(facade.clone());
    let _ = facade.router.set(router.clone());
    router
}
