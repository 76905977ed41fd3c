//! Webhook intake at the runtime: fail-closed verification, handshakes, durable and deduplicated
//! deliveries processed by queued jobs, retries, replay, a restart between acknowledgement and
//! processing, unknown events, dispatch and teardown.

use crate::support;

use std::{sync::Arc, time::Duration};

use crate::support::{Harness, acme::handled, spawn_worker};
use serde_json::{Value, json};
use tributary_core::InboundWebhook;
use tributary_runtime::{ConnectOutcome, ConnectRequest, WebhookAck, WebhookRejection};
use tributary_store::testing::{TestDb, each_backend};
use tributary_store::{integrations::IntegrationStatus, webhooks::DeliveryStatus};

/// A connected integration with its webhook endpoint id and secret.
async fn connected(h: &Harness) -> (String, String, String) {
    let done = support::connect_token(h, "acme-hooks-token", None).await;
    let endpoint = &done.webhook_endpoints[0];
    (
        done.integration.id.clone(),
        endpoint.id.clone(),
        endpoint.secret.expose().to_owned(),
    )
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", tributary_store::new_id())
}

fn post(secret: &str, delivery: Option<&str>, body: &Value) -> InboundWebhook {
    let mut headers = vec![("x-acme-secret".to_owned(), secret.to_owned())];
    if let Some(delivery) = delivery {
        headers.push(("x-acme-delivery".to_owned(), delivery.to_owned()));
    }
    InboundWebhook {
        method: "POST".into(),
        headers,
        query: Vec::new(),
        body: serde_json::to_vec(body).unwrap(),
        received_at: 0,
    }
}

fn user_changed(n: usize, fail_times: u32) -> Value {
    json!({"type": "user.changed", "failTimes": fail_times, "user": support::fake_api::user(n)})
}

async fn delivery_status(h: &Harness, id: &str) -> DeliveryStatus {
    h.runtime
        .db()
        .webhooks(&h.ring)
        .get_delivery(&h.tenant_id, id)
        .await
        .unwrap()
        .unwrap()
        .status
}

/// Sends `body` to `endpoint` as the provider would, signed with `secret`; returns what
/// [`accepted`] reads of the answer.
async fn deliver(
    h: &Harness,
    endpoint: &str,
    secret: &str,
    delivery: Option<&str>,
    body: &Value,
) -> (String, bool, bool) {
    accepted(
        h.runtime
            .receive_webhook(endpoint, &post(secret, delivery, body))
            .await
            .unwrap(),
    )
}

/// Waits up to `timeout` for the delivery `id` to reach `status`.
async fn delivery_becomes(h: &Harness, id: &str, status: DeliveryStatus, timeout: Duration) {
    let what = format!("delivery {id} to be {status:?}");
    support::eventually(timeout, &what, || async {
        delivery_status(h, id).await == status
    })
    .await;
}

/// The delivery `id` ingested once, through an ingest run tied to it (`delivery:<id>`).
async fn assert_one_partial_ingest_run(h: &Harness, id: &str) {
    let ingest_runs = tributary_store::records::ingest_runs_of(
        h.runtime.db(),
        &h.tenant_id,
        &format!("delivery:{id}"),
    )
    .await
    .unwrap();
    assert_eq!(ingest_runs.len(), 1, "{ingest_runs:?}");
    assert_eq!(
        ingest_runs[0].status,
        tributary_store::records::IngestRunStatus::Partial
    );
}

async fn processed_at(h: &Harness, id: &str) -> Option<i64> {
    h.runtime
        .db()
        .webhooks(&h.ring)
        .get_delivery(&h.tenant_id, id)
        .await
        .unwrap()
        .unwrap()
        .processed_at
}

