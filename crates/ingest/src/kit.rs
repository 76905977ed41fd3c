//! The mapping test kit: run one example payload through a definition's mapping and see the
//! record it becomes, or why it does not. `tributary mappings eval` prints the same thing.

use serde_json::{Value, json};
use tributary_cel::CelEngine;
use tributary_core::{IngestContract, MappingEnvelope, MappingRegistration};

use crate::error::IngestError;
use crate::mapper::{MapOutcome, MappedRecord, Mapper};

/// Maps `payload` with the mapping registered for (`schema`, `variant`) among `mappings`, as the
/// pipeline would for an emitter that declares `schema` (no integration filter). A filtered-out
/// payload is reported as [`IngestError::FilteredOut`].
pub fn eval_mapping(
    mappings: &[MappingRegistration],
    schema: &str,
    variant: &str,
    payload: &Value,
) -> Result<MappedRecord, IngestError> {
    eval_mapping_with(
        &CelEngine::default(),
        "",
        mappings,
        schema,
        variant,
        payload,
    )
}

/// [`eval_mapping`] with an explicit engine and the definition id to name in errors.
pub fn eval_mapping_with(
    engine: &CelEngine,
    definition_id: &str,
    mappings: &[MappingRegistration],
    schema: &str,
    variant: &str,
    payload: &Value,
) -> Result<MappedRecord, IngestError> {
    let contracts = [IngestContract::new(schema)];
    let mapper = Mapper::new(engine, definition_id, mappings, &contracts)?;
    map_one(&mapper, definition_id, schema, variant, payload)
}

/// Maps one payload with an already compiled `mapper` (the API's playground reuses the runtime's
/// compiled mappers): the record, or why there is none.
pub fn map_one(
    mapper: &Mapper,
    definition_id: &str,
    schema: &str,
    variant: &str,
    payload: &Value,
) -> Result<MappedRecord, IngestError> {
    let envelope = MappingEnvelope::new(payload.clone()).variant(variant);
    match mapper.map(schema, &envelope, 0)? {
        MapOutcome::Mapped(record) => Ok(record),
        MapOutcome::Filtered(stage) => Err(IngestError::FilteredOut {
            definition_id: definition_id.to_owned(),
            mapping: if variant.is_empty() {
                schema.to_owned()
            } else {
                format!("{schema}/{variant}")
            },
            stage,
        }),
    }
}

/// The outcome of [`eval_mapping`] as one JSON value, for golden files:
/// `{"record": {...}}` or `{"error": "..."}`. Use it with insta:
///
/// ```ignore
/// insta::assert_json_snapshot!(tributary_ingest::kit::snapshot(&mappings(), "DirectoryAccount", "", &payload));
/// ```
pub fn snapshot(
    mappings: &[MappingRegistration],
    schema: &str,
    variant: &str,
    payload: &Value,
) -> Value {
    match eval_mapping(mappings, schema, variant, payload) {
        Ok(record) => json!({ "record": record }),
        Err(error) => json!({ "error": error.to_string() }),
    }
}
