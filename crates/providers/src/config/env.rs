//! `TRIBUTARY_DEFINITIONS__<ID>__<KEY>` variables: one operator setting each, over the file's.
//!
//! Variable names are upper case and cannot hold camelCase, so the id and the key are matched
//! ignoring case, `_` and `-` (`TRIBUTARY_DEFINITIONS__AWS_SECURITY_HUB__SECURITY_HUB_URL` is
//! `[definitions.aws_security_hub] securityHubUrl`). A value is typed by the key's schema: text
//! for a string, `true`/`false` for a boolean, a JSON number, array or object otherwise.

use std::collections::BTreeMap;

use serde_json::Value;
use tributary_core::suggest::{did_you_mean, normalized};

use super::{ConfigProblem, reference_catalog, schema_keys};

pub const DEFINITIONS_ENV_PREFIX: &str = "TRIBUTARY_DEFINITIONS__";

/// Applies every `TRIBUTARY_DEFINITIONS__*` variable of `variables` to `definitions`, returning
/// a problem for each variable that names no definition or no key (never its value).
pub fn apply_definition_overrides(
    definitions: &mut BTreeMap<String, Value>,
    variables: impl IntoIterator<Item = (String, String)>,
) -> Vec<ConfigProblem> {
    let catalog = reference_catalog();
    let mut problems = Vec::new();
    for (name, raw) in variables {
        let Some(rest) = name.strip_prefix(DEFINITIONS_ENV_PREFIX) else {
            continue;
        };
        let Some((id_part, key_part)) = rest.split_once("__") else {
            problems.push(ConfigProblem::new(
                &name,
                "expected TRIBUTARY_DEFINITIONS__<ID>__<KEY>",
            ));
            continue;
        };
        let Some(definition) = catalog
            .iter()
            .find(|definition| normalized(definition.id()) == normalized(id_part))
        else {
            problems.push(
                ConfigProblem::new(&name, "names no built-in definition")
                    .suggesting(did_you_mean(id_part, catalog.iter().map(|d| d.id()))),
            );
            continue;
        };
        let schema = definition.operator_config.as_ref().unwrap_or(&Value::Null);
        let keys = schema_keys(schema);
        let Some(key) = keys
            .iter()
            .copied()
            .find(|key| normalized(key) == normalized(key_part))
        else {
            problems.push(
                ConfigProblem::new(
                    &name,
                    format!("names no setting of definition {}", definition.id()),
                )
                .suggesting(did_you_mean(key_part, keys.iter().copied())),
            );
            continue;
        };
        let value = typed_value(&raw, &schema["properties"][key]);
        let section = definitions
            .entry(definition.id().to_owned())
            .or_insert_with(|| Value::Object(Default::default()));
        if !section.is_object() {
            *section = Value::Object(Default::default());
        }
        section[key] = value;
    }
    problems
}

/// The variable's text as the JSON value the key's schema expects. Text that does not parse as
/// the expected type stays text, so the schema check names the key with a type error.
fn typed_value(raw: &str, property: &Value) -> Value {
    let types = schema_types(property);
    if types.contains(&"string") || types.is_empty() {
        return Value::String(raw.to_owned());
    }
    serde_json::from_str::<Value>(raw.trim()).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

/// The JSON types a property schema allows: its `type` (one or a list) and those of its
/// `anyOf`/`oneOf` branches (how an optional field is described).
fn schema_types(property: &Value) -> Vec<&str> {
    let own = match property.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let branches = ["anyOf", "oneOf"]
        .iter()
        .filter_map(|combinator| property.get(*combinator).and_then(Value::as_array))
        .flatten()
        .flat_map(schema_types);
    own.into_iter()
        .chain(branches)
        .filter(|kind| *kind != "null")
        .collect()
}

#[cfg(all(test, feature = "aws_security_hub", feature = "okta"))]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn upper_case_variables_reach_camel_case_keys_with_their_types() {
        let mut definitions = BTreeMap::new();
        definitions.insert("okta".to_owned(), json!({"allowLoopbackOrgUrls": false}));
        let problems = apply_definition_overrides(
            &mut definitions,
            vars(&[
                (
                    "TRIBUTARY_DEFINITIONS__OKTA__ALLOW_LOOPBACK_ORG_URLS",
                    "true",
                ),
                (
                    "TRIBUTARY_DEFINITIONS__AWS_SECURITY_HUB__SECURITY_HUB_URL",
                    "https://securityhub.example.com",
                ),
                (
                    "TRIBUTARY_DEFINITIONS__AWS_SECURITY_HUB__EXTERNAL_ID_PREFIX",
                    "123",
                ),
                ("TRIBUTARY_LISTEN", "ignored here"),
            ]),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(definitions["okta"]["allowLoopbackOrgUrls"], true);
        assert_eq!(
            definitions["aws_security_hub"]["securityHubUrl"],
            "https://securityhub.example.com"
        );
        // A string setting keeps digits as text.
        assert_eq!(definitions["aws_security_hub"]["externalIdPrefix"], "123");
        assert!(super::super::check_definitions(&definitions).is_empty());
    }

    #[test]
    fn a_variable_naming_nothing_is_a_problem_with_a_suggestion() {
        let mut definitions = BTreeMap::new();
        let problems = apply_definition_overrides(
            &mut definitions,
            vars(&[
                ("TRIBUTARY_DEFINITIONS__OKTA__ALLOW_LOOPBACK", "true"),
                ("TRIBUTARY_DEFINITIONS__OTKA__X", "1"),
                ("TRIBUTARY_DEFINITIONS__OKTA", "1"),
            ]),
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(problems[1].did_you_mean.as_deref(), Some("okta"));
        assert!(definitions.is_empty());
        assert!(!format!("{problems:?}").contains("true"));
    }
}
