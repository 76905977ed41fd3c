//! `tributary init`: prepares the embedded default (data directory, SQLite database with its
//! migrations, key file) and checks the built-in catalog, then says what it set up.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use tributary_providers::{CatalogConfig, registry};
use tributary_store::{Backend, keystore::KeyRingSource};

use super::storage::{StorageArgs, redact_url};
use crate::output;

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    storage: StorageArgs,
}

pub async fn run(args: InitArgs, json: bool) -> anyhow::Result<ExitCode> {
    let registry = registry(&CatalogConfig::default())
        .map_err(|errors| anyhow::anyhow!("the built-in catalog is invalid:\n{errors}"))?;
    let db = args.storage.open_db().await?;
    let (ring, source) = args.storage.key_ring()?;
    let backend = match db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let (ring_source, ring_path) = match &source {
        KeyRingSource::Env => ("env", None),
        KeyRingSource::File(path) => ("file", Some(path.display().to_string())),
        KeyRingSource::Generated(path) => ("generated", Some(path.display().to_string())),
    };
    let models: Vec<&str> = tributary_model::schema_names().collect();
    let definitions: Vec<&str> = registry.definitions().map(|d| d.id()).collect();
    let report = json!({
        "dataDir": args.storage.data_dir()?.display().to_string(),
        "database": { "backend": backend, "url": redact_url(&args.storage.database_url()?) },
        "keyRing": {
            "source": ring_source,
            "path": ring_path,
            "primaryKeyId": ring.primary_id(),
            "keys": ring.key_ids().len(),
        },
        "definitions": definitions,
        "models": models,
    });
    db.close().await;
    if json {
        output::json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("data directory  {}", args.storage.data_dir()?.display());
    println!(
        "database        {} ({backend}, migrations applied)",
        redact_url(&args.storage.database_url()?)
    );
    match &source {
        KeyRingSource::Generated(path) => println!(
            "key ring        generated {} (primary key {}); back this file up: credentials cannot be read without it",
            path.display(),
            ring.primary_id()
        ),
        KeyRingSource::File(path) => println!(
            "key ring        {} ({} key(s), primary {})",
            path.display(),
            ring.key_ids().len(),
            ring.primary_id()
        ),
        KeyRingSource::Env => println!(
            "key ring        from TRIBUTARY_KEYRING ({} key(s), primary {})",
            ring.key_ids().len(),
            ring.primary_id()
        ),
    }
    if definitions.is_empty() {
        println!("definitions     none compiled in");
    } else {
        println!(
            "definitions     {} valid: {}",
            definitions.len(),
            definitions.join(", ")
        );
    }
    println!("models          {}", models.join(", "));
    Ok(ExitCode::SUCCESS)
}
