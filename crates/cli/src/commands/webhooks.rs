//! `tributary webhooks deliveries|replay`: webhook deliveries, on the database directly. A replay
//! is recorded in the audit trail as the API records it (run by the command line).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::storage::{StorageArgs, open_command_runtime, resolve_tenant};
use crate::{
    audit::{AuditBuilder, CommandAudit, actions},
    output,
};

#[derive(Subcommand)]
pub enum Command {
    /// An endpoint's most recent deliveries.
    Deliveries {
        #[command(flatten)]
        storage: StorageArgs,
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        /// The webhook endpoint id (`whe_...`).
        #[arg(long)]
        endpoint: String,
        /// How many deliveries to list, newest first.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Queues a failed delivery (or, with --force, a processed one) to be processed again (by
    /// the server's workers).
    Replay {
        #[command(flatten)]
        storage: StorageArgs,
        /// Tenant id or name (default: the delivery's own).
        #[arg(long)]
        tenant: Option<String>,
        /// The delivery id.
        delivery: String,
        /// Also replay a delivery that was processed already: its handler runs again, with the
        /// same delivery id as its idempotency key.
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        Command::Deliveries {
            storage,
            tenant,
            endpoint,
            limit,
        } => {
            let runtime = open_command_runtime(&storage).await?;
            let tenant = resolve_tenant(runtime.db(), &tenant).await?;
            let deliveries = runtime
                .db()
                .webhooks(runtime.key_ring())
                .list_deliveries(&tenant, &endpoint, limit)
                .await?;
            output::listing(
                json,
                &json!({ "deliveries": deliveries }),
                &["DELIVERY", "EVENT", "STATUS", "RECEIVED", "ERROR"],
                &deliveries,
                |d| {
                    vec![
                        d.id.clone(),
                        d.event.clone(),
                        format!("{:?}", d.status).to_lowercase(),
                        d.attempts.to_string(),
                        d.last_error.clone().unwrap_or_default(),
                    ]
                },
            )?;
        }
        Command::Replay {
            storage,
            tenant,
            delivery,
            force,
        } => {
            let runtime = open_command_runtime(&storage).await?;
            let db = runtime.db();
            let mut audit = CommandAudit::new(actions::DELIVERY_REPLAY, "webhook_delivery")
                .target(&delivery)
                .meta("force", force);
            let result: anyhow::Result<_> = async {
                let tenant = match tenant {
                    Some(tenant) => resolve_tenant(db, &tenant).await?,
                    None => db
                        .webhooks(runtime.key_ring())
                        .delivery_tenant(&delivery)
                        .await?
                        .ok_or_else(|| {
                            crate::failure::not_found(format!("no delivery {delivery}"))
                        })?,
                };
                audit.set_tenant(&tenant);
                Ok(runtime.replay_delivery(&tenant, &delivery, force).await?)
            }
            .await;
            audit
                .on_success(&result, |audit, delivery| {
                    audit.meta("integrationId", delivery.integration_id.clone())
                })
                .record(db, &result)
                .await;
            let replayed = result?;
            if json {
                output::json(&json!({ "delivery": replayed.id, "queued": true }))?;
            } else {
                println!(
                    "delivery {} queued; a worker of `tributary serve` processes it",
                    replayed.id
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
