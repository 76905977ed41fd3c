//! Where the CLI finds its data: the data directory, the database URL and the key ring, shared by
//! every command that touches the database.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use clap::Args;

use super::config::{FileConfig, RetentionSection};
use tributary_store::{
    Db,
    keystore::{KeyRing, KeyRingSource},
    retention::RetentionPolicy,
};

/// `--config`, `--data-dir` and `--database`, also read from `TRIBUTARY_CONFIG`,
/// `TRIBUTARY_DATA_DIR` and `TRIBUTARY_DATABASE_URL`, then from the configuration file.
#[derive(Args, Clone, Debug)]
pub struct StorageArgs {
    /// A TOML configuration file (see docs/configuration.md).
    #[arg(long, env = "TRIBUTARY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database and the key file (default `.tributary`).
    #[arg(long = "data-dir", env = "TRIBUTARY_DATA_DIR")]
    data_dir_arg: Option<PathBuf>,
    /// Database URL: `sqlite://path/file.db` (default: `<data-dir>/tributary.db`) or
    /// `postgres://user@host/db`.
    #[arg(long = "database", env = "TRIBUTARY_DATABASE_URL")]
    database_url_arg: Option<String>,
    /// The configuration, read and checked once: a command asks for it many times.
    #[arg(skip)]
    loaded: OnceLock<Arc<FileConfig>>,
}

impl StorageArgs {
    /// Storage in `data_dir` (the demo's fresh directory).
    #[cfg(feature = "demo")]
    pub fn in_dir(data_dir: PathBuf) -> Self {
        Self {
            config: None,
            data_dir_arg: Some(data_dir),
            database_url_arg: None,
            loaded: OnceLock::new(),
        }
    }

    /// The configuration file's settings (empty without one), with the variables applied and
    /// checked; read on first use.
    pub fn file(&self) -> anyhow::Result<Arc<FileConfig>> {
        if let Some(loaded) = self.loaded.get() {
            return Ok(Arc::clone(loaded));
        }
        let loaded = Arc::new(FileConfig::load(self.config.as_deref())?);
        Ok(Arc::clone(self.loaded.get_or_init(|| loaded)))
    }

    /// The data directory: the flag, else the file's, else `.tributary`. A configuration file
    /// that does not load is an error, never a reason to use the default.
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.data_dir_arg {
            return Ok(dir.clone());
        }
        Ok(self
            .file()?
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".tributary")))
    }

    /// The database URL: the flag, else the file's, else SQLite in the data directory.
    pub fn database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url_arg {
            return Ok(url.clone());
        }
        match self.file()?.database_url.clone() {
            Some(url) => Ok(url),
            None => Ok(format!(
                "sqlite://{}",
                self.data_dir()?.join("tributary.db").display()
            )),
        }
    }

    /// Creates the data directory if it does not exist yet.
    pub fn ensure_data_dir(&self) -> anyhow::Result<PathBuf> {
        let dir = self.data_dir()?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        Ok(dir)
    }

    /// Opens the database, applying migrations.
    pub async fn open_db(&self) -> anyhow::Result<Db> {
        self.ensure_data_dir()?;
        let url = self.database_url()?;
        Db::open(&url)
            .await
            .with_context(|| format!("cannot open the database {}", redact_url(&url)))
    }

    /// Loads the key ring (generating and saving one on first use of the embedded default).
    pub fn key_ring(&self) -> anyhow::Result<(KeyRing, KeyRingSource)> {
        let dir = self.ensure_data_dir()?;
        KeyRing::load_or_generate(&dir).context("cannot load the key ring")
    }
}

/// The tenant a command works for, by id or name.
pub async fn resolve_tenant(db: &Db, tenant: &str) -> anyhow::Result<String> {
    if let Some(found) = db.tenants().get(tenant).await? {
        return Ok(found.id);
    }
    match db.tenants().get_by_name(tenant).await? {
        Some(found) => Ok(found.id),
        None => Err(crate::failure::not_found(format!(
            "no tenant `{tenant}` (by id or name)"
        ))),
    }
}

