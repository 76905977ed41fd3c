//! What `tributary demo` needs to connect a definition to its fake: the operator config that
//! points the definition at the fake, and what a tenant would enter in the connect form. Each fake
//! provider describes itself with a [`DemoConnection`] (`FakeOkta::demo_connection`, ...), so the
//! demo connects every fake through the public API the same way.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct DemoConnection {
    /// The definition id (`okta`).
    pub definition: &'static str,
    /// The definition's operator config section (`[definitions.<id>]`) pointing it at the fake,
    /// including any OAuth client registered with the fake's authorization server.
    pub operator_config: Value,
    /// The connection mode to connect with (a credential slot name).
    pub connection: String,
    /// The connect form's user input.
    pub user_input: Value,
    /// Credentials per slot for a form connection; empty when the connection goes through an
    /// authorization redirect (OAuth, app install), which the demo follows like a browser.
    pub credentials: BTreeMap<String, Value>,
}
