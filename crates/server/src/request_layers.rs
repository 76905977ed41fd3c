//! What every HTTP request passes through, API, UI, SCIM, webhook intake and probes alike:
//! a request id (kept from a sane `x-request-id`, else made up, and echoed on the answer), the
//! request's span with who and what it concerns, time limits, and gzip for clients that ask.
//!
//! The span carries `request_id`, the route, and, once known, `tenant_id` (set where the caller
//! is authenticated), `integration_id` and `run_id` (from the route's path); every log line
//! written while the request is handled names them, and OTLP exports them as attributes.

use std::time::Duration;

use axum::{
    Router,
    extract::{MatchedPath, RawPathParams, Request},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower_http::{
    compression::CompressionLayer,
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    timeout::{RequestBodyTimeoutLayer, TimeoutLayer},
    trace::{DefaultOnFailure, TraceLayer},
};
use tracing::{Span, field::Empty};

use crate::api::{self, request_id};

/// The route of a request no route matched, in spans as in metrics.
const UNMATCHED: &str = "unmatched";

/// How long a request's body may take to arrive: a client trickling its body holds a
/// connection and a task, not the server.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// `router` with the layers of every request; `timeout` is the whole request's limit (`None`:
/// none). The metrics layer goes on outside these, so that it counts what they answer too.
pub(crate) fn around<S>(router: Router<S>, timeout: Option<Duration>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    // `layer` wraps what is there already: the first one below runs last, the closest to the
    // handler.
    let router = router.layer(middleware::from_fn(request_context));
    let router = match timeout {
        Some(limit) => router
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                limit,
            ))
            .layer(middleware::from_fn(explain_timeout)),
        None => router,
    };
    router
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(answered)
                .on_failure(DefaultOnFailure::new()),
        )
        .layer(CompressionLayer::new())
        .layer(PropagateRequestIdLayer::new(request_id::HEADER.clone()))
        .layer(SetRequestIdLayer::new(
            request_id::HEADER.clone(),
            NewRequestId,
        ))
        .layer(middleware::map_request(drop_unusable_request_id))
}

/// A caller's `x-request-id` that could forge log lines (too long, odd characters) is dropped,
/// so that one is made up in its place.
async fn drop_unusable_request_id(mut request: Request) -> Request {
    let unusable = request
        .headers()
        .get(&request_id::HEADER)
        .is_some_and(|value| request_id::accepted(value).is_none());
    if unusable {
        request.headers_mut().remove(&request_id::HEADER);
    }
    request
}

/// A time-ordered UUID (v7) for a request that came without an id.
#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

fn request_span(request: &axum::http::Request<axum::body::Body>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str);
    let id = request_id_header(request);
    let method = request.method();
    tracing::info_span!(
        "http.request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        request_id = %id,
        method = %method,
        route = %route,
        path = %request.uri().path(),
        http.response.status_code = Empty,
        tenant_id = Empty,
        integration_id = Empty,
        run_id = Empty,
    )
}

/// The request id the id layer put on the request (empty if it has none).
fn request_id_header(request: &Request) -> &str {
    request
        .headers()
        .get(&request_id::HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// The access log line (at `debug`: `TRIBUTARY_LOG=info,tributary_server=debug` shows it);
/// answers of 500 and above are also logged at `error` by the failure hook.
fn answered(response: &Response, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    tracing::debug!(
        status,
        latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        "answered"
    );
}

/// Inside the route: the request id for handlers (error bodies, the audit trail), and the
/// integration and run the path names, on the request's span.
async fn request_context(mut request: Request, next: Next) -> Response {
    use axum::RequestExt;
    if let Ok(params) = request.extract_parts::<RawPathParams>().await {
        let span = Span::current();
        for (name, value) in &params {
            if matches!(name, "integration_id" | "run_id") {
                span.record(name, value);
            }
        }
    }
    let id = request_id_header(&request).to_owned();
    request_id::within(id, next.run(request)).await
}

/// The timeout's bare 503 gets the API's error body, like every other refusal. A handler's own
/// 503 has a body and a content type, and is left as it is.
async fn explain_timeout(request: Request, next: Next) -> Response {
    let id = request_id_header(&request).to_owned();
    let response = next.run(request).await;
    if response.status() != StatusCode::SERVICE_UNAVAILABLE
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    tracing::warn!("the request took longer than its time limit and was given up");
    request_id::within(id, async {
        api::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took longer than the server's time limit; try again later",
        )
        .into_response()
    })
    .await
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    /// Serves `router` with the layers on loopback; the base URL.
    async fn served(timeout: Option<Duration>) -> String {
        tributary_providerkit::install_crypto_provider();
        let router: Router = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/big", get(|| async { "tributary ".repeat(10_000) }));
        let router = around(router, timeout);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        base
    }

    #[tokio::test]
    async fn a_request_past_its_time_limit_gets_the_api_error_body_with_its_id() {
        let base = served(Some(Duration::from_millis(100))).await;
        let answer = reqwest::Client::new()
            .get(format!("{base}/slow"))
            .header("x-request-id", "slow-one")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 503);
        assert_eq!(answer.headers()["x-request-id"], "slow-one");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "timeout", "{body}");
        assert_eq!(body["error"]["requestId"], "slow-one", "{body}");
    }

    #[tokio::test]
    async fn request_ids_are_kept_when_sane_and_made_up_otherwise() {
        let base = served(None).await;
        let client = reqwest::Client::new();
        let id_of = async |sent: Option<&str>| {
            let mut request = client.get(format!("{base}/big"));
            if let Some(sent) = sent {
                request = request.header("x-request-id", sent);
            }
            let answer = request.send().await.unwrap();
            answer.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(id_of(Some("abc-123.x:y_z")).await, "abc-123.x:y_z");
        for forged in ["two words", "a\"quote", &"x".repeat(129)] {
            let made = id_of(Some(forged)).await;
            assert_ne!(made, forged);
            assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
        }
        assert!(uuid::Uuid::parse_str(&id_of(None).await).is_ok());
    }

    #[tokio::test]
    async fn answers_are_gzipped_for_clients_that_ask() {
        let base = served(None).await;
        let answer = reqwest::Client::new()
            .get(format!("{base}/big"))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.headers()["content-encoding"], "gzip");
        let compressed = answer.bytes().await.unwrap();
        assert!(compressed.len() < 10_000, "{} bytes", compressed.len());
        let plain = reqwest::Client::new()
            .get(format!("{base}/big"))
            .send()
            .await
            .unwrap();
        assert!(plain.headers().get("content-encoding").is_none());
        assert_eq!(plain.text().await.unwrap().len(), 100_000);
    }
}