/// Installs the Acme app as `installation` through the install redirect and callback.
async fn install_app(h: &Harness, installation: u64) -> tributary_runtime::Connected {
    h.api.lock().installations.insert(installation);
    let ConnectOutcome::Redirect(redirect) = h
        .runtime
        .connect(ConnectRequest {
            tenant_id: h.tenant_id.clone(),
            definition_id: "acme".into(),
            user_input: Some(h.user_input()),
            connection: "AcmeInstallation".into(),
            ..Default::default()
        })
        .await
        .unwrap()
    else {
        panic!("an app install redirects")
    };
    let state = tributary_providerkit::Url::parse(&redirect.url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    h.runtime
        .complete_auth(tributary_core::CallbackParams::new(vec![
            ("installation_id".into(), installation.to_string()),
            ("setup_action".into(), "install".into()),
            ("state".into(), state),
        ]))
        .await
        .unwrap()
}

/// An event of `installation` at the Acme app's webhook, signed with the app's secret.
fn app_event(installation: u64, kind: &str, delivery: &str, fields: Value) -> InboundWebhook {
    let mut body = json!({"type": kind, "installation": {"id": installation}});
    if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    InboundWebhook {
        method: "POST".into(),
        headers: vec![
            (
                "x-acme-app-secret".into(),
                support::acme::APP_WEBHOOK_SECRET.into(),
            ),
            ("x-acme-delivery".into(), delivery.to_owned()),
        ],
        query: Vec::new(),
        body: serde_json::to_vec(&body).unwrap(),
        received_at: 0,
    }
}

fn accepted(ack: WebhookAck) -> (String, bool, bool) {
    match ack {
        WebhookAck::Accepted {
            delivery,
            duplicate,
            queued,
            ..
        } => (delivery, duplicate, queued),
        other => panic!("not accepted: {other:?}"),
    }
}

#[each_backend]
async fn verification_is_fail_closed_and_handshakes_are_answered(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let (_, endpoint, secret) = connected(&h).await;
    let body = user_changed(1, 0);
    // Every byte of the secret flipped, missing, empty: refused.
    for at in 0..secret.len() {
        let mut wrong = secret.clone().into_bytes();
        wrong[at] ^= 0x01;
        let wrong = String::from_utf8_lossy(&wrong).into_owned();
        let err = h
            .runtime
            .receive_webhook(&endpoint, &post(&wrong, None, &body))
            .await
            .unwrap_err();
        assert!(matches!(err, WebhookRejection::Unverified(_)), "{err}");
        assert!(!err.to_string().contains(&secret));
    }
    let mut missing = post(&secret, None, &body);
    missing.headers.clear();
    assert!(matches!(
        h.runtime
            .receive_webhook(&endpoint, &missing)
            .await
            .unwrap_err(),
        WebhookRejection::Unverified(_)
    ));
    assert!(matches!(
        h.runtime
            .receive_webhook("whe_unknown", &post(&secret, None, &body))
            .await
            .unwrap_err(),
        WebhookRejection::UnknownEndpoint
    ));
    // A verified body that is not an event is refused too.
    let mut garbage = post(&secret, None, &body);
    garbage.body = b"not json".to_vec();
    assert!(matches!(
        h.runtime
            .receive_webhook(&endpoint, &garbage)
            .await
            .unwrap_err(),
        WebhookRejection::Unverified(_)
    ));
    let handshake = InboundWebhook {
        method: "GET".into(),
        headers: vec![("x-acme-challenge".into(), "c-123".into())],
        query: Vec::new(),
        body: Vec::new(),
        received_at: 0,
    };
    let ack = h
        .runtime
        .receive_webhook(&endpoint, &handshake)
        .await
        .unwrap();
    assert_eq!(
        ack,
        WebhookAck::Handshake {
            status: 200,
            content_type: "application/json",
            body: r#"{"verification":"c-123"}"#.into()
        }
    );
    // Nothing refused was stored.
    let deliveries = h
        .runtime
        .db()
        .webhooks(&h.ring)
        .list_deliveries(&h.tenant_id, &endpoint, 10)
        .await
        .unwrap();
    assert!(deliveries.is_empty());
}

#[each_backend]
async fn a_delivery_is_processed_once_however_often_it_arrives(backend: TestDb) {
    let h = Arc::new(Harness::new(backend, None).await);
    let (integration, endpoint, secret) = connected(&h).await;
    let delivery = unique("d-once");
    let body = user_changed(9, 0);
    // 100 concurrent copies: exactly one is queued.
    let mut copies = Vec::new();
    for _ in 0..100 {
        let (h, endpoint, secret, delivery, body) = (
            Arc::clone(&h),
            endpoint.clone(),
            secret.clone(),
            delivery.clone(),
            body.clone(),
        );
        copies.push(tokio::spawn(async move {
            deliver(&h, &endpoint, &secret, Some(&delivery), &body).await
        }));
    }
    let mut queued = 0;
    let mut ids = std::collections::HashSet::new();
    for copy in copies {
        let (id, _, was_queued) = copy.await.unwrap();
        ids.insert(id);
        queued += usize::from(was_queued);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(queued, 1);
    // They arrived together, so they shared fsync'd commits (group commit).
    let metrics = h.runtime.metrics();
    let stored = metrics.counter("tributary_webhook_intake_deliveries_total", &[]);
    let commits = metrics.counter("tributary_webhook_intake_commits_total", &[]);
    assert_eq!(stored, 100.0);
    // Each request is counted by intake, by outcome, with its latency.
    let intake =
        |outcome| metrics.counter("tributary_webhook_requests_total", &[("outcome", outcome)]);
    assert!(intake("accepted") >= 1.0);
    assert!(intake("accepted") + intake("duplicate") >= 100.0);
    assert!(metrics.counter("tributary_webhook_request_duration_seconds_count", &[]) >= 100.0);
    assert!(
        commits <= stored / 4.0,
        "100 concurrent deliveries took {commits} commits"
    );
    let id = ids.into_iter().next().unwrap();
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    delivery_becomes(&h, &id, DeliveryStatus::Done, Duration::from_secs(10)).await;
    assert_eq!(handled(&delivery), 1);
    let records = support::records(&h, &integration, "DirectoryAccount").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].lookup_key, "u9");
    // A later redelivery of a done delivery is acknowledged and ignored.
    let (again, duplicate, queued) = deliver(&h, &endpoint, &secret, Some(&delivery), &body).await;
    assert_eq!(
        (again.as_str(), duplicate, queued),
        (id.as_str(), true, false)
    );
    // Without a delivery id the body hash deduplicates.
    let (a, _, _) = deliver(&h, &endpoint, &secret, None, &user_changed(8, 0)).await;
    let (b, duplicate, _) = deliver(&h, &endpoint, &secret, None, &user_changed(8, 0)).await;
    assert_eq!(a, b);
    assert!(duplicate);
    let _ = stop.send(());
    worker.await.unwrap();
}

