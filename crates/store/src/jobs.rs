//! The durable job queue, in the same database as everything else.
//!
//! * Enqueue inside the caller's transaction (`tx.jobs().enqueue(..)`): the job exists exactly
//!   when the caller's writes commit.
//! * Claim with a lease: a claim sets `state = running`, a fresh `lease_id` and `lease_until`.
//!   PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so workers in several processes never take
//!   the same job; SQLite claims through its single writer connection.
//! * Workers wake on enqueue: PostgreSQL `NOTIFY tributary_jobs` (sent at commit), SQLite an
//!   in-process signal (fired at commit); both also poll as a safety net.
//! * The worker heartbeats its running jobs (extending their leases). A job whose lease ran out
//!   (its worker died) is put back in the queue by any worker's reaper, or marked dead when it has
//!   used all its attempts.
//! * A failed job is retried with exponential backoff and jitter until `max_attempts`, then
//!   marked `dead` with the last error.
//! * Completion and failure are conditional on the claim's `lease_id`: a worker whose lease was
//!   taken over cannot overwrite the newer attempt's outcome.
//!
//! Delivery is at-least-once: a handler killed half-way runs again. Handlers make their effects
//! idempotent (upserts keyed by the job or run id).

mod worker;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::db::{Backend, Db, Exec, Scope, Tx, new_id, now_ms, on_backend};
use crate::error::{Result, StoreError};

pub use worker::{
    Backoff, DEFAULT_WORKER_CONCURRENCY, JobError, Worker, WorkerConfig, WorkerStats,
};

/// PostgreSQL notification channel; the payload is the queue name.
pub const NOTIFY_CHANNEL: &str = "tributary_jobs";

/// State of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for `run_at` and a worker.
    Queued,
    /// Claimed by a worker (under a lease).
    Running,
    /// Done.
    Succeeded,
    /// Failed on its last attempt (or permanently); `last_error` says why.
    Dead,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "dead" => JobState::Dead,
            "cancelled" => JobState::Cancelled,
            other => return Err(StoreError::Corrupt(format!("job state {other:?}"))),
        })
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Id (UUID v7).
    pub id: String,
    /// Queue name.
    pub queue: String,
    /// What to do (the runtime maps kinds to handlers).
    pub kind: String,
    /// Arguments.
    pub payload: Value,
    /// Tenant it acts for, if any.
    pub tenant_id: Option<String>,
    /// State.
    pub state: JobState,
    /// Attempts started so far (1 during the first run).
    pub attempts: i64,
    /// Attempts allowed before the job is dead.
    pub max_attempts: i64,
    /// Unix ms before which it is not claimed.
    pub run_at: i64,
    /// Idempotency key, unique per queue.
    pub idempotency_key: Option<String>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms when it reached a final state.
    pub finished_at: Option<i64>,
    /// Lease of the current claim (set while running).
    #[serde(skip)]
    pub lease_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    queue: String,
    kind: String,
    payload: String,
    tenant_id: Option<String>,
    state: String,
    attempts: i64,
    max_attempts: i64,
    run_at: i64,
    idempotency_key: Option<String>,
    last_error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
    lease_id: Option<String>,
}

impl TryFrom<Row> for Job {
    type Error = StoreError;
    fn try_from(row: Row) -> Result<Self> {
        Ok(Job {
            id: row.id,
            queue: row.queue,
            kind: row.kind,
            payload: serde_json::from_str(&row.payload)?,
            tenant_id: row.tenant_id,
            state: JobState::parse(&row.state)?,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            run_at: row.run_at,
            idempotency_key: row.idempotency_key,
            last_error: row.last_error,
            created_at: row.created_at,
            finished_at: row.finished_at,
            lease_id: row.lease_id,
        })
    }
}

const COLUMNS: &str = "id, queue, kind, payload, tenant_id, state, attempts, max_attempts, run_at, \
                       idempotency_key, last_error, created_at, finished_at, lease_id";

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob<'a> {
    /// Queue name.
    pub queue: &'a str,
    /// What to do.
    pub kind: &'a str,
    /// Arguments.
    pub payload: &'a Value,
    /// Tenant it acts for.
    pub tenant_id: Option<&'a str>,
    /// Unix ms before which it is not claimed (`None`: now).
    pub run_at: Option<i64>,
    /// Attempts allowed (default 5).
    pub max_attempts: i64,
    /// A second enqueue with the same key in the same queue returns the first job instead.
    pub idempotency_key: Option<&'a str>,
}

impl<'a> NewJob<'a> {
    /// A job with defaults: run now, 5 attempts, no key.
    pub fn new(queue: &'a str, kind: &'a str, payload: &'a Value) -> Self {
        NewJob {
            queue,
            kind,
            payload,
            tenant_id: None,
            run_at: None,
            max_attempts: 5,
            idempotency_key: None,
        }
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant_id: &'a str) -> Self {
        self.tenant_id = Some(tenant_id);
        self
    }

