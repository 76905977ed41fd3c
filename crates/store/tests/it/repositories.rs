//! Every repository function on SQLite and PostgreSQL, including tenant isolation.

mod audit;
mod retention;

use crate::support;

use std::time::Duration;

use serde_json::json;
use tributary_store::credentials::Expect;
use tributary_store::integrations::{Document, Integration, IntegrationStatus};
use tributary_store::keystore::KeyRing;
use tributary_store::runs::{RunOutcome, RunStatus};
use tributary_store::schedules::ScheduleUpdate;
use tributary_store::sessions::NewAuthSession;
use tributary_store::testing::{TestDb, each_backend};
use tributary_store::webhooks::{DeliveryCursor, DeliveryStatus, DeliveryToRecord, Recorded};
use tributary_store::{Backend, Db, Durability, SecretBytes, StoreError, Tx, now_ms};

#[tokio::test]
async fn opens_sqlite_memory_and_creates_parent_directories() {
    let memory = Db::open("sqlite::memory:").await.unwrap();
    assert_eq!(memory.backend(), Backend::Sqlite);
    memory.tenants().create("a").await.unwrap();
    let mut tx = memory.begin().await.unwrap();
    tx.tenants().create("b").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(memory.tenants().list().await.unwrap().len(), 2);

    let sqlite = support::sqlite_file().await;
    assert!(sqlite.file.exists());
    assert!(Db::open("mysql://nope").await.is_err());
}

/// The database file and its `-wal` and `-shm` companions are 0600 whatever the umask, and
/// wider ones (left by an older version) are narrowed on open.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("private.db");
    let url = format!("sqlite://{}", file.display());
    let files: Vec<std::path::PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| std::path::PathBuf::from(format!("{}{suffix}", file.display())))
        .collect();
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let first = Db::open(&url).await.unwrap();
    first.tenants().create("a").await.unwrap();
    for path in &files {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    for path in &files {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    // A second handle while the first keeps the companions in place.
    let second = Db::open(&url).await.unwrap();
    assert_eq!(second.tenants().list().await.unwrap().len(), 1);
    for path in &files {
        assert_eq!(mode(path), 0o600, "{} reopened", path.display());
    }
    first.close().await;
    second.close().await;
}

#[each_backend]
async fn tenants_and_api_tokens(t: TestDb) {
    let db = &t.db;
    let acme = db.tenants().create("acme").await.unwrap();
    assert!(
        matches!(
            db.tenants().create("acme").await,
            Err(StoreError::AlreadyExists(_))
        ),
        "{}",
        t.name
    );
    assert_eq!(db.tenants().get(&acme.id).await.unwrap().unwrap(), acme);
    assert_eq!(
        db.tenants().get_by_name("acme").await.unwrap().unwrap().id,
        acme.id
    );
    let other = db.tenants().create("other").await.unwrap();
    assert_eq!(db.tenants().list().await.unwrap().len(), 2);

    let (record, token) = db
        .tenants()
        .issue_token(Some(&acme.id), "ci", None)
        .await
        .unwrap();
    assert!(token.expose_str().unwrap().starts_with("trb_"));
    let found = db
        .tenants()
        .authenticate(token.expose())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, record.id);
    assert_eq!(found.tenant_id.as_deref(), Some(acme.id.as_str()));
    assert!(
        db.tenants()
            .authenticate(b"trb_wrong")
            .await
            .unwrap()
            .is_none()
    );
    let stored = support::scalar(
        db,
        "SELECT count(*) FROM api_tokens WHERE token_hash LIKE 'trb_%'",
    )
    .await;
    assert_eq!(stored, 0, "tokens are stored hashed");

    let (_, operator) = db.tenants().issue_token(None, "ops", None).await.unwrap();
    assert!(
        db.tenants()
            .authenticate(operator.expose())
            .await
            .unwrap()
            .unwrap()
            .tenant_id
            .is_none()
    );
    assert_eq!(db.tenants().list_tokens(None).await.unwrap().len(), 1);
    let (_, expired) = db
        .tenants()
        .issue_token(Some(&acme.id), "old", Some(now_ms() - 1))
        .await
        .unwrap();
    assert!(
        db.tenants()
            .authenticate(expired.expose())
            .await
            .unwrap()
            .is_none()
    );

    assert!(
        !db.tenants()
            .revoke_token(Some(&other.id), &record.id)
            .await
            .unwrap(),
        "other tenant cannot revoke"
    );
    assert!(
        db.tenants()
            .revoke_token(Some(&acme.id), &record.id)
            .await
            .unwrap()
    );
    assert!(
        db.tenants()
            .authenticate(token.expose())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        db.tenants()
            .list_tokens(Some(&acme.id))
            .await
            .unwrap()
            .len(),
        2
    );

    assert!(db.tenants().delete(&other.id).await.unwrap());
    assert!(db.tenants().get(&other.id).await.unwrap().is_none());
}

