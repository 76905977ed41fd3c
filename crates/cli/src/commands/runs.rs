//! `tributary runs list|show|cancel`: operation runs, on the database directly. A cancel is
//! recorded in the audit trail as the API records it (run by the command line).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{
    remote::{ApiArgs, tenant_for_db},
    storage::{StorageArgs, open_command_runtime, resolve_tenant},
};
use crate::{
    audit::{CommandAudit, actions},
    output,
};

#[derive(Subcommand)]
pub enum Command {
    /// An integration's runs, newest first.
    List {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Tenant id or name (on the database; over `--api` the token names the tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// The integration id.
        #[arg(long)]
        integration: String,
        /// How many runs to list, newest first.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One run with its log lines.
    Show {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Tenant id or name (on the database; over `--api` the token names the tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// The run id.
        run: String,
    },
    /// Cancels a pending or running run.
    Cancel {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Tenant id or name (on the database; over `--api` the token names the tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// The run id.
        run: String,
    },
}

fn duration(ms: Option<i64>) -> String {
    ms.map_or_else(String::new, |ms| format!("{:.1}s", ms as f64 / 1000.0))
}

pub async fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        Command::List {
            storage,
            api,
            tenant,
            integration,
            limit,
        } => {
            if let Some(client) = api.client()? {
                let page = client.list_runs(&integration, limit).await?;
                if json {
                    output::json(&json!({ "runs": page["items"] }))?;
                } else {
                    let rows: Vec<Vec<String>> = page["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| {
                            vec![
                                r["id"].as_str().unwrap_or_default().to_owned(),
                                r["operation"].as_str().unwrap_or_default().to_owned(),
                                r["runType"].as_str().unwrap_or_default().to_owned(),
                                r["status"].as_str().unwrap_or_default().to_owned(),
                                r["attempt"].to_string(),
                                duration(r["durationMs"].as_i64()),
                                r["errorMessage"].as_str().unwrap_or_default().to_owned(),
                            ]
                        })
                        .collect();
                    output::table(
                        &[
                            "RUN",
                            "OPERATION",
                            "TYPE",
                            "STATUS",
                            "ATTEMPT",
                            "TOOK",
                            "ERROR",
                        ],
                        &rows,
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let tenant = tenant_for_db(tenant)?;
            let runtime = open_command_runtime(&storage).await?;
            let tenant = resolve_tenant(runtime.db(), &tenant).await?;
            let runs = runtime.list_runs(&tenant, &integration, limit).await?;
            if json {
                output::json(&json!({ "runs": runs }))?;
            } else {
                let rows: Vec<Vec<String>> = runs
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.clone(),
                            r.operation.clone(),
                            r.run_type.clone(),
                            r.status.as_str().to_owned(),
                            r.attempt.to_string(),
                            duration(r.duration_ms),
                            r.error_message.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "RUN",
                        "OPERATION",
                        "TYPE",
                        "STATUS",
                        "ATTEMPT",
                        "TOOK",
                        "ERROR",
                    ],
                    &rows,
                );
            }
        }
        Command::Show {
            storage,
            api,
            tenant,
            run,
        } => {
            if let Some(client) = api.client()? {
                let details = client.run_details(&run).await?;
                if json {
                    output::json(&details)?;
                } else {
                    let r = &details["run"];
                    println!("run        {}", r["id"].as_str().unwrap_or_default());
                    println!(
                        "operation  {} ({})",
                        r["operation"].as_str().unwrap_or_default(),
                        r["runType"].as_str().unwrap_or_default()
                    );
                    println!(
                        "status     {} (attempt {})",
                        r["status"].as_str().unwrap_or_default(),
                        r["attempt"]
                    );
                    println!("took       {}", duration(r["durationMs"].as_i64()));
                    println!("counters   {}", r["counters"]);
                    if let Some(message) = r["errorMessage"].as_str() {
                        println!(
                            "error      {} ({})",
                            message,
                            r["errorKind"].as_str().unwrap_or_default()
                        );
                    }
                    for line in details["logs"].as_array().into_iter().flatten() {
                        println!(
                            "  {} {:<5} {}",
                            line["at"],
                            line["level"].as_str().unwrap_or_default(),
                            line["message"].as_str().unwrap_or_default()
                        );
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let tenant = tenant_for_db(tenant)?;
            let runtime = open_command_runtime(&storage).await?;
            let tenant = resolve_tenant(runtime.db(), &tenant).await?;
            let details = runtime.run_details(&tenant, &run).await?;
            if json {
                output::json(&details)?;
            } else {
                let r = &details.run;
                println!("run        {}", r.id);
                println!("operation  {} ({})", r.operation, r.run_type);
                println!("status     {} (attempt {})", r.status.as_str(), r.attempt);
                println!("took       {}", duration(r.duration_ms));
                println!("counters   {}", r.counters);
                if let Some(message) = &r.error_message {
                    println!(
                        "error      {} ({})",
                        message,
                        r.error_kind.as_deref().unwrap_or("")
                    );
                }
                for line in &details.logs {
                    println!("  {} {:<5} {}", line.at, line.level, line.message);
                }
            }
        }
        Command::Cancel {
            storage,
            api,
            tenant,
            run,
        } => {
            if let Some(client) = api.client()? {
                let cancelled = client.cancel_run(&run).await?;
                if json {
                    output::json(&cancelled)?;
                } else {
                    println!(
                        "run {} cancelled",
                        cancelled["id"].as_str().unwrap_or_default()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let tenant = tenant_for_db(tenant)?;
            let runtime = open_command_runtime(&storage).await?;
            let db = runtime.db();
            let mut audit = CommandAudit::new(actions::RUN_CANCEL, "run").target(&run);
            let result: anyhow::Result<_> = async {
                let tenant = resolve_tenant(db, &tenant).await?;
                audit.set_tenant(&tenant);
                Ok(runtime.cancel_run(&tenant, &run).await?)
            }
            .await;
            audit
                .on_success(&result, |audit, run| {
                    audit
                        .meta("integrationId", run.integration_id.as_str())
                        .meta("operation", run.operation.as_str())
                        .meta("status", run.status.as_str())
                })
                .record(db, &result)
                .await;
            let cancelled = result?;
            if json {
                output::json(&cancelled)?;
            } else {
                println!("run {} cancelled", cancelled.id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
