//! Encryption at rest on SQLite and PostgreSQL: secrets never reach the database in plaintext,
//! ciphertexts are bound to their row, rotation re-encrypts everything, resumably, and a running
//! deployment rotates online without a failed call or an unreadable secret.

use crate::support;

use serde_json::json;
use tributary_store::credentials::Expect;
use tributary_store::key_rotation::{RotationOptions, keys_in_use, reencrypt_all, rotate_online};
use tributary_store::keystore::holders::{KeyRingHolder, live_holders};
use tributary_store::keystore::{KeyRing, KeyRingSource};
use tributary_store::testing::{TestDb, each_backend};
use tributary_store::webhooks::WebhookEndpoint;
use tributary_store::{Db, SecretBytes, StoreError};

const SECRET: &str = "sk_live_9f8e7d6c5b4a-PLAINTEXT-MARKER";
const WEBHOOK_MARKER: &str = "whsec_";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Writes a tenant named `visible-tenant-name` with a credential holding [`SECRET`] and a webhook
/// endpoint, sealed with a new key ring; returns the endpoint and its secret.
async fn write_secrets(db: &Db) -> (WebhookEndpoint, SecretBytes) {
    let ring = KeyRing::generate();
    let (tenant, id) = support::tenant_with_integration(db, "visible-tenant-name").await;
    let secret = SecretBytes::from_json(&json!({"api_key": SECRET}));
    db.credentials(&ring)
        .save(&tenant, &id, "ApiKey", &secret, Expect::Absent, None)
        .await
        .unwrap();
    db.webhooks(&ring)
        .create_endpoint(&tenant, &id, "events", &[])
        .await
        .unwrap()
}

