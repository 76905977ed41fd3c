//! Strict checking of the operator settings (`[definitions.<id>]`): an unknown definition or key,
//! a value of the wrong type or a missing required key is a problem that stops start-up, never a
//! section quietly replaced by defaults.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use tributary_core::{schema::CompiledSchema, suggest::did_you_mean};

use super::{reference_catalog, schema_keys};

/// One mistake in the configuration, named by its dotted key. Messages never quote a value,
/// because the value may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigProblem {
    /// `definitions.okta.allowLoopbackOrgUrls`, `server.max_body_bytes`, or an environment
    /// variable's name when the mistake is in the variable's name.
    pub key: String,
    pub message: String,
    /// The closest known name, when the key looks like a typo of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<String>,
}

impl ConfigProblem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
            did_you_mean: None,
        }
    }

    pub fn suggesting(mut self, suggestion: Option<&str>) -> Self {
        self.did_you_mean = suggestion.map(str::to_owned);
        self
    }
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)?;
        if let Some(suggestion) = &self.did_you_mean {
            write!(f, "; did you mean `{suggestion}`?")?;
        }
        Ok(())
    }
}

/// Every problem of the operator settings, checked against each built-in definition's operator
/// config schema and decoded into its config type. Empty means every section is valid.
pub fn check_definitions(definitions: &BTreeMap<String, Value>) -> Vec<ConfigProblem> {
    let catalog = reference_catalog();
    let ids: Vec<&str> = catalog.iter().map(|definition| definition.id()).collect();
    let mut problems = Vec::new();
    for (id, section) in definitions {
        let prefix = format!("definitions.{id}");
        let Some(definition) = catalog.iter().find(|definition| definition.id() == id) else {
            problems.push(
                ConfigProblem::new(
                    &prefix,
                    format!(
                        "no built-in definition has this id (they are: {})",
                        ids.join(", ")
                    ),
                )
                .suggesting(did_you_mean(id, ids.iter().copied())),
            );
            continue;
        };
        if !(section.is_object() || section.is_null()) {
            problems.push(ConfigProblem::new(&prefix, "must be a table of settings"));
            continue;
        }
        let Some(schema) = &definition.operator_config else {
            if section.as_object().is_some_and(|table| !table.is_empty()) {
                problems.push(ConfigProblem::new(
                    &prefix,
                    "this definition takes no settings",
                ));
            }
            continue;
        };
        let known = schema_keys(schema);
        let unknown: Vec<ConfigProblem> = section
            .as_object()
            .into_iter()
            .flat_map(|table| table.keys())
            .filter(|key| !known.contains(&key.as_str()))
            .map(|key| {
                ConfigProblem::new(
                    format!("{prefix}.{key}"),
                    format!("unknown key (known: {})", known.join(", ")),
                )
                .suggesting(did_you_mean(key, known.iter().copied()))
            })
            .collect();
        if !unknown.is_empty() {
            // The schema's own complaint would only repeat these.
            problems.extend(unknown);
            continue;
        }
        match CompiledSchema::compile(schema) {
            Ok(compiled) => {
                if let Err(violations) = compiled.validate(section) {
                    problems.extend(violations.into_iter().map(|violation| {
                        ConfigProblem::new(
                            format!("{prefix}{}", violation.path.replace('/', ".")),
                            violation.message,
                        )
                    }));
                    continue;
                }
            }
            Err(error) => problems.push(ConfigProblem::new(
                &prefix,
                format!("the definition's schema does not compile: {error}"),
            )),
        }
        if let Some(decode) = definition.operator_config_decoder
            && let Err(error) = decode(section)
        {
            problems.push(ConfigProblem::new(&prefix, without_quoted_values(&error)));
        }
    }
    problems
}

/// serde's message with every quoted value replaced by `"…"`: it quotes what it could not
/// decode (`invalid type: string "…", expected a boolean`), and the value may be a secret.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (n, part) in parts.enumerate() {
        out.push('"');
        // Odd pieces sit between a pair of quotes.
        out.push_str(if n % 2 == 0 { "…" } else { part });
    }
    out
}

#[cfg(all(test, feature = "aws_security_hub", feature = "okta"))]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(definitions: Value) -> Vec<ConfigProblem> {
        check_definitions(&serde_json::from_value(definitions).unwrap())
    }

    #[test]
    fn a_misspelt_key_is_named_with_the_key_it_resembles() {
        let problems = check(json!({"aws_security_hub": {"securityHubURL": "https://x"}}));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].key,
            "definitions.aws_security_hub.securityHubURL"
        );
        assert_eq!(problems[0].did_you_mean.as_deref(), Some("securityHubUrl"));
    }

    #[test]
    fn okta_refuses_unknown_keys_too() {
        let problems = check(json!({"okta": {"allowLoopbackOrgUrl": true}}));
        assert_eq!(
            problems[0].did_you_mean.as_deref(),
            Some("allowLoopbackOrgUrls")
        );
    }

    #[test]
    fn an_unknown_definition_and_a_wrong_type_are_problems() {
        let problems = check(json!({"otka": {}, "okta": {"allowLoopbackOrgUrls": "yes"}}));
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"definitions.otka"), "{problems:?}");
        assert!(
            keys.contains(&"definitions.okta.allowLoopbackOrgUrls"),
            "{problems:?}"
        );
        let unknown = problems
            .iter()
            .find(|p| p.key == "definitions.otka")
            .unwrap();
        assert_eq!(unknown.did_you_mean.as_deref(), Some("okta"));
    }

    #[test]
    fn a_value_serde_quotes_is_hidden() {
        assert_eq!(
            without_quoted_values("invalid type: string \"hunter2\", expected a boolean"),
            "invalid type: string \"…\", expected a boolean"
        );
        assert_eq!(
            without_quoted_values("missing field `clientId`"),
            "missing field `clientId`"
        );
    }

    #[test]
    fn valid_and_empty_sections_pass() {
        assert!(
            check(json!({"okta": {"allowLoopbackOrgUrls": true}, "aws_security_hub": {}}))
                .is_empty()
        );
        assert!(check(json!({})).is_empty());
    }
}
