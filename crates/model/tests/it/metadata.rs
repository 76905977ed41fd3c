//! The derived metadata of the shipped models: keys follow the documented rule, agree with the
//! serde names of the structs, and carry the flags the pipeline relies on.

use serde_json::{Map, Value, json};
use tributary_model::{
    ContextSource, DirectoryAccount, DirectoryMembership, IngestModel, KeyType, ModelMetadata,
    ValueType, mapping_key, metadata_for, models,
};

/// A JSON value of the given type, as a well-formed mapping would emit it.
fn sample(ty: KeyType) -> Value {
    let one = |value: ValueType| match value {
        ValueType::String => json!("text"),
        ValueType::Int => json!(7),
        ValueType::Float => json!(1.5),
        ValueType::Bool => json!(true),
        ValueType::Timestamp => json!("2026-01-02T03:04:05Z"),
        ValueType::Enum(values) => json!(values[0]),
        ValueType::Object => json!({"k": "v"}),
        ValueType::Json => json!(["any"]),
    };
    match ty {
        KeyType::One(value) => one(value),
        KeyType::List(value) => json!([one(value)]),
    }
}

fn full_document(model: &ModelMetadata) -> Map<String, Value> {
    model
        .fields
        .iter()
        .map(|field| (field.key.to_owned(), sample(field.ty)))
        .collect()
}

fn round_trip<T: IngestModel + serde::de::DeserializeOwned + serde::Serialize>() {
    let metadata = T::METADATA;
    let document = full_document(metadata);
    let value: T = serde_json::from_value(Value::Object(document.clone()))
        .unwrap_or_else(|e| panic!("{}: metadata keys do not deserialize: {e}", metadata.schema));
    let Value::Object(back) = serde_json::to_value(&value).unwrap() else {
        panic!("not an object")
    };
    let mut serde_keys: Vec<_> = back.keys().cloned().collect();
    let mut meta_keys: Vec<_> = document.keys().cloned().collect();
    serde_keys.sort();
    meta_keys.sort();
    assert_eq!(
        serde_keys, meta_keys,
        "{}: serde names differ from mapping keys",
        metadata.schema
    );
}

#[test]
fn serde_names_are_the_mapping_keys() {
    round_trip::<tributary_model::DirectoryAccount>();
    round_trip::<tributary_model::DirectoryGroup>();
    round_trip::<tributary_model::DirectoryMembership>();
    round_trip::<tributary_model::Finding>();
    round_trip::<tributary_model::Vulnerability>();
    round_trip::<tributary_model::Risk>();
    round_trip::<tributary_model::Asset>();
    round_trip::<tributary_model::Contact>();
    round_trip::<tributary_model::Entity>();
}

#[test]
fn every_key_follows_the_rule_and_every_model_is_listed_once() {
    let mut names: Vec<_> = models().iter().map(|m| m.schema).collect();
    assert_eq!(names.len(), 9);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 9, "duplicate schema names");
    for model in models() {
        assert!(
            model.lookup_keys().count() >= 1,
            "{} has no lookup key",
            model.schema
        );
        for field in model.fields {
            assert_eq!(
                field.key,
                mapping_key(field.field),
                "{}.{}",
                model.schema,
                field.field
            );
        }
        let contexts: Vec<_> = model.context_fields().map(|f| f.context.unwrap()).collect();
        assert_eq!(
            contexts,
            [
                ContextSource::Tenant,
                ContextSource::Integration,
                ContextSource::Run
            ],
            "{}",
            model.schema
        );
        assert!(std::ptr::eq(metadata_for(model.schema).unwrap(), *model));
    }
    assert!(metadata_for("Nope").is_none());
}

#[test]
fn directory_account_keys() {
    let meta = DirectoryAccount::METADATA;
    assert_eq!(meta.schema, "DirectoryAccount");
    assert!(meta.directory);
    assert_eq!(meta.lookup_keys().collect::<Vec<_>>(), ["externalID"]);
    assert_eq!(
        meta.upsert_keys().collect::<Vec<_>>(),
        ["tenantID", "integrationID", "externalID"]
    );
    assert_eq!(meta.required_keys().collect::<Vec<_>>(), ["externalID"]);
    let allowed: Vec<_> = meta.allowed_keys().collect();
    assert!(allowed.contains(&"canonicalEmail") && allowed.contains(&"avatarURL"));
    assert!(
        !allowed.contains(&"integrationID"),
        "context fields are not mappable"
    );
    let status = meta.field("status").unwrap();
    assert_eq!(status.default, Some("ACTIVE"));
    assert!(!status.required);
    assert_eq!(
        status.ty,
        KeyType::One(ValueType::Enum(&[
            "ACTIVE",
            "PENDING",
            "SUSPENDED",
            "INACTIVE",
            "DELETED"
        ]))
    );
    for (field, ty) in [
        ("roles", KeyType::List(ValueType::String)),
        ("lastLoginAt", KeyType::One(ValueType::Timestamp)),
        ("profile", KeyType::One(ValueType::Object)),
    ] {
        assert_eq!(meta.field(field).unwrap().ty, ty, "{field}");
    }
    assert!(meta.field("externalID").unwrap().doc.contains("stable id"));
}

#[test]
fn membership_is_identified_by_both_sides() {
    let meta = DirectoryMembership::METADATA;
    assert_eq!(
        meta.lookup_keys().collect::<Vec<_>>(),
        ["accountExternalID", "groupExternalID"]
    );
    assert_eq!(
        meta.required_keys().collect::<Vec<_>>(),
        ["accountExternalID", "groupExternalID"]
    );
}

#[test]
fn enum_values_parse_and_reject() {
    use tributary_model::Severity;
    assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
    let error = "high".parse::<Severity>().unwrap_err().to_string();
    assert!(
        error.contains("CRITICAL|HIGH|MEDIUM|LOW|INFORMATIONAL|UNKNOWN"),
        "{error}"
    );
    assert!(!error.contains("high"), "the rejected value is not echoed");
}
