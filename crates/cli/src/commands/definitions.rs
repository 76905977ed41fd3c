//! `tributary definitions list|show|validate`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use tributary_providers::{CatalogConfig, catalog, registry_of};

use crate::{failure, output};

#[derive(Subcommand)]
pub enum Command {
    /// Lists every built-in definition.
    List,
    /// Shows one definition's full catalog entry, with every JSON schema.
    Show {
        /// The definition id, e.g. `okta`.
        id: String,
    },
    /// Validates every built-in definition; exits 1 listing each broken rule.
    Validate,
}

pub fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    let config = CatalogConfig::default();
    match command {
        Command::Validate => {
            let count = catalog(&config).len();
            match registry_of(catalog(&config)) {
                Ok(_) => {
                    if json {
                        output::json(&serde_json::json!({"valid": true, "definitions": count}))?;
                    } else {
                        println!("{count} definition(s) valid");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    if json {
                        let list: Vec<_> = errors
                            .0
                            .iter()
                            .map(|e| {
                                serde_json::json!({
                                    "definition": e.definition,
                                    "item": e.item,
                                    "rule": format!("{:?}", e.rule),
                                    "message": e.to_string(),
                                })
                            })
                            .collect();
                        output::json(&serde_json::json!({"valid": false, "errors": list}))?;
                    } else {
                        eprintln!("{errors}");
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::List => {
            let registry =
                registry_of(catalog(&config)).context("the built-in catalog is invalid")?;
            let entries: Vec<_> = registry.definitions().map(|d| d.catalog_entry()).collect();
            if json {
                let specs: Vec<_> = entries.iter().map(|e| &e.spec).collect();
                output::json(&specs)?;
            } else {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        vec![
                            e.spec.id.to_owned(),
                            e.spec.display_name.clone(),
                            e.spec.category.clone(),
                            e.operations.len().to_string(),
                            if e.spec.active { "yes" } else { "no" }.to_owned(),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("no definitions are compiled in");
                } else {
                    output::table(&["ID", "NAME", "CATEGORY", "OPERATIONS", "ACTIVE"], &rows);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { id } => {
            let registry =
                registry_of(catalog(&config)).context("the built-in catalog is invalid")?;
            let Some(definition) = registry.definition(&id) else {
                return Err(failure::not_found(format!(
                    "no definition `{id}`; `tributary definitions list` shows the ids"
                )));
            };
            let entry = definition.catalog_entry();
            if json {
                output::json(&entry)?;
            } else {
                println!("{} ({})", entry.spec.display_name, entry.spec.id);
                println!("{}", entry.spec.description);
                for connection in &entry.connections {
                    println!(
                        "connection {} [{}]",
                        connection.credential_ref, connection.auth
                    );
                }
                for operation in &entry.operations {
                    println!("operation {}: {}", operation.name, operation.description);
                }
                for webhook in &entry.webhooks {
                    println!("webhook {} ({} events)", webhook.name, webhook.events.len());
                }
                println!("(use --json for every schema)");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
