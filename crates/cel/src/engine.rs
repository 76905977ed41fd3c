//! The engine: compiles expressions once (checked, bounded, metered), caches the programs by
//! text, and evaluates them against an [`Activation`].

use crate::budget::{self, Meter};
use crate::check::{self, Unknown, Uses};
use crate::convert;
use crate::environment::{self, Declarations};
use crate::lazy;
use crate::prescan;
use crate::{CelError, CelErrorKind, Limit, Limits};
use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr, SourceInfo};
use cel::common::types::{CelMap, CelMapKey, CelOptional, CelString, Kind};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Env, ExecutionError, Value as CelValue};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock, RwLock};

/// What an expression is evaluated against: the emitted payload and where it came from.
///
/// The expression sees five variables: `payload`, `variant`, `resource`, `action`, and
/// `envelope`, the object `{variant, resource, action, payload}`. Build one per payload and
/// evaluate the filter and the map against the same activation: the payload's limits are
/// checked once.
#[derive(Clone, Debug)]
pub struct Activation<'a> {
    pub variant: &'a str,
    pub resource: &'a str,
    pub action: &'a str,
    pub payload: &'a Value,
    /// The outcome of checking `payload` against the limits, computed on first use.
    checked: OnceLock<Result<(), CelError>>,
}

impl<'a> Activation<'a> {
    pub fn new(variant: &'a str, resource: &'a str, action: &'a str, payload: &'a Value) -> Self {
        Self {
            variant,
            resource,
            action,
            payload,
            checked: OnceLock::new(),
        }
    }

    fn check_payload(&self, limits: &Limits, text: &str) -> Result<(), CelError> {
        match self
            .checked
            .get_or_init(|| convert::check_payload(self.payload, limits, ""))
        {
            Ok(()) => Ok(()),
            Err(error) => Err(error.clone().for_expression(text)),
        }
    }
}

/// Compiles and evaluates CEL expressions. Cheap to clone (an `Arc`), `Send + Sync`: share one
/// per process.
#[derive(Clone)]
pub struct CelEngine {
    inner: Arc<Inner>,
}

struct Inner {
    env: Arc<Env>,
    limits: Limits,
    declarations: Declarations,
    programs: RwLock<HashMap<String, Arc<Compiled>>>,
}

/// A compiled expression: the checked, metered AST, or nothing for an empty expression.
struct Compiled {
    text: String,
    ast: Option<IdedExpr>,
    uses: Uses,
}

/// A compiled expression, ready to evaluate many times. Obtained from [`CelEngine::compile`];
/// holding one skips the engine's cache look-up.
#[derive(Clone)]
pub struct Program {
    compiled: Arc<Compiled>,
    engine: CelEngine,
}

/// The parser's own bound on its grammar-rule recursion. Each level of CEL nesting enters a
/// dozen rules, so this allows what [`Limits::max_expression_depth`] allows. The pre-scan
/// ([`prescan::nesting`]) holds chains of operators, selections and prefix operators, which
/// nest one level each, to the same bound before the parser runs.
const PARSER_RULE_DEPTH_PER_LEVEL: usize = 12;

