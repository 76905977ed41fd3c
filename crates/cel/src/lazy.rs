//! The payload as CEL values, converted only where an expression looks.
//!
//! Scalars become the interpreter's own values (strings borrow the payload's bytes). Objects
//! and arrays become [`JsonObject`] and [`JsonArray`], which report the `map` and `list` types
//! and convert a member when it is selected, indexed or iterated over. A mapping that reads ten
//! fields of a finding with two hundred therefore converts ten.

use cel::ExecutionError;
use cel::common::traits::{self, Adder, Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelNull, CelString, CelUInt, Kind, LIST_TYPE,
    MAP_TYPE, Type,
};
use cel::common::value::{CowVal, Val};
use serde_json::{Map, Number, Value};
use std::sync::OnceLock;

/// A JSON value as a CEL value. Integers are `int` (`uint` above `i64::MAX`), other numbers
/// `double`.
pub(crate) fn to_val(value: &Value) -> Box<dyn Val + '_> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => number(n),
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(items) => Box::new(JsonArray::new(items)),
        Value::Object(fields) => Box::new(JsonObject::new(fields)),
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

/// Whether `value` is one of ours rather than the interpreter's own `map` or `list`: the
/// interpreter's containers only compare equal to their own kind, so equality must be asked of
/// ours (see [`crate::functions::equals`]).
pub(crate) fn is_lazy(value: &dyn Val) -> bool {
    match value.get_type().kind() {
        Kind::Map => value.downcast_ref::<CelMap>().is_none(),
        Kind::List => value.downcast_ref::<CelList>().is_none(),
        _ => false,
    }
}

/// Whether `other` is a `kind` container of `len` members: the cheap test before comparing members.
fn same_kind_and_size(other: &dyn Val, kind: Kind, len: usize) -> bool {
    other.get_type().kind() == kind
        && other
            .as_sizer()
            .is_some_and(|s| *s.size().inner() == len as i64)
}

/// The `Val`, `Sizer` and `Zeroer` impls both lazy containers share: the CEL type they report
/// (`$cel_type`), the capabilities they lend (container, indexer, iterable, sizer, zeroer, and
/// any in `$extra`), a clone that borrows the same payload, and a size and emptiness that are
/// those of the payload (`$payload`) without converting it.
macro_rules! lazy_container_val {
    ($ty:ident, $cel_type:ident, $payload:ident, { $($extra:tt)* }) => {
        impl<'v> Val for $ty<'v> {
            fn get_type(&self) -> &Type {
                &$cel_type
            }

            fn cel_type() -> &'static Type {
                &$cel_type
            }

            fn as_container(&self) -> Option<&dyn Container> {
                Some(self)
            }

            fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
            where
                Self: 'w,
            {
                Some(self)
            }

            fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
            where
                Self: 'w,
            {
                Some(self)
            }

            fn as_sizer(&self) -> Option<&dyn Sizer> {
                Some(self)
            }

            fn as_zeroer(&self) -> Option<&dyn Zeroer> {
                Some(self)
            }

            fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
            where
                Self: 'w,
            {
                Box::new($ty::new(self.$payload))
            }

            $($extra)*
        }

        impl Sizer for $ty<'_> {
            fn size(&self) -> CelInt {
                CelInt::from(self.$payload.len() as i64)
            }
        }

        impl Zeroer for $ty<'_> {
            fn is_zero_value(&self) -> bool {
                self.$payload.is_empty()
            }
        }
    };
}

/// A JSON object seen as a CEL `map` with string keys.
#[derive(Debug)]
pub(crate) struct JsonObject<'v> {
    fields: &'v Map<String, Value>,
    /// The keys as CEL strings, made on the first iteration (iterators lend references).
    keys: OnceLock<Vec<CelString<'v>>>,
}

impl<'v> JsonObject<'v> {
    pub(crate) fn new(fields: &'v Map<String, Value>) -> Self {
        Self {
            fields,
            keys: OnceLock::new(),
        }
    }
}

lazy_container_val!(JsonObject, MAP_TYPE, fields, {
    fn equals(&self, other: &dyn Val) -> bool {
        if !same_kind_and_size(other, Kind::Map, self.fields.len()) {
            return false;
        }
        let Some(indexer) = other.as_indexer() else {
            return false;
        };
        self.fields.iter().all(|(key, value)| {
            indexer
                .get(&CelString::from(key.as_str()))
                .is_ok_and(|theirs| to_val(value).equals(theirs.as_ref()))
        })
    }
});

fn key_error(key: &dyn Val) -> ExecutionError {
    match key.get_type().kind() {
        // a JSON object only has string keys: other key types are simply absent
        Kind::Int | Kind::UInt | Kind::Boolean | Kind::Double => {
            ExecutionError::no_such_key(&format!("{key:?}"))
        }
        _ => ExecutionError::UnexpectedType {
            got: key.get_type().name().to_owned(),
            want: "map key".to_owned(),
        },
    }
}

impl<'v> Indexer for JsonObject<'v> {
    fn get<'b, 'w>(&'b self, key: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        let Some(name) = key.downcast_ref::<CelString>() else {
            return Err(key_error(key));
        };
        match self.fields.get(name.inner()) {
            Some(value) => Ok(CowVal::Owned(to_val(value))),
            None => Err(ExecutionError::no_such_key(name.inner())),
        }
    }

    fn steal<'w>(self: Box<Self>, key: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.get(key).map(CowVal::into_owned)
    }
}

