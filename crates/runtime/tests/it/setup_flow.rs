//! The setup flow with direct credentials: each branch, on SQLite and PostgreSQL, against the fake
//! Acme API on loopback.

use std::collections::BTreeMap;

use crate::support::Harness;
use serde_json::{Value, json};
use tributary_core::ErrorKind;
use tributary_runtime::{ConnectOutcome, ConnectRequest, Connected, RuntimeError, SetupStep};
use tributary_store::integrations::IntegrationStatus;
use tributary_store::testing::{TestDb, each_backend};

const TOKEN: &str = "acme-token-ABCDEF123456";

fn token_request(h: &Harness, token: &str) -> ConnectRequest {
    ConnectRequest {
        tenant_id: h.tenant_id.clone(),
        integration_id: None,
        definition_id: "acme".into(),
        name: Some("Acme prod".into()),
        user_input: Some(h.user_input()),
        connection: "AcmeToken".into(),
        credentials: BTreeMap::from([("AcmeToken".to_owned(), json!({ "token": token }))]),
    }
}

fn connected(outcome: ConnectOutcome) -> Connected {
    match outcome {
        ConnectOutcome::Connected(connected) => *connected,
        ConnectOutcome::Redirect(r) => panic!("expected a connection, got a redirect to {}", r.url),
    }
}

async fn counts(h: &Harness, integration_id: &str) -> (usize, usize, usize) {
    let db = h.runtime.db();
    let credentials = db
        .credentials(&h.ring)
        .list(&h.tenant_id, integration_id)
        .await
        .unwrap()
        .len();
    let endpoints = db
        .webhooks(&h.ring)
        .list_endpoints(&h.tenant_id, integration_id)
        .await
        .unwrap()
        .len();
    let schedules = db
        .schedules()
        .list(&h.tenant_id, integration_id)
        .await
        .unwrap()
        .len();
    (credentials, endpoints, schedules)
}

#[each_backend]
async fn a_valid_token_connects_and_the_first_connection_sets_up_webhooks_and_schedules(
    backend: TestDb,
) {
    let h = Harness::new(backend, None).await;
    h.api.accept_token(TOKEN);
    let done = connected(h.runtime.connect(token_request(&h, TOKEN)).await.unwrap());
    let integration = &done.integration;
    assert_eq!(integration.status, IntegrationStatus::Connected);
    assert_eq!(integration.name, "Acme prod");
    assert_eq!(integration.provider_state["connection"], "AcmeToken");
    assert_eq!(integration.metadata["externalId"], "org-42");
    assert_eq!(integration.metadata["externalName"], "Acme Org");
    assert_eq!(done.scheduled, ["DirectorySync"]);
    assert_eq!(done.webhook_endpoints.len(), 1);
    let endpoint = &done.webhook_endpoints[0];
    assert_eq!(endpoint.name, "acme_events");
    assert_eq!(
        endpoint.url,
        format!("http://127.0.0.1:9/v1/webhooks/{}", endpoint.id)
    );
    assert!(endpoint.secret.expose().starts_with("whsec_"));
    // The secret is shown in the one response, never in Debug output.
    assert!(!format!("{done:?}").contains(endpoint.secret.expose()));
    // Its own endpoint, and the app webhook's (which holds its deliveries).
    assert_eq!(counts(&h, &integration.id).await, (1, 2, 1));
    let stored = h.stored_credential(&integration.id, "AcmeToken").await;
    assert_eq!(
        stored.secret.expose_json().unwrap(),
        json!({"token": TOKEN})
    );
    assert_eq!(h.api.lock().me_calls, 2, "health check + metadata");
}

#[each_backend]
async fn a_rejected_token_leaves_nothing_half_saved_and_names_the_step(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let err = h
        .runtime
        .connect(token_request(&h, TOKEN))
        .await
        .unwrap_err();
    assert_eq!(err.step(), Some(SetupStep::ValidationOperation), "{err}");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("validation_operation"), "{err}");
    assert!(!err.to_string().contains(TOKEN), "{err}");
    let integrations = h
        .runtime
        .db()
        .integrations()
        .list(&h.tenant_id, None)
        .await
        .unwrap();
    // A first connection that fails leaves no integration behind.
    assert!(integrations.is_empty());

    // Reconnecting an existing integration with a bad token keeps it as it was.
    h.api.accept_token("acme-good-token-0");
    let mut good = token_request(&h, "acme-good-token-0");
    good.name = None;
    let done = connected(h.runtime.connect(good).await.unwrap());
    let mut bad = token_request(&h, TOKEN);
    bad.integration_id = Some(done.integration.id.clone());
    let err = h.runtime.connect(bad).await.unwrap_err();
    assert_eq!(err.step(), Some(SetupStep::ValidationOperation));
    let integration = h
        .runtime
        .integration(&h.tenant_id, &done.integration.id)
        .await
        .unwrap();
    assert_eq!(integration.status, IntegrationStatus::Connected);
    assert_eq!(integration.metadata, done.integration.metadata);
    let stored = h.stored_credential(&integration.id, "AcmeToken").await;
    assert_eq!(stored.version, 1, "the bad token was not saved");
    assert_eq!(counts(&h, &integration.id).await, (1, 2, 1));
}

