//! Output helpers shared by the commands: `--json` prints one JSON document, otherwise a table;
//! errors are text or, with `--json`, one JSON object.

use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The name `value` has in JSON, e.g. a status enum's `snake_case` name, for a table cell or
/// a message.
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(error) => format!("<{error}>"),
    }
}

/// Prints a listing: with `--json` its JSON `document` (the items, or an object holding them),
/// otherwise `items` as a table under `header`, one `row` each.
pub fn listing<T>(
    json: bool,
    document: &impl Serialize,
    header: &[&str],
    items: &[T],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        return self::json(document);
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    table(header, &rows);
    Ok(())
}

/// Prints rows as aligned columns with a header line.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints why a command failed on standard error: `error: MESSAGE`, or with `--json` one line
/// `{"error": {"kind", "message"}}` (the kind names the exit code, `crate::failure`).
pub fn error(kind: &str, message: &str, json: bool) {
    if json {
        eprintln!(
            "{}",
            serde_json::json!({"error": {"kind": kind, "message": message}})
        );
    } else {
        eprintln!("error: {message}");
    }
}

#[cfg(test)]
mod tests {
    use tributary_server::api::views::{IntegrationStatusName, RunStatusName};
    use tributary_store::{integrations::IntegrationStatus, runs::RunStatus};

    use super::wire_name;

    /// Tables and exit codes read a status's wire name: it is the store's name for it.
    #[test]
    fn a_status_s_wire_name_is_the_store_s() {
        for status in RunStatus::ALL {
            assert_eq!(wire_name(&RunStatusName::from(status)), status.as_str());
        }
        for status in IntegrationStatus::ALL {
            assert_eq!(
                wire_name(&IntegrationStatusName::from(status)),
                status.as_str()
            );
        }
    }
}
