//! Macros we add to the environment: `cel.bind`, and the two-variable comprehensions of cel-go's
//! `ext.TwoVarComprehensions` (`all`, `exists`, `existsOne`/`exists_one` and `transformList` with
//! an index or key and a value), which the interpreter, binding one iteration variable, cannot
//! run directly. They expand into one-variable comprehensions over the indexes (or keys) that
//! bind the value with `cel.bind`'s expansion.

use cel::common::ast::{
    CallExpr, ComprehensionExpr, Expr, IdedExpr, ListExpr, LiteralValue, operators,
};
use cel::common::types::CelInt;
use cel::parser::{Macro, MacroExprHelper, ParseError};

/// The accumulator the standard macros use, and so do ours.
const RESULT: &str = "@result";
/// The variable holding the target of a two-variable comprehension, evaluated once.
const TARGET: &str = "@__target__";

pub(crate) fn all() -> Vec<Macro> {
    vec![
        Macro::receiver("bind", 3, bind),
        Macro::receiver("all", 3, |h, t, a| two_variable(h, t, a, Fold::All)),
        Macro::receiver("exists", 3, |h, t, a| two_variable(h, t, a, Fold::Exists)),
        Macro::receiver("existsOne", 3, |h, t, a| {
            two_variable(h, t, a, Fold::ExistsOne)
        }),
        Macro::receiver("exists_one", 3, |h, t, a| {
            two_variable(h, t, a, Fold::ExistsOne)
        }),
        Macro::receiver("transformList", 3, |h, t, a| {
            two_variable(h, t, a, Fold::TransformList)
        }),
        Macro::receiver("transformList", 4, |h, t, a| {
            two_variable(h, t, a, Fold::TransformList)
        }),
    ]
}

struct Builder<'h, 'a> {
    helper: &'h mut MacroExprHelper<'a>,
}

impl Builder<'_, '_> {
    fn expr(&mut self, expr: Expr) -> IdedExpr {
        self.helper.next_expr(expr)
    }

    fn ident(&mut self, name: &str) -> IdedExpr {
        self.expr(Expr::Ident(name.to_owned()))
    }

    fn call(&mut self, function: &str, args: Vec<IdedExpr>) -> IdedExpr {
        self.expr(Expr::Call(CallExpr {
            func_name: function.to_owned(),
            target: None,
            args,
        }))
    }

    fn method(&mut self, target: IdedExpr, function: &str, args: Vec<IdedExpr>) -> IdedExpr {
        self.expr(Expr::Call(CallExpr {
            func_name: function.to_owned(),
            target: Some(Box::new(target)),
            args,
        }))
    }

    fn literal(&mut self, literal: LiteralValue) -> IdedExpr {
        self.expr(Expr::Literal(literal))
    }

    fn list(&mut self, elements: Vec<IdedExpr>) -> IdedExpr {
        self.expr(Expr::List(ListExpr::new(elements)))
    }

    #[allow(clippy::too_many_arguments)]
    fn comprehension(
        &mut self,
        range: IdedExpr,
        iter_var: &str,
        accu_var: &str,
        init: IdedExpr,
        condition: IdedExpr,
        step: IdedExpr,
        result: IdedExpr,
    ) -> IdedExpr {
        self.expr(Expr::Comprehension(Box::new(ComprehensionExpr {
            iter_range: range,
            iter_var: iter_var.to_owned(),
            iter_var2: None,
            accu_var: accu_var.to_owned(),
            accu_init: init,
            loop_cond: condition,
            loop_step: step,
            result,
        })))
    }

    /// `body` with `name` bound to `value`: a comprehension over an empty list whose
    /// accumulator is the binding, as cel-go's bindings extension expands it.
    fn bind(&mut self, name: &str, value: IdedExpr, body: IdedExpr) -> IdedExpr {
        let empty = self.list(Vec::new());
        let never = self.literal(LiteralValue::Boolean(false.into()));
        let step = self.ident(name);
        self.comprehension(empty, "#unused", name, value, never, step, body)
    }

    /// `cel.bind(value_var, @__target__[index_var], body)`
    fn bind_element(&mut self, index_var: &str, value_var: &str, body: IdedExpr) -> IdedExpr {
        let target = self.ident(TARGET);
        let index = self.ident(index_var);
        let element = self.call(operators::INDEX, vec![target, index]);
        self.bind(value_var, element, body)
    }
}

fn simple_name(helper: &MacroExprHelper<'_>, arg: &IdedExpr) -> Result<String, ParseError> {
    match &arg.expr {
        Expr::Ident(name) => Ok(name.clone()),
        _ => Err(helper.new_error(arg.id, "argument must be a simple name")),
    }
}

