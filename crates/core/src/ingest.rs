//! What operations and webhook handlers hand to the shared ingest path: provider-shaped payloads
//! grouped by the internal model (schema) they should become, and the mappings that turn them into
//! that model.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Names an internal model an operation or webhook event may emit (`"DirectoryAccount"`), and
/// optionally the variants of it the emitter writes.
///
/// The contracts of an operation are also what a complete run of it reconciles: records of the
/// contract's model (restricted to `variants` when they are listed) that the run did not see are
/// tombstoned when it completes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IngestContract {
    pub schema: String,
    /// The variants of `schema` the emitter writes; `None` covers every variant. Another emitter
    /// of the same definition may own the other variants: a complete run leaves them alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<String>>,
}

impl IngestContract {
    /// Every variant of `schema`.
    pub fn new(schema: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            variants: None,
        }
    }

    /// Only the listed variants of `schema` (`""` is the default variant).
    pub fn with_variants<V: Into<String>>(
        schema: impl Into<String>,
        variants: impl IntoIterator<Item = V>,
    ) -> Self {
        Self {
            schema: schema.into(),
            variants: Some(variants.into_iter().map(Into::into).collect()),
        }
    }

    /// Whether the contract covers `variant` of its schema.
    pub fn covers_variant(&self, variant: &str) -> bool {
        self.variants
            .as_ref()
            .is_none_or(|variants| variants.iter().any(|v| v == variant))
    }
}

/// One provider payload plus the routing facts the mapping sees as CEL variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingEnvelope {
    /// Selects the mapping within a schema (`"dependabot"`); empty selects the default mapping.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// The provider resource the payload came from (`"users"`, an org login, a subscription id).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// What happened to it, for webhook-driven payloads (`"created"`, `"deleted"`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    pub payload: Value,
}

impl MappingEnvelope {
    pub fn new(payload: Value) -> Self {
        Self {
            variant: String::new(),
            resource: String::new(),
            action: String::new(),
            payload,
        }
    }

    text_setters!(variant, resource, action);
}

/// Payloads destined for one internal model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestPayloadSet {
    pub schema: String,
    pub envelopes: Vec<MappingEnvelope>,
}

impl IngestPayloadSet {
    pub fn new(schema: impl Into<String>, envelopes: Vec<MappingEnvelope>) -> Self {
        Self {
            schema: schema.into(),
            envelopes,
        }
    }
}

/// A CEL filter and map expression from a provider payload (schema, variant) to an internal model.
///
/// An empty filter lets every payload through; an empty map uses the payload as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRegistration {
    pub schema: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filter: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub map: String,
}

impl MappingRegistration {
    pub fn new(schema: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            variant: String::new(),
            filter: String::new(),
            map: String::new(),
        }
    }

    text_setters!(variant, filter, map);

    /// `schema` or `schema/variant`, as errors and logs name a mapping.
    pub fn label(&self) -> String {
        if self.variant.is_empty() {
            self.schema.clone()
        } else {
            format!("{}/{}", self.schema, self.variant)
        }
    }
}
