//! `tributary integrations list|create|connect|delete` and `tributary integrations run`: the
//! tenant's integrations on the database directly, with the same runtime the server uses, or over
//! a server's API (`super::target`). What they change on the database is recorded in the audit
//! trail as the API records it (run by the command line).

use std::{collections::BTreeMap, process::ExitCode, time::Duration};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tributary_server::api::views::{ConnectOutcomeName, ConnectView, DisconnectView};

use super::target::TargetArgs;
use crate::{failure, output};

#[derive(Subcommand)]
pub enum Command {
    /// Lists the tenant's integrations.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Creates an integration from its user input (connect it next).
    Create {
        #[command(flatten)]
        target: TargetArgs,
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
        target: TargetArgs,
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
        target: TargetArgs,
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
        target: TargetArgs,
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
        Command::List { target } => {
            let integrations = target.open().await?.list_integrations().await?;
            output::listing(
                json,
                &integrations,
                &["ID", "DEFINITION", "NAME", "STATUS"],
                &integrations,
                |i| {
                    vec![
                        i.id.clone(),
                        i.definition_id.clone(),
                        i.name.clone(),
                        output::wire_name(&i.status),
                    ]
                },
            )?;
        }
        Command::Create {
            target,
            definition,
            input,
            name,
        } => {
            let input = json_object(&input, "--input")?;
            let integration = target
                .open()
                .await?
                .create_integration(&definition, name.as_deref(), input)
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
            target,
            integration,
            connection,
            credentials,
        } => {
            let credentials: BTreeMap<String, Value> =
                serde_json::from_value(json_object(&credentials, "--credentials")?)?;
            let outcome = target
                .open()
                .await?
                .connect(&integration, connection, credentials)
                .await?;
            if json {
                output::json(&outcome)?;
            } else {
                println!("{}", connected_text(&outcome));
            }
        }
        Command::Run {
            target,
            integration,
            operation,
            run_config,
        } => {
            let config = json_object(&run_config, "--run-config")?;
            let target = target.open().await?;
            let progress = spinner(json);
            let finished = target
                .run_to_end(&integration, &operation, config, |run| {
                    progress.set_message(format!(
                        "{} {}",
                        output::wire_name(&run.status),
                        run.counters
                    ));
                })
                .await?;
            progress.finish_and_clear();
            let status = output::wire_name(&finished.status);
            if json {
                output::json(&finished)?;
            } else {
                println!(
                    "run {} {} in {} ms: {}",
                    finished.id,
                    status,
                    finished.duration_ms.unwrap_or_default(),
                    finished.counters
                );
                if let Some(message) = &finished.error_message {
                    println!("error: {message}");
                }
            }
            return Ok(failure::of_run_status(&status));
        }
        Command::Delete {
            target,
            integration,
        } => {
            let report = target
                .open()
                .await?
                .delete_integration(&integration)
                .await?;
            if json {
                output::json(&report)?;
            } else {
                println!("deleted: {}", teardown_summary(&report));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What connecting did, for a person: the URL to open, or the integration connected with the
/// secrets of the webhook endpoints it created (shown this once).
fn connected_text(outcome: &ConnectView) -> String {
    match outcome.outcome {
        ConnectOutcomeName::Redirect => format!(
            "open this URL to finish connecting:\n  {}",
            outcome.authorize_url.as_deref().unwrap_or_default()
        ),
        ConnectOutcomeName::Connected => {
            let mut text = format!("connected: {}", outcome.integration.id);
            for endpoint in &outcome.webhook_endpoints {
                text.push_str(&format!(
                    "\nwebhook endpoint {}: {} (secret, shown once: {})",
                    endpoint.name, endpoint.url, endpoint.secret
                ));
            }
            text
        }
    }
}

/// What deleting an integration removed, in one line.
fn teardown_summary(report: &DisconnectView) -> String {
    format!(
        "{} credentials, {} webhook endpoints, {} schedules removed; {} runs cancelled",
        report.credentials_deleted,
        report.webhook_endpoints_deleted,
        report.schedules_deleted,
        report.runs_cancelled
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn connect_view(answer: Value) -> ConnectView {
        serde_json::from_value(answer).unwrap()
    }

    const INTEGRATION: &str = r#"{"id": "int_1", "definitionId": "okta", "name": "Okta",
        "status": "connected", "statusReason": null, "connection": "api_token",
        "userInput": {}, "metadata": {}, "createdAt": 1, "updatedAt": 2}"#;

    #[test]
    fn a_connection_shows_its_webhook_secrets_once_or_the_url_to_open() {
        let integration: Value = serde_json::from_str(INTEGRATION).unwrap();
        let connected = connect_view(json!({
            "outcome": "connected", "integration": integration, "scheduled": [],
            "webhookEndpoints": [{"id": "we_1", "name": "events", "url": "https://h/e", "secret": "s3"}],
        }));
        assert_eq!(
            connected_text(&connected),
            "connected: int_1\nwebhook endpoint events: https://h/e (secret, shown once: s3)"
        );
        let redirect = connect_view(json!({
            "outcome": "redirect", "integration": integration, "webhookEndpoints": [],
            "scheduled": [], "authorizeUrl": "https://id.example/authorize?state=x", "expiresAt": 9,
        }));
        assert_eq!(
            connected_text(&redirect),
            "open this URL to finish connecting:\n  https://id.example/authorize?state=x"
        );
    }

    #[test]
    fn a_deletion_says_what_it_removed() {
        let report: DisconnectView = serde_json::from_value(json!({
            "remote": null, "remoteError": null, "cleanedUp": true, "credentialsDeleted": 2,
            "webhookEndpointsDeleted": 1, "schedulesDeleted": 3, "runsCancelled": 4,
        }))
        .unwrap();
        assert_eq!(
            teardown_summary(&report),
            "2 credentials, 1 webhook endpoints, 3 schedules removed; 4 runs cancelled"
        );
    }
}
