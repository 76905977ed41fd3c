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
    for name in ["Acme", "1acme", "acme-hr", "a", "acme__hr", "mod", "okta"] {
        let out = scaffold(root.path(), &[name]);
        assert!(!out.status.success(), "{name} was accepted");
    }
    assert!(!root.path().join("docs").exists(), "nothing was written");
    let empty = tempfile::tempdir().unwrap();
    let out = scaffold(empty.path(), &["acme"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Tributary workspace"));
}