#[each_backend]
async fn integrations_are_tenant_scoped(t: TestDb) {
    let db = &t.db;
    let (tenant, id) = support::tenant_with_integration(db, "acme").await;
    let (intruder, _) = support::tenant_with_integration(db, "intruder").await;
    let got = db.integrations().get(&tenant, &id).await.unwrap().unwrap();
    assert_eq!(got.status, IntegrationStatus::Pending);
    assert_eq!(got.user_input, json!({"org": "acme"}));
    assert!(
        db.integrations()
            .get(&intruder, &id)
            .await
            .unwrap()
            .is_none(),
        "{}",
        t.name
    );
    assert!(matches!(
        db.integrations()
            .set_status(&intruder, &id, IntegrationStatus::Disabled, None)
            .await,
        Err(StoreError::NotFound(_))
    ));

    db.integrations()
        .rename(&tenant, &id, "Okta prod")
        .await
        .unwrap();
    db.integrations()
        .set_document(
            &tenant,
            &id,
            Document::ProviderState,
            &json!({"connection": "OktaToken"}),
        )
        .await
        .unwrap();
    db.integrations()
        .set_document(&tenant, &id, Document::Metadata, &json!({"org_id": "00o1"}))
        .await
        .unwrap();
    db.integrations()
        .set_document(&tenant, &id, Document::UserInput, &json!({"org": "acme2"}))
        .await
        .unwrap();
    db.integrations()
        .set_status(
            &tenant,
            &id,
            IntegrationStatus::Errored,
            Some("token revoked"),
        )
        .await
        .unwrap();
    let got = db.integrations().get(&tenant, &id).await.unwrap().unwrap();
    assert_eq!(got.name, "Okta prod");
    assert_eq!(got.provider_state, json!({"connection": "OktaToken"}));
    assert_eq!(got.metadata, json!({"org_id": "00o1"}));
    assert_eq!(got.user_input, json!({"org": "acme2"}));
    assert_eq!(got.status, IntegrationStatus::Errored);
    assert_eq!(got.status_reason.as_deref(), Some("token revoked"));

    db.integrations()
        .create(&tenant, "slack", "Slack", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        db.integrations().list(&tenant, None).await.unwrap().len(),
        2
    );
    assert_eq!(
        db.integrations()
            .list(&tenant, Some("slack"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        db.integrations()
            .list(&intruder, Some("slack"))
            .await
            .unwrap()
            .len(),
        0
    );

    assert!(!db.integrations().delete(&intruder, &id).await.unwrap());
    assert!(db.integrations().delete(&tenant, &id).await.unwrap());
    assert!(db.integrations().get(&tenant, &id).await.unwrap().is_none());
}

/// Creates an Okta integration of `tenant` and saves its `OktaToken` credential, both in `tx`.
async fn integration_with_credential(tx: &mut Tx, tenant: &str, ring: &KeyRing) -> Integration {
    let integration = tx
        .integrations()
        .create(tenant, "okta", "Okta", &json!({}))
        .await
        .unwrap();
    support::save_new_credential(
        &mut tx.credentials(ring),
        tenant,
        &integration.id,
        "OktaToken",
        "x",
    )
    .await;
    integration
}

#[each_backend]
async fn transactions_commit_together_or_not_at_all(t: TestDb) {
    let db = &t.db;
    let tenant = db.tenants().create("acme").await.unwrap();
    let ring = KeyRing::generate();
    let mut tx = db.begin().await.unwrap();
    integration_with_credential(&mut tx, &tenant.id, &ring).await;
    drop(tx); // rolled back
    assert!(
        db.integrations()
            .list(&tenant.id, None)
            .await
            .unwrap()
            .is_empty(),
        "{}",
        t.name
    );

    let mut tx = db.begin().await.unwrap();
    let integration = integration_with_credential(&mut tx, &tenant.id, &ring).await;
    tx.commit().await.unwrap();
    assert!(
        db.credentials(&ring)
            .load(&tenant.id, &integration.id, "OktaToken")
            .await
            .unwrap()
            .is_some()
    );
}

#[each_backend]
async fn credentials_compare_and_swap(t: TestDb) {
    let db = &t.db;
    let ring = KeyRing::generate();
    let (tenant, id) = support::tenant_with_integration(db, "acme").await;
    let (intruder, _) = support::tenant_with_integration(db, "intruder").await;
    let mut creds = db.credentials(&ring);
    let first = SecretBytes::from_json(&json!({"access_token": "a1", "refresh_token": "r1"}));
    assert_eq!(
        creds
            .save(&tenant, &id, "OAuth", &first, Expect::Absent, Some(123))
            .await
            .unwrap(),
        1
    );
    let again = creds
        .save(&tenant, &id, "OAuth", &first, Expect::Absent, None)
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { found: 1, .. })),
        "{}: {again:?}",
        t.name
    );

    // Two refreshers read version 1; the second loses and must not overwrite the rotation.
    let rotated = SecretBytes::from_json(&json!({"access_token": "a2", "refresh_token": "r2"}));
    assert_eq!(
        creds
            .save(&tenant, &id, "OAuth", &rotated, Expect::Version(1), None)
            .await
            .unwrap(),
        2
    );
    let stale = SecretBytes::from_json(&json!({"access_token": "a3", "refresh_token": "r1"}));
    match creds
        .save(&tenant, &id, "OAuth", &stale, Expect::Version(1), None)
        .await
    {
        Err(StoreError::Conflict {
            expected: 1,
            found: 2,
            ..
        }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    let loaded = creds.load(&tenant, &id, "OAuth").await.unwrap().unwrap();
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.secret.expose_json().unwrap()["refresh_token"], "r2");
    assert_eq!(
        creds
            .save(&tenant, &id, "OAuth", &stale, Expect::Any, None)
            .await
            .unwrap(),
        3
    );

    // Tenant scoping: another tenant can neither read nor write.
    assert!(creds.load(&intruder, &id, "OAuth").await.unwrap().is_none());
    assert!(matches!(
        creds
            .save(&intruder, &id, "OAuth", &stale, Expect::Any, None)
            .await,
        Err(StoreError::NotFound(_))
    ));

    creds
        .save(
            &tenant,
            &id,
            "ApiKey",
            &SecretBytes::from("k"),
            Expect::Absent,
            Some(1),
        )
        .await
        .unwrap();
    let infos = creds.list(&tenant, &id).await.unwrap();
    assert_eq!(
        infos.iter().map(|i| i.slot.as_str()).collect::<Vec<_>>(),
        ["ApiKey", "OAuth"]
    );
    assert_eq!(
        creds
            .info(&tenant, &id, "OAuth")
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );
    let expiring = creds.expiring_before(100, 10).await.unwrap();
    assert_eq!(
        expiring,
        vec![(tenant.clone(), id.clone(), "ApiKey".to_owned(), 1)]
    );
    assert_eq!(
        creds
            .delete_all_except(&tenant, &id, &["OAuth"])
            .await
            .unwrap(),
        1
    );
    assert!(creds.delete(&tenant, &id, "OAuth").await.unwrap());
    assert!(creds.list(&tenant, &id).await.unwrap().is_empty());
}

