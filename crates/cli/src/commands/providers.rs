//! `tributary providers new NAME`: scaffolds a provider package (definition, client, operations,
//! mappings, a fake API server, tests through the runtime with a fixture and its golden, a user
//! guide) from the templates in `crates/cli/templates/provider/`, and registers it in the
//! catalog, the providers' features and the testkit (or prints those lines).

use std::{
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// Scaffolds a new provider package in the workspace.
    New {
        /// The definition id and module name: lower case ASCII letters, digits and `_`,
        /// starting with a letter (`acme_hr`).
        name: String,
        /// The workspace root (the directory holding `crates/` and `docs/`).
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// The display name (default: the name in title case, `Acme Hr`).
        #[arg(long)]
        display: Option<String>,
        /// Only print the lines to add to `providers/src/lib.rs`, `providers/Cargo.toml`,
        /// `providers/tests/it/main.rs` and `testkit/src/lib.rs` instead of adding them.
        #[arg(long)]
        no_register: bool,
    },
}

/// A template file and where its rendering goes (`{name}` is the provider name).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "crates/providers/src/{name}/mod.rs",
        include_str!("../../templates/provider/mod.rs.tmpl"),
    ),
    (
        "crates/providers/src/{name}/client.rs",
        include_str!("../../templates/provider/client.rs.tmpl"),
    ),
    (
        "crates/providers/src/{name}/operations.rs",
        include_str!("../../templates/provider/operations.rs.tmpl"),
    ),
    (
        "crates/providers/src/{name}/mappings.rs",
        include_str!("../../templates/provider/mappings.rs.tmpl"),
    ),
    (
        "crates/testkit/src/{name}.rs",
        include_str!("../../templates/provider/fake.rs.tmpl"),
    ),
    (
        "crates/providers/tests/it/{name}.rs",
        include_str!("../../templates/provider/test.rs.tmpl"),
    ),
    (
        "crates/providers/tests/fixtures/{name}/user_admin.json",
        include_str!("../../templates/provider/fixture_user_admin.json.tmpl"),
    ),
    (
        "crates/providers/tests/it/snapshots/it__{name}__{name}_account_user_admin.snap",
        include_str!("../../templates/provider/snapshot_user_admin.snap.tmpl"),
    ),
    (
        "docs/providers/{name}.md",
        include_str!("../../templates/provider/doc.md.tmpl"),
    ),
];

const PROVIDERS_LIB: &str = "crates/providers/src/lib.rs";
const PROVIDERS_MANIFEST: &str = "crates/providers/Cargo.toml";
const TESTKIT_LIB: &str = "crates/testkit/src/lib.rs";
/// The providers' one integration-test binary: a module per definition.
const PROVIDERS_TESTS: &str = "crates/providers/tests/it/main.rs";

/// The spellings of a provider name the templates use.
#[derive(Debug, Clone)]
pub struct Names {
    /// `acme_hr`: definition id, module, feature, file names.
    pub name: String,
    /// `AcmeHr`: type names.
    pub camel: String,
    /// `ACME_HR`: constants.
    pub upper: String,
    /// `Acme Hr`: what users read.
    pub display: String,
}

impl Names {
    pub fn new(name: &str, display: Option<&str>) -> anyhow::Result<Self> {
        let valid = name.len() >= 2
            && name.len() <= 40
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !name.ends_with('_')
            && !name.contains("__");
        if !valid {
            return Err(crate::failure::usage(format!(
                "`{name}` is not a provider name: use 2-40 lower case ASCII letters, digits and single `_`, starting with a letter (e.g. `acme_hr`)"
            )));
        }
        const RESERVED: &[&str] = &[
            "as",
            "async",
            "await",
            "crate",
            "fn",
            "impl",
            "mod",
            "self",
            "super",
            "type",
            "use",
            "where",
            "checks",
            "config",
            "demo",
            "server",
            "authorization",
            "oauth",
            // Modules of the providers' test binary.
            "harness",
            "each_backend",
        ];
        if RESERVED.contains(&name) {
            return Err(crate::failure::usage(format!(
                "`{name}` is a reserved word or an existing module name; choose another"
            )));
        }
        let title = |word: &str| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        };
        let words: Vec<&str> = name.split('_').collect();
        let display = display
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| words.iter().map(|w| title(w)).collect::<Vec<_>>().join(" "));
        if display.contains(['"', '\\', '{', '}']) || display.contains('\n') {
            return Err(crate::failure::usage(
                "the display name must not contain quotes, backslashes, braces or newlines",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            camel: words.iter().map(|w| title(w)).collect(),
            upper: name.to_ascii_uppercase(),
            display,
        })
    }

    /// Replaces `{{name}}`, `{{Name}}`, `{{NAME}}` and `{{Display}}` in a template.
    pub fn render(&self, template: &str) -> String {
        template
            .replace("{{name}}", &self.name)
            .replace("{{Name}}", &self.camel)
            .replace("{{NAME}}", &self.upper)
            .replace("{{Display}}", &self.display)
    }
}

