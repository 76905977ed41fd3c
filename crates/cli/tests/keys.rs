//! `tributary init` and `tributary keys rotate` on the embedded default: secrets stay readable
//! under the new key, the old key is retired from the key file, nothing secret is printed.

use std::process::Command;

use serde_json::Value;
use tributary_store::{Db, SecretBytes, credentials::Expect, keystore::KeyRing};

fn tributary(data_dir: &std::path::Path, args: &[&str]) -> (Value, String) {
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
    let url = format!("sqlite://{}", data.join("tributary.db").display());
    let ring_path = data.join("keyring.json");
    let secrets = ["first-very-secret-token", "second-very-secret-token"];
    let (tenant, integration) = runtime.block_on(async {
        let db = Db::open(&url).await.unwrap();
        let ring = KeyRing::load(&ring_path).unwrap();
        let tenant = db.tenants().create("acme").await.unwrap();
        let integration = db
            .integrations()
            .create(&tenant.id, "okta", "Okta", &serde_json::json!({}))
            .await
            .unwrap();
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