#[each_backend]
async fn auth_sessions_are_single_use_and_expire(t: TestDb) {
    let db = &t.db;
    let (tenant, id) = support::tenant_with_integration(db, "acme").await;
    let ring = KeyRing::generate();
    let verifier = SecretBytes::from("pkce-verifier-0123456789");
    let state = json!({"csrf": "abc"});
    let new = support::okta_auth_session(&tenant, &id, &verifier, &state);
    let (token, expires_at) = db.auth_sessions(&ring).create(&new).await.unwrap();
    assert!(expires_at >= now_ms() + 14 * 60 * 1000);
    // The verifier is sealed at rest.
    let plaintext = support::scalar(
        db,
        "SELECT COUNT(*) FROM auth_sessions WHERE pkce_verifier LIKE '%pkce-verifier-0123456789%'",
    )
    .await;
    assert_eq!(plaintext, 0, "{}", t.name);
    let session = db.auth_sessions(&ring).take(token.expose()).await.unwrap();
    assert_eq!(session.integration_id, id);
    assert_eq!(session.pkce_verifier, verifier);
    assert_eq!(session.provider_state, state);
    assert_eq!(session.nonce, "n-1");
    assert!(
        matches!(
            db.auth_sessions(&ring).take(token.expose()).await,
            Err(StoreError::NotFound(_))
        ),
        "{}",
        t.name
    );

    // Two concurrent takes: exactly one wins.
    let (token, _) = db.auth_sessions(&ring).create(&new).await.unwrap();
    let other = t.reopen().await;
    let (a, b) = tokio::join!(
        async { db.auth_sessions(&ring).take(token.expose()).await },
        async {
            let mut sessions = other.auth_sessions(&ring);
            sessions.take(token.expose()).await
        }
    );
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "{}", t.name);

    let short = NewAuthSession {
        ttl: Some(Duration::from_millis(30)),
        ..new.clone()
    };
    let (token, _) = db.auth_sessions(&ring).create(&short).await.unwrap();
    let (stale, _) = db.auth_sessions(&ring).create(&short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(matches!(
        db.auth_sessions(&ring).take(token.expose()).await,
        Err(StoreError::Expired(_))
    ));
    db.auth_sessions(&ring).create(&new).await.unwrap();
    assert_eq!(db.auth_sessions(&ring).purge_expired().await.unwrap(), 1);
    assert!(matches!(
        db.auth_sessions(&ring).take(stale.expose()).await,
        Err(StoreError::NotFound(_))
    ));
}

