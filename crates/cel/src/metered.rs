//! Metered library functions: each library function whose work or result grows with its
//! arguments first checks the size of what it would build against the limits and charges the
//! work budget. A method whose cost its target alone decides gets its target wrapped in a
//! charging function when the program is compiled ([`method`]); the others are shadowed by an
//! overload that checks and charges, then runs the library's own function. The interpreter
//! tries overloads in the order they are declared, so these are declared ahead of the
//! extensions (see [`crate::environment::build`]).
//!
//! `+` is an operator the interpreter runs itself; compiled programs are rewritten to call
//! [`ADD`] instead (see [`crate::check::meter`]).

use crate::budget::{
    charge, charge_bytes, charge_copy, deep_size, list_too_long, size_within_budget,
    string_too_long,
};
use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue};
use cel::common::functions::Function;
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelInt, CelList, CelMap, CelString, CelUInt, Kind,
};
use cel::common::value::{CowVal, Val};
use cel::{Context, Env, ExecutionError, Value};
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

/// `+`, metered. Not a valid CEL identifier, so no expression can call it by name.
pub(crate) const ADD: &str = "@tributary_add";

/// The overloads to declare: (function, member or global, number of arguments besides the
/// target, the metered overload).
pub(crate) const OVERLOADS: &[(&str, bool, usize, Function)] = &[
    (JOIN, true, 1, join),
    ("split", true, 1, split),
    ("split", true, 2, split),
    ("format", true, 1, format),
    ("distinct", true, 0, distinct),
    ("slice", true, 2, slice),
    ("indexOf", true, 1, index_of),
    ("indexOf", true, 2, index_of),
    ("lastIndexOf", true, 1, last_index_of),
    ("lastIndexOf", true, 2, last_index_of),
    ("strings.quote", false, 1, quote),
    ("base64.encode", false, 1, base64_encode),
    ("base64.decode", false, 1, base64_decode),
    ("lists.range", false, 1, range),
    ("math.@max", false, 1, greatest),
    ("math.@min", false, 1, least),
    (CHARGE_TARGET, false, 1, charge_target),
    (CHARGE_SORT, false, 1, charge_sort),
    (CHARGE_FLATTEN, false, 1, charge_flatten),
    (CHARGE_JOIN, false, 2, charge_join),
];

/// Methods whose cost depends on their target alone are not shadowed: their target is wrapped
/// in one of these (see [`method`]), which checks and charges, then hands it on untouched, so
/// the library's function runs as it is, on the value as it is.
///
/// A copy of, or a pass over, the target (a string's bytes, a list's elements).
pub(crate) const CHARGE_TARGET: &str = "@tributary_charge_target";
/// Sorting the target.
pub(crate) const CHARGE_SORT: &str = "@tributary_charge_sort";
/// Flattening the target.
pub(crate) const CHARGE_FLATTEN: &str = "@tributary_charge_flatten";
/// Joining the target with a separator of a known length (`join()`, `join(',')`).
pub(crate) const CHARGE_JOIN: &str = "@tributary_charge_join";
/// `join` with a separator computed at run time, metered by an overload of its own.
pub(crate) const JOIN: &str = "@tributary_join";

/// How a method call is metered, decided when the program is compiled.
pub(crate) enum Method {
    /// By wrapping its target in this function, with this extra argument (an `int`).
    WrapTarget(&'static str, Option<i64>),
    /// By calling this metered overload instead.
    Rename(&'static str),
    /// By an overload that shadows the library's, or not at all.
    AsIs,
}

/// How a call of the method `function` with `args` (besides the target) is metered.
pub(crate) fn method(function: &str, args: &[IdedExpr]) -> Method {
    match (function, args) {
        ("lowerAscii" | "upperAscii" | "trim" | "charAt" | "substring" | "reverse", _) => {
            Method::WrapTarget(CHARGE_TARGET, None)
        }
        ("sort" | "@sortByAssociatedKeys", _) => Method::WrapTarget(CHARGE_SORT, None),
        ("flatten", _) => Method::WrapTarget(CHARGE_FLATTEN, None),
        ("join", []) => Method::WrapTarget(CHARGE_JOIN, Some(0)),
        ("join", [separator]) => match &separator.expr {
            Expr::Literal(LiteralValue::String(s)) => {
                Method::WrapTarget(CHARGE_JOIN, Some(s.inner().len() as i64))
            }
            _ => Method::Rename(JOIN),
        },
        _ => Method::AsIs,
    }
}

/// A wrapper's target, handed on once `cost` has been paid.
fn pass<'b, 'v>(
    mut args: Vec<CowVal<'b, 'v>>,
    cost: fn(&[CowVal<'_, '_>]) -> Result<(), ExecutionError>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    cost(&args)?;
    Ok(args.swap_remove(0))
}

fn charge_target<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    pass(args, target_cost)
}

fn charge_sort<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    pass(args, sort_cost)
}

