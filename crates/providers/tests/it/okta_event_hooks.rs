//! Okta event hooks through the whole runtime, on SQLite and PostgreSQL: the one-time
//! verification, authenticated deliveries, refused ones, and a directory change queueing a sync
//! that brings the change in.

use std::time::Duration;

use serde_json::json;
use tributary_core::InboundWebhook;
use tributary_runtime::{ConnectOutcome, WebhookAck, WebhookRejection};
use tributary_store::{
    runs::RunStatus,
    testing::{TestDb, each_backend},
};
use tributary_testkit::{
    okta::{FakeOkta, OktaOrg},
    okta_events::user_event_delivery,
};

use crate::harness::{Harness, start_worker};

const TOKEN: &str = "00okta-event-hook-test-token";

fn request(method: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> InboundWebhook {
    InboundWebhook {
        method: method.to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        body: if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        },
        ..Default::default()
    }
}

#[each_backend]
async fn event_hooks_verify_authenticate_and_queue_a_sync(backend: TestDb) {
    let okta = FakeOkta::start(OktaOrg::sample(5, 2), TOKEN).await.unwrap();
    let operator = json!({"allowLoopbackOrgUrls": true});
    let h = Harness::start(backend, okta, "okta", operator).await;
    let (runtime, tenant) = (&h.runtime, h.tenant.clone());
    let api_token = h.form_request(
        "OktaApiToken",
        json!({"apiToken": TOKEN}),
        json!({"orgUrl": h.fake.org_url()}),
    );
    let ConnectOutcome::Connected(connected) = runtime.connect(api_token).await.unwrap() else {
        panic!("an API token connects directly");
    };
    let integration = connected.integration.id.clone();
    let endpoint = connected
        .webhook_endpoints
        .iter()
        .find(|endpoint| endpoint.name == "event_hooks")
        .expect("connecting creates the event hook endpoint");
    let secret = endpoint.secret.expose().to_owned();
    let endpoint_id = endpoint.id.clone();
    // The connection's own first reconcile is queued; let it finish so the count below is ours.
    let worker = start_worker(runtime);

    // Okta's one-time verification.
    let verification = runtime
        .receive_webhook(
            &endpoint_id,
            &request(
                "GET",
                &[
                    ("authorization", &secret),
                    ("x-okta-verification-challenge", "challenge-123"),
                ],
                &serde_json::Value::Null,
            ),
        )
        .await
        .unwrap();
    match verification {
        WebhookAck::Handshake { body, .. } => {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap(),
                json!({"verification": "challenge-123"})
            );
        }
        other => panic!("expected the verification answer, got {other:?}"),
    }

    // A delivery without the secret is refused and stores nothing.
    let delivery = user_event_delivery(
        "evt-1",
        "user.lifecycle.deactivate",
        "00u0",
        "u0@acme.example",
    );
    let refused = runtime
        .receive_webhook(
            &endpoint_id,
            &request("POST", &[("authorization", "wrong")], &delivery),
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, WebhookRejection::Unverified(_)));
    assert!(!format!("{refused:?}").contains(&secret));

    // An authenticated directory event queues a DirectorySync.
    let before = runtime
        .list_runs(&tenant, &integration, 50)
        .await
        .unwrap()
        .len();
    let accepted = runtime
        .receive_webhook(
            &endpoint_id,
            &request("POST", &[("authorization", &secret)], &delivery),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            accepted,
            WebhookAck::Accepted {
                duplicate: false,
                ..
            }
        ),
        "{accepted:?}"
    );
    let duplicate = runtime
        .receive_webhook(
            &endpoint_id,
            &request("POST", &[("authorization", &secret)], &delivery),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            duplicate,
            WebhookAck::Accepted {
                duplicate: true,
                ..
            }
        ),
        "{duplicate:?}"
    );

    let mut synced = false;
    for _ in 0..200 {
        let runs = runtime.list_runs(&tenant, &integration, 50).await.unwrap();
        if runs.len() > before
            && runs
                .iter()
                .any(|run| run.run_type == "webhook" && run.status == RunStatus::Succeeded)
        {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        synced,
        "the event hook queued no DirectorySync that succeeded"
    );

    // An event that does not touch the directory is acknowledged and queues nothing.
    let runs_now = runtime
        .list_runs(&tenant, &integration, 50)
        .await
        .unwrap()
        .len();
    let session = user_event_delivery("evt-2", "user.session.start", "00u0", "u0@acme.example");
    runtime
        .receive_webhook(
            &endpoint_id,
            &request("POST", &[("authorization", &secret)], &session),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        runtime
            .list_runs(&tenant, &integration, 50)
            .await
            .unwrap()
            .len(),
        runs_now
    );
    worker.stop().await;
}
