//! Errors that provider code returns, classified so the runtime can decide what to do with them.

use std::time::Duration;

/// What kind of failure an operation, auth step or client build met. The runtime acts on the kind:
/// `Auth` marks the integration for re-authentication, `RateLimit` backs off and resumes,
/// `Config` is the user's to fix, `Provider` is retried, `Internal` is a bug of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The credential was rejected, expired or revoked (HTTP 401/403, `invalid_grant`).
    Auth,
    /// The integration's configuration or an operation's config is wrong.
    Config,
    /// The provider failed or answered something unexpected (5xx, malformed body).
    Provider,
    /// The provider throttled us and retries ran out.
    RateLimit,
    /// A defect in Tributary itself.
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Config => "config",
            Self::Provider => "provider",
            Self::RateLimit => "rate_limit",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from provider code. Its message is shown to users and stored on runs, so it must never
/// contain a secret: build it from what failed, not from the credential that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind} error: {message}")]
pub struct OperationError {
    pub kind: ErrorKind,
    pub message: String,
    /// How long the provider asked us to wait, for rate-limit errors.
    pub retry_after: Option<Duration>,
}

impl OperationError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub fn provider(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Provider, message)
    }

    pub fn rate_limited(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self {
            retry_after,
            ..Self::new(ErrorKind::RateLimit, message)
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_kind() {
        let err = OperationError::auth("token expired");
        assert_eq!(err.to_string(), "auth error: token expired");
        assert_eq!(
            serde_json::to_value(ErrorKind::RateLimit).unwrap(),
            "rate_limit"
        );
    }
}
