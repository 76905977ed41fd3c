//! How long to wait before retrying a throttled or failed request: the provider's own word
//! (`Retry-After`, reset headers) when it gives one, exponential backoff with jitter otherwise.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::classify::header_str;

/// Bounds on retrying one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// The first backoff step; each further retry doubles it.
    pub base_delay: Duration,
    /// The longest single wait. A provider asking for longer is not waited for: the request fails
    /// at once with a `RateLimit` error carrying the requested wait, so the runtime can end the
    /// run `partial` and resume it later instead of holding a worker.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Backoff before retry number `attempt` (0-based): `base * 2^attempt`, capped at
    /// `max_wait`, then scaled by a random factor in [0.5, 1] so concurrent clients spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)));
        let capped = exponential.min(self.max_wait);
        capped.mul_f64(crate::random_between(0.5, 1.0))
    }
}

/// A provider header saying when its rate-limit window resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetHeader {
    /// Unix time in seconds (Okta `X-Rate-Limit-Reset`, GitHub `X-RateLimit-Reset`).
    EpochSeconds(&'static str),
    /// Seconds from now (the IETF draft `RateLimit-Reset`).
    DeltaSeconds(&'static str),
}

impl ResetHeader {
    pub const OKTA: Self = Self::EpochSeconds("x-rate-limit-reset");
    pub const GITHUB: Self = Self::EpochSeconds("x-ratelimit-reset");
    pub const IETF: Self = Self::DeltaSeconds("ratelimit-reset");

    fn wait(&self, headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
        match self {
            Self::EpochSeconds(name) => {
                let reset: u64 = header_str(headers, name)?.trim().parse().ok()?;
                let now = now.duration_since(UNIX_EPOCH).ok()?;
                Some(Duration::from_secs(reset).saturating_sub(now))
            }
            Self::DeltaSeconds(name) => header_str(headers, name)?
                .trim()
                .parse()
                .ok()
                .map(Duration::from_secs),
        }
    }
}

/// `Retry-After` as delta seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = header_str(headers, RETRY_AFTER.as_str())?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// The wait a throttled answer asks for: `Retry-After` first, then the provider's reset headers
/// in the order given.
pub fn requested_wait(
    headers: &HeaderMap,
    reset_headers: &[ResetHeader],
    now: SystemTime,
) -> Option<Duration> {
    retry_after(headers, now).or_else(|| {
        reset_headers
            .iter()
            .find_map(|reset| reset.wait(headers, now))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &past)]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
    }

    #[test]
    fn reset_headers_are_read_in_order() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let okta = headers(&[("x-rate-limit-reset", "1700000042")]);
        assert_eq!(
            requested_wait(&okta, &[ResetHeader::OKTA], now),
            Some(Duration::from_secs(42))
        );
        assert_eq!(requested_wait(&okta, &[ResetHeader::IETF], now), None);
        let both = headers(&[("retry-after", "3"), ("x-rate-limit-reset", "1700000042")]);
        assert_eq!(
            requested_wait(&both, &[ResetHeader::OKTA], now),
            Some(Duration::from_secs(3))
        );
        let ietf = headers(&[("ratelimit-reset", "9")]);
        assert_eq!(
            requested_wait(&ietf, &[ResetHeader::OKTA, ResetHeader::IETF], now),
            Some(Duration::from_secs(9))
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        for attempt in 0..10 {
            let wait = policy.backoff(attempt);
            let ceiling = (Duration::from_millis(100) * 2u32.pow(attempt)).min(policy.max_wait);
            assert!(
                wait <= ceiling && wait >= ceiling / 2,
                "{attempt}: {wait:?}"
            );
        }
    }
}