/// The files of a new package, relative to the workspace root, with their contents.
pub fn package_files(names: &Names) -> Vec<(PathBuf, String)> {
    TEMPLATES
        .iter()
        .map(|(path, template)| {
            (
                PathBuf::from(path.replace("{name}", &names.name)),
                names.render(template),
            )
        })
        .collect()
}

/// A file a new provider is registered in: the lines that register `name` there (shown when
/// they must be added by hand) and the edit that adds them.
struct RegistrationSite {
    file: &'static str,
    lines: fn(&str) -> String,
    register: fn(&str, &str) -> Result<Option<String>, String>,
}

const REGISTRATION_SITES: [RegistrationSite; 4] = [
    RegistrationSite {
        file: PROVIDERS_LIB,
        lines: |n| {
            format!(
                "#[cfg(feature = \"{n}\")]\npub mod {n};\n  and in catalog(): #[cfg(feature = \"{n}\")] {n}::definition,"
            )
        },
        register: register_in_lib,
    },
    RegistrationSite {
        file: PROVIDERS_MANIFEST,
        lines: |n| format!("[features] {n} = []  and \"{n}\" in default = [...]"),
        register: register_in_manifest,
    },
    RegistrationSite {
        file: PROVIDERS_TESTS,
        lines: |n| format!("mod {n};"),
        register: register_in_test_binary,
    },
    RegistrationSite {
        file: TESTKIT_LIB,
        lines: |n| format!("pub mod {n};"),
        register: register_in_testkit,
    },
];

/// One registration edit: the file, the lines to add, and whether they were added.
struct Registration {
    file: &'static str,
    lines: String,
    outcome: Result<bool, String>,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::New {
            name,
            root,
            display,
            no_register,
        } => scaffold(&root, &Names::new(&name, display.as_deref())?, !no_register),
    }
}

fn scaffold(root: &Path, names: &Names, register: bool) -> anyhow::Result<ExitCode> {
    for required in [PROVIDERS_LIB, PROVIDERS_MANIFEST, TESTKIT_LIB] {
        if !root.join(required).is_file() {
            bail!(
                "{} is not a Tributary workspace ({required} is missing); run from the workspace root or pass --root",
                root.display()
            );
        }
    }
    for shared in [PROVIDERS_LIB, TESTKIT_LIB] {
        let text = fs::read_to_string(root.join(shared))?;
        if text.contains(&format!("pub mod {};", names.name)) {
            bail!(
                "`{}` is already a module in {shared}; nothing was written",
                names.name
            );
        }
    }
    let files = package_files(names);
    // Nothing is written when any target exists: a half-scaffolded package is worse than none.
    let existing: Vec<String> = files
        .iter()
        .map(|(path, _)| path)
        .chain(std::iter::once(&PathBuf::from(format!(
            "crates/providers/src/{}",
            names.name
        ))))
        .filter(|path| root.join(path).exists())
        .map(|path| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        bail!(
            "provider `{}` already has files; nothing was written: {}",
            names.name,
            existing.join(", ")
        );
    }
    for (path, contents) in &files {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&target, contents).with_context(|| format!("writing {}", target.display()))?;
        println!("created {}", path.display());
    }

    // Names of any length and any sort order come out as rustfmt would write them.
    let sources: Vec<PathBuf> = files
        .iter()
        .filter(|(path, _)| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|(path, _)| root.join(path))
        .collect();
    let formatted = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(&sources)
        .status()
        .is_ok_and(|status| status.success());
    if !formatted {
        println!("rustfmt did not run; run `cargo fmt --all` before committing");
    }

    let registrations: Vec<Registration> = REGISTRATION_SITES
        .iter()
        .map(|site| Registration {
            file: site.file,
            lines: (site.lines)(&names.name),
            outcome: if register {
                edit(root, site.file, |text| (site.register)(text, &names.name))
            } else {
                Ok(false)
            },
        })
        .collect();
    let mut manual = Vec::new();
    for registration in &registrations {
        match &registration.outcome {
            Ok(true) => println!("registered in {}", registration.file),
            Ok(false) => manual.push(registration),
            Err(why) => {
                eprintln!("could not edit {}: {why}", registration.file);
                manual.push(registration);
            }
        }
    }
    if !manual.is_empty() {
        println!("\nadd these lines by hand:");
        for registration in manual {
            println!("  {}:\n    {}", registration.file, registration.lines);
        }
    }
    println!(
        "\nnext:\n  cargo test -p tributary-providers --test it -- {n}::\n  UPDATE_GOLDEN=1 cargo test -p tributary-providers --test it -- stable_names::   (review the new persisted names)\n  then replace the TODOs in crates/providers/src/{n}/, crates/testkit/src/{n}.rs and docs/providers/{n}.md\n  with what the provider documents, and add a line for docs/providers/{n}.md to docs/README.md",
        n = names.name
    );
    Ok(ExitCode::SUCCESS)
}

