//! JSON <-> CEL values, with our own rules (see docs/cel.md):
//!
//! * JSON -> CEL: integers are `int` (`uint` only above `i64::MAX`), other numbers `double`,
//!   strings borrow the payload's bytes, objects are maps with string keys.
//! * CEL -> JSON: `int`/`uint` stay integers, timestamps are RFC 3339 in UTC with `Z`,
//!   durations are seconds with a `s` suffix (`"1.5s"`), bytes are base64, optionals are their
//!   value or `null`, map keys become strings.

use crate::{CelError, CelErrorKind, Limit, Limits};
use base64::Engine as _;
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelDuration, CelInt, CelMap, CelOptional, CelString,
    CelTimestamp, CelUInt, Kind,
};
use cel::common::value::Val;
use serde_json::{Map, Number, Value};

/// Bytes a JSON value costs beyond its strings: an estimate of punctuation and numbers, used to
/// bound a payload that arrives already parsed.
const NODE_OVERHEAD_BYTES: usize = 8;

/// Checks an already parsed payload against the payload limits: its estimated encoded size and
/// its nesting depth. Walks without recursion and stops at the first excess.
pub(crate) fn check_payload(
    value: &Value,
    limits: &Limits,
    expression: &str,
) -> Result<(), CelError> {
    let mut bytes = 0usize;
    let mut pending: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((v, depth)) = pending.pop() {
        if depth > limits.max_payload_depth {
            return Err(CelError::limit(
                Limit::PayloadDepth,
                format!(
                    "the payload nests deeper than {} levels",
                    limits.max_payload_depth
                ),
                expression,
            ));
        }
        bytes = bytes.saturating_add(NODE_OVERHEAD_BYTES);
        match v {
            Value::String(s) => bytes = bytes.saturating_add(s.len()),
            Value::Array(items) => pending.extend(items.iter().map(|item| (item, depth + 1))),
            Value::Object(fields) => {
                for (key, field) in fields {
                    bytes = bytes.saturating_add(key.len());
                    pending.push((field, depth + 1));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        if bytes > limits.max_payload_bytes {
            return Err(CelError::limit(
                Limit::PayloadSize,
                format!(
                    "the payload is larger than {} bytes",
                    limits.max_payload_bytes
                ),
                expression,
            ));
        }
    }
    Ok(())
}

/// Why a CEL value has no JSON form.
#[derive(Debug)]
pub(crate) struct Unrepresentable(pub(crate) String);

/// Results nest no deeper than payload plus expression allow; this is a backstop against a
/// stack overflow should that reasoning ever be wrong.
const MAX_RESULT_DEPTH: usize = 512;

/// Converts an evaluation result to JSON.
pub(crate) fn to_json(value: &dyn Val) -> Result<Value, Unrepresentable> {
    to_json_at(value, 0)
}

fn to_json_at(value: &dyn Val, depth: usize) -> Result<Value, Unrepresentable> {
    if depth > MAX_RESULT_DEPTH {
        return Err(Unrepresentable("the result nests too deeply".to_owned()));
    }
    let kind = value.get_type().kind();
    let unrepresentable = || Unrepresentable(format!("a `{}`", value.get_type().name()));
    Ok(match kind {
        Kind::NullType => Value::Null,
        Kind::Boolean => Value::Bool(
            *value
                .downcast_ref::<CelBool>()
                .ok_or_else(unrepresentable)?
                .inner(),
        ),
        Kind::Int => Value::from(
            *value
                .downcast_ref::<CelInt>()
                .ok_or_else(unrepresentable)?
                .inner(),
        ),
        Kind::UInt => Value::from(
            *value
                .downcast_ref::<CelUInt>()
                .ok_or_else(unrepresentable)?
                .inner(),
        ),
        Kind::Double => {
            let d = *value
                .downcast_ref::<CelDouble>()
                .ok_or_else(unrepresentable)?
                .inner();
            Value::Number(Number::from_f64(d).ok_or_else(|| {
                Unrepresentable(format!("the double {d}, which JSON cannot hold"))
            })?)
        }
        Kind::String => Value::String(
            value
                .downcast_ref::<CelString>()
                .ok_or_else(unrepresentable)?
                .inner()
                .to_owned(),
        ),
        Kind::Bytes => Value::String(
            base64::engine::general_purpose::STANDARD.encode(
                value
                    .downcast_ref::<CelBytes>()
                    .ok_or_else(unrepresentable)?
                    .inner(),
            ),
        ),
        Kind::Timestamp => Value::String(timestamp_to_json(
            value
                .downcast_ref::<CelTimestamp>()
                .ok_or_else(unrepresentable)?
                .inner(),
        )),
        Kind::Duration => Value::String(duration_to_json(
            value
                .downcast_ref::<CelDuration>()
                .ok_or_else(unrepresentable)?
                .inner(),
        )),
        Kind::List => {
            let mut items = Vec::new();
            let mut elements = value.as_iterable().ok_or_else(unrepresentable)?.iter();
            while let Some(item) = elements.next() {
                items.push(to_json_at(item, depth + 1)?);
            }
            Value::Array(items)
        }
        Kind::Map => Value::Object(map_to_json(value, depth)?),
        _ => match value.downcast_ref::<CelOptional>() {
            Some(optional) => match optional.inner() {
                Some(inner) => to_json_at(inner, depth + 1)?,
                None => Value::Null,
            },
            None => return Err(unrepresentable()),
        },
    })
}

/// A CEL map (the interpreter's or a payload object) as a JSON object; non-string keys are
/// written as their JSON text (`1`, `true`).
pub(crate) fn map_to_json(
    map: &dyn Val,
    depth: usize,
) -> Result<Map<String, Value>, Unrepresentable> {
    if let Some(map) = map.downcast_ref::<CelMap>() {
        let mut object = Map::new();
        for (key, item) in map.inner() {
            let key = key_text(key.inner()).unwrap_or_default();
            object.insert(key, to_json_at(item.as_ref(), depth + 1)?);
        }
        return Ok(object);
    }
    let missing = || Unrepresentable(format!("a `{}`", map.get_type().name()));
    let indexer = map.as_indexer().ok_or_else(missing)?;
    let mut keys = map.as_iterable().ok_or_else(missing)?.iter();
    let mut object = Map::new();
    while let Some(key) = keys.next() {
        let item = indexer
            .get(key)
            .map_err(|e| Unrepresentable(format!("a map whose key cannot be read back: {e}")))?;
        let key = key_text(key).ok_or_else(|| Unrepresentable(format!("a map key {key:?}")))?;
        object.insert(key, to_json_at(item.as_ref(), depth + 1)?);
    }
    Ok(object)
}

/// A map key as the text of a JSON object's key: strings as they are, `int`, `uint` and `bool`
/// as their literal text; `None` for a value that cannot be a map key.
pub(crate) fn key_text(key: &dyn Val) -> Option<String> {
    if let Some(s) = key.downcast_ref::<CelString>() {
        return Some(s.inner().to_owned());
    }
    if let Some(i) = key.downcast_ref::<CelInt>() {
        return Some(i.inner().to_string());
    }
    if let Some(u) = key.downcast_ref::<CelUInt>() {
        return Some(u.inner().to_string());
    }
    if let Some(b) = key.downcast_ref::<CelBool>() {
        return Some(b.inner().to_string());
    }
    None
}

/// RFC 3339 in UTC with a `Z`, and only as many fractional digits as needed (0, 3, 6 or 9).
pub(crate) fn timestamp_to_json(ts: &chrono::DateTime<chrono::FixedOffset>) -> String {
    ts.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Protobuf's JSON form of a duration: seconds, a fraction without trailing zeros, and `s`.
pub(crate) fn duration_to_json(d: &chrono::Duration) -> String {
    let negative = *d < chrono::Duration::zero();
    let abs = if negative { -*d } else { *d };
    let seconds = abs.num_seconds();
    let nanos = (abs - chrono::Duration::seconds(seconds))
        .num_nanoseconds()
        .unwrap_or(0);
    let sign = if negative { "-" } else { "" };
    if nanos == 0 {
        format!("{sign}{seconds}s")
    } else {
        let fraction = format!("{nanos:09}");
        format!("{sign}{seconds}.{}s", fraction.trim_end_matches('0'))
    }
}

pub(crate) fn unrepresentable_error(err: Unrepresentable, expression: &str) -> CelError {
    CelError::new(
        CelErrorKind::Unrepresentable,
        format!("the result holds {}, which has no JSON form", err.0),
        expression,
    )
}
