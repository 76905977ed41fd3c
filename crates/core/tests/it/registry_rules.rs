//! One test per registry rule: each breaks the valid example definition in one way and asserts the
//! exact error (rule, definition, item).

use crate::support;

use crate::support::*;
use serde_json::json;
use tributary_core::{
    ClientRegistration, ConnectionRegistration, CredentialRegistration, Definition,
    DefinitionChecks, DefinitionId, DefinitionSpec, DisconnectRegistration, MappingRegistration,
    Operation, Registry, RegistryError, Rule, StableName, WebhookEvent, WebhookRegistration,
};

/// Stands in for the model and CEL crates: two known models, and an expression checker that
/// rejects references to an undeclared variable.
struct TestChecks;

impl DefinitionChecks for TestChecks {
    fn known_models(&self) -> Option<Vec<&'static str>> {
        Some(vec!["DirectoryAccount", "DirectoryGroup"])
    }

    fn check_expression(&self, expr: &str) -> Result<(), String> {
        if expr.contains("paylod") {
            Err("undeclared reference to 'paylod' at 1:1".into())
        } else {
            Ok(())
        }
    }
}

fn errors_of(definitions: Vec<Definition>) -> Vec<RegistryError> {
    Registry::build(definitions, &TestChecks)
        .expect_err("the definition should be refused")
        .0
}

/// Fails unless `def` is refused for `rule` on `item` alone, with `detail`.
#[track_caller]
fn assert_refused_only(def: Definition, item: &str, rule: Rule, detail: Option<&str>) {
    assert_eq!(errors_of(vec![def]), [error(item, rule, detail)]);
}

fn error(item: &str, rule: Rule, detail: Option<&str>) -> RegistryError {
    RegistryError {
        definition: "example".into(),
        item: item.into(),
        rule,
        detail: detail.map(Into::into),
    }
}

#[test]
fn the_valid_definition_registers() {
    let registry = Registry::build(vec![valid_definition()], &TestChecks).unwrap();
    assert!(registry.definition("example").is_some());
    assert!(registry.operation("example", "HealthCheck").is_some());
    assert!(
        registry
            .webhook_event("example", "events", "UserCreated")
            .is_some()
    );
    assert!(
        registry
            .topic("integration.example.DirectorySync")
            .is_some()
    );
    assert!(
        registry
            .topic("integration.example.webhook.UserCreated")
            .is_some()
    );
}

#[test]
fn definition_id_must_be_well_formed() {
    let mut def = valid_definition();
    def.spec.id = "Example.Id";
    let errors = Registry::build(vec![def], &TestChecks).unwrap_err().0;
    assert_eq!(errors[0].rule, Rule::DefinitionIdInvalid);
    assert_eq!(errors[0].definition, "Example.Id");
    assert_eq!(errors[0].item, "id `Example.Id`");
}

#[test]
fn duplicate_definition_ids_are_refused() {
    assert_eq!(
        errors_of(vec![valid_definition(), valid_definition()]),
        [error("id `example`", Rule::DuplicateDefinition, None)]
    );
}

#[test]
fn duplicate_credential_slots_are_refused() {
    let def =
        valid_definition().credential(CredentialRegistration::form::<ExampleApiToken>("again", ""));
    assert_refused_only(
        def,
        "credential slot `ExampleApiToken`",
        Rule::DuplicateCredentialSlot,
        None,
    );
}

#[test]
fn schemaless_slot_needs_an_auth_flow() {
    #[derive(StableName)]
    struct Orphan;
    let def =
        valid_definition().credential(CredentialRegistration::auth_managed::<Orphan>("o", ""));
    assert_refused_only(
        def,
        "credential slot `Orphan`",
        Rule::CredentialSchemaRequired,
        None,
    );
}

#[test]
fn invalid_schemas_are_refused() {
    let mut def = valid_definition();
    def.user_input = Some(json!({"type": 17}));
    let errors = errors_of(vec![def]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].rule, Rule::SchemaInvalid);
    assert_eq!(errors[0].item, "user input");
    assert!(errors[0].detail.is_some());
}

#[test]
fn duplicate_clients_are_refused() {
    let def = valid_definition().client(api_client());
    assert_refused_only(def, "client `example_api`", Rule::DuplicateClient, None);
}

#[test]
fn client_slots_must_be_declared() {
    let mut def = valid_definition();
    def.clients[0].credential_slots.push("Missing");
    assert_refused_only(
        def,
        "client `example_api`",
        Rule::ClientCredentialNotDeclared,
        Some("slot `Missing`"),
    );
}

