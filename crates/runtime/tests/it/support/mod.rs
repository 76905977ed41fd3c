//! The runtime's test harness: "Acme", a test definition with a token mode and an OAuth mode, a
//! fake Acme API on loopback that behaves like a paginated REST API (bearer tokens, 401 on a bad
//! or expired token, 429 with Retry-After, a revocation endpoint), and a runtime on a fresh
//! SQLite or PostgreSQL database.

pub mod acme;
pub mod fake_api;

use std::{future::Future, time::Duration};

use tributary_core::{Registry, registry::CoreChecksOnly};
use tributary_runtime::{Runtime, RuntimeConfig};
use tributary_store::{
    credentials::{Credential, CredentialInfo, Credentials},
    keystore::KeyRing,
    testing::TestDb,
};

pub use acme::OAuthSettings;
pub use fake_api::FakeAcme;

/// A runtime on one backend, one tenant and a fake Acme API.
pub struct Harness {
    pub backend: TestDb,
    pub runtime: Runtime,
    pub tenant_id: String,
    pub api: FakeAcme,
    pub ring: KeyRing,
}

impl Harness {
    pub async fn new(backend: TestDb, oauth: Option<OAuthSettings>) -> Self {
        tributary_providerkit::install_crypto_provider();
        let api = FakeAcme::start().await;
        let ring = KeyRing::generate();
        let runtime = runtime_on(backend.db.clone(), ring.clone(), oauth);
        let tenant = backend.db.tenants().create("acme-corp").await.unwrap();
        Self {
            backend,
            runtime,
            tenant_id: tenant.id,
            api,
            ring,
        }
    }

    /// A second runtime on the same database, as another process would have.
    pub async fn second_process(&self, oauth: Option<OAuthSettings>) -> Runtime {
        let db = self.backend.reopen().await;
        runtime_on(db, self.ring.clone(), oauth)
    }

    pub fn user_input(&self) -> serde_json::Value {
        serde_json::json!({ "baseUrl": self.api.base_url() })
    }

    /// The tenant's credentials, sealed with the harness's key ring.
    pub fn credentials(&self) -> Credentials<'_> {
        self.runtime.db().credentials(&self.ring)
    }

    /// The credential stored in `slot` of the integration, which must be there.
    pub async fn stored_credential(&self, integration_id: &str, slot: &str) -> Credential {
        let tenant = &self.tenant_id;
        found(slot, self.credentials().load(tenant, integration_id, slot)).await
    }

    /// What is known of the credential in `slot` without unsealing it; it must be there.
    pub async fn credential_info(&self, integration_id: &str, slot: &str) -> CredentialInfo {
        let tenant = &self.tenant_id;
        found(slot, self.credentials().info(tenant, integration_id, slot)).await
    }

    /// The slots of the credentials stored for the integration.
    pub async fn credential_slots(&self, integration_id: &str) -> Vec<String> {
        let tenant = &self.tenant_id;
        let stored = self
            .credentials()
            .list(tenant, integration_id)
            .await
            .unwrap();
        stored
            .into_iter()
            .map(|credential| credential.slot)
            .collect()
    }

    /// Fails unless a line of the run's log contains `text`.
    pub async fn assert_logged(&self, run_id: &str, text: &str) {
        let details = self
            .runtime
            .run_details(&self.tenant_id, run_id)
            .await
            .unwrap();
        assert!(
            details.logs.iter().any(|l| l.message.contains(text)),
            "{:?}",
            details.logs
        );
    }
}

/// What the credential lookup `lookup` of `slot` found; there must be one.
async fn found<T>(
    slot: &str,
    lookup: impl Future<Output = tributary_store::Result<Option<T>>>,
) -> T {
    let found = lookup.await.unwrap();
    found.unwrap_or_else(|| panic!("a {slot} credential is stored"))
}

pub fn runtime_on(db: tributary_store::Db, ring: KeyRing, oauth: Option<OAuthSettings>) -> Runtime {
    runtime_configured(db, ring, oauth, |_| {})
}