impl Default for CelEngine {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl std::fmt::Debug for CelEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CelEngine")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl CelEngine {
    pub fn new(limits: Limits) -> Self {
        let env = Arc::new(environment::build());
        Self {
            inner: Arc::new(Inner {
                declarations: Declarations::new(Arc::clone(&env)),
                env,
                limits,
                programs: RwLock::new(HashMap::new()),
            }),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Checks an expression as the registry does at startup: syntax, limits, and that it uses
    /// only the five variables and declared functions. The compiled program is cached.
    pub fn check(&self, expression: &str) -> Result<(), CelError> {
        self.compile(expression).map(|_| ())
    }

    /// Compiles (or fetches from the cache) the program for an expression.
    pub fn compile(&self, expression: &str) -> Result<Program, CelError> {
        let cached = self
            .inner
            .programs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(expression)
            .cloned();
        let compiled = match cached {
            Some(compiled) => compiled,
            None => {
                let compiled = Arc::new(self.compile_uncached(expression)?);
                let mut programs = self
                    .inner
                    .programs
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                if programs.len() >= self.inner.limits.max_cached_programs
                    && let Some(evicted) = programs.keys().next().cloned()
                {
                    programs.remove(&evicted);
                }
                programs.insert(expression.to_owned(), Arc::clone(&compiled));
                compiled
            }
        };
        Ok(Program {
            compiled,
            engine: self.clone(),
        })
    }

    /// Programs in the cache.
    pub fn cached_programs(&self) -> usize {
        self.inner
            .programs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Evaluates a filter: an empty expression is `true`; anything but a `bool` is an error.
    pub fn eval_filter(
        &self,
        expression: &str,
        activation: &Activation<'_>,
    ) -> Result<bool, CelError> {
        self.compile(expression)?.filter(activation)
    }

    /// Evaluates a map expression: an empty expression gives the payload as it is (which must be
    /// an object), `null` gives an empty object, anything but an object is an error.
    pub fn eval_map(
        &self,
        expression: &str,
        activation: &Activation<'_>,
    ) -> Result<Map<String, Value>, CelError> {
        self.compile(expression)?.map(activation)
    }

    /// Evaluates any expression to JSON; an empty expression gives the payload.
    pub fn eval_value(
        &self,
        expression: &str,
        activation: &Activation<'_>,
    ) -> Result<Value, CelError> {
        self.compile(expression)?.evaluate(activation)
    }

    /// Parses raw payload bytes as JSON within the payload limits: bytes that are not JSON give
    /// an [`CelErrorKind::InvalidPayload`] error, too many bytes or too deep nesting a
    /// [`CelErrorKind::LimitExceeded`] one.
    pub fn parse_payload(&self, bytes: &[u8]) -> Result<Value, CelError> {
        let limits = &self.inner.limits;
        if bytes.len() > limits.max_payload_bytes {
            return Err(CelError::limit(
                Limit::PayloadSize,
                format!(
                    "the payload is {} bytes, over the {} allowed",
                    bytes.len(),
                    limits.max_payload_bytes
                ),
                "",
            ));
        }
        // serde_json refuses nesting deeper than 128 levels before its stack is at risk; our
        // own, lower, depth limit is checked on the parsed value.
        let payload: Value = serde_json::from_slice(bytes).map_err(|e| {
            // serde_json's own nesting bound (128) is a depth limit, not a syntax problem.
            if e.to_string().starts_with("recursion limit exceeded") {
                CelError::limit(
                    Limit::PayloadDepth,
                    format!(
                        "the payload nests deeper than {} levels",
                        limits.max_payload_depth
                    ),
                    "",
                )
            } else {
                CelError::new(
                    CelErrorKind::InvalidPayload,
                    format!("the payload is not valid JSON: {e}"),
                    "",
                )
            }
        })?;
        convert::check_payload(&payload, limits, "")?;
        Ok(payload)
    }

    fn compile_uncached(&self, text: &str) -> Result<Compiled, CelError> {
        self.compile_with_variables(text, Some(&[]))
    }

    /// Compiles allowing variables beyond the five, for the conformance suite's bindings; with
    /// `None`, references are not checked at all (the suite's `disableCheck`, under which an
    /// unknown name is an evaluation error).
    fn compile_with_variables(
        &self,
        text: &str,
        extra_variables: Option<&[&str]>,
    ) -> Result<Compiled, CelError> {
        let limits = &self.inner.limits;
        if text.trim().is_empty() {
            return Ok(Compiled {
                text: text.to_owned(),
                ast: None,
                uses: Uses::default(),
            });
        }
        if text.len() > limits.max_expression_bytes {
            return Err(CelError::limit(
                Limit::ExpressionLength,
                format!(
                    "the expression is {} bytes, over the {} allowed",
                    text.len(),
                    limits.max_expression_bytes
                ),
                text,
            ));
        }
        let too_deep = || {
            CelError::limit(
                Limit::ExpressionDepth,
                format!(
                    "the expression nests deeper than {} levels",
                    limits.max_expression_depth
                ),
                text,
            )
        };
        let rule_depth = limits
            .max_expression_depth
            .saturating_mul(PARSER_RULE_DEPTH_PER_LEVEL)
            .min(u16::MAX as usize - 1) as u16;
        // Refused before parsing: the parser recurses as deep as the text nests.
        let nesting = prescan::nesting(text);
        if nesting.brackets > limits.max_expression_depth || nesting.chains > rule_depth as usize {
            return Err(too_deep());
        }
        let max_depth = limits.max_expression_depth;
        let env = &self.inner.env;
        let (mut ast, info) = on_big_stack(move || {
            let parsed = catch_unwind(AssertUnwindSafe(|| {
                env.parser()
                    .max_recursion_depth(rule_depth)
                    .enable_ident_escape_syntax(true)
                    .parse_with_source_info(text)
            }));
            match parsed {
                Err(_) => Err(CelError::new(
                    CelErrorKind::Internal,
                    "the CEL parser panicked on this expression",
                    text,
                )),
                Ok(Err(errors)) => Err(syntax_error(errors, text)),
                // A too-deep AST is dropped here too: dropping it recurses as deep as it nests.
                Ok(Ok((ast, _))) if check::depth(&ast, max_depth) > max_depth => Err(too_deep()),
                Ok(Ok(parsed)) => Ok(parsed),
            }
        })?;
        let uses = match extra_variables {
            Some(extra) => check::references(&ast, &self.inner.declarations, extra)
                .map_err(|unknown| unknown_error(unknown, &info, text))?,
            None => Uses::default(),
        };
        let mut next_id = check::max_id(&ast);
        crate::optional::follow_the_specification(&mut ast, &mut next_id);
        if check::weighted_depth(&ast, max_depth, crate::optional::levels) > max_depth {
            return Err(CelError::limit(
                Limit::ExpressionDepth,
                format!(
                    "the expression nests deeper than {max_depth} levels once the defaults of \
                     its `orValue` and `or` calls are bound to be evaluated only when needed \
                     ({} levels each, unless the optional is a plain selection)",
                    crate::optional::BINDING_LEVELS
                ),
                text,
            ));
        }
        if extra_variables.is_some_and(|extra| extra.is_empty()) {
            check::index_fields(&mut ast, &mut next_id);
        }
        check::meter(&mut ast, &mut next_id);
        Ok(Compiled {
            text: text.to_owned(),
            ast: Some(ast),
            uses,
        })
    }
}

/// Stack for parsing: the parser recurses along chains (`a.b.c…`, `!!!…x`) that no bracket
/// count sees, as deep as the expression is long. Only the pages it touches are allocated.
const PARSER_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Runs `parse` on a thread with a stack deep enough for any expression within the length limit.
fn on_big_stack<T: Send>(
    parse: impl FnOnce() -> Result<T, CelError> + Send,
) -> Result<T, CelError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("cel-parse".to_owned())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, parse)
            .map_err(|e| {
                CelError::new(
                    CelErrorKind::Internal,
                    format!("could not start the parser thread: {e}"),
                    "",
                )
            })?
            .join()
            .unwrap_or_else(|_| {
                Err(CelError::new(
                    CelErrorKind::Internal,
                    "the CEL parser thread failed",
                    "",
                ))
            })
    })
}

