//! `tributary keys status|rotate`: the key ring that encrypts credentials and webhook secrets.
//! A rotation is recorded in the audit trail (`key_ring.rotate`, on no tenant): key ids and
//! counts only.

use std::process::ExitCode;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tributary_store::key_rotation::{RotateProgress, RotationOptions, keys_in_use, rotate_online};
use tributary_store::keystore::{KeyRingSource, holders::live_holders};

use super::storage::StorageArgs;
use crate::{
    audit::{AuditBuilder, CommandAudit, actions},
    output,
};

#[derive(Subcommand)]
pub enum Command {
    /// Shows the ring's keys and how many stored secrets each one seals.
    Status {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Rotates to a new key while servers run: stages it in the key file, waits until every
    /// running process holds it, makes it the primary, re-encrypts every credential, webhook
    /// secret and open auth session under it in batches, and retires the old key once nothing
    /// uses it. Interrupted or timed out, it resumes where it stopped when run again.
    Rotate {
        #[command(flatten)]
        storage: StorageArgs,
        /// Rows re-encrypted per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: u32,
        /// How long to wait for the running processes at each step.
        #[arg(long, default_value_t = 120)]
        wait_timeout_secs: u64,
    },
}

pub async fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        Command::Status { storage } => {
            let db = storage.open_db().await?;
            let (ring, _) = storage.key_ring()?;
            let usage = keys_in_use(&db).await?;
            let held = ring.key_ids();
            let (primary, staged) = (ring.primary_id(), ring.staged_id());
            let keys: Vec<_> = held
                .iter()
                .map(|id| {
                    json!({
                        "id": id,
                        "primary": *id == primary,
                        "staged": staged.as_ref() == Some(id),
                        "sealedSecrets": usage.get(id).copied().unwrap_or(0),
                    })
                })
                .collect();
            let unknown: Vec<&String> = usage.keys().filter(|id| !held.contains(id)).collect();
            let holders = live_holders(&db).await?;
            db.close().await;
            if json {
                output::json(
                    &json!({ "keys": keys, "missingKeys": unknown, "runningProcesses": holders }),
                )?;
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
                for holder in &holders {
                    println!(
                        "process {} pid {} ({}) seals with {} and holds {} key(s)",
                        holder.host,
                        holder.pid,
                        holder.role,
                        holder.primary_key,
                        holder.key_ids.len()
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
            wait_timeout_secs,
        } => {
            let db = storage.open_db().await?;
            let audit = CommandAudit::new(actions::KEY_RING_ROTATE, "key_ring");
            let (mut ring, source) = audit.failing_before(&db, storage.key_ring()).await?;
            if source == KeyRingSource::Env {
                let refused = crate::failure::config(
                    "the key ring comes from TRIBUTARY_KEYRING, which running processes cannot \
                     re-read; rotate with a key file (TRIBUTARY_KEYRING_FILE) that every process reads",
                );
                audit.record_failure(&db, &refused).await;
                return Err(refused);
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
            let options = RotationOptions {
                batch_size,
                wait_timeout: std::time::Duration::from_secs(wait_timeout_secs),
                ..RotationOptions::default()
            };
            let report = rotate_online(
                &db,
                &mut ring,
                &options,
                |RotateProgress { done, total }| {
                    bar.set_length(total);
                    bar.set_position(done);
                },
            )
            .await;
            bar.finish_and_clear();
            let report = report.map_err(anyhow::Error::from);
            audit
                .on_success(&report, |audit, report| {
                    audit
                        .target(&report.primary_key_id)
                        .meta("reencrypted", report.reencrypted)
                        .meta("retiredKeys", report.retired_keys.clone())
                        .meta("resumed", report.resumed)
                })
                .record(&db, &report)
                .await;
            db.close().await;
            let report = report?;
            let key_file = ring.file().map(|path| path.display().to_string());
            if json {
                let mut shown = serde_json::to_value(&report)?;
                shown["keyFile"] = json!(key_file);
                output::json(&shown)?;
            } else {
                println!(
                    "{} secret(s) re-encrypted under {}{}; retired key(s): {}; {} running process(es) took part",
                    report.reencrypted,
                    report.primary_key_id,
                    if report.resumed { " (resumed)" } else { "" },
                    if report.retired_keys.is_empty() {
                        "none".to_owned()
                    } else {
                        report.retired_keys.join(", ")
                    },
                    report.holders.len(),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
