//! Webhook intake over HTTP: `POST /v1/webhooks/{endpoint}` (and the provider handshakes that use
//! other methods), `POST /v1/webhooks/apps/{definition}/{webhook}`. Bad requests stop here, before
//! any handler: a source address whose requests keep being refused (429 with `Retry-After`),
//! oversized headers (431), unknown endpoints (404, before the body is read), oversized bodies
//! (413, while the body streams: never more than the limit is held), failed verification (401),
//! payloads nested too deeply to store (422). A verified delivery then spends its integration's
//! (or app installation's) budget (429 with `Retry-After` when spent): verification comes
//! first, so no unsigned flood can spend it.

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{ConnectInfo, Path, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::any,
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::net::SocketAddr;
use tributary_core::InboundWebhook;
use tributary_runtime::{WebhookAck, WebhookRejection, WebhookTarget};

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/{endpoint}", any(endpoint))
        .route("/v1/webhooks/apps/{definition}/{webhook}", any(app))
}

/// Refusals in the API's error shape (with the request id).
fn error(status: StatusCode, code: &'static str, message: &str) -> Response {
    crate::api::ApiError::new(status, code, message).into_response()
}

/// The checks that need no body and no database: the source's budget of refused requests and
/// the size of the headers.
fn admit(state: &AppState, headers: &HeaderMap, source: &str) -> Result<(), Box<Response>> {
    // A source whose requests keep being refused (unsigned, forged, unknown endpoints) is
    // answered 429 at once. Only refusals spend this budget, so it slows a flood down without
    // touching the delivery budget of the integrations it aims at.
    if let Err(wait) = state.refused_budget.check(source) {
        return Err(Box::new(rate_limited(
            wait,
            "too many refused webhook requests from this address",
        )));
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
    Ok(())
}

fn rate_limited(wait: std::time::Duration, message: &str) -> Response {
    let response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
    crate::auth_failures::with_retry_after(response, wait)
}

/// The address a request's refusals are counted under (IPv6 by its /64).
fn source_of(request: &Request) -> String {
    crate::auth_failures::source_key(
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0),
    )
    .to_string()
}

/// Counts a refusal (any 4xx but a rate limit or a reused delivery id, which only verified
/// senders get) against the source's budget, then hands the answer on.
fn count_refusal(state: &AppState, source: &str, response: Response) -> Response {
    let status = response.status();
    if status.is_client_error()
        && status != StatusCode::TOO_MANY_REQUESTS
        && status != StatusCode::CONFLICT
    {
        let _ = state.refused_budget.take(source);
    }
    response
}

fn body_too_large(limit: usize) -> Box<Response> {
    Box::new(error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        &format!("webhook bodies are limited to {limit} bytes"),
    ))
}

/// Reads the body, holding at most `limit` bytes of it: a declared `Content-Length` above the
/// limit is refused before a byte is read, and a chunked body is cut off as soon as it passes
/// the limit. Nothing more is read after a refusal (the connection is closed).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Box<Response>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(body_too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(body_too_large(limit)),
        Err(_) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            "the request body could not be read",
        ))),
    }
}

/// The headers as text. A value that is not UTF-8 is refused (400 `invalid_header`, naming
/// the header) rather than decoded lossily: two different delivery ids or signatures must never
/// read as the same text. Providers send ASCII.
fn text_headers(headers: &HeaderMap) -> Result<Vec<(String, String)>, Box<Response>> {
    headers
        .iter()
        .map(
            |(name, value)| match std::str::from_utf8(value.as_bytes()) {
                Ok(text) => Ok((name.as_str().to_owned(), text.to_owned())),
                Err(_) => Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    "invalid_header",
                    &format!("the value of the `{name}` header is not UTF-8"),
                ))),
            },
        )
        .collect()
}

/// Reads the request to `target` (whose endpoint exists: the body is only read now) and hands it
/// to the runtime.
async fn receive(state: &AppState, target: &WebhookTarget, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts.headers, body, state.config.max_body_bytes).await {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let headers = match text_headers(&parts.headers) {
        Ok(headers) => headers,
        Err(response) => return *response,
    };
    let request = InboundWebhook {
        method: parts.method.as_str().to_owned(),
        headers,
        query: crate::query_pairs(parts.uri.query()),
        body: body.to_vec(),
        received_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    };
    let budget = |key: &str| state.delivery_budget.take(key);
    answer(
        state
            .runtime
            .receive_at_within(target, &request, &budget)
            .await,
    )
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
        Err(rejection @ WebhookRejection::RateLimited { retry_after }) => {
            rate_limited(retry_after, &rejection.to_string())
        }
        Err(rejection @ WebhookRejection::DeliveryIdReused { .. }) => error(
            StatusCode::CONFLICT,
            "delivery_id_reused",
            &rejection.to_string(),
        ),
        Err(rejection @ WebhookRejection::TooDeep { .. }) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "payload_too_deep",
            &rejection.to_string(),
        ),
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
    request: Request,
) -> Response {
    let source = source_of(&request);
    if let Err(response) = admit(&state, request.headers(), &source) {
        return count_refusal(&state, &source, *response);
    }
    let response = match state.runtime.webhook_endpoint_target(&endpoint_id).await {
        Ok(target) => receive(&state, &target, request).await,
        Err(rejection) => answer(Err(rejection)),
    };
    count_refusal(&state, &source, response)
}

async fn app(
    State(state): State<AppState>,
    Path((definition, webhook)): Path<(String, String)>,
    request: Request,
) -> Response {
    let source = source_of(&request);
    if let Err(response) = admit(&state, request.headers(), &source) {
        return count_refusal(&state, &source, *response);
    }
    let response = match state.runtime.app_webhook_target(&definition, &webhook) {
        Ok(target) => receive(&state, &target, request).await,
        Err(rejection) => answer(Err(rejection)),
    };
    count_refusal(&state, &source, response)
}