    /// Runs no earlier than `run_at` (unix ms).
    pub fn run_at(mut self, run_at: i64) -> Self {
        self.run_at = Some(run_at);
        self
    }

    /// Sets the attempt budget (at least 1).
    pub fn max_attempts(mut self, n: i64) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: &'a str) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job with this id.
    New(String),
    /// The idempotency key was taken: the existing job's id.
    Existing(String),
}

impl Enqueued {
    /// The job id either way.
    pub fn id(&self) -> &str {
        match self {
            Enqueued::New(id) | Enqueued::Existing(id) => id,
        }
    }
}

/// Repository for jobs. Jobs are system rows: ids are unguessable and the API layer checks the
/// tenant of the run a job belongs to.
#[derive(Debug)]
pub struct Jobs<'a> {
    scope: Scope<'a>,
}

impl Db {
    /// The job queue.
    pub fn jobs(&self) -> Jobs<'_> {
        Jobs {
            scope: Scope::Db(self),
        }
    }
}

impl Tx {
    /// The job queue inside this transaction (jobs appear when it commits).
    pub fn jobs(&mut self) -> Jobs<'_> {
        Jobs {
            scope: Scope::Tx(self),
        }
    }
}

/// Builds `$first, $first+1, ...` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Jobs<'_> {
    /// Enqueues one job and wakes workers (at commit, inside a transaction).
    pub async fn enqueue(&mut self, job: &NewJob<'_>) -> Result<Enqueued> {
        let mut out = self.enqueue_many(std::slice::from_ref(job)).await?;
        Ok(out.remove(0))
    }

    /// Enqueues several jobs with one wake-up per queue; in order of `jobs`.
    pub async fn enqueue_many(&mut self, jobs: &[NewJob<'_>]) -> Result<Vec<Enqueued>> {
        let now = now_ms();
        let mut out = Vec::with_capacity(jobs.len());
        let mut queues: Vec<&str> = Vec::new();
        {
            let mut conn = self.scope.write().await?;
            let mut exec = conn.exec();
            if jobs.iter().all(|job| job.idempotency_key.is_none()) {
                // Nothing can conflict: one multi-row INSERT per chunk.
                for chunk in jobs.chunks(INSERT_CHUNK) {
                    out.extend(insert_unkeyed(exec.reborrow(), chunk, now).await?);
                }
            } else {
                for job in jobs {
                    out.push(insert_job(exec.reborrow(), job, now).await?);
                }
            }
            for job in jobs {
                if !queues.contains(&job.queue) {
                    queues.push(job.queue);
                }
            }
        }
        match &mut self.scope {
            Scope::Tx(tx) => {
                tx.wake_workers_on_commit();
                for queue in &queues {
                    tx.notify_queue_on_commit(queue);
                }
            }
            Scope::Db(db) => {
                db.job_wake().notify_waiters();
                let queues: Vec<String> = queues.iter().map(|q| (*q).to_owned()).collect();
                db.notify_queues(&queues).await?;
            }
        }
        Ok(out)
    }

    /// The job with this id.
    pub async fn get(&mut self, id: &str) -> Result<Option<Job>> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        let row: Option<Row> = self
            .scope
            .fetch_optional(sqlx::AssertSqlSafe(sql), (id,))
            .await?;
        row.map(Job::try_from).transpose()
    }

    /// Cancels a queued or running job (a running one is stopped by its worker at the next
    /// heartbeat, and its result is discarded). False if it had already finished.
    pub async fn cancel(&mut self, id: &str) -> Result<bool> {
        let now = now_ms();
        let sql = "UPDATE jobs SET state = 'cancelled', finished_at = $1, updated_at = $1, lease_until = NULL \
                   WHERE id = $2 AND state IN ('queued', 'running')";
        let n = self.scope.execute(sql, (now, id)).await?;
        Ok(n > 0)
    }

    /// Cancels the queued or running job of `queue` enqueued with `idempotency_key` (see
    /// [`Jobs::cancel`]). False if there is none or it had already finished.
    pub async fn cancel_keyed(&mut self, queue: &str, idempotency_key: &str) -> Result<bool> {
        let now = now_ms();
        let sql = "UPDATE jobs SET state = 'cancelled', finished_at = $1, updated_at = $1, lease_until = NULL \
                   WHERE queue = $2 AND idempotency_key = $3 AND state IN ('queued', 'running')";
        let params = (now, queue, idempotency_key);
        let n = self.scope.execute(sql, params).await?;
        Ok(n > 0)
    }

    /// Claims up to `limit` due jobs of `queue` for `worker_id`, leased until now + `lease`.
    pub async fn claim(
        &mut self,
        queue: &str,
        worker_id: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Job>> {
        let lease_id = new_id();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.scope.write().await?;
        // Read the clock after waiting for the connection, so the whole lease is usable.
        let now = now_ms();
        let lease_until = now.saturating_add(duration_ms(lease));
        let exec = conn.exec();
        // On PostgreSQL, several workers claim at once: each takes only jobs no other holds.
        let lock = match exec.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker_id = $1, \
                 lease_id = $2, lease_until = $3, updated_at = $4 \
             WHERE id IN (SELECT id FROM jobs WHERE queue = $5 AND state = 'queued' \
                 AND run_at <= $4 ORDER BY run_at, id LIMIT $6{lock}) \
             RETURNING {COLUMNS}"
        );
        let params = (worker_id, &lease_id, lease_until, now, queue, limit);
        let rows: Vec<Row> = exec.fetch_all(sqlx::AssertSqlSafe(sql), params).await?;
        let mut jobs = rows
            .into_iter()
            .map(Job::try_from)
            .collect::<Result<Vec<_>>>()?;
        jobs.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
        Ok(jobs)
    }

    /// Marks jobs of one claim (`lease_id`) succeeded. Jobs whose lease was lost (reclaimed,
    /// cancelled) are left alone. Returns how many were marked.
    pub async fn complete(&mut self, lease_id: &str, ids: &[&str]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let sql = format!(
            "UPDATE jobs SET state = 'succeeded', finished_at = $1, updated_at = $1, lease_until = NULL \
             WHERE lease_id = $2 AND state = 'running' AND id IN ({})",
            placeholders(3, ids.len())
        );
        let mut conn = self.scope.write().await?;
        Ok(on_backend!(conn.exec(), |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(lease_id);
            for id in ids {
                query = query.bind(*id);
            }
            query.execute(&mut *c).await?.rows_affected()
        }))
    }

    /// Records a failed attempt of a claimed job: back to the queue at `retry_at`, or dead when
    /// `retry_at` is `None`. False if the lease was lost.
    pub async fn fail(
        &mut self,
        job_id: &str,
        lease_id: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool> {
        let now = now_ms();
        let (state, run_at, finished_at) = match retry_at {
            Some(at) => (JobState::Queued, Some(at), None),
            None => (JobState::Dead, None, Some(now)),
        };
        let sql = "UPDATE jobs SET state = $1, run_at = COALESCE($2, run_at), finished_at = $3, \
                   last_error = $4, lease_until = NULL, updated_at = $5 \
                   WHERE id = $6 AND lease_id = $7 AND state = 'running'";
        let params = (
            state.as_str(),
            run_at,
            finished_at,
            error,
            now,
            job_id,
            lease_id,
        );
        let n = self.scope.execute(sql, params).await?;
        Ok(n > 0)
    }

    /// Extends the leases of every job `worker_id` is running.
    pub async fn heartbeat(&mut self, worker_id: &str, lease: Duration) -> Result<u64> {
        let now = now_ms();
        let sql = "UPDATE jobs SET lease_until = $1 WHERE worker_id = $2 AND state = 'running'";
        self.scope
            .execute(sql, (now.saturating_add(duration_ms(lease)), worker_id))
            .await
    }

    /// Of `ids`, those that have been cancelled.
    pub async fn cancelled_among(&mut self, ids: &[&str]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id FROM jobs WHERE state = 'cancelled' AND id IN ({})",
            placeholders(1, ids.len())
        );
        self.scope
            .scalar_all(sqlx::AssertSqlSafe(sql), ids.to_vec())
            .await
    }

    /// Puts running jobs whose lease expired back in the queue (or marks them dead when their
    /// attempts are used up). Returns how many it touched.
    pub async fn reap_expired(&mut self) -> Result<u64> {
        let now = now_ms();
        let sql = "UPDATE jobs SET \
                   state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
                   finished_at = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END, \
                   last_error = 'lease expired: the worker stopped responding', \
                   run_at = $1, lease_until = NULL, updated_at = $1 \
                   WHERE state = 'running' AND lease_until < $1";
        let n = self.scope.execute(sql, (now,)).await?;
        if n > 0 {
            self.scope.db().job_wake().notify_waiters();
        }
        Ok(n)
    }

    /// Deletes succeeded and cancelled jobs finished before `before` (unix ms); dead jobs are
    /// kept for inspection. Returns how many.
    pub async fn purge_finished(&mut self, before: i64) -> Result<u64> {
        let sql = "DELETE FROM jobs WHERE state IN ('succeeded', 'cancelled') AND finished_at < $1";
        self.scope.execute(sql, (before,)).await
    }

    /// Number of jobs per state in `queue`.
    pub async fn counts(&mut self, queue: &str) -> Result<BTreeMap<JobState, i64>> {
        let sql = "SELECT state, count(*) FROM jobs WHERE queue = $1 GROUP BY state";
        let rows: Vec<(String, i64)> = self.scope.fetch_all(sql, (queue,)).await?;
        rows.into_iter()
            .map(|(state, n)| Ok((JobState::parse(&state)?, n)))
            .collect()
    }

    /// The backlog of `queue` per job kind at `now` (Unix ms): jobs waiting and running, and
    /// when the oldest job that could run (its `run_at` passed) became ready. One grouped scan
    /// of the unfinished jobs, cheap enough for every metrics scrape.
    pub async fn backlog(&mut self, queue: &str, now: i64) -> Result<Vec<KindBacklog>> {
        let sql = "SELECT kind, state, count(*), min(CASE WHEN run_at <= $2 THEN run_at END) \
                   FROM jobs WHERE queue = $1 AND state IN ('queued', 'running') \
                   GROUP BY kind, state";
        let rows: Vec<(String, String, i64, Option<i64>)> =
            self.scope.fetch_all(sql, (queue, now)).await?;
        let mut backlog: BTreeMap<String, KindBacklog> = BTreeMap::new();
        for (kind, state, jobs, ready_since) in rows {
            let entry = backlog.entry(kind.clone()).or_insert_with(|| KindBacklog {
                kind,
                ..KindBacklog::default()
            });
            match JobState::parse(&state)? {
                JobState::Queued => {
                    entry.queued = jobs;
                    entry.oldest_ready_at = ready_since;
                }
                _ => entry.running = jobs,
            }
        }
        Ok(backlog.into_values().collect())
    }
}

