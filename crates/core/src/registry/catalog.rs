//! The serialisable catalog entry of a definition: everything a UI or API client needs to render
//! its forms and list its capabilities, and nothing executable.

use serde::Serialize;
use serde_json::Value;

use crate::{
    Definition, DefinitionSpec, ExecutionPolicy, IngestContract, OutputKind, WebhookRoute,
};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    pub spec: DefinitionSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_config_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_input_schema: Option<Value>,
    pub credentials: Vec<CatalogCredential>,
    pub connections: Vec<CatalogConnection>,
    pub operations: Vec<CatalogOperation>,
    pub mappings: Vec<crate::MappingRegistration>,
    pub webhooks: Vec<CatalogWebhook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::RateLimit>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogCredential {
    pub slot: &'static str,
    pub name: String,
    pub description: String,
    /// `None` for auth-managed slots.
    pub schema: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogConnection {
    pub credential_ref: &'static str,
    pub name: String,
    pub description: String,
    pub credential_refs: Vec<&'static str>,
    /// `"form"` (credentials typed by the user) or `"redirect"` (OAuth or app install).
    pub auth: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_operation: Option<&'static str>,
    pub resolves_metadata: bool,
    pub disconnect: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogOperation {
    pub name: &'static str,
    pub description: String,
    pub topic: String,
    pub config_schema: Value,
    pub policy: ExecutionPolicy,
    pub output: Option<OutputKind>,
    pub ingest: Vec<IngestContract>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogWebhook {
    pub name: &'static str,
    /// `"integration"` (an endpoint per integration) or `"definition"` (one app-level URL).
    pub route: &'static str,
    pub events: Vec<CatalogWebhookEvent>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogWebhookEvent {
    pub name: &'static str,
    pub description: String,
    pub topic: String,
    pub ingest: Vec<IngestContract>,
}

impl CatalogEntry {
    pub fn of(def: &Definition) -> Self {
        Self {
            spec: def.spec.clone(),
            operator_config_schema: def.operator_config.clone(),
            user_input_schema: def.user_input.clone(),
            credentials: def
                .credentials
                .iter()
                .map(|c| CatalogCredential {
                    slot: c.slot,
                    name: c.name.clone(),
                    description: c.description.clone(),
                    schema: c.schema.clone(),
                })
                .collect(),
            connections: def
                .connections
                .iter()
                .map(|c| CatalogConnection {
                    credential_ref: c.credential_ref,
                    name: c.name.clone(),
                    description: c.description.clone(),
                    credential_refs: c.credential_refs.clone(),
                    auth: if c.auth.is_some() { "redirect" } else { "form" },
                    validation_operation: c.validation_operation,
                    resolves_metadata: c.metadata.is_some(),
                    disconnect: c.disconnect.as_ref().map(|d| d.description.clone()),
                })
                .collect(),
            operations: def
                .operations
                .iter()
                .map(|o| CatalogOperation {
                    name: o.name,
                    description: o.description.clone(),
                    topic: def.operation_topic(o.name),
                    config_schema: o.config_schema.clone(),
                    policy: o.policy,
                    output: o.handler.as_ref().map(|h| h.kind),
                    ingest: o.ingest.clone(),
                })
                .collect(),
            mappings: def.mappings.clone(),
            webhooks: def
                .webhooks
                .iter()
                .map(|w| CatalogWebhook {
                    name: w.name,
                    route: match w.route {
                        WebhookRoute::PerIntegration => "integration",
                        WebhookRoute::Definition { .. } => "definition",
                    },
                    events: w
                        .events
                        .iter()
                        .map(|e| CatalogWebhookEvent {
                            name: e.name,
                            description: e.description.clone(),
                            topic: def.webhook_event_topic(e.name),
                            ingest: e.ingest.clone(),
                        })
                        .collect(),
                })
                .collect(),
            rate_limit: def.rate_limit,
        }
    }
}
