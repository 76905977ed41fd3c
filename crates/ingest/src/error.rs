//! Errors of the ingest path. Messages name the definition, the mapping, the payload and the key;
//! they never quote payload values beyond a rejected enum value, and never credentials.

use std::fmt;

use tributary_cel::CelError;

use crate::decode::DecodeError;
use crate::offload::OffloadError;

/// A problem with the mappings or contracts themselves, found when a [`crate::Mapper`] is built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "definition `{definition_id}`: ingest contract names `{schema}`, which is not an internal model"
    )]
    UnknownContractSchema {
        definition_id: String,
        schema: String,
    },
    #[error(
        "definition `{definition_id}`: mapping {mapping} targets `{schema}`, which is not an internal model"
    )]
    UnknownMappingSchema {
        definition_id: String,
        schema: String,
        mapping: String,
    },
    #[error("definition `{definition_id}`: mapping {mapping} is declared twice")]
    DuplicateMapping {
        definition_id: String,
        mapping: String,
    },
    #[error("{0}")]
    Expression(Box<CelError>),
}

/// Which filter excluded (or failed on) a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterStage {
    /// The integration's own filter, from its user input (tenant scoping).
    Integration,
    /// The mapping's filter, shipped with the definition (payload semantics).
    Definition,
}

impl fmt::Display for FilterStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FilterStage::Integration => "integration filter",
            FilterStage::Definition => "definition filter",
        })
    }
}

/// Why one payload did not become a record.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordFailure {
    #[error("schema `{0}` is not declared by the operation or webhook event that emitted it")]
    SchemaNotDeclared(String),
    #[error(
        "variant `{variant}` of schema `{schema}` is not among the variants the operation or webhook event that emitted it declares"
    )]
    VariantNotDeclared { schema: String, variant: String },
    #[error(
        "no mapping for schema `{schema}` and variant `{variant}` (a variant never falls back to the default mapping)"
    )]
    MappingNotFound { schema: String, variant: String },
    #[error("{stage} failed: {error}")]
    Filter { stage: FilterStage, error: CelError },
    #[error("map expression failed: {0}")]
    Map(CelError),
    #[error("{0}")]
    Decode(DecodeError),
    #[error("{0}")]
    Reference(String),
}

impl RecordFailure {
    /// A short stable code for counters, storage and the API.
    pub fn code(&self) -> &'static str {
        match self {
            RecordFailure::SchemaNotDeclared(_) => "schema_not_declared",
            RecordFailure::VariantNotDeclared { .. } => "variant_not_declared",
            RecordFailure::MappingNotFound { .. } => "mapping_not_found",
            RecordFailure::Filter { .. } => "filter_failed",
            RecordFailure::Map(_) => "map_failed",
            RecordFailure::Decode(DecodeError::UnknownKey { .. }) => "unknown_key",
            RecordFailure::Decode(DecodeError::ContextKey { .. }) => "context_key",
            RecordFailure::Decode(DecodeError::MissingKey { .. }) => "missing_key",
            RecordFailure::Decode(DecodeError::EmptyLookupKey { .. }) => "empty_lookup_key",
            RecordFailure::Decode(DecodeError::WrongType { .. }) => "wrong_type",
            RecordFailure::Decode(DecodeError::BadEnumValue { .. }) => "bad_enum_value",
            RecordFailure::Reference(_) => "unresolved_reference",
        }
    }

    /// The mapping key the failure is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            RecordFailure::Decode(error) => Some(error.key()),
            _ => None,
        }
    }
}

/// Which payload a message is about: its position in its payload set, and its identity once
/// decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordRef {
    /// 0-based position of the envelope in its payload set.
    pub index: usize,
    pub resource: String,
    /// The record's lookup key, when decoding got that far.
    pub lookup_key: Option<String>,
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "payload #{}", self.index)?;
        if !self.resource.is_empty() {
            write!(f, " of resource `{}`", self.resource)?;
        }
        if let Some(key) = &self.lookup_key {
            write!(f, " (lookup key `{key}`)")?;
        }
        Ok(())
    }
}

/// One payload's failure, with everything needed to find it: definition, mapping, payload, reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("definition `{definition_id}`, mapping {mapping}, {record}: {failure}")]
pub struct RecordError {
    pub definition_id: String,
    pub schema: String,
    pub variant: String,
    /// `schema` or `schema/variant`.
    pub mapping: String,
    pub record: RecordRef,
    pub failure: RecordFailure,
}

/// Any error of the ingest crate.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Record(#[from] Box<RecordError>),
    /// The mapping test kit's answer for a payload a filter excluded.
    #[error(
        "definition `{definition_id}`, mapping {mapping}: the payload was filtered out by the {stage}"
    )]
    FilteredOut {
        definition_id: String,
        mapping: String,
        stage: FilterStage,
    },
    /// The CEL work of a batch ran past its time limit (or broke down): the run fails.
    #[error(transparent)]
    Evaluation(#[from] OffloadError),
    #[error("storing ingested records failed: {0}")]
    Store(tributary_store::records::RecordsError),
}
