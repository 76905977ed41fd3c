//! The evaluation-work budget.
//!
//! The interpreter has no hook to count work, so compiled programs are rewritten (see
//! [`crate::check`]) to pass every comprehension range, and every value a `map`/`filter` appends,
//! through the internal functions below. They charge the thread's current budget, which
//! [`Meter::start`] sets for one evaluation. An evaluation never migrates between threads, so a
//! thread-local is exact and costs no locking.

use cel::ExecutionError;
use cel::common::types::{CelMap, CelString, Kind};
use cel::common::value::{CowVal, Val};
use std::cell::Cell;

/// Charges the size of a comprehension's range. Not a valid CEL identifier, so no expression
/// can call it by name.
pub(crate) const CHARGE_RANGE: &str = "@tributary_charge_range";
/// Charges the size of a value a `map`/`filter` step appends.
pub(crate) const CHARGE_ITEM: &str = "@tributary_charge_item";

#[derive(Clone, Copy)]
struct State {
    budget: u64,
    remaining: u64,
    max_string_bytes: usize,
    exceeded: Option<crate::Limit>,
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
    pub(crate) fn start(work: u64, max_string_bytes: usize) -> Self {
        let previous = STATE.with(|s| {
            s.replace(Some(State {
                budget: work,
                remaining: work,
                max_string_bytes,
                exceeded: None,
            }))
        });
        Self { previous }
    }

    /// The limit this evaluation ran into, if it was stopped by one.
    pub(crate) fn exceeded(&self) -> Option<crate::Limit> {
        STATE.with(|s| s.get().and_then(|state| state.exceeded))
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        STATE.with(|s| s.set(self.previous));
    }
}

fn charge(units: u64) -> Result<(), ExecutionError> {
    STATE.with(|s| {
        // Outside an evaluation (e.g. probing functions at check time) nothing is metered.
        let Some(mut state) = s.get() else {
            return Ok(());
        };
        if units > state.remaining {
            state.remaining = 0;
            state.exceeded = Some(crate::Limit::EvaluationWork);
            s.set(Some(state));
            return Err(ExecutionError::function_error(
                "evaluation",
                format!(
                    "the evaluation needs more than {} units of work (elements visited by comprehensions and values they append)",
                    state.budget
                ),
            ));
        }
        state.remaining -= units;
        s.set(Some(state));
        Ok(())
    })
}

fn remaining() -> u64 {
    STATE.with(|s| s.get().map_or(u64::MAX, |state| state.remaining))
}

/// Fails, and records the limit, when a string of `len` bytes would be over the payload size
/// limit: the bound on strings an evaluation builds.
pub(crate) fn string_too_long(len: usize) -> Result<(), ExecutionError> {
    STATE.with(|s| {
        let Some(mut state) = s.get() else {
            return Ok(());
        };
        if len > state.max_string_bytes {
            state.exceeded = Some(crate::Limit::PayloadSize);
            s.set(Some(state));
            return Err(ExecutionError::function_error(
                "replace",
                format!(
                    "the result would be {len} bytes, over the {} allowed",
                    state.max_string_bytes
                ),
            ));
        }
        Ok(())
    })
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

/// `@tributary_charge_item(value)`: as many units as the value has elements, all levels down,
/// since appending it copies them all.
pub(crate) fn charge_item<'b, 'v>(
    mut args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let item = args.remove(0);
    let cap = remaining();
    let size = deep_size(item.as_ref(), cap.saturating_add(1));
    charge(size)?;
    Ok(item)
}

/// Elements in `value`, all levels down, counted up to `cap` (counting further would be wasted
/// work). Payload objects and arrays are counted like the interpreter's maps and lists: the
/// result's conversion to JSON copies them just the same.
fn deep_size(value: &dyn Val, cap: u64) -> u64 {
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
                *count += (s.inner().len() / 64) as u64;
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
            let meter = Meter::start(10, 100);
            assert!(charge(6).is_ok());
            assert!(charge(5).is_err());
            assert_eq!(meter.exceeded(), Some(crate::Limit::EvaluationWork));
        }
        assert!(STATE.with(|s| s.get()).is_none());
    }
}
