//! The client pool: API clients are built once per integration, client and credential version,
//! shared by every operation after that, and dropped when the credentials change or the
//! integration is disconnected.
//!
//! Two operations asking for the same missing client at once cause one build, not two
//! (single-flight); a failed build is not cached.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
};

use tokio::sync::OnceCell;
use tributary_core::{ErasedClient, OperationError};

/// Identifies one pooled client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub integration_id: String,
    pub client_id: &'static str,
    /// Changes whenever a credential the client uses changes (e.g. the sum of the slots' stored
    /// versions); a new version makes the old client unreachable.
    pub credential_version: i64,
}

struct Slot {
    cell: Arc<OnceCell<ErasedClient>>,
    last_used: u64,
}

/// A bounded, process-local cache of built clients.
pub struct ClientPool {
    slots: Mutex<HashMap<ClientKey, Slot>>,
    capacity: usize,
    clock: std::sync::atomic::AtomicU64,
}

impl ClientPool {
    /// A pool holding at most `capacity` clients; the least recently used goes first.
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            clock: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Returns the pooled client for `key`, building it with `build` if there is none.
    pub async fn get_or_build<F, Fut>(
        &self,
        key: ClientKey,
        build: F,
    ) -> Result<ErasedClient, OperationError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<ErasedClient, OperationError>>,
    {
        let cell = self.cell_for(&key);
        let client = cell.get_or_try_init(build).await?;
        Ok(Arc::clone(client))
    }

    fn cell_for(&self, key: &ClientKey) -> Arc<OnceCell<ErasedClient>> {
        let tick = self
            .clock
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // Older versions of the same client can never be asked for again.
        slots.retain(|existing, _| {
            !(existing.integration_id == key.integration_id
                && existing.client_id == key.client_id
                && existing.credential_version != key.credential_version)
        });
        if !slots.contains_key(key)
            && slots.len() >= self.capacity
            && let Some(oldest) = slots
                .iter()
                .min_by_key(|(_, slot)| slot.last_used)
                .map(|(k, _)| k.clone())
        {
            slots.remove(&oldest);
        }
        let slot = slots.entry(key.clone()).or_insert_with(|| Slot {
            cell: Arc::new(OnceCell::new()),
            last_used: tick,
        });
        slot.last_used = tick;
        Arc::clone(&slot.cell)
    }

    /// Drops every client of an integration (credentials changed, disconnected, deleted).
    pub fn invalidate(&self, integration_id: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|key, _| key.integration_id != integration_id);
    }

    /// How many clients are pooled (built or being built).
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for ClientPool {
    fn default() -> Self {
        Self::new(10_000)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn key(integration: &str, version: i64) -> ClientKey {
        ClientKey {
            integration_id: integration.into(),
            client_id: "api",
            credential_version: version,
        }
    }

    async fn build_counting(counter: &AtomicUsize) -> Result<ErasedClient, OperationError> {
        counter.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        Ok(Arc::new(counter.load(Ordering::SeqCst)) as ErasedClient)
    }

    /// Takes `key`'s client from `pool`, built with `build_counting` when it is not pooled.
    async fn build_as_needed(pool: &ClientPool, key: ClientKey, builds: &AtomicUsize) {
        pool.get_or_build(key, || build_counting(builds))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn concurrent_requests_build_once() {
        let pool = Arc::new(ClientPool::default());
        let builds = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let pool = Arc::clone(&pool);
                let builds = Arc::clone(&builds);
                tokio::spawn(async move {
                    pool.get_or_build(key("i1", 1), || build_counting(&builds))
                        .await
                        .unwrap()
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_new_credential_version_rebuilds_and_drops_the_old() {
        let pool = ClientPool::default();
        let builds = AtomicUsize::new(0);
        build_as_needed(&pool, key("i1", 1), &builds).await;
        build_as_needed(&pool, key("i1", 1), &builds).await;
        build_as_needed(&pool, key("i1", 2), &builds).await;
        assert_eq!(builds.load(Ordering::SeqCst), 2);
        assert_eq!(pool.len(), 1);
    }

    #[tokio::test]
    async fn failures_are_not_cached() {
        let pool = ClientPool::default();
        let err = pool
            .get_or_build(key("i1", 1), || async {
                Err(OperationError::auth("token rejected"))
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind, tributary_core::ErrorKind::Auth);
        let builds = AtomicUsize::new(0);
        build_as_needed(&pool, key("i1", 1), &builds).await;
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn invalidation_and_capacity() {
        let pool = ClientPool::new(2);
        let builds = AtomicUsize::new(0);
        build_as_needed(&pool, key("a", 1), &builds).await;
        build_as_needed(&pool, key("b", 1), &builds).await;
        build_as_needed(&pool, key("a", 1), &builds).await;
        build_as_needed(&pool, key("c", 1), &builds).await;
        assert_eq!(pool.len(), 2, "b was least recently used and evicted");
        build_as_needed(&pool, key("a", 1), &builds).await;
        assert_eq!(builds.load(Ordering::SeqCst), 3);
        pool.invalidate("a");
        assert_eq!(pool.len(), 1);
    }
}
