//! What a command that did not succeed tells its caller: one exit code per kind of failure, the
//! same `kind` in a JSON error. Every error is classified here and nowhere else: from the error
//! types the commands meet (the runtime's, the store's, the database driver's, the REST API's
//! answers, HTTP connections) and from the few errors a command tags itself. `docs/cli.md` lists
//! the codes; scripts rely on them, so a code never changes meaning.

use std::{error::Error, fmt, process::ExitCode};

use tributary_core::ErrorKind;
use tributary_runtime::{RuntimeError, execute::ExecuteError};
use tributary_scim::admin::AdminError;
use tributary_store::StoreError;

use crate::commands::remote::ApiFailure;

/// Why a command did not succeed. The discriminant is the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 1: the command failed: a failed or cancelled run, an invalid catalog, a refused mapping,
    /// anything not classified below.
    Failed = 1,
    /// 2: the command line is wrong: clap's own code, also used for an argument whose value the
    /// command refuses (`--input` that is not a JSON object).
    Usage = 2,
    /// 3: authentication or permission refused: the API token (`--api`), or the provider
    /// refusing the credentials or the grant.
    Refused = 3,
    /// 4: what the command names does not exist (tenant, integration, run, definition, ...).
    NotFound = 4,
    /// 5: the work finished partially: a run that ended `partial` (throttled; what it ingested is
    /// kept and the next run resumes).
    Partial = 5,
    /// 6: the configuration is invalid: the file, a `TRIBUTARY_*` variable, the key ring, the
    /// database URL. Nothing was done.
    Config = 6,
    /// 7: something on the way could not be reached or asked to try later: the database, the
    /// server (`--api`), or the provider (5xx, rate limit). Trying again later may work.
    Unavailable = 7,
}

impl Failure {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The `kind` of a JSON error.
    pub fn kind(self) -> &'static str {
        match self {
            Failure::Failed => "failed",
            Failure::Usage => "usage",
            Failure::Refused => "refused",
            Failure::NotFound => "not_found",
            Failure::Partial => "partial",
            Failure::Config => "config",
            Failure::Unavailable => "unavailable",
        }
    }

    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

/// An error whose failure the command that raised it knows.
#[derive(Debug)]
pub struct Tagged {
    failure: Failure,
    message: String,
}

impl fmt::Display for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Tagged {}

fn tagged(failure: Failure, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Tagged {
        failure,
        message: message.into(),
    })
}

/// What the command names does not exist.
pub fn not_found(message: impl Into<String>) -> anyhow::Error {
    tagged(Failure::NotFound, message)
}

/// An argument's value is refused.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    tagged(Failure::Usage, message)
}

/// The configuration is invalid.
pub fn config(message: impl Into<String>) -> anyhow::Error {
    tagged(Failure::Config, message)
}

/// The failure of `error`: the first layer of its chain, outermost first, that says.
pub fn classify(error: &anyhow::Error) -> Failure {
    error.chain().find_map(of_layer).unwrap_or(Failure::Failed)
}

/// The exit code of a command that followed a run to its end.
pub fn of_run_status(status: &str) -> ExitCode {
    match status {
        "succeeded" => ExitCode::SUCCESS,
        "partial" => Failure::Partial.exit_code(),
        _ => Failure::Failed.exit_code(),
    }
}

/// The failure one error says, or `None` to look at its source.
fn of_layer(error: &(dyn Error + 'static)) -> Option<Failure> {
    if let Some(tagged) = error.downcast_ref::<Tagged>() {
        return Some(tagged.failure);
    }
    if let Some(error) = error.downcast_ref::<RuntimeError>() {
        return Some(of_runtime(error));
    }
    if let Some(error) = error.downcast_ref::<ExecuteError>() {
        return Some(of_execute(error));
    }
    if let Some(error) = error.downcast_ref::<AdminError>() {
        return Some(match error {
            AdminError::NotScim(_) => Failure::Failed,
            AdminError::Store(error) => of_store(error),
        });
    }
    if let Some(error) = error.downcast_ref::<StoreError>() {
        return Some(of_store(error));
    }
    if let Some(error) = error.downcast_ref::<sqlx::Error>() {
        return Some(of_database(error));
    }
    if let Some(answer) = error.downcast_ref::<ApiFailure>() {
        return Some(of_api_answer(answer.status, answer.kind.as_deref()));
    }
    if let Some(error) = error.downcast_ref::<reqwest::Error>() {
        if error.is_builder() {
            // The `--api` URL does not parse.
            return Some(Failure::Usage);
        }
        if error.is_connect() || error.is_timeout() {
            return Some(Failure::Unavailable);
        }
        return None;
    }
    if let Some(error) = error.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind as Io;
        return match error.kind() {
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::NotConnected
            | Io::TimedOut
            | Io::HostUnreachable
            | Io::NetworkUnreachable => Some(Failure::Unavailable),
            _ => None,
        };
    }
    None
}

