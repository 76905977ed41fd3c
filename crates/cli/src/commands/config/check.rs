//! `tributary config check`: the effective configuration (file, variables and defaults merged,
//! secrets hidden), or every mistake in it.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::super::{
    serve::{listen_address, role_name, server_config},
    storage::{StorageArgs, public_url, redact_url, retention_policy},
};
use crate::output;

#[derive(Subcommand)]
pub enum Command {
    /// Checks the configuration file and the TRIBUTARY_* variables, then prints the effective
    /// configuration with secrets redacted (TOML, or JSON with `--json`); on any mistake prints
    /// each one (key, reason, the key it resembles) and exits 6.
    Check {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

pub fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    let Command::Check { storage } = command;
    let effective = effective_configuration(&storage)?;
    if json {
        output::json(&effective)?;
    } else {
        print!("{}", toml::to_string_pretty(&effective)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Every setting as `serve` would use it. Errors when the file or a variable is wrong.
fn effective_configuration(storage: &StorageArgs) -> anyhow::Result<Value> {
    let file = storage.file()?;
    let listen = listen_address(std::env::var("TRIBUTARY_LISTEN").ok(), &file);
    let server = server_config(&file);
    let worker_concurrency = file
        .worker
        .concurrency
        .unwrap_or(tributary_store::jobs::DEFAULT_WORKER_CONCURRENCY);
    let open_sessions = file
        .auth
        .max_open_sessions_per_tenant
        .unwrap_or(tributary_runtime::DEFAULT_MAX_OPEN_AUTH_SESSIONS);
    let definitions = tributary_providers::redact_definitions(&file.definitions);
    let retention = retention_policy(&file.retention);
    let days = |kept: std::time::Duration| kept.as_secs() / 86_400;
    let sweep_interval_secs = file
        .retention
        .sweep_interval_secs
        .unwrap_or(tributary_runtime::DEFAULT_RETENTION_INTERVAL.as_secs());
    Ok(json!({
        "listen": listen,
        "public_url": public_url(storage, &format!("http://{listen}"))?,
        "data_dir": storage.data_dir()?.display().to_string(),
        "database_url": redact_url(&storage.database_url()?),
        "role": role_name(std::env::var("TRIBUTARY_ROLE").ok().as_deref(), &file)?,
        "log": crate::telemetry::log_filter(&file),
        "log_format": crate::telemetry::log_format(
            std::env::var("TRIBUTARY_LOG_FORMAT")
                .ok()
                .and_then(|text| <crate::telemetry::LogFormat as clap::ValueEnum>::from_str(&text, true).ok()),
            &file,
        ),
        "server": {
            "max_body_bytes": server.max_body_bytes,
            "max_header_bytes": server.max_header_bytes,
            "webhook_rate_per_second": server.webhook_rate.per_second,
            "webhook_burst": server.webhook_rate.burst,
            "webhook_refused_per_second": server.webhook_refused_rate.per_second,
            "webhook_refused_burst": server.webhook_refused_rate.burst,
            "max_auth_failures": server.auth_failures.max_failures,
            "auth_failure_window_secs": server.auth_failures.window.as_secs(),
            "auth_failure_cool_down_secs": server.auth_failures.cool_down.as_secs(),
            "request_timeout_secs": server.request_timeout.map_or(0, |limit| limit.as_secs()),
        },
        "worker": { "concurrency": worker_concurrency },
        "auth": { "max_open_sessions_per_tenant": open_sessions },
        "retention": {
            "jobs_days": days(retention.jobs),
            "runs_days": days(retention.runs),
            "deliveries_days": days(retention.deliveries),
            "ingest_failures_days": days(retention.ingest_failures),
            "ingest_runs_days": days(retention.ingest_runs),
            "sessions_days": days(retention.sessions),
            "audit_events_days": days(retention.audit_events),
            "sweep_interval_secs": sweep_interval_secs,
        },
        "telemetry": {
            "otlp_endpoint": file.telemetry.otlp_endpoint.as_deref().map(redact_url),
            "service_name": file.telemetry.service_name.as_deref().unwrap_or("tributary"),
        },
        "definitions": definitions,
    }))
}