/// [`runtime_on`] with settings changed by `configure`.
pub fn runtime_configured(
    db: tributary_store::Db,
    ring: KeyRing,
    oauth: Option<OAuthSettings>,
    configure: impl FnOnce(&mut RuntimeConfig),
) -> Runtime {
    let registry = Registry::build(vec![acme::definition(oauth)], &CoreChecksOnly).unwrap();
    let mut config = RuntimeConfig::new("http://127.0.0.1:9");
    config.cancel_poll = Duration::from_millis(50);
    configure(&mut config);
    Runtime::new(registry, db, ring, config)
}

/// Polls `check` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Connects an Acme integration with an API token the fake accepts; returns its id.
pub async fn connect_with_token(h: &Harness, token: &str) -> String {
    connect_token_to(h, token, None).await
}

/// Connects with an API token the fake accepts: a new integration, or `integration_id` again
/// (a reconnect). Returns the integration's id.
pub async fn connect_token_to(h: &Harness, token: &str, integration_id: Option<String>) -> String {
    connect_token(h, token, integration_id).await.integration.id
}

/// [`connect_token_to`], with everything the connection made (such as its webhook endpoints).
pub async fn connect_token(
    h: &Harness,
    token: &str,
    integration_id: Option<String>,
) -> Box<tributary_runtime::Connected> {
    h.api.accept_token(token);
    let outcome = h
        .runtime
        .connect(tributary_runtime::ConnectRequest {
            tenant_id: h.tenant_id.clone(),
            integration_id,
            definition_id: "acme".into(),
            name: None,
            user_input: Some(h.user_input()),
            connection: "AcmeToken".into(),
            credentials: std::collections::BTreeMap::from([(
                "AcmeToken".to_owned(),
                serde_json::json!({ "token": token }),
            )]),
        })
        .await
        .unwrap();
    match outcome {
        tributary_runtime::ConnectOutcome::Connected(done) => done,
        tributary_runtime::ConnectOutcome::Redirect(_) => panic!("token mode redirected"),
    }
}

/// Whether each of the integration's reconcile schedules is enabled.
pub async fn schedules_enabled(h: &Harness, integration_id: &str) -> Vec<bool> {
    h.runtime
        .db()
        .schedules()
        .list(&h.tenant_id, integration_id)
        .await
        .unwrap()
        .iter()
        .map(|schedule| schedule.enabled)
        .collect()
}

/// A worker for the runtime's queue with short leases and quick polling, running in the
/// background until the returned sender is dropped or fired.
pub fn spawn_worker(
    runtime: &Runtime,
    lease: Duration,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut config = tributary_store::jobs::WorkerConfig::new(runtime.config().queue.clone());
    config.lease = lease;
    config.heartbeat = lease / 4;
    config.poll_interval = Duration::from_millis(50);
    config.backoff.base = Duration::from_millis(50);
    config.backoff.max = Duration::from_millis(200);
    let runtime = runtime.clone();
    let handle = tokio::spawn(async move {
        runtime
            .run_worker(Some(config), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (stop, handle)
}

/// Waits for a run to reach a terminal status and returns it.
pub async fn wait_for_run(h: &Harness, run_id: &str) -> tributary_store::runs::Run {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let run = h
            .runtime
            .db()
            .runs()
            .get(&h.tenant_id, run_id)
            .await
            .unwrap()
            .unwrap();
        if run.status.is_terminal() {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {run_id} is still {:?}",
            run.status
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The integration's stored records of a model, with their disconnected mark.
pub async fn records(
    h: &Harness,
    integration_id: &str,
    model: &str,
) -> Vec<tributary_store::records::StoredRecord> {
    let query = tributary_store::records::RecordQuery {
        tenant_id: h.tenant_id.clone(),
        integration_id: Some(integration_id.to_owned()),
        model: Some(model.to_owned()),
        lookup_key: None,
        include_deleted: true,
        after: None,
        limit: 1000,
    };
    tributary_store::records::list_records(h.runtime.db(), &query)
        .await
        .unwrap()
}
