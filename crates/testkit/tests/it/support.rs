//! Requests to the fakes over HTTP, the way a provider client sends them.

use reqwest::{RequestBuilder, Response};
use serde_json::Value;

/// Sends `request`, which must get an answer (whatever its status).
pub async fn send(request: RequestBuilder) -> Response {
    request.send().await.unwrap()
}

/// Sends `request`: the JSON body of its answer.
pub async fn send_json(request: RequestBuilder) -> Value {
    send(request).await.json().await.unwrap()
}