#[test]
fn client_names_must_be_well_formed() {
    struct Other;
    let def = valid_definition().client(ClientRegistration::new(
        tributary_core::ClientRef::<Other>::new("bad-name"),
        "",
        [],
        |_| async { Ok(Other) },
    ));
    assert_refused_only(def, "client `bad-name`", Rule::NameInvalid, None);
}

#[test]
fn duplicate_operations_are_refused() {
    let def = valid_definition().operation(
        Operation::<HealthCheck>::new("again")
            .client(EXAMPLE_API)
            .raw(health_check),
    );
    let errors = errors_of(vec![def]);
    assert_eq!(
        errors,
        [error(
            "operation `HealthCheck`",
            Rule::DuplicateOperation,
            None
        )]
    );
}

#[test]
fn operations_need_a_handler() {
    let mut def = valid_definition();
    def.operations[0].handler = None;
    assert_refused_only(
        def,
        "operation `HealthCheck`",
        Rule::OperationHandlerRequired,
        None,
    );
}

#[test]
fn ingest_operations_declare_their_models() {
    let mut def = valid_definition();
    def.operations[1].ingest.clear();
    assert_refused_only(
        def,
        "operation `DirectorySync`",
        Rule::IngestContractsRequired,
        None,
    );
}

#[test]
fn operation_clients_must_be_declared() {
    let mut def = valid_definition();
    def.operations[0].client = Some("nope");
    // The connection's validation op now uses a client it does not enable, too.
    assert_eq!(
        errors_of(vec![def]),
        [
            error(
                "operation `HealthCheck`",
                Rule::OperationClientNotDeclared,
                Some("client `nope`")
            ),
            error(
                "connection `ExampleApiToken`",
                Rule::ValidationOperationClientNotEnabled,
                Some("operation `HealthCheck` uses client `nope`")
            ),
        ]
    );
}

#[test]
fn ingest_contracts_must_name_known_models() {
    let mut def = valid_definition();
    def.operations[1]
        .ingest
        .push(tributary_core::IngestContract::new("DirectoryAcount"));
    assert_eq!(
        errors_of(vec![def]),
        [
            error(
                "operation `DirectorySync`",
                Rule::UnknownModel,
                Some("ingest schema `DirectoryAcount`")
            ),
            error(
                "operation `DirectorySync`",
                Rule::MappingMissing,
                Some("schema `DirectoryAcount`")
            ),
        ]
    );
}

#[test]
fn declared_ingest_schemas_need_a_mapping() {
    let mut def = valid_definition();
    def.operations[1]
        .ingest
        .push(tributary_core::IngestContract::new("DirectoryGroup"));
    assert_refused_only(
        def,
        "operation `DirectorySync`",
        Rule::MappingMissing,
        Some("schema `DirectoryGroup`"),
    );
}

#[test]
fn each_declared_variant_needs_its_mapping() {
    let mut def = valid_definition();
    let operation = Operation::<DirectorySync>::new("Syncs users")
        .client(EXAMPLE_API)
        .ingests_variants("DirectoryAccount", ["", "guest"])
        .ingest(directory_sync);
    assert_eq!(
        operation.ingest,
        [tributary_core::IngestContract::with_variants(
            "DirectoryAccount",
            ["", "guest"]
        )]
    );
    def.operations[1] = operation;
    assert_eq!(
        errors_of(vec![def.clone()]),
        [error(
            "operation `DirectorySync`",
            Rule::MappingMissing,
            Some("schema `DirectoryAccount` variant `guest`")
        )]
    );
    def.mappings.push(
        MappingRegistration::new("DirectoryAccount")
            .variant("guest")
            .map("{'externalID': string(payload.id)}"),
    );
    Registry::build(vec![def], &TestChecks).unwrap();
}

#[test]
fn topics_are_unique_across_definitions() {
    // Well-formed ids and names cannot collide (operation topics have three dot-separated parts,
    // event topics four, and names have no dots); malformed ones can, and the registry says so.
    let mut plain = valid_definition();
    plain.operations[0].name = "Health.Check";
    let mut first = valid_definition();
    first.spec.id = "example.Health";
    first.operations.truncate(1);
    first.operations[0].name = "Check";
    first.connections.clear();
    first.webhooks.clear();
    let errors = Registry::build(vec![first, plain], &TestChecks)
        .unwrap_err()
        .0;
    assert!(
        errors.contains(&RegistryError {
            definition: "example".into(),
            item: "operation `Health.Check`".into(),
            rule: Rule::DuplicateTopic,
            detail: Some("topic `integration.example.Health.Check`".into()),
        }),
        "{errors:#?}"
    );

    let mut other = valid_definition();
    other.spec.id = "example_two";
    let registry = Registry::build(vec![valid_definition(), other], &TestChecks).unwrap();
    assert_eq!(registry.topics().count(), 6);
}

