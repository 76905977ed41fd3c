//! The execution path: config validation, pooled clients, typed handlers.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    ClientRef, ClientRegistration, ConnectionRegistration, CredentialBindings,
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, ErrorKind,
    IntegrationContext, Operation, OperationContext, OperationError, OperationOutput, Registry,
    Secret, StableName, registry::CoreChecksOnly,
};
use tributary_runtime::{
    client_pool::ClientPool,
    execute::{ExecuteError, Execution, Executor},
};

#[derive(StableName, Deserialize, JsonSchema)]
struct PingToken {
    token: Secret,
}

#[derive(StableName, Deserialize, JsonSchema)]
struct Ping {
    /// Echoed back.
    #[serde(default)]
    message: Option<String>,
}

struct PingApi {
    token_seen: String,
    build_number: usize,
}

const PING_API: ClientRef<PingApi> = ClientRef::new("ping_api");

async fn ping(
    _ctx: OperationContext,
    config: Ping,
    api: &PingApi,
    creds: CredentialBindings,
) -> Result<Value, OperationError> {
    Ok(json!({
        "message": config.message,
        "build": api.build_number,
        "tokenLength": api.token_seen.len(),
        "slots": creds.slots().count(),
    }))
}

fn registry(builds: Arc<AtomicUsize>) -> Registry {
    let def = Definition::new(DefinitionSpec::new(DefinitionId::new("ping"), "Ping"))
        .credential(CredentialRegistration::form::<PingToken>("Token", ""))
        .client(ClientRegistration::new(
            PING_API,
            "",
            [PingToken::NAME],
            move |request| {
                let builds = Arc::clone(&builds);
                async move {
                    let token = request.credentials.require::<PingToken>()?;
                    Ok(PingApi {
                        token_seen: token.token.expose().to_owned(),
                        build_number: builds.fetch_add(1, Ordering::SeqCst) + 1,
                    })
                }
            },
        ))
        .connection(
            ConnectionRegistration::new(PingToken::NAME, "Token")
                .clients([PING_API.id()])
                .validation_operation(Ping::NAME),
        )
        .operation(
            Operation::<Ping>::new("Pings")
                .client(PING_API)
                .inline()
                .raw(ping),
        );
    Registry::build(vec![def], &CoreChecksOnly).unwrap()
}

fn integration(id: &str) -> IntegrationContext {
    IntegrationContext {
        integration_id: id.into(),
        tenant_id: "t1".into(),
        ..IntegrationContext::detached("ping")
    }
}

fn creds(token: &str) -> CredentialBindings {
    CredentialBindings::new().with(PingToken::NAME, json!({ "token": token }))
}

/// An executor of the test registry with an empty client pool; `builds` counts client builds.
fn executor(builds: &Arc<AtomicUsize>) -> Executor {
    Executor::new(
        registry(Arc::clone(builds)),
        Arc::new(ClientPool::default()),
    )
}

#[tokio::test]
async fn clients_are_reused_until_the_credential_version_changes() {
    let builds = Arc::new(AtomicUsize::new(0));
    let executor = executor(&builds);
    let run = |version: i64, token: &str| {
        Execution::detached(
            integration("i1"),
            "Ping",
            json!({"message": "hi"}),
            creds(token),
            version,
        )
    };
    for _ in 0..3 {
        let out = executor.execute(run(1, "abc")).await.unwrap();
        assert_eq!(
            out,
            OperationOutput::Raw(
                json!({"message": "hi", "build": 1, "tokenLength": 3, "slots": 1})
            )
        );
    }
    let out = executor.execute(run(2, "abcdef")).await.unwrap();
    let OperationOutput::Raw(value) = out else {
        panic!()
    };
    assert_eq!(value["build"], 2);
    assert_eq!(value["tokenLength"], 6);
    assert_eq!(builds.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn invalid_config_is_refused_before_anything_runs() {
    let builds = Arc::new(AtomicUsize::new(0));
    let executor = executor(&builds);
    let err = executor
        .execute(Execution::detached(
            integration("i1"),
            "Ping",
            json!({"message": 5, "extra": true}),
            creds("abc"),
            1,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecuteError::InvalidConfig { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(builds.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unknown_operations_and_missing_credentials_are_config_errors() {
    let executor = executor(&Arc::new(AtomicUsize::new(0)));
    let err = executor
        .execute(Execution::detached(
            integration("i1"),
            "Pong",
            Value::Null,
            creds("a"),
            1,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecuteError::UnknownOperation { .. }));
    let err = executor
        .execute(Execution::detached(
            integration("i2"),
            "Ping",
            Value::Null,
            CredentialBindings::new(),
            1,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("PingToken"), "{err}");
}
