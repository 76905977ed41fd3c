//! `tributary init` and `tributary keys rotate` on the embedded default: secrets stay readable
//! under the new key, the old key is retired from the key file, nothing secret is printed.

mod purge;

use serde_json::Value;
use tributary_store::{Db, SecretBytes, credentials::Expect, keystore::KeyRing};

use crate::support::{
    command::{on_data_dir, serve},
    http::exchange,
    seed::{acme_with_okta, sqlite_url},
};

fn tributary(data_dir: &std::path::Path, args: &[&str]) -> (Value, String) {
    let out = on_data_dir(data_dir, &[args, &["--json"]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_str(&stdout).expect("JSON output"), stdout)
}

#[test]
fn init_then_rotate_keeps_every_secret_readable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (init, _) = tributary(&data, &["init"]);
    assert_eq!(init["database"]["backend"], "sqlite");
    assert_eq!(init["keyRing"]["source"], "generated");
    let first_key = init["keyRing"]["primaryKeyId"].as_str().unwrap().to_owned();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = sqlite_url(&data);
    let ring_path = data.join("keyring.json");
    let secrets = ["first-very-secret-token", "second-very-secret-token"];
    let (tenant, integration) = runtime.block_on(async {
        let db = Db::open(&url).await.unwrap();
        let ring = KeyRing::load(&ring_path).unwrap();
        let (tenant, integration) = acme_with_okta(&db).await;
        for (slot, secret) in ["A", "B"].iter().zip(secrets) {
            db.credentials(&ring)
                .save(
                    &tenant.id,
                    &integration.id,
                    slot,
                    &SecretBytes::new(secret.as_bytes().to_vec()),
                    Expect::Absent,
                    None,
                )
                .await
                .unwrap();
        }
        db.close().await;
        (tenant.id, integration.id)
    });

    let (rotated, stdout) = tributary(&data, &["keys", "rotate"]);
    assert_eq!(rotated["reencrypted"], 2);
    assert_eq!(rotated["retiredKeys"], serde_json::json!([first_key]));
    for secret in secrets {
        assert!(!stdout.contains(secret));
    }
    let new_key = rotated["primaryKeyId"].as_str().unwrap().to_owned();
    assert_ne!(new_key, first_key);

    runtime.block_on(async {
        let db = Db::open(&url).await.unwrap();
        let ring = KeyRing::load(&ring_path).unwrap();
        assert_eq!(ring.key_ids(), std::slice::from_ref(&new_key));
        for (slot, secret) in ["A", "B"].iter().zip(secrets) {
            let credential = db
                .credentials(&ring)
                .load(&tenant, &integration, slot)
                .await
                .unwrap()
                .expect("still stored");
            assert_eq!(credential.secret.expose(), secret.as_bytes());
        }
        db.close().await;
    });

    let (status, _) = tributary(&data, &["keys", "status"]);
    assert_eq!(status["keys"][0]["sealedSecrets"], 2);
    assert_eq!(status["missingKeys"], serde_json::json!([]));
}

/// POSTs an unsigned delivery; answers the status. A server that can open the endpoint's secret
/// refuses the missing signature (401); one that cannot answers 503.
fn post_unsigned_delivery(base: &str, endpoint: &str) -> u16 {
    let host = base.strip_prefix("http://").unwrap();
    let body = r#"{"eventType":"user.lifecycle.create"}"#;
    let request = format!(
        "POST /v1/webhooks/{endpoint} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(host, &request).0
}

#[test]
fn a_running_server_takes_part_in_rotation_and_keeps_opening_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (init, _) = tributary(&data, &["init"]);
    let first_key = init["keyRing"]["primaryKeyId"].as_str().unwrap().to_owned();
    let (mut server, base) = serve(&["--data-dir".as_ref(), data.as_os_str()]);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = sqlite_url(&data);
    let endpoint = runtime.block_on(async {
        let db = Db::open(&url).await.unwrap();
        let ring = KeyRing::load(&data.join("keyring.json")).unwrap();
        let (tenant, integration) = acme_with_okta(&db).await;
        let (endpoint, _) = db
            .webhooks(&ring)
            .create_endpoint(&tenant.id, &integration.id, "event_hooks", &[])
            .await
            .unwrap();
        // The server reports the keys it holds within a second of starting.
        for _ in 0..100 {
            if !tributary_store::keystore::holders::live_holders(&db)
                .await
                .unwrap()
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        db.close().await;
        endpoint.id
    });
    let before = post_unsigned_delivery(&base, &endpoint);
    assert_eq!(before, 401, "the server opens the secret before rotating");

    let (rotated, _) = tributary(&data, &["keys", "rotate"]);
    assert_eq!(rotated["retiredKeys"], serde_json::json!([first_key]));
    let holders = rotated["holders"].as_array().unwrap();
    assert_eq!(holders.len(), 1, "the server took part: {rotated}");
    assert_eq!(holders[0]["role"], "all");
    // The endpoint's secret is now sealed only under the new key, which the running server holds.
    assert_eq!(post_unsigned_delivery(&base, &endpoint), 401);
    let (status, _) = tributary(&data, &["keys", "status"]);
    assert_eq!(status["missingKeys"], serde_json::json!([]));
    assert_eq!(
        status["runningProcesses"][0]["primaryKey"],
        rotated["primaryKeyId"]
    );
    // A second rotation works as well as the first.
    let (again, _) = tributary(&data, &["keys", "rotate"]);
    assert_eq!(
        again["retiredKeys"],
        serde_json::json!([rotated["primaryKeyId"]])
    );
    assert_eq!(post_unsigned_delivery(&base, &endpoint), 401);
    let _ = server.kill();
    let _ = server.wait();
}
