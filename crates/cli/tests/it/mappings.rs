//! `tributary mappings eval` on the Okta fixtures.

use std::{io::Write, process::Command};

use crate::support::command::assert_json_error;

fn eval(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["mappings", "eval"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--definition okta --schema <schema> --payload <payload>`, then `extra`.
fn okta_args<'a>(schema: &'a str, payload: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    [
        &[
            "--definition",
            "okta",
            "--schema",
            schema,
            "--payload",
            payload,
        ],
        extra,
    ]
    .concat()
}

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../providers/tests/fixtures/okta/user_active.json"
);

#[test]
fn maps_a_fixture_file() {
    let (ok, stdout, stderr) = eval(&okta_args("DirectoryAccount", FIXTURE, &["--json"]), None);
    assert!(ok, "{stderr}");
    let body: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        body["record"]["fields"]["externalID"],
        "00ub0oNGTSWTBKOLGLNR"
    );
    assert_eq!(
        body["record"]["fields"]["canonicalEmail"],
        "isaac.brock@example.com"
    );
}

#[test]
fn explains_a_payload_that_does_not_map() {
    let (ok, _, stderr) = eval(
        &okta_args("DirectoryAccount", "-", &[]),
        Some(r#"{"status": "ACTIVE"}"#),
    );
    assert!(!ok);
    assert!(stderr.contains("okta"), "{stderr}");
    assert!(stderr.contains("DirectoryAccount"), "{stderr}");
}

#[test]
fn refuses_non_json_and_unknown_mappings() {
    let (ok, _, stderr) = eval(&okta_args("DirectoryAccount", "-", &[]), Some("not json"));
    assert!(!ok);
    assert!(stderr.contains("not usable JSON"), "{stderr}");
    let (ok, stdout, stderr) = eval(&okta_args("Finding", FIXTURE, &["--json"]), None);
    assert!(!ok);
    assert!(stdout.is_empty(), "{stdout}");
    assert_json_error(&stderr, "failed", "Finding");
}
