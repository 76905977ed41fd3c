//! Operator settings with their secrets hidden, for `tributary config check`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::reference_catalog;

/// Placeholder for a hidden value.
const REDACTED: &str = "[redacted]";

/// `definitions` with every value whose schema marks it secret (`writeOnly`, how a
/// [`tributary_core::Secret`] field is described) replaced by `[redacted]`.
pub fn redact_definitions(definitions: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let catalog = reference_catalog();
    definitions
        .iter()
        .map(|(id, section)| {
            let schema = catalog
                .iter()
                .find(|definition| definition.id() == id)
                .and_then(|definition| definition.operator_config.as_ref());
            let mut section = section.clone();
            if let Some(table) = section.as_object_mut() {
                for (key, value) in table.iter_mut() {
                    // Unknown keys and unknown definitions are hidden too: a misspelt
                    // `clientSecrt` is still a secret.
                    let property = schema.map(|schema| &schema["properties"][key.as_str()]);
                    let shown = property.is_some_and(|p| !p.is_null() && !is_secret(p));
                    if !shown {
                        *value = Value::String(REDACTED.to_owned());
                    }
                }
            }
            (id.clone(), section)
        })
        .collect()
}

/// Whether a property schema, or any branch of it, is write-only.
fn is_secret(property: &Value) -> bool {
    match property {
        Value::Object(map) => {
            map.get("writeOnly") == Some(&Value::Bool(true)) || map.values().any(is_secret)
        }
        Value::Array(items) => items.iter().any(is_secret),
        _ => false,
    }
}

#[cfg(all(test, feature = "aws_security_hub"))]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_and_unknown_values_are_hidden() {
        let definitions: BTreeMap<String, Value> = serde_json::from_value(json!({
            "aws_security_hub": {
                "sourceAccessKeyId": "AKIAEXAMPLE",
                "sourceSecretAccessKey": "wJalrXUtnFEMI",
                "sourceSecretAcessKey": "typo-but-secret",
            },
            "unknown": {"clientSecret": "s3cret"},
        }))
        .unwrap();
        let shown = serde_json::to_string(&redact_definitions(&definitions)).unwrap();
        assert!(shown.contains("AKIAEXAMPLE"), "{shown}");
        for secret in ["wJalrXUtnFEMI", "typo-but-secret", "s3cret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
