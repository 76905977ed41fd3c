//! `tributary runs` and `tributary webhooks` on the embedded default database, and the audit trail
//! of every command that changes the database directly (`audit`).

use serde_json::{Value, json};
use tributary_store::{Db, keystore::KeyRing, webhooks::DeliveryStatus};

use crate::support::{
    command::{self, on_data_dir},
    fresh_database::on_fresh_database,
    seed::{acme_with_okta, run_of, sqlite_url},
};

mod audit;

fn tributary(data_dir: &std::path::Path, args: &[&str]) -> (bool, Value, String) {
    let out = on_data_dir(data_dir, &[args, &["--json"]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.success(), value, stderr)
}

#[test]
fn runs_can_be_listed_and_cancelled_and_failed_deliveries_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(tributary(&data, &["init"]).0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = sqlite_url(&data);
    let ring = KeyRing::load(&data.join("keyring.json")).unwrap();
    let (integration, run, endpoint, delivery) = rt.block_on(async {
        let db = Db::open(&url).await.unwrap();
        let (tenant, integration) = acme_with_okta(&db).await;
        let run = run_of(&db, &tenant.id, &integration.id, "DirectorySync", "queued").await;
        let (endpoint, _) = db
            .webhooks(&ring)
            .create_endpoint(&tenant.id, &integration.id, "okta_events", &[])
            .await
            .unwrap();
        let (delivery, _) = db
            .webhooks(&ring)
            .record_delivery(&tenant.id, &endpoint.id, "evt-1", "UserChanged", &json!({}))
            .await
            .unwrap();
        db.webhooks(&ring)
            .finish_delivery(&tenant.id, &delivery.id, Some("the handler failed"))
            .await
            .unwrap();
        db.close().await;
        (integration.id, run.id, endpoint.id, delivery.id)
    });

    let (ok, listed, err) = tributary(
        &data,
        &[
            "runs",
            "list",
            "--tenant",
            "acme",
            "--integration",
            &integration,
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(listed["runs"][0]["id"], run.as_str());
    assert_eq!(listed["runs"][0]["status"], "pending");
    let (ok, cancelled, err) = tributary(&data, &["runs", "cancel", "--tenant", "acme", &run]);
    assert!(ok, "{err}");
    assert_eq!(cancelled["status"], "cancelled");
    let (ok, shown, _) = tributary(&data, &["runs", "show", "--tenant", "acme", &run]);
    assert!(ok);
    assert_eq!(shown["run"]["status"], "cancelled");
    let (ok, _, err) = tributary(&data, &["runs", "cancel", "--tenant", "acme", &run]);
    assert!(!ok && err.contains("already ended"), "{err}");
    let (ok, _, err) = tributary(&data, &["runs", "show", "--tenant", "nobody", &run]);
    assert!(!ok && err.contains("no tenant"), "{err}");

    let (ok, listed, err) = tributary(
        &data,
        &[
            "webhooks",
            "deliveries",
            "--tenant",
            "acme",
            "--endpoint",
            &endpoint,
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(listed["deliveries"][0]["status"], "failed");
    let (ok, replayed, err) = tributary(
        &data,
        &["webhooks", "replay", "--tenant", "acme", &delivery],
    );
    assert!(ok, "{err}");
    assert_eq!(replayed["queued"], true);
    let (ok, _, err) = tributary(
        &data,
        &["webhooks", "replay", "--tenant", "acme", &delivery],
    );
    assert!(!ok && err.contains("being processed"), "{err}");
    rt.block_on(async {
        let db = Db::open(&url).await.unwrap();
        let tenant = db.tenants().get_by_name("acme").await.unwrap().unwrap();
        let stored = db
            .webhooks(&ring)
            .get_delivery(&tenant.id, &delivery)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, DeliveryStatus::Received);
        let counts = db.jobs().counts("operations").await.unwrap();
        assert_eq!(counts.values().sum::<i64>(), 1, "{counts:?}");
    });
}

/// `tributary` with `--config <config> --json`.
fn with_config(config: &std::path::Path, args: &[&str]) -> (bool, Value, String) {
    let out = command::tributary()
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--json")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.success(), value, stderr)
}

/// `tributary serve` on an ephemeral port; its base URL once it listens.
fn serve(config: &std::path::Path) -> (std::process::Child, String) {
    command::serve(&["--config".as_ref(), config.as_os_str()])
}

/// Okta event hook deliveries are sent by eight concurrent senders to `tributary serve`, which
/// is killed (SIGKILL) in the middle. Every delivery that got a 2xx before the kill is in the
/// database after a restart: acknowledged means committed (fsync'd, group-committed).
fn acknowledged_deliveries_survive_a_kill(database_url: Option<String>) {
    use std::sync::{Arc, Mutex};
    use tributary_testkit::okta::{FakeOkta, OktaOrg};

    tributary_providerkit::install_crypto_provider();
    let rt = crate::support::multi_thread_runtime(4);
    let okta = rt
        .block_on(FakeOkta::start(
            OktaOrg::sample(3, 1),
            "00kill-okta-api-token",
        ))
        .unwrap();
    let connection = okta.demo_connection();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tributary.toml");
    let database = database_url
        .map(|url| format!("database_url = \"{url}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n{database}\n[definitions.okta]\nallowLoopbackOrgUrls = true\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let (ok, _, err) = with_config(&config, &["init"]);
    assert!(ok, "{err}");
    assert!(with_config(&config, &["tenants", "create", "acme"]).0);
    let (ok, issued, err) = with_config(&config, &["tenants", "token", "acme"]);
    assert!(ok, "{err}");
    let token = issued["token"].as_str().unwrap().to_owned();

    let (mut server, base) = serve(&config);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, url: String, body: Option<Value>| {
        let request = http.request(method, url).bearer_auth(&token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let value: Value = response.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{status}: {value}");
            value
        }
    };
    let (integration, endpoint_id, hook_url, secret) = rt.block_on(async {
        let created = call(
            reqwest::Method::POST,
            format!("{base}/v1/integrations"),
            Some(json!({"definitionId": "okta", "userInput": connection.user_input})),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        call(
            reqwest::Method::POST,
            format!("{base}/v1/integrations/{id}/connect"),
            Some(
                json!({"connection": connection.connection, "credentials": connection.credentials}),
            ),
        )
        .await;
        let endpoints = call(
            reqwest::Method::GET,
            format!("{base}/v1/integrations/{id}/webhook-endpoints"),
            None,
        )
        .await;
        let endpoint = endpoints[0]["id"].as_str().unwrap().to_owned();
        let rotated = call(
            reqwest::Method::POST,
            format!("{base}/v1/integrations/{id}/webhook-endpoints/{endpoint}/rotate-secret"),
            None,
        )
        .await;
        (
            id,
            endpoint,
            rotated["url"].as_str().unwrap().to_owned(),
            rotated["secret"].as_str().unwrap().to_owned(),
        )
    });

    // Load, then SIGKILL once some deliveries were acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let senders: Vec<_> = (0..8)
        .map(|sender| {
            let (http, url, secret, acknowledged) = (
                reqwest::Client::new(),
                hook_url.clone(),
                secret.clone(),
                Arc::clone(&acknowledged),
            );
            rt.spawn(async move {
                for n in 0.. {
                    let event = format!("evt-kill-{sender}-{n}");
                    let body = tributary_testkit::okta_events::user_event_delivery(
                        &event,
                        "user.lifecycle.deactivate",
                        "00u1",
                        "ada@example.com",
                    );
                    match http
                        .post(&url)
                        .header("authorization", &secret)
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(response) if response.status().is_success() => {
                            acknowledged.lock().unwrap().push(event);
                        }
                        Ok(response) => panic!("a delivery was refused: {}", response.status()),
                        // The server is gone: this sender is done.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while acknowledged.lock().unwrap().len() < 300 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    server.kill().unwrap(); // SIGKILL
    let _ = server.wait();
    for sender in senders {
        rt.block_on(sender).unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 100,
        "only {} deliveries acknowledged before the kill",
        acknowledged.len()
    );

    // After a restart, every acknowledged delivery is there.
    let (mut server, base) = serve(&config);
    let stored: std::collections::HashSet<String> = rt.block_on(async {
        let mut stored = std::collections::HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_url = format!(
                "{base}/v1/integrations/{integration}/webhook-endpoints/{endpoint_id}/deliveries?limit=500{}",
                cursor.as_deref().map(|c| format!("&cursor={c}")).unwrap_or_default()
            );
            let page = call(reqwest::Method::GET, page_url, None).await;
            for item in page["items"].as_array().unwrap() {
                stored.insert(item["deliveryId"].as_str().unwrap().to_owned());
            }
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break stored,
            }
        }
    });
    eprintln!(
        "{} deliveries acknowledged before the kill, {} stored after the restart",
        acknowledged.len(),
        stored.len()
    );
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|event| !stored.contains(*event))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged deliveries lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn acknowledged_deliveries_survive_a_kill_under_load_sqlite() {
    acknowledged_deliveries_survive_a_kill(None);
}

#[test]
fn acknowledged_deliveries_survive_a_kill_under_load_postgres() {
    on_fresh_database("tributary_kill", |url| {
        acknowledged_deliveries_survive_a_kill(Some(url))
    });
}
