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
    CelBool, CelBytes, CelDouble, CelDuration, CelInt, CelList, CelMap, CelMapKey, CelNull,
    CelOptional, CelString, CelTimestamp, CelUInt, Kind,
};
use cel::common::value::Val;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// Bytes a JSON value costs beyond its strings: an estimate of punctuation and numbers, used to
/// bound a payload that arrives already parsed.
const NODE_OVERHEAD_BYTES: usize = 8;

/// Converts a payload, enforcing the payload limits as it goes.
pub(crate) struct ToCel<'l> {
    limits: &'l Limits,
    bytes: usize,
}

impl<'l> ToCel<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        Self { limits, bytes: 0 }
    }

    pub(crate) fn convert<'v>(
        &mut self,
        value: &'v Value,
        expression: &str,
    ) -> Result<Box<dyn Val + 'v>, CelError> {
        self.value(value, 1).map_err(|which| {
            let detail = match which {
                Limit::PayloadDepth => format!(
                    "the payload nests deeper than {} levels",
                    self.limits.max_payload_depth
                ),
                _ => format!(
                    "the payload is larger than {} bytes",
                    self.limits.max_payload_bytes
                ),
            };
            CelError::limit(which, detail, expression)
        })
    }

    fn account(&mut self, bytes: usize) -> Result<(), Limit> {
        self.bytes = self.bytes.saturating_add(bytes + NODE_OVERHEAD_BYTES);
        if self.bytes > self.limits.max_payload_bytes {
            return Err(Limit::PayloadSize);
        }
        Ok(())
    }

    fn value<'v>(&mut self, value: &'v Value, depth: usize) -> Result<Box<dyn Val + 'v>, Limit> {
        if depth > self.limits.max_payload_depth {
            return Err(Limit::PayloadDepth);
        }
        Ok(match value {
            Value::Null => {
                self.account(0)?;
                Box::new(CelNull)
            }
            Value::Bool(b) => {
                self.account(0)?;
                Box::new(CelBool::from(*b))
            }
            Value::Number(n) => {
                self.account(0)?;
                number(n)
            }
            Value::String(s) => {
                self.account(s.len())?;
                Box::new(CelString::from(s.as_str()))
            }
            Value::Array(items) => {
                self.account(0)?;
                let mut list: Vec<Box<dyn Val + 'v>> = Vec::with_capacity(items.len());
                for item in items {
                    list.push(self.value(item, depth + 1)?);
                }
                Box::new(CelList::from(list))
            }
            Value::Object(fields) => {
                self.account(0)?;
                let mut map: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> =
                    HashMap::with_capacity(fields.len());
                for (key, field) in fields {
                    self.account(key.len())?;
                    map.insert(CelMapKey::from(key.as_str()), self.value(field, depth + 1)?);
                }
                Box::new(CelMap::from(map))
            }
        })
    }
}

fn number(n: &Number) -> Box<dyn Val + 'static> {
    if let Some(i) = n.as_i64() {
        Box::new(CelInt::from(i))
    } else if let Some(u) = n.as_u64() {
        Box::new(CelUInt::from(u))
    } else {
        // Without serde_json's `arbitrary_precision`, every other number is an f64.
        Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
    }
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
        Kind::Boolean => Value::Bool(*value.downcast_ref::<CelBool>().ok_or_else(unrepresentable)?.inner()),
        Kind::Int => Value::from(*value.downcast_ref::<CelInt>().ok_or_else(unrepresentable)?.inner()),
        Kind::UInt => Value::from(*value.downcast_ref::<CelUInt>().ok_or_else(unrepresentable)?.inner()),
        Kind::Double => {
            let d = *value.downcast_ref::<CelDouble>().ok_or_else(unrepresentable)?.inner();
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
            base64::engine::general_purpose::STANDARD
                .encode(value.downcast_ref::<CelBytes>().ok_or_else(unrepresentable)?.inner()),
        ),
        Kind::Timestamp => Value::String(timestamp_to_json(
            value.downcast_ref::<CelTimestamp>().ok_or_else(unrepresentable)?.inner(),
        )),
        Kind::Duration => Value::String(duration_to_json(
            value.downcast_ref::<CelDuration>().ok_or_else(unrepresentable)?.inner(),
        )),
        Kind::List => {
            let list = value.downcast_ref::<CelList>().ok_or_else(unrepresentable)?;
            Value::Array(
                list.inner()
                    .iter()
                    .map(|item| to_json_at(item.as_ref(), depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        Kind::Map => Value::Object(map_to_json(
            value.downcast_ref::<CelMap>().ok_or_else(unrepresentable)?,
            depth,
        )?),
        _ => match value.downcast_ref::<CelOptional>() {
            Some(optional) => match optional.inner() {
                Some(inner) => to_json_at(inner, depth + 1)?,
                None => Value::Null,
            },
            None => return Err(unrepresentable()),
        },
    })
}

/// A CEL map as a JSON object; non-string keys are written as their JSON text (`1`, `true`).
pub(crate) fn map_to_json(map: &CelMap, depth: usize) -> Result<Map<String, Value>, Unrepresentable> {
    let mut object = Map::with_capacity(map.inner().len());
    for (key, item) in map.inner() {
        let key = match key {
            CelMapKey::String(s) => s.inner().to_owned(),
            CelMapKey::Int(i) => i.inner().to_string(),
            CelMapKey::UInt(u) => u.inner().to_string(),
            CelMapKey::Bool(b) => b.inner().to_string(),
        };
        object.insert(key, to_json_at(item.as_ref(), depth + 1)?);
    }
    Ok(object)
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
