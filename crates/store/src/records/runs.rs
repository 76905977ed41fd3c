//! Ingest runs: one row per batch of ingest work, with its counters. A directory sync run that
//! completes tombstones, in the same transaction, the directory records of its integration that
//! nothing has seen since the run started.

use serde::Serialize;
use sqlx::Row;

use super::{Counters, DIRECTORY_MODELS, RecordScope, RecordsError};
use crate::db::{Db, new_id, now_ms, on_backend};

/// The state of an ingest run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Every payload was handled and none failed: for a directory sync, tombstoning ran.
    Completed,
    /// Finished, but some payloads failed or the provider listing was incomplete: nothing is
    /// tombstoned.
    Partial,
    /// Stopped by an error: nothing is tombstoned.
    Failed,
}

impl RunStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, RecordsError> {
        Ok(match text {
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "partial" => RunStatus::Partial,
            "failed" => RunStatus::Failed,
            other => {
                return Err(RecordsError::Invalid(format!(
                    "unknown run status `{other}`"
                )));
            }
        })
    }
}

/// A stored ingest run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestRunRow {
    pub id: String,
    pub tenant_id: String,
    pub integration_id: String,
    pub run_id: Option<String>,
    pub directory_sync: bool,
    pub status: RunStatus,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub counters: Counters,
}

/// Starts an ingest run; `directory_sync` makes it a directory sync run.
pub async fn begin_ingest_run(
    db: &Db,
    scope: &RecordScope,
    run_id: Option<&str>,
    directory_sync: bool,
) -> Result<IngestRunRow, RecordsError> {
    let row = IngestRunRow {
        id: new_id(),
        tenant_id: scope.tenant_id.clone(),
        integration_id: scope.integration_id.clone(),
        run_id: run_id.map(str::to_owned),
        directory_sync,
        status: RunStatus::Running,
        started_at: now_ms(),
        finished_at: None,
        error: None,
        counters: Counters::default(),
    };
    let mut conn = db.write().await?;
    on_backend!(conn.exec(), |c| {
        sqlx::query(
            "INSERT INTO ingest_runs (id, tenant_id, integration_id, run_id, directory_sync, status, \
             started_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(&row.tenant_id)
        .bind(&row.integration_id)
        .bind(row.run_id.as_deref())
        .bind(row.directory_sync)
        .bind(row.status.as_str())
        .bind(row.started_at)
        .execute(&mut *c)
        .await?;
    });
    Ok(row)
}

/// Finishes a running ingest run with its counters. For a directory sync finishing
/// [`RunStatus::Completed`], the integration's directory records whose last sighting predates the
/// run's start are tombstoned in the same transaction, and their number is returned (and stored
/// in the run's `tombstoned` counter). Any other status tombstones nothing.
pub async fn finish_ingest_run(
    db: &Db,
    id: &str,
    status: RunStatus,
    counters: &Counters,
    error: Option<&str>,
) -> Result<u64, RecordsError> {
    if status == RunStatus::Running {
        return Err(RecordsError::Invalid(
            "a run cannot finish as running".into(),
        ));
    }
    let now = now_ms();
    let mut tx = db.begin().await?;
    let tombstoned = on_backend!(tx.exec(), |c| {
        let Some(run) = sqlx::query(
            "SELECT tenant_id, integration_id, directory_sync, status, started_at FROM ingest_runs \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        else {
            return Err(RecordsError::RunNotFound(id.to_owned()));
        };
        let current: String = run.try_get("status")?;
        if current != RunStatus::Running.as_str() {
            return Err(RecordsError::RunClosed {
                id: id.to_owned(),
                status: current,
            });
        }
        let directory_sync: bool = run.try_get("directory_sync")?;
        let mut tombstoned = 0u64;
        if directory_sync && status == RunStatus::Completed {
            let tenant_id: String = run.try_get("tenant_id")?;
            let integration_id: String = run.try_get("integration_id")?;
            let started_at: i64 = run.try_get("started_at")?;
            let reason = format!("not seen by the complete directory sync run {id}");
            tombstoned = sqlx::query(
                "UPDATE ingest_records SET deleted_at = $1, deleted_reason = $2 \
                 WHERE tenant_id = $3 AND integration_id = $4 AND model IN ($5, $6, $7) \
                 AND deleted_at IS NULL AND last_seen_at < $8",
            )
            .bind(now)
            .bind(&reason)
            .bind(&tenant_id)
            .bind(&integration_id)
            .bind(DIRECTORY_MODELS[0])
            .bind(DIRECTORY_MODELS[1])
            .bind(DIRECTORY_MODELS[2])
            .bind(started_at)
            .execute(&mut *c)
            .await?
            .rows_affected();
        }
        let counters = Counters {
            tombstoned,
            ..*counters
        };
        let updated = sqlx::query(
            "UPDATE ingest_runs SET status = $1, finished_at = $2, error = $3, seen = $4, \
             created = $5, updated = $6, unchanged = $7, filtered = $8, failed = $9, \
             tombstoned = $10 WHERE id = $11 AND status = 'running'",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(error)
        .bind(to_i64(counters.seen))
        .bind(to_i64(counters.created))
        .bind(to_i64(counters.updated))
        .bind(to_i64(counters.unchanged))
        .bind(to_i64(counters.filtered))
        .bind(to_i64(counters.failed))
        .bind(to_i64(counters.tombstoned))
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(RecordsError::RunClosed {
                id: id.to_owned(),
                status: "finished".into(),
            });
        }
        tombstoned
    });
    tx.commit().await?;
    Ok(tombstoned)
}

/// Reads an ingest run of a tenant.
pub async fn get_ingest_run(
    db: &Db,
    tenant_id: &str,
    id: &str,
) -> Result<Option<IngestRunRow>, RecordsError> {
    let mut conn = db.read().await?;
    on_backend!(conn.exec(), |c| {
        let row = sqlx::query(
            "SELECT id, tenant_id, integration_id, run_id, directory_sync, status, started_at, \
             finished_at, error, seen, created, updated, unchanged, filtered, failed, tombstoned \
             FROM ingest_runs WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let count = |column: &str| -> Result<u64, RecordsError> {
            Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or_default())
        };
        Ok(Some(IngestRunRow {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            integration_id: row.try_get("integration_id")?,
            run_id: row.try_get("run_id")?,
            directory_sync: row.try_get("directory_sync")?,
            status: RunStatus::parse(&row.try_get::<String, _>("status")?)?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            error: row.try_get("error")?,
            counters: Counters {
                seen: count("seen")?,
                created: count("created")?,
                updated: count("updated")?,
                unchanged: count("unchanged")?,
                filtered: count("filtered")?,
                failed: count("failed")?,
                tombstoned: count("tombstoned")?,
            },
        }))
    })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
