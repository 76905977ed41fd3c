//! A provider's request budget, declared on its definition as data: requests per interval, a
//! burst, and whether the budget is counted per integration or per credential. The provider kit's
//! HTTP layer paces requests with it; the catalog shows it.

use std::time::Duration;

use serde::{Serialize, Serializer};

/// What one budget is shared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitScope {
    /// Each integration has its own budget (most providers count per org or workspace).
    Integration,
    /// Integrations using the same credential share one budget (providers that count per token).
    Credential,
}

/// A provider's request budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Requests allowed per `interval` on average.
    pub requests: u32,
    #[serde(rename = "intervalMs", serialize_with = "millis")]
    pub interval: Duration,
    /// Requests that may go out at once after an idle period.
    pub burst: u32,
    pub scope: RateLimitScope,
}

fn millis<S: Serializer>(interval: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(interval.as_millis())
}

impl RateLimit {
    /// `requests` per `interval`, burst of the same size, per integration.
    pub const fn new(requests: u32, interval: Duration) -> Self {
        Self {
            requests,
            interval,
            burst: requests,
            scope: RateLimitScope::Integration,
        }
    }

    pub const fn per_second(requests: u32) -> Self {
        Self::new(requests, Duration::from_secs(1))
    }

    pub const fn per_minute(requests: u32) -> Self {
        Self::new(requests, Duration::from_secs(60))
    }

    pub const fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    pub const fn scope(mut self, scope: RateLimitScope) -> Self {
        self.scope = scope;
        self
    }

    /// The average refill rate.
    pub fn tokens_per_second(&self) -> f64 {
        f64::from(self.requests.max(1)) / self.interval.as_secs_f64().max(f64::EPSILON)
    }

    /// Whether the budget can pace anything: at least one request, a burst of one, a positive
    /// interval.
    pub fn is_usable(&self) -> bool {
        self.requests > 0 && self.burst > 0 && !self.interval.is_zero()
    }
}