#[each_backend]
async fn bad_input_is_refused_before_anything_is_written(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    h.api.accept_token(TOKEN);
    let mut no_url = token_request(&h, TOKEN);
    no_url.user_input = Some(json!({"baseUrl": 7}));
    let err = h.runtime.connect(no_url).await.unwrap_err();
    assert_eq!(err.step(), Some(SetupStep::ValidateUserInput), "{err}");

    let mut unknown_mode = token_request(&h, TOKEN);
    unknown_mode.connection = "AcmeCertificate".into();
    let err = h.runtime.connect(unknown_mode).await.unwrap_err();
    assert_eq!(err.step(), Some(SetupStep::ResolveConnection), "{err}");

    let mut wrong_shape = token_request(&h, TOKEN);
    wrong_shape.credentials =
        BTreeMap::from([("AcmeToken".to_owned(), json!({"token": TOKEN, "extra": 1}))]);
    let err = h.runtime.connect(wrong_shape).await.unwrap_err();
    assert_eq!(err.step(), Some(SetupStep::ValidateCredential), "{err}");
    assert!(!err.to_string().contains(TOKEN), "{err}");

    let mut missing = token_request(&h, TOKEN);
    missing.credentials.clear();
    let err = h.runtime.connect(missing).await.unwrap_err();
    assert_eq!(err.step(), Some(SetupStep::ValidateCredential), "{err}");

    let mut other_tenant = token_request(&h, TOKEN);
    other_tenant.tenant_id = "not-a-tenant".into();
    assert!(matches!(
        h.runtime.connect(other_tenant).await.unwrap_err(),
        RuntimeError::NotFound(_)
    ));
}

#[each_backend]
async fn a_broken_filter_expr_is_refused_on_every_path_that_saves_user_input(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    h.api.accept_token(TOKEN);
    let mut broken = h.user_input();
    broken["filterExpr"] = json!("payload.active &&");
    let refused = |err: RuntimeError| {
        assert_eq!(err.step(), Some(SetupStep::ValidateUserInput), "{err}");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        let message = err.to_string();
        assert!(
            message.contains("`filterExpr` is not a valid CEL filter")
                && message.contains(" at 1:"),
            "{message}"
        );
    };
    refused(
        h.runtime
            .create_integration(&h.tenant_id, "acme", None, &broken)
            .await
            .unwrap_err(),
    );
    let mut first = token_request(&h, TOKEN);
    first.user_input = Some(broken.clone());
    refused(h.runtime.connect(first).await.unwrap_err());
    let saved = h
        .runtime
        .db()
        .integrations()
        .list(&h.tenant_id, None)
        .await
        .unwrap();
    assert!(saved.is_empty(), "{saved:?}");

    let id = connected(h.runtime.connect(token_request(&h, TOKEN)).await.unwrap())
        .integration
        .id;
    refused(
        h.runtime
            .update_user_input(&h.tenant_id, &id, &broken)
            .await
            .unwrap_err(),
    );
    let mut reconnect = token_request(&h, TOKEN);
    reconnect.integration_id = Some(id.clone());
    reconnect.user_input = Some(broken);
    refused(h.runtime.connect(reconnect).await.unwrap_err());
    let stored = h.runtime.integration(&h.tenant_id, &id).await.unwrap();
    assert_eq!(stored.user_input, h.user_input());
}

#[each_backend]
async fn reconnecting_updates_in_place_and_user_input_updates_keep_metadata(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    h.api.accept_token(TOKEN);
    let first = connected(h.runtime.connect(token_request(&h, TOKEN)).await.unwrap());
    let id = first.integration.id.clone();

    let mut input = h.user_input();
    input["filterExpr"] = json!("payload.active");
    let updated = h
        .runtime
        .update_user_input(&h.tenant_id, &id, &input)
        .await
        .unwrap();
    assert_eq!(updated.user_input["filterExpr"], "payload.active");
    assert_eq!(updated.metadata, first.integration.metadata);
    assert_eq!(updated.status, IntegrationStatus::Connected);
    let err = h
        .runtime
        .update_user_input(&h.tenant_id, &id, &json!({"nope": true}))
        .await
        .unwrap_err();
    assert_eq!(err.step(), Some(SetupStep::ValidateUserInput));

    let second_token = "acme-token-rotated-999";
    h.api.accept_token(second_token);
    let mut again = token_request(&h, second_token);
    again.integration_id = Some(id.clone());
    again.user_input = None;
    let second = connected(h.runtime.connect(again).await.unwrap());
    assert_eq!(second.integration.id, id);
    assert_eq!(
        second.integration.user_input["filterExpr"],
        "payload.active"
    );
    assert!(second.webhook_endpoints.is_empty(), "kept, not recreated");
    assert!(second.scheduled.is_empty(), "kept, not duplicated");
    assert_eq!(counts(&h, &id).await, (1, 2, 1));
    let info = h.credential_info(&id, "AcmeToken").await;
    assert_eq!(info.version, 2);
    let integrations = h
        .runtime
        .db()
        .integrations()
        .list(&h.tenant_id, None)
        .await
        .unwrap();
    assert_eq!(integrations.len(), 1);
    let _: Value = serde_json::to_value(&second).unwrap();
}
