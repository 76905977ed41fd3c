//! `tributary scim create-endpoint|show|rotate-secret`: the SCIM endpoint of an integration of
//! the `scim` definition, on the database directly (the REST API has the same three routes). A
//! create and a rotation are recorded in the audit trail as the API records them (run by the
//! command line); the secret is printed once and never recorded.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use tributary_runtime::Runtime;
use tributary_scim::admin;
use tributary_store::{SecretBytes, scim::ScimEndpoint};

use super::storage::{StorageArgs, open_command_runtime, resolve_tenant};
use crate::{
    audit::{AuditBuilder, CommandAudit, actions},
    output,
};

#[derive(Subcommand)]
pub enum Command {
    /// Creates the integration's SCIM endpoint (connecting it) and prints its base URL and its
    /// bearer secret, shown this once.
    CreateEndpoint {
        #[command(flatten)]
        storage: StorageArgs,
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        /// The id of an integration of the `scim` definition.
        integration: String,
    },
    /// Shows the integration's SCIM endpoint (without its secret).
    Show {
        #[command(flatten)]
        storage: StorageArgs,
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        /// The id of an integration of the `scim` definition.
        integration: String,
    },
    /// Replaces the bearer secret (printed this once); the previous one keeps working 24 hours.
    RotateSecret {
        #[command(flatten)]
        storage: StorageArgs,
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        /// The id of an integration of the `scim` definition.
        integration: String,
    },
}

pub async fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    let (storage, tenant, integration) = match &command {
        Command::CreateEndpoint {
            storage,
            tenant,
            integration,
        }
        | Command::Show {
            storage,
            tenant,
            integration,
        }
        | Command::RotateSecret {
            storage,
            tenant,
            integration,
        } => (storage, tenant, integration),
    };
    let runtime = open_command_runtime(storage).await?;
    let db = runtime.db();
    let change = match &command {
        Command::CreateEndpoint { .. } => actions::SCIM_ENDPOINT_CREATE,
        Command::RotateSecret { .. } => actions::SCIM_SECRET_ROTATE,
        Command::Show { .. } => {
            let tenant = resolve_tenant(db, tenant).await?;
            let endpoint = admin::endpoint(&runtime, &tenant, integration)
                .await?
                .ok_or_else(|| {
                    crate::failure::not_found(format!(
                        "integration {integration} has no SCIM endpoint yet"
                    ))
                })?;
            return print_endpoint(&runtime, &endpoint, None, json);
        }
    };
    // The new secret is printed only, never recorded.
    let mut audit =
        CommandAudit::new(change, "scim_endpoint").meta("integrationId", integration.as_str());
    let result: anyhow::Result<_> = async {
        let tenant = resolve_tenant(db, tenant).await?;
        audit.set_tenant(&tenant);
        Ok(if change == actions::SCIM_ENDPOINT_CREATE {
            admin::create_endpoint(&runtime, &tenant, integration).await?
        } else {
            admin::rotate_secret(&runtime, &tenant, integration).await?
        })
    }
    .await;
    let (endpoint, secret) = audit
        .record_targeting(db, result, |(endpoint, _)| &endpoint.id)
        .await?;
    print_endpoint(&runtime, &endpoint, Some(&secret), json)
}

/// Prints the endpoint's base URL, and its secret when it was just made.
fn print_endpoint(
    runtime: &Runtime,
    endpoint: &ScimEndpoint,
    secret: Option<&SecretBytes>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let base_url = admin::base_url(runtime, &endpoint.id);
    let secret = secret.map(|s| s.expose_str().unwrap_or_default().to_owned());
    if json {
        output::json(&json!({
            "id": endpoint.id,
            "baseUrl": base_url,
            "secret": secret,
            "previousSecretValidUntil": endpoint.previous_valid_until,
        }))?;
    } else {
        println!("SCIM base URL: {base_url}");
        if let Some(secret) = secret {
            println!("Bearer secret (shown once): {secret}");
        }
        if let Some(until) = endpoint.previous_valid_until {
            println!("The previous secret is accepted until {until} (Unix ms).");
        }
    }
    Ok(ExitCode::SUCCESS)
}
