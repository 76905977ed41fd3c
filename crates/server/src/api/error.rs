//! The API's one error shape: `{"error": {"code", "message", "requestId", ...}}` with a status
//! that says whose fault it is. Messages come from the runtime and the store, which keep secrets
//! out of them; internal failures are logged with the request id and answered with a generic
//! message, so a database error never reaches a client.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use schemars::JsonSchema;
use serde::Serialize;
use tributary_core::ErrorKind;
use tributary_runtime::{RuntimeError, execute::ExecuteError};
use tributary_store::StoreError;

use super::request_id;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The error class of a provider or setup failure (`auth`, `config`, `provider`, ...).
    pub kind: Option<ErrorKind>,
    /// The setup step that failed.
    pub step: Option<&'static str>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// A stable machine-readable code (`not_found`, `invalid_json`, `setup_failed`, ...).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The id of the request (also in the `x-request-id` header), for support and logs.
    pub request_id: String,
    /// The error class of a provider or setup failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The setup step that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            kind: None,
            step: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(request_id = %request_id::current(), error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; the request id identifies it in the server log",
        )
    }

    fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = Some(kind);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                request_id: request_id::current(),
                kind: self.kind.map(|kind| kind.as_str().to_owned()),
                step: self.step.map(str::to_owned),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::AlreadyExists(what) => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("{what} already exists"),
            ),
            StoreError::Conflict { what, .. } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} was changed concurrently; retry"),
            ),
            StoreError::Expired(what) => {
                ApiError::new(StatusCode::GONE, "expired", format!("{what} has expired"))
            }
            StoreError::LimitReached { what, limit } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "limit_reached",
                format!(
                    "too many {what} (at most {limit}); finish some, or wait for \
                     unfinished ones to expire"
                ),
            ),
            other => ApiError::internal(&other),
        }
    }
}

impl From<ExecuteError> for ApiError {
    fn from(err: ExecuteError) -> Self {
        let kind = err.kind();
        let message = match &err {
            ExecuteError::Operation(op) => op.message.clone(),
            other => other.to_string(),
        };
        let error = match kind {
            ErrorKind::Config => ApiError::unprocessable("invalid_config", message),
            ErrorKind::Auth => ApiError::new(StatusCode::CONFLICT, "needs_reauth", message),
            ErrorKind::RateLimit => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            }
            ErrorKind::Provider => {
                ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", message)
            }
            _ => return ApiError::internal(&err),
        };
        error.with_kind(kind)
    }
}

impl From<RuntimeError> for ApiError {
    fn from(err: RuntimeError) -> Self {
        match err {
            RuntimeError::NotFound(what) => ApiError::not_found(what),
            RuntimeError::Invalid(message) => ApiError::bad_request("invalid_request", message),
            RuntimeError::Setup {
                step,
                kind,
                message,
            } => {
                if kind == ErrorKind::Internal {
                    return ApiError::internal(&message);
                }
                // A setup that the provider or the input refused is the caller's to fix.
                let mut error = ApiError::unprocessable(
                    "setup_failed",
                    format!("setup failed at step `{step}`: {message}"),
                )
                .with_kind(kind);
                error.step = Some(step.as_str());
                error
            }
            RuntimeError::NeedsReauth(message) => ApiError::new(
                StatusCode::CONFLICT,
                "needs_reauth",
                format!("the integration needs to be connected again: {message}"),
            )
            .with_kind(ErrorKind::Auth),
            RuntimeError::Execute(err) => err.into(),
            RuntimeError::Store(err) => err.into(),
            RuntimeError::Ingest(message) => ApiError::internal(&message),
        }
    }
}
