//! The CEL environment of Tributary: mappings' filter and map expressions are compiled once,
//! checked at registry time, cached by text, and evaluated against provider payloads within
//! [`Limits`]. No type of the `cel` crate appears in this API.
//!
//! ```
//! use tributary_cel::{Activation, CelEngine};
//! use serde_json::json;
//!
//! let engine = CelEngine::default();
//! // At startup: a typo fails here, not at 3 a.m. in a sync.
//! engine.check("payload.status == 'ACTIVE'").unwrap();
//! assert!(engine.check("paylod.status == 'ACTIVE'").is_err());
//!
//! let payload = json!({"id": 12345678, "status": "ACTIVE", "profile": {"email": "a@example.com"}});
//! let activation = Activation::new("user", "users", "list", &payload);
//! assert!(engine.eval_filter("payload.status == 'ACTIVE'", &activation).unwrap());
//! let record = engine
//!     .eval_map("{'external_id': string(payload.id), 'email': payload.profile.email}", &activation)
//!     .unwrap();
//! assert_eq!(record["external_id"], "12345678");
//! ```
//!
//! The API:
//! - [`CelEngine`] (`Clone + Send + Sync`, an `Arc` inside): [`CelEngine::new`]`(Limits)`,
//!   [`CelEngine::check`], [`CelEngine::compile`] -> [`Program`], [`CelEngine::eval_filter`],
//!   [`CelEngine::eval_map`], [`CelEngine::eval_value`], [`CelEngine::parse_payload`] (raw bytes).
//! - [`Activation`]: the borrowed input (`variant`, `resource`, `action`, `payload`).
//! - [`Program`]: `filter`, `map`, `evaluate` without the cache look-up.
//! - [`CelError`] with a [`CelErrorKind`] (and [`Limit`]), the expression, the [`Position`] when
//!   known, and a [`MappingContext`] set by [`CelError::with_mapping`].
//!
//! docs/cel.md describes the environment for mapping authors.

mod budget;
mod check;
mod conversions;
mod convert;
mod engine;
mod environment;
mod error;
mod functions;
mod lazy;
mod limits;
mod macros;
mod metered;
mod optional;
mod prescan;

pub use check::VARIABLES;
pub use engine::{Activation, CelEngine, Program};
pub use error::{CelError, CelErrorKind, Limit, MappingContext, Position};
pub use limits::Limits;

/// Not part of the API: lets tests/it/conformance.rs run the cel-spec conformance suite, whose
/// bindings are typed CEL values, through this engine. Nothing else should use it.
#[doc(hidden)]
pub mod conformance {
    pub use cel;

    /// Compiles (allowing the variables' names; checking references unless told not to) and
    /// evaluates `expression`, handing the result to `finish`.
    pub fn evaluate<T>(
        engine: &crate::CelEngine,
        expression: &str,
        variables: &[(String, Box<dyn cel::common::value::Val>)],
        check_references: bool,
        finish: impl FnOnce(&dyn cel::common::value::Val) -> T,
    ) -> Result<T, crate::CelError> {
        crate::engine::evaluate_with_variables(
            engine,
            expression,
            variables,
            check_references,
            finish,
        )
    }
}
