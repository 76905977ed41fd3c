//! The whole server on a loopback socket over a test database, shared by every area of this
//! binary.

use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};
use tributary_core::Registry;
use tributary_providers::{CatalogConfig, registry};
use tributary_runtime::{Runtime, RuntimeConfig};
use tributary_server::ServerConfig;
use tributary_store::{keystore::KeyRing, testing::TestDb};

/// The built-in catalog with the one definition `definition_id`, configured by `operator_config`
/// (the fakes' URLs, usually).
pub fn registry_of(definition_id: &str, operator_config: Value) -> Registry {
    registry(&CatalogConfig {
        definitions: [(definition_id.to_owned(), operator_config)].into(),
        public_url: None,
    })
    .unwrap()
}

/// Sends `request` and reads the answer's JSON body.
pub async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A running server; dropping it stops it.
pub struct TestServer {
    /// `http://host:port`.
    pub base: String,
    /// `host:port` of the listener, for raw HTTP/1.1 requests.
    pub addr: String,
    pub runtime: Runtime,
    /// The key ring the runtime seals secrets with, for reading the store directly.
    pub ring: KeyRing,
    pub db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A tenant made for a test, and an API token of it.
pub struct TenantToken {
    pub tenant: String,
    /// The token's id, as the audit trail names its actor.
    pub token_id: String,
    /// The bearer token itself.
    pub token: String,
}

impl TestServer {
    /// A server over `db` with `registry`, the runtime configured by default.
    pub async fn start(db: TestDb, registry: Registry, server: ServerConfig) -> Self {
        Self::start_with(db, server, |_| registry, |runtime| runtime).await
    }

    /// A server whose registry is built from the server's own base URL (for a catalog that needs
    /// its public URL), with the runtime configuration that `runtime` makes of the default one.
    pub async fn start_with(
        db: TestDb,
        server: ServerConfig,
        registry: impl FnOnce(&str) -> Registry,
        runtime: impl FnOnce(RuntimeConfig) -> RuntimeConfig,
    ) -> Self {
        tributary_providerkit::install_crypto_provider();
        // Bound first: the runtime builds its callback and webhook URLs from the address.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let base = format!("http://{addr}");
        let ring = KeyRing::generate();
        let runtime = Runtime::new(
            registry(&base),
            db.db.clone(),
            ring.clone(),
            runtime(RuntimeConfig::new(base.clone())),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tributary_server::serve(
            runtime.clone(),
            server,
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        TestServer {
            base,
            addr,
            runtime,
            ring,
            db,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A new operator API token.
    pub async fn operator_token(&self) -> String {
        let (_, token) = self
            .runtime
            .db()
            .tenants()
            .issue_token(None, "operator", None)
            .await
            .unwrap();
        token.expose_str().unwrap().to_owned()
    }

    /// A new tenant named `name` and an API token called `token_name` for it.
    pub async fn tenant_with_token(&self, name: &str, token_name: &str) -> TenantToken {
        let tenant = self.runtime.db().tenants().create(name).await.unwrap();
        let (record, token) = self
            .runtime
            .db()
            .tenants()
            .issue_token(Some(&tenant.id), token_name, None)
            .await
            .unwrap();
        TenantToken {
            tenant: tenant.id,
            token_id: record.id,
            token: token.expose_str().unwrap().to_owned(),
        }
    }

    /// Stops the server and fails the test if it did not shut down cleanly.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
