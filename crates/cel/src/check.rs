//! What happens to an expression between parsing and caching: the depth bound, the check that it
//! names only known variables and functions, and the rewrite that meters its comprehensions.

use crate::budget::{CHARGE_ITEM, CHARGE_RANGE, CHARGE_SCAN, CONTINUE};
use crate::functions::{EQUALS, NOT_EQUALS};
use crate::metered::{self, ADD, Method};
use cel::common::ast::{
    CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue, SelectExpr, SourceInfo,
    operators,
};
use cel::common::types::CelString;

/// The variables every expression may use.
pub const VARIABLES: [&str; 5] = ["envelope", "variant", "resource", "action", "payload"];

/// Deepest nesting of `expr`, walked without recursion so that a pathological AST cannot
/// overflow the stack here. Stops counting once past `cap`.
pub(crate) fn depth(expr: &IdedExpr, cap: usize) -> usize {
    weighted_depth(expr, cap, |_| 1)
}

/// [`depth`], with each node counting the levels `levels` gives it: a rewrite that adds nodes
/// the text does not show, in frames the interpreter makes large (see [`crate::optional`]),
/// must still fit the stack the limit is sized for.
pub(crate) fn weighted_depth(
    expr: &IdedExpr,
    cap: usize,
    levels: impl Fn(&IdedExpr) -> usize,
) -> usize {
    let mut deepest = 0;
    let mut pending: Vec<(&IdedExpr, usize)> = vec![(expr, 1)];
    while let Some((e, d)) = pending.pop() {
        deepest = deepest.max(d);
        if deepest > cap {
            break;
        }
        let step = levels(e);
        for child in children(e) {
            pending.push((child, d + step));
        }
    }
    deepest
}

fn children(e: &IdedExpr) -> Vec<&IdedExpr> {
    match &e.expr {
        Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => vec![],
        Expr::Call(call) => call
            .target
            .iter()
            .map(|t| t.as_ref())
            .chain(call.args.iter())
            .collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map.entries.iter().flat_map(entry_children).collect(),
        Expr::Struct(s) => s.entries.iter().flat_map(entry_children).collect(),
        Expr::Select(select) => vec![select.operand.as_ref()],
    }
}

fn entry_children(entry: &cel::common::ast::IdedEntryExpr) -> Vec<&IdedExpr> {
    match &entry.expr {
        EntryExpr::StructField(field) => vec![&field.value],
        EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
    }
}

/// A reference the check rejected, and the node it is at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unknown {
    Variable { name: String, node: u64 },
    Function { name: String, node: u64 },
}

/// What the checker asks of the environment.
pub(crate) trait Environment {
    /// Whether a global function (`member == false`) or a method of that name is declared.
    fn has_function(&self, name: &str, member: bool) -> bool;
    /// Whether the (possibly dotted) name is a type the environment knows, e.g. `int`.
    fn has_type(&self, name: &str) -> bool;
}

/// Which of the five variables an expression uses, so evaluation converts only those.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Uses {
    pub envelope: bool,
    pub payload: bool,
}

/// Checks that `expr` references only the five variables (and the variables comprehensions
/// bind) and declared functions. Recursive: call it only on an AST whose [`depth`] is bounded.
pub(crate) fn references(
    expr: &IdedExpr,
    env: &dyn Environment,
    extra_variables: &[&str],
) -> Result<Uses, Unknown> {
    let mut checker = Checker {
        env,
        scopes: extra_variables.to_vec(),
        uses: Uses::default(),
    };
    checker.visit(expr)?;
    Ok(checker.uses)
}

struct Checker<'a> {
    env: &'a dyn Environment,
    scopes: Vec<&'a str>,
    uses: Uses,
}

/// A CEL identifier (or dotted name): what a user can write as a function name. Operators
/// (`_+_`) and macro internals (`@in`, `@result`) are not, and are the interpreter's own.
fn is_user_name(name: &str) -> bool {
    name.split('.').all(|part| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
            && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
    })
}

