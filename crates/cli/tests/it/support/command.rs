//! Starting the `tributary` binary apart from the environment the tests run in: no
//! configuration, key ring, database or public URL but those a test gives it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The variables that would point a command elsewhere than the test's own data.
const INHERITED: [&str; 5] = [
    "TRIBUTARY_CONFIG",
    "TRIBUTARY_DATABASE_URL",
    "TRIBUTARY_KEYRING",
    "TRIBUTARY_KEYRING_FILE",
    "TRIBUTARY_PUBLIC_URL",
];

/// `tributary`, without the [`INHERITED`] variables.
pub fn tributary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
    for name in INHERITED {
        command.env_remove(name);
    }
    command
}

/// The `cargo` running the tests (`CARGO`), or the one on the path.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

/// `tributary <args> --data-dir <data_dir>`, its output and error read (the command has ended).
pub fn on_data_dir(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    tributary()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("the binary runs")
}

/// `tributary serve --listen 127.0.0.1:0 --json` with `place` (`--data-dir <dir>`,
/// `--config <file>`): the server and its base URL, once it listens.
pub fn serve(place: &[&std::ffi::OsStr]) -> (Child, String) {
    let (server, started) = spawn_serving(
        tributary()
            .args(["serve", "--listen", "127.0.0.1:0", "--json"])
            .args(place),
        Stdio::null(),
    );
    (server, started["url"].as_str().unwrap().to_owned())
}

/// Spawns `command`, a `serve --json`, its output piped and its errors to `stderr`: the process
/// and its startup line, once it listens.
pub fn spawn_serving(command: &mut Command, stderr: Stdio) -> (Child, Value) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let started = startup_line(&mut child);
    (child, started)
}

/// The JSON line `serve --json` prints once it listens, read from the child's piped output.
pub fn startup_line(child: &mut Child) -> Value {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    serde_json::from_str(&line).unwrap_or_else(|_| panic!("a JSON startup line: {line}"))
}

/// Sends SIGTERM to `child` and waits up to `within` for it to exit successfully.
pub fn stop_on_sigterm(child: &mut Child, within: Duration) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The standard output of a command that must have succeeded (`what` names it when it did not).
pub fn succeeded(output: std::process::Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap_or_else(|_| panic!("{what} prints UTF-8"))
}

/// Asserts that `stderr` is the JSON error of kind `kind` whose message mentions `mention`.
pub fn assert_json_error(stderr: &str, kind: &str, mention: &str) {
    let error: Value = serde_json::from_str(stderr).expect("a JSON error");
    assert_eq!(error["error"]["kind"], kind, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(mention)),
        "{error}"
    );
}
