//! The HTTP side: the SCIM facade's routes plus `/healthz` (the process is up), `/readyz` (the
//! database answers) and `/metrics` (Prometheus text format).

use crate::store::Store;
use crate::telemetry::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;

#[derive(Clone)]
struct HttpState {
    store: Option<Store>,
    metrics: Arc<Metrics>,
}

/// The HTTP router: the SCIM facade over `core` plus health and metrics; `store` is `None` in the
/// facade role (readiness then means "serving").
pub fn router(
    store: Option<Store>,
    metrics: Arc<Metrics>,
    core: roster_scim::Core,
    facade: roster_scim::FacadeConfig,
) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(HttpState { store, metrics })
        .merge(roster_scim::router(core, facade))
}

async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    match &state.store {
        Some(store) if !store.ping().await => {
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
        _ => (StatusCode::OK, "ready\n"),
    }
}

async fn render_metrics(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
