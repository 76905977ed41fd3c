//! Webhook intake over HTTP: `POST /v1/webhooks/{endpoint}` (and the provider handshakes that use
//! other methods), `POST /v1/webhooks/apps/{definition}/{webhook}`. Bad requests stop here, before
//! any handler: oversized bodies (413), oversized headers (431), too many requests for one
//! endpoint (429 with `Retry-After`), unknown endpoints (404), failed verification (401).

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, RawQuery, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};
use tributary_core::InboundWebhook;
use tributary_runtime::{WebhookAck, WebhookRejection};

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/{endpoint}", any(endpoint))
        .route("/v1/webhooks/apps/{definition}/{webhook}", any(app))
        // The real limit is checked per request from the config; this only lifts axum's default.
        .layer(DefaultBodyLimit::disable())
}

/// Refusals in the API's error shape (with the request id).
fn error(status: StatusCode, code: &'static str, message: &str) -> Response {
    crate::api::ApiError::new(status, code, message).into_response()
}

/// Checks the limits and builds the runtime's view of the request.
fn inbound(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: &Bytes,
    limit_key: &str,
) -> Result<InboundWebhook, Box<Response>> {
    // Every request counts against its endpoint's budget, refused ones too: a sender flooding
    // an endpoint with oversized or unsigned requests is slowed down like any other.
    if let Err(wait) = state.limiter.take(limit_key) {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests for this endpoint",
        );
        if let Ok(value) = header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Err(Box::new(response));
    }
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > state.config.max_header_bytes {
        return Err(Box::new(error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "the request headers are too large",
        )));
    }
    if body.len() > state.config.max_body_bytes {
        return Err(Box::new(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            &format!(
                "webhook bodies are limited to {} bytes",
                state.config.max_body_bytes
            ),
        )));
    }
    let query = crate::query_pairs(query.as_deref());
    Ok(InboundWebhook {
        method: method.as_str().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        query,
        body: body.to_vec(),
        received_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    })
}

fn answer(result: Result<WebhookAck, WebhookRejection>) -> Response {
    match result {
        Ok(WebhookAck::Handshake {
            status,
            content_type,
            body,
        }) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            [(header::CONTENT_TYPE, content_type)],
            body,
        )
            .into_response(),
        Ok(ack) => (StatusCode::OK, Json(ack)).into_response(),
        Err(WebhookRejection::UnknownEndpoint) => error(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            "no such webhook endpoint",
        ),
        Err(WebhookRejection::Unverified(message)) => {
            error(StatusCode::UNAUTHORIZED, "unverified", &message)
        }
        Err(WebhookRejection::Internal(err)) => {
            // The provider retries on 5xx; nothing was acknowledged.
            tracing::error!(error = %err, "webhook intake failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the delivery could not be stored; retry later",
            )
        }
    }
}

async fn endpoint(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let request = match inbound(&state, &method, &headers, query, &body, &endpoint_id) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    answer(state.runtime.receive_webhook(&endpoint_id, &request).await)
}

async fn app(
    State(state): State<AppState>,
    Path((definition, webhook)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let key = format!("app:{definition}/{webhook}");
    let request = match inbound(&state, &method, &headers, query, &body, &key) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    answer(
        state
            .runtime
            .receive_app_webhook(&definition, &webhook, &request)
            .await,
    )
}