/// `a.b.c` as ["a", "b", "c"] when the expression is only an identifier and field selections.
fn qualified_name(e: &IdedExpr) -> Option<Vec<&str>> {
    let mut segments = Vec::new();
    let mut current = e;
    loop {
        match &current.expr {
            Expr::Ident(name) => {
                segments.push(name.as_str());
                segments.reverse();
                return Some(segments);
            }
            Expr::Select(select) if !select.test => {
                segments.push(select.field.as_str());
                current = &select.operand;
            }
            _ => return None,
        }
    }
}

impl<'a> Checker<'a> {
    fn in_scope(&self, name: &str) -> bool {
        name.starts_with('@') || self.scopes.iter().rev().any(|s| *s == name)
    }

    fn variable(&mut self, name: &str, node: u64) -> Result<(), Unknown> {
        let name = name.strip_prefix('.').unwrap_or(name);
        if self.in_scope(name) {
            return Ok(());
        }
        match name {
            "payload" => self.uses.payload = true,
            "envelope" => self.uses.envelope = true,
            "variant" | "resource" | "action" => {}
            _ if self.env.has_type(name) => {}
            _ => {
                return Err(Unknown::Variable {
                    name: name.to_owned(),
                    node,
                });
            }
        }
        Ok(())
    }

    fn visit(&mut self, e: &'a IdedExpr) -> Result<(), Unknown> {
        match &e.expr {
            Expr::Unspecified | Expr::Literal(_) => Ok(()),
            Expr::Ident(name) => self.variable(name, e.id),
            Expr::Select(select) => {
                if let Some(segments) = qualified_name(e)
                    && !self.in_scope(segments[0])
                    && !VARIABLES.contains(&segments[0])
                {
                    // A dotted name may be a type (`google.protobuf.Duration`) or, where extra
                    // variables are allowed, a variable with dots in its name.
                    let dotted = (2..=segments.len())
                        .rev()
                        .map(|n| segments[..n].join("."))
                        .any(|name| self.in_scope(&name));
                    if dotted || self.env.has_type(&segments.join(".")) {
                        return Ok(());
                    }
                }
                self.visit(&select.operand)
            }
            Expr::Call(call) => self.call(call, e.id),
            Expr::Comprehension(c) => self.comprehension(c),
            Expr::List(list) => list.elements.iter().try_for_each(|el| self.visit(el)),
            Expr::Map(map) => map
                .entries
                .iter()
                .flat_map(entry_children)
                .try_for_each(|child| self.visit(child)),
            Expr::Struct(s) => s
                .entries
                .iter()
                .flat_map(entry_children)
                .try_for_each(|child| self.visit(child)),
        }
    }

    fn call(&mut self, call: &'a CallExpr, node: u64) -> Result<(), Unknown> {
        let unknown = |name: String| Err(Unknown::Function { name, node });
        if !is_user_name(&call.func_name) {
            // an operator or a macro's internal call
        } else if let Some(target) = &call.target {
            // `optional.of(x)` calls the function `optional.of`, while `payload.x.f()` calls the
            // method `f` on a value: as the interpreter does, a target that spells a name which,
            // with the function's, names a declared function is a namespace.
            if let Some(segments) = qualified_name(target)
                && !self.in_scope(segments[0])
                && !VARIABLES.contains(&segments[0])
            {
                let name = format!("{}.{}", segments.join("."), call.func_name);
                if !self.env.has_function(&name, false) {
                    return unknown(name);
                }
                return call.args.iter().try_for_each(|arg| self.visit(arg));
            }
            if !self.env.has_function(&call.func_name, true) {
                return unknown(call.func_name.clone());
            }
        } else if !self.env.has_function(&call.func_name, false) {
            return unknown(call.func_name.clone());
        }
        if let Some(target) = &call.target {
            self.visit(target)?;
        }
        call.args.iter().try_for_each(|arg| self.visit(arg))
    }

    fn comprehension(&mut self, c: &'a ComprehensionExpr) -> Result<(), Unknown> {
        self.visit(&c.iter_range)?;
        self.visit(&c.accu_init)?;
        let outer = self.scopes.len();
        self.scopes.push(&c.accu_var);
        self.visit(&c.result)?;
        self.scopes.push(&c.iter_var);
        if let Some(second) = &c.iter_var2 {
            self.scopes.push(second);
        }
        let body = self
            .visit(&c.loop_cond)
            .and_then(|_| self.visit(&c.loop_step));
        self.scopes.truncate(outer);
        body
    }
}

