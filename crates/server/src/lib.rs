//! The HTTP surface of Tributary: the REST API under `/v1` (tenancy, catalog, integrations, runs,
//! webhooks admin, records, mapping evaluation) with its OpenAPI document, webhook intake
//! (per-integration endpoints and app-level routes, with body, header and rate limits), the
//! OAuth/app-install callback, the web UI at `/`, `/healthz`, `/readyz` and `/metrics`.

pub mod api;
mod audit;
mod auth_failures;
mod callback;
mod http_metrics;
mod limits;
pub mod openapi;
mod request_layers;
mod ui;
mod webhooks;

use std::{future::Future, sync::Arc, time::Duration};

use axum::{Router, routing::get};
use tributary_runtime::Runtime;

pub use auth_failures::AuthFailureLimit;
pub use limits::RateLimitConfig;

/// Settings of the HTTP surface.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest webhook or REST API (JSON) body accepted: 413 above, counted while the body
    /// streams, so no more than this is ever held of one request.
    pub max_body_bytes: usize,
    /// Largest total size of a request's headers (431 above).
    pub max_header_bytes: usize,
    /// Verified webhook deliveries per integration (per installation on an app route) before
    /// 429. Spent only by requests that verified: an unsigned flood cannot spend it.
    pub webhook_rate: RateLimitConfig,
    /// Refused webhook requests (failed verification, unknown endpoint, too large, malformed)
    /// per source address; once spent, that address is answered 429 before anything else is
    /// done with its requests. Signed deliveries from other addresses are not affected.
    pub webhook_refused_rate: RateLimitConfig,
    /// Failed authentications per source address (`/v1`, SCIM, UI sign-in) before 429.
    pub auth_failures: AuthFailureLimit,
    /// How long one request may take before it is answered 503 (`None`: no limit). An inline
    /// run that outlasts it goes on to its end; the caller reads it under `/v1/runs`.
    pub request_timeout: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 16 * 1024,
            // GitHub sends hundreds of deliveries within seconds for a bulk change (a team
            // renamed across many repositories, an organization's alerts triaged at once).
            webhook_rate: RateLimitConfig {
                per_second: 100.0,
                burst: 1000.0,
            },
            webhook_refused_rate: RateLimitConfig {
                per_second: 10.0,
                burst: 100.0,
            },
            auth_failures: AuthFailureLimit::default(),
            request_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// The body limit of routes whose bodies axum's extractors read (SCIM). Webhook intake, the REST
/// API's JSON bodies (`max_body_bytes`) and the UI's forms (256 KiB) read through their own
/// limits; every limit cuts the body off while it streams.
const EXTRACTED_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) runtime: Runtime,
    pub(crate) config: Arc<ServerConfig>,
    /// Verified deliveries per integration or installation.
    pub(crate) delivery_budget: Arc<limits::TokenBuckets>,
    /// Refused webhook requests per source address.
    pub(crate) refused_budget: Arc<limits::TokenBuckets>,
    pub(crate) auth_failures: Arc<auth_failures::AuthFailures>,
}

impl AppState {
    fn new(runtime: Runtime, config: ServerConfig) -> Self {
        Self {
            delivery_budget: Arc::new(limits::TokenBuckets::new(config.webhook_rate)),
            refused_budget: Arc::new(limits::TokenBuckets::new(config.webhook_refused_rate)),
            auth_failures: Arc::new(auth_failures::AuthFailures::new(config.auth_failures)),
            config: Arc::new(config),
            runtime,
        }
    }
}

/// The router of the HTTP surface.
pub fn router(runtime: Runtime, config: ServerConfig) -> Router {
    let state = AppState::new(runtime, config);
    let document = Arc::new(openapi::document());
    let mut routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .route(
            &state.runtime.config().callback_path.clone(),
            get(callback::complete),
        )
        .merge(webhooks::routes())
        .merge(ui::routes())
        .merge(tributary_scim::router(state.runtime.clone()).layer(
            axum::middleware::from_fn_with_state(state.clone(), auth_failures::scim),
        ));
    for endpoint in api::endpoints() {
        let access = endpoint.access;
        let guard = axum::middleware::from_fn_with_state(
            state.clone(),
            move |axum::extract::State(state): axum::extract::State<AppState>,
                  request: axum::extract::Request,
                  next: axum::middleware::Next| {
                api::extract::guard(access, state, request, next)
            },
        );
        let mut handler = endpoint.handler.route_layer(guard);
        if access != api::Access::Public {
            handler = handler.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth_failures::api,
            ));
        }
        routes = routes.route(endpoint.path, handler);
    }
    let routes = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(EXTRACTED_BODY_BYTES));
    // Layered on the router, so they run inside each route and see the matched template.
    request_layers::around(routes, state.config.request_timeout)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http_metrics::record,
        ))
        .with_state(state)
}

