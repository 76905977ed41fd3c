//! Optional values as the CEL specification has them, where the interpreter is lenient.
//!
//! - `x.?f` and `x[?k]` select from a map (or index a list): a missing entry is
//!   `optional.none()`, but a value that is not a container (null, a string, a number) is an
//!   error, so that a malformed payload stops a mapping instead of mapping to nothing. The
//!   interpreter answers `optional.none()` for both; programs are rewritten to call
//!   [`OPT_SELECT`] and [`OPT_INDEX`] instead.
//! - `o.orValue(d)` and `o.or(p)` evaluate `d` and `p` only when `o` is empty. The interpreter
//!   evaluates every argument first, so `payload.?flag.orValue(payload.missing)` failed on a
//!   default it did not need. Programs are rewritten to bind `o` once, in a comprehension over
//!   no elements (the shape `cel.bind` has in the reference implementation), and choose with a
//!   conditional, which the interpreter evaluates lazily. An optional that is a plain selection
//!   (`payload.?a.?b`, `x[?0]`) costs next to nothing and cannot fail twice differently, so it
//!   is written twice instead of bound: `has(o) ? value(o) : d`, as deep as the call was. A
//!   binding nests deeper, in frames the interpreter makes large, so the depth limit is checked
//!   again on the rewritten program, a comprehension counting [`BINDING_LEVELS`] levels.

use cel::ExecutionError;
use cel::common::ast::{
    CallExpr, ComprehensionExpr, Expr, IdedExpr, ListExpr, LiteralValue, operators,
};
use cel::common::types::{CelOptional, Kind};
use cel::common::value::{CowVal, Val};

/// `x.?f`, strict about `x`. Not a valid CEL identifier, so no expression can call it by name.
pub(crate) const OPT_SELECT: &str = "@tributary_opt_select";
/// `x[?k]`, strict about `x`.
pub(crate) const OPT_INDEX: &str = "@tributary_opt_index";
/// The depth one binding counts for, its comprehension three levels and the conditional in it
/// one: the interpreter's frame for a comprehension is several times a call's (a `map` counts
/// four levels by its shape, and the limit's stack test nests those).
pub(crate) const BINDING_LEVELS: usize = 4;

/// The levels `e` counts for in the depth check of a rewritten program: a binding's
/// comprehension `BINDING_LEVELS - 1`, any other node one.
pub(crate) fn levels(e: &IdedExpr) -> usize {
    match &e.expr {
        Expr::Comprehension(c) if c.accu_var == BOUND_OPTIONAL => BINDING_LEVELS - 1,
        _ => 1,
    }
}
/// The variable an `orValue`/`or` target is bound to while its default is chosen.
const BOUND_OPTIONAL: &str = "@optional";
/// The loop variable of that binding comprehension, which never runs.
const UNUSED: &str = "@unused";

pub(crate) fn opt_select<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    select_optionally(args, operators::OPT_SELECT)
}

pub(crate) fn opt_index<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    select_optionally(args, operators::OPT_INDEX)
}

/// The entry `args[1]` of `args[0]` as an optional. An optional target applies to the value it
/// holds (an empty one stays empty); a target that is neither a map nor, for `[?k]`, a list
/// indexed by an integer is an error.
fn select_optionally<'b, 'v>(
    mut args: Vec<CowVal<'b, 'v>>,
    operator: &str,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (Some(key), Some(operand), true) = (args.pop(), args.pop(), args.is_empty()) else {
        return Err(ExecutionError::function_error(
            operator,
            "takes two arguments",
        ));
    };
    let target: &dyn Val = match operand.downcast_ref::<CelOptional>() {
        Some(optional) => match optional.option() {
            Some(value) => value,
            None => return Ok(CowVal::owned(CelOptional::none())),
        },
        None => operand.as_ref(),
    };
    let selectable = match target.get_type().kind() {
        Kind::Map => true,
        Kind::List => {
            operator == operators::OPT_INDEX
                && matches!(key.get_type().kind(), Kind::Int | Kind::UInt)
        }
        _ => false,
    };
    let indexer = target.as_indexer().filter(|_| selectable).ok_or_else(|| {
        ExecutionError::no_such_overload(
            operator,
            vec![
                target.get_type().name().to_owned(),
                key.get_type().name().to_owned(),
            ],
        )
    })?;
    // On a map or a list every failed lookup is a missing entry.
    let selected = match indexer.get(key.as_ref()) {
        Ok(value) => CelOptional::of(value.into_owned()),
        Err(_) => CelOptional::none(),
    };
    Ok(CowVal::owned(selected))
}

