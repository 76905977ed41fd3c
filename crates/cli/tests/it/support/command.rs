//! Starting the `tributary` binary apart from the environment the tests run in: no
//! configuration, key ring, database or public URL but those a test gives it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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
    let mut server = tributary()
        .args(["serve", "--listen", "127.0.0.1:0", "--json"])
        .args(place)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let started: Value = serde_json::from_str(&line).expect("a JSON startup line");
    (server, started["url"].as_str().unwrap().to_owned())
}
