//! The command line's conventions, as a script meets them: one exit code per kind of failure
//! (docs/cli.md), errors as one JSON object on standard error with `--json`, `--json` accepted
//! anywhere on the line, and shell completions.

use std::process::Command;

use serde_json::Value;

/// Runs the binary in `dir` with no inherited TRIBUTARY_* variable: exit code, stdout, stderr.
fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
    command.current_dir(dir).args(args);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("TRIBUTARY_")) {
        command.env_remove(name);
    }
    let out = command.output().expect("the binary runs");
    (
        out.status.code().expect("an exit code, not a signal"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the binary with `--json` where it must fail: the exit code, and the JSON error it printed
/// on standard error (nothing on standard output).
fn json_error(dir: &std::path::Path, args: &[&str]) -> (i32, Value) {
    let (code, stdout, stderr) = run(dir, args);
    assert!(stdout.is_empty(), "{args:?} printed on stdout: {stdout}");
    let error: Value = serde_json::from_str(stderr.trim())
        .unwrap_or_else(|_| panic!("{args:?}: not one JSON object on stderr: {stderr}"));
    let detail = &error["error"];
    assert!(detail["kind"].is_string(), "{error}");
    assert!(detail["message"].is_string(), "{error}");
    (code, error)
}

/// A loopback address nothing listens on.
fn closed_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

#[test]
fn each_kind_of_failure_has_its_exit_code_and_its_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path();

    // 0: success, `--json` before or after the verb.
    let (code, stdout, _) = run(here, &["--json", "definitions", "list"]);
    assert_eq!(code, 0);
    assert!(serde_json::from_str::<Value>(&stdout).unwrap().is_array());

    // 2: a command line clap refuses; JSON too once `--json` is on the line.
    let (code, _, stderr) = run(here, &["definitions", "list", "--no-such-flag"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
    let (code, error) = json_error(here, &["definitions", "list", "--no-such-flag", "--json"]);
    assert_eq!((code, error["error"]["kind"].as_str()), (2, Some("usage")));
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag"),
        "{error}"
    );
    // ... and an argument value the command refuses (checked before the server is called).
    let (code, error) = json_error(
        here,
        &[
            "integrations",
            "create",
            "--definition",
            "okta",
            "--input",
            "[1]",
            "--api",
            &closed_address(),
            "--token",
            "any",
            "--json",
        ],
    );
    assert_eq!((code, error["error"]["kind"].as_str()), (2, Some("usage")));

    // 4: what the command names does not exist.
    let (code, error) = json_error(here, &["definitions", "show", "nope", "--json"]);
    assert_eq!(
        (code, error["error"]["kind"].as_str()),
        (4, Some("not_found"))
    );
    let data = here.join("data");
    let data = data.to_str().unwrap();
    assert_eq!(run(here, &["init", "--data-dir", data]).0, 0);
    let (code, error) = json_error(
        here,
        &[
            "integrations",
            "list",
            "--tenant",
            "nobody",
            "--data-dir",
            data,
            "--json",
        ],
    );
    assert_eq!(
        (code, error["error"]["kind"].as_str()),
        (4, Some("not_found"))
    );

    // 6: the configuration is wrong; the key is named and nothing starts.
    std::fs::write(here.join("bad.toml"), "lisen = \"0.0.0.0:80\"\n").unwrap();
    for verb in [&["config", "check"][..], &["serve"], &["tenants", "list"]] {
        let mut args = verb.to_vec();
        args.extend(["--config", "bad.toml", "--json"]);
        let (code, error) = json_error(here, &args);
        assert_eq!((code, error["error"]["kind"].as_str()), (6, Some("config")));
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains("did you mean `listen`"), "{message}");
    }

    // 7: the server (or the database) cannot be reached.
    let (code, error) = json_error(
        here,
        &[
            "integrations",
            "list",
            "--api",
            &closed_address(),
            "--token",
            "any",
            "--json",
        ],
    );
    assert_eq!(
        (code, error["error"]["kind"].as_str()),
        (7, Some("unavailable"))
    );

    // 1: the command ran and failed.
    let payload = here.join("payload.json");
    std::fs::write(&payload, "{\"id\": \"00u1\"}").unwrap();
    let (code, error) = json_error(
        here,
        &[
            "mappings",
            "eval",
            "--definition",
            "okta",
            "--schema",
            "Finding",
            "--payload",
            payload.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!((code, error["error"]["kind"].as_str()), (1, Some("failed")));

    // Without `--json` an error is one `error:` line of text.
    let (code, stdout, stderr) = run(here, &["definitions", "show", "nope"]);
    assert_eq!(code, 4);
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error: no definition `nope`"),
        "{stderr}"
    );
}

#[test]
fn help_and_version_still_succeed_with_json_on_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = run(dir.path(), &["--help", "--json"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Exit codes"), "{stdout}");
    let (code, stdout, _) = run(dir.path(), &["--version"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("tributary "), "{stdout}");
}

#[test]
fn completions_cover_the_main_verbs_in_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    let (code, bash, stderr) = run(dir.path(), &["completions", "bash"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(bash.contains("complete -F"), "a bash completion script");
    for verb in [
        "serve",
        "init",
        "integrations",
        "runs",
        "tenants",
        "keys",
        "definitions",
        "config",
        "completions",
    ] {
        assert!(bash.contains(verb), "bash completion lacks `{verb}`");
    }
    // Nested verbs and flags are completed too.
    assert!(bash.contains("rotate-secret") && bash.contains("--run-config"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (code, script, stderr) = run(dir.path(), &["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(script.contains("integrations"), "{shell}");
    }
    let (code, _, _) = run(dir.path(), &["completions", "tcsh"]);
    assert_eq!(code, 2, "an unknown shell is a usage error");
}
