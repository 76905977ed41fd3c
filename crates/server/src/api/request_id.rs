//! The request id of every request: taken from a sane `x-request-id` header or made up (see
//! `request_layers`), echoed in the response header and in error bodies, and on the request's
//! log span.

use std::future::Future;

use axum::http::{HeaderName, HeaderValue};

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled (empty outside a request).
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Runs `work` as part of the request `id`, so that [`current`] answers it.
pub(crate) async fn within<T>(id: String, work: impl Future<Output = T>) -> T {
    REQUEST_ID.scope(id, work).await
}

/// A caller's id is kept when it is short and printable, so it cannot forge log lines.
pub(crate) fn accepted(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    (!text.is_empty()
        && text.len() <= 128
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)))
    .then_some(text)
}
