//! Operator config of the built-in definitions: process-wide values (OAuth client ids and secrets,
//! app ids, redirect URLs) that each definition's builder captures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

/// Operator config per definition id, as read from the config file's `[definitions.<id>]` tables
/// and `TRIBUTARY_DEFINITIONS__<ID>__<KEY>` variables. Each definition decodes its own section
/// against its operator-config schema.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CatalogConfig {
    #[serde(default)]
    pub definitions: BTreeMap<String, Value>,
    /// The public base URL of this deployment, for OAuth redirect URIs and webhook URLs.
    #[serde(default)]
    pub public_url: Option<String>,
}

impl CatalogConfig {
    /// The operator config section of one definition (`null` when absent).
    pub fn section(&self, definition: &str) -> &Value {
        self.definitions.get(definition).unwrap_or(&Value::Null)
    }

    /// A definition's settings decoded into its config type. Start-up runs
    /// [`check_definitions`] first and stops on any problem, so the default here stands only for
    /// an absent section (and for tests that build a catalog without the check).
    pub fn operator_settings<T: DeserializeOwned + Default>(&self, definition: DefinitionId) -> T {
        T::deserialize(self.section(definition.as_str())).unwrap_or_default()
    }
}

mod check;
mod env;
mod redact;

pub use check::{ConfigProblem, check_definitions};
pub use env::{DEFINITIONS_ENV_PREFIX, apply_definition_overrides};
pub use redact::redact_definitions;

use tributary_core::{Definition, DefinitionId};

/// The built-in definitions that take operator settings, built with no settings: their schemas
/// and decoders do not depend on the values, so this is the reference every check reads.
fn reference_catalog() -> Vec<Definition> {
    crate::catalog(&CatalogConfig::default())
}

/// The property names of an operator config schema (`[]` when it has none).
fn schema_keys(schema: &Value) -> Vec<&str> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| properties.keys().map(String::as_str).collect())
        .unwrap_or_default()
}
