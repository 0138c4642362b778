//! Roster's SCIM 2.0 facade: an axum router that speaks SCIM (RFC 7643, RFC 7644) and reaches the
//! core only through the gRPC contract (`roster`). It parses, translates and renders; it checks no
//! policy and must never depend on `roster-services`.
//!
//! The resource routes arrive with the facade issue; until then every SCIM path answers with a
//! SCIM error body, so clients get a well-formed 404 instead of an HTML page.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The SCIM media type (RFC 7644 §8.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// The facade's routes, to be merged into the HTTP server.
pub fn router() -> Router {
    Router::new().route("/scim/v2/{*rest}", axum::routing::any(not_found))
}

/// A SCIM error body (RFC 7644 §3.12).
pub fn scim_error(status: StatusCode, scim_type: Option<&str>, detail: &str) -> Response {
    let mut body = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(scim_type) = scim_type {
        body["scimType"] = scim_type.into();
    }
    (
        status,
        [(header::CONTENT_TYPE, SCIM_CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

async fn not_found() -> Response {
    scim_error(StatusCode::NOT_FOUND, None, "no SCIM resource at this path")
}
