//! Canonical JSON (object keys sorted, no whitespace) and the content hash of a record, so that
//! the same content always hashes the same whatever the order a provider or CEL produced keys in.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Appends the canonical JSON text of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut String) {
    // Written as bytes so that serde_json can write each scalar in place; it writes UTF-8 only.
    let mut bytes = std::mem::take(out).into_bytes();
    write_value(value, &mut bytes);
    *out = String::from_utf8(bytes).expect("serde_json writes UTF-8");
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        // serde_json's map is ordered by key unless its `preserve_order` feature is on (a
        // dependency could turn it on for the whole build): sort only when the keys are not in
        // order already, which costs nothing in the usual case.
        Value::Object(map) if map.keys().is_sorted() => write_object(map.iter(), out),
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            write_object(entries.into_iter(), out);
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// An object of `entries`, already in key order.
fn write_object<'v>(entries: impl Iterator<Item = (&'v String, &'v Value)>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (index, (key, item)) in entries.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_scalar(key, out);
        out.push(b':');
        write_value(item, out);
    }
    out.push(b'}');
}

/// A string, number, boolean or null, written by serde_json straight into `out`.
fn write_scalar<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    serde_json::to_writer(out, value).expect("JSON scalars serialize");
}

/// The canonical JSON text of `value`.
pub fn canonical(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

/// SHA-256 (hex) of a record's canonical fields and raw payload texts.
pub fn content_hash(fields_json: &str, raw_json: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Sha256::new();
    hasher.update(fields_json.as_bytes());
    hasher.update([0u8]);
    hasher.update(raw_json.as_bytes());
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
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
