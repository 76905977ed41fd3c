//! Our own overloads: internal functions the compiled programs are rewritten to call, and
//! guarded replacements for library functions whose cost depends on their arguments.

use crate::budget::{self, charge_bytes, string_too_long};
use cel::ExecutionError;
use cel::common::types::{CelBool, CelInt, CelString, Kind};
use cel::common::value::{CowVal, Val};

/// `==` and `!=`, asking a payload object or array (which knows how to compare itself with the
/// interpreter's maps and lists) rather than the interpreter's, which only knows its own. Not
/// valid CEL identifiers, so no expression can call them by name.
pub(crate) const EQUALS: &str = "@tributary_equals";
pub(crate) const NOT_EQUALS: &str = "@tributary_not_equals";

fn equal(a: &dyn Val, b: &dyn Val) -> bool {
    if crate::lazy::is_lazy(b) && !crate::lazy::is_lazy(a) {
        b.equals(a)
    } else {
        a.equals(b)
    }
}

static TRUE: CelBool = CelBool::TRUE;
static FALSE: CelBool = CelBool::FALSE;

fn boolean<'b, 'v>(value: bool) -> CowVal<'b, 'v> {
    CowVal::Borrowed(if value { &TRUE } else { &FALSE })
}

/// Comparing containers visits their elements, all levels down: charged before comparing.
fn charge_comparison(a: &dyn Val, b: &dyn Val) -> Result<(), ExecutionError> {
    let container = |v: &dyn Val| matches!(v.get_type().kind(), Kind::List | Kind::Map);
    if container(a) && container(b) {
        budget::charge_comparison(a, b)?;
    }
    Ok(())
}

pub(crate) fn equals<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    charge_comparison(args[0].as_ref(), args[1].as_ref())?;
    Ok(boolean(equal(args[0].as_ref(), args[1].as_ref())))
}

pub(crate) fn not_equals<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    charge_comparison(args[0].as_ref(), args[1].as_ref())?;
    Ok(boolean(!equal(args[0].as_ref(), args[1].as_ref())))
}

/// `replace` on strings, checked before it runs: `s.replace('', big)` grows the string by
/// `len(s) * len(big)`, so the result size is bounded first. Declared ahead of the strings
/// extension's overloads, which it therefore replaces.
pub(crate) fn guarded_replace<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let strings: Option<Vec<&str>> = args[..3]
        .iter()
        .map(|a| a.downcast_ref::<CelString>().map(CelString::inner))
        .collect();
    let Some(strings) = strings else {
        return Err(ExecutionError::no_such_member_overload(
            "replace",
            args.iter()
                .map(|a| a.get_type().name().to_owned())
                .collect(),
        ));
    };
    let (this, from, to) = (strings[0], strings[1], strings[2]);
    let limit = match args.get(3) {
        None => None,
        Some(n) => match n.downcast_ref::<CelInt>() {
            Some(n) => usize::try_from(*n.inner()).ok(),
            None => {
                return Err(ExecutionError::no_such_member_overload(
                    "replace",
                    args.iter()
                        .map(|a| a.get_type().name().to_owned())
                        .collect(),
                ));
            }
        },
    };
    // counting the occurrences is a pass over the string: paid for first
    charge_bytes(this.len())?;
    let occurrences = if from.is_empty() {
        this.chars().count() + 1
    } else {
        this.matches(from).count()
    };
    let occurrences = limit.map_or(occurrences, |n| n.min(occurrences));
    let grown = this
        .len()
        .saturating_add(occurrences.saturating_mul(to.len()));
    string_too_long(grown)?;
    charge_bytes(grown)?;
    let replaced = match limit {
        Some(n) => this.replacen(from, to, n),
        None => this.replace(from, to),
    };
    Ok(CowVal::owned(CelString::from(replaced)))
}
