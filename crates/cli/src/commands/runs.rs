//! `tributary runs list|show|cancel`: operation runs, on the database directly or over a
//! server's API (`super::target`). A cancel on the database is recorded in the audit trail as the
//! API records it (run by the command line).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::target::TargetArgs;
use crate::output;

#[derive(Subcommand)]
pub enum Command {
    /// An integration's runs, newest first.
    List {
        #[command(flatten)]
        target: TargetArgs,
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
        target: TargetArgs,
        /// The run id.
        run: String,
    },
    /// Cancels a pending or running run.
    Cancel {
        #[command(flatten)]
        target: TargetArgs,
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
            target,
            integration,
            limit,
        } => {
            let runs = target.open().await?.list_runs(&integration, limit).await?;
            output::listing(
                json,
                &json!({ "runs": runs }),
                &[
                    "RUN",
                    "OPERATION",
                    "TYPE",
                    "STATUS",
                    "ATTEMPT",
                    "TOOK",
                    "ERROR",
                ],
                &runs,
                |r| {
                    vec![
                        r.id.clone(),
                        r.operation.clone(),
                        r.run_type.clone(),
                        output::wire_name(&r.status),
                        r.attempt.to_string(),
                        duration(r.duration_ms),
                        r.error_message.clone().unwrap_or_default(),
                    ]
                },
            )?;
        }
        Command::Show { target, run } => {
            let details = target.open().await?.run_details(&run).await?;
            if json {
                output::json(&details)?;
            } else {
                let r = &details.run;
                println!("run        {}", r.id);
                println!("operation  {} ({})", r.operation, r.run_type);
                println!(
                    "status     {} (attempt {})",
                    output::wire_name(&r.status),
                    r.attempt
                );
                println!("took       {}", duration(r.duration_ms));
                println!("counters   {}", r.counters);
                if let Some(message) = &r.error_message {
                    println!(
                        "error      {} ({})",
                        message,
                        r.error_kind.as_deref().unwrap_or_default()
                    );
                }
                for line in &details.logs {
                    println!("  {} {:<5} {}", line.at, line.level, line.message);
                }
            }
        }
        Command::Cancel { target, run } => {
            let cancelled = target.open().await?.cancel_run(&run).await?;
            if json {
                output::json(&cancelled)?;
            } else {
                println!("run {} cancelled", cancelled.id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