fn charge_flatten<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    pass(args, flatten_cost)
}

fn charge_join<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    pass(args, |args| {
        let separator = int(args.get(1)).and_then(|n| usize::try_from(n).ok());
        join_cost(args.first(), separator.unwrap_or(0))
    })
}

/// The library as the interpreter has it, without our overloads: what a metered overload
/// runs once it has paid.
fn library() -> &'static Arc<Env> {
    static LIBRARY: OnceLock<Arc<Env>> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let mut env = Env::stdlib();
        crate::environment::add_extensions(&mut env)
            .expect("the CEL library's declarations are consistent");
        Arc::new(env)
    })
}

/// Runs the library's own `function` on `args` (the target first, for a method). The
/// interpreter offers no way to look up a method's overload, so the call is evaluated in a
/// context of its own, holding the arguments as variables.
fn run_library<'b, 'v>(
    function: &str,
    member: bool,
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    const NAMES: [&str; 4] = ["a0", "a1", "a2", "a3"];
    if !member && let Some(op) = library().find_overload(function, &args) {
        return op(args);
    }
    let count = args.len();
    let mut context = Context::with_env(Arc::clone(library()));
    for (name, arg) in NAMES.iter().zip(args) {
        context.add_variable_as_val(*name, arg.into_owned());
    }
    let ident = |name: &str| IdedExpr {
        id: 0,
        expr: Expr::Ident(name.to_owned()),
    };
    let names = &NAMES[..count.min(NAMES.len())];
    let (target, rest) = match (member, names.split_first()) {
        (true, Some((first, rest))) => (Some(Box::new(ident(first))), rest),
        _ => (None, names),
    };
    let call = IdedExpr {
        id: 0,
        expr: Expr::Call(CallExpr {
            func_name: function.to_owned(),
            target,
            args: rest.iter().map(|name| ident(name)).collect(),
        }),
    };
    let result = Value::resolve_val(&call, &context)?.into_owned();
    Ok(CowVal::Owned(result))
}

fn string<'a>(value: Option<&'a CowVal<'_, '_>>) -> Option<&'a str> {
    value?.downcast_ref::<CelString>().map(CelString::inner)
}

fn int(value: Option<&CowVal<'_, '_>>) -> Option<i64> {
    value?.downcast_ref::<CelInt>().map(|i| *i.inner())
}

fn size(value: &dyn Val) -> usize {
    value.as_sizer().map_or(0, |sizer| {
        usize::try_from(*sizer.size().inner()).unwrap_or(0)
    })
}