#[each_backend]
async fn a_failing_handler_is_retried_ends_failed_and_is_processed_again_on_redelivery_or_replay(
    backend: TestDb,
) {
    let h = Harness::new(backend, None).await;
    let (_, endpoint, secret) = connected(&h).await;
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));

    // Fails twice, then succeeds: done after the third attempt.
    let flaky = unique("d-flaky");
    let (id, _, _) = deliver(&h, &endpoint, &secret, Some(&flaky), &user_changed(1, 2)).await;
    delivery_becomes(&h, &id, DeliveryStatus::Done, Duration::from_secs(15)).await;
    assert_eq!(handled(&flaky), 3);

    // Fails more often than the job's attempts: visibly failed.
    let broken = unique("d-broken");
    let body = user_changed(2, 6);
    let (id, _, _) = deliver(&h, &endpoint, &secret, Some(&broken), &body).await;
    delivery_becomes(&h, &id, DeliveryStatus::Failed, Duration::from_secs(20)).await;
    assert_eq!(handled(&broken), 5);
    let stored = h
        .runtime
        .db()
        .webhooks(&h.ring)
        .get_delivery(&h.tenant_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.last_error.unwrap().contains("handler failed"));
    // The provider redelivers it: processed again (one more failure, then it works).
    let (_, duplicate, queued) = deliver(&h, &endpoint, &secret, Some(&broken), &body).await;
    assert!(duplicate && queued);
    delivery_becomes(&h, &id, DeliveryStatus::Done, Duration::from_secs(10)).await;
    assert_eq!(handled(&broken), 7);

    // An operator replays a failed one.
    let replayed = unique("d-replay");
    let (id, _, _) = deliver(&h, &endpoint, &secret, Some(&replayed), &user_changed(3, 5)).await;
    delivery_becomes(&h, &id, DeliveryStatus::Failed, Duration::from_secs(20)).await;
    h.runtime
        .replay_delivery(&h.tenant_id, &id, false)
        .await
        .unwrap();
    delivery_becomes(&h, &id, DeliveryStatus::Done, Duration::from_secs(10)).await;
    assert!(
        h.runtime
            .replay_delivery(&h.tenant_id, &id, false)
            .await
            .is_err(),
        "done deliveries are not replayed without force"
    );
    // With force, a done delivery is processed again.
    let first = processed_at(&h, &id).await.expect("processed once");
    tokio::time::sleep(Duration::from_millis(5)).await;
    h.runtime
        .replay_delivery(&h.tenant_id, &id, true)
        .await
        .unwrap();
    support::eventually(
        Duration::from_secs(10),
        "the forced replay is done",
        || async {
            delivery_status(&h, &id).await == DeliveryStatus::Done
                && processed_at(&h, &id).await > Some(first)
        },
    )
    .await;
    assert!(
        h.runtime
            .replay_delivery("another-tenant", &id, false)
            .await
            .is_err()
    );
    let _ = stop.send(());
    worker.await.unwrap();
}