/// Rewrites the program so it charges the evaluation budget: a comprehension's range goes
/// through [`CHARGE_RANGE`]; each value a `map`/`filter` appends (`@result + [value]`), and each
/// element of a list or value of a map literal, through [`CHARGE_ITEM`]; `a + b` becomes a call
/// of [`ADD`], which checks and charges what it builds. The shapes the interpreter optimises
/// (the accumulator's `@result + [value]`) are kept, so the rewrite costs a call per element,
/// not a change of algorithm. Also routes `==` and `!=` through [`EQUALS`] and [`NOT_EQUALS`],
/// which compare payload objects and arrays either way round.
pub(crate) fn meter(expr: &mut IdedExpr, next_id: &mut u64) {
    let mut pending: Vec<&mut IdedExpr> = vec![expr];
    let mut at_root = true;
    while let Some(e) = pending.pop() {
        // The values of a map literal at the root become the result, charged as they are
        // converted to JSON (see `engine`), where they are copied.
        let result_map = std::mem::replace(&mut at_root, false) && matches!(e.expr, Expr::Map(_));
        if let Expr::Comprehension(c) = &mut e.expr {
            let range = std::mem::take(&mut c.iter_range);
            c.iter_range = wrap(CHARGE_RANGE, range, next_id);
            meter_appended(&mut c.loop_step, &c.accu_var, next_id);
            // A literal condition (`map`, `filter`: the shape the interpreter optimises) never
            // puts an error aside; the others end their loop once a limit is reached.
            if !matches!(c.loop_cond.expr, Expr::Literal(_)) {
                let condition = std::mem::take(&mut c.loop_cond);
                c.loop_cond = wrap(CONTINUE, condition, next_id);
            }
        }
        // Against a literal (a string, a number), the interpreter's own comparison is right
        // either way round: only containers need ours.
        if let Expr::Call(call) = &mut e.expr
            && call.target.is_none()
            && call.args.len() == 2
            && !call.args.iter().any(|a| matches!(a.expr, Expr::Literal(_)))
        {
            if call.func_name == operators::EQUALS {
                call.func_name = EQUALS.to_owned();
            } else if call.func_name == operators::NOT_EQUALS {
                call.func_name = NOT_EQUALS.to_owned();
            }
        }
        // A macro's accumulator (`@result + [v]`, `@result + 1`) is the interpreter's own,
        // metered above; a user's `+` cannot start with an `@` name.
        if let Expr::Call(call) = &mut e.expr
            && call.func_name == operators::ADD
            && call.target.is_none()
            && call.args.len() == 2
            && !matches!(&call.args[0].expr, Expr::Ident(name) if name.starts_with('@'))
        {
            call.func_name = ADD.to_owned();
        }
        if let Expr::Call(call) = &mut e.expr
            && let Some(target) = call.target.as_deref_mut()
        {
            match metered::method(&call.func_name, &call.args) {
                Method::WrapTarget(function, extra) => {
                    let inner = std::mem::take(target);
                    let mut wrapped = wrap(function, inner, next_id);
                    if let (Some(extra), Expr::Call(wrapper)) = (extra, &mut wrapped.expr) {
                        *next_id += 1;
                        wrapper.args.push(IdedExpr {
                            id: *next_id,
                            expr: Expr::Literal(LiteralValue::Int(extra.into())),
                        });
                    }
                    *target = wrapped;
                }
                Method::Rename(function) => call.func_name = function.to_owned(),
                Method::AsIs => {}
            }
        }
        if let Expr::Call(call) = &mut e.expr
            && call.func_name == operators::IN
            && call.args.len() == 2
            && !is_call_of(&call.args[1], CHARGE_SCAN)
        {
            let container = std::mem::take(&mut call.args[1]);
            call.args[1] = wrap(CHARGE_SCAN, container, next_id);
        }
        // A literal's size is bounded by the text: only computed elements are charged, one by
        // one. A list or map of literals only is charged once, as a whole, so that building it
        // over and over in a loop is still paid for.
        let literals_only = match &e.expr {
            Expr::List(list) => list.elements.iter().all(is_literal),
            Expr::Map(map) => map.entries.iter().all(|entry| {
                matches!(&entry.expr, EntryExpr::MapEntry(entry) if is_literal(&entry.value))
            }),
            _ => false,
        };
        match &mut e.expr {
            Expr::Map(_) if result_map => {}
            Expr::List(list) if literals_only && !list.elements.is_empty() => {
                let inner = std::mem::take(e);
                *e = wrap(CHARGE_ITEM, inner, next_id);
                continue;
            }
            Expr::Map(map) if literals_only && !map.entries.is_empty() => {
                let inner = std::mem::take(e);
                *e = wrap(CHARGE_ITEM, inner, next_id);
                continue;
            }
            Expr::List(list) => {
                for element in &mut list.elements {
                    if !is_literal(element) && !is_call_of(element, CHARGE_ITEM) {
                        let inner = std::mem::take(element);
                        *element = wrap(CHARGE_ITEM, inner, next_id);
                    }
                }
            }
            Expr::Map(map) => {
                for entry in &mut map.entries {
                    if let EntryExpr::MapEntry(entry) = &mut entry.expr
                        && !is_literal(&entry.value)
                    {
                        let inner = std::mem::take(&mut entry.value);
                        entry.value = wrap(CHARGE_ITEM, inner, next_id);
                    }
                }
            }
            _ => {}
        }
        push_children_mut(e, &mut pending);
    }
}

