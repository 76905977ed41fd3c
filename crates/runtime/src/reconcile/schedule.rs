//! The adaptive reconcile interval: how long to wait before running a reconcile-eligible
//! operation again. Busy integrations are polled more often, idle or failing ones less, within
//! fixed bounds.

use std::time::Duration;

/// Bounds and factors of the adaptive interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulePolicy {
    pub min: Duration,
    pub max: Duration,
    /// A run that changed at least this many records drops the interval straight to `min`.
    pub busy_threshold: u64,
}

impl Default for SchedulePolicy {
    fn default() -> Self {
        Self {
            min: Duration::from_secs(5 * 60),
            max: Duration::from_secs(24 * 60 * 60),
            busy_threshold: 100,
        }
    }
}

/// How the last run went, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Succeeded and created, updated or tombstoned this many records.
    Changed(u64),
    /// Succeeded and changed nothing.
    Idle,
    /// Failed; back off.
    Failed,
}

/// The persisted state of one schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleState {
    pub interval: Duration,
    pub idle_streak: u32,
    pub error_streak: u32,
}

impl ScheduleState {
    /// A schedule that has not run yet: its first interval is the minimum.
    pub fn initial(policy: &SchedulePolicy) -> Self {
        Self {
            interval: policy.min,
            idle_streak: 0,
            error_streak: 0,
        }
    }

    /// The state after a run with `outcome`.
    pub fn next(&self, policy: &SchedulePolicy, outcome: RunOutcome) -> Self {
        let current = self.interval.clamp(policy.min, policy.max);
        let doubled = current.saturating_mul(2).min(policy.max);
        match outcome {
            RunOutcome::Changed(n) if n >= policy.busy_threshold => Self {
                interval: policy.min,
                idle_streak: 0,
                error_streak: 0,
            },
            RunOutcome::Changed(_) => Self {
                interval: (current / 2).max(policy.min),
                idle_streak: 0,
                error_streak: 0,
            },
            RunOutcome::Idle => Self {
                interval: doubled,
                idle_streak: self.idle_streak.saturating_add(1),
                error_streak: 0,
            },
            RunOutcome::Failed => Self {
                interval: doubled,
                idle_streak: 0,
                error_streak: self.error_streak.saturating_add(1),
            },
        }
    }

    /// The wait before the next run, spread by up to ±10% so that integrations connected together
    /// do not all poll their providers at the same instant.
    pub fn jittered_delay(&self, policy: &SchedulePolicy) -> Duration {
        let spread = self.interval.as_secs_f64() * 0.1;
        let offset = tributary_providerkit::random_between(-spread, spread);
        Duration::from_secs_f64((self.interval.as_secs_f64() + offset).max(0.0))
            .clamp(policy.min.mul_f64(0.9), policy.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(300);
    const MAX: Duration = Duration::from_secs(86_400);

    fn state(secs: u64) -> ScheduleState {
        ScheduleState {
            interval: Duration::from_secs(secs),
            idle_streak: 0,
            error_streak: 0,
        }
    }

    #[test]
    fn idle_runs_double_up_to_the_maximum() {
        let policy = SchedulePolicy::default();
        let mut s = ScheduleState::initial(&policy);
        let mut seen = Vec::new();
        for _ in 0..12 {
            s = s.next(&policy, RunOutcome::Idle);
            seen.push(s.interval.as_secs());
        }
        assert_eq!(&seen[..4], &[600, 1200, 2400, 4800]);
        assert_eq!(s.interval, MAX);
        assert_eq!(s.idle_streak, 12);
    }

    #[test]
    fn changes_halve_and_busy_runs_reset_to_the_minimum() {
        let policy = SchedulePolicy::default();
        assert_eq!(
            state(4800)
                .next(&policy, RunOutcome::Changed(3))
                .interval
                .as_secs(),
            2400
        );
        assert_eq!(
            state(400).next(&policy, RunOutcome::Changed(3)).interval,
            MIN
        );
        assert_eq!(
            state(80_000)
                .next(&policy, RunOutcome::Changed(100))
                .interval,
            MIN
        );
    }

    #[test]
    fn failures_back_off_and_count() {
        let policy = SchedulePolicy::default();
        let s = state(600).next(&policy, RunOutcome::Failed);
        assert_eq!(s.interval.as_secs(), 1200);
        assert_eq!(s.error_streak, 1);
        let s = s.next(&policy, RunOutcome::Idle);
        assert_eq!(s.error_streak, 0);
    }

    #[test]
    fn out_of_bounds_state_is_clamped() {
        let policy = SchedulePolicy::default();
        assert_eq!(
            state(1).next(&policy, RunOutcome::Idle).interval.as_secs(),
            600
        );
        assert_eq!(
            state(10_000_000).next(&policy, RunOutcome::Idle).interval,
            MAX
        );
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let policy = SchedulePolicy::default();
        let s = state(1000);
        for _ in 0..200 {
            let d = s.jittered_delay(&policy).as_secs_f64();
            assert!((900.0..=1100.0).contains(&d), "{d}");
        }
    }
}
