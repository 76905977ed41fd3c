//! The worker's retention sweep: every [`RuntimeConfig::retention_interval`](crate::RuntimeConfig)
//! it deletes what the [`RetentionPolicy`](tributary_store::retention::RetentionPolicy) no longer
//! keeps, in bounded batches, and counts the rows in
//! `tributary_retention_purged_rows_total{table}`. Several workers may sweep the same PostgreSQL
//! database at once: the store's sweep splits the rows between them.

use std::{future::Future, time::Duration};

use tributary_store::{
    now_ms,
    retention::{DEFAULT_BATCH_SIZE, PurgeReport},
};

use crate::{Runtime, RuntimeError};

/// The first sweep waits at most this long after start: soon enough that a backlog starts
/// shrinking right after an upgrade, late enough not to compete with start-up work.
const FIRST_SWEEP_AFTER: Duration = Duration::from_secs(30);

impl Runtime {
    /// Deletes, now, every row the configured retention policy no longer keeps, and counts them
    /// in the metrics. Returns the rows deleted per table.
    pub async fn retention_sweep(&self) -> Result<PurgeReport, RuntimeError> {
        let report = self
            .inner
            .db
            .retention()
            .sweep(&self.inner.config.retention, now_ms(), DEFAULT_BATCH_SIZE)
            .await?;
        for (table, rows) in report.iter() {
            self.inner.metrics.retention_purged(table, rows);
        }
        Ok(report)
    }

    /// Sweeps every `retention_interval` until `shutdown` completes (a sweep in progress is
    /// abandoned between two batches; what it deleted stays deleted). A zero interval returns at
    /// once: the sweep is off.
    pub async fn run_retention(&self, shutdown: impl Future<Output = ()>) {
        let interval = self.inner.config.retention_interval;
        if interval.is_zero() {
            return;
        }
        tokio::pin!(shutdown);
        let mut wait = interval.min(FIRST_SWEEP_AFTER);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = interval;
            let started = std::time::Instant::now();
            let result = tokio::select! {
                () = &mut shutdown => return,
                result = self.retention_sweep() => result,
            };
            match result {
                Ok(report) if report.total() > 0 => {
                    let tables: Vec<String> = report
                        .iter()
                        .filter(|(_, rows)| *rows > 0)
                        .map(|(table, rows)| format!("{table}={rows}"))
                        .collect();
                    tracing::info!(
                        rows = report.total(),
                        tables = %tables.join(" "),
                        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "retention sweep deleted old rows"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "retention sweep failed"),
            }
        }
    }
}