/// Declares a metered overload: `$cost` checks and charges, then the library runs.
macro_rules! metered {
    ($(#[$doc:meta])* $name:ident, $function:literal, $member:literal, $cost:expr) => {
        $(#[$doc])*
        fn $name<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
            let cost: fn(&[CowVal<'_, '_>]) -> Result<(), ExecutionError> = $cost;
            cost(&args)?;
            run_library($function, $member, args)
        }
    };
}

/// `list.join(sep)`: the result's bytes, the strings' and the separators'.
fn join_cost(list: Option<&CowVal<'_, '_>>, separator: usize) -> Result<(), ExecutionError> {
    let Some(items) = list.and_then(|list| list.as_iterable()) else {
        return Ok(());
    };
    let mut bytes = 0usize;
    let mut count = 0usize;
    let mut items = items.iter();
    while let Some(item) = items.next() {
        count += 1;
        if let Some(s) = item.downcast_ref::<CelString>() {
            bytes = bytes.saturating_add(s.inner().len());
        }
    }
    bytes = bytes.saturating_add(separator.saturating_mul(count.saturating_sub(1)));
    string_too_long(bytes)?;
    charge(count as u64)?;
    charge_bytes(bytes)
}

metered!(
    /// `list.join(sep)` with a separator computed at run time.
    join, "join", true, |args| {
        join_cost(args.first(), string(args.get(1)).map_or(0, str::len))
    }
);

metered!(
    /// `s.split(sep[, n])`: the pieces, at most one per occurrence of the separator (or per
    /// character, for an empty one).
    split, "split", true, |args| {
        let (Some(this), Some(separator)) = (string(args.first()), string(args.get(1))) else {
            return Ok(());
        };
        charge_bytes(this.len())?;
        let mut pieces = if separator.is_empty() {
            this.chars().count()
        } else {
            this.matches(separator).count() + 1
        };
        // a negative limit is no limit
        if let Some(n) = int(args.get(2)).and_then(|n| usize::try_from(n).ok()) {
            pieces = pieces.min(n);
        }
        list_too_long(pieces)?;
        charge(pieces as u64)
    }
);

/// Bytes a formatted value may take: its strings and bytes (escaped), 32 per other element,
/// 64 per element of a payload object. A number printed with the 100 digits of precision
/// `format` allows is accounted for per clause. Stops counting past `cap`.
fn formatted_size(value: &dyn Val, cap: usize) -> usize {
    let mut bytes = 0usize;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        if bytes > cap {
            break;
        }
        if let Some(s) = value.downcast_ref::<CelString>() {
            bytes = bytes.saturating_add(s.inner().len() + 2);
        } else if let Some(b) = value.downcast_ref::<CelBytes>() {
            bytes = bytes.saturating_add(b.inner().len().saturating_mul(4) + 3);
        } else if let Some(map) = value.downcast_ref::<CelMap>() {
            bytes += 2;
            for item in map.inner().values() {
                bytes += 36;
                pending.push(item.as_ref());
            }
        } else if value.get_type().kind() == Kind::Map {
            // a payload object: its strings are counted one unit per 64 bytes
            let elements = deep_size(value, (cap / 64) as u64 + 1);
            bytes = bytes.saturating_add((elements as usize).saturating_mul(64));
        } else if let Some(items) = value.as_iterable() {
            bytes += 2;
            let mut items = items.iter();
            while let Some(item) = items.next() {
                bytes += 2;
                pending.push(item);
            }
        } else {
            bytes += 32;
        }
    }
    bytes
}

metered!(
    /// `fmt.format(args)`: the format and its arguments' text, with room for the widest
    /// number per clause.
    format, "format", true, |args| {
        let (Some(template), Some(values)) = (string(args.first()), args.get(1)) else {
            return Ok(());
        };
        charge_bytes(template.len())?;
        charge_copy(values.as_ref())?;
        let clauses = template.matches('%').count();
        let bytes = template
            .len()
            .saturating_add(clauses.saturating_mul(512))
            .saturating_add(formatted_size(values.as_ref(), usize::MAX / 128));
        string_too_long(bytes)?;
        charge_bytes(bytes)
    }
);

/// Charges `n log n` for sorting `n` elements, after checking the result's size.
fn sort_cost(args: &[CowVal<'_, '_>]) -> Result<(), ExecutionError> {
    let n = args.first().map_or(0, |list| size(list.as_ref()));
    list_too_long(n)?;
    let log = u64::from(usize::BITS - n.leading_zeros()).max(1);
    charge((n as u64).saturating_mul(log))
}

/// `list.flatten([depth])`: at most every element, all levels down.
fn flatten_cost(args: &[CowVal<'_, '_>]) -> Result<(), ExecutionError> {
    let Some(list) = args.first() else {
        return Ok(());
    };
    let elements = size_within_budget(list.as_ref());
    list_too_long(usize::try_from(elements).unwrap_or(usize::MAX))?;
    charge(elements)
}

