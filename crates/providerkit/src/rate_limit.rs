//! Client-side pacing declared as data: a budget of requests per interval with a burst, shared by
//! every client of one scope (an integration or a credential). One token bucket per distinct
//! scope key, kept in a registry so that rebuilt clients of the same scope share it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tributary_core::{IntegrationContext, Secret};

pub use tributary_core::{RateLimit, RateLimitScope};

/// The key of the budget a client draws from: definition id plus integration id or a
/// fingerprint of the credential (a SHA-256 prefix, never the credential itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopeKey(String);

impl ScopeKey {
    pub fn integration(integration: &IntegrationContext) -> Self {
        Self(format!(
            "{}/integration/{}",
            integration.definition_id, integration.integration_id
        ))
    }

    pub fn credential(definition_id: &str, credential: &Secret) -> Self {
        let digest = Sha256::digest(credential.expose().as_bytes());
        let fingerprint: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("{definition_id}/credential/{fingerprint}"))
    }

    /// The key for `limit`'s scope.
    pub fn for_scope(
        scope: RateLimitScope,
        integration: &IntegrationContext,
        credential: &Secret,
    ) -> Self {
        match scope {
            RateLimitScope::Integration => Self::integration(integration),
            RateLimitScope::Credential => Self::credential(integration.definition_id, credential),
        }
    }

    /// A narrower key for one class of endpoints with a budget of its own (`"tier2"`).
    pub fn class(self, class: &str) -> Self {
        Self(format!("{}#{class}", self.0))
    }

    /// A key for code that runs outside an integration (tests, one-off token exchanges).
    pub fn named(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
    last_used: Instant,
}

/// The pacing of one scope: a token bucket (if a budget is declared) and a pause a provider can
/// impose (its remaining budget hit zero, or it answered 429).
#[derive(Debug)]
pub struct Limiter {
    budget: Option<RateLimit>,
    state: Mutex<BucketState>,
}

impl Limiter {
    pub fn new(budget: Option<RateLimit>) -> Self {
        let now = Instant::now();
        Self {
            budget,
            state: Mutex::new(BucketState {
                tokens: budget.map_or(0.0, |b| f64::from(b.burst.max(1))),
                refilled_at: now,
                paused_until: None,
                last_used: now,
            }),
        }
    }

    /// Waits until a request may go out, and takes its token. Waiters reserve tokens in arrival
    /// order (the balance goes negative), so a crowd does not wake up at once and collide.
    pub async fn acquire(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    fn reserve(&self, now: Instant) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.last_used = now;
        let mut wait = Duration::ZERO;
        if let Some(budget) = self.budget {
            let rate = budget.tokens_per_second();
            let elapsed = now
                .saturating_duration_since(state.refilled_at)
                .as_secs_f64();
            state.tokens = (state.tokens + elapsed * rate).min(f64::from(budget.burst.max(1)));
            state.refilled_at = now;
            state.tokens -= 1.0;
            if state.tokens < 0.0 {
                wait = Duration::from_secs_f64(-state.tokens / rate);
            }
        }
        if let Some(until) = state.paused_until {
            if until > now {
                wait = wait.max(until - now);
            } else {
                state.paused_until = None;
            }
        }
        wait
    }

    /// Holds every request of this scope until `until` (extends, never shortens, a pause).
    pub fn pause_until(&self, until: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.paused_until.is_none_or(|current| current < until) {
            state.paused_until = Some(until);
        }
    }

    fn idle_since(&self) -> Instant {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_used
    }
}

/// Limiters by scope key.
#[derive(Debug, Default)]
pub struct RateLimiters {
    limiters: Mutex<HashMap<ScopeKey, Arc<Limiter>>>,
}

/// Above this many scopes, limiters idle for [`IDLE_EVICTION`] are dropped on the next insert.
const EVICTION_THRESHOLD: usize = 4096;
const IDLE_EVICTION: Duration = Duration::from_secs(3600);

impl RateLimiters {
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry every [`ProviderHttp`](crate::ProviderHttp) uses unless given another.
    pub fn global() -> &'static RateLimiters {
        static GLOBAL: OnceLock<RateLimiters> = OnceLock::new();
        GLOBAL.get_or_init(RateLimiters::new)
    }

    /// The limiter of `key`, created with `budget` on first use. A later call with a different
    /// budget gets the existing limiter: one scope has one budget.
    pub fn limiter(&self, key: &ScopeKey, budget: Option<RateLimit>) -> Arc<Limiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = limiters.get(key) {
            return Arc::clone(existing);
        }
        if limiters.len() >= EVICTION_THRESHOLD {
            let now = Instant::now();
            limiters.retain(|_, limiter| {
                Arc::strong_count(limiter) > 1
                    || now.saturating_duration_since(limiter.idle_since()) < IDLE_EVICTION
            });
        }
        let limiter = Arc::new(Limiter::new(budget));
        limiters.insert(key.clone(), Arc::clone(&limiter));
        limiter
    }

    pub fn len(&self) -> usize {
        self.limiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_paced() {
        let limiter = Limiter::new(Some(RateLimit::per_second(10).burst(2)));
        let now = Instant::now();
        assert_eq!(limiter.reserve(now), Duration::ZERO);
        assert_eq!(limiter.reserve(now), Duration::ZERO);
        let third = limiter.reserve(now);
        assert!((third.as_secs_f64() - 0.1).abs() < 1e-6, "{third:?}");
        let fourth = limiter.reserve(now);
        assert!((fourth.as_secs_f64() - 0.2).abs() < 1e-6, "{fourth:?}");
        // After a second of idleness the bucket is full again (capped at the burst).
        let later = now + Duration::from_secs(2);
        assert_eq!(limiter.reserve(later), Duration::ZERO);
        assert_eq!(limiter.reserve(later), Duration::ZERO);
        assert!(limiter.reserve(later) > Duration::ZERO);
    }

    #[test]
    fn pauses_apply_without_a_budget() {
        let limiter = Limiter::new(None);
        let now = Instant::now();
        assert_eq!(limiter.reserve(now), Duration::ZERO);
        limiter.pause_until(now + Duration::from_secs(5));
        limiter.pause_until(now + Duration::from_secs(1));
        assert_eq!(limiter.reserve(now), Duration::from_secs(5));
        assert_eq!(
            limiter.reserve(now + Duration::from_secs(6)),
            Duration::ZERO
        );
    }

    #[test]
    fn one_limiter_per_scope_key() {
        let registry = RateLimiters::new();
        let budget = Some(RateLimit::per_minute(600));
        let mut integration = IntegrationContext::detached("okta");
        integration.integration_id = "a".into();
        let a1 = registry.limiter(&ScopeKey::integration(&integration), budget);
        let a2 = registry.limiter(&ScopeKey::integration(&integration), budget);
        integration.integration_id = "b".into();
        let b = registry.limiter(&ScopeKey::integration(&integration), budget);
        assert!(Arc::ptr_eq(&a1, &a2));
        assert!(!Arc::ptr_eq(&a1, &b));
        assert_eq!(registry.len(), 2);
    }

    #[test]
    fn credential_keys_do_not_contain_the_credential() {
        let key = ScopeKey::credential("slack", &Secret::new("xoxb-very-secret"));
        assert!(!key.as_str().contains("xoxb"), "{key:?}");
        assert_eq!(
            key,
            ScopeKey::credential("slack", &Secret::new("xoxb-very-secret"))
        );
        assert_ne!(
            key,
            ScopeKey::credential("slack", &Secret::new("xoxb-other"))
        );
    }
}
