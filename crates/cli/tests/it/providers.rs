//! `tributary providers new` scaffolds a package into a workspace and registers it.

use std::{fs, path::Path, process::Command};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The files of the workspace the scaffold reads and edits, copied into a temporary root.
fn minimal_workspace() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for file in [
        "crates/providers/src/lib.rs",
        "crates/providers/Cargo.toml",
        "crates/providers/tests/it/main.rs",
        "crates/testkit/src/lib.rs",
    ] {
        let target = root.path().join(file);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(Path::new(WORKSPACE).join(file), target).unwrap();
    }
    root
}

fn scaffold(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["providers", "new"])
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .expect("the binary runs")
}

#[test]
fn new_writes_every_file_of_the_package_and_registers_it() {
    let root = minimal_workspace();
    let out = scaffold(root.path(), &["acme_hr"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("cargo test -p tributary-providers --test it -- acme_hr::"),
        "{stdout}"
    );
    for file in [
        "crates/providers/src/acme_hr/mod.rs",
        "crates/providers/src/acme_hr/client.rs",
        "crates/providers/src/acme_hr/operations.rs",
        "crates/providers/src/acme_hr/mappings.rs",
        "crates/testkit/src/acme_hr.rs",
        "crates/providers/tests/it/acme_hr.rs",
        "crates/providers/tests/fixtures/acme_hr/user_admin.json",
        "crates/providers/tests/it/snapshots/it__acme_hr__acme_hr_account_user_admin.snap",
        "docs/providers/acme_hr.md",
    ] {
        let text = fs::read_to_string(root.path().join(file))
            .unwrap_or_else(|_| panic!("{file} was written"));
        assert!(!text.contains("{{"), "{file} has an unreplaced placeholder");
    }
    let definition =
        fs::read_to_string(root.path().join("crates/providers/src/acme_hr/mod.rs")).unwrap();
    assert!(definition.contains("DefinitionId::new(\"acme_hr\")"));
    assert!(definition.contains("pub struct AcmeHrApiToken"));
    assert!(definition.contains("DefinitionSpec::new(ACME_HR, \"Acme Hr\")"));
    let fake = fs::read_to_string(root.path().join("crates/testkit/src/acme_hr.rs")).unwrap();
    assert!(fake.contains("pub struct FakeAcmeHr"));
    assert!(fake.contains("pub fn demo_connection(&self) -> DemoConnection"));

    let lib = fs::read_to_string(root.path().join("crates/providers/src/lib.rs")).unwrap();
    // Behind its feature, in name order, where rustfmt keeps module declarations.
    assert!(lib.contains("#[cfg(feature = \"acme_hr\")]\npub mod acme_hr;\n"));
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|line| {
            line.strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))
                .and_then(|rest| rest.strip_suffix(';'))
        })
        .collect();
    let mut sorted = modules.clone();
    sorted.sort_unstable();
    assert_eq!(modules, sorted, "module declarations stay in name order");
    assert!(
        lib.contains("        #[cfg(feature = \"acme_hr\")]\n        acme_hr::definition,\n    ];")
    );
    let manifest = fs::read_to_string(root.path().join("crates/providers/Cargo.toml")).unwrap();
    let features = manifest.split("[dependencies]").next().unwrap();
    assert!(features.contains("\nacme_hr = []\n"), "{features}");
    let default = features
        .lines()
        .find(|l| l.starts_with("default = ["))
        .unwrap();
    assert!(default.ends_with(", \"acme_hr\"]"), "{default}");
    let testkit = fs::read_to_string(root.path().join("crates/testkit/src/lib.rs")).unwrap();
    assert!(testkit.contains("pub mod acme_hr;\npub mod authorization;\n"));
    let tests = fs::read_to_string(root.path().join("crates/providers/tests/it/main.rs")).unwrap();
    assert!(
        tests.contains("\nmod acme_hr;\nmod aws_security_hub;\n"),
        "{tests}"
    );

    // A second run writes nothing and says why.
    let again = scaffold(root.path(), &["acme_hr"]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(
        fs::read_to_string(root.path().join("crates/providers/src/lib.rs")).unwrap(),
        lib,
        "the catalog was not touched twice"
    );
}