fn syntax_error(errors: cel::ParseErrors, text: &str) -> CelError {
    let first = errors.errors.first();
    let message = first.map_or_else(
        || "the expression does not parse".to_owned(),
        |e| {
            let detail = e.msg.strip_prefix("Syntax error: ").unwrap_or(&e.msg);
            format!("syntax error: {detail}")
        },
    );
    let position = first.and_then(|e| {
        let (line, column) = e.pos;
        Some(crate::Position {
            line: u32::try_from(line).ok().filter(|l| *l > 0)?,
            // already 1-based
            column: u32::try_from(column).ok().filter(|c| *c > 0)?,
        })
    });
    CelError::new(CelErrorKind::Syntax, message, text).at(position)
}

fn unknown_error(unknown: Unknown, info: &SourceInfo, text: &str) -> CelError {
    let (kind, message, node) = match unknown {
        Unknown::Variable { name, node } => (
            CelErrorKind::UnknownVariable { name: name.clone() },
            format!(
                "unknown variable `{name}` (the variables are {})",
                check::VARIABLES.join(", ")
            ),
            node,
        ),
        Unknown::Function { name, node } => (
            CelErrorKind::UnknownFunction { name: name.clone() },
            format!("unknown function `{name}`"),
            node,
        ),
    };
    CelError::new(kind, message, text).at(check::position_of(info, node))
}

