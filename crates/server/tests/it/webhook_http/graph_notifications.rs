//! Microsoft Graph change notifications end to end, on SQLite and PostgreSQL: the real server
//! (API, intake, worker, scheduler) on a loopback socket and the fake Graph, which validates each
//! notification URL by calling it and sends notifications as Graph does. Connecting Azure Entra
//! ID creates the subscriptions; a user change arrives as a notification and a sync brings it in;
//! lifecycle notifications renew or recreate; a forged `clientState` is refused; disconnecting
//! deletes the subscriptions.

use std::{future::Future, time::Duration};

use serde_json::json;
use tributary_core::CallbackParams;
use tributary_runtime::{ConnectOutcome, ConnectRequest, Runtime, RuntimeConfig};
use tributary_server::ServerConfig;
use tributary_store::{
    records::{RecordQuery, list_records},
    runs::RunStatus,
    testing::{TestDb, each_backend},
};
use tributary_testkit::azure_entra_id::{EntraDirectory, FakeEntra};
use tributary_testkit::browser::approve;

use crate::support::{TestServer, registry_of};

const WAIT: Duration = Duration::from_secs(60);

/// Polls `check` until it gives a value, or fails the test after [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The admin consent, with the fake approving at once (the browser step).
async fn connect(runtime: &Runtime, tenant: &str) -> String {
    let ConnectOutcome::Redirect(redirect) = runtime
        .connect(ConnectRequest {
            tenant_id: tenant.to_owned(),
            definition_id: "azure_entra_id".into(),
            user_input: Some(json!({})),
            connection: "EntraAdminConsent".into(),
            ..Default::default()
        })
        .await
        .unwrap()
    else {
        panic!("the admin consent redirects");
    };
    let callback = approve(&redirect.url).await;
    runtime
        .complete_auth(CallbackParams::new(callback))
        .await
        .unwrap()
        .integration
        .id
}

