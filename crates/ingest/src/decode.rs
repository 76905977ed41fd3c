//! Decoding a mapped object against its model's metadata. Unlike a permissive JSON decoder, every
//! key is accounted for: unknown and context keys, missing required keys, wrongly typed values and
//! values outside an enum are errors that name the key.

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value};
use tributary_model::{FieldMetadata, KeyType, ModelMetadata, ValueType};

/// A mapped object that fits its model: values type-checked and normalised (timestamps in UTC),
/// nulls dropped, defaults filled.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub fields: Map<String, Value>,
    /// The record's identity within its integration: the lookup key's value, or for a model with
    /// several lookup keys the JSON array of their values (`["u1","g1"]`).
    pub lookup_key: String,
}

/// Why a mapped object does not fit its model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("key `{key}` is not a {model} key")]
    UnknownKey { model: &'static str, key: String },
    #[error("key `{key}` of {model} is filled from the integration context and cannot be mapped")]
    ContextKey { model: &'static str, key: String },
    #[error("required key `{key}` of {model} is missing or null")]
    MissingKey { model: &'static str, key: String },
    #[error("lookup key `{key}` of {model} is empty")]
    EmptyLookupKey { model: &'static str, key: String },
    #[error("key `{key}` of {model} must be a {expected}, got {actual}")]
    WrongType {
        model: &'static str,
        key: String,
        expected: String,
        actual: String,
    },
    #[error("key `{key}` of {model} must be one of {}, got {value:?}", allowed.join("|"))]
    BadEnumValue {
        model: &'static str,
        key: String,
        allowed: &'static [&'static str],
        value: String,
    },
}

impl DecodeError {
    /// The key the error is about.
    pub fn key(&self) -> &str {
        match self {
            DecodeError::UnknownKey { key, .. }
            | DecodeError::ContextKey { key, .. }
            | DecodeError::MissingKey { key, .. }
            | DecodeError::EmptyLookupKey { key, .. }
            | DecodeError::WrongType { key, .. }
            | DecodeError::BadEnumValue { key, .. } => key,
        }
    }
}

/// Longest rejected enum value quoted in an error; the value is payload data, keep it short.
const QUOTED_VALUE_CHARS: usize = 40;

/// Decodes `mapped` as a record of `model`.
pub fn decode(
    model: &'static ModelMetadata,
    mapped: Map<String, Value>,
) -> Result<Decoded, DecodeError> {
    let mut fields = Map::new();
    for (key, value) in mapped {
        let Some(field) = model.field(&key) else {
            return Err(DecodeError::UnknownKey {
                model: model.schema,
                key,
            });
        };
        if !field.is_mappable() {
            return Err(DecodeError::ContextKey {
                model: model.schema,
                key,
            });
        }
        if let Some(value) = check_value(model, field, value)? {
            fields.insert(key, value);
        }
    }
    for field in model.fields.iter().filter(|f| f.is_mappable()) {
        if fields.contains_key(field.key) {
            continue;
        }
        if let Some(default) = field.default {
            fields.insert(field.key.to_owned(), Value::String(default.to_owned()));
        } else if field.required {
            return Err(DecodeError::MissingKey {
                model: model.schema,
                key: field.key.to_owned(),
            });
        }
    }
    let lookup_key = lookup_key(model, &fields)?;
    Ok(Decoded { fields, lookup_key })
}

/// The lookup values of decoded fields, in declaration order, joined into one identity string.
fn lookup_key(
    model: &'static ModelMetadata,
    fields: &Map<String, Value>,
) -> Result<String, DecodeError> {
    let mut values = Vec::new();
    for key in model.lookup_keys() {
        let value = fields.get(key).and_then(Value::as_str).unwrap_or_default();
        if value.is_empty() {
            return Err(DecodeError::EmptyLookupKey {
                model: model.schema,
                key: key.to_owned(),
            });
        }
        values.push(value);
    }
    Ok(match values.as_slice() {
        [single] => (*single).to_owned(),
        many => serde_json::to_string(many).expect("strings serialize"),
    })
}

/// Checks one value; `None` means "absent" (null, or an empty string for an optional timestamp
/// or enum, which CEL mappings commonly emit for a missing provider field).
fn check_value(
    model: &'static ModelMetadata,
    field: &FieldMetadata,
    value: Value,
) -> Result<Option<Value>, DecodeError> {
    if value.is_null() {
        return Ok(None);
    }
    let optional_blank = !field.required
        && field.default.is_none()
        && matches!(
            field.ty.value_type(),
            ValueType::Timestamp | ValueType::Enum(_)
        )
        && value.as_str() == Some("");
    if optional_blank {
        return Ok(None);
    }
    match field.ty {
        KeyType::One(ty) => check_one(model, field.key, ty, value, field.ty).map(Some),
        KeyType::List(ty) => {
            let Value::Array(items) = value else {
                return Err(wrong_type(model, field.key, field.ty, &value));
            };
            let mut checked = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                let key = format!("{}[{index}]", field.key);
                checked.push(check_one(model, &key, ty, item, KeyType::One(ty))?);
            }
            Ok(Some(Value::Array(checked)))
        }
    }
}

fn check_one(
    model: &'static ModelMetadata,
    key: &str,
    ty: ValueType,
    value: Value,
    declared: KeyType,
) -> Result<Value, DecodeError> {
    let fits = match ty {
        ValueType::String => value.is_string(),
        ValueType::Int => {
            value.is_i64() || value.as_u64().is_some_and(|v| i64::try_from(v).is_ok())
        }
        ValueType::Float => value.is_number(),
        ValueType::Bool => value.is_boolean(),
        ValueType::Object => value.is_object(),
        ValueType::Json => true,
        ValueType::Timestamp => {
            let Some(text) = value.as_str() else {
                return Err(wrong_type(model, key, declared, &value));
            };
            return match DateTime::parse_from_rfc3339(text) {
                Ok(time) => Ok(Value::String(
                    time.to_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true),
                )),
                Err(_) => Err(DecodeError::WrongType {
                    model: model.schema,
                    key: key.to_owned(),
                    expected: declared.to_string(),
                    actual: "a string that is not RFC 3339".to_owned(),
                }),
            };
        }
        ValueType::Enum(allowed) => {
            let Some(text) = value.as_str() else {
                return Err(wrong_type(model, key, declared, &value));
            };
            if allowed.contains(&text) {
                return Ok(value);
            }
            return Err(DecodeError::BadEnumValue {
                model: model.schema,
                key: key.to_owned(),
                allowed,
                value: text.chars().take(QUOTED_VALUE_CHARS).collect(),
            });
        }
    };
    if fits {
        Ok(value)
    } else {
        Err(wrong_type(model, key, declared, &value))
    }
}

