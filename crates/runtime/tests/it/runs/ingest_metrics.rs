//! `tributary_ingested_records_total` by definition, model and outcome, as a scrape of
//! `/metrics` reads it after real ingest: runs of an operation that emits two models, and a
//! webhook event that ingests, on SQLite and PostgreSQL.

use std::time::Duration;

use crate::support::{self, Harness, spawn_worker};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    ConnectionRegistration, CredentialBindings, CredentialRegistration, Definition, DefinitionId,
    DefinitionSpec, InboundWebhook, IngestPayloadSet, MappingEnvelope, MappingRegistration,
    Operation, OperationContext, OperationError, Registry, Secret, StableName,
    registry::CoreChecksOnly,
};
use tributary_runtime::{ConnectOutcome, ConnectRequest, RunRequest, Runtime, RuntimeConfig};
use tributary_store::keystore::KeyRing;
use tributary_store::testing::{TestDb, each_backend};

/// A roster service's token.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RosterToken {
    token: Secret,
}

#[derive(StableName, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RosterCheck {}

/// Lists the people and teams given in its config, as a provider would list them from its API.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RosterSync {
    people: Vec<Value>,
    teams: Vec<Value>,
}

async fn roster_check(
    _ctx: OperationContext,
    _config: RosterCheck,
    credentials: CredentialBindings,
) -> Result<Value, OperationError> {
    let token = credentials.require::<RosterToken>()?;
    if token.token.expose().is_empty() {
        return Err(OperationError::config("an empty token"));
    }
    Ok(json!({"ok": true}))
}

async fn roster_sync(
    _ctx: OperationContext,
    config: RosterSync,
    _credentials: CredentialBindings,
) -> Result<Vec<IngestPayloadSet>, OperationError> {
    let envelopes = |items: Vec<Value>| items.into_iter().map(MappingEnvelope::new).collect();
    Ok(vec![
        IngestPayloadSet::new("DirectoryAccount", envelopes(config.people)),
        IngestPayloadSet::new("DirectoryGroup", envelopes(config.teams)),
    ])
}