#[each_backend]
async fn a_delivery_acknowledged_before_a_crash_is_processed_after_restart(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let (integration, endpoint, secret) = connected(&h).await;
    let delivery = unique("d-restart");
    // Acknowledged; the process dies before any worker ran.
    let (id, _, queued) =
        deliver(&h, &endpoint, &secret, Some(&delivery), &user_changed(4, 0)).await;
    assert!(queued);
    assert_eq!(delivery_status(&h, &id).await, DeliveryStatus::Received);

    let restarted = h.second_process(None).await;
    let (stop, worker) = spawn_worker(&restarted, Duration::from_secs(30));
    delivery_becomes(&h, &id, DeliveryStatus::Done, Duration::from_secs(10)).await;
    assert_eq!(
        support::records(&h, &integration, "DirectoryAccount")
            .await
            .len(),
        1
    );
    // Its ingest run is tied to the delivery, so a later attempt could close it.
    assert_one_partial_ingest_run(&h, &id).await;
    let _ = stop.send(());
    worker.await.unwrap();
}

#[each_backend]
async fn unknown_events_are_recorded_dispatch_queues_runs_and_teardown_disconnects(
    backend: TestDb,
) {
    let h = Harness::new(backend, None).await;
    let (integration, endpoint, secret) = connected(&h).await;
    let (id, _, queued) = deliver(
        &h,
        &endpoint,
        &secret,
        Some(&unique("d-unknown")),
        &json!({"type": "billing.updated"}),
    )
    .await;
    assert!(!queued);
    let stored = h
        .runtime
        .db()
        .webhooks(&h.ring)
        .get_delivery(&h.tenant_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, DeliveryStatus::Done);
    assert_eq!(stored.event, "unhandled:billing.updated");

    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    let (id, _, _) = deliver(
        &h,
        &endpoint,
        &secret,
        Some(&unique("d-resync")),
        &json!({"type": "user.resync"}),
    )
    .await;
    support::eventually(
        Duration::from_secs(10),
        "the resync run finished",
        || async {
            let runs = h
                .runtime
                .list_runs(&h.tenant_id, &integration, 10)
                .await
                .unwrap();
            runs.iter().any(|r| {
                r.workflow == Some(json!({"webhookDelivery": id})) && r.status.is_terminal()
            })
        },
    )
    .await;

    let (id, _, _) = deliver(
        &h,
        &endpoint,
        &secret,
        Some(&unique("d-bye")),
        &json!({"type": "app.uninstalled"}),
    )
    .await;
    support::eventually(
        Duration::from_secs(10),
        "the integration is disconnected",
        || async {
            h.runtime
                .integration(&h.tenant_id, &integration)
                .await
                .unwrap()
                .status
                == IntegrationStatus::Disconnected
        },
    )
    .await;
    // The endpoint went with the connection; its delivery history stays, this one done.
    delivery_becomes(&h, &id, DeliveryStatus::Done, Duration::from_secs(10)).await;
    assert!(matches!(
        h.runtime
            .receive_webhook(&endpoint, &post(&secret, None, &user_changed(1, 0)))
            .await
            .unwrap_err(),
        WebhookRejection::UnknownEndpoint
    ));
    let _ = stop.send(());
    worker.await.unwrap();
}

