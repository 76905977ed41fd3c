//! `tributary integrations list|create|connect|delete` and `tributary integrations run`: the
//! tenant's integrations on the database directly, with the same runtime the server uses.

use std::{collections::BTreeMap, process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tributary_runtime::{ConnectOutcome, ConnectRequest, RunRequest};
use tributary_store::runs::RunStatus;

use super::storage::{StorageArgs, open_runtime, public_url, resolve_tenant};
use crate::output;

#[derive(Subcommand)]
pub enum Command {
    /// Lists the tenant's integrations.
    List {
        #[command(flatten)]
        storage: StorageArgs,
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Creates an integration from its user input (connect it next).
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        tenant: String,
        /// The definition id (`tributary definitions list`).
        #[arg(long)]
        definition: String,
        /// The user input as a JSON object.
        #[arg(long, default_value = "{}")]
        input: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Connects an integration with typed credentials (a JSON object per slot), or prints the
    /// authorization URL of an OAuth or app-install mode.
    Connect {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        tenant: String,
        integration: String,
        /// The connection mode (a credential slot name).
        #[arg(long)]
        connection: String,
        /// `{"<slot>": {...}}`; read from standard input when `-`.
        #[arg(long, default_value = "{}")]
        credentials: String,
        #[arg(long)]
        json: bool,
    },
    /// Runs an operation to its end in this process, showing its progress.
    Run {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        tenant: String,
        integration: String,
        #[arg(long)]
        operation: String,
        /// The run config as a JSON object.
        #[arg(long, default_value = "{}")]
        config: String,
        #[arg(long)]
        json: bool,
    },
    /// Disconnects and deletes an integration (records are kept, marked disconnected).
    Delete {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        tenant: String,
        integration: String,
        #[arg(long)]
        json: bool,
    },
}

fn json_object(text: &str, what: &str) -> anyhow::Result<Value> {
    let text = if text == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        text.to_owned()
    };
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{what} is not valid JSON"))?;
    if !value.is_object() {
        bail!("{what} must be a JSON object");
    }
    Ok(value)
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::List {
            storage,
            tenant,
            json,
        } => {
            let runtime =
                open_runtime(&storage, public_url(&storage, "http://127.0.0.1:8080")).await?;
            let tenant = resolve_tenant(runtime.db(), &tenant).await?;
            let integrations = runtime.db().integrations().list(&tenant, None).await?;
            if json {
                output::json(&integrations)?;
            } else {
                let rows: Vec<Vec<String>> = integrations
                    .iter()
                    .map(|i| {
                        vec![
                            i.id.clone(),
                            i.definition_id.clone(),
                            i.name.clone(),
                            format!("{:?}", i.status).to_lowercase(),
                        ]
                    })
                    .collect();
                output::table(&["ID", "DEFINITION", "NAME", "STATUS"], &rows);
            }
        }
        Command::Create {
            storage,
            tenant,
            definition,
            input,
            name,
            json,
        } => {
            let runtime =
                open_runtime(&storage, public_url(&storage, "http://127.0.0.1:8080")).await?;
            let tenant = resolve_tenant(runtime.db(), &tenant).await?;
            let input = json_object(&input, "--input")?;
            let integration = runtime
                .create_integration(&tenant, &definition, name.as_deref(), &input)
                .await?;
            if json {
                output::json(&integration)?;
            } else {
                println!(
                    "integration {} created (pending): {}",
                    integration.name, integration.id
                );
            }
        }
        Command::Connect {
            storage,
            tenant,
            integration,
            connection,
            credentials,
            json,
        } => {
            let runtime =
                open_runtime(&storage, public_url(&storage, "http://127.0.0.1:8080")).await?;
            let tenant = resolve_tenant(runtime.db(), &tenant).await?;
            let existing = runtime.integration(&tenant, &integration).await?;
            let credentials: BTreeMap<String, Value> =
                serde_json::from_value(json_object(&credentials, "--credentials")?)?;
            let outcome = runtime
                .connect(ConnectRequest {
                    tenant_id: tenant,
                    integration_id: Some(existing.id),
                    definition_id: existing.definition_id,
                    connection,
                    credentials,
                    ..Default::default()
                })
                .await?;
            match outcome {
                ConnectOutcome::Connected(done) => {
                    if json {
                        output::json(&json!({
                            "outcome": "connected",
                            "integration": done.integration,
                            "webhookEndpoints": done.webhook_endpoints,
                            "scheduled": done.scheduled,
                        }))?;
                    } else {
                        println!("connected: {}", done.integration.id);
                        for endpoint in &done.webhook_endpoints {
                            println!(
                                "webhook endpoint {}: {} (secret, shown once: {})",
                                endpoint.name,
                                endpoint.url,
                                endpoint.secret.expose()
                            );
                        }
                    }
                }
                ConnectOutcome::Redirect(redirect) => {
                    if json {
                        output::json(
                            &json!({"outcome": "redirect", "authorizeUrl": redirect.url, "expiresAt": redirect.expires_at}),
                        )?;
                    } else {
                        println!("open this URL to finish connecting:\n  {}", redirect.url);
                    }
                }
            }
        }
        Command::Run {
            storage,
            tenant,
            integration,
            operation,
            config,
            json,
        } => {
            let runtime =
                open_runtime(&storage, public_url(&storage, "http://127.0.0.1:8080")).await?;
            let tenant = resolve_tenant(runtime.db(), &tenant).await?;
            let run = runtime
                .queue_run(RunRequest {
                    tenant_id: tenant.clone(),
                    integration_id: integration,
                    operation,
                    config: json_object(&config, "--config")?,
                    workflow: None,
                })
                .await?;
            let progress = if json {
                ProgressBar::hidden()
            } else {
                ProgressBar::new_spinner()
            };
            progress.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .expect("a valid template"),
            );
            progress.enable_steady_tick(Duration::from_millis(100));
            // A worker in this process takes the run (and whatever else is queued) until it ends.
            let finished = runtime
                .drive_run(&tenant, &run.id, None, |current| {
                    progress.set_message(format!(
                        "{} {}",
                        current.status.as_str(),
                        current.counters
                    ));
                })
                .await?;
            progress.finish_and_clear();
            if json {
                output::json(&finished)?;
            } else {
                println!(
                    "run {} {} in {} ms: {}",
                    finished.id,
                    finished.status.as_str(),
                    finished.duration_ms.unwrap_or_default(),
                    finished.counters
                );
                if let Some(message) = &finished.error_message {
                    println!("error: {message}");
                }
            }
            if finished.status != RunStatus::Succeeded {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Delete {
            storage,
            tenant,
            integration,
            json,
        } => {
            let runtime =
                open_runtime(&storage, public_url(&storage, "http://127.0.0.1:8080")).await?;
            let tenant = resolve_tenant(runtime.db(), &tenant).await?;
            let report = runtime.delete_integration(&tenant, &integration).await?;
            if json {
                output::json(&report)?;
            } else {
                println!(
                    "deleted: {} credentials, {} webhook endpoints, {} schedules removed; {} records marked disconnected",
                    report.credentials_deleted,
                    report.webhook_endpoints_deleted,
                    report.schedules_deleted,
                    report.records_marked
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
