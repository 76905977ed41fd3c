//! The worker loop: claims jobs, runs a handler with a concurrency bound, acknowledges results
//! in batches, heartbeats leases, reaps jobs of dead workers, and shuts down gracefully.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt as _;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{AbortHandle, JoinSet};

use super::{Job, NOTIFY_CHANNEL, duration_ms};
use crate::db::{Backend, Db, new_id, now_ms};
use crate::error::Result;

/// Why a handler failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// Stored as the job's `last_error`: never put secrets here.
    pub message: String,
    /// False: the job is dead at once, whatever attempts remain.
    pub retryable: bool,
    /// Overrides the backoff for the next attempt (a provider's `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl JobError {
    /// A failure worth retrying (with backoff).
    pub fn retry(message: impl std::fmt::Display) -> Self {
        JobError {
            message: message.to_string(),
            retryable: true,
            retry_after: None,
        }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        JobError {
            message: message.to_string(),
            retryable: false,
            retry_after: None,
        }
    }

    /// Retry no earlier than `after`.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }
}

/// Exponential backoff with jitter: attempt n waits a random time in
/// `[d/2, d]` where `d = min(max, base * 2^(n-1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the second attempt (upper bound).
    pub base: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay after failed attempt `attempt` (1-based).
    pub fn delay(&self, attempt: i64) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let ceiling = self.base.saturating_mul(1u32 << exponent).min(self.max);
        let ceiling_ms = u64::try_from(ceiling.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).expect("the operating system's random source failed");
        let half = ceiling_ms / 2;
        let jitter = u64::from_le_bytes(random) % (ceiling_ms - half + 1);
        Duration::from_millis(half + jitter)
    }
}

/// Jobs a worker process runs at once unless configured (`worker.concurrency`).
pub const DEFAULT_WORKER_CONCURRENCY: usize = 8;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Queue to take jobs from.
    pub queue: String,
    /// Jobs running at once.
    pub concurrency: usize,
    /// Most jobs taken per claim.
    pub batch_size: usize,
    /// Lease length; a job whose worker stops heartbeating is reclaimed after it.
    pub lease: Duration,
    /// How often leases are extended and expired ones reaped (well under `lease`).
    pub heartbeat: Duration,
    /// Poll interval when no wake-up arrives (scheduled jobs, other processes on SQLite).
    pub poll_interval: Duration,
    /// Retry backoff.
    pub backoff: Backoff,
}

impl WorkerConfig {
    /// Defaults for `queue`: 8 at once, batches of 16, 30 s lease, 10 s heartbeat, 1 s poll,
    /// backoff from 1 s to 1 h.
    pub fn new(queue: impl Into<String>) -> Self {
        WorkerConfig {
            queue: queue.into(),
            concurrency: DEFAULT_WORKER_CONCURRENCY,
            batch_size: 16,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            backoff: Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(3600),
            },
        }
    }
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Jobs that succeeded.
    pub succeeded: u64,
    /// Failed attempts (retried or dead).
    pub failed: u64,
    /// Running jobs stopped because they were cancelled.
    pub cancelled: u64,
}

/// A worker bound to a database and a queue.
#[derive(Debug, Clone)]
pub struct Worker {
    db: Db,
    config: WorkerConfig,
    id: String,
}

enum Outcome {
    Succeeded,
    Failed(JobError),
}

struct Finished {
    job: Job,
    outcome: Outcome,
}

type Running = Arc<Mutex<HashMap<String, AbortHandle>>>;

/// Tries to record one batch of results before leaving them to lease expiry.
const ACK_ATTEMPTS: u64 = 8;

impl Worker {
    /// A worker with a fresh id.
    pub fn new(db: Db, config: WorkerConfig) -> Self {
        Worker {
            db,
            config,
            id: format!("worker-{}", new_id()),
        }
    }