#[each_backend]
async fn ui_sessions_hold_no_token_and_end_with_sign_out_revocation_or_idleness(t: TestDb) {
    let db = &t.db;
    let acme = db.tenants().create("acme").await.unwrap();
    let (record, token) = db
        .tenants()
        .issue_token(Some(&acme.id), "ui", None)
        .await
        .unwrap();
    let day = Duration::from_secs(24 * 3600);
    let id = db
        .ui_sessions()
        .create(&acme.id, &record.id, day)
        .await
        .unwrap();
    assert_ne!(id, token, "{}", t.name);
    assert!(id.expose_str().unwrap().starts_with("trui_"));
    // Only the id's hash is stored, and the id is not an API token.
    let plain = support::scalar(
        db,
        &format!(
            "SELECT COUNT(*) FROM ui_sessions WHERE id_hash = '{}'",
            id.expose_str().unwrap()
        ),
    )
    .await;
    assert_eq!(plain, 0, "{}", t.name);
    assert!(
        db.tenants()
            .authenticate(id.expose())
            .await
            .unwrap()
            .is_none()
    );
    let session = db
        .ui_sessions()
        .find(id.expose(), day)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.tenant_id, acme.id);
    assert_eq!(session.token_id, record.id);
    assert!(session.expires_at >= now_ms() + 23 * 3600 * 1000);

    // Signing out deletes it.
    assert!(db.ui_sessions().delete(id.expose()).await.unwrap());
    assert!(!db.ui_sessions().delete(id.expose()).await.unwrap());
    assert!(
        db.ui_sessions()
            .find(id.expose(), day)
            .await
            .unwrap()
            .is_none()
    );

    // Revoking the token ends its sessions.
    let kept = db
        .ui_sessions()
        .create(&acme.id, &record.id, day)
        .await
        .unwrap();
    assert!(
        db.tenants()
            .revoke_token(Some(&acme.id), &record.id)
            .await
            .unwrap()
    );
    assert!(
        db.ui_sessions()
            .find(kept.expose(), day)
            .await
            .unwrap()
            .is_none(),
        "{}",
        t.name
    );

    // Idle too long, or past the absolute end: gone, and purged.
    let (live, _) = db
        .tenants()
        .issue_token(Some(&acme.id), "ui2", None)
        .await
        .unwrap();
    let idle = db
        .ui_sessions()
        .create(&acme.id, &live.id, day)
        .await
        .unwrap();
    let short = db
        .ui_sessions()
        .create(&acme.id, &live.id, Duration::from_millis(30))
        .await
        .unwrap();
    let fresh = db
        .ui_sessions()
        .create(&acme.id, &live.id, day)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let short_idle = Duration::from_millis(40);
    assert!(
        db.ui_sessions()
            .find(idle.expose(), short_idle)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.ui_sessions()
            .find(short.expose(), day)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.ui_sessions()
            .find(fresh.expose(), day)
            .await
            .unwrap()
            .is_some()
    );
    // Purged: the revoked token's session and the one past its end; the fresh and the idle
    // one (idle by a shorter measure only) stay.
    assert_eq!(
        db.ui_sessions().purge_expired(day).await.unwrap(),
        2,
        "{}",
        t.name
    );
    assert_eq!(
        support::scalar(db, "SELECT COUNT(*) FROM ui_sessions").await,
        2
    );
}

#[each_backend]
async fn open_auth_sessions_are_capped_per_tenant(t: TestDb) {
    let db = &t.db;
    let (tenant, id) = support::tenant_with_integration(db, "acme").await;
    let (other_tenant, other_id) = support::tenant_with_integration(db, "other").await;
    let ring = KeyRing::generate();
    let verifier = SecretBytes::from("pkce-verifier-0123456789");
    let new = NewAuthSession {
        max_open_per_tenant: 3,
        ..support::okta_auth_session(&tenant, &id, &verifier, &serde_json::Value::Null)
    };
    let is_capped = |result: Result<(SecretBytes, i64), StoreError>| {
        matches!(result, Err(StoreError::LimitReached { limit: 3, .. }))
    };
    // Expired sessions do not count.
    let short = NewAuthSession {
        ttl: Some(Duration::from_millis(700)),
        ..new.clone()
    };
    for _ in 0..3 {
        db.auth_sessions(&ring).create(&short).await.unwrap();
    }
    assert!(
        is_capped(db.auth_sessions(&ring).create(&new).await),
        "{}",
        t.name
    );
    tokio::time::sleep(Duration::from_millis(800)).await;

    // Many starts at once, through several handles: exactly the cap gets through.
    let handles = [t.reopen().await, t.reopen().await, db.clone()];
    let results = futures::future::join_all((0..9).map(|i| {
        let handle = handles[i % handles.len()].clone();
        let (ring, new) = (&ring, &new);
        async move { handle.auth_sessions(ring).create(new).await }
    }))
    .await;
    let opened: Vec<SecretBytes> = results
        .into_iter()
        .filter_map(|result| match result {
            Ok((token, _)) => Some(token),
            Err(err) => {
                assert!(is_capped(Err(err)), "{}", t.name);
                None
            }
        })
        .collect();
    assert_eq!(opened.len(), 3, "{}", t.name);
    assert!(is_capped(db.auth_sessions(&ring).create(&new).await));

    // Another tenant has its own allowance; a session used frees a place.
    let theirs = NewAuthSession {
        tenant_id: &other_tenant,
        integration_id: &other_id,
        ..new.clone()
    };
    db.auth_sessions(&ring).create(&theirs).await.unwrap();
    db.auth_sessions(&ring)
        .take(opened[0].expose())
        .await
        .unwrap();
    db.auth_sessions(&ring).create(&new).await.unwrap();
    assert!(is_capped(db.auth_sessions(&ring).create(&new).await));

    // Inside a caller's transaction too.
    let mut tx = db.begin().await.unwrap();
    assert!(is_capped(tx.auth_sessions(&ring).create(&new).await));
    tx.rollback().await.unwrap();
}