/// Charges for a copy of, or a pass over, the target: a string's bytes or a list's elements.
fn target_cost(args: &[CowVal<'_, '_>]) -> Result<(), ExecutionError> {
    let Some(target) = args.first() else {
        return Ok(());
    };
    match string(Some(target)) {
        Some(s) => charge_bytes(s.len()),
        None => {
            let n = size(target.as_ref());
            list_too_long(n)?;
            charge(n as u64 + 1)
        }
    }
}

metered!(
    /// `list.slice(start, end)`: the elements it copies.
    slice, "slice", true, |args| {
        let n = match (int(args.get(1)), int(args.get(2))) {
            (Some(start), Some(end)) => usize::try_from(end.saturating_sub(start)).unwrap_or(0),
            _ => 0,
        };
        list_too_long(n)?;
        charge(n as u64 + 1)
    }
);
/// A search compares the needle at each place in the string: `(n - m + 1) * m` characters.
fn search_cost(args: &[CowVal<'_, '_>]) -> Result<(), ExecutionError> {
    let n = string(args.first()).map_or(0, str::len);
    let m = string(args.get(1)).map_or(0, str::len);
    charge_bytes(n)?;
    charge_bytes(n.saturating_sub(m).saturating_add(1).saturating_mul(m))
}

metered!(index_of, "indexOf", true, search_cost);
metered!(last_index_of, "lastIndexOf", true, search_cost);

metered!(
    /// `strings.quote(s)`: the quotes, and a backslash before each character it escapes.
    quote, "strings.quote", false, |args| {
        let Some(this) = string(args.first()) else { return Ok(()) };
        charge_bytes(this.len())?;
        let escapes = this
            .bytes()
            .filter(|b| matches!(b, 0x07..=0x0d | b'\\' | b'"'))
            .count();
        let len = this.len().saturating_add(escapes).saturating_add(2);
        string_too_long(len)?;
        charge_bytes(len)
    }
);
metered!(
    /// `base64.encode(b)`: 4 bytes for each 3.
    base64_encode, "base64.encode", false, |args| {
        let len = args
            .first()
            .and_then(|b| b.downcast_ref::<CelBytes>())
            .map_or(0, |b| b.inner().len());
        string_too_long(len.div_ceil(3).saturating_mul(4))?;
        charge_bytes(len)
    }
);
metered!(base64_decode, "base64.decode", false, target_cost);

/// A pass over a list argument: its elements.
fn scan_cost(args: &[CowVal<'_, '_>]) -> Result<(), ExecutionError> {
    let n = args.first().map_or(0, |list| size(list.as_ref()));
    charge(n as u64 + 1)
}

metered!(
    /// `math.greatest(list)`, which the math extension expands to `math.@max(list)` (its other
    /// forms take numbers).
    greatest, "math.@max", false, scan_cost
);
metered!(
    /// `math.least(list)`, expanded to `math.@min(list)`.
    least, "math.@min", false, scan_cost
);

/// `lists.range(n)`: checked and charged before the list is allocated.
fn range<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    if let Some(n) = int(args.first()).and_then(|n| usize::try_from(n).ok()) {
        list_too_long(n)?;
        charge(n as u64 + 1)?;
    }
    run_library("lists.range", false, args)
}