#[each_backend]
async fn endpoints_are_listed_with_their_urls_and_secrets_rotate(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let (integration, endpoint, secret) = connected(&h).await;
    let listed = h
        .runtime
        .list_webhook_endpoints(&h.tenant_id, &integration)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    let own = listed.iter().find(|e| e.id == endpoint).unwrap();
    assert_eq!(
        own.url,
        format!("http://127.0.0.1:9/v1/webhooks/{endpoint}")
    );
    let app = listed.iter().find(|e| e.name == "acme_app").unwrap();
    assert_eq!(app.url, "http://127.0.0.1:9/v1/webhooks/apps/acme/acme_app");
    assert!(!serde_json::to_string(&listed).unwrap().contains(&secret));

    let rotated = h
        .runtime
        .rotate_webhook_secret(&h.tenant_id, &integration, &endpoint)
        .await
        .unwrap();
    let new_secret = rotated.secret.expose().to_owned();
    assert_ne!(new_secret, secret);
    let body = user_changed(1, 0);
    assert!(matches!(
        h.runtime
            .receive_webhook(&endpoint, &post(&secret, None, &body))
            .await
            .unwrap_err(),
        WebhookRejection::Unverified(_)
    ));
    deliver(&h, &endpoint, &new_secret, None, &body).await;
    assert!(
        h.runtime
            .rotate_webhook_secret("another-tenant", &integration, &endpoint)
            .await
            .is_err()
    );
}

#[each_backend]
async fn intake_caches_endpoints_briefly_and_sees_another_processs_changes(backend: TestDb) {
    use tributary_store::intake_cache::INTAKE_CACHE_TTL;

    let h = Harness::new(backend, None).await;
    let (integration, endpoint, secret) = connected(&h).await;
    // Warms intake's cache with the endpoint and its secret.
    accepted(
        h.runtime
            .receive_webhook(&endpoint, &post(&secret, None, &user_changed(1, 0)))
            .await
            .unwrap(),
    );

    // Another process rotates the secret. A sender already on the new secret is accepted at
    // once: the cached secret does not verify, so intake reads the endpoint again.
    let other = h.second_process(None).await;
    let new_secret = other
        .rotate_webhook_secret(&h.tenant_id, &integration, &endpoint)
        .await
        .unwrap()
        .secret
        .expose()
        .to_owned();
    accepted(
        h.runtime
            .receive_webhook(&endpoint, &post(&new_secret, None, &user_changed(2, 0)))
            .await
            .unwrap(),
    );
    // That read refreshed the cache: the old secret no longer verifies.
    assert!(matches!(
        h.runtime
            .receive_webhook(&endpoint, &post(&secret, None, &user_changed(3, 0)))
            .await
            .unwrap_err(),
        WebhookRejection::Unverified(_)
    ));

    // Another process disables the endpoint: intake refuses it within the cache's lifetime.
    other
        .db()
        .webhooks(&h.ring)
        .set_enabled(&h.tenant_id, &endpoint, false)
        .await
        .unwrap();
    tokio::time::sleep(INTAKE_CACHE_TTL).await;
    assert!(matches!(
        h.runtime
            .receive_webhook(&endpoint, &post(&new_secret, None, &user_changed(4, 0)))
            .await
            .unwrap_err(),
        WebhookRejection::UnknownEndpoint
    ));

    // A change made in this process is seen at once, with no wait.
    h.runtime
        .db()
        .webhooks(&h.ring)
        .set_enabled(&h.tenant_id, &endpoint, true)
        .await
        .unwrap();
    accepted(
        h.runtime
            .receive_webhook(&endpoint, &post(&new_secret, None, &user_changed(5, 0)))
            .await
            .unwrap(),
    );
    h.runtime
        .db()
        .webhooks(&h.ring)
        .set_enabled(&h.tenant_id, &endpoint, false)
        .await
        .unwrap();
    assert!(matches!(
        h.runtime
            .receive_webhook(&endpoint, &post(&new_secret, None, &user_changed(6, 0)))
            .await
            .unwrap_err(),
        WebhookRejection::UnknownEndpoint
    ));
}

