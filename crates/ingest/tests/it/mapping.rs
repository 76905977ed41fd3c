//! The mapping half of the pipeline (steps 1 to 5), through the public API.

use serde_json::json;
use tributary_cel::CelEngine;
use tributary_core::{IngestContract, MappingEnvelope, MappingRegistration};
use tributary_ingest::{
    ConfigError, FilterStage, IngestError, MapOutcome, Mapper, RecordFailure, eval_mapping,
};

const ACCOUNT_MAP: &str = r#"{
    "externalID": string(payload.id),
    "canonicalEmail": payload.email,
    "displayName": payload.name,
    "status": payload.active ? "ACTIVE" : "SUSPENDED"
}"#;

fn mappings() -> Vec<MappingRegistration> {
    vec![
        MappingRegistration::new("DirectoryAccount")
            .filter("payload.kind == 'user'")
            .map(ACCOUNT_MAP),
        MappingRegistration::new("DirectoryAccount")
            .variant("bot")
            .map(r#"{"externalID": payload.id, "accountType": "BOT"}"#),
        MappingRegistration::new("DirectoryGroup").map(r#"{"externalID": payload.id}"#),
    ]
}

fn mapper() -> Mapper {
    Mapper::new(
        &CelEngine::default(),
        "okta",
        &mappings(),
        &[IngestContract::new("DirectoryAccount")],
    )
    .unwrap()
}

fn user() -> serde_json::Value {
    json!({"id": 12345678, "kind": "user", "email": "ada@example.com", "name": "Ada", "active": true})
}

fn failure(
    outcome: Result<MapOutcome, Box<tributary_ingest::RecordError>>,
) -> Box<tributary_ingest::RecordError> {
    outcome.expect_err("should fail")
}

#[test]
fn a_payload_becomes_a_decoded_record() {
    let MapOutcome::Mapped(record) = mapper()
        .map("DirectoryAccount", &MappingEnvelope::new(user()), 0)
        .unwrap()
    else {
        panic!("filtered")
    };
    assert_eq!(
        record.lookup_key, "12345678",
        "integers stay integers (no 1.2345678e+07)"
    );
    assert_eq!(record.fields["status"], "ACTIVE");
    assert_eq!(record.fields["mfaState"], "UNKNOWN");
}

#[test]
fn an_undeclared_schema_is_refused() {
    let error = failure(mapper().map(
        "DirectoryGroup",
        &MappingEnvelope::new(json!({"id": "g"})),
        4,
    ));
    assert!(matches!(error.failure, RecordFailure::SchemaNotDeclared(_)));
    assert_eq!(
        error.to_string(),
        "definition `okta`, mapping DirectoryGroup, payload #4: schema `DirectoryGroup` is not declared by the operation or webhook event that emitted it"
    );
}

#[test]
fn a_missing_variant_mapping_does_not_fall_back() {
    let envelope = MappingEnvelope::new(user())
        .variant("guest")
        .resource("users");
    let error = failure(mapper().map("DirectoryAccount", &envelope, 2));
    assert!(matches!(
        error.failure,
        RecordFailure::MappingNotFound { .. }
    ));
    assert!(
        error
            .to_string()
            .contains("mapping DirectoryAccount/guest, payload #2 of resource `users`"),
        "{error}"
    );
}

#[test]
fn the_variant_selects_its_own_mapping() {
    let envelope = MappingEnvelope::new(json!({"id": "b1"})).variant("bot");
    let MapOutcome::Mapped(record) = mapper().map("DirectoryAccount", &envelope, 0).unwrap() else {
        panic!()
    };
    assert_eq!(record.variant, "bot");
    assert_eq!(record.fields["accountType"], "BOT");
}

/// [`mapper`] with the integration filter `filter`.
fn filtered_mapper(filter: &str) -> Mapper {
    mapper()
        .with_integration_filter(&CelEngine::default(), filter)
        .unwrap()
}

#[test]
fn filters_run_integration_first_then_definition() {
    let scoped = filtered_mapper("payload.email.endsWith('@example.com')");
    let outsider =
        json!({"id": 1, "kind": "user", "email": "eve@evil.test", "name": "E", "active": true});
    let service = json!({"id": 2, "kind": "service", "email": "svc@example.com", "name": "S", "active": true});
    for (payload, stage) in [
        (outsider, FilterStage::Integration),
        (service, FilterStage::Definition),
    ] {
        assert_eq!(
            scoped
                .map("DirectoryAccount", &MappingEnvelope::new(payload), 0)
                .unwrap(),
            MapOutcome::Filtered(stage)
        );
    }
}

#[test]
fn a_filter_that_is_not_boolean_is_an_error_with_its_cause() {
    let scoped = filtered_mapper("payload.email");
    let error = failure(scoped.map("DirectoryAccount", &MappingEnvelope::new(user()), 0));
    let RecordFailure::Filter { stage, .. } = &error.failure else {
        panic!("{error}")
    };
    assert_eq!(*stage, FilterStage::Integration);
    assert!(
        error.to_string().contains("integration filter failed"),
        "{error}"
    );
    assert!(
        error.to_string().contains("bool"),
        "the CEL cause is kept: {error}"
    );
}

#[test]
fn decoding_errors_name_key_model_mapping_and_record() {
    let bad_enum = MappingRegistration::new("DirectoryAccount")
        .map(r#"{"externalID": payload.id, "status": "enabled"}"#);
    let error =
        eval_mapping(&[bad_enum], "DirectoryAccount", "", &json!({"id": "u9"})).unwrap_err();
    assert_eq!(
        error.to_string(),
        "definition ``, mapping DirectoryAccount, payload #0: key `status` of DirectoryAccount must be one of ACTIVE|PENDING|SUSPENDED|INACTIVE|DELETED, got \"enabled\""
    );

    let cases = [
        (
            r#"{"externalID": "u1", "mail": "x"}"#,
            "unknown_key",
            "mail",
        ),
        (r#"{"displayName": "A"}"#, "missing_key", "externalID"),
        (r#"{"externalID": 7}"#, "wrong_type", "externalID"),
        (
            r#"{"externalID": "u1", "integrationID": "i"}"#,
            "context_key",
            "integrationID",
        ),
    ];
    for (map, code, key) in cases {
        let mapping = MappingRegistration::new("DirectoryAccount").map(map);
        let Err(IngestError::Record(error)) =
            eval_mapping(&[mapping], "DirectoryAccount", "", &json!({}))
        else {
            panic!("{map} should fail")
        };
        assert_eq!(error.failure.code(), code, "{map}");
        assert_eq!(error.failure.key(), Some(key), "{map}");
        assert!(error.to_string().contains(&format!("`{key}`")), "{error}");
        assert!(error.to_string().contains("DirectoryAccount"), "{error}");
    }
}

#[test]
fn a_map_error_names_the_mapping() {
    let mapping =
        MappingRegistration::new("DirectoryAccount").map(r#"{"externalID": payload.missing}"#);
    let error = eval_mapping(&[mapping], "DirectoryAccount", "", &json!({"id": 1})).unwrap_err();
    assert!(
        error.to_string().contains("map expression failed"),
        "{error}"
    );
}

#[test]
fn an_empty_map_uses_the_payload_as_it_is() {
    let mapping = MappingRegistration::new("DirectoryGroup");
    let record = eval_mapping(
        &[mapping],
        "DirectoryGroup",
        "",
        &json!({"externalID": "g1", "displayName": "Ops"}),
    )
    .unwrap();
    assert_eq!(record.fields["displayName"], "Ops");
    assert_eq!(record.fields["classification"], "UNKNOWN");
}

#[test]
fn the_kit_reports_filtered_payloads() {
    let error = eval_mapping(
        &mappings(),
        "DirectoryAccount",
        "",
        &json!({"id": 1, "kind": "app"}),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            IngestError::FilteredOut {
                stage: FilterStage::Definition,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn bad_setups_are_refused_before_any_payload() {
    let engine = CelEngine::default();
    let unknown_contract = Mapper::new(
        &engine,
        "okta",
        &mappings(),
        &[IngestContract::new("Person")],
    );
    assert!(matches!(
        unknown_contract,
        Err(ConfigError::UnknownContractSchema { .. })
    ));
    let unknown_model = Mapper::new(&engine, "okta", &[MappingRegistration::new("Person")], &[]);
    assert!(matches!(
        unknown_model,
        Err(ConfigError::UnknownMappingSchema { .. })
    ));
    let twice = [
        MappingRegistration::new("Risk"),
        MappingRegistration::new("Risk"),
    ];
    let duplicate = Mapper::new(&engine, "okta", &twice, &[]).unwrap_err();
    assert_eq!(
        duplicate.to_string(),
        "definition `okta`: mapping Risk is declared twice"
    );
    let typo = [MappingRegistration::new("Risk").filter("paylod.x")];
    let error = Mapper::new(&engine, "okta", &typo, &[]).unwrap_err();
    assert!(error.to_string().contains("paylod"), "{error}");
}

#[test]
fn golden_snapshot_of_a_mapping() {
    let payload = json!({"id": 42, "kind": "user", "email": "grace@example.com", "name": "Grace", "active": false});
    insta::assert_json_snapshot!(
        "directory_account_inactive",
        tributary_ingest::kit::snapshot(&mappings(), "DirectoryAccount", "", &payload)
    );
}