/// The five variables, converted for one evaluation. Only the variables the expression uses
/// are converted.
struct Bindings<'a> {
    /// Variables beyond the five: only the conformance suite binds any.
    extra: &'a [(String, Box<dyn Val + 'a>)],
    payload: Option<Box<dyn Val + 'a>>,
    envelope: Option<Box<dyn Val + 'a>>,
    variant: CelString<'a>,
    resource: CelString<'a>,
    action: CelString<'a>,
}

impl VariableResolver for Bindings<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let value: &'b (dyn Val + 'b) = match variable {
            "payload" => self.payload.as_deref()?,
            "envelope" => self.envelope.as_deref()?,
            "variant" => &self.variant,
            "resource" => &self.resource,
            "action" => &self.action,
            other => self
                .extra
                .iter()
                .find(|(name, _)| name == other)
                .map(|(_, value)| value.as_ref())?,
        };
        Some(CowVal::Borrowed(value))
    }
}

impl Program {
    /// The expression text this program was compiled from.
    pub fn expression(&self) -> &str {
        &self.compiled.text
    }

    /// Whether the expression is empty (a filter that passes all, a map that keeps the payload).
    pub fn is_empty(&self) -> bool {
        self.compiled.ast.is_none()
    }

    /// See [`CelEngine::eval_filter`].
    pub fn filter(&self, activation: &Activation<'_>) -> Result<bool, CelError> {
        if self.compiled.ast.is_none() {
            return Ok(true);
        }
        self.run(activation, |value, text| {
            value
                .downcast_ref::<cel::common::types::CelBool>()
                .map(|b| *b.inner())
                .ok_or_else(|| wrong_type("bool", value, text))
        })
    }

    /// See [`CelEngine::eval_map`].
    pub fn map(&self, activation: &Activation<'_>) -> Result<Map<String, Value>, CelError> {
        let text = &self.compiled.text;
        if self.compiled.ast.is_none() {
            return match activation.payload {
                Value::Object(object) => Ok(object.clone()),
                other => Err(CelError::new(
                    CelErrorKind::InvalidPayload,
                    format!(
                        "the map expression is empty, so the payload is kept as it is, but it is {} rather than an object",
                        json_type_name(other)
                    ),
                    text,
                )),
            };
        }
        if let Some(IdedExpr {
            expr: Expr::Map(literal),
            ..
        }) = &self.compiled.ast
        {
            let inner = &self.engine.inner;
            let uses = self.compiled.uses;
            return guarded(text, || {
                let bindings = bind(activation, uses, &inner.limits, text)?;
                in_context(inner, &bindings, text, |context| {
                    map_literal(&literal.entries, context, text)
                })
            });
        }
        self.run(activation, |value, text| match value.get_type().kind() {
            Kind::NullType => Ok(Map::new()),
            Kind::Map => {
                charge_conversion(value, text)?;
                convert::map_to_json(value, 0).map_err(|e| convert::unrepresentable_error(e, text))
            }
            _ => Err(wrong_type("map (or null)", value, text)),
        })
    }

    /// See [`CelEngine::eval_value`].
    pub fn evaluate(&self, activation: &Activation<'_>) -> Result<Value, CelError> {
        if self.compiled.ast.is_none() {
            return Ok(activation.payload.clone());
        }
        self.run(activation, |value, text| {
            charge_conversion(value, text)?;
            convert::to_json(value).map_err(|e| convert::unrepresentable_error(e, text))
        })
    }

    /// Evaluates with the payload converted, panics caught, and the work metered, handing the
    /// result to `finish` while it still borrows the payload.
    fn run<T>(
        &self,
        activation: &Activation<'_>,
        finish: impl FnOnce(&dyn Val, &str) -> Result<T, CelError>,
    ) -> Result<T, CelError> {
        let text = self.compiled.text.as_str();
        let Some(ast) = &self.compiled.ast else {
            return Err(CelError::new(
                CelErrorKind::Internal,
                "an empty expression has no program",
                text,
            ));
        };
        let inner = &self.engine.inner;
        guarded(text, || {
            let bindings = bind(activation, self.compiled.uses, &inner.limits, text)?;
            evaluate_with(inner, ast, &bindings, text, finish)
        })
    }
}

