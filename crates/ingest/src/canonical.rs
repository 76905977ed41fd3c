//! Canonical JSON (object keys sorted, no whitespace) and the content hash of a record, so that
//! the same content always hashes the same whatever the order a provider or CEL produced keys in.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Appends the canonical JSON text of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).expect("strings serialize"));
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => push_scalar(scalar, out),
    }
}

fn push_scalar(value: &Value, out: &mut String) {
    out.push_str(&serde_json::to_string(value).expect("JSON scalars serialize"));
}

/// The canonical JSON text of `value`.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// SHA-256 (hex) of a record's canonical fields and raw payload texts.
pub fn content_hash(fields_json: &str, raw_json: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(fields_json.as_bytes());
    hasher.update([0u8]);
    hasher.update(raw_json.as_bytes());
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_text_or_hash() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, "x"], "x": null}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a": {"x": null, "y": [1, "x"]}, "b": 1}"#).unwrap();
        assert_eq!(canonical(&a), r#"{"a":{"x":null,"y":[1,"x"]},"b":1}"#);
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(
            content_hash(&canonical(&a), "{}"),
            content_hash(&canonical(&b), "{}")
        );
        assert_ne!(
            content_hash("{}", "{\"a\":1}"),
            content_hash("{\"a\":1}", "{}")
        );
        assert_eq!(canonical(&json!("é\"")), "\"é\\\"\"");
    }
}
