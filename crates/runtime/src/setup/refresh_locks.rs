//! In-process refresh locks, one per integration: two tasks of one process that find the same
//! token expiring refresh it once (across processes the database's lock does the same).
//! A module of its own so that the runtime's state holds them without depending on the
//! credential flow that takes them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// In-process refresh locks, one per integration.
#[derive(Default)]
pub(crate) struct RefreshLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl RefreshLocks {
    pub(crate) fn get(&self, integration_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Drop locks nobody holds so the map does not grow with every integration ever seen.
        if locks.len() > 1024 {
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        Arc::clone(locks.entry(integration_id.to_owned()).or_default())
    }
}
