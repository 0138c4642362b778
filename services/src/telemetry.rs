//! Logs and metrics around every request, as one tower layer used by both servers: a span with the
//! request id (taken from `x-request-id` or generated) wraps the handler, so every log line of the
//! request carries it; counts and latencies go to a Prometheus registry by RPC or route and status.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;

/// Labels of the request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `grpc` or `http`.
    pub protocol: &'static str,
    /// The RPC path (`/roster.v1.UserService/GetUser`) or HTTP route.
    pub route: String,
    /// gRPC status code or HTTP status.
    pub status: String,
}

/// The metrics registry and its request families.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
}

impl Metrics {
    /// A registry with `roster_requests_total` and `roster_request_duration_seconds`.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0,
            ])
        });
        registry.register(
            "roster_requests",
            "Requests served, by protocol, route and status",
            requests.clone(),
        );
        registry.register(
            "roster_request_duration_seconds",
            "Request latency, by protocol, route and status",
            latency.clone(),
        );
        Arc::new(Self {
            registry,
            requests,
            latency,
        })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn record(&self, labels: RequestLabels, seconds: f64) {
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }
}

/// The tower layer.
#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
    protocol: &'static str,
}

impl ObserveLayer {
    /// Observes requests of `protocol` (`grpc` or `http`).
    pub fn new(metrics: Arc<Metrics>, protocol: &'static str) -> Self {
        Self { metrics, protocol }
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.metrics.clone(),
            protocol: self.protocol,
        }
    }
}

/// The service the layer wraps around a server.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
    protocol: &'static str,
}

fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 64
                && value.bytes().all(|byte| byte.is_ascii_graphic())
        })
        .map(str::to_owned)
        .unwrap_or_else(generated_request_id)
}

/// A request id made here: 32 hex digits, a random per-process half and a counter. Unique without
/// a `getrandom` system call per request (a new v4 UUID each was ~2% of a lookup's CPU); a request
/// id names a request in the logs, it is not a secret.
fn generated_request_id() -> String {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PROCESS: LazyLock<u64> = LazyLock::new(|| uuid::Uuid::new_v4().as_u64_pair().0);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}{:016x}",
        *PROCESS,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Bounds label cardinality: known prefixes keep their path, anything else is `other`.
fn route(protocol: &str, path: &str) -> String {
    let known = match protocol {
        "grpc" => path.starts_with("/roster.v1.") || path.starts_with("/grpc."),
        _ => matches!(path, "/healthz" | "/readyz" | "/metrics"),
    };
    if known {
        path.to_owned()
    } else if protocol == "http" && (path.starts_with("/scim/v2") || path.starts_with("/orgs/")) {
        scim_route(path)
    } else {
        "other".to_owned()
    }
}

/// A SCIM path with ids and organization names replaced by placeholders
/// (`/scim/v2/Users/{id}`), so labels stay few whatever the traffic.
fn scim_route(path: &str) -> String {
    const NAMES: [&str; 11] = [
        "scim",
        "v2",
        "orgs",
        "Users",
        "Groups",
        "Bulk",
        ".search",
        "Schemas",
        "ResourceTypes",
        "ServiceProviderConfig",
        "openapi.json",
    ];
    let mut route = String::new();
    let mut previous = "";
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        route.push('/');
        if previous == "orgs" {
            route.push_str("{org}");
        } else if let Some(name) = NAMES.iter().find(|name| name.eq_ignore_ascii_case(segment)) {
            route.push_str(name);
        } else {
            route.push_str("{id}");
        }
        previous = segment;
    }
    route
}

impl<S, B, ResB> tower::Service<http::Request<B>> for Observe<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let id = request_id(request.headers());
        // The handler sees the id this span logs (the caller's when valid, else a generated one):
        // the audit log records it and the SCIM facade forwards it to the core.
        if let Ok(value) = http::HeaderValue::from_str(&id) {
            request.headers_mut().insert("x-request-id", value);
        }
        let route = route(self.protocol, request.uri().path());
        let span = tracing::info_span!("request", request_id = %id, route = %route, token_id = tracing::field::Empty);
        let metrics = self.metrics.clone();
        let protocol = self.protocol;
        // Take the ready service and leave a fresh clone behind (tower's clone-and-swap idiom).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let started = Instant::now();
        Box::pin(
            async move {
                let result = inner.call(request).await;
                let seconds = started.elapsed().as_secs_f64();
                if let Ok(response) = &result {
                    let status = if protocol == "grpc" {
                        response
                            .headers()
                            .get("grpc-status")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or("0")
                            .to_owned()
                    } else {
                        response.status().as_u16().to_string()
                    };
                    tracing::info!(status = %status, latency_us = (seconds * 1e6) as u64, "served");
                    metrics.record(
                        RequestLabels {
                            protocol,
                            route,
                            status,
                        },
                        seconds,
                    );
                }
                result.map(|mut response| {
                    if let Ok(value) = http::HeaderValue::from_str(&id) {
                        response.headers_mut().insert("x-request-id", value);
                    }
                    response
                })
            }
            .instrument(span),
        )
    }
}

/// Installs the global tracing subscriber (RUST_LOG, default `info`).
pub fn init_logging(format: crate::config::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        crate::config::LogFormat::Text => builder.try_init(),
    };
}