    /// This worker's id (stored on the jobs it claims).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs `handler` on jobs until `shutdown` completes, then stops claiming, lets running
    /// jobs finish, records their results and returns.
    pub async fn run<H, F, S>(self, handler: H, shutdown: S) -> Result<WorkerStats>
    where
        H: Fn(Job) -> F + Send + Sync + 'static,
        F: Future<Output = std::result::Result<(), JobError>> + Send + 'static,
        S: Future<Output = ()> + Send,
    {
        let handler = Arc::new(handler);
        let wake = self.db.job_wake().clone();
        let running: Running = Arc::default();
        let stats = Arc::new(Mutex::new(WorkerStats::default()));
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let (done_tx, done_rx) = mpsc::unbounded_channel::<Finished>();
        let acker = tokio::spawn(acknowledge(
            self.db.clone(),
            self.config.backoff,
            done_rx,
            stats.clone(),
        ));
        let heartbeat = tokio::spawn(heartbeat(self.clone(), running.clone(), stats.clone()));
        let listener = match self.db.postgres_pool() {
            Some(pool) => Some(tokio::spawn(listen(
                pool.clone(),
                self.config.queue.clone(),
                wake.clone(),
            ))),
            None => None,
        };
        // If this future is dropped rather than shut down (its task aborted, a `select!` that
        // moved on), the heartbeat must not outlive it: it would keep extending the leases of
        // jobs nobody runs any more, and they would never be picked up again.
        let _background = AbortOnDrop(
            std::iter::once(heartbeat.abort_handle())
                .chain(listener.as_ref().map(|l| l.abort_handle()))
                .collect(),
        );
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let free = slots.available_permits().min(self.config.batch_size.max(1));
            let mut claimed = 0;
            if free > 0 {
                let jobs = self.claim(free).await;
                let jobs = match jobs {
                    Ok(jobs) => jobs,
                    Err(err) => {
                        tracing::warn!(worker = %self.id, error = %err, "claiming jobs failed");
                        Vec::new()
                    }
                };
                claimed = jobs.len();
                for job in jobs {
                    let Ok(permit) = slots.clone().acquire_owned().await else {
                        break;
                    };
                    let handler = handler.clone();
                    let done = done_tx.clone();
                    let registry = running.clone();
                    let id = job.id.clone();
                    let handle = tasks.spawn(async move {
                        let result = AssertUnwindSafe(handler(job.clone())).catch_unwind().await;
                        let outcome = match result {
                            Ok(Ok(())) => Outcome::Succeeded,
                            Ok(Err(err)) => Outcome::Failed(err),
                            Err(_) => Outcome::Failed(JobError::retry("the job handler panicked")),
                        };
                        lock(&registry).remove(&job.id);
                        let _ = done.send(Finished { job, outcome });
                        drop(permit);
                    });
                    lock(&running).insert(id, handle);
                }
            }
            if claimed > 0 && claimed == free {
                // There may be more ready jobs; go again unless asked to stop.
                if (&mut shutdown).now_or_never().is_some() {
                    break;
                }
                continue;
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = &mut notified => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        // Graceful stop: no more claims; running jobs finish and are acknowledged.
        while tasks.join_next().await.is_some() {}
        drop(done_tx);
        let _ = acker.await;
        heartbeat.abort();
        if let Some(listener) = listener {
            listener.abort();
        }
        let stats = *lock(&stats);
        Ok(stats)
    }
}

impl Worker {
    async fn claim(&self, limit: usize) -> Result<Vec<Job>> {
        let (queue, lease) = (&self.config.queue, self.config.lease);
        match self.db.backend() {
            // One autocommit statement through the single writer connection.
            Backend::Sqlite => self.db.jobs().claim(queue, &self.id, limit, lease).await,
            // A claim lost in a server crash only puts the jobs back in the queue, so it does
            // not wait for the WAL flush.
            Backend::Postgres => {
                let mut tx = self.db.begin().await?;
                tx.relax_durability().await?;
                let jobs = tx.jobs().claim(queue, &self.id, limit, lease).await?;
                tx.commit().await?;
                Ok(jobs)
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records results: successes of one claim in one statement, failures one by one.
async fn acknowledge(
    db: Db,
    backoff: super::Backoff,
    mut done: mpsc::UnboundedReceiver<Finished>,
    stats: Arc<Mutex<WorkerStats>>,
) {
    let mut batch = Vec::new();
    while let Some(first) = done.recv().await {
        batch.push(first);
        while batch.len() < 512 {
            match done.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Recording is conditional on the lease, so a retry after a transient error (a
        // PostgreSQL deadlock with a heartbeat, a busy SQLite file) is harmless; giving up means
        // the jobs run again once their leases expire.
        for attempt in 1..=ACK_ATTEMPTS {
            match acknowledge_batch(&db, backoff, &mut batch, &stats).await {
                Ok(()) => break,
                Err(err) if attempt < ACK_ATTEMPTS => {
                    tracing::debug!(error = %err, attempt, "recording job results failed; retrying");
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                }
                Err(err) => tracing::warn!(
                    error = %err,
                    "recording job results failed; their leases will expire and they will run again"
                ),
            }
        }
        batch.clear();
    }
}

async fn acknowledge_batch(
    db: &Db,
    backoff: super::Backoff,
    batch: &mut [Finished],
    stats: &Mutex<WorkerStats>,
) -> Result<()> {
    let mut by_lease: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut failures = Vec::new();
    for finished in batch.iter() {
        let lease = finished.job.lease_id.as_deref().unwrap_or_default();
        match &finished.outcome {
            Outcome::Succeeded => by_lease.entry(lease).or_default().push(&finished.job.id),
            Outcome::Failed(err) => failures.push((&finished.job, lease, err)),
        }
    }
    let mut tx = db.begin().await?;
    // Results lost in a server crash make the jobs run again after their leases, which the
    // at-least-once contract allows; so the commit does not wait for the WAL flush.
    tx.relax_durability().await?;
    let mut succeeded = 0;
    for (lease, ids) in &by_lease {
        succeeded += tx.jobs().complete(lease, ids).await?;
    }
    for (job, lease, err) in &failures {
        let retry_at = (err.retryable && job.attempts < job.max_attempts).then(|| {
            let delay = err
                .retry_after
                .unwrap_or_else(|| backoff.delay(job.attempts));
            now_ms().saturating_add(duration_ms(delay))
        });
        tx.jobs()
            .fail(&job.id, lease, &err.message, retry_at)
            .await?;
    }
    let retried = failures
        .iter()
        .any(|(job, _, err)| err.retryable && job.attempts < job.max_attempts);
    if retried {
        tx.wake_workers_on_commit();
    }
    tx.commit().await?;
    let mut stats = lock(stats);
    stats.succeeded += succeeded;
    stats.failed += failures.len() as u64;
    Ok(())
}

/// Extends leases, stops cancelled jobs, and reaps jobs whose workers died.
/// Aborts background tasks when dropped.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

async fn heartbeat(worker: Worker, running: Running, stats: Arc<Mutex<WorkerStats>>) {
    let mut tick = tokio::time::interval(worker.config.heartbeat);
    loop {
        tick.tick().await;
        let mut jobs = worker.db.jobs();
        if let Err(err) = jobs.heartbeat(&worker.id, worker.config.lease).await {
            tracing::warn!(worker = %worker.id, error = %err, "job heartbeat failed");
        }
        let ids: Vec<String> = lock(&running).keys().cloned().collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        match jobs.cancelled_among(&refs).await {
            Ok(cancelled) => {
                let mut running = lock(&running);
                for id in cancelled {
                    if let Some(handle) = running.remove(&id) {
                        handle.abort();
                        lock(&stats).cancelled += 1;
                    }
                }
            }
            Err(err) => {
                tracing::warn!(worker = %worker.id, error = %err, "checking cancellations failed")
            }
        }
        if let Err(err) = jobs.reap_expired().await {
            tracing::warn!(worker = %worker.id, error = %err, "reaping expired leases failed");
        }
    }
}

/// PostgreSQL: turns `NOTIFY tributary_jobs '<queue>'` into local wake-ups.
async fn listen(pool: sqlx::PgPool, queue: String, wake: Arc<tokio::sync::Notify>) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "job LISTEN connection failed; polling until it is back");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(NOTIFY_CHANNEL).await {
            tracing::warn!(error = %err, "LISTEN failed; polling until it works");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // A fresh connection may have missed notifications: wake once to look.
        wake.notify_waiters();
        loop {
            match listener.recv().await {
                Ok(notification) if notification.payload() == queue => wake.notify_waiters(),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "job notifications interrupted");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = backoff.delay(1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = backoff.delay(3);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            let late = backoff.delay(40);
            assert!(
                late >= Duration::from_millis(500) && late <= Duration::from_secs(1),
                "{late:?}"
            );
        }
    }
}