/// The names `receiver.name(` calls in `code` (`h.records(` gives `records`).
fn calls_on(code: &str, receiver: &str) -> Vec<String> {
    let call = format!("{receiver}.");
    code.match_indices(&call)
        .filter(|(at, _)| {
            !code[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.')
        })
        .filter_map(|(at, _)| {
            let rest = &code[at + call.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            rest[name.len()..].starts_with('(').then_some(name)
        })
        .collect()
}

/// Whether `code` defines a function `name` (`fn name(` or `fn name<`).
fn defines(code: &str, name: &str) -> bool {
    code.contains(&format!("fn {name}(")) || code.contains(&format!("fn {name}<"))
}

#[test]
fn the_generated_test_runs_on_the_provider_harness_on_each_backend() {
    let root = minimal_workspace();
    assert!(scaffold(root.path(), &["acme_hr"]).status.success());
    let test =
        fs::read_to_string(root.path().join("crates/providers/tests/it/acme_hr.rs")).unwrap();
    assert!(test.contains("use crate::harness::{Harness, logs_requests};"));
    assert!(test.contains("logs_requests!(FakeAcmeHr);"));
    assert!(test.contains("impl Harness<FakeAcmeHr> {"));
    assert!(!test.contains("struct Harness"), "no harness of its own");
    assert_eq!(test.matches("#[each_backend]\nasync fn ").count(), 3);
    assert!(!test.contains("backends("), "no loop over the backends");

    // What it calls on the harness is the harness's (or its own), and on the fake the fake's:
    // the generated test compiles against them.
    let harness =
        fs::read_to_string(Path::new(WORKSPACE).join("crates/providers/tests/it/harness.rs"))
            .unwrap();
    let fake = fs::read_to_string(root.path().join("crates/testkit/src/acme_hr.rs")).unwrap();
    let on_harness = [calls_on(&test, "h"), calls_on(&test, "self")].concat();
    assert!(on_harness.contains(&"records".to_owned()), "{on_harness:?}");
    for method in on_harness {
        assert!(
            harness.contains(&format!("pub fn {method}("))
                || harness.contains(&format!("pub async fn {method}("))
                || defines(&test, &method),
            "the generated test calls `{method}`, which neither the harness nor the test defines"
        );
    }
    let on_fake = [calls_on(&test, "h.fake"), calls_on(&test, "self.fake")].concat();
    assert!(on_fake.contains(&"revoke_token".to_owned()), "{on_fake:?}");
    for method in on_fake {
        assert!(defines(&fake, &method), "the fake has no `{method}`");
    }
}

#[test]
fn no_register_prints_the_lines_and_leaves_the_shared_files_alone() {
    let root = minimal_workspace();
    let before = fs::read_to_string(root.path().join("crates/providers/src/lib.rs")).unwrap();
    let out = scaffold(
        root.path(),
        &["widgets", "--display", "Widgets Inc", "--no-register"],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("pub mod widgets;"), "{stdout}");
    assert!(stdout.contains("widgets = []"), "{stdout}");
    assert_eq!(
        fs::read_to_string(root.path().join("crates/providers/src/lib.rs")).unwrap(),
        before
    );
    let doc = fs::read_to_string(root.path().join("docs/providers/widgets.md")).unwrap();
    assert!(doc.starts_with("# Widgets Inc\n"));
}

#[test]
fn bad_names_and_roots_are_refused_without_writing() {
    let root = minimal_workspace();
    for name in [
        "Acme", "1acme", "acme-hr", "a", "acme__hr", "mod", "okta", "harness",
    ] {
        let out = scaffold(root.path(), &[name]);
        assert!(!out.status.success(), "{name} was accepted");
    }
    assert!(!root.path().join("docs").exists(), "nothing was written");
    let empty = tempfile::tempdir().unwrap();
    let out = scaffold(empty.path(), &["acme"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Tributary workspace"));
}