#[each_backend]
async fn app_level_webhooks_are_routed_to_the_installation_they_name(backend: TestDb) {
    use support::acme::APP_WEBHOOK_SECRET;

    let h = Harness::new(backend, None).await;
    let connected = install_app(&h, 777).await;
    let integration = connected.integration.id.clone();
    // The app webhook has one URL for all installations: no per-integration secret is shown.
    assert!(
        connected
            .webhook_endpoints
            .iter()
            .all(|e| e.name != "acme_app")
    );

    let app_post = |secret: &str, installation: u64, kind: &str, delivery: &str| InboundWebhook {
        method: "POST".into(),
        headers: vec![
            ("x-acme-app-secret".into(), secret.to_owned()),
            ("x-acme-delivery".into(), delivery.to_owned()),
        ],
        query: Vec::new(),
        body: serde_json::to_vec(&json!({
            "type": kind,
            "installation": {"id": installation},
            "user": support::fake_api::user(5),
        }))
        .unwrap(),
        received_at: 0,
    };
    assert!(matches!(
        h.runtime
            .receive_app_webhook(
                "acme",
                "acme_app",
                &app_post("wrong", 777, "installation.user_changed", "x")
            )
            .await
            .unwrap_err(),
        WebhookRejection::Unverified(_)
    ));
    assert!(matches!(
        h.runtime
            .receive_app_webhook(
                "acme",
                "acme_events",
                &app_post(APP_WEBHOOK_SECRET, 777, "installation.user_changed", "x")
            )
            .await
            .unwrap_err(),
        WebhookRejection::UnknownEndpoint
    ));
    let ignored = h
        .runtime
        .receive_app_webhook(
            "acme",
            "acme_app",
            &app_post(
                APP_WEBHOOK_SECRET,
                999,
                "installation.user_changed",
                &unique("d-other"),
            ),
        )
        .await
        .unwrap();
    assert!(matches!(ignored, WebhookAck::Ignored { .. }), "{ignored:?}");

    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    let (id, _, queued) = accepted(
        h.runtime
            .receive_app_webhook(
                "acme",
                "acme_app",
                &app_post(
                    APP_WEBHOOK_SECRET,
                    777,
                    "installation.user_changed",
                    &unique("d-app"),
                ),
            )
            .await
            .unwrap(),
    );
    assert!(queued);
    delivery_becomes(&h, &id, DeliveryStatus::Done, Duration::from_secs(10)).await;
    assert_eq!(
        support::records(&h, &integration, "DirectoryAccount")
            .await
            .len(),
        1
    );
    // Its ingest run is tied to the delivery, so a later attempt could close it.
    assert_one_partial_ingest_run(&h, &id).await;

    accepted(
        h.runtime
            .receive_app_webhook(
                "acme",
                "acme_app",
                &app_post(
                    APP_WEBHOOK_SECRET,
                    777,
                    "installation.deleted",
                    &unique("d-deleted"),
                ),
            )
            .await
            .unwrap(),
    );
    support::eventually(
        Duration::from_secs(10),
        "the installation is disconnected",
        || async {
            h.runtime
                .integration(&h.tenant_id, &integration)
                .await
                .unwrap()
                .status
                == IntegrationStatus::Disconnected
        },
    )
    .await;
    let _ = stop.send(());
    worker.await.unwrap();
}

