//! Encryption at rest on SQLite and PostgreSQL: secrets never reach the database in plaintext,
//! ciphertexts are bound to their row, and rotation re-encrypts everything, resumably.

mod common;

use serde_json::json;
use tributary_store::credentials::Expect;
use tributary_store::keystore::{KeyRing, KeyRingSource, keys_in_use, reencrypt_all};
use tributary_store::{SecretBytes, StoreError};

const SECRET: &str = "sk_live_9f8e7d6c5b4a-PLAINTEXT-MARKER";
const WEBHOOK_MARKER: &str = "whsec_";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn secrets_are_absent_from_the_sqlite_file() {
    let t = common::sqlite().await;
    let ring = KeyRing::generate();
    let (tenant, id) = common::tenant_with_integration(&t.db, "visible-tenant-name").await;
    let secret = SecretBytes::from_json(&json!({"api_key": SECRET}));
    t.db.credentials(&ring)
        .save(&tenant, &id, "ApiKey", &secret, Expect::Absent, None)
        .await
        .unwrap();
    let (endpoint, webhook_secret) =
        t.db.webhooks(&ring)
            .create_endpoint(&tenant, &id, "events", &[])
            .await
            .unwrap();
    assert!(
        webhook_secret
            .expose_str()
            .unwrap()
            .starts_with(WEBHOOK_MARKER)
    );
    t.db.checkpoint().await.unwrap();
    t.db.close().await;

    let dir = t.file.as_ref().unwrap().parent().unwrap();
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(
        contains(&bytes, b"visible-tenant-name"),
        "the file holds the data we wrote"
    );
    assert!(contains(&bytes, endpoint.id.as_bytes()));
    assert!(
        !contains(&bytes, SECRET.as_bytes()),
        "credential plaintext found in the SQLite file"
    );
    assert!(
        !contains(&bytes, webhook_secret.expose()),
        "webhook secret found in the SQLite file"
    );
}

