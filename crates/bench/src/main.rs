//! `tributary-bench <suite> [--json]`: each suite measures one capability and prints its figures,
//! with a baseline measured in the same run where one makes sense.

use clap::{Parser, Subcommand};

mod backends;
mod cel;
mod ingest;
mod load;
mod queue;
mod runs;
mod webhooks;

#[derive(Parser)]
#[command(name = "tributary-bench", about = "Tributary benchmarks")]
struct Cli {
    #[command(subcommand)]
    suite: Suite,
}

#[derive(Subcommand)]
enum Suite {
    /// CEL filter + map over realistic provider payloads against a serde_json baseline.
    Cel(cel::Args),
    /// Job queue throughput and latency on SQLite and PostgreSQL.
    Queue(queue::Args),
    /// Ingest pipeline (filter + map + upsert) against plain batched inserts.
    Ingest(ingest::Args),
    /// Queued sync runs end to end against a fake provider on loopback (HTTP, paging, mapping,
    /// upsert).
    Runs(runs::Args),
    /// Webhook intake through the server on loopback (signed deliveries, fsync'd group commit)
    /// against one commit per delivery, an unsigned flood, and a bare axum handler.
    Webhooks(webhooks::Args),
    /// The load generator the `webhooks` suite runs as a separate process.
    #[command(hide = true)]
    WebhooksLoad(load::Args),
}

fn main() -> anyhow::Result<()> {
    // Warnings and errors of the measured code reach stderr (RUST_LOG to see more); stdout
    // carries the figures alone.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().suite {
        Suite::Cel(args) => cel::run(args),
        Suite::Queue(args) => queue::run(args),
        Suite::Ingest(args) => ingest::run(args),
        Suite::Runs(args) => runs::run(args),
        Suite::Webhooks(args) => webhooks::run(args),
        Suite::WebhooksLoad(args) => load::run(args),
    }
}

/// Prints a suite's report on stdout: one JSON line with `--json`, pretty JSON otherwise.
fn print_report(report: &serde_json::Value, one_line: bool) -> anyhow::Result<()> {
    if one_line {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(())
}
