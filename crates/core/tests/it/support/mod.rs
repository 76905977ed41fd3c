//! A small but complete definition used by the registry and execution tests; each rule test
//! breaks one thing in it.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    AuthCompleteResult, AuthRegistration, AuthStartResult, ClientRef, ClientRegistration,
    ConnectionRegistration, CredentialBindings, CredentialRegistration, Definition, DefinitionId,
    DefinitionSpec, DisconnectRegistration, IngestPayloadSet, MappingEnvelope, MappingRegistration,
    Operation, OperationContext, OperationError, ResolvedEvent, Secret, StableName, VerifyError,
    WebhookEvent, WebhookOutcome, WebhookRegistration,
};

pub const EXAMPLE: DefinitionId = DefinitionId::new("example");

#[derive(StableName, Deserialize, JsonSchema)]
pub struct ExampleApiToken {
    #[allow(dead_code, reason = "the credential's shape; the tests never read it")]
    pub token: Secret,
}

#[derive(StableName, Deserialize)]
pub struct ExampleOAuthToken {
    #[allow(dead_code, reason = "the credential's shape; the tests never read it")]
    pub access_token: Secret,
}

#[derive(StableName, Deserialize, JsonSchema)]
pub struct HealthCheck {}

#[derive(StableName, Deserialize, JsonSchema)]
pub struct DirectorySync {
    /// Page size to request.
    #[serde(default)]
    pub page_size: Option<u32>,
}

#[derive(StableName, Deserialize)]
pub struct UserCreated(pub Value);

pub struct ExampleApi {
    pub base: String,
}

pub const EXAMPLE_API: ClientRef<ExampleApi> = ClientRef::new("example_api");

pub async fn health_check(
    _ctx: OperationContext,
    _config: HealthCheck,
    api: &ExampleApi,
    _creds: CredentialBindings,
) -> Result<Value, OperationError> {
    Ok(json!({ "base": api.base }))
}

pub async fn directory_sync(
    _ctx: OperationContext,
    config: DirectorySync,
    api: &ExampleApi,
    _creds: CredentialBindings,
) -> Result<Vec<IngestPayloadSet>, OperationError> {
    let size = config.page_size.unwrap_or(2);
    let envelopes = (0..size)
        .map(|i| MappingEnvelope::new(json!({"id": i, "from": api.base})).resource("users"))
        .collect();
    Ok(vec![IngestPayloadSet::new("DirectoryAccount", envelopes)])
}

pub fn api_client() -> ClientRegistration {
    ClientRegistration::new(
        EXAMPLE_API,
        "Example REST API",
        [ExampleApiToken::NAME, ExampleOAuthToken::NAME],
        |request| async move {
            let slot = request
                .credentials
                .slots()
                .next()
                .unwrap_or_default()
                .to_owned();
            Ok(ExampleApi { base: slot })
        },
    )
}

pub fn oauth() -> AuthRegistration {
    AuthRegistration::new(
        ExampleOAuthToken::NAME,
        |request| async move {
            Ok(AuthStartResult {
                url: format!("https://example.test/authorize?state={}", request.state),
                provider_state: Value::Null,
            })
        },
        |_request| async move {
            Ok(AuthCompleteResult {
                credential: json!({"access_token": "t"}),
                auth_input: Value::Null,
            })
        },
    )
}

pub fn webhook() -> WebhookRegistration {
    WebhookRegistration::new("events")
        .verify(|request, secret| {
            if request.header("x-token") == Some(secret.expose()) {
                Ok(())
            } else {
                Err(VerifyError("bad token".into()))
            }
        })
        .resolve_event(|request| {
            let payload: Value = serde_json::from_slice(&request.body)
                .map_err(|_| VerifyError("body is not JSON".into()))?;
            Ok(ResolvedEvent {
                name: Some("UserCreated".into()),
                delivery_id: None,
                provider_event: "user.created".into(),
                action: String::new(),
                payload,
            })
        })
        .event(
            WebhookEvent::<UserCreated>::new("A user was created")
                .ingests(["DirectoryAccount"])
                .handle(|_request, UserCreated(payload)| async move {
                    Ok(WebhookOutcome {
                        ingest: vec![IngestPayloadSet::new(
                            "DirectoryAccount",
                            vec![MappingEnvelope::new(payload)],
                        )],
                        ..WebhookOutcome::default()
                    })
                }),
        )
}

/// A definition that satisfies every rule.
pub fn valid_definition() -> Definition {
    Definition::new(DefinitionSpec::new(EXAMPLE, "Example"))
        .credential(CredentialRegistration::form::<ExampleApiToken>(
            "API token",
            "A token",
        ))
        .credential(CredentialRegistration::auth_managed::<ExampleOAuthToken>(
            "OAuth",
            "Filled by the OAuth flow",
        ))
        .client(api_client())
        .connection(
            ConnectionRegistration::new(ExampleApiToken::NAME, "API token")
                .clients([EXAMPLE_API.id()])
                .validation_operation(HealthCheck::NAME),
        )
        .connection(
            ConnectionRegistration::new(ExampleOAuthToken::NAME, "OAuth")
                .clients([EXAMPLE_API.id()])
                .auth(oauth())
                .disconnect(DisconnectRegistration::local_only(
                    ExampleOAuthToken::NAME,
                    "Forgets the token",
                )),
        )
        .operation(
            Operation::<HealthCheck>::new("Checks the credential")
                .client(EXAMPLE_API)
                .inline()
                .raw(health_check),
        )
        .operation(
            Operation::<DirectorySync>::new("Syncs users")
                .client(EXAMPLE_API)
                .reconcile()
                .ingests(["DirectoryAccount"])
                .ingest(directory_sync),
        )
        .mapping(
            MappingRegistration::new("DirectoryAccount")
                .filter("has(payload.id)")
                .map("{'externalID': string(payload.id)}"),
        )
        .webhook(webhook())
}