/// Charges for converting a result to JSON, which copies it. A failure is reported as the limit
/// the evaluation ran into (see [`in_context`]).
fn charge_conversion(value: &dyn Val, text: &str) -> Result<(), CelError> {
    budget::charge_copy(value)
        .map_err(|error| CelError::limit(Limit::EvaluationWork, error_detail(&error), text))
}

/// Runs an evaluation with panics caught: a panic in the interpreter becomes an error.
fn guarded<T>(text: &str, evaluate: impl FnOnce() -> Result<T, CelError>) -> Result<T, CelError> {
    catch_unwind(AssertUnwindSafe(evaluate)).unwrap_or_else(|_| {
        Err(CelError::new(
            CelErrorKind::Internal,
            "the CEL interpreter panicked while evaluating this expression",
            text,
        ))
    })
}

/// How an evaluation failed before its errors are classified.
enum Failure {
    Cel(CelError),
    Execution(ExecutionError),
}

/// Runs `body` in a context holding `bindings`, within the work budget.
fn in_context<T>(
    inner: &Inner,
    bindings: &Bindings<'_>,
    text: &str,
    body: impl FnOnce(&Context<'_, '_>) -> Result<T, Failure>,
) -> Result<T, CelError> {
    let mut context = Context::with_env(Arc::clone(&inner.env));
    context.set_variable_resolver(bindings);
    let meter = Meter::start(&inner.limits);
    let result = body(&context);
    match (result, meter.stopped()) {
        (Err(Failure::Execution(error)), stopped) => Err(execution_error(
            error,
            stopped.map(|(which, _)| which),
            text,
        )),
        // A limit stops the evaluation even where CEL would absorb the error (`error || true`).
        (_, Some((which, detail))) => Err(CelError::limit(which, detail, text)),
        (Ok(value), None) => Ok(value),
        (Err(Failure::Cel(error)), None) => Err(error),
    }
}

/// Evaluates `ast` against `bindings` within the work budget.
fn evaluate_with<T>(
    inner: &Inner,
    ast: &IdedExpr,
    bindings: &Bindings<'_>,
    text: &str,
    finish: impl FnOnce(&dyn Val, &str) -> Result<T, CelError>,
) -> Result<T, CelError> {
    in_context(inner, bindings, text, |context| {
        let value = CelValue::resolve_val(ast, context).map_err(Failure::Execution)?;
        finish(value.as_ref(), text).map_err(Failure::Cel)
    })
}

/// A map expression that is a map literal, `{"k": v, ...}`, evaluated entry by entry straight
/// into JSON: the same result as building the CEL map and converting it, without building it.
fn map_literal(
    entries: &[IdedEntryExpr],
    context: &Context<'_, '_>,
    text: &str,
) -> Result<Map<String, Value>, Failure> {
    let mut object = Map::new();
    for entry in entries {
        let EntryExpr::MapEntry(entry) = &entry.expr else {
            return Err(Failure::Cel(CelError::new(
                CelErrorKind::Internal,
                "a map literal holds a struct field",
                text,
            )));
        };
        let key = CelValue::resolve_val(&entry.key, context).map_err(Failure::Execution)?;
        let Some(key) = convert::key_text(key.as_ref()) else {
            return Err(Failure::Execution(ExecutionError::UnsupportedKeyType(
                key.as_ref().try_into().unwrap_or(CelValue::Null),
            )));
        };
        let value = CelValue::resolve_val(&entry.value, context).map_err(Failure::Execution)?;
        let value: &dyn Val = match value.downcast_ref::<CelOptional>() {
            // `{?"k": optional}` adds the entry only when the optional holds a value
            Some(optional) if entry.optional => match optional.inner() {
                Some(inner) => inner,
                None => continue,
            },
            _ => value.as_ref(),
        };
        budget::charge_copy(value).map_err(Failure::Execution)?;
        let json = convert::to_json(value)
            .map_err(|e| Failure::Cel(convert::unrepresentable_error(e, text)))?;
        if object.contains_key(&key) {
            return Err(Failure::Execution(ExecutionError::DuplicateKey(
                CelValue::String(Arc::new(key)),
            )));
        }
        object.insert(key, json);
    }
    Ok(object)
}