#[test]
fn connection_slots_must_be_declared() {
    let def = valid_definition().connection(ConnectionRegistration::new("Ghost", "ghost"));
    assert_refused_only(
        def,
        "connection `Ghost`",
        Rule::ConnectionCredentialNotDeclared,
        Some("slot `Ghost`"),
    );
}

#[test]
fn duplicate_connections_are_refused() {
    let def =
        valid_definition().connection(ConnectionRegistration::new(ExampleApiToken::NAME, "again"));
    assert_refused_only(
        def,
        "connection `ExampleApiToken`",
        Rule::DuplicateConnection,
        None,
    );
}

#[test]
fn connection_clients_must_be_declared() {
    let mut def = valid_definition();
    def.connections[1].client_refs.push("ghost_client");
    assert_refused_only(
        def,
        "connection `ExampleOAuthToken`",
        Rule::ConnectionClientNotDeclared,
        Some("client `ghost_client`"),
    );
}

#[test]
fn validation_operation_must_be_declared() {
    let mut def = valid_definition();
    def.connections[0].validation_operation = Some("Ping");
    assert_refused_only(
        def,
        "connection `ExampleApiToken`",
        Rule::ValidationOperationNotDeclared,
        Some("operation `Ping`"),
    );
}

#[test]
fn validation_operation_client_must_be_enabled_by_the_connection() {
    let mut def = valid_definition();
    def.connections[0].client_refs.clear();
    assert_refused_only(
        def,
        "connection `ExampleApiToken`",
        Rule::ValidationOperationClientNotEnabled,
        Some("operation `HealthCheck` uses client `example_api`"),
    );
}

#[test]
fn auth_must_fill_a_slot_of_its_connection() {
    let mut def = valid_definition();
    let mut auth = oauth();
    auth.credential_ref = ExampleApiToken::NAME;
    def.connections[1].auth = Some(auth);
    let errors = errors_of(vec![def]);
    assert!(errors.contains(&error(
        "connection `ExampleOAuthToken`",
        Rule::AuthCredentialNotInConnection,
        Some("slot `ExampleApiToken`")
    )));
}

#[test]
fn disconnect_must_use_a_slot_of_its_connection() {
    let mut def = valid_definition();
    def.connections[1].disconnect = Some(DisconnectRegistration::local_only(
        ExampleApiToken::NAME,
        "",
    ));
    assert_refused_only(
        def,
        "connection `ExampleOAuthToken`",
        Rule::DisconnectCredentialNotInConnection,
        Some("slot `ExampleApiToken`"),
    );
}

#[test]
fn duplicate_webhooks_are_refused() {
    let def = valid_definition().webhook(WebhookRegistration::new("events").verify(|_, _| Ok(())));
    assert_refused_only(def, "webhook `events`", Rule::DuplicateWebhook, None);
}

#[test]
fn webhooks_must_verify() {
    let def = valid_definition().webhook(WebhookRegistration::new("open"));
    assert_refused_only(
        def,
        "webhook `open`",
        Rule::WebhookVerificationRequired,
        None,
    );
}

#[test]
fn webhook_endpoint_templates_must_place_the_endpoint_id() {
    for bad in [
        "/scim/v2/",
        "scim/{endpointID}",
        "/a/{endpointID}/{endpointID}",
    ] {
        let mut def = valid_definition();
        def.webhooks[0].endpoint_template = Some(bad);
        assert_eq!(
            errors_of(vec![def]),
            [error(
                "webhook `events`",
                Rule::WebhookEndpointTemplateInvalid,
                None
            )],
            "{bad}"
        );
    }
    let def = valid_definition();
    assert_eq!(def.webhooks[0].endpoint_path("wh_1"), "/v1/webhooks/wh_1");
    let webhook = support::webhook().endpoint_template("/scim/v2/{endpointID}");
    assert_eq!(webhook.endpoint_path("e9"), "/scim/v2/e9");
}

#[test]
fn webhook_events_need_a_resolver() {
    let mut def = valid_definition();
    def.webhooks[0].resolve_event = None;
    assert_refused_only(
        def,
        "webhook `events`",
        Rule::WebhookEventResolverRequired,
        None,
    );
}

#[test]
fn duplicate_webhook_events_are_refused_across_webhooks() {
    let def = valid_definition().webhook(
        WebhookRegistration::new("more")
            .verify(|_, _| Ok(()))
            .resolve_event(|_| Err(tributary_core::VerifyError("none".into())))
            .event(
                WebhookEvent::<UserCreated>::new("again")
                    .handle(|_, _| async { Ok(Default::default()) }),
            ),
    );
    assert_refused_only(
        def,
        "webhook `more` event `UserCreated`",
        Rule::DuplicateWebhookEvent,
        None,
    );
}

