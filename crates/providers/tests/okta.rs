//! The Okta definition against the fake Okta org on loopback, through the runtime's execution
//! path and the real ingest pipeline on SQLite.

use std::sync::Arc;

use serde_json::{Value, json};
use tributary_cel::CelEngine;
use tributary_core::{
    CredentialBindings, ErrorKind, IngestPayloadSet, IntegrationContext, OperationOutput, Registry,
    StableName,
};
use tributary_ingest::{Completeness, IngestContext, IngestOptions, Mapper, ingest_payload_sets};
use tributary_providers::{
    CatalogConfig,
    okta::{DirectorySync, HealthCheck, OktaApiToken},
    registry,
};
use tributary_runtime::{
    client_pool::ClientPool,
    execute::{Execution, Executor},
};
use tributary_testkit::okta::{FakeOkta, OktaOrg};

const TOKEN: &str = "00TestApiToken-abcdefghijklmnop";

fn test_registry() -> Registry {
    let config = CatalogConfig {
        definitions: [("okta".to_owned(), json!({"allowLoopbackOrgUrls": true}))].into(),
        public_url: None,
    };
    registry(&config).expect("the catalog is valid")
}

fn integration(org_url: &str, input: Value) -> IntegrationContext {
    let mut user_input = json!({ "orgUrl": org_url });
    user_input
        .as_object_mut()
        .unwrap()
        .extend(input.as_object().cloned().unwrap_or_default());
    IntegrationContext {
        tenant_id: "tenant-1".into(),
        integration_id: "integration-1".into(),
        definition_id: "okta",
        user_input,
        metadata: Value::Null,
    }
}

fn token(value: &str) -> CredentialBindings {
    CredentialBindings::new().with(OktaApiToken::NAME, json!({ "apiToken": value }))
}

async fn run(
    executor: &Executor,
    ctx: IntegrationContext,
    operation: &str,
    creds: CredentialBindings,
    version: i64,
) -> Result<OperationOutput, tributary_runtime::execute::ExecuteError> {
    executor
        .execute(Execution::detached(
            ctx,
            operation,
            json!({}),
            creds,
            version,
        ))
        .await
}

fn sets(output: OperationOutput) -> Vec<IngestPayloadSet> {
    match output {
        OperationOutput::Ingest(sets) => sets,
        other => panic!("expected ingest output, got {other:?}"),
    }
}

fn count(sets: &[IngestPayloadSet], schema: &str) -> usize {
    sets.iter()
        .filter(|s| s.schema == schema)
        .map(|s| s.envelopes.len())
        .sum()
}

#[tokio::test]
async fn health_check_reads_the_org_and_refuses_a_bad_token() {
    let okta = FakeOkta::start(OktaOrg::sample(3, 1), TOKEN).await.unwrap();
    let executor = Executor::new(test_registry(), Arc::new(ClientPool::default()));
    let ctx = integration(&okta.org_url(), json!({}));
    let out = run(&executor, ctx.clone(), HealthCheck::NAME, token(TOKEN), 1)
        .await
        .unwrap();
    let OperationOutput::Raw(value) = out else {
        panic!()
    };
    assert_eq!(value["login"], "admin@example.com");

    let err = run(&executor, ctx, HealthCheck::NAME, token("revoked-token"), 2)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    let message = err.to_string();
    assert!(!message.contains("revoked-token"), "{message}");
    assert!(message.contains("401"), "{message}");
}

