//! The evaluation-work budget.
//!
//! The interpreter has no hook to count work, so compiled programs are rewritten (see
//! [`crate::check`]) to pass every comprehension range, and every value a `map`/`filter` appends,
//! through the internal functions below. They charge the thread's current budget, which
//! [`Meter::start`] sets for one evaluation. An evaluation never migrates between threads, so a
//! thread-local is exact and costs no locking.

use crate::{Limit, Limits};
use cel::ExecutionError;
use cel::common::types::{CelBytes, CelMap, CelString, Kind};
use cel::common::value::{CowVal, Val};
use std::cell::Cell;
use std::time::{Duration, Instant};

/// Charges the size of a comprehension's range. Not a valid CEL identifier, so no expression
/// can call it by name.
pub(crate) const CHARGE_RANGE: &str = "@tributary_charge_range";
/// Charges the size of a value a `map`/`filter` step appends, or a list or map literal holds.
pub(crate) const CHARGE_ITEM: &str = "@tributary_charge_item";
/// Charges the size of the list `in` searches.
pub(crate) const CHARGE_SCAN: &str = "@tributary_charge_scan";
/// Wraps a comprehension's loop condition: fails once the evaluation was stopped by a limit,
/// which ends the loop (an `all` or `exists` would otherwise put the error aside and go on).
pub(crate) const CONTINUE: &str = "@tributary_continue";

/// Bytes of a string that cost one unit of work: copying 64 bytes costs about as much as
/// visiting one element.
const BYTES_PER_UNIT: usize = 64;

/// The clock is read once this many units, or this many charges, were spent since it was last
/// read: often enough to stop within milliseconds of the deadline, rarely enough to cost nothing.
const UNITS_PER_CLOCK_READ: u64 = 4096;
const CHARGES_PER_CLOCK_READ: u32 = 64;

#[derive(Clone, Copy)]
struct State {
    budget: u64,
    remaining: u64,
    max_string_bytes: usize,
    max_list_elements: usize,
    time_limit: Duration,
    deadline: Option<Instant>,
    units_since_clock: u64,
    charges_since_clock: u32,
    exceeded: Option<Limit>,
}

impl State {
    /// What the evaluation ran into, for an error message.
    fn describe(&self, limit: Limit) -> String {
        match limit {
            Limit::EvaluationWork => format!(
                "the evaluation needs more than {} units of work (elements visited and values built)",
                self.budget
            ),
            Limit::EvaluationTime => format!(
                "the evaluation ran for more than {} ms",
                self.time_limit.as_millis()
            ),
            Limit::ListSize => format!(
                "a list would have more than the {} elements allowed",
                self.max_list_elements
            ),
            Limit::PayloadSize => format!(
                "a value would be over the {} bytes allowed",
                self.max_string_bytes
            ),
            other => format!("the {other} limit was reached"),
        }
    }
}

thread_local! {
    static STATE: Cell<Option<State>> = const { Cell::new(None) };
}

/// The budget of one evaluation on this thread; restores the previous one when dropped, so
/// nested evaluations (none today) would not clobber each other.
pub(crate) struct Meter {
    previous: Option<State>,
}

impl Meter {
    pub(crate) fn start(limits: &Limits) -> Self {
        let previous = STATE.with(|s| {
            s.replace(Some(State {
                budget: limits.max_evaluation_work,
                remaining: limits.max_evaluation_work,
                max_string_bytes: limits.max_payload_bytes,
                max_list_elements: limits.max_list_elements,
                time_limit: limits.max_evaluation_time,
                // A limit too far in the future to represent is no limit.
                deadline: Instant::now().checked_add(limits.max_evaluation_time),
                units_since_clock: 0,
                charges_since_clock: 0,
                exceeded: None,
            }))
        });
        Self { previous }
    }

    /// The limit this evaluation ran into, if it was stopped by one.
    #[cfg(test)]
    fn exceeded(&self) -> Option<Limit> {
        STATE.with(|s| s.get().and_then(|state| state.exceeded))
    }

    /// The limit this evaluation ran into, and what that means, if it was stopped by one.
    pub(crate) fn stopped(&self) -> Option<(Limit, String)> {
        STATE.with(|s| {
            s.get()
                .and_then(|state| state.exceeded.map(|limit| (limit, state.describe(limit))))
        })
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        STATE.with(|s| s.set(self.previous));
    }
}

/// Records that the evaluation ran into `limit` (it stays stopped: nothing more can be
/// charged) and gives the error that unwinds it.
fn exceed(
    s: &Cell<Option<State>>,
    mut state: State,
    limit: Limit,
    message: String,
) -> ExecutionError {
    state.remaining = 0;
    // the first limit reached is the one reported
    state.exceeded = state.exceeded.or(Some(limit));
    s.set(Some(state));
    ExecutionError::function_error("evaluation", message)
}