/// `cel.bind(name, value, body)`.
fn bind(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    if !matches!(target.as_ref().map(|t| &t.expr), Some(Expr::Ident(name)) if name == "cel") {
        return Ok(None);
    }
    let name = simple_name(helper, &args[0])?;
    let body = args.pop().expect("three arguments");
    let value = args.pop().expect("three arguments");
    Ok(Some(Builder { helper }.bind(&name, value, body)))
}

#[derive(Clone, Copy)]
enum Fold {
    All,
    Exists,
    ExistsOne,
    TransformList,
}

/// `target.f(i, v, ...)`: binds the target once, iterates `i` over its keys (a map) or its
/// indexes (a list), and binds `v` to the element for the body.
fn two_variable(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
    fold: Fold,
) -> Result<Option<IdedExpr>, ParseError> {
    let index_var = simple_name(helper, &args[0])?;
    let value_var = simple_name(helper, &args[1])?;
    if index_var == value_var {
        return Err(helper.new_error(
            args[1].id,
            "the index and value variables must have different names",
        ));
    }
    let mut rest: Vec<IdedExpr> = args.drain(2..).collect();
    let body = rest.pop().expect("at least three arguments");
    let filter = rest.pop();
    let target = target.take().expect("a receiver macro has a target");
    let mut b = Builder { helper };

    // type(@__target__) == map ? @__target__ : lists.range(size(@__target__))
    let subject = b.ident(TARGET);
    let its_type = b.call("type", vec![subject]);
    let map_type = b.ident("map");
    let is_map = b.call(operators::EQUALS, vec![its_type, map_type]);
    let keys = b.ident(TARGET);
    let subject = b.ident(TARGET);
    let size = b.call("size", vec![subject]);
    let lists = b.ident("lists");
    let indexes = b.method(lists, "range", vec![size]);
    let range = b.call(operators::CONDITIONAL, vec![is_map, keys, indexes]);

    let element =
        |b: &mut Builder<'_, '_>, body: IdedExpr| b.bind_element(&index_var, &value_var, body);
    let result_ident = |b: &mut Builder<'_, '_>| b.ident(RESULT);
    let (init, condition, step, result) = match fold {
        Fold::All | Fold::Exists => {
            let all = matches!(fold, Fold::All);
            let init = b.literal(LiteralValue::Boolean(all.into()));
            let accu = result_ident(&mut b);
            let going = if all {
                accu
            } else {
                b.call(operators::LOGICAL_NOT, vec![accu])
            };
            let condition = b.call(operators::NOT_STRICTLY_FALSE, vec![going]);
            let accu = result_ident(&mut b);
            let predicate = element(&mut b, body);
            let connective = if all {
                operators::LOGICAL_AND
            } else {
                operators::LOGICAL_OR
            };
            let step = b.call(connective, vec![accu, predicate]);
            (init, condition, step, result_ident(&mut b))
        }
        Fold::ExistsOne => {
            let init = b.literal(LiteralValue::Int(CelInt::from(0)));
            let condition = b.literal(LiteralValue::Boolean(true.into()));
            let predicate = element(&mut b, body);
            let accu = result_ident(&mut b);
            let one = b.literal(LiteralValue::Int(CelInt::from(1)));
            let counted = b.call(operators::ADD, vec![accu, one]);
            let unchanged = result_ident(&mut b);
            let step = b.call(operators::CONDITIONAL, vec![predicate, counted, unchanged]);
            let accu = result_ident(&mut b);
            let one = b.literal(LiteralValue::Int(CelInt::from(1)));
            let result = b.call(operators::EQUALS, vec![accu, one]);
            (init, condition, step, result)
        }
        Fold::TransformList => {
            // `@result + [v']`, guarded by the filter: the shape the interpreter appends in
            // place, and that the work budget meters.
            let init = b.list(Vec::new());
            let condition = b.literal(LiteralValue::Boolean(true.into()));
            let value = element(&mut b, body);
            let appended = b.list(vec![value]);
            let accu = result_ident(&mut b);
            let append = b.call(operators::ADD, vec![accu, appended]);
            let step = match filter {
                None => append,
                Some(filter) => {
                    let keep = element(&mut b, filter);
                    let unchanged = result_ident(&mut b);
                    b.call(operators::CONDITIONAL, vec![keep, append, unchanged])
                }
            };
            (init, condition, step, result_ident(&mut b))
        }
    };
    let fold = b.comprehension(range, &index_var, RESULT, init, condition, step, result);
    Ok(Some(b.bind(TARGET, target, fold)))
}
