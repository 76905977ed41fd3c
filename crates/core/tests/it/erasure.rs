//! Typed handlers run through the erased interface the runtime uses: config decoding, client
//! casting and result encoding happen once, in core.

use crate::support;

use std::sync::Arc;

use crate::support::*;
use serde_json::{Value, json};
use tributary_core::{
    ClientBuildRequest, CredentialBindings, ErasedClient, ErrorKind, InboundWebhook,
    IntegrationContext, OperationContext, OperationError, OperationOutput, OperationRequest,
    OutputKind, Registry, ResolvedEvent, Secret, StableName, WebhookEventRequest,
    registry::CoreChecksOnly,
};

fn request(config: Value, client: Option<ErasedClient>) -> OperationRequest {
    OperationRequest {
        context: OperationContext::detached(IntegrationContext::detached("example")),
        config,
        client,
        credentials: CredentialBindings::new(),
    }
}

async fn built_client() -> ErasedClient {
    api_client()
        .build(ClientBuildRequest {
            integration: IntegrationContext::detached("example"),
            credentials: CredentialBindings::new()
                .with(ExampleApiToken::NAME, json!({"token": "t"})),
        })
        .await
        .unwrap()
}

/// Calls the operation `name` of the valid definition through its erased handler.
async fn call(
    name: &str,
    config: Value,
    client: Option<ErasedClient>,
) -> Result<OperationOutput, OperationError> {
    let def = valid_definition();
    let handler = def.operation_named(name).unwrap().handler.as_ref().unwrap();
    handler.call(request(config, client)).await
}

/// [`call`], which must fail: its error.
async fn refusal(name: &str, config: Value, client: Option<ErasedClient>) -> OperationError {
    call(name, config, client).await.unwrap_err()
}

#[tokio::test]
async fn raw_handler_receives_typed_config_and_client() {
    let def = valid_definition();
    let op = def.operation_named("HealthCheck").unwrap();
    let handler = op.handler.as_ref().unwrap();
    assert_eq!(handler.kind, OutputKind::Raw);
    let out = call("HealthCheck", Value::Null, Some(built_client().await))
        .await
        .unwrap();
    assert_eq!(
        out,
        OperationOutput::Raw(json!({"base": "ExampleApiToken"}))
    );
}

#[tokio::test]
async fn ingest_handler_returns_payload_sets() {
    let out = call(
        "DirectorySync",
        json!({"page_size": 3}),
        Some(built_client().await),
    )
    .await
    .unwrap();
    let OperationOutput::Ingest(sets) = out else {
        panic!("expected ingest output")
    };
    assert_eq!(sets[0].schema, "DirectoryAccount");
    assert_eq!(sets[0].envelopes.len(), 3);
}

#[tokio::test]
async fn bad_config_is_a_config_error_naming_the_operation() {
    let client = Some(built_client().await);
    let err = refusal("DirectorySync", json!({"page_size": "many"}), client).await;
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("DirectorySync"), "{err}");
}

#[tokio::test]
async fn a_missing_or_wrong_client_is_an_internal_error() {
    let err = refusal("HealthCheck", Value::Null, None).await;
    assert_eq!(err.kind, ErrorKind::Internal);
    let wrong: ErasedClient = Arc::new(42_u8);
    let err = refusal("HealthCheck", Value::Null, Some(wrong)).await;
    assert_eq!(err.kind, ErrorKind::Internal);
    assert!(err.message.contains("example_api"), "{err}");
}

#[tokio::test]
async fn webhook_verification_resolution_and_handling() {
    let def = valid_definition();
    let webhook = def.webhook_named("events").unwrap();
    let inbound = InboundWebhook {
        method: "POST".into(),
        headers: vec![("x-token".into(), "s3cret".into())],
        body: br#"{"id": 7}"#.to_vec(),
        ..Default::default()
    };
    webhook
        .verify_request(&inbound, &Secret::new("s3cret"))
        .unwrap();
    let err = webhook
        .verify_request(&inbound, &Secret::new("other"))
        .unwrap_err();
    assert!(!err.to_string().contains("s3cret"));
    let event: ResolvedEvent = webhook.resolve(&inbound).unwrap();
    let registration = webhook.event_named(event.name.as_deref().unwrap()).unwrap();
    let outcome = registration
        .handle(WebhookEventRequest {
            integration: IntegrationContext::detached("example"),
            event,
        })
        .unwrap()
        .await
        .unwrap();
    assert_eq!(outcome.ingest[0].envelopes[0].payload, json!({"id": 7}));
}

#[test]
fn registry_compiles_schemas_once_and_validates_with_them() {
    let registry = Registry::build(vec![valid_definition()], &CoreChecksOnly).unwrap();
    let def = registry.definition("example").unwrap();
    let slot = def.credential_schema(ExampleApiToken::NAME).unwrap();
    assert!(slot.validate(&json!({"token": "x"})).is_ok());
    let violations = slot.validate(&json!({"token": 5, "other": 1})).unwrap_err();
    assert_eq!(violations.len(), 2);
    assert!(
        def.credential_schema(support::ExampleOAuthToken::NAME)
            .is_none()
    );
    let op = def.operation_schema("DirectorySync").unwrap();
    assert!(op.validate(&Value::Null).is_ok());
    assert!(op.validate(&json!({"page_size": -1})).is_err());
}

#[test]
fn catalog_entry_and_persisted_names() {
    let registry = Registry::build(vec![valid_definition()], &CoreChecksOnly).unwrap();
    let def = registry.definition("example").unwrap();
    let entry = serde_json::to_value(def.catalog_entry()).unwrap();
    assert_eq!(entry["spec"]["id"], "example");
    assert_eq!(entry["connections"][1]["auth"], "redirect");
    assert_eq!(entry["credentials"][1]["schema"], Value::Null);
    assert_eq!(entry["operations"][1]["policy"]["reconcile"], true);
    assert_eq!(
        entry["webhooks"][0]["events"][0]["topic"],
        "integration.example.webhook.UserCreated"
    );
    assert_eq!(
        registry.persisted_names(),
        "definition example\n  slot ExampleApiToken\n  slot ExampleOAuthToken\n  \
         operation HealthCheck topic integration.example.HealthCheck\n  \
         operation DirectorySync topic integration.example.DirectorySync\n  webhook events\n    \
         event UserCreated topic integration.example.webhook.UserCreated\n"
    );
}