impl Container for JsonObject<'_> {
    fn contains(&self, key: &dyn Val) -> Result<bool, ExecutionError> {
        match key.downcast_ref::<CelString>() {
            Some(name) => Ok(self.fields.contains_key(name.inner())),
            None => match key.get_type().kind() {
                Kind::Int | Kind::UInt | Kind::Boolean | Kind::Double => Ok(false),
                _ => Err(ExecutionError::UnsupportedKeyType(
                    key.try_into().unwrap_or(cel::Value::Null),
                )),
            },
        }
    }
}

/// Lends the elements of a slice of values.
struct Lender<'b, T> {
    items: std::slice::Iter<'b, T>,
}

impl<'b, 'v, 'w> traits::Iterator<'b, 'w> for Lender<'b, CelString<'v>>
where
    'v: 'w,
{
    fn next(&mut self) -> Option<&'b (dyn Val + 'w)> {
        self.items.next().map(|s| s as &(dyn Val + 'w))
    }
}

impl<'b, 'v, 'w> traits::Iterator<'b, 'w> for Lender<'b, Box<dyn Val + 'v>>
where
    'v: 'w,
{
    fn next(&mut self) -> Option<&'b (dyn Val + 'w)> {
        self.items.next().map(|v| v.as_ref() as &(dyn Val + 'w))
    }
}

impl<'v> Iterable for JsonObject<'v> {
    fn iter<'b, 'w>(&'b self) -> Box<dyn traits::Iterator<'b, 'w> + 'b>
    where
        Self: 'w,
    {
        let keys = self.keys.get_or_init(|| {
            self.fields
                .keys()
                .map(|k| CelString::from(k.as_str()))
                .collect()
        });
        Box::new(Lender { items: keys.iter() })
    }
}

/// A JSON array seen as a CEL `list`.
#[derive(Debug)]
pub(crate) struct JsonArray<'v> {
    items: &'v [Value],
    /// The elements as CEL values, made on the first iteration or search.
    converted: OnceLock<Vec<Box<dyn Val + 'v>>>,
}

impl<'v> JsonArray<'v> {
    pub(crate) fn new(items: &'v [Value]) -> Self {
        Self {
            items,
            converted: OnceLock::new(),
        }
    }

    fn converted(&self) -> &[Box<dyn Val + 'v>] {
        self.converted
            .get_or_init(|| self.items.iter().map(to_val).collect())
    }

    fn position(&self, idx: &dyn Val) -> Result<Option<usize>, ExecutionError> {
        let i: Option<i128> = match idx.get_type().kind() {
            Kind::Int => idx.downcast_ref::<CelInt>().map(|i| i128::from(*i.inner())),
            Kind::UInt => idx
                .downcast_ref::<CelUInt>()
                .map(|u| i128::from(*u.inner())),
            Kind::Double => idx.downcast_ref::<CelDouble>().and_then(|d| {
                let d = *d.inner();
                (d.fract() == 0.0 && d.abs() < 9.0e18).then_some(d as i128)
            }),
            _ => {
                return Err(ExecutionError::UnexpectedType {
                    got: idx.get_type().name().to_owned(),
                    want: "int|uint|double".to_owned(),
                });
            }
        };
        Ok(i.and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < self.items.len()))
    }
}

lazy_container_val!(JsonArray, LIST_TYPE, items, {
    fn as_adder<'b, 'w>(&'b self) -> Option<&'b (dyn Adder + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    fn equals(&self, other: &dyn Val) -> bool {
        if !same_kind_and_size(other, Kind::List, self.items.len()) {
            return false;
        }
        let Some(iterable) = other.as_iterable() else {
            return false;
        };
        let mut theirs = iterable.iter();
        self.converted()
            .iter()
            .all(|ours| theirs.next().is_some_and(|t| ours.equals(t)))
    }
});

impl<'v> Indexer for JsonArray<'v> {
    fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        match self.position(idx)? {
            Some(i) => Ok(CowVal::Owned(to_val(&self.items[i]))),
            None => Err(ExecutionError::IndexOutOfBounds(
                idx.try_into().unwrap_or(cel::Value::Null),
            )),
        }
    }

    fn steal<'w>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
    where
        Self: 'w,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

impl<'v> Iterable for JsonArray<'v> {
    fn iter<'b, 'w>(&'b self) -> Box<dyn traits::Iterator<'b, 'w> + 'b>
    where
        Self: 'w,
    {
        Box::new(Lender {
            items: self.converted().iter(),
        })
    }
}

impl Container for JsonArray<'_> {
    fn contains(&self, value: &dyn Val) -> Result<bool, ExecutionError> {
        Ok(self.converted().iter().any(|item| item.equals(value)))
    }
}

impl<'v> Adder for JsonArray<'v> {
    fn add<'b, 'w>(&'b self, rhs: &(dyn Val + 'w)) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        let Some(rhs_items) = rhs.as_iterable() else {
            return Err(ExecutionError::no_such_overload(
                "_+_",
                vec!["list".to_owned(), rhs.get_type().name().to_owned()],
            ));
        };
        let mut joined: Vec<Box<dyn Val + 'w>> = self
            .converted()
            .iter()
            .map(|item| item.clone_as_boxed())
            .collect();
        let mut rest = rhs_items.iter();
        while let Some(item) = rest.next() {
            joined.push(item.clone_as_boxed());
        }
        Ok(CowVal::owned(CelList::from(joined)))
    }
}
