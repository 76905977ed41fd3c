//! Retention: rows that only record the past (finished jobs, runs and their logs, handled webhook
//! deliveries, ingest runs and failures, ended sessions, audit events) are deleted once they are
//! older than a per-class [`RetentionPolicy`].
//!
//! [`Retention::sweep`] deletes in bounded batches, each one statement committed on its own, so a
//! sweep never holds a lock for long: on SQLite other writers get the single writer connection
//! between batches, on PostgreSQL no row stays locked beyond its batch. A sweep may run in several
//! processes at once on PostgreSQL: the batches pick their rows with `FOR UPDATE SKIP LOCKED`, so
//! two sweepers split the work instead of waiting on (or deadlocking with) each other, and a
//! delete of rows already gone is simply a smaller batch. [`Retention::count`] answers how many
//! rows a sweep would delete, for dry runs.
//!
//! What is never deleted, whatever its age: queued and running jobs, pending and running runs, the
//! newest finished run of each integration's operation (it carries the checkpoint the next run
//! resumes from, and it is what "last run" shows), deliveries still `received` (waiting for or
//! being handled; an operator may replay them), running ingest runs, and sessions before their end.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::db::{Backend, Db, on_backend};
use crate::error::Result;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Rows deleted per statement unless the caller says otherwise.
pub const DEFAULT_BATCH_SIZE: u32 = 1_000;

/// The largest batch a sweep uses, whatever it is asked for: a batch of runs binds one parameter
/// per run id, well within both backends' parameter limits.
pub const MAX_BATCH_SIZE: u32 = 10_000;

/// How long each class of rows is kept after it is finished (or, for sessions, after it ended).
/// [`Duration::ZERO`] keeps that class forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Succeeded, cancelled and dead jobs, from when they finished.
    pub jobs: Duration,
    /// Finished runs (succeeded, failed, partial, cancelled) with their log lines, from when they
    /// finished; the newest finished run of each integration's operation is always kept.
    pub runs: Duration,
    /// Webhook deliveries that are `done` or `failed`, from when they were received.
    pub deliveries: Duration,
    /// Ingest failures (payloads that did not become records), from when they were recorded.
    pub ingest_failures: Duration,
    /// Finished ingest runs (completed, partial, failed), from when they finished.
    pub ingest_runs: Duration,
    /// Auth sessions (browser authorization flows) and web UI sessions, from their end.
    pub sessions: Duration,
    /// Audit events (the trail of tenant and operator actions), from when they happened.
    pub audit_events: Duration,
}

impl Default for RetentionPolicy {
    /// 30 days for finished work, one day after their end for sessions, and a year for audit
    /// events (a trail is asked about long after the fact).
    fn default() -> Self {
        Self {
            jobs: Self::days(30),
            runs: Self::days(30),
            deliveries: Self::days(30),
            ingest_failures: Self::days(30),
            ingest_runs: Self::days(30),
            sessions: Self::days(1),
            audit_events: Self::days(365),
        }
    }
}

impl RetentionPolicy {
    /// Keeps a class of rows forever.
    pub const KEEP_FOREVER: Duration = Duration::ZERO;

    /// A policy that deletes nothing.
    pub const KEEP_EVERYTHING: Self = Self {
        jobs: Self::KEEP_FOREVER,
        runs: Self::KEEP_FOREVER,
        deliveries: Self::KEEP_FOREVER,
        ingest_failures: Self::KEEP_FOREVER,
        ingest_runs: Self::KEEP_FOREVER,
        sessions: Self::KEEP_FOREVER,
        audit_events: Self::KEEP_FOREVER,
    };

    /// `n` days; 0 is [`Self::KEEP_FOREVER`].
    pub const fn days(n: u32) -> Duration {
        Duration::from_secs(DAY.as_secs() * n as u64)
    }
}

/// Rows deleted (or, from [`Retention::count`], that would be) per table. Every table a sweep
/// covers is listed, with 0 where nothing went. Serialises as `{"jobs": 12, "runs": 3, ...}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PurgeReport {
    rows: BTreeMap<&'static str, u64>,
}

impl PurgeReport {
    /// The tables a sweep deletes from (a run's log lines go before the run).
    pub const TABLES: [&'static str; 10] = [
        "jobs",
        "run_logs",
        "runs",
        "webhook_deliveries",
        "ingest_failures",
        "ingest_runs",
        "auth_sessions",
        "ui_sessions",
        "key_ring_holders",
        "audit_events",
    ];

    fn empty() -> Self {
        Self {
            rows: Self::TABLES.iter().map(|table| (*table, 0)).collect(),
        }
    }

    fn add(&mut self, table: &'static str, rows: u64) {
        *self.rows.entry(table).or_default() += rows;
    }

