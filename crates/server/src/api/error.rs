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
use tributary_scim::admin::AdminError;
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

    /// `Ok` if `found`, else [`ApiError::not_found`] of `what` (a delete or revoke that found
    /// nothing to act on).
    pub(crate) fn unless_found(found: bool, what: &str) -> Result<(), Self> {
        if found {
            Ok(())
        } else {
            Err(Self::not_found(what))
        }
    }

    /// Refuses (400 `invalid_body`) a name that is empty or longer than `max` characters.
    pub(crate) fn check_name(name: &str, max: usize) -> Result<(), Self> {
        if name.is_empty() || name.chars().count() > max {
            return Err(Self::bad_request(
                "invalid_body",
                format!("name must be 1 to {max} characters"),
            ));
        }
        Ok(())
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

    pub(crate) fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(request_id = %request_id::current(), error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; the request id identifies it in the server log",
        )
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

/// What an error is, without its message: the status, code, kind and step its answer carries.
/// The audit trail records this (never the message, which may quote a provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    pub status: StatusCode,
    pub code: &'static str,
    pub kind: Option<ErrorKind>,
    pub step: Option<&'static str>,
}

impl ErrorClass {
    const fn new(status: StatusCode, code: &'static str) -> Self {
        Self {
            status,
            code,
            kind: None,
            step: None,
        }
    }

    const INTERNAL: Self = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal");

    fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = Some(kind);
        self
    }

    fn is_internal(&self) -> bool {
        self.code == Self::INTERNAL.code
    }

    /// `code`, then the kind and step where there are: `setup_failed (auth at validate_credential)`.
    pub fn reason(&self) -> String {
        match (self.kind, self.step) {
            (Some(kind), Some(step)) => format!("{} ({} at {step})", self.code, kind.as_str()),
            (Some(kind), None) => format!("{} ({})", self.code, kind.as_str()),
            (None, Some(step)) => format!("{} (at {step})", self.code),
            (None, None) => self.code.to_owned(),
        }
    }

    /// The class of a store failure.
    pub fn of_store(err: &StoreError) -> Self {
        match err {
            StoreError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "not_found"),
            StoreError::AlreadyExists(_) => Self::new(StatusCode::CONFLICT, "already_exists"),
            StoreError::Conflict { .. } => Self::new(StatusCode::CONFLICT, "conflict"),
            StoreError::Expired(_) => Self::new(StatusCode::GONE, "expired"),
            StoreError::LimitReached { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "limit_reached")
            }
            _ => Self::INTERNAL,
        }
    }

    /// The class of a SCIM endpoint administration failure.
    pub fn of_scim_admin(err: &AdminError) -> Self {
        match err {
            AdminError::NotScim(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "not_scim"),
            AdminError::Store(store) => Self::of_store(store),
        }
    }

    /// The class of an operation's failure.
    pub fn of_execute(err: &ExecuteError) -> Self {
        let kind = err.kind();
        let class = match kind {
            ErrorKind::Config => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config"),
            ErrorKind::Auth => Self::new(StatusCode::CONFLICT, "needs_reauth"),
            ErrorKind::RateLimit => Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ErrorKind::Provider => Self::new(StatusCode::BAD_GATEWAY, "provider_error"),
            _ => return Self::INTERNAL,
        };
        class.with_kind(kind)
    }

    /// The class of a runtime failure.
    pub fn of_runtime(err: &RuntimeError) -> Self {
        match err {
            RuntimeError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "not_found"),
            RuntimeError::Invalid(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_request"),
            RuntimeError::Setup { kind, .. } if *kind == ErrorKind::Internal => Self::INTERNAL,
            // A setup that the provider or the input refused is the caller's to fix.
            RuntimeError::Setup { step, kind, .. } => Self {
                step: Some(step.as_str()),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "setup_failed").with_kind(*kind)
            },
            RuntimeError::NeedsReauth(_) => {
                Self::new(StatusCode::CONFLICT, "needs_reauth").with_kind(ErrorKind::Auth)
            }
            RuntimeError::Execute(err) => Self::of_execute(err),
            RuntimeError::Store(err) => Self::of_store(err),
            RuntimeError::Ingest(_) => Self::INTERNAL,
        }
    }
}

impl ApiError {
    /// This error's class (what the audit trail records of it).
    pub fn class(&self) -> ErrorClass {
        ErrorClass {
            status: self.status,
            code: self.code,
            kind: self.kind,
            step: self.step,
        }
    }

    /// The answer of an error of `class` saying `message` (internal errors log their cause and
    /// say nothing of it).
    fn classified(class: ErrorClass, cause: &dyn std::fmt::Display, message: String) -> Self {
        if class.is_internal() {
            return ApiError::internal(cause);
        }
        ApiError {
            status: class.status,
            code: class.code,
            message,
            kind: class.kind,
            step: class.step,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let message = match &err {
            StoreError::NotFound(what) => format!("{what} not found"),
            StoreError::AlreadyExists(what) => format!("{what} already exists"),
            StoreError::Conflict { what, .. } => {
                format!("{what} was changed concurrently; retry")
            }
            StoreError::Expired(what) => format!("{what} has expired"),
            StoreError::LimitReached { what, limit } => format!(
                "too many {what} (at most {limit}); finish some, or wait for \
                 unfinished ones to expire"
            ),
            _ => String::new(),
        };
        ApiError::classified(ErrorClass::of_store(&err), &err, message)
    }
}

impl From<ExecuteError> for ApiError {
    fn from(err: ExecuteError) -> Self {
        let message = match &err {
            ExecuteError::Operation(op) => op.message.clone(),
            other => other.to_string(),
        };
        ApiError::classified(ErrorClass::of_execute(&err), &err, message)
    }
}

impl From<RuntimeError> for ApiError {
    fn from(err: RuntimeError) -> Self {
        let class = ErrorClass::of_runtime(&err);
        let message = match err {
            RuntimeError::NotFound(what) => format!("{what} not found"),
            RuntimeError::Invalid(message) => message,
            RuntimeError::Setup { step, message, .. } if !class.is_internal() => {
                format!("setup failed at step `{step}`: {message}")
            }
            RuntimeError::Setup { message, .. } => return ApiError::internal(&message),
            RuntimeError::NeedsReauth(message) => {
                format!("the integration needs to be connected again: {message}")
            }
            RuntimeError::Execute(err) => return err.into(),
            RuntimeError::Store(err) => return err.into(),
            RuntimeError::Ingest(message) => return ApiError::internal(&message),
        };
        ApiError::classified(class, &"", message)
    }
}