/// Disconnecting removes the integration's endpoints, not its delivery history: a delivery not
/// yet processed is kept, ends `failed` with the reason, stays listable by integration, and a
/// replay says why it cannot run.
#[each_backend]
async fn deliveries_outlive_a_disconnect_kept_listable_and_not_processed(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let (integration, endpoint, secret) = connected(&h).await;
    let (id, _, queued) = deliver(
        &h,
        &endpoint,
        &secret,
        Some(&unique("d-outlive")),
        &user_changed(6, 0),
    )
    .await;
    assert!(queued);
    h.runtime
        .disconnect(&h.tenant_id, &integration)
        .await
        .unwrap();
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    delivery_becomes(&h, &id, DeliveryStatus::Failed, Duration::from_secs(10)).await;
    let kept = h
        .runtime
        .db()
        .webhooks(&h.ring)
        .list_tenant_deliveries(&h.tenant_id, Some(&integration), None, 10)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, id);
    assert!(
        kept[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("endpoint was removed")),
        "{:?}",
        kept[0].last_error
    );
    assert!(
        support::records(&h, &integration, "DirectoryAccount")
            .await
            .is_empty(),
        "not processed"
    );
    let refused = h
        .runtime
        .replay_delivery(&h.tenant_id, &id, true)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("endpoint was removed"),
        "{refused}"
    );
    let _ = stop.send(());
    worker.await.unwrap();
}

/// The integration's status and its reason.
async fn status_of(h: &Harness, integration: &str) -> (IntegrationStatus, Option<String>) {
    let found = h
        .runtime
        .integration(&h.tenant_id, integration)
        .await
        .unwrap();
    (found.status, found.status_reason)
}

/// The runs that the delivery `delivery` queued.
async fn runs_queued_by(h: &Harness, integration: &str, delivery: &str) -> Vec<String> {
    h.runtime
        .list_runs(&h.tenant_id, integration, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|run| run.workflow == Some(json!({"webhookDelivery": delivery})))
        .map(|run| run.operation)
        .collect()
}

/// Receives `event` at the Acme app's webhook and waits until its delivery is processed.
async fn deliver_app_event(h: &Harness, event: &InboundWebhook) -> String {
    let (id, duplicate, queued) = accepted(
        h.runtime
            .receive_app_webhook("acme", "acme_app", event)
            .await
            .unwrap(),
    );
    assert!(!duplicate && queued);
    delivery_becomes(h, &id, DeliveryStatus::Done, Duration::from_secs(10)).await;
    id
}