    /// Rows of `table` (0 for a table the sweep does not cover).
    pub fn rows(&self, table: &str) -> u64 {
        self.rows.get(table).copied().unwrap_or(0)
    }

    /// Rows of every table together.
    pub fn total(&self) -> u64 {
        self.rows.values().sum()
    }

    /// `(table, rows)` in table-name order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.rows.iter().map(|(table, rows)| (*table, *rows))
    }
}

/// A table whose expired rows are found by one predicate on the row itself.
struct Rule {
    table: &'static str,
    /// The primary key, which the batched delete selects.
    key: &'static str,
    /// The rows (alias `t`) to delete, with `$1` the cutoff in unix ms.
    expired: &'static str,
    /// How long the policy keeps them.
    keep: fn(&RetentionPolicy) -> Duration,
}

/// Every table but `runs` and `run_logs` (see [`RUN_EXPIRED`]). Each predicate leads with the
/// time column an index of migration 0008 (or another) covers.
const RULES: [Rule; 8] = [
    Rule {
        table: "jobs",
        key: "id",
        // finished_at is set exactly when a job reaches one of these states.
        expired: "t.finished_at < $1 AND t.state IN ('succeeded', 'cancelled', 'dead')",
        keep: |p| p.jobs,
    },
    Rule {
        table: "webhook_deliveries",
        key: "id",
        // `received` ones are waiting for (or in) their handler, or stuck there for an operator
        // to replay; `failed` is final (a provider redelivery after the purge is a new delivery).
        expired: "t.received_at < $1 AND t.status IN ('done', 'failed')",
        keep: |p| p.deliveries,
    },
    Rule {
        table: "ingest_failures",
        key: "id",
        expired: "t.created_at < $1",
        keep: |p| p.ingest_failures,
    },
    Rule {
        table: "ingest_runs",
        key: "id",
        expired: "t.finished_at < $1 AND t.status <> 'running'",
        keep: |p| p.ingest_runs,
    },
    Rule {
        table: "auth_sessions",
        key: "token_hash",
        expired: "t.expires_at < $1",
        keep: |p| p.sessions,
    },
    Rule {
        table: "ui_sessions",
        key: "id_hash",
        expired: "t.expires_at < $1",
        keep: |p| p.sessions,
    },
    Rule {
        table: "key_ring_holders",
        key: "holder_id",
        // Rows of processes that stopped without withdrawing (killed); rotation already ignores
        // them after HOLDER_TIMEOUT, this only keeps the table small.
        expired: "t.seen_at < $1",
        keep: |_| crate::keystore::holders::GONE_HOLDER_KEPT,
    },
    Rule {
        table: "audit_events",
        key: "id",
        expired: "t.occurred_at < $1",
        keep: |p| p.audit_events,
    },
];

/// Runs (alias `r`) to delete, with `$1` the cutoff: finished before it, and not the newest
/// finished run of their integration's operation (the order of `runs().latest_finished`), which
/// the next run of that operation resumes from.
const RUN_EXPIRED: &str = "r.finished_at < $1 AND r.status NOT IN ('pending', 'running') \
     AND EXISTS (SELECT 1 FROM runs newer WHERE newer.tenant_id = r.tenant_id \
         AND newer.integration_id = r.integration_id AND newer.operation = r.operation \
         AND newer.status NOT IN ('pending', 'running') \
         AND (newer.created_at > r.created_at \
              OR (newer.created_at = r.created_at AND newer.id > r.id)))";

/// Retention sweeps of a database; see the module documentation.
#[derive(Debug)]
pub struct Retention<'a> {
    db: &'a Db,
}

impl Db {
    /// Retention sweeps. Each batch commits on its own, so there is no transaction variant.
    pub fn retention(&self) -> Retention<'_> {
        Retention { db: self }
    }
}

/// The unix-ms time before which a class kept for `keep` is expired; None keeps it forever.
fn cutoff(now: i64, keep: Duration) -> Option<i64> {
    if keep.is_zero() {
        return None;
    }
    let keep = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    Some(now.saturating_sub(keep))
}

/// On PostgreSQL, a batch takes only rows no other sweeper holds, and never waits for one.
fn skip_locked(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE OF t SKIP LOCKED",
        Backend::Sqlite => "",
    }
}

fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Retention<'_> {
    /// Deletes every row `policy` no longer keeps at time `now` (unix ms), at most `batch_size`
    /// rows per statement (clamped to 1..=[`MAX_BATCH_SIZE`]), each statement committed on its
    /// own, looping on a table until a batch comes back short. Returns the rows deleted per table.
    ///
    /// Safe to run in several processes at once; if it fails half-way, what was deleted stays
    /// deleted and the next sweep goes on from there.
    pub async fn sweep(
        &self,
        policy: &RetentionPolicy,
        now: i64,
        batch_size: u32,
    ) -> Result<PurgeReport> {
        let batch = batch_size.clamp(1, MAX_BATCH_SIZE);
        let lock = skip_locked(self.db.backend());
        let mut report = PurgeReport::empty();
        for rule in &RULES {
            let Some(before) = cutoff(now, (rule.keep)(policy)) else {
                continue;
            };
            let sql = format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT t.{key} FROM {table} t WHERE {expired} \
                 LIMIT $2{lock})",
                table = rule.table,
                key = rule.key,
                expired = rule.expired,
            );
            loop {
                let deleted = self.delete(&sql, &[before, i64::from(batch)], &[]).await?;
                report.add(rule.table, deleted);
                if deleted < u64::from(batch) {
                    break;
                }
            }
        }
        if let Some(before) = cutoff(now, policy.runs) {
            self.sweep_runs(before, batch, &mut report).await?;
        }
        Ok(report)
    }

    /// Runs expire together with their log lines. A run may have any number of lines, so they are
    /// deleted in batches of their own before the run itself (whose cascade then finds none).
    async fn sweep_runs(&self, before: i64, batch: u32, report: &mut PurgeReport) -> Result<()> {
        let lock = skip_locked(self.db.backend());
        loop {
            let ids: Vec<String> = {
                let mut conn = self.db.read().await?;
                let sql = format!("SELECT r.id FROM runs r WHERE {RUN_EXPIRED} LIMIT $2");
                conn.exec()
                    .scalar_all(sqlx::AssertSqlSafe(sql), (before, i64::from(batch)))
                    .await?
            };
            if ids.is_empty() {
                return Ok(());
            }
            let logs = format!(
                "DELETE FROM run_logs WHERE seq IN (SELECT t.seq FROM run_logs t \
                 WHERE t.run_id IN ({}) LIMIT $1{lock})",
                placeholders(2, ids.len())
            );
            loop {
                let deleted = self.delete(&logs, &[i64::from(batch)], &ids).await?;
                report.add("run_logs", deleted);
                if deleted < u64::from(batch) {
                    break;
                }
            }
            // A finished run is never updated again, so the runs chosen above are still expired;
            // the status is checked once more only as a guard.
            let runs = format!(
                "DELETE FROM runs WHERE id IN (SELECT t.id FROM runs t WHERE t.id IN ({}) \
                 AND t.status NOT IN ('pending', 'running'){lock})",
                placeholders(1, ids.len())
            );
            report.add("runs", self.delete(&runs, &[], &ids).await?);
            if ids.len() < usize::try_from(batch).unwrap_or(usize::MAX) {
                return Ok(());
            }
        }
    }

    /// Runs one delete statement on the writer, binding `numbers` and then `ids` in order.
    /// Returns the rows deleted.
    async fn delete(&self, sql: &str, numbers: &[i64], ids: &[String]) -> Result<u64> {
        let mut conn = self.db.write().await?;
        Ok(on_backend!(conn.exec(), |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for number in numbers {
                query = query.bind(*number);
            }
            for id in ids {
                query = query.bind(id);
            }
            query.execute(&mut *c).await?.rows_affected()
        }))
    }

    /// How many rows [`Self::sweep`] would delete at time `now` (unix ms), per table; deletes
    /// nothing.
    pub async fn count(&self, policy: &RetentionPolicy, now: i64) -> Result<PurgeReport> {
        let mut report = PurgeReport::empty();
        let mut counts: Vec<(&'static str, i64, String)> = RULES
            .iter()
            .filter_map(|rule| {
                let before = cutoff(now, (rule.keep)(policy))?;
                let sql = format!(
                    "SELECT count(*) FROM {} t WHERE {}",
                    rule.table, rule.expired
                );
                Some((rule.table, before, sql))
            })
            .collect();
        if let Some(before) = cutoff(now, policy.runs) {
            counts.push((
                "runs",
                before,
                format!("SELECT count(*) FROM runs r WHERE {RUN_EXPIRED}"),
            ));
            counts.push((
                "run_logs",
                before,
                format!(
                    "SELECT count(*) FROM run_logs l WHERE l.run_id IN \
                     (SELECT r.id FROM runs r WHERE {RUN_EXPIRED})"
                ),
            ));
        }
        let mut conn = self.db.read().await?;
        for (table, before, sql) in counts {
            let rows: i64 = conn
                .exec()
                .scalar_one(sqlx::AssertSqlSafe(sql), (before,))
                .await?;
            report.add(table, u64::try_from(rows).unwrap_or(0));
        }
        Ok(report)
    }
}
