//! `tributary serve` on the embedded default: it prints its URL, answers health checks and
//! webhook intake, and stops cleanly on SIGTERM; and the configuration it starts from, which is
//! checked whole (`tributary config check`) so that no mistake starts a server in silence; and
//! the container recipe that runs it.

mod compose_yaml;
mod container;
mod telemetry;

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use crate::support::{
    command::{spawn_serving, stop_on_sigterm},
    http::exchange,
};

fn get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    exchange(
        host,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn serve_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, started) = spawn_serving(
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["serve", "--listen", "127.0.0.1:0", "--json", "--data-dir"])
            .arg(dir.path().join("data"))
            .env_remove("TRIBUTARY_DATABASE_URL")
            .env_remove("TRIBUTARY_PUBLIC_URL"),
        Stdio::piped(),
    );
    let url = started["url"].as_str().unwrap().to_owned();

    assert_eq!(get(&format!("{url}/healthz")), (200, "ok".to_owned()));
    assert_eq!(get(&format!("{url}/readyz")).0, 200);
    let (status, body) = get(&format!("{url}/v1/webhooks/whe_unknown"));
    assert_eq!(status, 404, "{body}");

    stop_on_sigterm(&mut child, Duration::from_secs(20));
}

/// Runs the binary in `dir` with no inherited TRIBUTARY_* variables but `env`.
fn run_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
    command.current_dir(dir).args(args);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("TRIBUTARY_")) {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let out = command.output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `contents` to the file `name` in `dir`: the file's path.
fn write_file(dir: &std::path::Path, name: &str, contents: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, contents).unwrap();
    file.to_str().unwrap().to_owned()
}

/// Runs the binary in `dir` with `args`, which must fail: its error output.
fn refused(dir: &std::path::Path, args: &[&str]) -> String {
    let (ok, _, stderr) = run_in(dir, args, &[]);
    assert!(!ok, "{stderr}");
    stderr
}

const TYPO_FILE: &str = r#"
listen = "127.0.0.1:0"

[definitions.aws_security_hub]
securityHubURL = "https://securityhub.internal.example.com"
"#;

#[test]
fn a_misspelt_definition_key_stops_every_command_with_the_file_the_key_and_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let file = &write_file(dir.path(), "prod.toml", TYPO_FILE);
    let stderr = refused(dir.path(), &["config", "check", "--config", file]);
    assert!(stderr.contains("prod.toml"), "{stderr}");
    assert!(
        stderr.contains("definitions.aws_security_hub.securityHubURL"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `securityHubUrl`"), "{stderr}");
    // `serve` refuses to start, and a command that writes refuses rather than falling back to a
    // default database with a fresh key ring.
    let (ok, _, stderr) = run_in(dir.path(), &["serve", "--config", file], &[]);
    assert!(!ok && stderr.contains("securityHubURL"), "{stderr}");
    let (ok, _, stderr) = run_in(
        dir.path(),
        &["tenants", "create", "acme", "--config", file],
        &[],
    );
    assert!(!ok && stderr.contains("securityHubURL"), "{stderr}");
    assert!(!dir.path().join(".tributary").exists());
}

#[test]
fn a_file_that_does_not_parse_is_never_replaced_by_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = &write_file(dir.path(), "broken.toml", "lisen = \"0.0.0.0:80\"\n");
    let stderr = refused(dir.path(), &["tenants", "create", "acme", "--config", file]);
    assert!(
        stderr.contains("broken.toml") && stderr.contains("did you mean `listen`"),
        "{stderr}"
    );
    assert!(!dir.path().join(".tributary").exists());
}

