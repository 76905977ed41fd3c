//! `tributary serve`: the HTTP surface (REST API, OAuth callback, webhook intake), job workers and
//! the reconcile scheduler, in one process or split by `--role`.

use std::{process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Args, ValueEnum};
use tributary_server::{AuthFailureLimit, RateLimitConfig, Role, ServerConfig};
use tributary_store::jobs::WorkerConfig;

use super::{
    config::FileConfig,
    storage::{StorageArgs, hold_key_ring, open_runtime, public_url},
};

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address to listen on (`127.0.0.1:0` picks a free port; default `127.0.0.1:8080`).
    #[arg(long, env = "TRIBUTARY_LISTEN")]
    pub listen: Option<String>,
    /// What this process does: `all` (default), `api` (HTTP only) or `worker` (jobs and
    /// schedules, with health probes on the listen address).
    #[arg(long, env = "TRIBUTARY_ROLE", value_enum)]
    pub role: Option<RoleArg>,
    /// How log lines are written on standard error: `text` or `json` (one object a line, with
    /// the request, tenant, integration and run they concern). Default: the file's
    /// `log_format`, else `text`.
    #[arg(long, env = "TRIBUTARY_LOG_FORMAT", value_enum)]
    pub log_format: Option<crate::telemetry::LogFormat>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    All,
    Api,
    Worker,
}

impl RoleArg {
    fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "all" => Ok(RoleArg::All),
            "api" => Ok(RoleArg::Api),
            "worker" => Ok(RoleArg::Worker),
            other => Err(crate::failure::config(format!(
                "role must be all, api or worker, not `{other}`"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            RoleArg::All => "all",
            RoleArg::Api => "api",
            RoleArg::Worker => "worker",
        }
    }

    fn role(self) -> Role {
        match self {
            RoleArg::All => Role::All,
            RoleArg::Api => Role::Api,
            RoleArg::Worker => Role::Worker,
        }
    }
}

/// The address to listen on: the flag (or `TRIBUTARY_LISTEN`), else the file's, else
/// `127.0.0.1:8080`.
pub fn listen_address(flag: Option<String>, file: &FileConfig) -> String {
    flag.or_else(|| file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
}

/// The role's name: the flag's or variable's text, else the file's, else `all`; an unknown name
/// is an error.
pub fn role_name(flag: Option<&str>, file: &FileConfig) -> anyhow::Result<&'static str> {
    let role = match flag.or(file.role.as_deref()) {
        Some(text) => RoleArg::parse(text)?,
        None => RoleArg::All,
    };
    Ok(role.name())
}

/// The server settings: the file's, over the defaults.
pub fn server_config(file: &FileConfig) -> ServerConfig {
    let defaults = ServerConfig::default();
    ServerConfig {
        max_body_bytes: file
            .server
            .max_body_bytes
            .unwrap_or(defaults.max_body_bytes),
        max_header_bytes: file
            .server
            .max_header_bytes
            .unwrap_or(defaults.max_header_bytes),
        webhook_rate: rate_limit(
            file.server.webhook_rate_per_second,
            file.server.webhook_burst,
            defaults.webhook_rate,
        ),
        webhook_refused_rate: rate_limit(
            file.server.webhook_refused_per_second,
            file.server.webhook_refused_burst,
            defaults.webhook_refused_rate,
        ),
        auth_failures: auth_failure_limit(&file.server, defaults.auth_failures),
        request_timeout: match file.server.request_timeout_secs {
            Some(0) => None,
            Some(seconds) => Some(Duration::from_secs(seconds)),
            None => defaults.request_timeout,
        },
    }
}

/// The failed-authentication throttle: the file's settings over the defaults; a maximum of 0
/// turns it off.
/// A rate limit from the config file's rate and burst, each falling back to `defaults`'.
fn rate_limit(
    per_second: Option<f64>,
    burst: Option<f64>,
    defaults: RateLimitConfig,
) -> RateLimitConfig {
    RateLimitConfig {
        per_second: per_second.unwrap_or(defaults.per_second),
        burst: burst.unwrap_or(defaults.burst),
    }
}

fn auth_failure_limit(
    server: &super::config::ServerSection,
    defaults: AuthFailureLimit,
) -> AuthFailureLimit {
    let max_failures = server.max_auth_failures.unwrap_or(defaults.max_failures);
    if max_failures == 0 {
        return AuthFailureLimit::OFF;
    }
    let seconds =
        |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_secs);
    AuthFailureLimit {
        max_failures,
        window: seconds(server.auth_failure_window_secs, defaults.window),
        cool_down: seconds(server.auth_failure_cool_down_secs, defaults.cool_down),
    }
}

