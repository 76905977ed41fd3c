//! The rules every definition must satisfy before it reaches the runtime. Each check appends to
//! one list, so a broken definition reports all of its problems at once.

use std::collections::{HashMap, HashSet};

use crate::{
    Definition, IngestContract, OutputKind, is_valid_definition_id, is_valid_name,
    schema::CompiledSchema,
};

use super::{DefinitionChecks, RegistryError, Rule};

/// Collects the errors of one definition.
struct Findings<'a> {
    definition: &'a str,
    errors: Vec<RegistryError>,
}

impl Findings<'_> {
    fn push(&mut self, item: String, rule: Rule, detail: Option<String>) {
        self.errors.push(RegistryError {
            definition: self.definition.to_owned(),
            item,
            rule,
            detail,
        });
    }

    fn name(&mut self, item: &str, name: &str) {
        if !is_valid_name(name) {
            self.push(item.to_owned(), Rule::NameInvalid, None);
        }
    }

    fn schema(&mut self, item: String, schema: &serde_json::Value) -> Option<CompiledSchema> {
        match CompiledSchema::compile(schema) {
            Ok(compiled) => Some(compiled),
            Err(reason) => {
                self.push(item, Rule::SchemaInvalid, Some(reason));
                None
            }
        }
    }

    /// Records `name` in `seen`, reporting `rule` the second time.
    fn unique<'n>(&mut self, seen: &mut HashSet<&'n str>, name: &'n str, item: &str, rule: Rule) {
        if !seen.insert(name) {
            self.push(item.to_owned(), rule, None);
        }
    }
}

/// Schemas compiled while validating, kept by the registry.
#[derive(Default)]
pub(super) struct CompiledSchemas {
    pub operator_config: Option<CompiledSchema>,
    pub user_input: Option<CompiledSchema>,
    pub credentials: HashMap<&'static str, CompiledSchema>,
    pub operations: HashMap<&'static str, CompiledSchema>,
}

/// Validates one definition in isolation (cross-definition rules live in the registry builder).
pub(super) fn validate_definition(
    def: &Definition,
    checks: &dyn DefinitionChecks,
) -> (CompiledSchemas, Vec<RegistryError>) {
    let mut f = Findings {
        definition: def.id(),
        errors: Vec::new(),
    };
    let mut compiled = CompiledSchemas::default();

    if let Some(budget) = &def.rate_limit
        && !budget.is_usable()
    {
        f.push("rate limit".to_owned(), Rule::RateLimitInvalid, None);
    }

    if !is_valid_definition_id(def.id()) {
        f.push(
            format!("id `{}`", def.id()),
            Rule::DefinitionIdInvalid,
            None,
        );
    }
    if let Some(schema) = &def.operator_config {
        compiled.operator_config = f.schema("operator config".into(), schema);
    }
    if let Some(schema) = &def.user_input {
        compiled.user_input = f.schema("user input".into(), schema);
    }

    check_credentials(def, &mut f, &mut compiled);
    check_clients(def, &mut f);
    check_operations(def, &mut f, &mut compiled, checks);
    check_connections(def, &mut f);
    check_webhooks(def, &mut f, checks);
    check_mappings(def, &mut f, checks);
    (compiled, f.errors)
}

fn check_credentials(def: &Definition, f: &mut Findings<'_>, compiled: &mut CompiledSchemas) {
    let auth_slots: HashSet<&str> = def
        .connections
        .iter()
        .filter_map(|c| c.auth.as_ref().map(|a| a.credential_ref))
        .collect();
    let mut seen = HashSet::new();
    for cred in &def.credentials {
        let item = format!("credential slot `{}`", cred.slot);
        f.name(&item, cred.slot);
        f.unique(&mut seen, cred.slot, &item, Rule::DuplicateCredentialSlot);
        match &cred.schema {
            Some(schema) => {
                if let Some(schema) = f.schema(item, schema) {
                    compiled.credentials.insert(cred.slot, schema);
                }
            }
            None if auth_slots.contains(cred.slot) => {}
            None => f.push(item, Rule::CredentialSchemaRequired, None),
        }
    }
}

