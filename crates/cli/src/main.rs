//! `tributary`: the runtime's command line.

mod audit;
mod commands;
mod failure;
mod output;
mod telemetry;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tributary",
    version,
    about = "Tributary integrations runtime",
    after_help = "Exit codes: 0 ok, 1 failed, 2 usage, 3 refused (authentication or permission), \
                  4 not found, 5 partial, 6 configuration, 7 unavailable (docs/cli.md)."
)]
struct Cli {
    /// Print results as JSON (one document on standard output) and errors as
    /// `{"error": {"kind", "message"}}` on standard error.
    #[arg(long, global = true)]
    json: bool,
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
    ///
    /// With `--json` the summary is one JSON object.
    #[cfg(feature = "demo")]
    Demo(commands::demo::DemoArgs),
    /// A build without the demo (and its fake providers) says so instead of "unrecognized".
    #[cfg(not(feature = "demo"))]
    #[command(hide = true)]
    Demo {
        /// Whatever follows `demo`: ignored.
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
    ///
    /// With `--json` the startup line (URL, role, first operator token) is one JSON object.
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
    /// Prints a shell completion script for bash, zsh, fish, elvish or PowerShell.
    ///
    /// For example `tributary completions bash > /etc/bash_completion.d/tributary`;
    /// docs/cli.md says where each shell looks for it.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return refuse_command_line(error),
    };
    let json = cli.json;
    match run(cli.command, json) {
        Ok(code) => code,
        Err(error) => {
            let failure = failure::classify(&error);
            output::error(failure.kind(), &format!("{error:#}"), json);
            failure.exit_code()
        }
    }
}

fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        Command::Config(command) => commands::config::run(command, json),
        Command::Definitions(command) => commands::definitions::run(command, json),
        #[cfg(feature = "demo")]
        Command::Demo(args) => block_on(commands::demo::run(args, json)),
        #[cfg(not(feature = "demo"))]
        Command::Demo { .. } => Err(failure::usage(
            "this tributary was built without the demo and its fake providers (Cargo feature \
             `demo`, on by default; production builds use --no-default-features)",
        )),
        Command::Init(args) => block_on(commands::init::run(args, json)),
        Command::Keys(command) => block_on(commands::keys::run(command, json)),
        Command::Integrations(command) => block_on(commands::integrations::run(command, json)),
        Command::Tenants(command) => block_on(commands::tenants::run(command, json)),
        Command::Mappings(command) => commands::mappings::run(command, json),
        Command::Providers(command) => commands::providers::run(command),
        Command::Serve(args) => block_on(commands::serve::run(args, json)),
        Command::Runs(command) => block_on(commands::runs::run(command, json)),
        Command::Webhooks(command) => block_on(commands::webhooks::run(command, json)),
        Command::Scim(command) => block_on(commands::scim::run(command, json)),
        Command::Storage(command) => block_on(commands::purge::run(command, json)),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "tributary",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A command line clap refused: its message and exit code 2, as JSON when `--json` was given.
/// `--help` and `--version` print as usual.
fn refuse_command_line(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = std::env::args_os()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == "--json");
    if !json
        || matches!(
            error.kind(),
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
        )
    {
        error.exit();
    }
    let rendered = error.render().to_string();
    let message = rendered.trim().trim_start_matches("error: ");
    output::error(failure::Failure::Usage.kind(), message, true);
    failure::Failure::Usage.exit_code()
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

    /// Every subcommand and every argument says in `--help` what it is for.
    #[test]
    fn every_subcommand_and_argument_has_help() {
        let missing = without_help(&super::Cli::command());
        assert!(
            missing.is_empty(),
            "without help text: {}",
            missing.join(", ")
        );
    }

    #[test]
    fn the_help_check_names_what_lacks_help() {
        let command = clap::Command::new("t")
            .arg(clap::Arg::new("described").long("described").help("Says."))
            .subcommand(clap::Command::new("bare").arg(clap::Arg::new("thing")));
        assert_eq!(without_help(&command), ["t bare", "t bare <thing>"]);
    }

    /// The subcommands and arguments of `command`, at any depth, that have no help text, each
    /// named by its path (`tributary runs list --limit`). clap's own `--help` and `--version`
    /// are added when a command is built, so they are not seen here.
    fn without_help(command: &clap::Command) -> Vec<String> {
        let mut missing = Vec::new();
        walk(command, command.get_name(), &mut missing);
        missing
    }

    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                let name = match arg.get_long() {
                    Some(long) => format!("--{long}"),
                    None => format!("<{}>", arg.get_id()),
                };
                missing.push(format!("{path} {name}"));
            }
        }
        for sub in command.get_subcommands() {
            let sub_path = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                missing.push(sub_path.clone());
            }
            walk(sub, &sub_path, missing);
        }
    }
}