#[tokio::test]
async fn secrets_are_absent_from_pg_dump() {
    let Some(t) = common::postgres().await else {
        return;
    };
    let ring = KeyRing::generate();
    let (tenant, id) = common::tenant_with_integration(&t.db, "visible-tenant-name").await;
    let secret = SecretBytes::from_json(&json!({"api_key": SECRET}));
    t.db.credentials(&ring)
        .save(&tenant, &id, "ApiKey", &secret, Expect::Absent, None)
        .await
        .unwrap();
    let (_, webhook_secret) =
        t.db.webhooks(&ring)
            .create_endpoint(&tenant, &id, "events", &[])
            .await
            .unwrap();

    let output = std::process::Command::new("pg_dump")
        .arg("--data-only")
        .arg("--schema")
        .arg(t.schema.as_ref().unwrap())
        .arg("--dbname")
        .arg(&t.url)
        .output()
        .expect("pg_dump must be installed next to PostgreSQL");
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dump = output.stdout;
    assert!(
        contains(&dump, b"visible-tenant-name"),
        "the dump holds the data we wrote"
    );
    assert!(
        !contains(&dump, SECRET.as_bytes()),
        "credential plaintext found in pg_dump"
    );
    assert!(
        !contains(&dump, webhook_secret.expose()),
        "webhook secret found in pg_dump"
    );
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_fails() {
    for t in common::backends().await {
        let ring = KeyRing::generate();
        let (tenant, id) = common::tenant_with_integration(&t.db, "acme").await;
        let mut creds = t.db.credentials(&ring);
        creds
            .save(
                &tenant,
                &id,
                "Admin",
                &SecretBytes::from("admin-secret"),
                Expect::Absent,
                None,
            )
            .await
            .unwrap();
        creds
            .save(
                &tenant,
                &id,
                "ReadOnly",
                &SecretBytes::from("read-secret"),
                Expect::Absent,
                None,
            )
            .await
            .unwrap();
        // An attacker with write access to the table copies the admin ciphertext into another slot.
        common::execute(&t.db, &format!(
            "UPDATE credentials SET ciphertext = (SELECT ciphertext FROM credentials WHERE slot = 'Admin'), \
             key_id = (SELECT key_id FROM credentials WHERE slot = 'Admin') \
             WHERE integration_id = '{id}' AND slot = 'ReadOnly'"
        )).await;
        match creds.load(&tenant, &id, "ReadOnly").await {
            Err(StoreError::Crypto(message)) => assert!(!message.contains("admin-secret")),
            other => panic!(
                "{}: swapped ciphertext must not decrypt, got {other:?}",
                t.name
            ),
        }
        assert_eq!(
            creds
                .load(&tenant, &id, "Admin")
                .await
                .unwrap()
                .unwrap()
                .secret
                .expose(),
            b"admin-secret"
        );
        // A ring without the key cannot open it either, and says so without leaking anything.
        let stranger = KeyRing::generate();
        assert!(matches!(
            t.db.credentials(&stranger)
                .load(&tenant, &id, "Admin")
                .await,
            Err(StoreError::Crypto(_))
        ));
    }
}

#[tokio::test]
async fn rotation_reencrypts_everything_resumably() {
    for t in common::backends().await {
        let mut ring = KeyRing::generate();
        let old_key = ring.primary_id().to_owned();
        let mut expected = Vec::new();
        for n in 0..3 {
            let (tenant, id) = common::tenant_with_integration(&t.db, &format!("tenant-{n}")).await;
            for slot in ["A", "B"] {
                let value = format!("{tenant}/{slot}");
                t.db.credentials(&ring)
                    .save(
                        &tenant,
                        &id,
                        slot,
                        &SecretBytes::from(value.as_str()),
                        Expect::Absent,
                        None,
                    )
                    .await
                    .unwrap();
                expected.push((tenant.clone(), id.clone(), slot, value));
            }
            let (endpoint, secret) =
                t.db.webhooks(&ring)
                    .create_endpoint(&tenant, &id, "events", &[])
                    .await
                    .unwrap();
            expected.push((
                tenant.clone(),
                id.clone(),
                "webhook",
                format!("{}={}", endpoint.id, secret.expose_str().unwrap()),
            ));
        }
        assert_eq!(keys_in_use(&t.db).await.unwrap()[&old_key], 9);

        let new_key = ring.add_primary_key();
        let mut reports = Vec::new();
        let done = reencrypt_all(&t.db, &ring, 2, |p| reports.push(p))
            .await
            .unwrap();
        assert_eq!(done, 9, "{}", t.name);
        assert!(
            reports.len() >= 4,
            "progress is reported per batch: {reports:?}"
        );
        assert_eq!(reports.last().unwrap().done, 9);
        assert_eq!(reports.last().unwrap().total, 9);
        assert_eq!(
            reencrypt_all(&t.db, &ring, 2, |_| {}).await.unwrap(),
            0,
            "a rerun finds nothing left"
        );
        assert!(ring.remove_key(&new_key).is_err(), "the primary key stays");

        let in_use = keys_in_use(&t.db).await.unwrap();
        assert_eq!(
            in_use.get(&old_key),
            None,
            "{}: nothing is left under the old key",
            t.name
        );
        assert_eq!(in_use[&new_key], 9);
        ring.remove_key(&old_key).unwrap();
        for (tenant, id, slot, value) in &expected {
            if *slot == "webhook" {
                let (endpoint_id, secret) = value.split_once('=').unwrap();
                let (_, opened) =
                    t.db.webhooks(&ring)
                        .endpoint_for_intake(endpoint_id)
                        .await
                        .unwrap()
                        .unwrap();
                assert_eq!(opened.expose_str().unwrap(), secret);
            } else {
                let loaded =
                    t.db.credentials(&ring)
                        .load(tenant, id, slot)
                        .await
                        .unwrap()
                        .unwrap();
                assert_eq!(loaded.secret.expose_str().unwrap(), value);
                assert_eq!(
                    loaded.version, 1,
                    "rotation does not change the credential's version"
                );
            }
        }
    }
}

#[tokio::test]
async fn rotation_resumes_after_an_interruption() {
    for t in common::backends().await {
        let mut ring = KeyRing::generate();
        for n in 0..5 {
            let (tenant, id) = common::tenant_with_integration(&t.db, &format!("tenant-{n}")).await;
            t.db.credentials(&ring)
                .save(
                    &tenant,
                    &id,
                    "S",
                    &SecretBytes::from("v"),
                    Expect::Absent,
                    None,
                )
                .await
                .unwrap();
        }
        let new_key = ring.add_primary_key();
        // Interrupt after the first batch by failing inside the progress callback's second call.
        let mut calls = 0;
        let first = std::panic::AssertUnwindSafe(reencrypt_all(&t.db, &ring, 2, |p| {
            calls += 1;
            if calls == 2 {
                assert_eq!(p.done, 2);
                panic!("interrupted");
            }
        }));
        let result = futures::FutureExt::catch_unwind(first).await;
        assert!(result.is_err());
        assert_eq!(
            keys_in_use(&t.db).await.unwrap()[&new_key],
            2,
            "{}: the first batch committed",
            t.name
        );
        let mut last = None;
        let done = reencrypt_all(&t.db, &ring, 2, |p| last = Some(p))
            .await
            .unwrap();
        assert_eq!(done, 3, "the rerun continues with what is left");
        assert_eq!(last.unwrap().total, 3);
        assert_eq!(keys_in_use(&t.db).await.unwrap().len(), 1);
    }
}

#[test]
fn load_or_generate_writes_a_key_file_once() {
    if std::env::var_os("TRIBUTARY_KEYRING").is_some()
        || std::env::var_os("TRIBUTARY_KEYRING_FILE").is_some()
    {
        eprintln!("key ring variables are set in this environment; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ring, source) = KeyRing::load_or_generate(dir.path()).unwrap();
    let path = dir.path().join("keyring.json");
    assert_eq!(source, KeyRingSource::Generated(path.clone()));
    let (again, source) = KeyRing::load_or_generate(dir.path()).unwrap();
    assert_eq!(source, KeyRingSource::File(path));
    assert_eq!(again.primary_id(), ring.primary_id());
}
