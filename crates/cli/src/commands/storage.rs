//! Where the CLI finds its data: the data directory, the database URL and the key ring, shared by
//! every command that touches the database.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use tributary_store::{
    Db,
    keystore::{KeyRing, KeyRingSource},
};

/// `--data-dir` and `--database`, also read from `TRIBUTARY_DATA_DIR` and `TRIBUTARY_DATABASE_URL`.
#[derive(Args, Clone, Debug)]
pub struct StorageArgs {
    /// Directory for the SQLite database and the key file.
    #[arg(long, env = "TRIBUTARY_DATA_DIR", default_value = ".tributary")]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://path/file.db` (default: `<data-dir>/tributary.db`) or
    /// `postgres://user@host/db`.
    #[arg(long = "database", env = "TRIBUTARY_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StorageArgs {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("tributary.db").display()))
    }

    /// Creates the data directory if it does not exist yet.
    pub fn ensure_data_dir(&self) -> anyhow::Result<&Path> {
        std::fs::create_dir_all(&self.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                self.data_dir.display()
            )
        })?;
        Ok(&self.data_dir)
    }

    /// Opens the database, applying migrations.
    pub async fn open_db(&self) -> anyhow::Result<Db> {
        self.ensure_data_dir()?;
        let url = self.database_url();
        Db::open(&url)
            .await
            .with_context(|| format!("cannot open the database {}", redact_url(&url)))
    }

    /// Loads the key ring (generating and saving one on first use of the embedded default).
    pub fn key_ring(&self) -> anyhow::Result<(KeyRing, KeyRingSource)> {
        self.ensure_data_dir()?;
        KeyRing::load_or_generate(&self.data_dir).context("cannot load the key ring")
    }
}

/// The tenant a command works for, by id or name.
pub async fn resolve_tenant(db: &Db, tenant: &str) -> anyhow::Result<String> {
    if let Some(found) = db.tenants().get(tenant).await? {
        return Ok(found.id);
    }
    match db.tenants().get_by_name(tenant).await? {
        Some(found) => Ok(found.id),
        None => anyhow::bail!("no tenant `{tenant}` (by id or name)"),
    }
}

/// A runtime over the database with the built-in catalog, for commands that act on
/// integrations, runs and deliveries directly. Work it queues is done by `tributary serve`'s
/// workers.
pub async fn open_runtime(
    storage: &StorageArgs,
    public_url: String,
) -> anyhow::Result<tributary_runtime::Runtime> {
    let db = storage.open_db().await?;
    let (ring, _) = storage.key_ring()?;
    let registry = tributary_providers::registry(&tributary_providers::CatalogConfig::default())
        .context("the built-in catalog is invalid")?;
    Ok(tributary_runtime::Runtime::new(
        registry,
        db,
        ring,
        tributary_runtime::RuntimeConfig::new(public_url),
    ))
}

/// The externally reachable URL of the server: `TRIBUTARY_PUBLIC_URL`, else `fallback`.
pub fn public_url(fallback: &str) -> String {
    std::env::var("TRIBUTARY_PUBLIC_URL").unwrap_or_else(|_| fallback.to_owned())
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
