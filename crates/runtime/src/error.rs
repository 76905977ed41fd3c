//! Errors of the runtime's entry points. Each says what failed in words a user can act on, carries
//! the kind recorded on runs (auth, config, provider, rate limit, internal) and never a secret:
//! provider code and the store already keep secrets out of their messages, and the runtime only
//! adds ids and step names.

use std::fmt;

use tributary_core::{ErrorKind, OperationError};
use tributary_store::StoreError;

use crate::runs::execute::ExecuteError;

/// The steps of the setup flow, named in errors so a user knows what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupStep {
    ResolveIntegration,
    ValidateUserInput,
    ResolveConnection,
    Authorize,
    ValidateCredential,
    ValidationOperation,
    ResolveMetadata,
    Save,
}

impl SetupStep {
    pub fn as_str(self) -> &'static str {
        match self {
            SetupStep::ResolveIntegration => "resolve_integration",
            SetupStep::ValidateUserInput => "validate_user_input",
            SetupStep::ResolveConnection => "resolve_connection",
            SetupStep::Authorize => "authorize",
            SetupStep::ValidateCredential => "validate_credential",
            SetupStep::ValidationOperation => "validation_operation",
            SetupStep::ResolveMetadata => "resolve_metadata",
            SetupStep::Save => "save",
        }
    }
}

impl fmt::Display for SetupStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The tenant has no such thing (or it belongs to another tenant: same answer).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request cannot be carried out as asked (unknown definition, an operation that is not
    /// inline, an integration that is not connected).
    #[error("{0}")]
    Invalid(String),
    /// A step of the setup flow failed; nothing of steps 5-10 was saved.
    #[error("setup failed at step `{step}`: {message}")]
    Setup {
        step: SetupStep,
        kind: ErrorKind,
        message: String,
    },
    /// The provider no longer accepts the integration's grant; it must be connected again.
    #[error("integration needs to be connected again: {0}")]
    NeedsReauth(String),
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("ingest: {0}")]
    Ingest(String),
}

impl RuntimeError {
    pub(crate) fn setup(step: SetupStep, error: impl Into<SetupCause>) -> Self {
        let cause = error.into();
        RuntimeError::Setup {
            step,
            kind: cause.kind,
            message: cause.message,
        }
    }

    /// The kind recorded on runs and used by the API to pick a status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RuntimeError::NotFound(_) | RuntimeError::Invalid(_) => ErrorKind::Config,
            RuntimeError::Setup { kind, .. } => *kind,
            RuntimeError::NeedsReauth(_) => ErrorKind::Auth,
            RuntimeError::Execute(err) => err.kind(),
            RuntimeError::Store(_) | RuntimeError::Ingest(_) => ErrorKind::Internal,
        }
    }

    /// The setup step that failed, if this is a setup error.
    pub fn step(&self) -> Option<SetupStep> {
        match self {
            RuntimeError::Setup { step, .. } => Some(*step),
            _ => None,
        }
    }
}

/// What a setup step reports as its cause.
pub(crate) struct SetupCause {
    kind: ErrorKind,
    message: String,
}

impl From<OperationError> for SetupCause {
    fn from(err: OperationError) -> Self {
        SetupCause {
            kind: err.kind,
            message: err.message,
        }
    }
}

impl From<ExecuteError> for SetupCause {
    fn from(err: ExecuteError) -> Self {
        SetupCause {
            kind: err.kind(),
            message: match err {
                ExecuteError::Operation(op) => op.message,
                other => other.to_string(),
            },
        }
    }
}

impl From<String> for SetupCause {
    fn from(message: String) -> Self {
        SetupCause {
            kind: ErrorKind::Config,
            message,
        }
    }
}

impl From<&str> for SetupCause {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

impl From<StoreError> for SetupCause {
    fn from(err: StoreError) -> Self {
        SetupCause {
            kind: ErrorKind::Internal,
            message: format!("storage: {err}"),
        }
    }
}