async fn not_found() -> api::ApiError {
    api::ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such route; /openapi.json lists them",
    )
}

async fn method_not_allowed() -> api::ApiError {
    api::ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; /openapi.json lists them",
    )
}

async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> (axum::http::StatusCode, &'static str) {
    match state.runtime.db().tenants().list().await {
        Ok(_) => (axum::http::StatusCode::OK, "ready"),
        Err(_) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable",
        ),
    }
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.runtime.render_metrics().await,
    )
}

/// A page's optional filters, read from its raw query string.
pub(crate) struct QueryValues(Vec<(String, String)>);

/// A list page's filters, as a handler's argument (never refused: a malformed pair is skipped).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for QueryValues {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(parts.uri.query()))
    }
}

impl QueryValues {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        Self(query_pairs(query))
    }

    /// The first non-empty value of `name`: an emptied filter field means no filter.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.clone())
    }
}

/// The decoded name/value pairs of a raw query string (`+` is a space; invalid escapes stay as
/// they are).
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// What a process does: serve the API (HTTP: REST API, callback, webhook intake), work
/// (queued jobs, the reconcile scheduler and the retention sweep), or both. Scaled-out
/// deployments run several of each against one PostgreSQL database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Api,
    Worker,
    All,
}

impl Role {
    fn serves_api(self) -> bool {
        matches!(self, Role::Api | Role::All)
    }

    fn works(self) -> bool {
        matches!(self, Role::Worker | Role::All)
    }
}

/// A worker-only process still answers `/healthz`, `/readyz` and `/metrics` for its orchestrator.
fn probe_router(runtime: Runtime) -> Router {
    let state = AppState::new(runtime, ServerConfig::default());
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .fallback(not_found);
    request_layers::around(routes, state.config.request_timeout)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http_metrics::record,
        ))
        .with_state(state)
}

/// Serves the HTTP surface on `listener` with a job worker, the reconcile scheduler and the
/// retention sweep until `shutdown` completes; then stops taking requests and work and lets
/// running jobs finish.
pub async fn serve(
    runtime: Runtime,
    config: ServerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_role(runtime, config, Role::All, None, listener, shutdown).await
}

/// [`serve`] for one [`Role`], with the worker's settings.
pub async fn serve_role(
    runtime: Runtime,
    config: ServerConfig,
    role: Role,
    worker: Option<tributary_store::jobs::WorkerConfig>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let wait = |stop: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = stop.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };
    let mut background = Vec::new();
    if role.works() {
        let runtime_for_worker = runtime.clone();
        let stopped = wait(&stop);
        background.push(tokio::spawn(async move {
            if let Err(err) = runtime_for_worker.run_worker(worker, stopped).await {
                tracing::error!(error = %err, "the job worker stopped");
            }
        }));
        let runtime_for_scheduler = runtime.clone();
        let stopped = wait(&stop);
        background.push(tokio::spawn(async move {
            runtime_for_scheduler.run_scheduler(stopped).await
        }));
        // Retention is background work like the scheduler: API-only processes never sweep.
        let runtime_for_retention = runtime.clone();
        let stopped = wait(&stop);
        background.push(tokio::spawn(async move {
            runtime_for_retention.run_retention(stopped).await
        }));
    }
    let http_stopped = wait(&stop);
    let app = if role.serves_api() {
        router(runtime, config)
    } else {
        probe_router(runtime)
    };
    let server = tokio::spawn(async move {
        // The peer address is what failed authentications are counted by.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(http_stopped)
        .await
    });
    shutdown.await;
    let _ = stop.send(());
    let served = server.await.map_err(std::io::Error::other)?;
    // Running jobs finish (or are released to their lease) before we return.
    for task in background {
        let _ = tokio::time::timeout(Duration::from_secs(60), task).await;
    }
    served
}

#[cfg(test)]
mod tests {
    use super::query_pairs;

    fn decode(text: &str) -> String {
        query_pairs(Some(&format!("k={text}"))).remove(0).1
    }

    #[test]
    fn query_components_are_decoded() {
        assert_eq!(decode("a%20b+c"), "a b c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("validationToken%3Dx"), "validationToken=x");
        assert_eq!(
            query_pairs(Some("a=1&&b")),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), String::new())
            ]
        );
        assert!(query_pairs(None).is_empty());
    }
}
