//! The one error type of the crate: what went wrong (a kind), where (expression and position),
//! and, once the caller says so, in which mapping.

use std::fmt;

/// Which limit of [`crate::Limits`] an expression or a payload exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// [`crate::Limits::max_expression_bytes`].
    ExpressionLength,
    /// [`crate::Limits::max_expression_depth`].
    ExpressionDepth,
    /// [`crate::Limits::max_payload_bytes`], also the largest string an evaluation may build.
    PayloadSize,
    /// [`crate::Limits::max_payload_depth`].
    PayloadDepth,
    /// [`crate::Limits::max_evaluation_work`].
    EvaluationWork,
    /// [`crate::Limits::max_list_elements`]: a list or map an evaluation would build.
    ListSize,
    /// [`crate::Limits::max_evaluation_time`].
    EvaluationTime,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::ExpressionLength => "expression length",
            Limit::ExpressionDepth => "expression nesting depth",
            Limit::PayloadSize => "payload size",
            Limit::PayloadDepth => "payload nesting depth",
            Limit::EvaluationWork => "evaluation work",
            Limit::ListSize => "list size",
            Limit::EvaluationTime => "evaluation time",
        })
    }
}

/// What kind of failure a [`CelError`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CelErrorKind {
    /// The expression does not parse.
    Syntax,
    /// The expression names a variable other than the five of the environment (or a
    /// comprehension's own iteration variable).
    UnknownVariable { name: String },
    /// The expression calls a function the environment does not declare.
    UnknownFunction { name: String },
    /// An expression, payload or evaluation went past one of the [`crate::Limits`].
    LimitExceeded { which: Limit },
    /// A field was selected that the value does not have; `has()` or `.?` guards against it.
    MissingField { field: String },
    /// Evaluation failed otherwise: no overload for those argument types, division by zero,
    /// overflow, a bad conversion, ...
    Evaluation,
    /// The expression evaluated to a value of the wrong type: a filter must give a `bool`, a
    /// map an object (or `null`).
    WrongResultType {
        expected: &'static str,
        actual: String,
    },
    /// The payload is not acceptable input: bytes that are not JSON, or not a JSON object where
    /// one is required.
    InvalidPayload,
    /// The result cannot be represented as JSON (a `type` value, a NaN double, ...).
    Unrepresentable,
    /// The CEL interpreter panicked. Caught at the boundary, so a bad expression or payload
    /// never takes a worker down; it is a bug to report.
    Internal,
}

/// The mapping an expression belongs to, added by the caller with [`CelError::with_mapping`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingContext {
    pub definition_id: String,
    pub schema: String,
    pub variant: String,
}

/// Where in the expression, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// An error compiling, checking or evaluating a CEL expression.
///
/// Its `Display` names the mapping (when [`with_mapping`](CelError::with_mapping) was called),
/// the problem, the expression and the position when known, e.g.
/// ``definition `okta`, mapping (DirectoryAccount, user): unknown variable `paylod` at 1:1 in `paylod.id` ``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CelError(Box<Details>);

/// Boxed so that a `Result<_, CelError>` stays one pointer wide on the happy path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Details {
    kind: CelErrorKind,
    message: String,
    expression: String,
    position: Option<Position>,
    mapping: Option<MappingContext>,
}

impl CelError {
    pub(crate) fn new(kind: CelErrorKind, message: impl Into<String>, expression: &str) -> Self {
        Self(Box::new(Details {
            kind,
            message: message.into(),
            expression: expression.to_owned(),
            position: None,
            mapping: None,
        }))
    }

    /// The same error, about another expression (a payload's error found once, reported for
    /// each expression evaluated against it).
    pub(crate) fn for_expression(mut self, expression: &str) -> Self {
        self.0.expression = expression.to_owned();
        self
    }

    pub(crate) fn at(mut self, position: Option<Position>) -> Self {
        self.0.position = position;
        self
    }

    pub(crate) fn limit(which: Limit, detail: impl fmt::Display, expression: &str) -> Self {
        Self::new(
            CelErrorKind::LimitExceeded { which },
            format!("{which} limit exceeded: {detail}"),
            expression,
        )
    }

    /// Names the mapping the expression belongs to, for the error's `Display`.
    pub fn with_mapping(
        mut self,
        definition_id: impl Into<String>,
        schema: impl Into<String>,
        variant: impl Into<String>,
    ) -> Self {
        self.0.mapping = Some(MappingContext {
            definition_id: definition_id.into(),
            schema: schema.into(),
            variant: variant.into(),
        });
        self
    }

    pub fn kind(&self) -> &CelErrorKind {
        &self.0.kind
    }

    /// The problem alone, without mapping, expression or position.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    pub fn expression(&self) -> &str {
        &self.0.expression
    }

    pub fn position(&self) -> Option<Position> {
        self.0.position
    }

    pub fn mapping(&self) -> Option<&MappingContext> {
        self.0.mapping.as_ref()
    }
}

/// The expression as quoted in messages: long ones are cut so a log line stays readable.
const QUOTED_EXPRESSION_CHARS: usize = 200;

impl fmt::Display for CelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        if let Some(m) = &d.mapping {
            write!(
                f,
                "definition `{}`, mapping ({}, {}): ",
                m.definition_id, m.schema, m.variant
            )?;
        }
        f.write_str(&d.message)?;
        if let Some(p) = d.position {
            write!(f, " at {}:{}", p.line, p.column)?;
        }
        if d.expression.is_empty() {
            return Ok(());
        }
        let quoted: String = d.expression.chars().take(QUOTED_EXPRESSION_CHARS).collect();
        let ellipsis = if quoted.len() < d.expression.len() {
            "..."
        } else {
            ""
        };
        write!(f, " in `{quoted}{ellipsis}`")
    }
}

impl std::error::Error for CelError {}
