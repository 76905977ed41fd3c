//! A provider's answer, read in full.

use reqwest::{StatusCode, Url, header::HeaderMap};
use serde::de::DeserializeOwned;
use tributary_core::OperationError;

use crate::{classify::header_str, pagination::link_rel};

/// A provider's successful (or accepted) answer, body read in full.
pub struct ProviderResponse {
    status: StatusCode,
    headers: HeaderMap,
    url: Url,
    body: Vec<u8>,
    label: String,
}

impl std::fmt::Debug for ProviderResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderResponse")
            .field("request", &self.label)
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl ProviderResponse {
    pub(crate) fn new(
        status: StatusCode,
        headers: HeaderMap,
        url: Url,
        body: Vec<u8>,
        label: String,
    ) -> Self {
        Self {
            status,
            headers,
            url,
            body,
            label,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header_str(&self.headers, name)
    }

    /// The URL that answered (after redirects).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `METHOD scheme://host/path` of the request, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Decodes the body. A mismatch is a `Provider` error naming the request and the position,
    /// never quoting the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, OperationError> {
        serde_json::from_slice(&self.body).map_err(|err| {
            OperationError::provider(format!(
                "{}: the answer is not the expected JSON ({})",
                self.label,
                describe_json_error(&err)
            ))
        })
    }

    /// The target of the `Link` header with `rel="next"`, resolved against the request URL.
    pub fn next_link(&self) -> Option<Url> {
        let values = self
            .headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let target = link_rel(values, "next")?;
        self.url.join(&target).ok()
    }
}

/// serde_json's message, cut before any quoted value so response data is not echoed.
pub(crate) fn describe_json_error(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let kept = if message.starts_with("missing field") {
        message.as_str()
    } else {
        message
            .find(['"', '`', '\''])
            .map_or(message.as_str(), |at| message[..at].trim_end())
    };
    let kept = kept.split(" at line").next().unwrap_or(kept);
    format!("{kept} at line {} column {}", err.line(), err.column())
}