fn roster() -> Definition {
    Definition::new(DefinitionSpec::new(DefinitionId::new("roster"), "Roster"))
        .credential(CredentialRegistration::form::<RosterToken>("Token", ""))
        .connection(
            ConnectionRegistration::new(RosterToken::NAME, "Token")
                .validation_operation(RosterCheck::NAME),
        )
        .operation(
            Operation::<RosterCheck>::new("Checks the token")
                .inline()
                .raw(roster_check),
        )
        .operation(
            Operation::<RosterSync>::new("Lists people and teams")
                .inline()
                .ingests(["DirectoryAccount", "DirectoryGroup"])
                .ingest(roster_sync),
        )
        .mapping(
            MappingRegistration::new("DirectoryAccount")
                .filter("payload.kind != 'bot'")
                .map(r#"{"externalID": payload.id, "status": payload.status}"#),
        )
        .mapping(
            MappingRegistration::new("DirectoryGroup")
                .map(r#"{"externalID": payload.id, "displayName": payload.name}"#),
        )
}

/// A runtime serving only the roster definition, with one tenant and a connected integration.
async fn roster_runtime(backend: &TestDb) -> (Runtime, String, String) {
    let registry = Registry::build(vec![roster()], &CoreChecksOnly).unwrap();
    let runtime = Runtime::new(
        registry,
        backend.db.clone(),
        KeyRing::generate(),
        RuntimeConfig::new("http://127.0.0.1:9"),
    );
    let tenant = backend.db.tenants().create("roster-corp").await.unwrap();
    let outcome = runtime
        .connect(ConnectRequest {
            tenant_id: tenant.id.clone(),
            definition_id: "roster".into(),
            connection: RosterToken::NAME.into(),
            credentials: [(RosterToken::NAME.to_owned(), json!({"token": "t0ken"}))].into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let ConnectOutcome::Connected(done) = outcome else {
        panic!("a token connection redirected")
    };
    (runtime, tenant.id, done.integration.id)
}

fn person(id: &str, status: &str) -> Value {
    json!({"id": id, "status": status, "kind": "person"})
}

fn team(id: &str) -> Value {
    json!({"id": id, "name": format!("Team {id}")})
}

async fn sync(runtime: &Runtime, tenant_id: &str, integration_id: &str, config: Value) {
    runtime
        .run_inline(RunRequest {
            tenant_id: tenant_id.to_owned(),
            integration_id: integration_id.to_owned(),
            operation: RosterSync::NAME.into(),
            config,
            workflow: None,
        })
        .await
        .unwrap();
}

/// The sample line of `tributary_ingested_records_total` for a model and outcome, if any.
fn ingested_line<'a>(
    text: &'a str,
    definition: &str,
    model: &str,
    outcome: &str,
) -> Option<&'a str> {
    let labels = format!(
        "tributary_ingested_records_total{{definition=\"{definition}\",model=\"{model}\",outcome=\"{outcome}\"}} "
    );
    text.lines().find(|line| line.starts_with(&labels))
}

#[each_backend]
async fn ingested_records_are_counted_by_model_and_outcome(backend: TestDb) {
    let (runtime, tenant_id, integration_id) = roster_runtime(&backend).await;
    // Two people written, one refused (an unknown status), one filtered out; two teams.
    sync(
        &runtime,
        &tenant_id,
        &integration_id,
        json!({
            "people": [
                person("p1", "ACTIVE"),
                person("p2", "enabled"),
                person("p3", "ACTIVE"),
                {"id": "bot1", "status": "ACTIVE", "kind": "bot"},
            ],
            "teams": [team("t1"), team("t2")],
        }),
    )
    .await;
    // A complete listing: p1 changed, p3 and t2 gone (tombstoned), t1 as it was.
    sync(
        &runtime,
        &tenant_id,
        &integration_id,
        json!({"people": [person("p1", "SUSPENDED")], "teams": [team("t1")]}),
    )
    .await;

    let text = runtime.render_metrics().await;
    let expected = [
        ("DirectoryAccount", "created", 2),
        ("DirectoryAccount", "updated", 1),
        ("DirectoryAccount", "failed", 1),
        ("DirectoryAccount", "filtered", 1),
        ("DirectoryAccount", "tombstoned", 1),
        ("DirectoryGroup", "created", 2),
        ("DirectoryGroup", "unchanged", 1),
        ("DirectoryGroup", "tombstoned", 1),
    ];
    for (model, outcome, records) in expected {
        assert_eq!(
                ingested_line(&text, "roster", model, outcome),
                Some(
                    format!(
                        "tributary_ingested_records_total{{definition=\"roster\",model=\"{model}\",outcome=\"{outcome}\"}} {records}"
                    )
                    .as_str()
                ),
                "{}: {model} {outcome}\n{text}",
                backend.name
            );
    }
    // Outcomes no record had get no series.
    for (model, outcome) in [
        ("DirectoryAccount", "unchanged"),
        ("DirectoryGroup", "updated"),
        ("DirectoryGroup", "failed"),
        ("DirectoryGroup", "filtered"),
    ] {
        assert_eq!(
            ingested_line(&text, "roster", model, outcome),
            None,
            "{text}"
        );
    }
    let series = text
        .lines()
        .filter(|line| line.starts_with("tributary_ingested_records_total{"))
        .count();
    assert_eq!(series, expected.len(), "{text}");
    for id in [&tenant_id, &integration_id] {
        assert!(!text.contains(id.as_str()), "an id became a label: {text}");
    }
}

#[each_backend]
async fn the_records_of_a_webhook_event_are_counted_by_model(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let done = support::connect_token(&h, "acme-model-token", None).await;
    let endpoint = &done.webhook_endpoints[0];
    let metrics = h.runtime.metrics();
    let created = [
        ("definition", "acme"),
        ("model", "DirectoryAccount"),
        ("outcome", "created"),
    ];
    let syncs = || metrics.counter("tributary_runs_total", &[]);
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    let body = json!({"type": "user.changed", "user": support::fake_api::user(7)});
    let delivery = format!("d-model-{}", tributary_store::new_id());
    h.runtime
        .receive_webhook(
            &endpoint.id,
            &InboundWebhook {
                method: "POST".into(),
                headers: vec![
                    (
                        "x-acme-secret".to_owned(),
                        endpoint.secret.expose().to_owned(),
                    ),
                    ("x-acme-delivery".to_owned(), delivery),
                ],
                query: Vec::new(),
                body: serde_json::to_vec(&body).unwrap(),
                received_at: 0,
            },
        )
        .await
        .unwrap();
    support::eventually(
        Duration::from_secs(10),
        "the event's record is counted",
        || async { metrics.counter("tributary_ingested_records_total", &created) == 1.0 },
    )
    .await;
    // The worker runs no reconcile schedule: the record came from the event, not a run.
    assert_eq!(syncs(), 0.0, "no run ingested");
    let _ = stop.send(());
    worker.await.unwrap();
    let text = h.runtime.render_metrics().await;
    assert!(
            text.contains(
                "tributary_ingested_records_total{definition=\"acme\",model=\"DirectoryAccount\",outcome=\"created\"} 1"
            ),
            "{text}"
        );
}
