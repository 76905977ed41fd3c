//! `tributary demo --json`: the main job, end to end, as a user runs it.

use std::process::Command;

use serde_json::Value;

#[test]
fn the_demo_connects_every_provider_syncs_and_reports_what_it_ingested() {
    let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["demo", "--json"])
        .env_remove("TRIBUTARY_CONFIG")
        .env_remove("TRIBUTARY_DATABASE_URL")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");

    let integrations = summary["integrations"].as_array().unwrap();
    let definitions: Vec<&str> = integrations
        .iter()
        .map(|i| i["definition"].as_str().unwrap())
        .collect();
    for expected in [
        "okta",
        "google_workspace",
        "slack",
        "cloudflare",
        "azure_entra_id",
        "microsoft_teams",
        "github_app",
        "azure_security_center",
        "gcp_scc",
        "aws_security_hub",
        "scim",
    ] {
        assert!(
            definitions.contains(&expected),
            "{expected} missing: {summary}"
        );
    }
    assert!(
        integrations.iter().all(|i| i["status"] == "connected"),
        "{summary}"
    );
    assert!(summary["records"]["DirectoryAccount"].as_u64().unwrap() > 0);
    assert_eq!(summary["runs"]["failed"], 0, "{summary}");
    // Every definition with a reconcile-eligible operation had it run (messaging has none).
    let synced: Vec<&str> = summary["runs"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|run| run["definition"].as_str())
        .collect();
    for expected in ["okta", "google_workspace", "slack", "cloudflare"] {
        assert!(
            synced.contains(&expected),
            "{expected} not synced: {summary}"
        );
    }
    assert!(summary["records"]["DirectoryGroup"].as_u64().unwrap() > 0);
    assert!(summary["records"]["DirectoryMembership"].as_u64().unwrap() > 0);
    for model in ["Asset", "Vulnerability", "Finding"] {
        assert!(
            summary["records"][model].as_u64().unwrap_or_default() > 0,
            "{model}: {summary}"
        );
    }
    // Okta's event hook deliveries: every accepted one handled.
    assert!(
        summary["webhooks"]["accepted"].as_u64().unwrap() >= 3,
        "{summary}"
    );
    assert_eq!(
        summary["webhooks"]["accepted"], summary["webhooks"]["processed"],
        "{summary}"
    );
    assert!(summary["elapsedMs"].as_u64().unwrap() < 60_000);
}
