//! Bounds on what an expression and a payload may cost, so that no input can hang or crash a
//! worker.

use std::time::Duration;

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
    /// the largest string or bytes value an evaluation may build, checked before it is built.
    pub max_payload_bytes: usize,
    /// Deepest nesting of objects and arrays in a payload.
    pub max_payload_depth: usize,
    /// Work units one evaluation may spend, charged before the work is done: each element a
    /// comprehension (`all`, `exists`, `map`, `filter`, ...) iterates over costs one; each value
    /// a `map`/`filter` appends, or a list or map literal holds, and the result converted to
    /// JSON, costs its size in elements; a
    /// function or `+` that builds a value costs its size (a string one unit per 64 bytes), and
    /// `sort` costs `n log n`.
    pub max_evaluation_work: u64,
    /// Most elements of a list or map an evaluation may build (`+`, `lists.range`, `split`,
    /// `sort`, `flatten`, ...), checked before it is built.
    pub max_list_elements: usize,
    /// Longest one evaluation may run. Checked where work is charged, so an evaluation stuck in
    /// an expensive expression stops itself.
    pub max_evaluation_time: Duration,
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
            max_list_elements: 100_000,
            max_evaluation_time: Duration::from_secs(1),
            max_cached_programs: 4096,
        }
    }
}