/// Pushes the direct children of `e` onto `pending`: how the rewrites walk a program without
/// recursion.
pub(crate) fn push_children_mut<'a>(e: &'a mut IdedExpr, pending: &mut Vec<&'a mut IdedExpr>) {
    match &mut e.expr {
        Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => {}
        Expr::Call(call) => {
            if let Some(target) = call.target.as_deref_mut() {
                pending.push(target);
            }
            pending.extend(call.args.iter_mut());
        }
        Expr::Comprehension(c) => {
            let c = c.as_mut();
            pending.extend([
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ]);
        }
        Expr::List(list) => pending.extend(list.elements.iter_mut()),
        Expr::Map(map) => {
            for entry in &mut map.entries {
                entry_children_mut(entry, pending);
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                entry_children_mut(entry, pending);
            }
        }
        Expr::Select(select) => pending.push(&mut select.operand),
    }
}

fn entry_children_mut<'a>(
    entry: &'a mut cel::common::ast::IdedEntryExpr,
    pending: &mut Vec<&'a mut IdedExpr>,
) {
    match &mut entry.expr {
        EntryExpr::StructField(field) => pending.push(&mut field.value),
        EntryExpr::MapEntry(e) => {
            pending.push(&mut e.key);
            pending.push(&mut e.value);
        }
    }
}

/// Rewrites field selections on a variable, `payload.a.b`, into indexing, `payload['a']['b']`.
/// Same result, but the interpreter resolves a selection chain as a possibly dotted variable
/// name (`payload.a.b`, then `payload.a`, then `payload`), allocating as it goes, on every
/// evaluation. Only valid where no variable has a dot in its name, which holds for the five.
/// Recursive: call it only on an AST whose [`depth`] is bounded.
pub(crate) fn index_fields(expr: &mut IdedExpr, next_id: &mut u64) {
    let mut scopes = VARIABLES.iter().map(|v| (*v).to_owned()).collect();
    index_fields_in(expr, &mut scopes, next_id);
}

