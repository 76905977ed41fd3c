//! Request budgets of webhook intake: a token bucket per key, so one noisy or hostile sender
//! cannot starve the others. Two sets of keys use them: verified deliveries per integration (or
//! app installation), spent only once a request verified; and refused requests per source
//! address, which an unsigned flood spends without touching anyone's delivery budget.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// A sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    pub per_second: f64,
    pub burst: f64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub(crate) struct TokenBuckets {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 100_000;

impl TokenBuckets {
    pub(crate) fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` has a token left (none is taken), or how long until it has one.
    pub(crate) fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bucket) = buckets.get(key) else {
            return Ok(());
        };
        let tokens = (bucket.tokens
            + now.duration_since(bucket.at).as_secs_f64() * self.config.per_second)
            .min(self.config.burst);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - tokens) / self.config.per_second.max(f64::EPSILON),
            ))
        }
    }

    /// Takes a token for `key`, or says how long until one is available.
    pub(crate) fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            let burst = self.config.burst;
            let rate = self.config.per_second.max(f64::EPSILON);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.config.burst,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.config.per_second).min(self.config.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.config.per_second.max(f64::EPSILON);
            Err(Duration::from_secs_f64(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = TokenBuckets::new(RateLimitConfig {
            per_second: 1.0,
            burst: 3.0,
        });
        for _ in 0..3 {
            limiter.take("a").unwrap();
        }
        let wait = limiter.take("a").unwrap_err();
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1));
        limiter.take("b").unwrap();
    }
}