#[tokio::test]
async fn org_urls_must_be_public_https_without_the_test_switch() {
    let okta = FakeOkta::start(OktaOrg::sample(1, 1), TOKEN).await.unwrap();
    let executor = Executor::new(
        registry(&CatalogConfig::default()).unwrap(),
        Arc::new(ClientPool::default()),
    );
    for org_url in [
        okta.org_url(),
        "https://10.0.0.8".into(),
        "http://acme.okta.com".into(),
    ] {
        let err = run(
            &executor,
            integration(&org_url, json!({})),
            HealthCheck::NAME,
            token(TOKEN),
            1,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{org_url}: {err}");
    }
    assert_eq!(
        okta.request_count(),
        0,
        "nothing was sent to a refused host"
    );
}

#[tokio::test]
async fn a_multi_page_sync_emits_every_user_group_and_membership() {
    let okta = FakeOkta::start(OktaOrg::sample(450, 3), TOKEN)
        .await
        .unwrap();
    let executor = Executor::new(test_registry(), Arc::new(ClientPool::default()));
    let out = run(
        &executor,
        integration(&okta.org_url(), json!({})),
        DirectorySync::NAME,
        token(TOKEN),
        1,
    )
    .await
    .unwrap();
    let sets = sets(out);
    assert_eq!(
        count(&sets, "DirectoryAccount"),
        450,
        "deprovisioned users included"
    );
    assert_eq!(count(&sets, "DirectoryGroup"), 3);
    assert_eq!(count(&sets, "DirectoryMembership"), 450);
    // 3 user pages, 1 group page, 3 member listings of 150 each (one page each).
    assert_eq!(okta.request_count(), 7);
}

#[tokio::test]
async fn a_search_narrows_users_and_their_memberships() {
    let okta = FakeOkta::start(OktaOrg::sample(30, 2), TOKEN)
        .await
        .unwrap();
    let executor = Executor::new(test_registry(), Arc::new(ClientPool::default()));
    let input = json!({ "search": "profile.department eq \"Sales\"" });
    let sets = sets(
        run(
            &executor,
            integration(&okta.org_url(), input),
            DirectorySync::NAME,
            token(TOKEN),
            1,
        )
        .await
        .unwrap(),
    );
    assert_eq!(count(&sets, "DirectoryAccount"), 10);
    assert_eq!(count(&sets, "DirectoryMembership"), 10);
}

#[tokio::test]
async fn a_throttled_sync_waits_for_the_reset_and_completes() {
    let okta = FakeOkta::start(OktaOrg::sample(250, 1), TOKEN)
        .await
        .unwrap();
    let executor = Executor::new(test_registry(), Arc::new(ClientPool::default()));
    okta.throttle_next(1);
    let sets = sets(
        run(
            &executor,
            integration(&okta.org_url(), json!({"syncGroups": false})),
            DirectorySync::NAME,
            token(TOKEN),
            1,
        )
        .await
        .unwrap(),
    );
    assert_eq!(count(&sets, "DirectoryAccount"), 250);
    assert_eq!(okta.request_count(), 3, "one 429, then two pages");
}

#[tokio::test]
async fn deletions_become_tombstones_on_the_next_complete_sync() {
    let okta = FakeOkta::start(OktaOrg::sample(40, 2), TOKEN)
        .await
        .unwrap();
    let registry = test_registry();
    let executor = Executor::new(registry.clone(), Arc::new(ClientPool::default()));
    let dir = tempfile::tempdir().unwrap();
    let db = tributary_store::Db::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let tenant = db.tenants().create("acme").await.unwrap();
    let row = db
        .integrations()
        .create(&tenant.id, "okta", "Okta", &json!({}))
        .await
        .unwrap();
    let definition = &registry.definition("okta").unwrap().definition;
    let engine = CelEngine::default();
    let contracts = &definition.operation_named("DirectorySync").unwrap().ingest;
    let mapper = Mapper::new(&engine, "okta", &definition.mappings, contracts).unwrap();
    let ingest_context = IngestContext {
        tenant_id: tenant.id.clone(),
        integration_id: row.id.clone(),
        run_id: None,
    };
    let mut ctx = integration(&okta.org_url(), json!({}));
    ctx.tenant_id = tenant.id.clone();
    ctx.integration_id = row.id.clone();

    let sync = || run(&executor, ctx.clone(), DirectorySync::NAME, token(TOKEN), 1);
    let first = sets(sync().await.unwrap());
    let report = ingest_payload_sets(
        &db,
        &mapper,
        &ingest_context,
        &first,
        Completeness::Complete,
        IngestOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.counters.created, 40 + 2 + 40, "{report:?}");
    assert_eq!(report.counters.failed, 0, "{report:?}");

    let gone = "00u00000000000000007";
    okta.remove_user(gone);
    let second = sets(sync().await.unwrap());
    let report = ingest_payload_sets(
        &db,
        &mapper,
        &ingest_context,
        &second,
        Completeness::Complete,
        IngestOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.counters.unchanged, 39 + 2 + 39, "{report:?}");
    assert_eq!(
        report.counters.tombstoned, 2,
        "the account and its membership: {report:?}"
    );
    db.close().await;
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/okta/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn mapping_goldens() {
    let registry = test_registry();
    let mappings = &registry.definition("okta").unwrap().definition.mappings;
    for name in ["user_active", "user_deprovisioned", "user_staged_minimal"] {
        let snapshot =
            tributary_ingest::kit::snapshot(mappings, "DirectoryAccount", "", &fixture(name));
        insta::assert_json_snapshot!(format!("okta_account_{name}"), snapshot);
    }
    let snapshot =
        tributary_ingest::kit::snapshot(mappings, "DirectoryGroup", "", &fixture("group"));
    insta::assert_json_snapshot!("okta_group", snapshot);
    let membership =
        json!({"group": {"id": "00g1emaKYZTWRYYRRTSK"}, "member": fixture("user_active")});
    let snapshot =
        tributary_ingest::kit::snapshot(mappings, "DirectoryMembership", "", &membership);
    insta::assert_json_snapshot!("okta_membership", snapshot);
}