fn check_clients(def: &Definition, f: &mut Findings<'_>) {
    let mut seen = HashSet::new();
    for client in &def.clients {
        let item = format!("client `{}`", client.id);
        f.name(&item, client.id);
        f.unique(&mut seen, client.id, &item, Rule::DuplicateClient);
        for slot in &client.credential_slots {
            if def.credential_registration(slot).is_none() {
                f.push(
                    item.clone(),
                    Rule::ClientCredentialNotDeclared,
                    Some(format!("slot `{slot}`")),
                );
            }
        }
    }
}

fn check_operations(
    def: &Definition,
    f: &mut Findings<'_>,
    compiled: &mut CompiledSchemas,
    checks: &dyn DefinitionChecks,
) {
    let mut seen = HashSet::new();
    for op in &def.operations {
        let item = format!("operation `{}`", op.name);
        f.name(&item, op.name);
        f.unique(&mut seen, op.name, &item, Rule::DuplicateOperation);
        match &op.handler {
            None => f.push(item.clone(), Rule::OperationHandlerRequired, None),
            Some(handler) if handler.kind == OutputKind::Ingest && op.ingest.is_empty() => {
                f.push(item.clone(), Rule::IngestContractsRequired, None)
            }
            Some(_) => {}
        }
        if let Some(client) = op.client
            && def.client_registration(client).is_none()
        {
            f.push(
                item.clone(),
                Rule::OperationClientNotDeclared,
                Some(format!("client `{client}`")),
            );
        }
        check_contracts(def, f, &item, &op.ingest, checks);
        if let Some(schema) = f.schema(item, &op.config_schema) {
            compiled.operations.insert(op.name, schema);
        }
    }
}

/// Ingest contracts must name known models, and each must have a mapping to run through (for each
/// variant, when the contract lists variants).
fn check_contracts(
    def: &Definition,
    f: &mut Findings<'_>,
    item: &str,
    contracts: &[IngestContract],
    checks: &dyn DefinitionChecks,
) {
    let known = checks.known_models();
    for contract in contracts {
        let schema = contract.schema.as_str();
        if let Some(known) = &known
            && !known.contains(&schema)
        {
            f.push(
                item.to_owned(),
                Rule::UnknownModel,
                Some(format!("ingest schema `{schema}`")),
            );
        }
        match &contract.variants {
            None => {
                if !def.mappings.iter().any(|m| m.schema == schema) {
                    f.push(
                        item.to_owned(),
                        Rule::MappingMissing,
                        Some(format!("schema `{schema}`")),
                    );
                }
            }
            Some(variants) => {
                for variant in variants {
                    if !def
                        .mappings
                        .iter()
                        .any(|m| m.schema == schema && &m.variant == variant)
                    {
                        f.push(
                            item.to_owned(),
                            Rule::MappingMissing,
                            Some(format!("schema `{schema}` variant `{variant}`")),
                        );
                    }
                }
            }
        }
    }
}

