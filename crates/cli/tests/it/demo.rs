//! `tributary demo --json`: the main job, end to end, as a user runs it.

use std::process::Command;

use serde_json::Value;

use crate::support::command::{self, succeeded};

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
    // Okta's event hook deliveries and Slack's events (the URL check is answered, not stored):
    // every accepted one handled.
    assert!(
        summary["webhooks"]["accepted"].as_u64().unwrap() >= 5,
        "{summary}"
    );
    assert_eq!(
        summary["webhooks"]["accepted"], summary["webhooks"]["processed"],
        "{summary}"
    );
    assert!(summary["elapsedMs"].as_u64().unwrap() < 60_000);
}

/// A production build (`--no-default-features`) links none of the demo's fake providers or
/// their test keys: `tributary-testkit` is not in its dependency graph at all. The default
/// build, which the README's `cargo run --release -- demo` uses, has it.
#[test]
fn a_production_build_links_no_fake_provider() {
    let normal_dependencies = |features: &[&str]| {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        cargo_tree(
            manifest,
            &[&["--edges", "normal", "--prefix", "none"], features].concat(),
        )
    };
    let links_testkit = |tree: &str| {
        tree.lines()
            .any(|line| line.starts_with("tributary-testkit "))
    };
    assert!(
        !links_testkit(&normal_dependencies(&["--no-default-features"])),
        "the production build links the fake providers"
    );
    assert!(
        links_testkit(&normal_dependencies(&[])),
        "the default build has no demo: the check above proves nothing"
    );
}

/// `cargo run --release -p tributary-bench` reuses the release build of `tributary`: every
/// package the two share is built with the same features (a difference in one low crate, such as
/// `log`, rebuilds everything above it).
#[test]
fn the_bench_builds_with_the_binarys_features() {
    let features_by_package = |package: &str| {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
        let tree = cargo_tree(
            manifest,
            &[
                "--package",
                package,
                "--edges",
                "normal,build",
                "--prefix",
                "none",
                "--format",
                "{p}|{f}",
            ],
        );
        let mut packages: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        for line in tree.lines() {
            let (package, features) = line.split_once('|').expect("the format has a bar");
            // `name vX.Y.Z (path) (*)`: the name and version identify the package.
            let id: String = package.split(' ').take(2).collect::<Vec<_>>().join(" ");
            packages
                .entry(id)
                .or_default()
                .insert(features.trim_end_matches(" (*)").to_owned());
        }
        packages
    };
    let binary = features_by_package("tributary-cli");
    let bench = features_by_package("tributary-bench");
    let differing: Vec<String> = bench
        .iter()
        .filter_map(|(package, features)| {
            let theirs = binary.get(package)?;
            (theirs != features).then(|| format!("{package}: {features:?} vs {theirs:?}"))
        })
        .collect();
    assert!(
        differing.is_empty(),
        "the bench builds these with other features than the binary: {differing:#?}"
    );
    assert!(
        bench.keys().filter(|p| binary.contains_key(*p)).count() > 100,
        "the two share almost nothing: the check above proves nothing"
    );
}

/// `cargo tree --manifest-path <manifest> <args> --offline --locked`: the tree it prints.
fn cargo_tree(manifest: &str, args: &[&str]) -> String {
    let output = command::cargo()
        .args(["tree", "--manifest-path", manifest])
        .args(args)
        .args(["--offline", "--locked"])
        .output()
        .expect("cargo tree runs");
    succeeded(output, "cargo tree")
}
