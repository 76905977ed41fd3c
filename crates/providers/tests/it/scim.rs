//! The SCIM definition: registered with no credentials and nothing to poll, and golden tests of
//! its mappings over the payloads the SCIM server builds (fixtures in `fixtures/scim/`). The
//! server itself is tested over HTTP in `crates/scim/tests/it/http.rs`.

use serde_json::Value;
use tributary_providers::{CatalogConfig, registry};

use crate::harness;

fn fixture(name: &str) -> Value {
    harness::fixture("scim", name)
}

#[test]
fn the_definition_holds_no_credentials_and_polls_nothing() {
    let registry = registry(&CatalogConfig::default()).unwrap();
    let definition = &registry.definition("scim").unwrap().definition;
    assert!(definition.credentials.is_empty());
    assert!(definition.operations.iter().all(|op| !op.policy.reconcile));
    let sync = definition.operation_named("DirectorySync").unwrap();
    let schemas: Vec<&str> = sync.ingest.iter().map(|c| c.schema.as_str()).collect();
    assert_eq!(
        schemas,
        ["DirectoryAccount", "DirectoryGroup", "DirectoryMembership"]
    );
}

#[test]
fn mapping_goldens() {
    let mappings = &harness::mappings("scim");
    for (schema, name) in [
        ("DirectoryAccount", "user_okta"),
        ("DirectoryAccount", "user_entra_deactivated"),
        ("DirectoryAccount", "user_deleted"),
        ("DirectoryGroup", "group"),
        ("DirectoryMembership", "membership"),
    ] {
        let snapshot = tributary_ingest::kit::snapshot(mappings, schema, "", &fixture(name));
        insta::assert_json_snapshot!(format!("scim_{name}"), snapshot);
    }
}
