//! The one harness of the provider tests: a runtime over a test database with one definition
//! configured (usually pointed at a testkit fake on loopback), a tenant, and the steps every
//! provider test takes: connect, check health, run an operation to its end, read the records,
//! and look at the requests the fake received. Provider modules add only what is theirs (their
//! connection requests, fixtures and asserts), as `impl Harness<TheirFake>` blocks.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tributary_core::{CallbackParams, MappingRegistration};
use tributary_providers::{CatalogConfig, registry};
use tributary_runtime::{
    AuthRedirect, ConnectOutcome, ConnectRequest, RunRequest, Runtime, RuntimeConfig, RuntimeError,
};
use tributary_store::{
    integrations::IntegrationStatus,
    keystore::KeyRing,
    records::{RecordQuery, StoredRecord, list_records},
    runs::{Run, RunStatus},
    testing::TestDb,
};
use tributary_testkit::{authorization::FakeAuthorization, browser::query_params};

/// How long a queued run may take before the test fails instead of hanging.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// Records are read a page at a time (the store gives at most 1000): some tests store more.
const RECORDS_PAGE: u32 = 1000;

/// A fake API server that logs the requests it receives, one line each (`GET /path?query`,
/// `/path?query` or `method.name`, as the fake writes them).
pub trait RequestLog {
    fn request_log(&self) -> Vec<String>;
}

/// Implements [`RequestLog`] for testkit fakes through their `requests()` log.
macro_rules! logs_requests {
    ($($fake:ty),+ $(,)?) => {
        $(impl $crate::harness::RequestLog for $fake {
            fn request_log(&self) -> Vec<String> {
                self.requests()
            }
        })+
    };
}
pub(crate) use logs_requests;

/// What a provider does with the refresh token when it refreshes an access token.
pub enum RefreshToken {
    Kept,
    Rotated,
}

/// A job worker of `runtime`, running until [`Worker::stop`].
pub struct Worker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<
        Result<tributary_store::jobs::WorkerStats, tributary_runtime::RuntimeError>,
    >,
}

/// Starts a job worker of `runtime` (the default configuration) on a task of its own.
pub fn start_worker(runtime: &Runtime) -> Worker {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = runtime.clone();
    let task = tokio::spawn(async move {
        runtime
            .run_worker(None, async {
                let _ = stopped.await;
            })
            .await
    });
    Worker { stop, task }
}

impl Worker {
    /// Stops the worker once its running jobs finish; it must end without an error.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("the worker task panicked")
            .expect("the worker failed");
    }
}

/// A catalog configuration with one definition's operator section.
pub fn catalog_config(definition: &str, operator: Value) -> CatalogConfig {
    CatalogConfig {
        definitions: [(definition.to_owned(), operator)].into(),
        public_url: None,
    }
}

/// A runtime of the catalog configured with `config`, over `backend`, and a tenant in it.
pub async fn runtime_and_tenant(
    backend: &TestDb,
    config: &CatalogConfig,
    ring: KeyRing,
) -> (Runtime, String) {
    tributary_providerkit::install_crypto_provider();
    let runtime = Runtime::new(
        registry(config).unwrap(),
        backend.db.clone(),
        ring,
        RuntimeConfig::new("http://127.0.0.1:9"),
    );
    let tenant = runtime.db().tenants().create("t").await.unwrap().id;
    (runtime, tenant)
}

pub struct Harness<F> {
    pub runtime: Runtime,
    /// The tenant every request of the harness is made for.
    pub tenant: String,
    pub fake: F,
    /// The key ring the credentials are sealed with, to read them back.
    pub ring: KeyRing,
    definition: String,
    /// Keeps the database (a SQLite directory) alive as long as the runtime.
    _backend: TestDb,
}

impl<F> Harness<F> {
    /// A runtime with `definition` configured by its `operator` section, and a tenant.
    pub async fn start(backend: TestDb, fake: F, definition: &str, operator: Value) -> Self {
        let ring = KeyRing::generate();
        let config = catalog_config(definition, operator);
        let (runtime, tenant) = runtime_and_tenant(&backend, &config, ring.clone()).await;
        Harness {
            runtime,
            tenant,
            fake,
            ring,
            definition: definition.to_owned(),
            _backend: backend,
        }
    }

    /// A request to connect a new integration in the `connection` mode, without credentials
    /// (an OAuth or install mode) and with empty user input.
    pub fn connect_request(&self, connection: &str) -> ConnectRequest {
        ConnectRequest {
            tenant_id: self.tenant.clone(),
            definition_id: self.definition.clone(),
            user_input: Some(json!({})),
            connection: connection.into(),
            ..Default::default()
        }
    }

    /// A request to connect in the form mode `connection`, whose slot holds `credential`.
    pub fn form_request(
        &self,
        connection: &str,
        credential: Value,
        input: Value,
    ) -> ConnectRequest {
        ConnectRequest {
            user_input: Some(input),
            credentials: [(connection.to_owned(), credential)].into(),
            ..self.connect_request(connection)
        }
    }