fn index_fields_in(e: &mut IdedExpr, scopes: &mut Vec<String>, next_id: &mut u64) {
    let rooted_in_variable = matches!(&e.expr, Expr::Select(select) if !select.test)
        && qualified_name(e).is_some_and(|segments| scopes.iter().any(|s| s == segments[0]));
    match &mut e.expr {
        Expr::Comprehension(c) => {
            index_fields_in(&mut c.iter_range, scopes, next_id);
            index_fields_in(&mut c.accu_init, scopes, next_id);
            let outer = scopes.len();
            scopes.push(c.accu_var.clone());
            index_fields_in(&mut c.result, scopes, next_id);
            scopes.push(c.iter_var.clone());
            scopes.extend(c.iter_var2.clone());
            index_fields_in(&mut c.loop_cond, scopes, next_id);
            index_fields_in(&mut c.loop_step, scopes, next_id);
            scopes.truncate(outer);
        }
        Expr::Select(select) if !select.test => {
            if rooted_in_variable {
                let Expr::Select(SelectExpr { operand, field, .. }) = std::mem::take(&mut e.expr)
                else {
                    unreachable!("matched as a selection above");
                };
                let mut operand = *operand;
                index_fields_in(&mut operand, scopes, next_id);
                *next_id += 1;
                let key = IdedExpr {
                    id: *next_id,
                    expr: Expr::Literal(LiteralValue::String(CelString::from(field))),
                };
                e.expr = Expr::Call(CallExpr {
                    func_name: operators::INDEX.to_owned(),
                    target: None,
                    args: vec![operand, key],
                });
            } else {
                index_fields_in(&mut select.operand, scopes, next_id);
            }
        }
        Expr::Select(select) => index_fields_in(&mut select.operand, scopes, next_id),
        Expr::Unspecified
        | Expr::Ident(_)
        | Expr::Literal(_)
        | Expr::Call(_)
        | Expr::List(_)
        | Expr::Map(_)
        | Expr::Struct(_) => {
            // No scope opens here: every direct child sees the same variables.
            let mut children = Vec::new();
            push_children_mut(e, &mut children);
            for child in children {
                index_fields_in(child, scopes, next_id);
            }
        }
    }
}

/// In `accu + [v]` or `cond ? accu + [v] : accu`, wraps `v`.
fn meter_appended(step: &mut IdedExpr, accu: &str, next_id: &mut u64) {
    let Expr::Call(call) = &mut step.expr else {
        return;
    };
    if call.func_name == operators::CONDITIONAL && call.args.len() == 3 {
        meter_appended(&mut call.args[1], accu, next_id);
        return;
    }
    if call.func_name != operators::ADD || call.args.len() != 2 {
        return;
    }
    if !matches!(&call.args[0].expr, Expr::Ident(name) if name == accu) {
        return;
    }
    if let Expr::List(list) = &mut call.args[1].expr {
        for element in &mut list.elements {
            let inner = std::mem::take(element);
            *element = wrap(CHARGE_ITEM, inner, next_id);
        }
    }
}

fn is_literal(e: &IdedExpr) -> bool {
    matches!(e.expr, Expr::Literal(_))
}

fn is_call_of(e: &IdedExpr, function: &str) -> bool {
    matches!(&e.expr, Expr::Call(call) if call.func_name == function)
}

fn wrap(function: &str, arg: IdedExpr, next_id: &mut u64) -> IdedExpr {
    *next_id += 1;
    IdedExpr {
        id: *next_id,
        expr: Expr::Call(CallExpr {
            func_name: function.to_owned(),
            target: None,
            args: vec![arg],
        }),
    }
}

/// Largest node id in the AST, so rewritten nodes get fresh ones.
pub(crate) fn max_id(expr: &IdedExpr) -> u64 {
    let mut max = 0;
    let mut pending = vec![expr];
    while let Some(e) = pending.pop() {
        max = max.max(e.id);
        pending.extend(children(e));
    }
    max
}

/// Line and column (1-based) of a node, from the parser's byte offsets.
pub(crate) fn position_of(info: &SourceInfo, node: u64) -> Option<crate::Position> {
    let (start, _) = info.offset_for(node)?;
    position_at(&info.source, start as usize)
}

/// Line and column (1-based, in characters) of a byte offset.
pub(crate) fn position_at(source: &str, offset: usize) -> Option<crate::Position> {
    let before = source.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Some(crate::Position {
        line: u32::try_from(line).ok()?,
        column: u32::try_from(column).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_characters() {
        let source = "a &&\n  bé && c";
        let offset = source.find('c').unwrap();
        assert_eq!(
            position_at(source, offset),
            Some(crate::Position { line: 2, column: 9 })
        );
        assert_eq!(
            position_at(source, 0),
            Some(crate::Position { line: 1, column: 1 })
        );
        assert_eq!(position_at(source, 999), None);
    }

    #[test]
    fn user_names_exclude_operators_and_internals() {
        assert!(is_user_name("size"));
        assert!(is_user_name("math.greatest"));
        assert!(!is_user_name("_+_"));
        assert!(!is_user_name("@in"));
        assert!(!is_user_name("!_"));
    }
}
