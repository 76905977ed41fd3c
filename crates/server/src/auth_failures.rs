//! Throttling of failed authentication per source address: `/v1` bearer tokens, SCIM bearer
//! secrets and UI sign-ins share one count, so guessing on one surface cannot continue on another.
//! After [`AuthFailureLimit::max_failures`] failures within a window, the source is answered 429
//! with `Retry-After` for the cool-down, whatever it sends, a valid credential included (otherwise
//! the throttled requests would still tell a guess from a hit).
//!
//! The source is the peer address of the connection (`ConnectInfo`); IPv6 peers count per /64,
//! the block one host usually holds. Behind a reverse proxy every client shares the proxy's
//! address: raise the limit or turn it off there (`max_failures: 0`).

use std::{
    collections::HashMap,
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::AppState;

/// How many failures a source may have before it is made to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailureLimit {
    /// Failures allowed within `window`; the next request waits for `cool_down`. 0 turns the
    /// throttle off.
    pub max_failures: u32,
    /// The window failures are counted in, from the first one.
    pub window: Duration,
    /// How long a source that reached the limit is refused.
    pub cool_down: Duration,
}

impl Default for AuthFailureLimit {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(60),
            cool_down: Duration::from_secs(60),
        }
    }
}

impl AuthFailureLimit {
    /// No throttling (a server whose every client comes through one proxy address).
    pub const OFF: Self = Self {
        max_failures: 0,
        window: Duration::ZERO,
        cool_down: Duration::ZERO,
    };
}

/// Sources remembered at most; beyond, the least recently failing ones are forgotten first.
const MAX_SOURCES: usize = 10_000;

struct Source {
    window_start: Instant,
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

impl Source {
    /// Whether forgetting it would change an answer.
    fn matters(&self, now: Instant, limit: &AuthFailureLimit) -> bool {
        self.blocked_until.is_some_and(|until| until > now)
            || now.duration_since(self.window_start) < limit.window
    }
}

/// The failure counts of recent sources.
pub(crate) struct AuthFailures {
    limit: AuthFailureLimit,
    sources: Mutex<HashMap<IpAddr, Source>>,
}

impl AuthFailures {
    pub(crate) fn new(limit: AuthFailureLimit) -> Self {
        Self {
            limit,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while `source` is cooling down.
    pub(crate) fn check(&self, source: IpAddr) -> Result<(), Duration> {
        if self.limit.max_failures == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        match sources.get(&source).and_then(|s| s.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts one failed authentication from `source`.
    pub(crate) fn record_failure(&self, source: IpAddr) {
        if self.limit.max_failures == 0 {
            return;
        }
        let now = Instant::now();
        let limit = self.limit;
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if !sources.contains_key(&source) && sources.len() >= MAX_SOURCES {
            sources.retain(|_, s| s.matters(now, &limit));
            if sources.len() >= MAX_SOURCES
                && let Some(stalest) = sources
                    .iter()
                    .min_by_key(|(_, s)| s.last_failure)
                    .map(|(ip, _)| *ip)
            {
                sources.remove(&stalest);
            }
        }
        let entry = sources.entry(source).or_insert(Source {
            window_start: now,
            failures: 0,
            last_failure: now,
            blocked_until: None,
        });
        let cooled_down = entry.blocked_until.is_some_and(|until| until <= now);
        if cooled_down || now.duration_since(entry.window_start) >= limit.window {
            entry.window_start = now;
            entry.failures = 0;
            entry.blocked_until = None;
        }
        entry.failures += 1;
        entry.last_failure = now;
        if entry.failures >= limit.max_failures {
            entry.blocked_until = Some(now + limit.cool_down);
        }
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.sources.lock().unwrap().len()
    }
}

/// The address failures of a peer are counted under: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by
/// its /64. Without connection info (a router served without it) every request shares one count.
pub(crate) fn source_key(peer: Option<SocketAddr>) -> IpAddr {
    match peer.map(|peer| peer.ip()) {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & (u128::MAX << 64))),
        },
    }
}

/// The source address of a request, as failures are counted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerSource(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for PeerSource {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(PeerSource(source_key(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0),
        )))
    }
}

/// Whole seconds to announce in `Retry-After` (at least one).
pub(crate) fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Adds `Retry-After` to a 429 answer.
pub(crate) fn with_retry_after(mut response: Response, wait: Duration) -> Response {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_seconds(wait)),
    );
    response
}

/// The message of every throttled answer.
pub(crate) fn throttled_message(wait: Duration) -> String {
    format!(
        "too many failed authentications from this address; retry in {} s",
        retry_after_seconds(wait)
    )
}

/// Refuses a cooling-down source before the route runs, and counts the route's 401 answers to
/// requests that presented credentials (a request without any is not a guess).
async fn throttle(
    failures: &AuthFailures,
    request: Request,
    next: Next,
    refuse: impl FnOnce(Duration) -> Response,
) -> Response {
    let source = source_key(
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0),
    );
    if let Err(wait) = failures.check(source) {
        return with_retry_after(refuse(wait), wait);
    }
    let presented = request.headers().contains_key(header::AUTHORIZATION);
    let response = next.run(request).await;
    if presented && response.status() == StatusCode::UNAUTHORIZED {
        failures.record_failure(source);
    }
    response
}