fn watched(fake: &FakeEntra) -> Vec<(String, String)> {
    let mut subscriptions: Vec<(String, String)> = fake
        .subscriptions()
        .list()
        .iter()
        .map(|s| {
            (
                s["resource"].as_str().unwrap().to_owned(),
                s["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    subscriptions.sort();
    subscriptions
}

async fn succeeded_runs(runtime: &Runtime, tenant: &str, integration: &str, op: &str) -> usize {
    runtime
        .list_runs(tenant, integration, 200)
        .await
        .unwrap()
        .iter()
        .filter(|run| run.operation == op && run.status == RunStatus::Succeeded)
        .count()
}

#[each_backend(flavor = "multi_thread", worker_threads = 2)]
async fn graph_change_notifications(backend: TestDb) {
    let fake = FakeEntra::start(EntraDirectory::sample(3)).await.unwrap();
    let registry = registry_of("azure_entra_id", fake.operator_config());
    let server = TestServer::start_with(
        backend,
        ServerConfig::default(),
        |_| registry,
        |runtime| RuntimeConfig {
            scheduler_poll: Duration::from_millis(200),
            ..runtime
        },
    )
    .await;
    let runtime = &server.runtime;
    let tenant = runtime.db().tenants().create("t").await.unwrap().id;

    // Connecting schedules the subscriptions' upkeep right away: Graph validates the endpoint
    // (the handshake) and creates one subscription for users and one for groups.
    let integration = connect(runtime, &tenant).await;
    let endpoint = runtime
        .list_webhook_endpoints(&tenant, &integration)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.name == "change_notifications")
        .expect("connecting creates the change-notification endpoint");
    let subscriptions = eventually("the subscriptions are created", || async {
        let now = watched(&fake);
        (now.len() == 2).then_some(now)
    })
    .await;
    assert_eq!(subscriptions[0].0, "groups");
    assert_eq!(subscriptions[1].0, "users");
    for subscription in fake.subscriptions().list() {
        assert_eq!(subscription["notificationUrl"], endpoint.url);
        assert_eq!(subscription["lifecycleNotificationUrl"], endpoint.url);
        assert_eq!(subscription["changeType"], "updated,deleted");
    }
    let upkeep = eventually("the upkeep run succeeds", || async {
        runtime
            .list_runs(&tenant, &integration, 200)
            .await
            .unwrap()
            .into_iter()
            .find(|run| {
                run.operation == "ChangeNotificationSubscriptions"
                    && run.status == RunStatus::Succeeded
            })
    })
    .await;
    assert_eq!(
        upkeep.result.as_ref().unwrap()["created"],
        json!(["users", "groups"])
    );
    // The first directory sync finishes before the change below.
    eventually("the first sync succeeds", || async {
        (succeeded_runs(runtime, &tenant, &integration, "DirectorySync").await >= 1).then_some(())
    })
    .await;

    // A user is renamed in Entra: Graph notifies, the delivery queues a sync, the record follows.
    let user_id = fake.with_directory(|directory| {
        let (id, user) = directory.users.iter_mut().next().unwrap();
        user["displayName"] = json!("Renamed By Notification");
        id.clone()
    });
    let delivered = fake
        .subscriptions()
        .notify_change(&format!("Users/{user_id}"), "updated")
        .await;
    assert_eq!(
        delivered.len(),
        1,
        "only the users subscription is notified"
    );
    assert_eq!(delivered[0].status, 200);
    eventually("the renamed user is synced", || async {
        let records = list_records(
            runtime.db(),
            &RecordQuery {
                tenant_id: tenant.clone(),
                integration_id: Some(integration.clone()),
                model: Some("DirectoryAccount".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        records
            .iter()
            .any(|r| r.fields["displayName"] == "Renamed By Notification")
            .then_some(())
    })
    .await;

    // A notification with another clientState is refused and stores nothing.
    let forged = reqwest::Client::new()
        .post(&endpoint.url)
        .json(&json!({"value": [{
            "subscriptionId": subscriptions[1].1,
            "changeType": "deleted",
            "resource": format!("Users/{user_id}"),
            "clientState": "whsec_guessed",
            "tenantId": tributary_testkit::azure_entra_id::TENANT_ID,
        }]}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let forged_body = forged.text().await.unwrap();
    assert!(!forged_body.contains("whsec_"), "{forged_body}");

    // reauthorizationRequired: the subscriptions are renewed (PATCH), not recreated.
    let users_subscription = subscriptions[1].1.clone();
    let answered = fake
        .subscriptions()
        .notify_lifecycle(&users_subscription, "reauthorizationRequired")
        .await
        .unwrap();
    assert_eq!(answered.status, 200);
    eventually("the subscriptions are renewed", || async {
        fake.requests()
            .iter()
            .any(|r| r.starts_with(&format!("PATCH /v1.0/subscriptions/{users_subscription}")))
            .then_some(())
    })
    .await;
    assert_eq!(watched(&fake), subscriptions, "renewal keeps the same ones");

    // subscriptionRemoved: Graph dropped the users subscription; it is created again.
    fake.subscriptions()
        .remove_and_notify(&users_subscription)
        .await
        .unwrap();
    let recreated = eventually("the removed subscription is recreated", || async {
        let now = watched(&fake);
        (now.len() == 2 && now[1].1 != users_subscription).then_some(now)
    })
    .await;
    assert_eq!(
        recreated[0], subscriptions[0],
        "the groups one is untouched"
    );

    // Every delivery is stored without the clientState its notifications carried.
    let secret = fake.subscriptions().list()[0]["clientState"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        secret.starts_with("whsec_"),
        "the clientState is the endpoint's secret"
    );
    let deliveries = runtime
        .db()
        .webhooks(&server.ring)
        .list_deliveries(&tenant, &endpoint.id, 100)
        .await
        .unwrap();
    assert_eq!(
        deliveries.len(),
        3,
        "a change and two lifecycle notifications"
    );
    for delivery in &deliveries {
        assert!(!delivery.payload.to_string().contains(&secret));
    }

    // Disconnecting deletes the subscriptions at Graph.
    let report = runtime.disconnect(&tenant, &integration).await.unwrap();
    assert_eq!(report.remote_error, None);
    assert!(watched(&fake).is_empty(), "{:?}", watched(&fake));

    server.stop().await;
}
