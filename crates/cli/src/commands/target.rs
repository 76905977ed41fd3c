//! Where a tenant verb acts: a running server's API (`--api`) or the database, through the same
//! runtime the server uses. Both answer with the server's view types, so each verb renders its
//! answer once, whichever side gave it.

mod local;

use std::collections::BTreeMap;

use clap::Args;
use serde_json::Value;
use tributary_server::api::views::{
    ConnectView, DisconnectView, IntegrationView, RunDetailView, RunView,
};

pub use self::local::LocalTarget;
use super::{
    remote::{ApiArgs, ApiClient},
    storage::{StorageArgs, open_command_runtime},
};

/// The arguments every tenant verb shares: the database, or the server's API, and the tenant.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Tenant id or name (on the database; over `--api` the token names the tenant).
    #[arg(long)]
    pub tenant: Option<String>,
}

impl TargetArgs {
    /// The API client when `--api` is given, else the runtime over the database for `--tenant`.
    pub async fn open(self) -> anyhow::Result<Target> {
        if let Some(client) = self.api.client()? {
            return Ok(Target::Remote(client));
        }
        let tenant = tenant_for_db(self.tenant)?;
        let runtime = open_command_runtime(&self.storage).await?;
        Ok(Target::Local(LocalTarget::new(runtime, tenant)))
    }
}

/// The tenant to act for on the database; over the API the token names it.
fn tenant_for_db(tenant: Option<String>) -> anyhow::Result<String> {
    tenant.ok_or_else(|| {
        crate::failure::usage(
            "--tenant is required on the database (over --api the token names the tenant)",
        )
    })
}

/// A tenant verb's counterpart: the server, or the database directly.
pub enum Target {
    Remote(ApiClient),
    Local(LocalTarget),
}

impl Target {
    pub async fn list_integrations(&self) -> anyhow::Result<Vec<IntegrationView>> {
        match self {
            Self::Remote(api) => api.list_integrations().await,
            Self::Local(db) => db.list_integrations().await,
        }
    }

    /// Creates an integration from its user input `input` (a JSON object).
    pub async fn create_integration(
        &self,
        definition: &str,
        name: Option<&str>,
        input: Value,
    ) -> anyhow::Result<IntegrationView> {
        match self {
            Self::Remote(api) => api.create_integration(definition, name, input).await,
            Self::Local(db) => db.create_integration(definition, name, &input).await,
        }
    }

    /// Connects with typed `credentials` per slot; with none, a redirect mode answers with the
    /// URL to open.
    pub async fn connect(
        &self,
        integration: &str,
        connection: String,
        credentials: BTreeMap<String, Value>,
    ) -> anyhow::Result<ConnectView> {
        match self {
            Self::Remote(api) => api.connect(integration, &connection, credentials).await,
            Self::Local(db) => db.connect(integration, connection, credentials).await,
        }
    }

    /// Queues an operation and follows its run to the end, calling `on_progress` at each look.
    pub async fn run_to_end(
        &self,
        integration: &str,
        operation: &str,
        config: Value,
        on_progress: impl FnMut(&RunView) + Send,
    ) -> anyhow::Result<RunView> {
        match self {
            Self::Remote(api) => {
                api.run_to_end(integration, operation, config, on_progress)
                    .await
            }
            Self::Local(db) => {
                db.run_to_end(integration, operation, config, on_progress)
                    .await
            }
        }
    }

    pub async fn delete_integration(&self, integration: &str) -> anyhow::Result<DisconnectView> {
        match self {
            Self::Remote(api) => api.delete_integration(integration).await,
            Self::Local(db) => db.delete_integration(integration).await,
        }
    }

    /// The integration's runs, newest first, at most `limit`.
    pub async fn list_runs(&self, integration: &str, limit: i64) -> anyhow::Result<Vec<RunView>> {
        match self {
            Self::Remote(api) => api.list_runs(integration, limit).await,
            Self::Local(db) => db.list_runs(integration, limit).await,
        }
    }

    pub async fn run_details(&self, run: &str) -> anyhow::Result<RunDetailView> {
        match self {
            Self::Remote(api) => api.run_details(run).await,
            Self::Local(db) => db.run_details(run).await,
        }
    }

    pub async fn cancel_run(&self, run: &str) -> anyhow::Result<RunView> {
        match self {
            Self::Remote(api) => api.cancel_run(run).await,
            Self::Local(db) => db.cancel_run(run).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::failure::{Failure, classify};

    /// A command line with only the shared arguments, as each tenant verb flattens them.
    #[derive(Parser)]
    struct Verb {
        #[command(flatten)]
        target: TargetArgs,
    }

    fn parsed(args: &[&str]) -> TargetArgs {
        Verb::try_parse_from(std::iter::once("verb").chain(args.iter().copied()))
            .expect("the shared arguments parse")
            .target
    }

    /// Opens `target` (described as `what`), which must fail as a usage error; its message.
    async fn refused_as_usage(target: TargetArgs, what: &str) -> String {
        let Err(error) = target.open().await else {
            panic!("{what} opened");
        };
        assert_eq!(classify(&error), Failure::Usage);
        error.to_string()
    }

    #[test]
    fn the_shared_arguments_keep_their_flag_names() {
        let target = parsed(&[
            "--tenant",
            "acme",
            "--api",
            "http://127.0.0.1:9",
            "--token",
            "t0ken",
            "--data-dir",
            "/tmp/nowhere",
            "--database",
            "sqlite://elsewhere.db",
        ]);
        assert_eq!(target.tenant.as_deref(), Some("acme"));
        assert_eq!(target.api.url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(target.api.token.as_deref(), Some("t0ken"));
        assert_eq!(
            target.storage.database_url().unwrap(),
            "sqlite://elsewhere.db"
        );
        assert_eq!(
            target.storage.data_dir().unwrap(),
            std::path::PathBuf::from("/tmp/nowhere")
        );
    }

    #[tokio::test]
    async fn the_database_needs_a_tenant_before_it_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let mut target = parsed(&["--data-dir", data_dir.to_str().unwrap()]);
        // Whatever the environment says: this is the database side.
        target.api = ApiArgs::default();
        target.tenant = None;
        assert_eq!(
            refused_as_usage(target, "a target without a tenant").await,
            "--tenant is required on the database (over --api the token names the tenant)"
        );
        assert!(!data_dir.exists(), "the data directory was created");
    }

    #[tokio::test]
    async fn the_api_needs_a_token() {
        let mut target = parsed(&[]);
        target.api = ApiArgs {
            url: Some("http://127.0.0.1:9".to_owned()),
            token: None,
        };
        assert_eq!(
            refused_as_usage(target, "an API target without a token").await,
            "--api needs a tenant API token: --token or TRIBUTARY_API_TOKEN"
        );
    }
}