    /// Connects a form mode; returns the integration id.
    pub async fn connect(&self, request: ConnectRequest) -> String {
        self.try_connect(request).await.unwrap()
    }

    pub async fn try_connect(&self, request: ConnectRequest) -> Result<String, RuntimeError> {
        match self.runtime.connect(request).await? {
            ConnectOutcome::Connected(done) => Ok(done.integration.id),
            ConnectOutcome::Redirect(redirect) => {
                panic!("a form connection redirected to {}", redirect.url)
            }
        }
    }

    /// Starts a browser mode (OAuth, app install): where the user is sent.
    pub async fn redirect(&self, request: ConnectRequest) -> AuthRedirect {
        self.try_redirect(request).await.unwrap()
    }

    pub async fn try_redirect(
        &self,
        request: ConnectRequest,
    ) -> Result<AuthRedirect, RuntimeError> {
        match self.runtime.connect(request).await? {
            ConnectOutcome::Redirect(redirect) => Ok(redirect),
            ConnectOutcome::Connected(done) => panic!(
                "a browser mode connected {} without a redirect",
                done.integration.id
            ),
        }
    }

    /// Finishes a browser mode with the callback's parameters; returns the integration id.
    pub async fn complete_auth(
        &self,
        callback: Vec<(String, String)>,
    ) -> Result<String, RuntimeError> {
        self.runtime
            .complete_auth(CallbackParams::new(callback))
            .await
            .map(|connected| connected.integration.id)
    }

    pub fn run_request(&self, integration: &str, operation: &str, config: Value) -> RunRequest {
        RunRequest {
            tenant_id: self.tenant.clone(),
            integration_id: integration.to_owned(),
            operation: operation.into(),
            config,
            workflow: None,
        }
    }

    /// Runs `operation` at once, without the queue; returns its output.
    pub async fn run_inline(
        &self,
        integration: &str,
        operation: &str,
        config: Value,
    ) -> Result<Value, RuntimeError> {
        self.runtime
            .run_inline(self.run_request(integration, operation, config))
            .await
            .map(|done| done.output)
    }

    /// The health check's output.
    pub async fn health(&self, integration: &str) -> Value {
        self.try_health(integration).await.unwrap()
    }

    pub async fn try_health(&self, integration: &str) -> Result<Value, RuntimeError> {
        self.run_inline(integration, "HealthCheck", Value::Null)
            .await
    }

    /// Queues `operation` and drives it to its end as a worker would.
    pub async fn run(&self, integration: &str, operation: &str, config: Value) -> Run {
        let run = self
            .runtime
            .queue_run(self.run_request(integration, operation, config))
            .await
            .unwrap();
        tokio::time::timeout(
            RUN_TIMEOUT,
            self.runtime.drive_run(&self.tenant, &run.id, None, |_| {}),
        )
        .await
        .expect("the run did not end within a minute")
        .unwrap()
    }

    /// Runs `operation` twice: a rate limit cuts the first run short with `partial` records of
    /// `model` stored, and the second resumes to the end with `total`. The resumed run.
    pub async fn resume_after_rate_limit(
        &self,
        integration: &str,
        operation: &str,
        model: &str,
        partial: usize,
        total: usize,
    ) -> Run {
        let run = self.run(integration, operation, Value::Null).await;
        assert_rate_limited(&run);
        assert_eq!(self.records(integration, model).await.len(), partial);
        let resumed = self.run(integration, operation, Value::Null).await;
        assert_succeeded(&resumed);
        assert_eq!(self.records(integration, model).await.len(), total);
        resumed
    }

    /// Every record of `model` the integration stored, tombstones included.
    pub async fn records(&self, integration: &str, model: &str) -> Vec<StoredRecord> {
        let mut all: Vec<StoredRecord> = Vec::new();
        loop {
            let page = list_records(
                self.runtime.db(),
                &RecordQuery {
                    tenant_id: self.tenant.clone(),
                    integration_id: Some(integration.to_owned()),
                    model: Some(model.into()),
                    lookup_key: None,
                    include_deleted: true,
                    after: all.last().map(|record| record.id.clone()),
                    limit: RECORDS_PAGE,
                },
            )
            .await
            .unwrap();
            let done = page.len() < RECORDS_PAGE as usize;
            all.extend(page);
            if done {
                return all;
            }
        }
    }

    /// The record of `model` whose lookup key is `key`, tombstone or not.
    pub async fn record(&self, integration: &str, model: &str, key: &str) -> StoredRecord {
        by_lookup_key(&self.records(integration, model).await, key).clone()
    }