fn check_connections(def: &Definition, f: &mut Findings<'_>) {
    let mut seen = HashSet::new();
    for conn in &def.connections {
        let item = format!("connection `{}`", conn.credential_ref);
        f.unique(
            &mut seen,
            conn.credential_ref,
            &item,
            Rule::DuplicateConnection,
        );
        for slot in &conn.credential_refs {
            if def.credential_registration(slot).is_none() {
                f.push(
                    item.clone(),
                    Rule::ConnectionCredentialNotDeclared,
                    Some(format!("slot `{slot}`")),
                );
            }
        }
        for client in &conn.client_refs {
            if def.client_registration(client).is_none() {
                f.push(
                    item.clone(),
                    Rule::ConnectionClientNotDeclared,
                    Some(format!("client `{client}`")),
                );
            }
        }
        if let Some(name) = conn.validation_operation {
            match def.operation_named(name) {
                None => f.push(
                    item.clone(),
                    Rule::ValidationOperationNotDeclared,
                    Some(format!("operation `{name}`")),
                ),
                Some(op) => {
                    if let Some(client) = op.client
                        && !conn.client_refs.contains(&client)
                    {
                        f.push(
                            item.clone(),
                            Rule::ValidationOperationClientNotEnabled,
                            Some(format!("operation `{name}` uses client `{client}`")),
                        );
                    }
                }
            }
        }
        if let Some(auth) = &conn.auth
            && !conn.credential_refs.contains(&auth.credential_ref)
        {
            f.push(
                item.clone(),
                Rule::AuthCredentialNotInConnection,
                Some(format!("slot `{}`", auth.credential_ref)),
            );
        }
        if let Some(refresh) = &conn.token_refresh
            && (!conn.credential_refs.contains(&refresh.credential_ref)
                || conn
                    .auth
                    .as_ref()
                    .is_some_and(|auth| auth.credential_ref == refresh.credential_ref))
        {
            // A token refresh renews a typed credential of its own connection; the slot an auth
            // flow fills is renewed by that flow's refresh.
            f.push(
                item.clone(),
                Rule::AuthCredentialNotInConnection,
                Some(format!(
                    "token refresh of slot `{}`",
                    refresh.credential_ref
                )),
            );
        }
        if let Some(disconnect) = &conn.disconnect
            && !conn.credential_refs.contains(&disconnect.credential_ref)
        {
            f.push(
                item.clone(),
                Rule::DisconnectCredentialNotInConnection,
                Some(format!("slot `{}`", disconnect.credential_ref)),
            );
        }
    }
}

fn check_webhooks(def: &Definition, f: &mut Findings<'_>, checks: &dyn DefinitionChecks) {
    let mut webhooks = HashSet::new();
    // Event topics do not include the webhook name, so event names are unique per definition.
    let mut events = HashSet::new();
    for webhook in &def.webhooks {
        let item = format!("webhook `{}`", webhook.name);
        f.name(&item, webhook.name);
        f.unique(&mut webhooks, webhook.name, &item, Rule::DuplicateWebhook);
        if webhook.verify.is_none() {
            f.push(item.clone(), Rule::WebhookVerificationRequired, None);
        }
        if let Some(template) = webhook.endpoint_template
            && (!template.starts_with('/')
                || template.matches(crate::ENDPOINT_ID_PLACEHOLDER).count() != 1)
        {
            f.push(item.clone(), Rule::WebhookEndpointTemplateInvalid, None);
        }
        if !webhook.events.is_empty() && webhook.resolve_event.is_none() {
            f.push(item.clone(), Rule::WebhookEventResolverRequired, None);
        }
        for event in &webhook.events {
            let item = format!("webhook `{}` event `{}`", webhook.name, event.name);
            f.name(&item, event.name);
            f.unique(&mut events, event.name, &item, Rule::DuplicateWebhookEvent);
            if event.handler.is_none() {
                f.push(item.clone(), Rule::WebhookEventHandlerRequired, None);
            }
            check_contracts(def, f, &item, &event.ingest, checks);
        }
    }
}

fn check_mappings(def: &Definition, f: &mut Findings<'_>, checks: &dyn DefinitionChecks) {
    let known = checks.known_models();
    let mut seen = HashSet::new();
    for mapping in &def.mappings {
        let item = format!("mapping `{}`", mapping.label());
        if !seen.insert((mapping.schema.as_str(), mapping.variant.as_str())) {
            f.push(item.clone(), Rule::DuplicateMapping, None);
        }
        if let Some(known) = &known
            && !known.contains(&mapping.schema.as_str())
        {
            f.push(
                item.clone(),
                Rule::UnknownModel,
                Some(format!("schema `{}`", mapping.schema)),
            );
        }
        for (part, expr) in [("filter", &mapping.filter), ("map", &mapping.map)] {
            if expr.is_empty() {
                continue;
            }
            if let Err(reason) = checks.check_expression(expr) {
                f.push(
                    format!("{item} {part}"),
                    Rule::MappingExpressionInvalid,
                    Some(reason),
                );
            }
        }
    }
}
