//! The registry: validates every definition at startup and indexes them for the runtime.
//!
//! A definition that breaks a rule never reaches the runtime: [`Registry::build`] returns every
//! broken rule, naming the definition and the item, and the process refuses to start.

mod catalog;
mod error;
mod validate;

use std::{collections::BTreeMap, collections::HashMap, sync::Arc};

pub use catalog::{CatalogConnection, CatalogCredential, CatalogEntry, CatalogOperation};
pub use error::{RegistryError, RegistryErrors, Rule};

use crate::{
    ConnectionRegistration, Definition, OperationRegistration, WebhookEventRegistration,
    WebhookRegistration, schema::CompiledSchema,
};

/// Checks the registry delegates to crates that know more than core: which internal models exist
/// (the model crate) and whether a CEL expression is valid (the CEL crate).
pub trait DefinitionChecks: Send + Sync {
    /// Names of the internal models ingest contracts and mappings may target; `None` skips the
    /// check.
    fn known_models(&self) -> Option<Vec<&'static str>> {
        None
    }

    /// Checks one CEL expression (syntax, variables, functions); `Err` carries the reason.
    fn check_expression(&self, _expr: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Checks nothing beyond core's own rules.
#[derive(Debug, Default, Clone, Copy)]
pub struct CoreChecksOnly;

impl DefinitionChecks for CoreChecksOnly {}

/// A validated definition with its compiled schemas.
pub struct RegisteredDefinition {
    pub definition: Definition,
    operator_config_schema: Option<CompiledSchema>,
    user_input_schema: Option<CompiledSchema>,
    credential_schemas: HashMap<&'static str, CompiledSchema>,
    operation_schemas: HashMap<&'static str, CompiledSchema>,
}

impl RegisteredDefinition {
    pub fn id(&self) -> &'static str {
        self.definition.id()
    }

    pub fn operator_config_schema(&self) -> Option<&CompiledSchema> {
        self.operator_config_schema.as_ref()
    }

    pub fn user_input_schema(&self) -> Option<&CompiledSchema> {
        self.user_input_schema.as_ref()
    }

    /// The compiled form schema of a slot; `None` for auth-managed or unknown slots.
    pub fn credential_schema(&self, slot: &str) -> Option<&CompiledSchema> {
        self.credential_schemas.get(slot)
    }

    pub fn operation_schema(&self, operation: &str) -> Option<&CompiledSchema> {
        self.operation_schemas.get(operation)
    }

    pub fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry::of(&self.definition)
    }
}

debug_listed_fields!(RegisteredDefinition {}, id => RegisteredDefinition::id);

/// What a topic routes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicTarget {
    Operation {
        definition: &'static str,
        operation: &'static str,
    },
    WebhookEvent {
        definition: &'static str,
        webhook: &'static str,
        event: &'static str,
    },
}

impl TopicTarget {
    pub fn definition(&self) -> &'static str {
        match self {
            Self::Operation { definition, .. } | Self::WebhookEvent { definition, .. } => {
                definition
            }
        }
    }
}

/// Validated definitions, indexed. Cheap to clone and share.
#[derive(Clone, Default)]
pub struct Registry {
    definitions: Arc<BTreeMap<&'static str, Arc<RegisteredDefinition>>>,
    topics: Arc<BTreeMap<String, TopicTarget>>,
}

impl Registry {
    /// Validates `definitions` and indexes them, or returns every broken rule.
    pub fn build(
        definitions: Vec<Definition>,
        checks: &dyn DefinitionChecks,
    ) -> Result<Self, RegistryErrors> {
        let mut errors = Vec::new();
        let mut indexed = BTreeMap::new();
        let mut topics = BTreeMap::new();
        for definition in definitions {
            let id = definition.id();
            if indexed.contains_key(id) {
                errors.push(RegistryError {
                    definition: id.to_owned(),
                    item: format!("id `{id}`"),
                    rule: Rule::DuplicateDefinition,
                    detail: None,
                });
                continue;
            }
            let (compiled, mut found) = validate::validate_definition(&definition, checks);
            register_topics(&definition, &mut topics, &mut found);
            errors.append(&mut found);
            indexed.insert(
                id,
                Arc::new(RegisteredDefinition {
                    definition,
                    operator_config_schema: compiled.operator_config,
                    user_input_schema: compiled.user_input,
                    credential_schemas: compiled.credentials,
                    operation_schemas: compiled.operations,
                }),
            );
        }
        if errors.is_empty() {
            Ok(Self {
                definitions: Arc::new(indexed),
                topics: Arc::new(topics),
            })
        } else {
            Err(RegistryErrors(errors))
        }
    }

    /// Every definition, sorted by id.
    pub fn definitions(&self) -> impl Iterator<Item = &Arc<RegisteredDefinition>> {
        self.definitions.values()
    }

    pub fn definition(&self, id: &str) -> Option<&Arc<RegisteredDefinition>> {
        self.definitions.get(id)
    }

    pub fn operation(&self, definition: &str, operation: &str) -> Option<&OperationRegistration> {
        self.definition(definition)?
            .definition
            .operation_named(operation)
    }

    pub fn connection(&self, definition: &str, slot: &str) -> Option<&ConnectionRegistration> {
        self.definition(definition)?.definition.connection_for(slot)
    }

    pub fn webhook(&self, definition: &str, webhook: &str) -> Option<&WebhookRegistration> {
        self.definition(definition)?
            .definition
            .webhook_named(webhook)
    }

    pub fn webhook_event(
        &self,
        definition: &str,
        webhook: &str,
        event: &str,
    ) -> Option<&WebhookEventRegistration> {
        self.webhook(definition, webhook)?.event_named(event)
    }

    /// What `topic` routes to.
    pub fn topic(&self, topic: &str) -> Option<&TopicTarget> {
        self.topics.get(topic)
    }

    /// Every topic, sorted.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &TopicTarget)> {
        self.topics
            .iter()
            .map(|(topic, target)| (topic.as_str(), target))
    }

    /// The golden listing of every persisted name of every definition.
    pub fn persisted_names(&self) -> String {
        self.definitions()
            .map(|d| d.definition.persisted_names().to_string())
            .collect()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.definitions.keys()).finish()
    }
}

fn register_topics(
    def: &Definition,
    topics: &mut BTreeMap<String, TopicTarget>,
    errors: &mut Vec<RegistryError>,
) {
    let mut claim = |topic: String, target: TopicTarget, item: String| {
        if let Some(existing) = topics.get(&topic) {
            // Within one definition a shared topic means a shared name, reported by the name
            // rules already; across definitions it can only come from malformed ids or names.
            if existing.definition() != def.id() {
                errors.push(RegistryError {
                    definition: def.id().to_owned(),
                    item,
                    rule: Rule::DuplicateTopic,
                    detail: Some(format!("topic `{topic}`")),
                });
            }
            return;
        }
        topics.insert(topic, target);
    };
    for op in &def.operations {
        claim(
            def.operation_topic(op.name),
            TopicTarget::Operation {
                definition: def.id(),
                operation: op.name,
            },
            format!("operation `{}`", op.name),
        );
    }
    for webhook in &def.webhooks {
        for event in &webhook.events {
            claim(
                def.webhook_event_topic(event.name),
                TopicTarget::WebhookEvent {
                    definition: def.id(),
                    webhook: webhook.name,
                    event: event.name,
                },
                format!("webhook `{}` event `{}`", webhook.name, event.name),
            );
        }
    }
}