#[test]
fn webhook_events_need_a_handler() {
    let mut def = valid_definition();
    def.webhooks[0].events[0].handler = None;
    assert_refused_only(
        def,
        "webhook `events` event `UserCreated`",
        Rule::WebhookEventHandlerRequired,
        None,
    );
}

#[test]
fn webhook_event_contracts_must_name_known_models() {
    let mut def = valid_definition();
    def.webhooks[0].events[0]
        .ingest
        .push(tributary_core::IngestContract::new("Nope"));
    assert_eq!(
        errors_of(vec![def]),
        [
            error(
                "webhook `events` event `UserCreated`",
                Rule::UnknownModel,
                Some("ingest schema `Nope`")
            ),
            error(
                "webhook `events` event `UserCreated`",
                Rule::MappingMissing,
                Some("schema `Nope`")
            ),
        ]
    );
}

#[test]
fn duplicate_mappings_are_refused() {
    let def = valid_definition().mapping(MappingRegistration::new("DirectoryAccount"));
    assert_refused_only(
        def,
        "mapping `DirectoryAccount`",
        Rule::DuplicateMapping,
        None,
    );
    // A different variant of the same schema is fine.
    let def =
        valid_definition().mapping(MappingRegistration::new("DirectoryAccount").variant("guest"));
    assert!(Registry::build(vec![def], &TestChecks).is_ok());
}

#[test]
fn mappings_must_target_known_models() {
    let def = valid_definition().mapping(MappingRegistration::new("Widget"));
    assert_refused_only(
        def,
        "mapping `Widget`",
        Rule::UnknownModel,
        Some("schema `Widget`"),
    );
}

#[test]
fn mapping_expressions_are_checked() {
    let def = valid_definition().mapping(
        MappingRegistration::new("DirectoryGroup")
            .variant("team")
            .filter("paylod.active"),
    );
    assert_refused_only(
        def,
        "mapping `DirectoryGroup/team` filter",
        Rule::MappingExpressionInvalid,
        Some("undeclared reference to 'paylod' at 1:1"),
    );
}

#[test]
fn names_must_be_well_formed() {
    #[derive(StableName, serde::Deserialize, schemars::JsonSchema)]
    #[stable_name = "Sync_2"]
    struct Odd {}
    let mut def = valid_definition();
    def.webhooks[0].name = "bad.name";
    let def = def.operation(Operation::<Odd>::new("").raw(|_, _, _| async { Ok(()) }));
    assert_refused_only(def, "webhook `bad.name`", Rule::NameInvalid, None);
}

#[test]
fn all_errors_are_reported_at_once_with_readable_messages() {
    let mut def = valid_definition();
    def.operations[0].handler = None;
    def.webhooks[0].verify = None;
    let errors = Registry::build(vec![def], &TestChecks).unwrap_err();
    assert_eq!(
        errors.rules(),
        [
            Rule::OperationHandlerRequired,
            Rule::WebhookVerificationRequired
        ]
    );
    let text = errors.to_string();
    assert!(text.contains(
        "definition `example`: operation `HealthCheck`: an operation needs exactly one handler"
    ));
    assert!(text.contains("definition `example`: webhook `events`: a webhook must verify"));
}

#[test]
fn the_connection_always_lists_its_selecting_slot() {
    let def = valid_definition();
    for connection in &def.connections {
        assert!(
            connection
                .credential_refs
                .contains(&connection.credential_ref)
        );
    }
    let _ = DefinitionId::new("x");
    let _ = DefinitionSpec::new(EXAMPLE, "x");
}

#[test]
fn a_declared_rate_limit_must_be_usable_and_shows_in_the_catalog() {
    use std::time::Duration;
    use tributary_core::{RateLimit, RateLimitScope};

    let broken = valid_definition().rate_limit(RateLimit::new(0, Duration::from_secs(1)));
    let errors =
        Registry::build(vec![broken], &tributary_core::registry::CoreChecksOnly).unwrap_err();
    assert_eq!(errors.rules(), [Rule::RateLimitInvalid]);

    let budget = RateLimit::per_minute(600)
        .burst(20)
        .scope(RateLimitScope::Credential);
    let registry = Registry::build(
        vec![valid_definition().rate_limit(budget)],
        &tributary_core::registry::CoreChecksOnly,
    )
    .unwrap();
    let entry = serde_json::to_value(
        registry
            .definition(valid_definition().id())
            .unwrap()
            .catalog_entry(),
    )
    .unwrap();
    assert_eq!(
        entry["rateLimit"],
        serde_json::json!({"requests": 600, "intervalMs": 60000, "burst": 20, "scope": "credential"})
    );
}
