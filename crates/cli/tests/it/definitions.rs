//! The `definitions` verbs run as a user runs them, and the conventions every verb keeps.

mod conventions;

use std::process::Command;

fn tributary(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn validate_succeeds_on_the_built_in_catalog() {
    let out = tributary(&["definitions", "validate", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["valid"], true);
}

#[test]
fn list_prints_json() {
    let out = tributary(&["definitions", "list", "--json"]);
    assert!(out.status.success());
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(body.is_array());
}

#[test]
fn show_of_an_unknown_id_fails_with_a_hint() {
    let out = tributary(&["definitions", "show", "nope"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no definition `nope`"), "{stderr}");
}