/// Spends `units` of the evaluation's work budget, before the work they pay for is done, and
/// stops the evaluation once it is past its deadline.
pub(crate) fn charge(units: u64) -> Result<(), ExecutionError> {
    STATE.with(|s| {
        // Outside an evaluation (e.g. probing functions at check time) nothing is metered.
        let Some(mut state) = s.get() else {
            return Ok(());
        };
        // Once stopped, an evaluation stays stopped, though CEL may absorb the error and go on
        // (`error || true`, or `all` over the next elements).
        if let Some(limit) = state.exceeded {
            return Err(ExecutionError::function_error(
                "evaluation",
                state.describe(limit),
            ));
        }
        if units > state.remaining {
            let message = state.describe(Limit::EvaluationWork);
            return Err(exceed(s, state, Limit::EvaluationWork, message));
        }
        state.remaining -= units;
        state.units_since_clock = state.units_since_clock.saturating_add(units);
        state.charges_since_clock += 1;
        if state.units_since_clock >= UNITS_PER_CLOCK_READ
            || state.charges_since_clock >= CHARGES_PER_CLOCK_READ
        {
            state.units_since_clock = 0;
            state.charges_since_clock = 0;
            if state
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                let message = state.describe(Limit::EvaluationTime);
                return Err(exceed(s, state, Limit::EvaluationTime, message));
            }
        }
        s.set(Some(state));
        Ok(())
    })
}

/// Charges for building or scanning a string of `len` bytes.
pub(crate) fn charge_bytes(len: usize) -> Result<(), ExecutionError> {
    charge((len / BYTES_PER_UNIT) as u64 + 1)
}

fn remaining() -> u64 {
    STATE.with(|s| s.get().map_or(u64::MAX, |state| state.remaining))
}

/// Fails, and records the limit, when a string of `len` bytes would be over the payload size
/// limit: the bound on strings an evaluation builds.
pub(crate) fn string_too_long(len: usize) -> Result<(), ExecutionError> {
    over_size_limit(
        len,
        Limit::PayloadSize,
        |state| state.max_string_bytes,
        |max| format!("the result would be {len} bytes, over the {max} allowed"),
    )
}

/// Fails, and records the limit, when a list or map of `len` elements would be over the list
/// size limit.
pub(crate) fn list_too_long(len: usize) -> Result<(), ExecutionError> {
    over_size_limit(
        len,
        Limit::ListSize,
        |state| state.max_list_elements,
        |max| format!("the result would have {len} elements, over the {max} allowed"),
    )
}

/// Fails, and records `limit`, when `len` is over the evaluation's maximum for it (`max_of`);
/// outside an evaluation nothing is limited.
fn over_size_limit(
    len: usize,
    limit: Limit,
    max_of: fn(&State) -> usize,
    message: impl FnOnce(usize) -> String,
) -> Result<(), ExecutionError> {
    STATE.with(|s| {
        let Some(state) = s.get() else {
            return Ok(());
        };
        let max = max_of(&state);
        if len > max {
            return Err(exceed(s, state, limit, message(max)));
        }
        Ok(())
    })
}

/// The elements of `value`, all levels down (see [`deep_size`]), counted no further than the
/// budget left: a count past it fails to be charged anyway.
pub(crate) fn size_within_budget(value: &dyn Val) -> u64 {
    deep_size(value, remaining().saturating_add(1))
}

/// Charges for copying `value`: its elements, all levels down.
pub(crate) fn charge_copy(value: &dyn Val) -> Result<(), ExecutionError> {
    charge(size_within_budget(value))
}

/// Charges for comparing two values: the elements of the smaller, all levels down, where the
/// comparison stops at the latest.
pub(crate) fn charge_comparison(a: &dyn Val, b: &dyn Val) -> Result<(), ExecutionError> {
    let first = size_within_budget(a);
    let smaller = deep_size(b, first.saturating_add(1)).min(first);
    charge(smaller)
}

/// `@tributary_charge_range(range)`: one unit per element the comprehension will visit.
pub(crate) fn charge_range<'b, 'v>(
    mut args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let range = args.remove(0);
    let size = range
        .as_sizer()
        .map_or(0, |sizer| *sizer.size().inner())
        .max(0) as u64;
    charge(size.max(1))?;
    Ok(range)
}