fn wrong_type(
    model: &'static ModelMetadata,
    key: &str,
    declared: KeyType,
    value: &Value,
) -> DecodeError {
    DecodeError::WrongType {
        model: model.schema,
        key: key.to_owned(),
        expected: declared.to_string(),
        actual: json_type(value).to_owned(),
    }
}

/// The JSON type of a value, as error messages name it (never the value itself).
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number with a fraction",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tributary_model::{DirectoryAccount, DirectoryMembership, IngestModel};

    fn account(value: Value) -> Result<Decoded, DecodeError> {
        let Value::Object(map) = value else { panic!() };
        decode(DirectoryAccount::METADATA, map)
    }

    #[test]
    fn a_fitting_record_is_normalised_and_defaulted() {
        let decoded = account(json!({
            "externalID": "00u1",
            "canonicalEmail": "a@example.com",
            "lastLoginAt": "2026-03-01T10:00:00+02:00",
            "sourceCreatedAt": "",
            "isAdmin": null,
            "roles": ["admin"],
        }))
        .unwrap();
        assert_eq!(decoded.lookup_key, "00u1");
        assert_eq!(decoded.fields["lastLoginAt"], "2026-03-01T08:00:00Z");
        assert_eq!(decoded.fields["status"], "ACTIVE");
        assert_eq!(decoded.fields["mfaState"], "UNKNOWN");
        assert!(!decoded.fields.contains_key("sourceCreatedAt"));
        assert!(!decoded.fields.contains_key("isAdmin"));
    }

    #[test]
    fn each_misfit_names_its_key() {
        let unknown = account(json!({"externalID": "1", "emailAddress": "x"})).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "key `emailAddress` is not a DirectoryAccount key"
        );
        let context = account(json!({"externalID": "1", "integrationID": "x"})).unwrap_err();
        assert!(
            matches!(context, DecodeError::ContextKey { .. }),
            "{context}"
        );
        let missing = account(json!({"displayName": "A"})).unwrap_err();
        assert_eq!(missing.key(), "externalID");
        let empty = account(json!({"externalID": ""})).unwrap_err();
        assert!(matches!(empty, DecodeError::EmptyLookupKey { .. }));
        let wrong = account(json!({"externalID": 12})).unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "key `externalID` of DirectoryAccount must be a string, got integer"
        );
        let list = account(json!({"externalID": "1", "roles": ["a", 2]})).unwrap_err();
        assert_eq!(list.key(), "roles[1]");
        let time = account(json!({"externalID": "1", "lastLoginAt": "yesterday"})).unwrap_err();
        assert!(time.to_string().contains("not RFC 3339"), "{time}");
        let flag = account(json!({"externalID": "1", "isAdmin": "yes"})).unwrap_err();
        assert_eq!(flag.key(), "isAdmin");
        let status = account(json!({"externalID": "1", "status": "active"})).unwrap_err();
        assert_eq!(
            status.to_string(),
            "key `status` of DirectoryAccount must be one of ACTIVE|PENDING|SUSPENDED|INACTIVE|DELETED, got \"active\""
        );
    }

    #[test]
    fn composite_lookup_keys_are_a_json_array() {
        let Value::Object(map) = json!({"accountExternalID": "u1", "groupExternalID": "g1"}) else {
            panic!()
        };
        let decoded = decode(DirectoryMembership::METADATA, map).unwrap();
        assert_eq!(decoded.lookup_key, r#"["u1","g1"]"#);
        assert_eq!(decoded.fields["role"], "MEMBER");
    }
}