pub async fn run(args: ServeArgs, json: bool) -> anyhow::Result<ExitCode> {
    let file = args.storage.file()?;
    let telemetry = crate::telemetry::start(&file, args.log_format)?;
    let served = serve(args, &file, json).await;
    telemetry.stop().await;
    served
}

async fn serve(args: ServeArgs, file: &FileConfig, json: bool) -> anyhow::Result<ExitCode> {
    let role = match (args.role, file.role.as_deref()) {
        (Some(role), _) => role,
        (None, Some(text)) => RoleArg::parse(text)?,
        (None, None) => RoleArg::All,
    };
    let listen = listen_address(args.listen.clone(), file);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let url = format!("http://{address}");
    // Unless configured, the public URL is where we listen.
    let runtime = open_runtime(&args.storage, public_url(&args.storage, &url)?).await?;
    let operator_token = bootstrap_operator_token(runtime.db()).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "url": url,
                "role": format!("{role:?}").to_lowercase(),
                "operatorToken": operator_token,
            })
        );
    } else {
        println!("Tributary is listening on {url} (role {role:?})");
        if let Some(token) = &operator_token {
            println!(
                "Operator token (shown once; it creates tenants and their tokens):\n  {token}"
            );
        }
    }
    let mut worker = WorkerConfig::new(runtime.config().queue.clone());
    if let Some(concurrency) = file.worker.concurrency {
        worker.concurrency = concurrency.max(1);
    }
    let (stop_holding, holding_stopped) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(hold_key_ring(&runtime, role.name()).run(
        Some(reload_signal()),
        async {
            let _ = holding_stopped.await;
        },
    ));
    let served = tributary_server::serve_role(
        runtime,
        server_config(file),
        role.role(),
        Some(worker),
        listener,
        shutdown_signal(),
    )
    .await;
    // Withdraw from the key ring holders so a rotation need not wait for this process.
    let _ = stop_holding.send(());
    let _ = holder.await;
    served.context("the server stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// On first start (no operator token yet) issues one and returns it, to be printed once.
pub async fn bootstrap_operator_token(db: &tributary_store::Db) -> anyhow::Result<Option<String>> {
    let live = db
        .tenants()
        .list_tokens(None)
        .await?
        .into_iter()
        .any(|token| token.revoked_at.is_none());
    if live {
        return Ok(None);
    }
    let (_, token) = db.tenants().issue_token(None, "operator", None).await?;
    Ok(Some(String::from_utf8_lossy(token.expose()).into_owned()))
}

/// A message for each SIGHUP: re-read the key file now.
fn reload_signal() -> tokio::sync::mpsc::Receiver<()> {
    let (ask, asked) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    if let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                let _ = ask.try_send(());
            }
        });
    }
    #[cfg(not(unix))]
    drop(ask);
    asked
}

/// SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(toml_text: &str) -> AuthFailureLimit {
        let file: FileConfig = toml::from_str(toml_text).unwrap();
        server_config(&file).auth_failures
    }

    #[test]
    fn the_failed_authentication_throttle_is_read_from_the_file() {
        assert_eq!(throttle(""), AuthFailureLimit::default());
        let tuned = throttle(
            "[server]\nmax_auth_failures = 3\nauth_failure_window_secs = 5\nauth_failure_cool_down_secs = 7",
        );
        assert_eq!(
            tuned,
            AuthFailureLimit {
                max_failures: 3,
                window: Duration::from_secs(5),
                cool_down: Duration::from_secs(7),
            }
        );
        assert_eq!(
            throttle("[server]\nmax_auth_failures = 0"),
            AuthFailureLimit::OFF
        );
    }
}
