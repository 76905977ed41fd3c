//! `tributary runs` and `tributary webhooks` on the embedded default database.

use std::process::Command;

use serde_json::{Value, json};
use tributary_store::{Db, keystore::KeyRing, webhooks::DeliveryStatus};

fn tributary(data_dir: &std::path::Path, args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--json")
        .env_remove("TRIBUTARY_KEYRING")
        .env_remove("TRIBUTARY_KEYRING_FILE")
        .env_remove("TRIBUTARY_DATABASE_URL")
        .output()
        .expect("the binary runs");
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
    let url = format!("sqlite://{}", data.join("tributary.db").display());
    let ring = KeyRing::load(&data.join("keyring.json")).unwrap();
    let (integration, run, endpoint, delivery) = rt.block_on(async {
        let db = Db::open(&url).await.unwrap();
        let tenant = db.tenants().create("acme").await.unwrap();
        let integration = db
            .integrations()
            .create(&tenant.id, "okta", "Okta", &json!({}))
            .await
            .unwrap();
        let run = db
            .runs()
            .create(
                &tenant.id,
                &integration.id,
                "DirectorySync",
                "queued",
                &json!({}),
                None,
            )
            .await
            .unwrap();
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
