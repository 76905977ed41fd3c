//! `tributary tenants create|list|token`: tenants and their API tokens, on the database directly
//! (the operator's view; over HTTP the same is `/v1/tenants`). A create and a token issue are
//! recorded in the audit trail in their own transaction, as the API records them.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::storage::{StorageArgs, resolve_tenant};
use crate::{
    audit::{AuditBuilder, CommandAudit, actions},
    output,
};

#[derive(Subcommand)]
pub enum Command {
    /// Creates a tenant.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
        /// The tenant's name.
        name: String,
    },
    /// Lists tenants.
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Issues an API token for a tenant (shown once).
    Token {
        #[command(flatten)]
        storage: StorageArgs,
        /// Tenant id or name.
        tenant: String,
        /// A label for the token.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

pub async fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create { storage, name } => {
            let db = storage.open_db().await?;
            let tenant = CommandAudit::new(actions::TENANT_CREATE, "tenant")
                .meta("name", name.as_str())
                .within(
                    &db,
                    async |tx| Ok(tx.tenants().create(&name).await?),
                    |audit, tenant| audit.tenant(&tenant.id).target(&tenant.id),
                )
                .await?;
            if json {
                output::json(&tenant)?;
            } else {
                println!("tenant {} created: {}", tenant.name, tenant.id);
            }
        }
        Command::List { storage } => {
            let db = storage.open_db().await?;
            let tenants = db.tenants().list().await?;
            output::listing(json, &tenants, &["ID", "NAME"], &tenants, |t| {
                vec![t.id.clone(), t.name.clone()]
            })?;
        }
        Command::Token {
            storage,
            tenant,
            name,
        } => {
            let db = storage.open_db().await?;
            // The token itself never reaches the trail: only its record's id and name.
            let mut audit = CommandAudit::new(actions::TOKEN_ISSUE, "api_token")
                .meta("name", name.as_str())
                .meta("expiresAt", Value::Null);
            let tenant = audit
                .failing_before(&db, resolve_tenant(&db, &tenant).await)
                .await?;
            audit.set_tenant(&tenant);
            let (record, token) = audit
                .within(
                    &db,
                    async |tx| Ok(tx.tenants().issue_token(Some(&tenant), &name, None).await?),
                    |audit, (record, _)| audit.target(&record.id),
                )
                .await?;
            let token = String::from_utf8_lossy(token.expose()).into_owned();
            if json {
                output::json(&json!({"token": token, "record": record}))?;
            } else {
                println!("token for tenant {tenant} (shown once):\n  {token}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