/// A scalar by its CEL equality: numbers equal across `int`, `uint` and `double` when they
/// are the same number, so they share one key.
#[derive(Hash, PartialEq, Eq)]
enum Key<'a> {
    Null,
    Bool(bool),
    Whole(i128),
    Fraction(u64),
    String(&'a str),
    Bytes(&'a [u8]),
}

/// The key of a scalar; `None` for anything else (and for NaN, equal to nothing).
fn key<'a>(value: &'a dyn Val) -> Option<Key<'a>> {
    if let Some(i) = value.downcast_ref::<CelInt>() {
        return Some(Key::Whole(i128::from(*i.inner())));
    }
    if let Some(u) = value.downcast_ref::<CelUInt>() {
        return Some(Key::Whole(i128::from(*u.inner())));
    }
    if let Some(d) = value.downcast_ref::<CelDouble>() {
        let d = *d.inner();
        if d.is_nan() {
            return None;
        }
        // 2^127: every whole double below it is exactly an i128
        if d.fract() == 0.0 && d.abs() < 1.7e38 {
            return Some(Key::Whole(d as i128));
        }
        return Some(Key::Fraction(d.to_bits()));
    }
    if let Some(s) = value.downcast_ref::<CelString>() {
        return Some(Key::String(s.inner()));
    }
    if let Some(b) = value.downcast_ref::<CelBytes>() {
        return Some(Key::Bytes(b.inner()));
    }
    if let Some(b) = value.downcast_ref::<CelBool>() {
        return Some(Key::Bool(*b.inner()));
    }
    (value.get_type().kind() == Kind::NullType).then_some(Key::Null)
}

/// `list.distinct()`: the first of each set of equal elements, in order. Scalars are found
/// equal by hashing, in one pass; other values (lists, maps, timestamps, ...) are compared
/// with the distinct values of their kind seen so far, each comparison charged before it is
/// made.
fn distinct<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let Some(items) = args
        .first()
        .filter(|_| args.len() == 1)
        .and_then(|l| l.as_iterable())
    else {
        return run_library("distinct", true, args);
    };
    let n = args.first().map_or(0, |list| size(list.as_ref()));
    list_too_long(n)?;
    charge(n as u64 + 1)?;
    let mut scalars = HashSet::new();
    let mut others: Vec<&dyn Val> = Vec::new();
    let mut unique: Vec<Box<dyn Val + 'v>> = Vec::new();
    let mut items = items.iter();
    while let Some(item) = items.next() {
        let new = match key(item) {
            Some(key) => scalars.insert(key),
            None if item.downcast_ref::<CelDouble>().is_some() => true,
            None => {
                charge(others.len() as u64)?;
                let new = !others.iter().any(|seen| item.equals(*seen));
                if new {
                    others.push(item);
                }
                new
            }
        };
        if new {
            unique.push(item.clone_as_boxed());
        }
    }
    Ok(CowVal::owned(CelList::from(unique)))
}

/// `a + b`, metered: strings and bytes are checked against the size limit and charged for
/// their bytes, lists against the list limit and charged for their elements all levels down,
/// before they are joined. Otherwise as the interpreter adds.
pub(crate) fn add<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (lhs, rhs) = (args[0].as_ref(), args[1].as_ref());
    if let (Some(a), Some(b)) = (
        lhs.downcast_ref::<CelString>(),
        rhs.downcast_ref::<CelString>(),
    ) {
        let len = a.inner().len().saturating_add(b.inner().len());
        string_too_long(len)?;
        charge_bytes(len)?;
    } else if let (Some(a), Some(b)) = (
        lhs.downcast_ref::<CelBytes>(),
        rhs.downcast_ref::<CelBytes>(),
    ) {
        let len = a.inner().len().saturating_add(b.inner().len());
        string_too_long(len)?;
        charge_bytes(len)?;
    } else if lhs.get_type().kind() == Kind::List {
        // The spec adds a list to a list only; the interpreter would append a map's keys.
        if rhs.get_type().kind() != Kind::List {
            return Err(ExecutionError::UnsupportedBinaryOperator(
                "add",
                Value::try_from(lhs).unwrap_or(Value::Null),
                Value::try_from(rhs).unwrap_or(Value::Null),
            ));
        }
        list_too_long(size(lhs).saturating_add(size(rhs)))?;
        charge_copy(lhs)?;
        charge_copy(rhs)?;
    } else {
        charge(1)?;
    }
    let sum = lhs
        .as_adder()
        .ok_or_else(|| {
            ExecutionError::UnsupportedBinaryOperator(
                "add",
                Value::try_from(lhs).unwrap_or(Value::Null),
                Value::try_from(rhs).unwrap_or(Value::Null),
            )
        })?
        .add(rhs)?
        .into_owned();
    Ok(CowVal::Owned(sum))
}