/// Evaluates an expression with variables of any name and CEL type, for the cel-spec
/// conformance suite (tests/it/conformance.rs). Not part of the API.
pub(crate) fn evaluate_with_variables<T>(
    engine: &CelEngine,
    text: &str,
    variables: &[(String, Box<dyn Val>)],
    check_references: bool,
    finish: impl FnOnce(&dyn Val) -> T,
) -> Result<T, CelError> {
    let names: Vec<&str> = variables.iter().map(|(name, _)| name.as_str()).collect();
    let compiled =
        engine.compile_with_variables(text, check_references.then_some(names.as_slice()))?;
    let Some(ast) = &compiled.ast else {
        return Err(CelError::new(
            CelErrorKind::Syntax,
            "the expression is empty",
            text,
        ));
    };
    let bindings = Bindings {
        extra: variables,
        payload: None,
        envelope: None,
        variant: CelString::from(""),
        resource: CelString::from(""),
        action: CelString::from(""),
    };
    guarded(text, || {
        evaluate_with(&engine.inner, ast, &bindings, text, |value, _| {
            Ok(finish(value))
        })
    })
}

fn bind<'a>(
    activation: &Activation<'a>,
    uses: Uses,
    limits: &Limits,
    text: &str,
) -> Result<Bindings<'a>, CelError> {
    if uses.payload || uses.envelope {
        activation.check_payload(limits, text)?;
    }
    let envelope = uses.envelope.then(|| {
        let mut fields: HashMap<CelMapKey<'a>, Box<dyn Val + 'a>> = HashMap::with_capacity(4);
        fields.insert(CelMapKey::from("payload"), lazy::to_val(activation.payload));
        for (name, value) in [
            ("variant", activation.variant),
            ("resource", activation.resource),
            ("action", activation.action),
        ] {
            fields.insert(CelMapKey::from(name), Box::new(CelString::from(value)));
        }
        Box::new(CelMap::from(fields)) as Box<dyn Val + 'a>
    });
    Ok(Bindings {
        extra: &[],
        payload: uses.payload.then(|| lazy::to_val(activation.payload)),
        envelope,
        variant: CelString::from(activation.variant),
        resource: CelString::from(activation.resource),
        action: CelString::from(activation.action),
    })
}

fn execution_error(error: ExecutionError, exceeded: Option<Limit>, text: &str) -> CelError {
    if let Some(which) = exceeded {
        return CelError::limit(which, error_detail(&error), text);
    }
    match error {
        ExecutionError::NoSuchKey(field) => CelError::new(
            CelErrorKind::MissingField {
                field: field.to_string(),
            },
            format!(
                "no field `{field}` in the value; test for it with has(...) or select it with `.?`"
            ),
            text,
        ),
        other => CelError::new(
            CelErrorKind::Evaluation,
            format!("evaluation failed: {other}"),
            text,
        ),
    }
}

fn error_detail(error: &ExecutionError) -> String {
    match error {
        ExecutionError::FunctionError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn wrong_type(expected: &'static str, value: &dyn Val, text: &str) -> CelError {
    let actual = value.get_type().name().to_owned();
    CelError::new(
        CelErrorKind::WrongResultType {
            expected,
            actual: actual.clone(),
        },
        format!("the expression must evaluate to a {expected}, but gave a {actual}"),
        text,
    )
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_during_evaluation_becomes_an_internal_error() {
        let result: Result<(), CelError> = guarded("payload.x", || panic!("interpreter bug"));
        let error = result.unwrap_err();
        assert_eq!(error.kind(), &CelErrorKind::Internal);
        assert_eq!(error.expression(), "payload.x");
        // the engine still works afterwards
        let payload = serde_json::json!({"x": 1});
        let value = CelEngine::default()
            .eval_value("payload.x", &Activation::new("v", "r", "a", &payload))
            .unwrap();
        assert_eq!(value, serde_json::json!(1));
    }

    #[test]
    fn a_panic_in_the_parser_thread_becomes_an_error() {
        let result: Result<(), CelError> = on_big_stack(|| panic!("parser bug"));
        assert_eq!(result.unwrap_err().kind(), &CelErrorKind::Internal);
    }
}