/// The audit trail's retention is a setting like the others: from the file or its variable, shown
/// by `config check`, and a misspelt key stops `serve` with its name and a suggestion.
#[test]
fn the_audit_events_retention_is_configured_and_a_misspelt_key_stops_serve() {
    let dir = tempfile::tempdir().unwrap();
    let file = &write_file(
        dir.path(),
        "tributary.toml",
        "[retention]\naudit_events_days = 90\n",
    );
    let (ok, stdout, stderr) = run_in(
        dir.path(),
        &["config", "check", "--json", "--config", file],
        &[],
    );
    assert!(ok, "{stderr}");
    let effective: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(effective["retention"]["audit_events_days"], 90);
    let (ok, stdout, stderr) = run_in(
        dir.path(),
        &["config", "check", "--json"],
        &[("TRIBUTARY_RETENTION__AUDIT_EVENTS_DAYS", "0")],
    );
    assert!(ok, "{stderr}");
    let effective: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        effective["retention"]["audit_events_days"], 0,
        "0 keeps them"
    );
    let (ok, stdout, _) = run_in(dir.path(), &["config", "check", "--json"], &[]);
    assert!(ok);
    let effective: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        effective["retention"]["audit_events_days"], 365,
        "the default"
    );

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[retention]\naudit_event_days = 90\n").unwrap();
    let stderr = refused(dir.path(), &["serve", "--config", typo.to_str().unwrap()]);
    assert!(
        stderr.contains("audit_event_days") && stderr.contains("did you mean `audit_events_days`"),
        "{stderr}"
    );
    assert!(!dir.path().join(".tributary").exists());
}

#[test]
fn config_check_prints_the_effective_settings_with_variables_applied_and_secrets_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tributary.toml");
    std::fs::write(
        &file,
        "database_url = \"postgres://app:db-password@db.internal/tributary\"\n\
         [server]\nmax_body_bytes = 4096\n\
         [definitions.google_workspace]\nclientId = \"1234.apps.googleusercontent.com\"\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = run_in(
        dir.path(),
        &[
            "config",
            "check",
            "--json",
            "--config",
            file.to_str().unwrap(),
        ],
        &[
            ("TRIBUTARY_SERVER__MAX_BODY_BYTES", "2048"),
            ("TRIBUTARY_WORKER__CONCURRENCY", "3"),
            ("TRIBUTARY_RETENTION__JOBS_DAYS", "7"),
            (
                "TRIBUTARY_DEFINITIONS__OKTA__ALLOW_LOOPBACK_ORG_URLS",
                "true",
            ),
            (
                "TRIBUTARY_DEFINITIONS__GOOGLE_WORKSPACE__CLIENT_SECRET",
                "GOCSPX-very-secret",
            ),
        ],
    );
    assert!(ok, "{stderr}");
    let effective: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(effective["server"]["max_body_bytes"], 2048);
    assert_eq!(effective["server"]["max_header_bytes"], 16384);
    assert_eq!(effective["worker"]["concurrency"], 3);
    assert_eq!(effective["retention"]["jobs_days"], 7);
    assert_eq!(effective["retention"]["runs_days"], 30);
    assert_eq!(
        effective["definitions"]["okta"]["allowLoopbackOrgUrls"],
        true
    );
    assert_eq!(
        effective["definitions"]["google_workspace"]["clientId"],
        "1234.apps.googleusercontent.com"
    );
    assert_eq!(
        effective["definitions"]["google_workspace"]["clientSecret"],
        "[redacted]"
    );
    assert_eq!(
        effective["database_url"],
        "postgres://app:***@db.internal/tributary"
    );
    for secret in ["GOCSPX-very-secret", "db-password"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    // A variable naming no key is refused by name, like a key of the file.
    let (ok, _, stderr) = run_in(
        dir.path(),
        &["config", "check"],
        &[("TRIBUTARY_DEFINITIONS__OKTA__ALLOW_LOOPBACK", "true")],
    );
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("TRIBUTARY_DEFINITIONS__OKTA__ALLOW_LOOPBACK")
            && stderr.contains("did you mean `allowLoopbackOrgUrls`"),
        "{stderr}"
    );
}
