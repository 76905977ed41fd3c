//! The registry with the real CEL and model checks refuses what they refuse.

use tributary_core::{Definition, DefinitionId, DefinitionSpec, MappingRegistration, Rule};
use tributary_providers::registry_of;

fn definition_with(mapping: MappingRegistration) -> Definition {
    Definition::new(DefinitionSpec::new(DefinitionId::new("checked"), "Checked")).mapping(mapping)
}

#[test]
fn a_well_formed_mapping_passes() {
    let def = definition_with(
        MappingRegistration::new("DirectoryAccount")
            .filter("has(payload.status) && payload.status == 'ACTIVE'")
            .map("{'externalID': string(payload.id)}"),
    );
    registry_of(vec![def]).expect("valid");
}

#[test]
fn a_typo_in_a_variable_fails_at_startup() {
    let def = definition_with(
        MappingRegistration::new("DirectoryAccount").filter("paylaod.status == 'ACTIVE'"),
    );
    let errors = registry_of(vec![def]).unwrap_err();
    assert_eq!(errors.rules(), [Rule::MappingExpressionInvalid]);
    let text = errors.to_string();
    assert!(text.contains("mapping `DirectoryAccount` filter"), "{text}");
    assert!(text.contains("paylaod"), "{text}");
}

#[test]
fn a_syntax_error_fails_at_startup() {
    let def = definition_with(MappingRegistration::new("DirectoryAccount").map("{'a': }"));
    let errors = registry_of(vec![def]).unwrap_err();
    assert_eq!(errors.rules(), [Rule::MappingExpressionInvalid]);
}

#[test]
fn an_unknown_model_fails_at_startup() {
    let def = definition_with(MappingRegistration::new("DirectoryAcount"));
    let errors = registry_of(vec![def]).unwrap_err();
    assert_eq!(errors.rules(), [Rule::UnknownModel]);
}
