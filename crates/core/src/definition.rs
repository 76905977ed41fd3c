//! A definition: one provider package, compiled into the binary and shared by every integration of
//! it.

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    ClientRegistration, ConnectionRegistration, CredentialRegistration, DefinitionId,
    MappingRegistration, OperationRegistration, WebhookRegistration, names, schema::schema_for,
};

/// Catalog facts about a definition.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionSpec {
    pub id: DefinitionIdString,
    /// Groups related definitions (`"microsoft"` for Entra ID and Teams).
    pub family: String,
    pub display_name: String,
    pub description: String,
    pub category: String,
    pub docs_url: String,
    pub logo_url: String,
    pub tags: Vec<String>,
    /// Inactive definitions refuse new connections and operations.
    pub active: bool,
    /// Invisible definitions are left out of the catalog shown to tenants.
    pub visible: bool,
}

/// A definition id as it serialises.
pub type DefinitionIdString = &'static str;

impl DefinitionSpec {
    pub fn new(id: DefinitionId, display_name: impl Into<String>) -> Self {
        Self {
            id: id.as_str(),
            family: id.as_str().to_owned(),
            display_name: display_name.into(),
            description: String::new(),
            category: String::new(),
            docs_url: String::new(),
            logo_url: String::new(),
            tags: Vec::new(),
            active: true,
            visible: true,
        }
    }
}

/// Checks that an operator config section decodes into the definition's config type; the error
/// is serde's message, which names the offending key.
pub type OperatorConfigDecoder = fn(&Value) -> Result<(), String>;

fn decodes_as<T: DeserializeOwned>(section: &Value) -> Result<(), String> {
    let empty = Value::Object(serde_json::Map::new());
    let section = if section.is_null() { &empty } else { section };
    T::deserialize(section)
        .map(|_| ())
        .map_err(|error| error.to_string())
}

/// A provider package.
#[derive(Debug, Clone)]
pub struct Definition {
    pub spec: DefinitionSpec,
    /// Schema of the process-wide operator config (client ids, secrets, redirect URLs). The
    /// values are captured by the definition's builder function.
    pub operator_config: Option<Value>,
    /// Decodes an operator config section into the definition's config type, so a section that
    /// passes the schema but not serde (or the reverse) is caught at start-up, not defaulted.
    pub operator_config_decoder: Option<OperatorConfigDecoder>,
    /// Schema of the per-integration, non-secret user input.
    pub user_input: Option<Value>,
    pub credentials: Vec<CredentialRegistration>,
    pub clients: Vec<ClientRegistration>,
    pub connections: Vec<ConnectionRegistration>,
    pub operations: Vec<OperationRegistration>,
    pub mappings: Vec<MappingRegistration>,
    pub webhooks: Vec<WebhookRegistration>,
    /// The provider's request budget, if it publishes one; the HTTP layer paces by it.
    pub rate_limit: Option<crate::RateLimit>,
}

impl Definition {
    pub fn new(spec: DefinitionSpec) -> Self {
        Self {
            spec,
            operator_config: None,
            operator_config_decoder: None,
            user_input: None,
            credentials: Vec::new(),
            clients: Vec::new(),
            connections: Vec::new(),
            operations: Vec::new(),
            mappings: Vec::new(),
            webhooks: Vec::new(),
            rate_limit: None,
        }
    }

    /// Declares the provider's request budget.
    pub fn rate_limit(mut self, budget: crate::RateLimit) -> Self {
        self.rate_limit = Some(budget);
        self
    }

    pub fn id(&self) -> &'static str {
        self.spec.id
    }

    pub fn operator_config<T: JsonSchema + DeserializeOwned>(mut self) -> Self {
        self.operator_config = Some(schema_for::<T>());
        self.operator_config_decoder = Some(decodes_as::<T>);
        self
    }

    pub fn user_input<T: JsonSchema>(mut self) -> Self {
        self.user_input = Some(schema_for::<T>());
        self
    }

    registration_adders!(
        credential(CredentialRegistration) => credentials,
        client(ClientRegistration) => clients,
        connection(ConnectionRegistration) => connections,
        operation(OperationRegistration) => operations,
        mapping(MappingRegistration) => mappings,
        webhook(WebhookRegistration) => webhooks,
    );

    pub fn credential_registration(&self, slot: &str) -> Option<&CredentialRegistration> {
        self.credentials.iter().find(|c| c.slot == slot)
    }

    /// The connection mode selected by `slot`.
    pub fn connection_for(&self, slot: &str) -> Option<&ConnectionRegistration> {
        self.connections.iter().find(|c| c.credential_ref == slot)
    }

    /// The connection a slot takes part in, selecting or not; ambiguous slots (shared by several
    /// modes) resolve to the mode they select, if any.
    pub fn connection_using(&self, slot: &str) -> Option<&ConnectionRegistration> {
        self.connection_for(slot).or_else(|| {
            self.connections
                .iter()
                .find(|c| c.credential_refs.contains(&slot))
        })
    }

    pub fn client_registration(&self, id: &str) -> Option<&ClientRegistration> {
        self.clients.iter().find(|c| c.id == id)
    }

    pub fn operation_named(&self, name: &str) -> Option<&OperationRegistration> {
        self.operations.iter().find(|o| o.name == name)
    }

    pub fn webhook_named(&self, name: &str) -> Option<&WebhookRegistration> {
        self.webhooks.iter().find(|w| w.name == name)
    }

    /// The mapping for (schema, variant), matched exactly.
    pub fn mapping_for(&self, schema: &str, variant: &str) -> Option<&MappingRegistration> {
        self.mappings
            .iter()
            .find(|m| m.schema == schema && m.variant == variant)
    }

    pub fn operation_topic(&self, operation: &str) -> String {
        names::operation_topic(self.id(), operation)
    }

    pub fn webhook_event_topic(&self, event: &str) -> String {
        names::webhook_event_topic(self.id(), event)
    }

    /// Every persisted name this definition introduces, in declaration order.
    pub fn persisted_names(&self) -> PersistedNames {
        PersistedNames {
            definition: self.id(),
            credential_slots: self.credentials.iter().map(|c| c.slot).collect(),
            operations: self
                .operations
                .iter()
                .map(|o| (o.name, self.operation_topic(o.name)))
                .collect(),
            webhooks: self
                .webhooks
                .iter()
                .map(|w| {
                    (
                        w.name,
                        w.events
                            .iter()
                            .map(|e| (e.name, self.webhook_event_topic(e.name)))
                            .collect(),
                    )
                })
                .collect(),
        }
    }
}

/// The persisted names of one definition, for the golden file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedNames {
    pub definition: &'static str,
    pub credential_slots: Vec<&'static str>,
    pub operations: Vec<(&'static str, String)>,
    pub webhooks: Vec<(&'static str, Vec<(&'static str, String)>)>,
}

impl std::fmt::Display for PersistedNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "definition {}", self.definition)?;
        for slot in &self.credential_slots {
            writeln!(f, "  slot {slot}")?;
        }
        for (operation, topic) in &self.operations {
            writeln!(f, "  operation {operation} topic {topic}")?;
        }
        for (webhook, events) in &self.webhooks {
            writeln!(f, "  webhook {webhook}")?;
            for (event, topic) in events {
                writeln!(f, "    event {event} topic {topic}")?;
            }
        }
        Ok(())
    }
}
