//! Webhook endpoints as intake needs them (the endpoint, its opened secret, its integration's
//! definition), kept in memory for [`INTAKE_CACHE_TTL`].
//!
//! Every delivery needs its endpoint before it can be verified. Reading it from the database
//! costs a round trip per delivery, which is most of what a delivery costs PostgreSQL once the
//! writes are group-committed. A burst to one endpoint now reads it once.
//!
//! Staleness is bounded:
//! * a change made through this process's store (secret rotated, endpoint disabled or deleted,
//!   integration or tenant deleted) empties the cache when it commits;
//! * a change made by another process (a second server, the command line on the same database)
//!   is seen within [`INTAKE_CACHE_TTL`]; intake also reads the endpoint afresh when a delivery
//!   fails to verify against a cached secret, so a sender already using a rotated secret is never
//!   refused.
//!
//! A read that started before a change and finished after it is not cached (a generation counter
//! bumped by every change), so an emptied cache cannot be refilled with what the change replaced.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::{SecretBytes, webhooks::WebhookEndpoint};

/// How long a cached endpoint is trusted: the longest a change made by another process can go
/// unseen by intake.
pub const INTAKE_CACHE_TTL: Duration = Duration::from_secs(1);

/// Endpoints kept at most; past it, expired entries go, then (a flood of distinct live
/// endpoints) everything.
const MAX_ENTRIES: usize = 10_000;

/// What intake needs of an endpoint before it reads a request's body.
#[derive(Clone)]
pub struct IntakeTarget {
    pub endpoint: WebhookEndpoint,
    pub secret: SecretBytes,
    /// The definition of the endpoint's integration.
    pub definition_id: String,
}

impl std::fmt::Debug for IntakeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("IntakeTarget")
            .field("endpoint", &self.endpoint.id)
            .field("definition_id", &self.definition_id)
            .finish_non_exhaustive()
    }
}

/// An intake target and whether it came from the cache (and so may be up to
/// [`INTAKE_CACHE_TTL`] old).
#[derive(Debug, Clone)]
pub struct IntakeLookup {
    pub target: Arc<IntakeTarget>,
    pub cached: bool,
}

#[derive(Default)]
pub(crate) struct IntakeCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped by every change to endpoints.
    generation: u64,
    entries: HashMap<String, Entry>,
}

struct Entry {
    fetched: Instant,
    target: Arc<IntakeTarget>,
}

impl std::fmt::Debug for IntakeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeCache")
            .field("entries", &self.lock().entries.len())
            .finish()
    }
}

impl IntakeCache {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves a map of complete entries: still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The endpoint if it was read less than [`INTAKE_CACHE_TTL`] ago.
    pub(crate) fn get(&self, endpoint_id: &str) -> Option<Arc<IntakeTarget>> {
        let state = self.lock();
        state
            .entries
            .get(endpoint_id)
            .filter(|entry| entry.fetched.elapsed() < INTAKE_CACHE_TTL)
            .map(|entry| Arc::clone(&entry.target))
    }

    /// Taken before reading an endpoint, handed back to [`IntakeCache::put`].
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keeps `target`, read when the generation was `read_at`, unless endpoints changed since.
    pub(crate) fn put(&self, target: Arc<IntakeTarget>, read_at: u64, fetched: Instant) {
        let mut state = self.lock();
        if state.generation != read_at {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state
                .entries
                .retain(|_, entry| entry.fetched.elapsed() < INTAKE_CACHE_TTL);
            if state.entries.len() >= MAX_ENTRIES {
                state.entries.clear();
            }
        }
        state
            .entries
            .insert(target.endpoint.id.clone(), Entry { fetched, target });
    }

    /// Forgets a removed endpoint's entry (read again, it was gone).
    pub(crate) fn forget(&self, endpoint_id: &str) {
        self.lock().entries.remove(endpoint_id);
    }

    /// Empties the cache after a change to endpoints (or their integration or tenant) committed.
    pub(crate) fn invalidate(&self) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str) -> Arc<IntakeTarget> {
        Arc::new(IntakeTarget {
            endpoint: WebhookEndpoint {
                id: id.to_owned(),
                tenant_id: "t".into(),
                integration_id: "i".into(),
                name: "events".into(),
                allowed_events: Vec::new(),
                enabled: true,
                created_at: 0,
            },
            secret: SecretBytes::from("whsec_x"),
            definition_id: "d".into(),
        })
    }

    #[test]
    fn a_read_that_overlapped_a_change_is_not_kept() {
        let cache = IntakeCache::default();
        let read_at = cache.generation();
        cache.invalidate();
        cache.put(target("e1"), read_at, Instant::now());
        assert!(cache.get("e1").is_none());

        let read_at = cache.generation();
        cache.put(target("e1"), read_at, Instant::now());
        assert_eq!(cache.get("e1").unwrap().endpoint.id, "e1");
        cache.invalidate();
        assert!(cache.get("e1").is_none(), "a change empties the cache");
    }

    #[test]
    fn entries_expire() {
        let cache = IntakeCache::default();
        let old = Instant::now() - INTAKE_CACHE_TTL;
        cache.put(target("e1"), cache.generation(), old);
        assert!(cache.get("e1").is_none());
        cache.put(target("e2"), cache.generation(), Instant::now());
        cache.forget("e2");
        assert!(cache.get("e2").is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = IntakeCache::default();
        for n in 0..MAX_ENTRIES + 10 {
            cache.put(target(&format!("e{n}")), cache.generation(), Instant::now());
        }
        assert!(cache.lock().entries.len() <= MAX_ENTRIES);
    }
}