/// Applies `change` to a file: `Ok(true)` when it changed, `Ok(false)` when the lines were there
/// already, `Err` (file untouched) when the file's shape was not recognised.
fn edit(
    root: &Path,
    file: &str,
    change: impl FnOnce(&str) -> Result<Option<String>, String>,
) -> Result<bool, String> {
    let path = root.join(file);
    let text = fs::read_to_string(&path).map_err(|err| err.to_string())?;
    match change(&text)? {
        Some(updated) => {
            fs::write(&path, updated).map_err(|err| err.to_string())?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Inserts `module` (a `mod` item, with its attribute line if any) among the `mod` items of
/// `text[..region_end]` in name order, where rustfmt keeps them; after the last when it sorts
/// last.
fn insert_module(
    text: &str,
    region_end: usize,
    name: &str,
    module: &str,
) -> Result<String, String> {
    let mut offset = 0;
    let mut previous_attribute: Option<usize> = None;
    let mut insert_at = None;
    let mut after_last = None;
    for line in text[..region_end].split_inclusive('\n') {
        let trimmed = line.trim();
        let declared = trimmed
            .strip_prefix("pub mod ")
            .or_else(|| trimmed.strip_prefix("mod "))
            .and_then(|rest| rest.strip_suffix(';'));
        if let Some(declared) = declared {
            let start = previous_attribute.unwrap_or(offset);
            if insert_at.is_none() && declared > name {
                insert_at = Some(start);
            }
            after_last = Some(offset + line.len());
        }
        previous_attribute = trimmed
            .starts_with("#[")
            .then_some(previous_attribute.unwrap_or(offset));
        offset += line.len();
    }
    let at = insert_at
        .or(after_last)
        .ok_or("no `mod` declarations found")?;
    Ok(format!("{}{module}{}", &text[..at], &text[at..]))
}

/// The module declaration among the others, the catalog line before the end of the
/// `builders` list.
pub fn register_in_lib(text: &str, name: &str) -> Result<Option<String>, String> {
    let module = format!("#[cfg(feature = \"{name}\")]\npub mod {name};\n");
    let builder = format!("        #[cfg(feature = \"{name}\")]\n        {name}::definition,\n");
    if text.contains(&format!("pub mod {name};")) {
        return Ok(None);
    }
    let list_start = text
        .find("let builders")
        .ok_or("no `let builders` list in catalog()")?;
    let list_end = text[list_start..]
        .find("\n    ];")
        .map(|at| list_start + at + 1)
        .ok_or("the `builders` list has no end")?;
    let with_builder = format!("{}{builder}{}", &text[..list_end], &text[list_end..]);
    insert_module(&with_builder, list_start, name, &module).map(Some)
}

/// `name = []` after the last feature and `"name"` at the end of `default`.
pub fn register_in_manifest(text: &str, name: &str) -> Result<Option<String>, String> {
    let features = text.find("[features]").ok_or("no [features] table")?;
    let table_end = text[features + 1..]
        .find("\n[")
        .map_or(text.len(), |at| features + 1 + at + 1);
    let table = &text[features..table_end];
    if table
        .lines()
        .any(|line| line.trim_start().starts_with(&format!("{name} =")))
    {
        return Ok(None);
    }
    let default_line = table
        .lines()
        .find(|line| line.trim_start().starts_with("default = ["))
        .ok_or("no one-line `default = [...]` feature")?;
    let close = default_line
        .rfind(']')
        .ok_or("`default` is not a one-line list")?;
    let inner = default_line[default_line.find('[').unwrap_or(0) + 1..close].trim();
    let new_default = if inner.is_empty() {
        format!("{}\"{name}\"]", &default_line[..close])
    } else {
        format!("{}, \"{name}\"]", default_line[..close].trim_end())
    };
    let mut new_table = table.replacen(default_line, &new_default, 1);
    let trimmed = new_table.trim_end_matches('\n').len();
    new_table.insert_str(trimmed, &format!("\n{name} = []"));
    Ok(Some(format!(
        "{}{}{}",
        &text[..features],
        new_table,
        &text[table_end..]
    )))
}

/// `mod name;` among the test binary's modules (compared by line: `mod hr;` is not `mod acme_hr;`).
pub fn register_in_test_binary(text: &str, name: &str) -> Result<Option<String>, String> {
    let module = format!("mod {name};");
    if text.lines().any(|line| line.trim() == module) {
        return Ok(None);
    }
    insert_module(text, text.len(), name, &format!("{module}\n")).map(Some)
}

/// `pub mod name;` among the module declarations.
pub fn register_in_testkit(text: &str, name: &str) -> Result<Option<String>, String> {
    if text.contains(&format!("pub mod {name};")) {
        return Ok(None);
    }
    insert_module(text, text.len(), name, &format!("pub mod {name};\n")).map(Some)
}
