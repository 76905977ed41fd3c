//! Operator config of the built-in definitions: process-wide values (OAuth client ids and secrets,
//! app ids, redirect URLs) that each definition's builder captures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
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
}
