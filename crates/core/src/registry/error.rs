//! Registry errors: which rule, which definition, which item.

/// A rule the registry enforces on every definition at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    DefinitionIdInvalid,
    DuplicateDefinition,
    NameInvalid,
    SchemaInvalid,
    DuplicateCredentialSlot,
    CredentialSchemaRequired,
    DuplicateClient,
    ClientCredentialNotDeclared,
    DuplicateOperation,
    OperationHandlerRequired,
    IngestContractsRequired,
    OperationClientNotDeclared,
    UnknownModel,
    DuplicateTopic,
    ConnectionCredentialNotDeclared,
    DuplicateConnection,
    ConnectionClientNotDeclared,
    ValidationOperationNotDeclared,
    ValidationOperationClientNotEnabled,
    AuthCredentialNotInConnection,
    DisconnectCredentialNotInConnection,
    DuplicateWebhook,
    WebhookVerificationRequired,
    WebhookEndpointTemplateInvalid,
    WebhookEventResolverRequired,
    DuplicateWebhookEvent,
    WebhookEventHandlerRequired,
    DuplicateMapping,
    MappingMissing,
    MappingExpressionInvalid,
    RateLimitInvalid,
}

impl Rule {
    /// What the rule requires, as a sentence fragment.
    pub fn describe(self) -> &'static str {
        match self {
            Self::DefinitionIdInvalid => {
                "definition ids are lowercase letters, digits and underscores, starting with a letter"
            }
            Self::DuplicateDefinition => "another definition already uses this id",
            Self::NameInvalid => {
                "names are ASCII letters, digits and underscores, starting with a letter"
            }
            Self::SchemaInvalid => "the JSON Schema does not compile",
            Self::DuplicateCredentialSlot => "the credential slot is declared twice",
            Self::CredentialSchemaRequired => {
                "a credential slot without a form schema must be filled by a connection's auth flow"
            }
            Self::DuplicateClient => "the client is declared twice",
            Self::ClientCredentialNotDeclared => {
                "the client loads a credential slot that is not declared"
            }
            Self::DuplicateOperation => "the operation name is declared twice",
            Self::OperationHandlerRequired => "an operation needs exactly one handler",
            Self::IngestContractsRequired => {
                "an ingest-producing operation must declare the models it emits"
            }
            Self::OperationClientNotDeclared => "the operation uses a client that is not declared",
            Self::UnknownModel => "no internal model has this name",
            Self::DuplicateTopic => "the topic is already used by another operation or event",
            Self::ConnectionCredentialNotDeclared => {
                "the connection names a credential slot that is not declared"
            }
            Self::DuplicateConnection => "another connection is selected by the same slot",
            Self::ConnectionClientNotDeclared => {
                "the connection enables a client that is not declared"
            }
            Self::ValidationOperationNotDeclared => "the validation operation is not declared",
            Self::ValidationOperationClientNotEnabled => {
                "the validation operation uses a client the connection does not enable"
            }
            Self::AuthCredentialNotInConnection => {
                "the auth flow must fill a credential slot of its own connection"
            }
            Self::DisconnectCredentialNotInConnection => {
                "the disconnect hook must use a credential slot of its own connection"
            }
            Self::DuplicateWebhook => "the webhook name is declared twice",
            Self::WebhookVerificationRequired => {
                "a webhook must verify its requests (verification is fail-closed)"
            }
            Self::WebhookEndpointTemplateInvalid => {
                "an endpoint template is a path starting with `/` containing `{endpointID}` once"
            }
            Self::WebhookEventResolverRequired => "a webhook with events needs an event resolver",
            Self::DuplicateWebhookEvent => "the webhook event name is declared twice",
            Self::WebhookEventHandlerRequired => "a webhook event needs a handler",
            Self::DuplicateMapping => "a mapping for this (schema, variant) is declared twice",
            Self::MappingMissing => "a declared ingest schema has no mapping",
            Self::MappingExpressionInvalid => "the mapping's CEL expression is invalid",
            Self::RateLimitInvalid => {
                "a rate limit allows at least one request and a burst of one per positive interval"
            }
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("definition `{definition}`: {item}: {}{}", rule.describe(), detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct RegistryError {
    pub definition: String,
    /// The offending item, e.g. ``operation `HealthCheck` ``.
    pub item: String,
    pub rule: Rule,
    pub detail: Option<String>,
}

/// Every broken rule found while building a registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} definition rule(s) broken:\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct RegistryErrors(pub Vec<RegistryError>);

impl RegistryErrors {
    pub fn rules(&self) -> Vec<Rule> {
        self.0.iter().map(|e| e.rule).collect()
    }
}