/// The provider suspends an installation: the integration is `suspended` with who did it, its
/// schedules stop (a due reconcile queues nothing), manual runs are refused, and its deliveries
/// are still taken; the provider's resume connects it again and queues its sync.
#[each_backend]
async fn a_suspended_installation_stops_its_schedules_until_the_provider_resumes_it(
    backend: TestDb,
) {
    let h = Harness::new(backend, None).await;
    let integration = install_app(&h, 778).await.integration.id;
    assert_eq!(support::schedules_enabled(&h, &integration).await, [true]);
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));

    deliver_app_event(
        &h,
        &app_event(
            778,
            "installation.suspend",
            &unique("d-suspend"),
            json!({"suspended_by": "org-admin"}),
        ),
    )
    .await;
    let (status, reason) = status_of(&h, &integration).await;
    assert_eq!(status, IntegrationStatus::Suspended);
    assert_eq!(reason.as_deref(), Some("suspended by org-admin"));
    assert_eq!(support::schedules_enabled(&h, &integration).await, [false]);
    // The first connection scheduled the sync for right away; suspended, it is not queued.
    assert_eq!(h.runtime.reconcile_tick().await.unwrap(), 0);
    let refused = h
        .runtime
        .queue_run(tributary_runtime::RunRequest {
            tenant_id: h.tenant_id.clone(),
            integration_id: integration.clone(),
            operation: "DirectorySync".into(),
            config: json!({}),
            workflow: None,
        })
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("suspended") && refused.to_string().contains("org-admin"),
        "{refused}"
    );
    assert!(
        h.runtime
            .list_runs(&h.tenant_id, &integration, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Its events are still taken and processed: what they carry is ingested.
    let id = deliver_app_event(
        &h,
        &app_event(
            778,
            "installation.user_changed",
            &unique("d-suspended-user"),
            json!({"user": support::fake_api::user(8)}),
        ),
    )
    .await;
    assert_one_partial_ingest_run(&h, &id).await;

    let id = deliver_app_event(
        &h,
        &app_event(
            778,
            "installation.unsuspend",
            &unique("d-unsuspend"),
            json!({}),
        ),
    )
    .await;
    assert_eq!(
        status_of(&h, &integration).await,
        (IntegrationStatus::Connected, None)
    );
    assert_eq!(support::schedules_enabled(&h, &integration).await, [true]);
    assert_eq!(
        runs_queued_by(&h, &integration, &id).await,
        ["DirectorySync"]
    );
    let _ = stop.send(());
    worker.await.unwrap();
}

/// A resume moves only a suspended integration: one the provider never suspended is left as it
/// was (no sync queued), and a suspended one that was disconnected stays disconnected.
#[each_backend]
async fn a_resume_changes_only_a_suspended_integration(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let integration = install_app(&h, 779).await.integration.id;
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));

    let id = deliver_app_event(
        &h,
        &app_event(779, "installation.unsuspend", &unique("d-stale"), json!({})),
    )
    .await;
    assert_eq!(
        status_of(&h, &integration).await,
        (IntegrationStatus::Connected, None)
    );
    assert_eq!(support::schedules_enabled(&h, &integration).await, [true]);
    assert!(runs_queued_by(&h, &integration, &id).await.is_empty());

    deliver_app_event(
        &h,
        &app_event(
            779,
            "installation.suspend",
            &unique("d-suspend"),
            json!({"suspended_by": "org-admin"}),
        ),
    )
    .await;
    assert_eq!(
        status_of(&h, &integration).await.0,
        IntegrationStatus::Suspended
    );
    h.runtime
        .disconnect(&h.tenant_id, &integration)
        .await
        .unwrap();
    let ack = h
        .runtime
        .receive_app_webhook(
            "acme",
            "acme_app",
            &app_event(779, "installation.unsuspend", &unique("d-late"), json!({})),
        )
        .await
        .unwrap();
    assert!(matches!(ack, WebhookAck::Ignored { .. }), "{ack:?}");
    assert_eq!(
        status_of(&h, &integration).await.0,
        IntegrationStatus::Disconnected
    );
    assert!(
        support::schedules_enabled(&h, &integration)
            .await
            .is_empty()
    );
    assert!(
        h.runtime
            .list_runs(&h.tenant_id, &integration, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let _ = stop.send(());
    worker.await.unwrap();
}

/// A worker that resumed the integration and died before queueing the resume's sync: the next
/// attempt finds the integration resumed already and still queues the sync.
#[each_backend]
async fn a_resume_interrupted_after_its_change_still_queues_its_sync(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let integration = install_app(&h, 780).await.integration.id;
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    deliver_app_event(
        &h,
        &app_event(
            780,
            "installation.suspend",
            &unique("d-suspend"),
            json!({"suspended_by": "org-admin"}),
        ),
    )
    .await;
    let _ = stop.send(());
    worker.await.unwrap();

    let (id, _, queued) = accepted(
        h.runtime
            .receive_app_webhook(
                "acme",
                "acme_app",
                &app_event(
                    780,
                    "installation.unsuspend",
                    &unique("d-resume"),
                    json!({}),
                ),
            )
            .await
            .unwrap(),
    );
    assert!(queued);
    // The first attempt takes the job, commits the resume, and its worker dies.
    let queue = h.runtime.config().queue.clone();
    let claimed = h
        .runtime
        .db()
        .jobs()
        .claim(&queue, "worker-that-dies", 10, Duration::from_millis(1))
        .await
        .unwrap();
    assert!(
        claimed
            .iter()
            .any(|job| job.kind == tributary_runtime::WEBHOOK_JOB_KIND
                && job.payload["deliveryId"] == id.as_str()),
        "{claimed:?}"
    );
    let mut tx = h.runtime.db().begin().await.unwrap();
    assert!(
        tx.integrations()
            .change_status(
                &h.tenant_id,
                &integration,
                IntegrationStatus::Suspended,
                IntegrationStatus::Connected,
                None,
            )
            .await
            .unwrap()
    );
    tx.schedules()
        .set_enabled(&h.tenant_id, &integration, true)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(h.runtime.db().jobs().reap_expired().await.unwrap() >= 1);

    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    delivery_becomes(&h, &id, DeliveryStatus::Done, Duration::from_secs(10)).await;
    assert_eq!(
        runs_queued_by(&h, &integration, &id).await,
        ["DirectorySync"]
    );
    let _ = stop.send(());
    worker.await.unwrap();
}
