//! The definitions catalog: every visible definition with all its JSON schemas.
//!
//! The entry's shape is declared here (and so in the OpenAPI document); the core's catalog entry
//! is read into it, and a test checks that every built-in definition's entry reads without loss.

use std::collections::BTreeMap;

use super::prelude::*;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefinitionView {
    pub spec: DefinitionSpecView,
    /// JSON Schema of the operator's settings for this definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_config_schema: Option<Value>,
    /// JSON Schema of what a tenant enters when connecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_input_schema: Option<Value>,
    pub credentials: Vec<CredentialSlotView>,
    pub connections: Vec<ConnectionView>,
    pub operations: Vec<OperationView>,
    pub mappings: Vec<MappingView>,
    pub webhooks: Vec<WebhookView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitView>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefinitionSpecView {
    pub id: String,
    pub family: String,
    pub display_name: String,
    pub description: String,
    pub category: String,
    pub docs_url: String,
    pub logo_url: String,
    pub tags: Vec<String>,
    pub active: bool,
    pub visible: bool,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialSlotView {
    pub slot: String,
    pub name: String,
    pub description: String,
    /// JSON Schema of the credential form; null for slots filled by an auth flow.
    pub schema: Option<Value>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionView {
    /// The slot that names this connection mode.
    pub credential_ref: String,
    pub name: String,
    pub description: String,
    pub credential_refs: Vec<String>,
    /// `form` (credentials typed by the user) or `redirect` (OAuth or app install).
    pub auth: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_operation: Option<String>,
    pub resolves_metadata: bool,
    pub disconnect: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperationView {
    pub name: String,
    pub description: String,
    pub topic: String,
    /// JSON Schema of the run config.
    pub config_schema: Value,
    pub policy: PolicyView,
    /// `raw` (a result) or `ingest` (records).
    pub output: Option<String>,
    pub ingest: Vec<IngestView>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyView {
    /// May run synchronously in the API call.
    pub inline: bool,
    /// Scheduled after connecting and re-run adaptively.
    pub reconcile: bool,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngestView {
    /// The model name (`DirectoryAccount`).
    pub schema: String,
    /// The variants of the model the operation writes (and reconciles); absent: every variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingView {
    /// The model name.
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// CEL filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// CEL map expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookView {
    pub name: String,
    /// `integration` (an endpoint per integration) or `definition` (one app-level URL).
    pub route: String,
    pub events: Vec<WebhookEventView>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookEventView {
    pub name: String,
    pub description: String,
    pub topic: String,
    pub ingest: Vec<IngestView>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitView {
    pub requests: u64,
    pub interval_ms: u64,
    pub burst: u64,
    /// `integration` or `credential`.
    pub scope: String,
}

#[derive(Debug, Deserialize)]
struct DefinitionPath {
    definition_id: String,
}

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/v1/definitions",
            "listDefinitions",
            "List the visible definitions with all their JSON schemas",
            list,
        )
        .tag("definitions")
        .access(Access::AnyToken)
        .answers::<Vec<DefinitionView>>(200, "The catalog"),
        Endpoint::new(
            Method::GET,
            "/v1/definitions/{definition_id}",
            "getDefinition",
            "Read one definition's catalog entry",
            get,
        )
        .tag("definitions")
        .access(Access::AnyToken)
        .answers::<DefinitionView>(200, "The catalog entry"),
    ]
}

/// The catalog entries of the runtime's registry, in id order.
pub(crate) fn catalog(state: &ApiState) -> BTreeMap<String, DefinitionView> {
    state
        .runtime
        .registry()
        .definitions()
        .filter(|definition| definition.definition.spec.visible)
        .filter_map(|definition| {
            let entry = serde_json::to_value(definition.catalog_entry()).ok()?;
            match serde_json::from_value::<DefinitionView>(entry) {
                Ok(view) => Some((view.spec.id.clone(), view)),
                Err(err) => {
                    tracing::error!(definition = %definition.id(), error = %err, "catalog entry does not match the API's shape");
                    None
                }
            }
        })
        .collect()
}

async fn list(State(state): State<ApiState>, _caller: Caller) -> ApiResult<Vec<DefinitionView>> {
    Ok(Json(catalog(&state).into_values().collect()))
}

async fn get(
    State(state): State<ApiState>,
    _caller: Caller,
    PathParams(path): PathParams<DefinitionPath>,
) -> ApiResult<DefinitionView> {
    catalog(&state)
        .remove(&path.definition_id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("definition"))
}
