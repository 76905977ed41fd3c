//! `tributary keys status|rotate`: the key ring that encrypts credentials and webhook secrets.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tributary_store::keystore::{KeyRingSource, RotateProgress, keys_in_use, reencrypt_all};

use super::storage::StorageArgs;
use crate::output;

#[derive(Subcommand)]
pub enum Command {
    /// Shows the ring's keys and how many stored secrets each one seals.
    Status {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        json: bool,
    },
    /// Adds a new primary key and re-encrypts every credential and webhook secret under it, in
    /// batches. Interrupted, it resumes where it stopped when run again; keys no secret uses any
    /// more are then removed from the key file.
    Rotate {
        #[command(flatten)]
        storage: StorageArgs,
        /// Rows re-encrypted per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: u32,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Status { storage, json } => {
            let db = storage.open_db().await?;
            let (ring, _) = storage.key_ring()?;
            let usage = keys_in_use(&db).await?;
            let keys: Vec<_> = ring
                .key_ids()
                .map(|id| {
                    json!({
                        "id": id,
                        "primary": id == ring.primary_id(),
                        "sealedSecrets": usage.get(id).copied().unwrap_or(0),
                    })
                })
                .collect();
            let unknown: Vec<&String> = usage
                .keys()
                .filter(|id| !ring.key_ids().any(|k| k == id.as_str()))
                .collect();
            db.close().await;
            if json {
                output::json(&json!({ "keys": keys, "missingKeys": unknown }))?;
            } else {
                for key in &keys {
                    println!(
                        "{}{}  {} secret(s)",
                        key["id"].as_str().unwrap_or_default(),
                        if key["primary"] == true {
                            " (primary)"
                        } else {
                            ""
                        },
                        key["sealedSecrets"]
                    );
                }
                for id in &unknown {
                    println!("{id}  MISSING from the key ring: its secrets cannot be decrypted");
                }
            }
            Ok(if unknown.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Rotate {
            storage,
            batch_size,
            json,
        } => {
            let db = storage.open_db().await?;
            let (mut ring, source) = storage.key_ring()?;
            let path = match source {
                KeyRingSource::Env => bail!(
                    "the key ring comes from TRIBUTARY_KEYRING; rotate by adding a key to that value \
                     and re-running with a key file (TRIBUTARY_KEYRING_FILE)"
                ),
                KeyRingSource::File(path) | KeyRingSource::Generated(path) => path,
            };
            let before = keys_in_use(&db).await?;
            let resuming = before.keys().any(|id| id != ring.primary_id());
            let previous_primary = ring.primary_id().to_owned();
            // A previous rotation that stopped half-way left secrets under older keys: finish it
            // under the current primary instead of adding yet another key.
            let interrupted = resuming && before.contains_key(&previous_primary);
            if !interrupted {
                ring.add_primary_key();
                // The new key must be on disk before anything is sealed with it.
                ring.save(&path)?;
            }
            let bar = if json {
                ProgressBar::hidden()
            } else {
                ProgressBar::new(0).with_style(
                    ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len}")
                        .expect("a valid template")
                        .progress_chars("=> "),
                )
            };
            bar.set_message("re-encrypting");
            let done = reencrypt_all(&db, &ring, batch_size, |RotateProgress { done, total }| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish_and_clear();
            let after = keys_in_use(&db).await?;
            let retired: Vec<String> = ring
                .key_ids()
                .filter(|id| *id != ring.primary_id() && !after.contains_key(*id))
                .map(str::to_owned)
                .collect();
            for id in &retired {
                ring.remove_key(id)?;
            }
            ring.save(&path)?;
            db.close().await;
            let report = json!({
                "primaryKeyId": ring.primary_id(),
                "resumed": interrupted,
                "reencrypted": done,
                "retiredKeys": retired,
                "keyFile": path.display().to_string(),
            });
            if json {
                output::json(&report)?;
            } else {
                println!(
                    "{} secret(s) re-encrypted under {}{}; retired key(s): {}",
                    done,
                    ring.primary_id(),
                    if interrupted { " (resumed)" } else { "" },
                    if retired.is_empty() {
                        "none".to_owned()
                    } else {
                        retired.join(", ")
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
