//! Counts every HTTP request in the runtime's metrics by method, route template and status,
//! with its latency. The label is the route as declared (`/v1/integrations/{id}`), never the
//! path as requested: paths carry tenant, integration and endpoint ids, and a client could mint
//! any number of them. A request no route took is counted under `unmatched`.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

use crate::AppState;

/// The route label of requests no route matched (404s from the fallback).
const UNMATCHED: &str = "unmatched";

pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    state.runtime.metrics().http_request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