/// Rewrites `_?._` and `_[?_]` into the strict [`OPT_SELECT`] and [`OPT_INDEX`], `orValue` and
/// `or` into a choice that evaluates the default only when needed, and the conversions that
/// differ from cel-go into those of [`crate::conversions`]: one walk for every rewrite that makes
/// the interpreter follow the specification.
pub(crate) fn follow_the_specification(expr: &mut IdedExpr, next_id: &mut u64) {
    let mut pending: Vec<&mut IdedExpr> = vec![expr];
    while let Some(e) = pending.pop() {
        if let Expr::Call(call) = &mut e.expr {
            if call.target.is_none() && call.args.len() == 2 {
                if call.func_name == operators::OPT_SELECT {
                    call.func_name = OPT_SELECT.to_owned();
                } else if call.func_name == operators::OPT_INDEX {
                    call.func_name = OPT_INDEX.to_owned();
                }
            }
            if call.target.is_none()
                && let Some(replacement) =
                    crate::conversions::replacement(&call.func_name, call.args.len())
            {
                call.func_name = replacement.to_owned();
            }
            // A literal or a variable cannot fail and costs nothing: evaluating it first is
            // already lazy enough, and keeps the common `orValue(null)` a plain call.
            let lazy_default = call.target.is_some()
                && call.args.len() == 1
                && (call.func_name == "orValue" || call.func_name == "or")
                && !matches!(call.args[0].expr, Expr::Literal(_) | Expr::Ident(_));
            if lazy_default {
                let rewritten = choose_lazily(std::mem::take(e), next_id);
                *e = rewritten;
            }
        }
        crate::check::push_children_mut(e, &mut pending);
    }
}

/// Whether `e` is a selection path: a variable, literals, and field selections or indexes
/// (optional or not) of it by literals. Evaluating one twice costs two lookups per step.
fn is_plain_selection(e: &IdedExpr) -> bool {
    let mut pending = vec![e];
    while let Some(e) = pending.pop() {
        match &e.expr {
            Expr::Ident(_) | Expr::Literal(_) => {}
            Expr::Select(select) if !select.test => pending.push(&select.operand),
            Expr::Call(call)
                if call.target.is_none()
                    && call.args.len() == 2
                    && matches!(call.args[1].expr, Expr::Literal(_))
                    && [
                        operators::OPT_SELECT,
                        operators::OPT_INDEX,
                        OPT_SELECT,
                        OPT_INDEX,
                        operators::INDEX,
                    ]
                    .contains(&call.func_name.as_str()) =>
            {
                pending.push(&call.args[0]);
            }
            _ => return false,
        }
    }
    true
}

/// `o.orValue(d)` as `o.hasValue() ? o.value() : d` (`… ? o : p` for `or`) when `o` is a plain
/// selection, else as a binding of `o` (see [`bind_then_choose`]). `e` must be such a call.
fn choose_lazily(e: IdedExpr, next_id: &mut u64) -> IdedExpr {
    let Expr::Call(call) = &e.expr else {
        unreachable!("only orValue and or calls are rewritten");
    };
    let Some(target) = call.target.as_deref().filter(|t| is_plain_selection(t)) else {
        return bind_then_choose(e, next_id);
    };
    let target = target.clone();
    let Expr::Call(CallExpr {
        func_name,
        mut args,
        ..
    }) = e.expr
    else {
        unreachable!("checked above");
    };
    let default = args.pop().expect("one argument");
    let mut node = |expr: Expr| {
        *next_id += 1;
        IdedExpr { id: *next_id, expr }
    };
    let has_value = node(Expr::Call(CallExpr {
        func_name: "hasValue".to_owned(),
        target: Some(Box::new(target.clone())),
        args: vec![],
    }));
    let present = if func_name == "orValue" {
        node(Expr::Call(CallExpr {
            func_name: "value".to_owned(),
            target: Some(Box::new(target)),
            args: vec![],
        }))
    } else {
        target
    };
    node(Expr::Call(CallExpr {
        func_name: operators::CONDITIONAL.to_owned(),
        target: None,
        args: vec![has_value, present, default],
    }))
}

/// `o.orValue(d)` as `[].all(@unused, …)`-shaped binding: accumulator `@optional = o`, no
/// iteration, result `@optional.hasValue() ? @optional.value() : d` (`… ? @optional : p` for
/// `or`). `e` must be such a call.
fn bind_then_choose(e: IdedExpr, next_id: &mut u64) -> IdedExpr {
    let mut node = |expr: Expr| {
        *next_id += 1;
        IdedExpr { id: *next_id, expr }
    };
    let Expr::Call(CallExpr {
        func_name,
        target: Some(target),
        mut args,
    }) = e.expr
    else {
        unreachable!("only orValue and or calls are rewritten");
    };
    let default = args.pop().expect("one argument");
    let bound =
        |node: &mut dyn FnMut(Expr) -> IdedExpr| node(Expr::Ident(BOUND_OPTIONAL.to_owned()));
    let method = |node: &mut dyn FnMut(Expr) -> IdedExpr, name: &str| {
        let target = bound(node);
        node(Expr::Call(CallExpr {
            func_name: name.to_owned(),
            target: Some(Box::new(target)),
            args: vec![],
        }))
    };
    let has_value = method(&mut node, "hasValue");
    let present = if func_name == "orValue" {
        method(&mut node, "value")
    } else {
        bound(&mut node)
    };
    let choose = node(Expr::Call(CallExpr {
        func_name: operators::CONDITIONAL.to_owned(),
        target: None,
        args: vec![has_value, present, default],
    }));
    let comprehension = ComprehensionExpr {
        iter_range: node(Expr::List(ListExpr {
            elements: vec![],
            optional_indices: vec![],
        })),
        iter_var: UNUSED.to_owned(),
        iter_var2: None,
        accu_var: BOUND_OPTIONAL.to_owned(),
        accu_init: *target,
        loop_cond: node(Expr::Literal(LiteralValue::Boolean(false.into()))),
        loop_step: bound(&mut node),
        result: choose,
    };
    node(Expr::Comprehension(Box::new(comprehension)))
}
