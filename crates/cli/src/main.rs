//! `tributary`: the runtime's command line.

mod commands;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tributary", version, about = "Tributary integrations runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The configuration: `config check` validates it and prints the effective settings.
    #[command(subcommand)]
    Config(commands::config::Command),
    /// Inspect and validate the built-in provider definitions.
    #[command(subcommand)]
    Definitions(commands::definitions::Command),
    /// Runs the whole product on a fresh SQLite database against fake providers on loopback:
    /// connects them through the API (OAuth included), syncs, delivers webhooks, and reports.
    #[cfg(feature = "demo")]
    Demo(commands::demo::DemoArgs),
    /// A build without the demo (and its fake providers) says so instead of "unrecognized".
    #[cfg(not(feature = "demo"))]
    #[command(hide = true)]
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ignored: Vec<String>,
    },
    /// Prepares the data directory, the database (migrations applied) and the key ring, checks
    /// the built-in catalog and says what it set up.
    Init(commands::init::InitArgs),
    /// The key ring that encrypts stored credentials and webhook secrets.
    #[command(subcommand)]
    Keys(commands::keys::Command),
    /// Integrations: list, create, connect, run an operation (with progress), delete.
    #[command(subcommand)]
    Integrations(commands::integrations::Command),
    /// Tenants and their API tokens.
    #[command(subcommand)]
    Tenants(commands::tenants::Command),
    /// Try a definition's mappings on example payloads.
    #[command(subcommand)]
    Mappings(commands::mappings::Command),
    /// Runs the server: webhook intake, the OAuth callback, health and metrics, a job worker
    /// and the reconcile scheduler, until SIGINT or SIGTERM.
    Serve(commands::serve::ServeArgs),
    /// Provider packages: `providers new NAME` scaffolds one.
    #[command(subcommand)]
    Providers(commands::providers::Command),
    /// Operation runs: list, inspect with logs, cancel.
    #[command(subcommand)]
    Runs(commands::runs::Command),
    /// Webhook deliveries: list an endpoint's, replay a failed one.
    #[command(subcommand)]
    Webhooks(commands::webhooks::Command),
    /// SCIM endpoints: create one for a SCIM integration, show it, rotate its secret.
    #[command(subcommand)]
    Scim(commands::scim::Command),
    /// The database: `storage purge` deletes what the retention settings no longer keep.
    #[command(subcommand)]
    Storage(commands::purge::Command),
}

fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Config(command) => commands::config::run(command),
        Command::Definitions(command) => commands::definitions::run(command),
        #[cfg(feature = "demo")]
        Command::Demo(args) => block_on(commands::demo::run(args)),
        #[cfg(not(feature = "demo"))]
        Command::Demo { .. } => Err(anyhow::anyhow!(
            "this tributary was built without the demo and its fake providers (Cargo feature \
             `demo`, on by default; production builds use --no-default-features)"
        )),
        Command::Init(args) => block_on(commands::init::run(args)),
        Command::Keys(command) => block_on(commands::keys::run(command)),
        Command::Integrations(command) => block_on(commands::integrations::run(command)),
        Command::Tenants(command) => block_on(commands::tenants::run(command)),
        Command::Mappings(command) => commands::mappings::run(command),
        Command::Providers(command) => commands::providers::run(command),
        Command::Serve(args) => block_on(commands::serve::run(args)),
        Command::Runs(command) => block_on(commands::runs::run(command)),
        Command::Webhooks(command) => block_on(commands::webhooks::run(command)),
        Command::Scim(command) => block_on(commands::scim::run(command)),
        Command::Storage(command) => block_on(commands::purge::run(command)),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand's arguments are well formed (unique names, valid defaults): clap checks
    /// this only when a command is parsed, so a verb no test calls could hide a clash.
    #[test]
    fn every_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
