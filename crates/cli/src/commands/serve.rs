//! `tributary serve`: the server, a job worker and the reconcile scheduler in one process.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::storage::{StorageArgs, open_runtime, public_url};

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "TRIBUTARY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Print the startup line as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let url = format!("http://{address}");
    // Unless configured, the public URL is where we listen.
    let runtime = open_runtime(&args.storage, public_url(&url)).await?;
    if args.json {
        println!("{}", serde_json::json!({ "url": url }));
    } else {
        println!("Tributary is listening on {url}");
    }
    tributary_server::serve(
        runtime,
        tributary_server::ServerConfig::default(),
        listener,
        shutdown_signal(),
    )
    .await
    .context("the server stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
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
