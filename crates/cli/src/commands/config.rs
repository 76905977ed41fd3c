//! The configuration file (`--config FILE` or `TRIBUTARY_CONFIG`), TOML. Every setting can also
//! come from a flag or a `TRIBUTARY_*` variable; a flag wins over its variable, which wins over
//! the file, which wins over the default. `docs/configuration.md` lists them all.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use serde_json::Value;

mod check;
mod env;

pub use check::{Command, run};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// The externally reachable URL (OAuth redirect URI and webhook URLs are built from it).
    pub public_url: Option<String>,
    /// Directory of the SQLite database and the key file.
    pub data_dir: Option<PathBuf>,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: Option<String>,
    /// `all`, `api` or `worker`.
    pub role: Option<String>,
    /// Log filter (`info`, `tributary=debug,warn`).
    pub log: Option<String>,
    /// How log lines are written: `text` (default) or `json`, one object a line.
    pub log_format: Option<crate::telemetry::LogFormat>,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub worker: WorkerSection,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub retention: RetentionSection,
    #[serde(default)]
    pub telemetry: TelemetrySection,
    /// Operator settings of each definition: `[definitions.<id>]`.
    #[serde(default)]
    pub definitions: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub max_body_bytes: Option<usize>,
    pub max_header_bytes: Option<usize>,
    /// Verified webhook deliveries per integration (or app installation).
    pub webhook_rate_per_second: Option<f64>,
    pub webhook_burst: Option<f64>,
    /// Refused webhook requests per source address before it is answered 429 at once.
    pub webhook_refused_per_second: Option<f64>,
    pub webhook_refused_burst: Option<f64>,
    /// Failed authentications one source address may make within `auth_failure_window_secs`
    /// before it waits `auth_failure_cool_down_secs`; 0 turns the throttle off (behind a proxy
    /// that hides client addresses).
    pub max_auth_failures: Option<u32>,
    pub auth_failure_window_secs: Option<u64>,
    pub auth_failure_cool_down_secs: Option<u64>,
    /// How long one request may take before it is answered 503; 0: no limit.
    pub request_timeout_secs: Option<u64>,
}

/// Traces over OTLP (`docs/observability.md`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// The OTLP/HTTP collector's base URL (`http://collector:4318`); spans go to
    /// `<base>/v1/traces`. Unset: no traces are exported.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of the exported spans (default `tributary`).
    pub service_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// Jobs running at once per worker process.
    pub concurrency: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Browser authorization flows a tenant may have open at once (started, not finished, not
    /// expired); one more answers 429.
    pub max_open_sessions_per_tenant: Option<u32>,
}

/// How long finished work is kept, in days per class (0 keeps that class forever), and how often
/// a worker sweeps; `docs/storage.md#retention`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    pub jobs_days: Option<u32>,
    pub runs_days: Option<u32>,
    pub deliveries_days: Option<u32>,
    pub ingest_failures_days: Option<u32>,
    pub ingest_runs_days: Option<u32>,
    pub sessions_days: Option<u32>,
    /// The audit trail of tenant and operator actions (default a year).
    pub audit_events_days: Option<u32>,
    /// 0 turns the worker's sweep off.
    pub sweep_interval_secs: Option<u64>,
}

impl FileConfig {
    /// Reads `path` (no path is an empty file), applies the `TRIBUTARY_<SECTION>__<KEY>`
    /// variables of this process, and checks every `[definitions.<id>]` section. Any mistake
    /// is an error naming the file and the key: nothing falls back to a default.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_with(path, std::env::vars())
    }

    /// [`FileConfig::load`] with the environment given.
    pub fn load_with(
        path: Option<&Path>,
        variables: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let origin = match path {
            Some(path) => format!("the configuration file {}", path.display()),
            None => "the configuration (no file)".to_owned(),
        };
        let text = match path {
            Some(path) => std::fs::read_to_string(path).map_err(|error| {
                crate::failure::config(format!(
                    "cannot read the configuration file {}: {error}",
                    path.display()
                ))
            })?,
            None => String::new(),
        };
        // Parsed as the typed file first, so that an error carries its line and column.
        toml::from_str::<FileConfig>(&text).map_err(|error| {
            crate::failure::config(format!(
                "{origin} is invalid: {}",
                explain(&error.to_string())
            ))
        })?;
        let variables: Vec<(String, String)> = variables
            .into_iter()
            .filter(|(name, _)| name.starts_with(env::PREFIX))
            .collect();
        let mut table: toml::Table = toml::from_str(&text)?;
        let mut problems = env::apply_section_overrides(&mut table, &variables);
        let mut config: FileConfig =
            toml::Value::Table(table)
                .try_into()
                .map_err(|error: toml::de::Error| {
                    crate::failure::config(format!(
                        "{origin} with its TRIBUTARY_* variables is invalid: {}",
                        explain(error.message())
                    ))
                })?;
        problems.extend(tributary_providers::apply_definition_overrides(
            &mut config.definitions,
            variables,
        ));
        problems.extend(tributary_providers::check_definitions(&config.definitions));
        match invalid(&origin, &problems) {
            Some(error) => Err(error),
            None => Ok(config),
        }
    }
}

/// One error listing every problem of `origin`, a line each; `None` when there is none.
pub fn invalid(
    origin: &str,
    problems: &[tributary_providers::ConfigProblem],
) -> Option<anyhow::Error> {
    if problems.is_empty() {
        return None;
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|problem| format!("  {problem}"))
        .collect();
    Some(crate::failure::config(format!(
        "{origin} is invalid:\n{}",
        lines.join("\n")
    )))
}

/// serde's message, with a "did you mean" when it names an unknown field among expected ones
/// (`unknown field `lisen`, expected one of `listen`, ...`).
fn explain(message: &str) -> String {
    let unknown = message
        .split_once("unknown field `")
        .and_then(|(_, rest)| rest.split_once('`'));
    let Some((field, rest)) = unknown else {
        return message.to_owned();
    };
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    match tributary_core::suggest::did_you_mean(field, expected) {
        Some(suggestion) => format!("{}; did you mean `{suggestion}`?", message.trim_end()),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_reads_and_unknown_keys_are_refused() {
        let config: FileConfig = toml::from_str(
            r#"
            listen = "0.0.0.0:8080"
            public_url = "https://tributary.example.com"
            database_url = "postgres://app@db/tributary"
            role = "api"
            [server]
            max_body_bytes = 2048
            [worker]
            concurrency = 4
            [auth]
            max_open_sessions_per_tenant = 20
            [definitions.okta]
            allowLoopbackOrgUrl = false
            "#,
        )
        .unwrap();
        assert_eq!(config.role.as_deref(), Some("api"));
        assert_eq!(config.worker.concurrency, Some(4));
        assert_eq!(config.auth.max_open_sessions_per_tenant, Some(20));
        assert_eq!(config.definitions["okta"]["allowLoopbackOrgUrl"], false);
        let error = toml::from_str::<FileConfig>("lisen = \"x\"").unwrap_err();
        assert!(error.to_string().contains("lisen"), "{error}");
    }
}