/// A runtime over the database with the built-in catalog, for commands that act on
/// integrations, runs and deliveries directly. Work it queues is done by `tributary serve`'s
/// workers.
pub async fn open_runtime(
    storage: &StorageArgs,
    public_url: String,
) -> anyhow::Result<tributary_runtime::Runtime> {
    let definitions = storage.file()?.definitions.clone();
    open_runtime_with_catalog(storage, public_url, definitions).await
}

/// [`open_runtime`] for a command that acts on the database itself: links it builds (OAuth
/// redirects, webhook URLs) use the configured public URL, else the default listen address.
pub async fn open_command_runtime(
    storage: &StorageArgs,
) -> anyhow::Result<tributary_runtime::Runtime> {
    let runtime = open_runtime(storage, public_url(storage, "http://127.0.0.1:8080")?).await?;
    // A command seals secrets too: a rotation running meanwhile waits for it like for a server.
    // Its row goes stale when it exits, and rotation stops waiting for it.
    tokio::spawn(hold_key_ring(&runtime, "cli").run(None, std::future::pending()));
    Ok(runtime)
}

/// This process's registration as a holder of the key ring (see `keys rotate`).
pub fn hold_key_ring(
    runtime: &tributary_runtime::Runtime,
    role: &str,
) -> tributary_store::keystore::holders::KeyRingHolder {
    tributary_store::keystore::holders::KeyRingHolder::new(
        runtime.db().clone(),
        runtime.key_ring().clone(),
        role,
    )
}

/// [`open_runtime`] with the definitions' operator settings given rather than read from the
/// configuration file (the demo points them at its fakes).
pub async fn open_runtime_with_catalog(
    storage: &StorageArgs,
    public_url: String,
    definitions: std::collections::BTreeMap<String, serde_json::Value>,
) -> anyhow::Result<tributary_runtime::Runtime> {
    // The file's sections were checked when it loaded; the demo's are checked here, so no
    // runtime ever starts on a section its definition would silently default.
    let problems = tributary_providers::check_definitions(&definitions);
    if let Some(error) = super::config::invalid("the definitions' settings", &problems) {
        return Err(error);
    }
    let db = storage.open_db().await?;
    let (ring, _) = storage.key_ring()?;
    let catalog = tributary_providers::CatalogConfig {
        definitions,
        public_url: Some(public_url.clone()),
    };
    let registry =
        tributary_providers::registry(&catalog).context("the built-in catalog is invalid")?;
    let file = storage.file()?;
    let mut config = tributary_runtime::RuntimeConfig::new(public_url);
    if let Some(cap) = file.auth.max_open_sessions_per_tenant {
        config.max_open_auth_sessions = cap.max(1);
    }
    config.retention = retention_policy(&file.retention);
    if let Some(seconds) = file.retention.sweep_interval_secs {
        config.retention_interval = std::time::Duration::from_secs(seconds);
    }
    Ok(tributary_runtime::Runtime::new(registry, db, ring, config))
}

/// The `[retention]` section over the defaults: days per class, 0 keeping that class forever.
pub fn retention_policy(section: &RetentionSection) -> RetentionPolicy {
    let defaults = RetentionPolicy::default();
    let days = |value: Option<u32>, default| value.map_or(default, RetentionPolicy::days);
    RetentionPolicy {
        jobs: days(section.jobs_days, defaults.jobs),
        runs: days(section.runs_days, defaults.runs),
        deliveries: days(section.deliveries_days, defaults.deliveries),
        ingest_failures: days(section.ingest_failures_days, defaults.ingest_failures),
        ingest_runs: days(section.ingest_runs_days, defaults.ingest_runs),
        sessions: days(section.sessions_days, defaults.sessions),
        audit_events: days(section.audit_events_days, defaults.audit_events),
    }
}

/// The externally reachable URL of the server: `TRIBUTARY_PUBLIC_URL`, else the configuration
/// file's `public_url`, else `fallback`.
pub fn public_url(storage: &StorageArgs, fallback: &str) -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("TRIBUTARY_PUBLIC_URL") {
        return Ok(url);
    }
    Ok(storage
        .file()?
        .public_url
        .clone()
        .unwrap_or_else(|| fallback.to_owned()))
}

/// A database URL with its password, if any, replaced by `***`, for messages and output.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db.internal/tributary"),
            "postgres://app:***@db.internal/tributary"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("sqlite://.tributary/tributary.db"),
            "sqlite://.tributary/tributary.db"
        );
    }
}