    /// Expires the access tokens `auth` issued and checks health: the token in `slot` is refreshed
    /// with one refresh-token grant, and its refresh token kept or rotated as `refresh_token`
    /// says. The stored tokens after the refresh.
    pub async fn refreshed_on_next_use(
        &self,
        auth: &FakeAuthorization,
        integration: &str,
        slot: &str,
        refresh_token: RefreshToken,
    ) -> Value {
        let before = self.stored_credential(integration, slot).await;
        auth.expire_access_tokens();
        self.health(integration).await;
        assert_eq!(auth.grants("refresh_token"), 1);
        let after = self.stored_credential(integration, slot).await;
        assert_ne!(after["access_token"], before["access_token"]);
        match refresh_token {
            RefreshToken::Kept => assert_eq!(
                after["refresh_token"], before["refresh_token"],
                "the provider does not rotate refresh tokens; the stored one is kept"
            ),
            RefreshToken::Rotated => assert_ne!(
                after["refresh_token"], before["refresh_token"],
                "the provider rotates refresh tokens; the new one is stored"
            ),
        }
        after
    }

    /// The credential stored in `slot`, unsealed.
    pub async fn stored_credential(&self, integration: &str, slot: &str) -> Value {
        self.runtime
            .db()
            .credentials(&self.ring)
            .load(&self.tenant, integration, slot)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("a {slot} credential is stored"))
            .secret
            .expose_json()
            .unwrap()
    }

    /// Whether some integration of the tenant is connected (a refused connect saves none).
    pub async fn any_connected(&self) -> bool {
        self.runtime
            .db()
            .integrations()
            .list(&self.tenant, None)
            .await
            .unwrap()
            .iter()
            .any(|integration| integration.status == IntegrationStatus::Connected)
    }

    pub async fn status(&self, integration: &str) -> IntegrationStatus {
        self.runtime
            .integration(&self.tenant, integration)
            .await
            .unwrap()
            .status
    }
}

impl<F: RequestLog> Harness<F> {
    /// Every request the fake received, in order.
    pub fn requests(&self) -> Vec<String> {
        self.fake.request_log()
    }

    /// The requests for exactly `path` (whatever their query).
    pub fn requests_to(&self, path: &str) -> Vec<String> {
        self.requests_where(|request| request.split('?').next() == Some(path))
    }

    /// The requests whose log line starts with `prefix`.
    pub fn requests_starting(&self, prefix: &str) -> Vec<String> {
        self.requests_where(|request| request.starts_with(prefix))
    }

    /// The requests whose log line contains `part`.
    pub fn requests_containing(&self, part: &str) -> Vec<String> {
        self.requests_where(|request| request.contains(part))
    }

    pub fn requests_where(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|request| keep(request))
            .collect()
    }
}

/// The value of the query parameter `name`.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The query parameters of `redirect`, which must send the browser to `authorize_url`.
#[track_caller]
pub fn authorize_query(redirect: &AuthRedirect, authorize_url: &str) -> Vec<(String, String)> {
    assert!(
        redirect.url.starts_with(&format!("{authorize_url}?")),
        "{}",
        redirect.url
    );
    query_params(&redirect.url)
}

/// Fails unless `run` succeeded after waiting out a one-second Retry-After from `started`.
#[track_caller]
pub fn assert_succeeded_after_retry_after(run: &Run, started: Instant) {
    assert_succeeded(run);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After honoured"
    );
}

/// The record whose lookup key is `key`, failing with the keys there are when none is.
#[track_caller]
pub fn by_lookup_key<'a>(records: &'a [StoredRecord], key: &str) -> &'a StoredRecord {
    records
        .iter()
        .find(|r| r.lookup_key == key)
        .unwrap_or_else(|| {
            panic!(
                "{key} was stored: {:?}",
                records.iter().map(|r| &r.lookup_key).collect::<Vec<_>>()
            )
        })
}

/// The records not tombstoned.
pub fn live(records: &[StoredRecord]) -> Vec<&StoredRecord> {
    records.iter().filter(|r| r.deleted_at.is_none()).collect()
}

/// Waits until `check` holds (work done in the background), failing after twenty seconds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fails, with the run's error, unless `run` succeeded.
#[track_caller]
pub fn assert_succeeded(run: &Run) {
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error_message);
}

/// Fails unless `run` was cut short by a rate limit it did not wait out: partial, to resume.
#[track_caller]
pub fn assert_rate_limited(run: &Run) {
    assert_eq!(run.status, RunStatus::Partial, "{:?}", run.error_message);
    assert_eq!(run.error_kind.as_deref(), Some("rate_limit"));
}

/// The fixture `tests/fixtures/<definition>/<name>.json`.
pub fn fixture(definition: &str, name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/{definition}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The mappings of `definition` as the default catalog configures it.
pub fn mappings(definition: &str) -> Vec<MappingRegistration> {
    let registry = registry(&CatalogConfig::default()).unwrap();
    let entry = registry.definition(definition).unwrap();
    entry.definition.mappings.clone()
}
