//! The payloads the fakes serve, as their providers document them. The testkit owns them (under
//! `fixtures/<provider>/`) so that the fakes, and the demo built on them, need no file of another
//! crate. A provider crate keeps its own copy of those its mapping goldens read; the testkit's
//! `fixtures` tests check that the two copies stay the same.

/// The text of `fixtures/<provider>/<name>.json`.
macro_rules! fixture {
    ($provider:literal, $name:literal) => {
        include_str!(concat!("../fixtures/", $provider, "/", $name, ".json"))
    };
}
pub(crate) use fixture;

/// Parses a fixture's text.
pub(crate) fn parse(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("fixtures are JSON")
}