fn of_runtime(error: &RuntimeError) -> Failure {
    match error {
        RuntimeError::NotFound(_) => Failure::NotFound,
        RuntimeError::Invalid(_) | RuntimeError::Ingest(_) => Failure::Failed,
        RuntimeError::Setup { kind, .. } => of_error_kind(*kind),
        RuntimeError::NeedsReauth(_) => Failure::Refused,
        RuntimeError::Execute(error) => of_execute(error),
        RuntimeError::Store(error) => of_store(error),
    }
}

fn of_execute(error: &ExecuteError) -> Failure {
    match error {
        ExecuteError::UnknownDefinition(_) | ExecuteError::UnknownOperation { .. } => {
            Failure::NotFound
        }
        ExecuteError::InvalidConfig { .. } => Failure::Failed,
        ExecuteError::Operation(error) => of_error_kind(error.kind),
    }
}

/// A provider's or a setup step's error class.
fn of_error_kind(kind: ErrorKind) -> Failure {
    match kind {
        ErrorKind::Auth => Failure::Refused,
        ErrorKind::Provider | ErrorKind::RateLimit => Failure::Unavailable,
        ErrorKind::Config | ErrorKind::Internal => Failure::Failed,
    }
}

fn of_store(error: &StoreError) -> Failure {
    match error {
        StoreError::NotFound(_) => Failure::NotFound,
        StoreError::Config(_) | StoreError::KeyRing(_) => Failure::Config,
        StoreError::Database(error) => of_database(error),
        StoreError::LimitReached { .. } => Failure::Unavailable,
        _ => Failure::Failed,
    }
}

fn of_database(error: &sqlx::Error) -> Failure {
    match error {
        sqlx::Error::Configuration(_) => Failure::Config,
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            Failure::Unavailable
        }
        // PostgreSQL refused the configured role or names no such database: the URL is wrong.
        sqlx::Error::Database(error)
            if error
                .code()
                .is_some_and(|code| code.starts_with("28") || code.starts_with("3D")) =>
        {
            Failure::Config
        }
        _ => Failure::Failed,
    }
}

/// An error answer of the REST API: its status, and the error class it names, if any.
fn of_api_answer(status: u16, kind: Option<&str>) -> Failure {
    match (status, kind) {
        (401 | 403, _) | (_, Some("auth")) => Failure::Refused,
        (404, _) => Failure::NotFound,
        (429 | 502 | 503 | 504, _) | (_, Some("provider" | "rate_limit")) => Failure::Unavailable,
        _ => Failure::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_usage_is_clap_s() {
        let every = [
            Failure::Failed,
            Failure::Usage,
            Failure::Refused,
            Failure::NotFound,
            Failure::Partial,
            Failure::Config,
            Failure::Unavailable,
        ];
        let codes: Vec<u8> = every.iter().map(|f| f.code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7]);
        let clap_usage = clap::Command::new("t")
            .try_get_matches_from(["t", "--nope"])
            .unwrap_err();
        assert_eq!(clap_usage.exit_code(), i32::from(Failure::Usage.code()));
    }

    #[test]
    fn the_outermost_layer_that_says_decides() {
        let error = anyhow::Error::new(StoreError::NotFound("integration")).context("deleting");
        assert_eq!(classify(&error), Failure::NotFound);
        let error = anyhow::Error::new(RuntimeError::Store(StoreError::KeyRing("bad".into())));
        assert_eq!(classify(&error), Failure::Config);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let error = anyhow::Error::new(StoreError::Database(sqlx::Error::Io(refused)))
            .context("cannot open the database");
        assert_eq!(classify(&error), Failure::Unavailable);
        assert_eq!(classify(&anyhow::anyhow!("plain")), Failure::Failed);
        assert_eq!(
            classify(&not_found("no tenant").context("x")),
            Failure::NotFound
        );
    }

    #[test]
    fn api_answers_map_by_status_and_error_class() {
        assert_eq!(of_api_answer(401, None), Failure::Refused);
        assert_eq!(of_api_answer(409, Some("auth")), Failure::Refused);
        assert_eq!(of_api_answer(404, None), Failure::NotFound);
        assert_eq!(of_api_answer(502, Some("provider")), Failure::Unavailable);
        assert_eq!(of_api_answer(429, None), Failure::Unavailable);
        assert_eq!(of_api_answer(422, Some("config")), Failure::Failed);
        assert_eq!(of_api_answer(400, None), Failure::Failed);
    }
}
