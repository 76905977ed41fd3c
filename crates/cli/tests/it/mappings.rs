//! `tributary mappings eval` on the Okta fixtures.

use std::{io::Write, process::Command};

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

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../providers/tests/fixtures/okta/user_active.json"
);

#[test]
fn maps_a_fixture_file() {
    let (ok, stdout, stderr) = eval(
        &[
            "--definition",
            "okta",
            "--schema",
            "DirectoryAccount",
            "--payload",
            FIXTURE,
            "--json",
        ],
        None,
    );
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
        &[
            "--definition",
            "okta",
            "--schema",
            "DirectoryAccount",
            "--payload",
            "-",
        ],
        Some(r#"{"status": "ACTIVE"}"#),
    );
    assert!(!ok);
    assert!(stderr.contains("okta"), "{stderr}");
    assert!(stderr.contains("DirectoryAccount"), "{stderr}");
}

#[test]
fn refuses_non_json_and_unknown_mappings() {
    let (ok, _, stderr) = eval(
        &[
            "--definition",
            "okta",
            "--schema",
            "DirectoryAccount",
            "--payload",
            "-",
        ],
        Some("not json"),
    );
    assert!(!ok);
    assert!(stderr.contains("not usable JSON"), "{stderr}");
    let (ok, stdout, stderr) = eval(
        &[
            "--definition",
            "okta",
            "--schema",
            "Finding",
            "--payload",
            FIXTURE,
            "--json",
        ],
        None,
    );
    assert!(!ok);
    assert!(stdout.is_empty(), "{stdout}");
    let error: serde_json::Value = serde_json::from_str(&stderr).expect("a JSON error");
    assert_eq!(error["error"]["kind"], "failed", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Finding")),
        "{error}"
    );
}
