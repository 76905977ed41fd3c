//! `tributary runs list|show|cancel`: operation runs, on the database directly.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::storage::{StorageArgs, open_runtime, public_url, resolve_tenant};
use crate::output;

#[derive(Subcommand)]
pub enum Command {
    /// An integration's runs, newest first.
    List {
        #[command(flatten)]
        storage: StorageArgs,
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        integration: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One run with its log lines.
    Show {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        tenant: String,
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancels a pending or running run.
    Cancel {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        tenant: String,
        run: String,
        #[arg(long)]
        json: bool,
    },
}

fn duration(ms: Option<i64>) -> String {
    ms.map_or_else(String::new, |ms| format!("{:.1}s", ms as f64 / 1000.0))
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::List {
            storage,
            tenant,
            integration,
            limit,
            json,
        } => {
            let runtime =
                open_runtime(&storage, public_url(&storage, "http://127.0.0.1:8080")).await?;
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
            tenant,
            run,
            json,
        } => {
            let runtime =
                open_runtime(&storage, public_url(&storage, "http://127.0.0.1:8080")).await?;
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
            tenant,
            run,
            json,
        } => {
            let runtime =
                open_runtime(&storage, public_url(&storage, "http://127.0.0.1:8080")).await?;
            let tenant = resolve_tenant(runtime.db(), &tenant).await?;
            let cancelled = runtime.cancel_run(&tenant, &run).await?;
            if json {
                output::json(&cancelled)?;
            } else {
                println!("run {} cancelled", cancelled.id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
