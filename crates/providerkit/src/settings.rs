//! Settings an operator must configure before a connection can work (an OAuth client id, its
//! secret, an app's private key), read with the error that names the missing one.

use tributary_core::{OperationError, Secret};

/// The trimmed text of a required setting; `missing` is the error when it is unset or blank.
pub fn required_text(
    value: Option<&str>,
    missing: impl Into<String>,
) -> Result<&str, OperationError> {
    value
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .ok_or_else(|| OperationError::config(missing))
}

/// A required secret; `missing` is the error when it is unset or empty.
pub fn required_secret(
    value: Option<&Secret>,
    missing: impl Into<String>,
) -> Result<Secret, OperationError> {
    value
        .filter(|secret| !secret.is_empty())
        .cloned()
        .ok_or_else(|| OperationError::config(missing))
}
