//! Credential slots: the named secret shapes a definition declares, and the decrypted values the
//! runtime hands to clients and handlers.

use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{OperationError, StableName, schema::schema_for};

/// A typed handle on a credential slot; its slot name is the type's stable name.
pub struct CredentialRef<T>(PhantomData<fn() -> T>);

impl<T: StableName> CredentialRef<T> {
    pub const fn new() -> Self {
        Self(PhantomData)
    }

    pub const fn slot(&self) -> &'static str {
        T::NAME
    }
}

impl<T: StableName> Default for CredentialRef<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for CredentialRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for CredentialRef<T> {}

/// A declared credential slot.
#[derive(Debug, Clone)]
pub struct CredentialRegistration {
    /// The persisted slot name (the credential type's stable name).
    pub slot: &'static str,
    pub name: String,
    pub description: String,
    /// The form schema. `None` marks an auth-managed slot: an OAuth or app-install flow produces
    /// the credential, so there is nothing for a user to type.
    pub schema: Option<Value>,
}

impl CredentialRegistration {
    /// A slot the user fills in a form, with the schema of `T`.
    pub fn form<T: StableName + JsonSchema>(
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            schema: Some(schema_for::<T>()),
            ..Self::auth_managed::<T>(name, description)
        }
    }

    /// A slot filled by an auth flow, with no form.
    pub fn auth_managed<T: StableName>(
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            slot: T::NAME,
            name: name.into(),
            description: description.into(),
            schema: None,
        }
    }
}

/// Decrypted credentials of an integration, by slot. `Debug` lists the slot names only.
#[derive(Clone, Default)]
pub struct CredentialBindings {
    bindings: Vec<(String, Value)>,
}

impl CredentialBindings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns a copy with `slot` bound to `value`, replacing an earlier binding of the slot.
    pub fn with(mut self, slot: impl Into<String>, value: Value) -> Self {
        self.insert(slot, value);
        self
    }

    pub fn insert(&mut self, slot: impl Into<String>, value: Value) {
        let slot = slot.into();
        match self.bindings.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, existing)) => *existing = value,
            None => self.bindings.push((slot, value)),
        }
    }

    pub fn raw(&self, slot: &str) -> Option<&Value> {
        self.bindings
            .iter()
            .find(|(s, _)| s == slot)
            .map(|(_, value)| value)
    }

    pub fn contains(&self, slot: &str) -> bool {
        self.raw(slot).is_some()
    }

    pub fn slots(&self) -> impl Iterator<Item = &str> {
        self.bindings.iter().map(|(slot, _)| slot.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Decodes the credential of `T`'s slot, if bound. A value that does not decode is a config
    /// error naming the slot, never echoing the value.
    pub fn get<T: StableName + DeserializeOwned>(&self) -> Result<Option<T>, OperationError> {
        let Some(value) = self.raw(T::NAME) else {
            return Ok(None);
        };
        T::deserialize(value).map(Some).map_err(|err| {
            OperationError::config(format!(
                "credential `{}` does not have the expected shape ({})",
                T::NAME,
                redact_serde_error(&err.to_string())
            ))
        })
    }

    /// Like [`get`](Self::get), but a missing slot is a config error.
    pub fn require<T: StableName + DeserializeOwned>(&self) -> Result<T, OperationError> {
        self.get::<T>()?.ok_or_else(|| {
            OperationError::config(format!("credential `{}` is not configured", T::NAME))
        })
    }
}

impl std::fmt::Debug for CredentialBindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.slots()).finish()
    }
}

/// serde's messages quote the unexpected value (`invalid type: string "abc"`); keep only the part
/// before the quote so a credential value is never echoed.
fn redact_serde_error(message: &str) -> String {
    match message.find(['"', '`', '\'']) {
        Some(at) => format!("{}…", message[..at].trim_end()),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, tributary_derive::StableName, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct ApiToken {
        token: Secret,
    }

    #[test]
    fn typed_access_decodes_the_slot() {
        let creds = CredentialBindings::new().with("ApiToken", json!({"token": "s3cret"}));
        let token = creds.require::<ApiToken>().unwrap();
        assert_eq!(token.token.expose(), "s3cret");
        assert_eq!(CredentialRef::<ApiToken>::new().slot(), "ApiToken");
    }

    #[test]
    fn debug_lists_slots_only() {
        let creds = CredentialBindings::new().with("ApiToken", json!({"token": "s3cret"}));
        assert_eq!(format!("{creds:?}"), "{\"ApiToken\"}");
    }

    #[test]
    fn decode_errors_do_not_echo_the_value() {
        let creds = CredentialBindings::new().with("ApiToken", json!({"token": 4711}));
        let err = creds.require::<ApiToken>().unwrap_err();
        assert!(err.message.contains("ApiToken"), "{err}");
        assert!(!err.message.contains("4711"), "{err}");
        let creds = CredentialBindings::new().with("ApiToken", json!("plain-secret-string"));
        let err = creds.require::<ApiToken>().unwrap_err();
        assert!(!err.message.contains("plain-secret-string"), "{err}");
    }

    #[test]
    fn missing_slot_is_a_config_error() {
        let err = CredentialBindings::new().require::<ApiToken>().unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Config);
    }

    #[test]
    fn with_replaces_an_existing_binding() {
        let creds = CredentialBindings::new()
            .with("A", json!(1))
            .with("B", json!(2))
            .with("A", json!(3));
        assert_eq!(creds.slots().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(creds.raw("A"), Some(&json!(3)));
    }
}