#[each_backend]
async fn webhook_endpoints_and_deliveries(t: TestDb) {
    let db = &t.db;
    let ring = KeyRing::generate();
    let (tenant, id) = support::tenant_with_integration(db, "acme").await;
    let (intruder, _) = support::tenant_with_integration(db, "intruder").await;
    let mut hooks = db.webhooks(&ring);
    let (endpoint, secret) = hooks
        .create_endpoint(&tenant, &id, "events", &["user.created".into()])
        .await
        .unwrap();
    assert!(
        matches!(
            hooks.create_endpoint(&tenant, &id, "events", &[]).await,
            Err(StoreError::AlreadyExists(_))
        ),
        "{}",
        t.name
    );
    assert!(matches!(
        hooks.create_endpoint(&intruder, &id, "x", &[]).await,
        Err(StoreError::NotFound(_))
    ));
    let (found, opened) = hooks
        .endpoint_for_intake(&endpoint.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, endpoint);
    assert_eq!(opened, secret);
    assert!(
        hooks
            .endpoint_for_intake("whe_missing")
            .await
            .unwrap()
            .is_none()
    );
    // Intake reads the endpoint, its secret and its integration's definition at once.
    let (found, opened, definition) = hooks.intake_target(&endpoint.id).await.unwrap().unwrap();
    assert_eq!((found, opened), (endpoint.clone(), secret.clone()));
    assert_eq!(
        definition,
        db.integrations()
            .get(&tenant, &id)
            .await
            .unwrap()
            .unwrap()
            .definition_id
    );
    assert!(hooks.intake_target("whe_missing").await.unwrap().is_none());
    assert_eq!(hooks.list_endpoints(&tenant, &id).await.unwrap().len(), 1);
    assert_eq!(
        hooks
            .list_endpoints_with_secrets(&tenant, &id)
            .await
            .unwrap(),
        vec![(endpoint.clone(), secret.clone())]
    );
    assert!(
        hooks
            .list_endpoints_with_secrets(&intruder, &id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        hooks
            .list_endpoints(&intruder, &id)
            .await
            .unwrap()
            .is_empty()
    );
    hooks
        .set_enabled(&tenant, &endpoint.id, false)
        .await
        .unwrap();
    assert!(!hooks.list_endpoints(&tenant, &id).await.unwrap()[0].enabled);
    assert!(
        hooks
            .set_enabled(&intruder, &endpoint.id, true)
            .await
            .is_err()
    );

    let body = json!({"id": "evt-1"});
    let (delivery, process) = hooks
        .record_delivery(&tenant, &endpoint.id, "d-1", "user.created", &body)
        .await
        .unwrap();
    assert!(process);
    assert_eq!(delivery.status, DeliveryStatus::Received);
    hooks
        .finish_delivery(&tenant, &delivery.id, Some("handler failed"))
        .await
        .unwrap();
    let (retry, process) = hooks
        .record_delivery(&tenant, &endpoint.id, "d-1", "user.created", &body)
        .await
        .unwrap();
    assert!(process, "a failed delivery is processed again on retry");
    assert_eq!(retry.attempts, 2);
    assert_eq!(retry.status, DeliveryStatus::Failed);
    hooks
        .finish_delivery(&tenant, &delivery.id, None)
        .await
        .unwrap();
    let (dup, process) = hooks
        .record_delivery(&tenant, &endpoint.id, "d-1", "user.created", &body)
        .await
        .unwrap();
    assert!(!process, "a done delivery is a duplicate");
    assert_eq!(dup.id, delivery.id);
    assert!(
        hooks
            .record_delivery(&intruder, &endpoint.id, "d-2", "x", &body)
            .await
            .is_err()
    );
    let listed = hooks
        .list_deliveries(&tenant, &endpoint.id, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, DeliveryStatus::Done);
    assert!(
        hooks
            .list_deliveries(&intruder, &endpoint.id, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The same id with another body is a conflict: counted on the stored delivery, which
    // keeps its body; the same body again is a copy.
    let recorded = hooks
        .record_delivery_of(&tenant, &endpoint.id, "d-7", "x", &body, Some("aa"))
        .await
        .unwrap();
    assert!(matches!(recorded, Recorded::Delivery { process: true, .. }));
    let again = hooks
        .record_delivery_of(&tenant, &endpoint.id, "d-7", "x", &body, Some("aa"))
        .await
        .unwrap();
    let Recorded::Delivery { delivery: copy, .. } = again else {
        panic!("the same body is a copy");
    };
    assert_eq!((copy.attempts, copy.conflicts), (2, 0));
    let other = hooks
        .record_delivery_of(
            &tenant,
            &endpoint.id,
            "d-7",
            "x",
            &json!({"id": "evt-9"}),
            Some("bb"),
        )
        .await
        .unwrap();
    let Recorded::Conflict(stored) = other else {
        panic!("another body under the same id is a conflict");
    };
    assert_eq!(stored.id, copy.id);
    assert_eq!((stored.attempts, stored.conflicts), (2, 1));
    assert!(stored.last_conflict_at.is_some());
    assert_eq!(stored.payload, body, "the stored body is kept");
    assert_eq!(stored.body_sha256.as_deref(), Some("aa"));
    // A delivery stored without a digest takes any body as a copy.
    let unknown = hooks
        .record_delivery_of(&tenant, &endpoint.id, "d-1", "x", &body, Some("cc"))
        .await
        .unwrap();
    assert!(matches!(unknown, Recorded::Delivery { .. }));

    // Pages of deliveries, newest first, follow their cursors to the end, with no gap and
    // no repeat, deliveries received in the same millisecond included.
    for n in 2..=5 {
        hooks
            .record_delivery(&tenant, &endpoint.id, &format!("d-{n}"), "x", &body)
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<DeliveryCursor> = None;
    loop {
        let page = hooks
            .list_deliveries_page(&tenant, &endpoint.id, cursor.as_ref(), 2)
            .await
            .unwrap();
        seen.extend(page.iter().map(|d| d.delivery_id.clone()));
        match page.last() {
            Some(last) if page.len() == 2 => {
                let next = DeliveryCursor::after(last);
                assert_eq!(DeliveryCursor::parse(&next.to_string()), Some(next.clone()));
                cursor = Some(next);
            }
            _ => break,
        }
    }
    let all: Vec<String> = hooks
        .list_deliveries(&tenant, &endpoint.id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.delivery_id)
        .collect();
    assert_eq!(all.len(), 6, "d-1 to d-5 and d-7");
    assert_eq!(seen, all, "pages in order, none missed, none repeated");
    assert_eq!(DeliveryCursor::parse("not a cursor"), None);

    // A batch is recorded in one statement per round, answered in its own order: a new
    // delivery, its copy in the same batch, another body under its id, another delivery.
    let other_body = json!({"id": "evt-99"});
    let batch = [
        ("b-1", &body, Some("b1")),
        ("b-1", &body, Some("b1")),
        ("b-1", &other_body, Some("b9")),
        ("b-2", &body, None),
    ];
    let writes: Vec<DeliveryToRecord<'_>> = batch
        .iter()
        .map(|(id, payload, digest)| DeliveryToRecord {
            tenant_id: &tenant,
            endpoint_id: &endpoint.id,
            delivery_id: id,
            event: "x",
            payload,
            body_sha256: *digest,
        })
        .collect();
    let recorded = hooks.record_deliveries(&writes).await.unwrap();
    let summary: Vec<(String, i64, i64, bool)> = recorded
        .iter()
        .map(|r| match r {
            Recorded::Delivery { delivery, process } => (
                delivery.delivery_id.clone(),
                delivery.attempts,
                delivery.conflicts,
                *process,
            ),
            Recorded::Conflict(stored) => (
                format!("conflict:{}", stored.delivery_id),
                stored.attempts,
                stored.conflicts,
                false,
            ),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("b-1".to_owned(), 1, 0, true),
            ("b-1".to_owned(), 2, 0, true),
            ("conflict:b-1".to_owned(), 2, 1, false),
            ("b-2".to_owned(), 1, 0, true),
        ]
    );
    // A batch naming another tenant's endpoint stores nothing of itself.
    let foreign = [DeliveryToRecord {
        tenant_id: &intruder,
        ..writes[3]
    }];
    assert!(hooks.record_deliveries(&foreign).await.is_err());

    // A done delivery is queued again only when forced; a failed one always.
    let done = &hooks
        .list_deliveries(&tenant, &endpoint.id, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.delivery_id == "d-1")
        .unwrap()
        .id
        .clone();
    assert!(!hooks.requeue_delivery(&tenant, done, false).await.unwrap());
    assert!(!hooks.requeue_delivery(&intruder, done, true).await.unwrap());
    assert!(hooks.requeue_delivery(&tenant, done, true).await.unwrap());
    assert!(
        !hooks.requeue_delivery(&tenant, done, true).await.unwrap(),
        "a delivery being processed is left alone"
    );

    assert!(
        !hooks
            .delete_endpoint(&intruder, &endpoint.id)
            .await
            .unwrap()
    );
    let before = hooks
        .list_deliveries(&tenant, &endpoint.id, 100)
        .await
        .unwrap();
    assert!(hooks.delete_endpoint(&tenant, &endpoint.id).await.unwrap());
    // The history outlives the endpoint: every delivery is kept, listable by integration.
    let kept = hooks
        .list_tenant_deliveries(&tenant, Some(&id), None, 100)
        .await
        .unwrap();
    assert_eq!(kept, before, "deliveries outlive their endpoint");
    assert!(
        kept.iter()
            .all(|d| d.integration_id.as_deref() == Some(id.as_str()))
    );
    assert!(
        hooks
            .list_tenant_deliveries(&intruder, None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let first_page = hooks
        .list_tenant_deliveries(&tenant, None, None, 2)
        .await
        .unwrap();
    let next = hooks
        .list_tenant_deliveries(
            &tenant,
            None,
            Some(&DeliveryCursor::after(&first_page[1])),
            100,
        )
        .await
        .unwrap();
    assert_eq!(first_page.len() + next.len(), kept.len());
    assert!(
        hooks
            .get_delivery(&tenant, &kept[0].id)
            .await
            .unwrap()
            .is_some()
    );
}

#[each_backend]
async fn runs_and_logs(t: TestDb) {
    let db = &t.db;
    let (tenant, id) = support::tenant_with_integration(db, "acme").await;
    let (intruder, _) = support::tenant_with_integration(db, "intruder").await;
    let run = db
        .runs()
        .create(
            &tenant,
            &id,
            "DirectorySync",
            "manual",
            &json!({"full": true}),
            Some(&json!({"wf": 1})),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Pending);
    assert!(
        db.runs()
            .create(&intruder, &id, "DirectorySync", "manual", &json!({}), None)
            .await
            .is_err()
    );
    assert_eq!(db.runs().start(&tenant, &run.id).await.unwrap(), 1);
    assert_eq!(
        db.runs().start(&tenant, &run.id).await.unwrap(),
        2,
        "a retry is a new attempt"
    );
    db.runs()
        .checkpoint(
            &tenant,
            &run.id,
            &json!({"cursor": "p2"}),
            &json!({"seen": 10}),
        )
        .await
        .unwrap();
    db.runs()
        .log(&tenant, &run.id, "info", "page 1", &json!({"n": 10}))
        .await
        .unwrap();
    db.runs()
        .log(&tenant, &run.id, "warn", "page 2 slow", &json!({}))
        .await
        .unwrap();
    assert!(
        db.runs()
            .log(&intruder, &run.id, "info", "x", &json!({}))
            .await
            .is_err()
    );
    let counters = json!({"seen": 20, "written": 19, "failed": 1});
    let finished = db
        .runs()
        .finish(
            &tenant,
            &run.id,
            &RunOutcome {
                status: RunStatus::Partial,
                counters: &counters,
                error_kind: Some("mapping"),
                error_message: Some("1 record did not map"),
                result: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(finished.status, RunStatus::Partial);
    assert_eq!(finished.attempt, 2);
    assert_eq!(finished.checkpoint, Some(json!({"cursor": "p2"})));
    assert_eq!(finished.workflow, Some(json!({"wf": 1})));
    assert!(finished.duration_ms.unwrap() >= 0);
    assert!(
        matches!(
            db.runs().start(&tenant, &run.id).await,
            Err(StoreError::NotFound(_))
        ),
        "{}",
        t.name
    );
    let logs = db.runs().logs(&tenant, &run.id).await.unwrap();
    assert_eq!(
        logs.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        ["page 1", "page 2 slow"]
    );
    assert!(db.runs().logs(&intruder, &run.id).await.unwrap().is_empty());
    assert_eq!(
        db.runs()
            .get(&tenant, &run.id)
            .await
            .unwrap()
            .unwrap()
            .counters,
        counters
    );
    assert!(db.runs().get(&intruder, &run.id).await.unwrap().is_none());
    db.runs()
        .create(&tenant, &id, "HealthCheck", "reconcile", &json!({}), None)
        .await
        .unwrap();
    assert_eq!(db.runs().list(&tenant, &id, 10).await.unwrap().len(), 2);
    assert!(db.runs().list(&intruder, &id, 10).await.unwrap().is_empty());
    assert!(
        db.runs()
            .finish(
                &tenant,
                &run.id,
                &RunOutcome {
                    status: RunStatus::Running,
                    counters: &counters,
                    error_kind: None,
                    error_message: None,
                    result: None,
                }
            )
            .await
            .is_err()
    );
}

#[each_backend]
async fn reconcile_schedules(t: TestDb) {
    let db = &t.db;
    let (tenant, id) = support::tenant_with_integration(db, "acme").await;
    let (intruder, _) = support::tenant_with_integration(db, "intruder").await;
    let now = now_ms();
    db.schedules()
        .upsert(&tenant, &id, "DirectorySync", 300_000, now - 10)
        .await
        .unwrap();
    db.schedules()
        .upsert(&tenant, &id, "HealthCheck", 300_000, now + 60_000)
        .await
        .unwrap();
    assert!(
        db.schedules()
            .upsert(&intruder, &id, "X", 1, now)
            .await
            .is_err()
    );

    let other = t.reopen().await;
    let (a, b) = tokio::join!(
        async { db.schedules().claim_due(now, 60_000, 10).await },
        async {
            let mut schedules = other.schedules();
            schedules.claim_due(now, 60_000, 10).await
        }
    );
    let claimed: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(
        claimed.len(),
        1,
        "{}: a due schedule is claimed once",
        t.name
    );
    assert_eq!(claimed[0].operation, "DirectorySync");

    let updated = db
        .schedules()
        .record(
            &tenant,
            &id,
            "DirectorySync",
            &ScheduleUpdate {
                interval_ms: 600_000,
                idle_streak: 1,
                error_streak: 0,
                last_error: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.interval_ms, 600_000);
    assert_eq!(updated.next_run_at, updated.last_run_at.unwrap() + 600_000);
    assert!(
        db.schedules()
            .record(
                &intruder,
                &id,
                "DirectorySync",
                &ScheduleUpdate {
                    interval_ms: 1,
                    idle_streak: 0,
                    error_streak: 0,
                    last_error: None,
                }
            )
            .await
            .is_err()
    );

    assert_eq!(
        db.schedules()
            .set_enabled(&tenant, &id, false)
            .await
            .unwrap(),
        2
    );
    assert!(
        db.schedules()
            .claim_due(now + 10_000_000, 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.schedules().list(&tenant, &id).await.unwrap().len(), 2);
    assert!(
        db.schedules()
            .list(&intruder, &id)
            .await
            .unwrap()
            .is_empty()
    );
    let again = db
        .schedules()
        .upsert(&tenant, &id, "DirectorySync", 300_000, now)
        .await
        .unwrap();
    assert!(again.enabled);
    assert_eq!(again.idle_streak, 1, "re-enabling keeps the streaks");
    assert!(
        db.schedules()
            .delete(&tenant, &id, "HealthCheck")
            .await
            .unwrap()
    );
    assert_eq!(db.schedules().list(&tenant, &id).await.unwrap().len(), 1);
}

/// The transaction that stores what is acknowledged is fsync'd at commit on both backends, also
/// when the server's default is not (PostgreSQL `synchronous_commit = off`), and SQLite's writer
/// goes back to `synchronous=NORMAL` for every other write. Checked on the transaction's own
/// connection, as the webhook intake checks it before each acknowledgement, so a change that
/// relaxes either setting fails here.
#[each_backend]
async fn durable_transactions_are_fsynced_whatever_the_defaults(backend: TestDb) {
    let name = backend.name;
    let db = &backend.db;
    let mut durable = db.begin_durable().await.unwrap();
    assert_eq!(
        durable.durability().await.unwrap(),
        Durability::Fsync,
        "{name}"
    );
    durable.commit().await.unwrap();
    if name == "sqlite" {
        let mut ordinary = db.begin().await.unwrap();
        assert_eq!(
            ordinary.durability().await.unwrap(),
            Durability::Deferred,
            "{name}: other writes stay at synchronous=NORMAL"
        );
        ordinary.rollback().await.unwrap();
        // A durable transaction that is rolled back also sets the writer back.
        let durable = db.begin_durable().await.unwrap();
        durable.rollback().await.unwrap();
        let mut ordinary = db.begin().await.unwrap();
        assert_eq!(ordinary.durability().await.unwrap(), Durability::Deferred);
    }
}

/// [`durable_transactions_are_fsynced_whatever_the_defaults`] on a PostgreSQL server (or role)
/// whose default is `synchronous_commit = off`.
#[tokio::test]
async fn durable_transactions_are_fsynced_on_a_server_that_defers_commits() {
    let url = tributary_store::testing::postgres_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    let relaxed = format!("{url}{separator}options=-c%20synchronous_commit%3Doff");
    let schema = format!("durable_relaxed_{}_{}", std::process::id(), now_ms());
    let opened = Db::open_with(
        tributary_store::OpenOptions::new(&relaxed)
            .postgres_schema(schema)
            .max_connections(2),
    )
    .await;
    match opened {
        Ok(db) => {
            let mut ordinary = db.begin().await.unwrap();
            assert_eq!(ordinary.durability().await.unwrap(), Durability::Deferred);
            ordinary.rollback().await.unwrap();
            let mut durable = db.begin_durable().await.unwrap();
            assert_eq!(durable.durability().await.unwrap(), Durability::Fsync);
            durable.rollback().await.unwrap();
        }
        Err(error) => assert!(
            !matches!(std::env::var("CI").as_deref(), Ok("true" | "1")),
            "PostgreSQL is required when CI=true: {error}"
        ),
    }
}
