//! Key metadata of the internal models: what a mapping may, must and must not emit for each model.
//!
//! The metadata is produced by `#[derive(IngestModel)]` from the model structs, so the struct and
//! its metadata cannot drift apart; the ingest pipeline enforces it on every mapped record.

use std::fmt;

/// The JSON shape a mapped value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A JSON string.
    String,
    /// A JSON integer that fits in `i64`.
    Int,
    /// Any JSON number.
    Float,
    /// A JSON boolean.
    Bool,
    /// An RFC 3339 string; the pipeline normalises it to UTC (`2026-01-02T03:04:05Z`).
    Timestamp,
    /// A JSON string that is exactly one of these values (case-sensitive).
    Enum(&'static [&'static str]),
    /// A JSON object with any content.
    Object,
    /// Any JSON value.
    Json,
}

impl ValueType {
    /// How the type reads in error messages and docs.
    pub fn describe(&self) -> String {
        match self {
            ValueType::String => "string".into(),
            ValueType::Int => "integer".into(),
            ValueType::Float => "number".into(),
            ValueType::Bool => "boolean".into(),
            ValueType::Timestamp => "RFC 3339 timestamp string".into(),
            ValueType::Enum(values) => format!("one of {}", values.join("|")),
            ValueType::Object => "object".into(),
            ValueType::Json => "any JSON value".into(),
        }
    }
}

/// The type of one mapping key: a single value or a list of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    One(ValueType),
    List(ValueType),
}

impl KeyType {
    /// Lookup and context keys are text: they end up in the record's identity.
    pub const fn is_text(&self) -> bool {
        matches!(self, KeyType::One(ValueType::String))
    }

    /// The element type, whether single or list.
    pub const fn value_type(&self) -> ValueType {
        match self {
            KeyType::One(value) | KeyType::List(value) => *value,
        }
    }

    /// Whether a declared default (`#[ingest(default = "...")]`) can be a JSON string of this type.
    pub const fn accepts_string_default(&self) -> bool {
        matches!(
            self,
            KeyType::One(ValueType::String | ValueType::Enum(_) | ValueType::Timestamp)
        )
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::One(value) => f.write_str(&value.describe()),
            KeyType::List(value) => write!(f, "list of {}", value.describe()),
        }
    }
}

/// Where a field filled by the runtime (never by a mapping) takes its value from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextSource {
    /// The tenant that owns the integration.
    Tenant,
    /// The integration the payload came from.
    Integration,
    /// The run (operation run or webhook delivery run) that last wrote the record.
    Run,
}

impl ContextSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            ContextSource::Tenant => "tenant",
            ContextSource::Integration => "integration",
            ContextSource::Run => "run",
        }
    }
}

/// One field of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldMetadata {
    /// The mapping key (`externalID`).
    pub key: &'static str,
    /// The Rust field name (`external_id`).
    pub field: &'static str,
    pub ty: KeyType,
    /// A mapping must emit the key with a non-null value (non-empty for lookup keys).
    pub required: bool,
    /// Part of the record's identity within its integration (the `ON CONFLICT` target).
    pub lookup: bool,
    /// Part of the full upsert key: the lookup keys plus the context fields that scope them.
    pub upsert: bool,
    /// Filled from the integration context; a mapping that emits this key is rejected.
    pub context: Option<ContextSource>,
    /// Used when the mapping leaves the key out (only for string, enum and timestamp keys).
    pub default: Option<&'static str>,
    /// The field's doc comment.
    pub doc: &'static str,
}

impl FieldMetadata {
    /// Whether a mapping may emit this key.
    pub fn is_mappable(&self) -> bool {
        self.context.is_none()
    }
}

/// Everything the pipeline needs to know about a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelMetadata {
    /// The schema name ingest contracts and mappings use (`DirectoryAccount`).
    pub schema: &'static str,
    /// The model's doc comment.
    pub doc: &'static str,
    /// Records of this model are tombstoned by a complete directory sync that did not see them.
    pub directory: bool,
    pub fields: &'static [FieldMetadata],
}

impl ModelMetadata {
    /// The field a mapping key names, context fields included.
    pub fn field(&self, key: &str) -> Option<&'static FieldMetadata> {
        self.fields.iter().find(|field| field.key == key)
    }

    /// Keys a mapping may emit.
    pub fn allowed_keys(&self) -> impl Iterator<Item = &'static str> {
        self.fields
            .iter()
            .filter(|f| f.is_mappable())
            .map(|f| f.key)
    }

    /// Keys a mapping must emit.
    pub fn required_keys(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().filter(|f| f.required).map(|f| f.key)
    }

    /// Mapped keys that identify a record within its integration, in declaration order.
    pub fn lookup_keys(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().filter(|f| f.lookup).map(|f| f.key)
    }

    /// The full upsert key: context scope plus lookup keys.
    pub fn upsert_keys(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().filter(|f| f.upsert).map(|f| f.key)
    }

    /// Fields filled from the integration context.
    pub fn context_fields(&self) -> impl Iterator<Item = &'static FieldMetadata> {
        self.fields.iter().filter(|f| f.context.is_some())
    }
}

/// Implemented by `#[derive(IngestModel)]`.
pub trait IngestModel {
    const METADATA: &'static ModelMetadata;
}

/// A Rust type a model field may have, and the mapping key type it stands for.
///
/// `Option<T>` makes a key optional; `Vec<T>` makes it a list.
pub trait IngestField {
    const TYPE: KeyType;
    const OPTIONAL: bool = false;
}

/// Implements [`IngestField`] for a value type, its `Option`, its `Vec` and `Option<Vec>`.
#[macro_export]
#[doc(hidden)]
macro_rules! __ingest_field_impls {
    ($ty:ty => $value:expr) => {
        impl $crate::IngestField for $ty {
            const TYPE: $crate::KeyType = $crate::KeyType::One($value);
        }
        impl $crate::IngestField for ::std::option::Option<$ty> {
            const TYPE: $crate::KeyType = $crate::KeyType::One($value);
            const OPTIONAL: bool = true;
        }
        impl $crate::IngestField for ::std::vec::Vec<$ty> {
            const TYPE: $crate::KeyType = $crate::KeyType::List($value);
        }
        impl $crate::IngestField for ::std::option::Option<::std::vec::Vec<$ty>> {
            const TYPE: $crate::KeyType = $crate::KeyType::List($value);
            const OPTIONAL: bool = true;
        }
    };
}

crate::__ingest_field_impls!(String => ValueType::String);
crate::__ingest_field_impls!(i64 => ValueType::Int);
crate::__ingest_field_impls!(f64 => ValueType::Float);
crate::__ingest_field_impls!(bool => ValueType::Bool);
crate::__ingest_field_impls!(chrono::DateTime<chrono::Utc> => ValueType::Timestamp);
crate::__ingest_field_impls!(serde_json::Map<String, serde_json::Value> => ValueType::Object);
crate::__ingest_field_impls!(serde_json::Value => ValueType::Json);
