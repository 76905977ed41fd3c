//! `tributary integrations list|create|connect|delete` and `tributary integrations run`: the
//! tenant's integrations on the database directly, with the same runtime the server uses. What
//! they change is recorded in the audit trail as the API records it (run by the command line).

use std::{collections::BTreeMap, process::ExitCode, time::Duration};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tributary_runtime::{ConnectOutcome, ConnectRequest, RunRequest};

use super::{
    remote::{ApiArgs, tenant_for_db},
    storage::{StorageArgs, open_command_runtime, resolve_tenant},
};
use crate::{
    audit::{CommandAudit, actions},
    failure, output,
};

#[derive(Subcommand)]
pub enum Command {
    /// Lists the tenant's integrations.
    List {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Tenant id or name (on the database; over `--api` the token names the tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Creates an integration from its user input (connect it next).
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Tenant id or name (on the database; over `--api` the token names the tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// The definition id (`tributary definitions list`).
        #[arg(long)]
        definition: String,
        /// The user input as a JSON object.
        #[arg(long, default_value = "{}")]
        input: String,
        /// A name for the integration (default: the definition's display name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Connects an integration with typed credentials (a JSON object per slot), or prints the
    /// authorization URL of an OAuth or app-install mode.
    Connect {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Tenant id or name (on the database; over `--api` the token names the tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// The integration id.
        integration: String,
        /// The connection mode (a credential slot name).
        #[arg(long)]
        connection: String,
        /// `{"<slot>": {...}}`; read from standard input when `-`.
        #[arg(long, default_value = "{}")]
        credentials: String,
    },
    /// Runs an operation to its end in this process, showing its progress.
    Run {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Tenant id or name (on the database; over `--api` the token names the tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// The integration id.
        integration: String,
        /// The operation name (`tributary definitions show ID` lists them), e.g. `DirectorySync`.
        #[arg(long)]
        operation: String,
        /// The run config as a JSON object (`--config` names the configuration file).
        #[arg(long = "run-config", default_value = "{}")]
        run_config: String,
    },
    /// Disconnects and deletes an integration (records are kept, marked disconnected).
    Delete {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Tenant id or name (on the database; over `--api` the token names the tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// The integration id.
        integration: String,
    },
}

fn json_object(text: &str, what: &str) -> anyhow::Result<Value> {
    let text = if text == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        text.to_owned()
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|error| failure::usage(format!("{what} is not valid JSON: {error}")))?;
    if !value.is_object() {
        return Err(failure::usage(format!("{what} must be a JSON object")));
    }
    Ok(value)
}

/// The names of `input`'s fields (never their values).
fn field_names(input: &Value) -> Vec<String> {
    input
        .as_object()
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

/// The progress display of a run (hidden with `--json`).
fn spinner(json: bool) -> ProgressBar {
    let progress = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"),
    );
    progress.enable_steady_tick(Duration::from_millis(100));
    progress
}

pub async fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        Command::List {
            storage,
            api,
            tenant,
        } => {
            if let Some(client) = api.client()? {
                let integrations = client.list_integrations().await?;
                if json {
                    output::json(&integrations)?;
                } else {
                    let rows: Vec<Vec<String>> = integrations
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|i| {
                            ["id", "definitionId", "name", "status"]
                                .iter()
                                .map(|key| i[*key].as_str().unwrap_or_default().to_owned())
                                .collect()
                        })
                        .collect();
                    output::table(&["ID", "DEFINITION", "NAME", "STATUS"], &rows);
                }
                return Ok(ExitCode::SUCCESS);
            }
            let tenant = tenant_for_db(tenant)?;
            let runtime = open_command_runtime(&storage).await?;
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
                            i.status.as_str().to_owned(),
                        ]
                    })
                    .collect();
                output::table(&["ID", "DEFINITION", "NAME", "STATUS"], &rows);
            }
        }
        Command::Create {
            storage,
            api,
            tenant,
            definition,
            input,
            name,
        } => {
            if let Some(client) = api.client()? {
                let input = json_object(&input, "--input")?;
                let integration = client
                    .create_integration(&definition, name.as_deref(), input)
                    .await?;
                if json {
                    output::json(&integration)?;
                } else {
                    println!(
                        "integration {} created (pending): {}",
                        integration["name"].as_str().unwrap_or_default(),
                        integration["id"].as_str().unwrap_or_default()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let tenant = tenant_for_db(tenant)?;
            let input = json_object(&input, "--input")?;
            let runtime = open_command_runtime(&storage).await?;
            let db = runtime.db();
            let mut audit = CommandAudit::new(actions::INTEGRATION_CREATE, "integration")
                .meta("definitionId", definition.as_str())
                .meta("fields", field_names(&input));
            let result: anyhow::Result<_> = async {
                let tenant = resolve_tenant(db, &tenant).await?;
                audit.set_tenant(&tenant);
                Ok(runtime
                    .create_integration(&tenant, &definition, name.as_deref(), &input)
                    .await?)
            }
            .await;
            audit
                .on_success(&result, |audit, integration| audit.target(&integration.id))
                .record(db, &result)
                .await;
            let integration = result?;
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
            api,
            tenant,
            integration,
            connection,
            credentials,
        } => {
            if let Some(client) = api.client()? {
                let credentials = json_object(&credentials, "--credentials")?;
                let outcome = client
                    .connect(&integration, &connection, credentials)
                    .await?;
                if json {
                    output::json(&outcome)?;
                } else if let Some(url) = outcome["authorizeUrl"].as_str() {
                    println!("open this URL to finish connecting:\n  {url}");
                } else {
                    println!(
                        "connected: {}",
                        outcome["integration"]["id"].as_str().unwrap_or_default()
                    );
                    for endpoint in outcome["webhookEndpoints"].as_array().into_iter().flatten() {
                        println!(
                            "webhook endpoint {}: {} (secret, shown once: {})",
                            endpoint["name"].as_str().unwrap_or_default(),
                            endpoint["url"].as_str().unwrap_or_default(),
                            endpoint["secret"].as_str().unwrap_or_default()
                        );
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let tenant = tenant_for_db(tenant)?;
            let credentials: BTreeMap<String, Value> =
                serde_json::from_value(json_object(&credentials, "--credentials")?)?;
            let runtime = open_command_runtime(&storage).await?;
            let db = runtime.db();
            // Slot names only: the credentials themselves never reach the trail.
            let mut audit = CommandAudit::new(actions::INTEGRATION_CONNECT, "integration")
                .target(&integration)
                .meta("connection", connection.as_str())
                .meta("slots", credentials.keys().cloned().collect::<Vec<_>>());
            let result: anyhow::Result<_> = async {
                let tenant = resolve_tenant(db, &tenant).await?;
                audit.set_tenant(&tenant);
                let existing = runtime.integration(&tenant, &integration).await?;
                audit.set_action(actions::connect_action(&existing));
                Ok(runtime
                    .connect(ConnectRequest {
                        tenant_id: tenant,
                        integration_id: Some(existing.id),
                        definition_id: existing.definition_id,
                        connection,
                        credentials,
                        ..Default::default()
                    })
                    .await?)
            }
            .await;
            if let Ok(ConnectOutcome::Redirect(_)) = &result {
                // The connection completes at the callback, which records it again.
                audit.note("authorization", "started");
            }
            audit.record(db, &result).await;
            let outcome = result?;
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
            api,
            tenant,
            integration,
            operation,
            run_config,
        } => {
            let progress = spinner(json);
            if let Some(client) = api.client()? {
                let config = json_object(&run_config, "--run-config")?;
                let finished = client
                    .run_to_end(&integration, &operation, config, |run| {
                        progress.set_message(format!(
                            "{} {}",
                            run["status"].as_str().unwrap_or("?"),
                            run["counters"]
                        ));
                    })
                    .await?;
                progress.finish_and_clear();
                let status = finished["status"].as_str().unwrap_or_default();
                if json {
                    output::json(&finished)?;
                } else {
                    println!(
                        "run {} {} in {} ms: {}",
                        finished["id"].as_str().unwrap_or_default(),
                        status,
                        finished["durationMs"].as_i64().unwrap_or_default(),
                        finished["counters"]
                    );
                    if let Some(message) = finished["errorMessage"].as_str() {
                        println!("error: {message}");
                    }
                }
                return Ok(failure::of_run_status(status));
            }
            let tenant = tenant_for_db(tenant)?;
            let config = json_object(&run_config, "--run-config")?;
            let runtime = open_command_runtime(&storage).await?;
            let db = runtime.db();
            let mut audit = CommandAudit::new(actions::RUN_START, "run")
                .meta("integrationId", integration.as_str())
                .meta("operation", operation.as_str())
                .meta("mode", "queued");
            let result: anyhow::Result<_> = async {
                let tenant = resolve_tenant(db, &tenant).await?;
                audit.set_tenant(&tenant);
                let run = runtime
                    .queue_run(RunRequest {
                        tenant_id: tenant.clone(),
                        integration_id: integration,
                        operation,
                        config,
                        workflow: None,
                    })
                    .await?;
                Ok((tenant, run))
            }
            .await;
            // The start is recorded when the run is queued; how it ends is the run's own record.
            audit
                .on_success(&result, |audit, (_, run)| audit.target(&run.id))
                .record(db, &result)
                .await;
            let (tenant, run) = result?;
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
            return Ok(failure::of_run_status(finished.status.as_str()));
        }
        Command::Delete {
            storage,
            api,
            tenant,
            integration,
        } => {
            if let Some(client) = api.client()? {
                let report = client.delete_integration(&integration).await?;
                if json {
                    output::json(&report)?;
                } else {
                    println!("deleted: {report}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let tenant = tenant_for_db(tenant)?;
            let runtime = open_command_runtime(&storage).await?;
            let db = runtime.db();
            let mut audit =
                CommandAudit::new(actions::INTEGRATION_DELETE, "integration").target(&integration);
            let result: anyhow::Result<_> = async {
                let tenant = resolve_tenant(db, &tenant).await?;
                audit.set_tenant(&tenant);
                Ok(runtime.delete_integration(&tenant, &integration).await?)
            }
            .await;
            audit
                .on_success(&result, |audit, report| {
                    audit
                        .meta("remoteTeardownFailed", report.remote_error.is_some())
                        .meta("credentialsDeleted", report.credentials_deleted)
                        .meta("runsCancelled", report.runs_cancelled)
                })
                .record(db, &result)
                .await;
            let report = result?;
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
