//! Credentials as the runtime stored them, read back by the provider that wrote them.

use serde::de::DeserializeOwned;
use serde_json::Value;
use tributary_core::OperationError;

/// Decodes a stored credential; `what` names it in the error a user sees ("Google sign-in").
/// A credential of another shape (written by an older version, or edited) is fixed by connecting
/// again, so that is what the error says.
pub fn decode_stored<T: DeserializeOwned>(stored: &Value, what: &str) -> Result<T, OperationError> {
    T::deserialize(stored).map_err(|_| {
        OperationError::config(format!(
            "the stored {what} has the wrong shape; connect the integration again"
        ))
    })
}
