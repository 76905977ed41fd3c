//! `TRIBUTARY_<SECTION>__<KEY>` variables: every key of the file's tables can be set from the
//! environment (`TRIBUTARY_SERVER__MAX_BODY_BYTES=2097152` is `[server] max_body_bytes`). The
//! definitions' variables (`TRIBUTARY_DEFINITIONS__<ID>__<KEY>`) are typed by their schemas in
//! `tributary_providers`; top-level keys have their own variables (`TRIBUTARY_LISTEN`, ...).

use tributary_core::suggest::did_you_mean;
use tributary_providers::ConfigProblem;

pub const PREFIX: &str = "TRIBUTARY_";

/// The tables of the file whose keys a variable may set.
const SECTIONS: &[&str] = &["server", "worker", "auth", "retention", "telemetry"];

/// Writes each `TRIBUTARY_<SECTION>__<KEY>` variable into `table`. A value is read as a TOML
/// value (`16`, `true`, `1.5`), else as text. A variable naming no section is a problem; an
/// unknown key is left for the typed parse, which names it.
pub fn apply_section_overrides(
    table: &mut toml::Table,
    variables: &[(String, String)],
) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    for (name, raw) in variables {
        let Some((section, key)) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once("__"))
        else {
            continue;
        };
        let section = section.to_ascii_lowercase();
        if section == "definitions" {
            continue;
        }
        if !SECTIONS.contains(&section.as_str()) {
            problems.push(
                ConfigProblem::new(name, "names no section of the configuration")
                    .suggesting(did_you_mean(&section, SECTIONS.iter().copied())),
            );
            continue;
        }
        let entry = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section_table) = entry {
            section_table.insert(key.to_ascii_lowercase(), typed_value(raw));
        }
    }
    problems
}

fn typed_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("value = {raw}"))
        .ok()
        .and_then(|mut parsed| parsed.remove("value"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}
