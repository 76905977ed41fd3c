//! The one CEL environment of Tributary: the standard library and macros, optional syntax, the
//! strings, lists, math and base64 extensions, and our internal metering functions.

use crate::{budget, conversions, functions, metered, optional};
use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue};
use cel::common::functions::Function;
use cel::common::types::{DYN_TYPE, Kind, STRING_TYPE, Type};
use cel::{Context, DeclarationError, Env, ExecutionError, Value, extensions};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, RwLock};

/// The `replace` overloads that bound the size of their result, `(overload id, argument count)`.
/// They are declared before the strings extension, whose `replace` overloads they shadow:
/// overloads are tried in the order they are declared.
const GUARDED_REPLACE: &[(&str, usize)] = &[
    ("tributary_replace_guarded", 2),
    ("tributary_replace_n_guarded", 3),
];

/// Our internal functions, `(name, argument count, function)`, every argument `dyn`: metering,
/// equality, conversions, optional selection and `+`. The overload id of each is its name
/// without the leading `@`.
const INTERNAL_OVERLOADS: &[(&str, usize, Function)] = &[
    (budget::CHARGE_RANGE, 1, budget::charge_range),
    (budget::CHARGE_ITEM, 1, budget::charge_item),
    (budget::CHARGE_SCAN, 1, budget::charge_scan),
    (budget::CONTINUE, 1, budget::continue_unless_stopped),
    (functions::EQUALS, 2, functions::equals),
    (functions::NOT_EQUALS, 2, functions::not_equals),
    (conversions::STRING, 1, conversions::string),
    (conversions::TIMESTAMP, 1, conversions::timestamp),
    (optional::OPT_SELECT, 2, optional::opt_select),
    (optional::OPT_INDEX, 2, optional::opt_index),
    (metered::ADD, 2, metered::add),
];

/// `arguments` parameters of type `dyn`.
fn dyn_parameters(arguments: usize) -> Vec<Type> {
    (0..arguments).map(|_| DYN_TYPE).collect()
}

pub(crate) fn build() -> Env {
    let mut env = Env::stdlib();
    GUARDED_REPLACE
        .iter()
        .try_for_each(|&(id, arguments)| {
            env.add_member_overload(
                "replace",
                id,
                STRING_TYPE,
                dyn_parameters(arguments),
                functions::guarded_replace,
            )
        })
        .and_then(|_| {
            INTERNAL_OVERLOADS
                .iter()
                .try_for_each(|&(name, arguments, overload)| {
                    let id = name.trim_start_matches('@');
                    env.add_overload(name, id, dyn_parameters(arguments), overload)
                })
        })
        // Declared before the extensions, whose overloads of the same names these shadow.
        .and_then(|_| {
            metered::OVERLOADS
                .iter()
                .try_for_each(|&(name, member, arguments, overload)| {
                    let id = format!("tributary_metered_{name}_{arguments}");
                    let parameters = dyn_parameters(arguments);
                    if member {
                        env.add_member_overload(name, &id, DYN_TYPE, parameters, overload)
                    } else {
                        env.add_overload(name, &id, parameters, overload)
                    }
                })
        })
        .and_then(|_| add_extensions(&mut env))
        .and_then(|_| {
            crate::macros::all()
                .into_iter()
                .try_for_each(|m| env.add_macro(m))
        })
        // The declarations are fixed: a conflict among them is a programming error that every
        // test would hit at once.
        .expect("the CEL environment's declarations are consistent");
    env
}

/// The extensions of the library: strings, lists, math and base64.
pub(crate) fn add_extensions(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_extension(extensions::strings)?;
    env.add_extension(extensions::lists)?;
    env.add_extension(extensions::math)?;
    env.add_extension(extensions::encoders)
}

/// Answers the checker's questions by asking the interpreter itself, so the answer can never
/// drift from what evaluation would do; answers are cached per name.
pub(crate) struct Declarations {
    env: Arc<Env>,
    answers: RwLock<HashMap<(String, Probe), bool>>,
}

const MAX_CACHED_ANSWERS: usize = 4096;

#[derive(Clone, Copy, Hash, PartialEq, Eq)]
enum Probe {
    Function,
    Method,
    Type,
}

impl Declarations {
    pub(crate) fn new(env: Arc<Env>) -> Self {
        Self {
            env,
            answers: RwLock::new(HashMap::new()),
        }
    }

    fn answer(&self, name: &str, probe: Probe) -> bool {
        let key = (name.to_owned(), probe);
        if let Some(known) = self
            .answers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return *known;
        }
        let known = self.probe(name, probe);
        let mut answers = self.answers.write().unwrap_or_else(|e| e.into_inner());
        // Names come from expressions, which a playground lets anyone type: keep the cache
        // bounded. Answers are cheap to find again.
        if answers.len() >= MAX_CACHED_ANSWERS {
            answers.clear();
        }
        answers.insert(key, known);
        known
    }

    /// Evaluates `name()`, `null.name()` or `name` with no variables: only an undeclared name
    /// fails with `UndeclaredReference`. Any other outcome, a panic of a function that did not
    /// expect `null` included, means the name is declared.
    fn probe(&self, name: &str, probe: Probe) -> bool {
        let expr = match probe {
            Probe::Type => Expr::Ident(name.to_owned()),
            Probe::Function | Probe::Method => Expr::Call(CallExpr {
                func_name: name.to_owned(),
                target: matches!(probe, Probe::Method).then(|| {
                    Box::new(IdedExpr {
                        id: 2,
                        expr: Expr::Literal(LiteralValue::Null),
                    })
                }),
                args: vec![],
            }),
        };
        let expr = IdedExpr { id: 1, expr };
        let context = Context::with_env(Arc::clone(&self.env));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            match Value::resolve_val(&expr, &context) {
                Ok(value) => Some(value.get_type().kind() == Kind::Type),
                Err(ExecutionError::UndeclaredReference(_)) => None,
                Err(_) => Some(false),
            }
        }));
        match (probe, outcome) {
            (Probe::Type, Ok(Some(is_type))) => is_type,
            (Probe::Type, _) => false,
            (_, Ok(None)) => false,
            (_, _) => true,
        }
    }
}

impl crate::check::Environment for Declarations {
    fn has_function(&self, name: &str, member: bool) -> bool {
        self.answer(
            name,
            if member {
                Probe::Method
            } else {
                Probe::Function
            },
        )
    }

    fn has_type(&self, name: &str) -> bool {
        self.answer(name, Probe::Type)
    }
}
