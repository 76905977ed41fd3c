//! Stable names: identifiers that are persisted (credential slots, operations, webhook events) and
//! the topics derived from them.
//!
//! A persisted name comes from a Rust type's identifier through `#[derive(StableName)]`, so the
//! compiler keeps names unique within a module and a rename is a visible change. Definition ids and
//! webhook names are explicit constants because they do not map onto one type.

/// A type whose identifier is a persisted name. Implement it with `#[derive(StableName)]`.
pub trait StableName {
    const NAME: &'static str;
}

/// The explicit, persisted id of a definition (`"okta"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DefinitionId(&'static str);

impl DefinitionId {
    pub const fn new(id: &'static str) -> Self {
        Self(id)
    }

    pub const fn as_str(&self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for DefinitionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// `integration.<definition>.<operation>`: the only place operation topics are built.
pub fn operation_topic(definition: &str, operation: &str) -> String {
    format!("integration.{definition}.{operation}")
}

/// `integration.<definition>.webhook.<event>`: the only place webhook event topics are built.
pub fn webhook_event_topic(definition: &str, event: &str) -> String {
    format!("integration.{definition}.webhook.{event}")
}

/// Definition ids: lowercase ASCII letters, digits and underscores, starting with a letter. No dots,
/// so that a topic splits back into its parts unambiguously.
pub fn is_valid_definition_id(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Slot, operation, client, webhook and event names: ASCII letters, digits and underscores,
/// starting with a letter.
pub fn is_valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate as tributary_core;

    #[derive(tributary_derive::StableName)]
    struct OktaApiToken;

    #[derive(tributary_derive::StableName)]
    #[stable_name = "LegacyName"]
    struct RenamedType;

    #[derive(tributary_derive::StableName)]
    #[allow(dead_code)]
    struct Generic<T>(T);

    #[test]
    fn derive_uses_the_identifier_verbatim() {
        assert_eq!(OktaApiToken::NAME, "OktaApiToken");
        assert_eq!(Generic::<u8>::NAME, "Generic");
        assert_eq!(
            <Generic<String> as tributary_core::StableName>::NAME,
            "Generic"
        );
    }

    #[test]
    fn derive_honours_a_frozen_name() {
        assert_eq!(RenamedType::NAME, "LegacyName");
    }

    #[test]
    fn names_are_usable_in_const_context() {
        const NAMES: [&str; 2] = [OktaApiToken::NAME, RenamedType::NAME];
        assert_eq!(NAMES, ["OktaApiToken", "LegacyName"]);
    }

    #[test]
    fn topics_are_derived_deterministically() {
        assert_eq!(
            operation_topic("okta", "HealthCheck"),
            "integration.okta.HealthCheck"
        );
        assert_eq!(
            webhook_event_topic("github_app", "DependabotAlert"),
            "integration.github_app.webhook.DependabotAlert"
        );
    }

    #[test]
    fn identifier_rules() {
        assert!(is_valid_definition_id("google_workspace"));
        assert!(!is_valid_definition_id("Google"));
        assert!(!is_valid_definition_id("a.b"));
        assert!(!is_valid_definition_id(""));
        assert!(!is_valid_definition_id("9lives"));
        assert!(is_valid_name("HealthCheck"));
        assert!(!is_valid_name("health.check"));
        assert!(!is_valid_name(""));
    }
}
