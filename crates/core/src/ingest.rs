//! What operations and webhook handlers hand to the shared ingest path: provider-shaped payloads
//! grouped by the internal model (schema) they should become, and the mappings that turn them into
//! that model.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Names an internal model an operation or webhook event may emit (`"DirectoryAccount"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IngestContract {
    pub schema: String,
}

impl IngestContract {
    pub fn new(schema: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
        }
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

    pub fn variant(mut self, variant: impl Into<String>) -> Self {
        self.variant = variant.into();
        self
    }

    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = resource.into();
        self
    }

    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = action.into();
        self
    }
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

    pub fn variant(mut self, variant: impl Into<String>) -> Self {
        self.variant = variant.into();
        self
    }

    pub fn filter(mut self, expr: impl Into<String>) -> Self {
        self.filter = expr.into();
        self
    }

    pub fn map(mut self, expr: impl Into<String>) -> Self {
        self.map = expr.into();
        self
    }

    /// `schema` or `schema/variant`, as errors and logs name a mapping.
    pub fn label(&self) -> String {
        if self.variant.is_empty() {
            self.schema.clone()
        } else {
            format!("{}/{}", self.schema, self.variant)
        }
    }
}
