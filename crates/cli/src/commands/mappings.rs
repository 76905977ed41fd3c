//! `tributary mappings eval`: runs one example payload through a definition's mapping and prints
//! the record it becomes, or why it does not (the same check provider tests use).

use std::{io::Read, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};
use tributary_cel::CelEngine;
use tributary_ingest::eval_mapping_with;
use tributary_providers::{CatalogConfig, registry};

use crate::{failure, output};

#[derive(Subcommand)]
pub enum Command {
    /// Maps a payload with the mapping of (schema, variant) of a definition.
    Eval {
        /// The definition id, e.g. `okta`.
        #[arg(long)]
        definition: String,
        /// The internal model, e.g. `DirectoryAccount`.
        #[arg(long)]
        schema: String,
        /// The mapping variant; empty for the default mapping.
        #[arg(long, default_value = "")]
        variant: String,
        /// A JSON file with the provider payload, or `-` for standard input.
        #[arg(long)]
        payload: PathBuf,
    },
}

pub fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    let Command::Eval {
        definition,
        schema,
        variant,
        payload,
    } = command;
    let registry = registry(&CatalogConfig::default())
        .map_err(|errors| anyhow::anyhow!("the built-in catalog is invalid:\n{errors}"))?;
    let Some(registered) = registry.definition(&definition) else {
        return Err(failure::not_found(format!(
            "no definition `{definition}`; `tributary definitions list` shows the ids"
        )));
    };
    let text = if payload.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        std::fs::read_to_string(&payload)
            .with_context(|| format!("cannot read {}", payload.display()))?
    };
    let engine = CelEngine::default();
    let payload: Value = match engine.parse_payload(text.as_bytes()) {
        Ok(value) => value,
        Err(err) => {
            return Err(failure::usage(format!(
                "the payload is not usable JSON: {err}"
            )));
        }
    };
    let result = eval_mapping_with(
        &engine,
        registered.id(),
        &registered.definition.mappings,
        &schema,
        &variant,
        &payload,
    );
    // A payload the mapping refuses is an error like any other: with `--json`, a JSON error on
    // standard error.
    let record = result?;
    if json {
        output::json(&json!({ "record": record }))?;
    } else {
        output::json(&record.fields)?;
    }
    Ok(ExitCode::SUCCESS)
}