/// `@tributary_charge_scan(container)`: a list's size, for `x in list` compares `x` with each
/// element; a map's look-up costs one.
pub(crate) fn charge_scan<'b, 'v>(
    mut args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let container = args.remove(0);
    let size = match container.get_type().kind() {
        Kind::List => container
            .as_sizer()
            .map_or(0, |sizer| *sizer.size().inner())
            .max(0) as u64,
        _ => 0,
    };
    charge(size + 1)?;
    Ok(container)
}

/// `@tributary_continue(condition)`: the condition, unless a limit stopped the evaluation.
pub(crate) fn continue_unless_stopped<'b, 'v>(
    mut args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let stopped = STATE.with(|s| {
        s.get()
            .and_then(|state| state.exceeded.map(|l| state.describe(l)))
    });
    match stopped {
        Some(message) => Err(ExecutionError::function_error("evaluation", message)),
        None => Ok(args.remove(0)),
    }
}

/// `@tributary_charge_item(value)`: as many units as the value has elements, all levels down,
/// since appending it copies them all.
pub(crate) fn charge_item<'b, 'v>(
    mut args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let item = args.remove(0);
    charge_copy(item.as_ref())?;
    Ok(item)
}

/// Elements in `value`, all levels down, counted up to `cap` (counting further would be wasted
/// work). Payload objects and arrays are counted like the interpreter's maps and lists: the
/// result's conversion to JSON copies them just the same.
pub(crate) fn deep_size(value: &dyn Val, cap: u64) -> u64 {
    let mut count = 0u64;
    add_size(value, cap, &mut count);
    count
}

fn add_size(value: &dyn Val, cap: u64, count: &mut u64) {
    *count += 1;
    if *count >= cap {
        return;
    }
    match value.get_type().kind() {
        Kind::String => {
            // A long string costs like a list of its 64-byte chunks.
            if let Some(s) = value.downcast_ref::<CelString>() {
                *count += (s.inner().len() / BYTES_PER_UNIT) as u64;
            }
        }
        Kind::Bytes => {
            if let Some(b) = value.downcast_ref::<CelBytes>() {
                *count += (b.inner().len() / BYTES_PER_UNIT) as u64;
            }
        }
        Kind::List => {
            if let Some(items) = value.as_iterable() {
                let mut items = items.iter();
                while let Some(item) = items.next() {
                    add_size(item, cap, count);
                    if *count >= cap {
                        return;
                    }
                }
            }
        }
        Kind::Map => {
            if let Some(map) = value.downcast_ref::<CelMap>() {
                for item in map.inner().values() {
                    add_size(item.as_ref(), cap, count);
                    if *count >= cap {
                        return;
                    }
                }
            } else if let (Some(keys), Some(indexer)) = (value.as_iterable(), value.as_indexer()) {
                let mut keys = keys.iter();
                while let Some(key) = keys.next() {
                    if let Ok(item) = indexer.get(key) {
                        add_size(item.as_ref(), cap, count);
                    }
                    if *count >= cap {
                        return;
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charging_outside_an_evaluation_is_free() {
        assert!(charge(u64::MAX).is_ok());
    }

    #[test]
    fn a_meter_stops_at_its_budget_and_restores_the_previous_one() {
        {
            let meter = Meter::start(&Limits {
                max_evaluation_work: 10,
                ..Limits::default()
            });
            assert!(charge(6).is_ok());
            assert!(charge(5).is_err());
            assert_eq!(meter.exceeded(), Some(Limit::EvaluationWork));
            // once stopped, it stays stopped
            assert!(charge(1).is_err());
        }
        assert!(STATE.with(|s| s.get()).is_none());
    }

    #[test]
    fn a_meter_stops_at_its_deadline() {
        let meter = Meter::start(&Limits {
            max_evaluation_time: Duration::from_millis(20),
            ..Limits::default()
        });
        let started = Instant::now();
        while charge(1).is_ok() {
            assert!(started.elapsed() < Duration::from_secs(5), "never stopped");
        }
        assert_eq!(meter.exceeded(), Some(Limit::EvaluationTime));
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn sizes_are_checked_against_the_limits() {
        let limits = Limits {
            max_payload_bytes: 100,
            max_list_elements: 10,
            ..Limits::default()
        };
        {
            let meter = Meter::start(&limits);
            assert!(string_too_long(100).is_ok());
            assert!(list_too_long(10).is_ok());
            assert!(list_too_long(11).is_err());
            assert_eq!(meter.exceeded(), Some(Limit::ListSize));
            // the first limit reached is the one reported
            assert!(string_too_long(101).is_err());
            assert_eq!(meter.exceeded(), Some(Limit::ListSize));
        }
        let meter = Meter::start(&limits);
        assert!(string_too_long(101).is_err());
        assert_eq!(meter.exceeded(), Some(Limit::PayloadSize));
    }
}
