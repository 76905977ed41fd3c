//! Where CEL runs: never on an async worker thread. An evaluation is CPU work that a tenant's
//! expression or a provider's payload can make slow, and a worker thread stuck in it stalls
//! every task scheduled on that thread, among them tasks holding a database connection. So the
//! CEL work of a whole batch goes to tokio's blocking pool in one hop, at most one batch per CPU
//! at a time, and the caller stops waiting after a wall-clock limit.

use std::{
    num::NonZero,
    sync::{
        Arc, LazyLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::Semaphore;

/// Batches evaluated at once, process-wide: one per CPU, so that CEL work never crowds out the
/// threads that drive I/O.
static EVALUATION_SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cpus = std::thread::available_parallelism().map_or(1, NonZero::get);
    Arc::new(Semaphore::new(cpus))
});

/// Why offloaded CEL work gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffloadError {
    #[error(
        "evaluating {what} took longer than the CEL evaluation time limit of {} ms; the \
         expressions are too slow for these payloads",
        limit.as_millis()
    )]
    TimedOut { what: String, limit: Duration },
    #[error("evaluating {what} stopped unexpectedly: {reason}")]
    Failed { what: String, reason: &'static str },
}

/// Set once the caller stopped waiting (the time limit passed, or its future was dropped): work
/// that loops over items checks it between items and gives up.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Sets the flag when the waiting side goes away, however it goes.
struct SetOnDrop(StopFlag);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Runs `work` (CEL evaluation of `what`, named in errors) on the blocking pool and waits at most
/// `limit` for it. Waiting for a free slot does not count against the limit.
pub async fn evaluate_off_runtime<T, F>(
    what: impl Into<String>,
    limit: Duration,
    work: F,
) -> Result<T, OffloadError>
where
    T: Send + 'static,
    F: FnOnce(&StopFlag) -> T + Send + 'static,
{
    let what = what.into();
    let slot = Arc::clone(&EVALUATION_SLOTS)
        .acquire_owned()
        .await
        .expect("the evaluation semaphore is never closed");
    let stop = StopFlag::default();
    let _stop_when_gone = SetOnDrop(stop.clone());
    // The slot is released when the work really ends, not when the caller gives up on it.
    let task = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work(&stop)
    });
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(join)) => Err(OffloadError::Failed {
            what,
            reason: if join.is_panic() {
                "the evaluation panicked"
            } else {
                "the evaluation was cancelled"
            },
        }),
        Err(_) => Err(OffloadError::TimedOut { what, limit }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_off_the_async_thread_and_is_told_to_stop_at_the_limit() {
        let caller = std::thread::current().id();
        let elsewhere = evaluate_off_runtime("a check", Duration::from_secs(5), move |_| {
            std::thread::current().id() != caller
        })
        .await
        .unwrap();
        assert!(elsewhere, "the work ran on the caller's thread");

        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let error = evaluate_off_runtime("a slow batch", Duration::from_millis(50), move |stop| {
            while !stop.is_set() {
                std::thread::sleep(Duration::from_millis(5));
            }
            seen_tx.send(()).unwrap();
        })
        .await
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "evaluating a slow batch took longer than the CEL evaluation time limit of 50 ms; \
             the expressions are too slow for these payloads"
        );
        seen_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the work saw the stop flag");
    }
}
