//! JSON Schemas derived from Rust types, and their validation.
//!
//! Every schema a definition exposes (operator config, user input, credential slots, operation
//! configs) is derived from a Rust type with `schemars`, so the form a user fills, the API document
//! and the type the handler decodes can never disagree. Object schemas are closed
//! (`additionalProperties: false`) unless the type says otherwise: a typo in a field name is an
//! error at the door, not a silently ignored setting.

use serde_json::{Map, Value};

/// Derives the JSON Schema (draft 2020-12) of `T`, closing every object schema that does not say
/// whether it accepts extra properties.
pub fn schema_for<T: schemars::JsonSchema>() -> Value {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let mut value = serde_json::to_value(schema).expect("a JSON Schema serialises");
    close_objects(&mut value);
    value
}

fn close_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let is_object_schema = map.contains_key("properties")
                || map.get("type").and_then(Value::as_str) == Some("object");
            if is_object_schema && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// One way an instance breaks its schema. The message never contains the offending value, because
/// the instance may be a credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// JSON Pointer of the offending field (`/orgUrl`); empty for the document itself.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A schema compiled once, at registry time, and used for every validation after that.
pub struct CompiledSchema {
    schema: Value,
    validator: jsonschema::Validator,
}

impl CompiledSchema {
    /// Compiles `schema`, failing with the compiler's reason when it is not a valid JSON Schema.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        let validator = jsonschema::options()
            .should_validate_formats(false)
            .build(schema)
            .map_err(|err| err.to_string())?;
        Ok(Self {
            schema: schema.clone(),
            validator,
        })
    }

    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Validates `instance`, treating `null` as an empty object (an omitted config is `{}`).
    pub fn validate(&self, instance: &Value) -> Result<(), Vec<Violation>> {
        let empty = Value::Object(Map::new());
        let instance = if instance.is_null() { &empty } else { instance };
        let violations: Vec<Violation> = self
            .validator
            .iter_errors(instance)
            .map(|err| Violation {
                path: err.instance_path().to_string(),
                message: err.masked().to_string(),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

debug_listed_fields!(CompiledSchema { schema });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use schemars::JsonSchema;
    use serde::Deserialize;

    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct OktaInput {
        /// The org URL.
        org_url: String,
        api_token: Secret,
        #[serde(default)]
        page_size: Option<u32>,
        nested: Nested,
    }

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Nested {
        enabled: bool,
    }

    #[test]
    fn required_fields_are_the_non_optional_ones() {
        let schema = schema_for::<OktaInput>();
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        required.sort();
        assert_eq!(required, ["apiToken", "nested", "orgUrl"]);
        assert_eq!(
            schema["properties"]["orgUrl"]["description"],
            "The org URL."
        );
    }

    #[test]
    fn every_object_schema_is_closed() {
        let schema = schema_for::<OktaInput>();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["$defs"]["Nested"]["additionalProperties"], false);
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }

    #[test]
    fn validation_reports_paths_and_never_values() {
        let compiled = CompiledSchema::compile(&schema_for::<OktaInput>()).unwrap();
        let bad = serde_json::json!({
            "orgUrl": 12,
            "apiToken": 99887766,
            "nested": {"enabled": true},
            "extra": "hunter2-secret"
        });
        let violations = compiled.validate(&bad).unwrap_err();
        let text: Vec<String> = violations.iter().map(ToString::to_string).collect();
        let joined = text.join("\n");
        assert!(joined.contains("/orgUrl"), "{joined}");
        assert!(joined.contains("/apiToken"), "{joined}");
        assert!(!joined.contains("99887766"), "{joined}");
        assert!(!joined.contains("hunter2-secret"), "{joined}");
    }

    #[test]
    fn null_is_validated_as_an_empty_object() {
        let compiled = CompiledSchema::compile(&schema_for::<Nested>()).unwrap();
        let violations = compiled.validate(&Value::Null).unwrap_err();
        assert_eq!(violations.len(), 1);
        assert!(violations[0].message.contains("enabled"));
    }

    #[test]
    fn an_invalid_schema_does_not_compile() {
        let err = CompiledSchema::compile(&serde_json::json!({"type": 12})).unwrap_err();
        assert!(!err.is_empty());
    }
}