/// The throttle of the `/v1` routes (the REST error shape).
pub(crate) async fn api(State(state): State<AppState>, request: Request, next: Next) -> Response {
    throttle(&state.auth_failures, request, next, |wait| {
        crate::api::ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failures",
            throttled_message(wait),
        )
        .into_response()
    })
    .await
}

/// The throttle of the SCIM routes (the SCIM error shape).
pub(crate) async fn scim(State(state): State<AppState>, request: Request, next: Next) -> Response {
    throttle(&state.auth_failures, request, next, |wait| {
        tributary_scim::error::ScimError::new(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            throttled_message(wait),
        )
        .into_response()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn limit(max_failures: u32) -> AuthFailureLimit {
        AuthFailureLimit {
            max_failures,
            window: Duration::from_secs(60),
            cool_down: Duration::from_secs(30),
        }
    }

    /// A throttle with its own times (short ones, for a window or cool-down to pass in a test).
    fn throttle(max_failures: u32, window: Duration, cool_down: Duration) -> AuthFailures {
        AuthFailures::new(AuthFailureLimit {
            max_failures,
            window,
            cool_down,
        })
    }

    #[test]
    fn a_source_waits_after_the_limit_and_others_do_not() {
        let failures = AuthFailures::new(limit(3));
        for _ in 0..2 {
            failures.record_failure(ip("10.0.0.1"));
            assert!(failures.check(ip("10.0.0.1")).is_ok());
        }
        failures.record_failure(ip("10.0.0.1"));
        let wait = failures.check(ip("10.0.0.1")).unwrap_err();
        assert!(wait > Duration::from_secs(29) && wait <= Duration::from_secs(30));
        assert!(failures.check(ip("10.0.0.2")).is_ok());
    }

    #[test]
    fn failures_outside_the_window_start_a_new_count() {
        let failures = throttle(2, Duration::from_millis(20), Duration::from_secs(30));
        failures.record_failure(ip("10.0.0.1"));
        std::thread::sleep(Duration::from_millis(30));
        failures.record_failure(ip("10.0.0.1"));
        assert!(failures.check(ip("10.0.0.1")).is_ok());
        failures.record_failure(ip("10.0.0.1"));
        assert!(failures.check(ip("10.0.0.1")).is_err());
    }

    #[test]
    fn the_cool_down_ends() {
        let failures = throttle(1, Duration::from_secs(60), Duration::from_millis(20));
        failures.record_failure(ip("10.0.0.1"));
        assert!(failures.check(ip("10.0.0.1")).is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(failures.check(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn a_failure_after_the_cool_down_starts_a_fresh_count() {
        let failures = throttle(2, Duration::from_secs(60), Duration::from_millis(20));
        failures.record_failure(ip("10.0.0.1"));
        failures.record_failure(ip("10.0.0.1"));
        assert!(failures.check(ip("10.0.0.1")).is_err());
        std::thread::sleep(Duration::from_millis(30));
        failures.record_failure(ip("10.0.0.1"));
        assert!(failures.check(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn off_never_refuses() {
        let failures = AuthFailures::new(AuthFailureLimit::OFF);
        for _ in 0..100 {
            failures.record_failure(ip("10.0.0.1"));
        }
        assert!(failures.check(ip("10.0.0.1")).is_ok());
        assert_eq!(failures.remembered(), 0);
    }

    #[test]
    fn memory_is_bounded_and_blocked_sources_are_kept_over_stale_ones() {
        let failures = AuthFailures::new(limit(1));
        let first = ip("192.0.2.1");
        failures.record_failure(first);
        for n in 0..(MAX_SOURCES as u32 + 500) {
            failures.record_failure(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)));
            assert!(failures.remembered() <= MAX_SOURCES);
        }
        assert_eq!(failures.remembered(), MAX_SOURCES);
        // Every entry was still blocked, so the least recently failing went first.
        assert!(failures.check(first).is_ok());
        assert!(
            failures
                .check(IpAddr::V4(Ipv4Addr::from(
                    0x0a00_0000 + MAX_SOURCES as u32 + 499
                )))
                .is_err()
        );
    }

    #[test]
    fn ipv6_peers_count_per_64_and_mapped_ipv4_as_ipv4() {
        let peer = |text: &str| Some(SocketAddr::new(ip(text), 1234));
        assert_eq!(
            source_key(peer("2001:db8:1:2:aaaa::1")),
            source_key(peer("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            source_key(peer("2001:db8:1:2::1")),
            source_key(peer("2001:db8:1:3::1"))
        );
        assert_eq!(source_key(peer("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(source_key(None), ip("0.0.0.0"));
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(59_001)), 60);
        assert_eq!(retry_after_seconds(Duration::from_secs(60)), 60);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }
}
