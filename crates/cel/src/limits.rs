//! Bounds on what an expression and a payload may cost, so that no input can hang or crash a
//! worker.

/// The bounds an engine enforces. Exceeding one gives a
/// [`CelErrorKind::LimitExceeded`](crate::CelErrorKind::LimitExceeded) error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest expression text, in bytes.
    pub max_expression_bytes: usize,
    /// Deepest nesting of an expression: brackets, operators, member selections and macro
    /// bodies each add a level.
    pub max_expression_depth: usize,
    /// Largest payload, in bytes of JSON (for a parsed payload, its estimated encoded size). Also
    /// the largest string an evaluation may build.
    pub max_payload_bytes: usize,
    /// Deepest nesting of objects and arrays in a payload.
    pub max_payload_depth: usize,
    /// Work units one evaluation may spend: each element a comprehension (`all`, `exists`,
    /// `map`, `filter`, ...) iterates over costs one, and each value a `map`/`filter` appends
    /// costs its size in elements.
    pub max_evaluation_work: u64,
    /// Compiled programs kept in the engine's cache.
    pub max_cached_programs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_expression_bytes: 16 * 1024,
            max_expression_depth: 48,
            max_payload_bytes: 4 * 1024 * 1024,
            max_payload_depth: 64,
            max_evaluation_work: 1_000_000,
            max_cached_programs: 4096,
        }
    }
}