#[tokio::test]
async fn secrets_are_absent_from_the_sqlite_file() {
    let t = support::sqlite_file().await;
    let (endpoint, webhook_secret) = write_secrets(&t.db).await;
    assert!(
        webhook_secret
            .expose_str()
            .unwrap()
            .starts_with(WEBHOOK_MARKER)
    );
    t.db.checkpoint().await.unwrap();
    t.db.close().await;

    let dir = t.file.parent().unwrap();
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
    let Some(t) = tributary_store::testing::postgres("secrets_pg_dump").await else {
        return;
    };
    let (_, webhook_secret) = write_secrets(&t.db).await;

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

#[each_backend]
async fn a_ciphertext_moved_to_another_row_fails(t: TestDb) {
    let ring = KeyRing::generate();
    let (tenant, id) = support::tenant_with_integration(&t.db, "acme").await;
    let mut creds = t.db.credentials(&ring);
    support::save_new_credential(&mut creds, &tenant, &id, "Admin", "admin-secret").await;
    support::save_new_credential(&mut creds, &tenant, &id, "ReadOnly", "read-secret").await;
    // An attacker with write access to the table copies the admin ciphertext into another slot.
    support::execute(&t.db, &format!(
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

#[each_backend]
async fn rotation_reencrypts_everything_resumably(t: TestDb) {
    let mut ring = KeyRing::generate();
    let old_key = ring.primary_id().to_owned();
    let mut expected = Vec::new();
    for n in 0..3 {
        let (tenant, id) = support::tenant_with_integration(&t.db, &format!("tenant-{n}")).await;
        for slot in ["A", "B"] {
            let value = format!("{tenant}/{slot}");
            support::save_new_credential(
                &mut t.db.credentials(&ring),
                &tenant,
                &id,
                slot,
                value.as_str(),
            )
            .await;
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

#[each_backend]
async fn rotation_resumes_after_an_interruption(t: TestDb) {
    let mut ring = KeyRing::generate();
    for n in 0..5 {
        let (tenant, id) = support::tenant_with_integration(&t.db, &format!("tenant-{n}")).await;
        support::save_new_credential(&mut t.db.credentials(&ring), &tenant, &id, "S", "v").await;
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

/// One "process" of the load: its own ring following the key file, writing and reading secrets
/// of every kind in a loop. Returns (operations, failures as text).
async fn secret_traffic(
    db: tributary_store::Db,
    ring: KeyRing,
    tenant: String,
    integration: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (u64, Vec<String>) {
    use tributary_store::sessions::NewAuthSession;
    let mut done = 0u64;
    let mut failures = Vec::new();
    let mut round = 0u64;
    let mut slot_version = None::<i64>;
    let (endpoint, _) = db
        .webhooks(&ring)
        .create_endpoint(&tenant, &integration, "events", &[])
        .await
        .unwrap();
    while !*stop.borrow() {
        round += 1;
        let value = format!("token-{round}");
        let expect = slot_version.map_or(Expect::Absent, Expect::Version);
        match db
            .credentials(&ring)
            .save(
                &tenant,
                &integration,
                "Token",
                &SecretBytes::from(value.as_str()),
                expect,
                None,
            )
            .await
        {
            Ok(version) => slot_version = Some(version),
            Err(err) => failures.push(format!("save: {err}")),
        }
        match db
            .credentials(&ring)
            .load(&tenant, &integration, "Token")
            .await
        {
            Ok(Some(loaded)) if loaded.secret.expose_str().unwrap() == value => {}
            other => failures.push(format!("load: {:?}", other.map(|c| c.map(|c| c.version)))),
        }
        if round.is_multiple_of(5) {
            if let Err(err) = db
                .webhooks(&ring)
                .rotate_secret(&tenant, &endpoint.id)
                .await
            {
                failures.push(format!("rotate webhook secret: {err}"));
            }
            if let Err(err) = db.webhooks(&ring).endpoint_for_intake(&endpoint.id).await {
                failures.push(format!("open webhook secret: {err}"));
            }
            let verifier = SecretBytes::from(format!("verifier-{round}").as_str());
            let started = db
                .auth_sessions(&ring)
                .create(&NewAuthSession {
                    tenant_id: &tenant,
                    integration_id: &integration,
                    definition_id: "okta",
                    connection: "OAuth",
                    pkce_verifier: &verifier,
                    nonce: "n",
                    provider_state: &json!({}),
                    ttl: None,
                    max_open_per_tenant: 1000,
                })
                .await;
            match started {
                // Nine flows in ten are left open for the rotation to re-seal, while fewer than
                // the tenant's cap of 1,000 are open: a slow rotation on a busy machine lets
                // the load run longer, and past the cap every start would be refused.
                Ok((token, _)) if round.is_multiple_of(10) || round >= 900 => {
                    match db.auth_sessions(&ring).take(token.expose()).await {
                        Ok(session) if session.pkce_verifier.expose() == verifier.expose() => {}
                        other => failures.push(format!("take session: {:?}", other.err())),
                    }
                }
                Ok(_) => {}
                Err(err) => failures.push(format!("start session: {err}")),
            }
        }
        done += 1;
        tokio::task::yield_now().await;
    }
    (done, failures)
}

#[each_backend]
async fn online_rotation_under_load_fails_no_call_and_loses_no_secret(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    KeyRing::generate().save(&path).unwrap();
    let old_key = KeyRing::load(&path).unwrap().primary_id();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut holders = Vec::new();
    let mut traffic = Vec::new();
    for n in 0..2 {
        // Each process reads the key file itself and reports what it holds.
        let ring = KeyRing::load(&path).unwrap();
        let holder = KeyRingHolder::new(t.db.clone(), ring.clone(), "worker");
        let mut until = stopped.clone();
        holders.push(tokio::spawn(holder.run(None, async move {
            let _ = until.wait_for(|stop| *stop).await;
        })));
        let (tenant, integration) =
            support::tenant_with_integration(&t.db, &format!("load-{n}")).await;
        traffic.push(tokio::spawn(secret_traffic(
            t.db.clone(),
            ring,
            tenant,
            integration,
            stopped.clone(),
        )));
    }
    while live_holders(&t.db).await.unwrap().len() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let mut rotator = KeyRing::load(&path).unwrap();
    let options = RotationOptions {
        batch_size: 3,
        wait_timeout: std::time::Duration::from_secs(30),
        settle: std::time::Duration::from_secs(1),
        poll: std::time::Duration::from_millis(50),
    };
    let report = rotate_online(&t.db, &mut rotator, &options, |_| {})
        .await
        .unwrap();
    assert_eq!(report.holders.len(), 2, "{}", t.name);
    assert_eq!(report.retired_keys, std::slice::from_ref(&old_key));
    assert!(report.reencrypted > 0, "{}: {report:?}", t.name);
    // The load goes on after the old key left the file.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    stop.send(true).unwrap();
    for task in traffic {
        let (done, failures) = task.await.unwrap();
        assert!(done > 10, "{}: the load ran ({done} rounds)", t.name);
        assert!(failures.is_empty(), "{}: {failures:?}", t.name);
    }
    for holder in holders {
        holder.await.unwrap();
    }
    assert!(
        live_holders(&t.db).await.unwrap().is_empty(),
        "holders withdrew"
    );

    // Everything is readable with the key file alone, which holds only the new key.
    let fresh = KeyRing::load(&path).unwrap();
    assert_eq!(
        fresh.key_ids(),
        std::slice::from_ref(&report.primary_key_id)
    );
    let in_use = keys_in_use(&t.db).await.unwrap();
    assert_eq!(
        in_use.keys().collect::<Vec<_>>(),
        [&report.primary_key_id],
        "{}",
        t.name
    );
}

#[each_backend]
async fn a_process_that_does_not_pick_up_the_new_key_stops_the_rotation_before_it_is_used(
    t: TestDb,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    KeyRing::generate().save(&path).unwrap();
    // A process that reads its own copy of the key file: it never sees the new key.
    let copy = dir.path().join("elsewhere.json");
    std::fs::copy(&path, &copy).unwrap();
    let stale = KeyRingHolder::new(t.db.clone(), KeyRing::load(&copy).unwrap(), "api");
    stale.report().await.unwrap();

    let mut rotator = KeyRing::load(&path).unwrap();
    let old_key = rotator.primary_id();
    let options = RotationOptions {
        wait_timeout: std::time::Duration::from_millis(300),
        poll: std::time::Duration::from_millis(50),
        ..RotationOptions::default()
    };
    let err = rotate_online(&t.db, &mut rotator, &options, |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("(api)"), "{err}");
    // Nothing was sealed with the staged key, and both keys stay in the file.
    let on_disk = KeyRing::load(&path).unwrap();
    assert_eq!(on_disk.primary_id(), old_key);
    assert_eq!(on_disk.key_ids().len(), 2);
    assert!(on_disk.staged_id().is_some());

    // Once the process reads the right file, running the rotation again finishes it.
    std::fs::copy(&path, &copy).unwrap();
    stale.withdraw().await.unwrap();
    let caught_up = KeyRingHolder::new(t.db.clone(), KeyRing::load(&path).unwrap(), "api");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let following = tokio::spawn(caught_up.run(None, async {
        let _ = stopped.await;
    }));
    let patient = RotationOptions {
        wait_timeout: std::time::Duration::from_secs(30),
        settle: std::time::Duration::from_millis(100),
        ..options
    };
    let report = rotate_online(&t.db, &mut rotator, &patient, |_| {})
        .await
        .unwrap();
    assert!(report.resumed);
    assert_eq!(report.retired_keys, [old_key]);
    let _ = stop.send(());
    following.await.unwrap();
}

#[test]
fn a_live_ring_follows_its_key_file_and_keeps_its_keys_when_the_file_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    KeyRing::generate().save(&path).unwrap();
    let follower = KeyRing::load(&path).unwrap();
    let shared = follower.clone();
    let mut editor = KeyRing::load(&path).unwrap();
    let binding = tributary_store::keystore::Binding {
        purpose: "credential",
        tenant_id: "t",
        integration_id: "i",
        slot: "s",
    };
    let new_key = editor.add_primary_key();
    editor.save(&path).unwrap();
    // Opening something sealed under a key it does not hold re-reads the file first.
    let sealed = editor.seal(&binding, b"v").unwrap();
    assert_eq!(
        follower
            .open(&binding, &sealed.key_id, &sealed.ciphertext)
            .unwrap()
            .expose(),
        b"v"
    );
    assert_eq!(
        shared.primary_id(),
        new_key,
        "clones share the reloaded keys"
    );
    std::fs::write(&path, "{ half written").unwrap();
    assert!(follower.reload().is_err());
    assert_eq!(
        follower.primary_id(),
        new_key,
        "a broken file changes nothing"
    );
}