/// The unfinished jobs of one kind in a queue (see [`Jobs::backlog`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindBacklog {
    pub kind: String,
    /// Waiting for a worker or for their `run_at`.
    pub queued: i64,
    /// Claimed by a worker.
    pub running: i64,
    /// The earliest `run_at` (Unix ms) among queued jobs that are due: how long the oldest
    /// runnable job has waited. `None` when nothing due is waiting.
    pub oldest_ready_at: Option<i64>,
}

/// Jobs per multi-row INSERT (7 parameters each, well under both backends' limits).
const INSERT_CHUNK: usize = 500;

async fn insert_unkeyed(exec: Exec<'_>, jobs: &[NewJob<'_>], now: i64) -> Result<Vec<Enqueued>> {
    let rows: Vec<String> = (0..jobs.len())
        .map(|i| {
            let p = i * 7;
            format!(
                "(${}, ${}, ${}, ${}, ${}, 'queued', 0, ${}, ${}, NULL, $1, $1)",
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO jobs (id, queue, kind, payload, tenant_id, state, attempts, max_attempts, \
             run_at, idempotency_key, created_at, updated_at) VALUES {}",
        rows.join(", ")
    );
    let ids: Vec<String> = jobs.iter().map(|_| new_id()).collect();
    let payloads = jobs
        .iter()
        .map(|job| serde_json::to_string(job.payload))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    on_backend!(exec, |c| {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        for ((job, id), payload) in jobs.iter().zip(&ids).zip(&payloads) {
            query = query
                .bind(id)
                .bind(job.queue)
                .bind(job.kind)
                .bind(payload)
                .bind(job.tenant_id)
                .bind(job.max_attempts.max(1))
                .bind(job.run_at.unwrap_or(now));
        }
        query.execute(&mut *c).await?.rows_affected()
    });
    Ok(ids.into_iter().map(Enqueued::New).collect())
}

async fn insert_job(exec: Exec<'_>, job: &NewJob<'_>, now: i64) -> Result<Enqueued> {
    let payload = serde_json::to_string(job.payload)?;
    let id = new_id();
    let inserted: Option<String> = on_backend!(exec, |c| {
        let inserted = sqlx::query_scalar(
            "INSERT INTO jobs (id, queue, kind, payload, tenant_id, state, attempts, max_attempts, \
                 run_at, idempotency_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $8, $9, $9) \
             ON CONFLICT (queue, idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(&id)
        .bind(job.queue)
        .bind(job.kind)
        .bind(&payload)
        .bind(job.tenant_id)
        .bind(job.max_attempts.max(1))
        .bind(job.run_at.unwrap_or(now))
        .bind(job.idempotency_key)
        .bind(now)
        .fetch_optional(&mut *c)
        .await?;
        match inserted {
            Some(id) => Some(id),
            None => {
                let existing: String = sqlx::query_scalar(
                    "SELECT id FROM jobs WHERE queue = $1 AND idempotency_key = $2",
                )
                .bind(job.queue)
                .bind(job.idempotency_key)
                .fetch_one(&mut *c)
                .await?;
                return Ok(Enqueued::Existing(existing));
            }
        }
    });
    Ok(Enqueued::New(inserted.unwrap_or(id)))
}

pub(crate) fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
