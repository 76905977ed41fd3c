//! Ingest runs: one row per batch of ingest work, with its counters and its tombstone scope. A run
//! that completes tombstones, in the same transaction, the records of its scope (models, each
//! optionally restricted to some variants) of its integration that nothing has seen since the run
//! started.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use tributary_model::DIRECTORY_SCHEMAS;

use super::{Counters, RecordScope, RecordsError};
use crate::db::{Db, new_id, now_ms, on_backend};

/// One model whose records a complete ingest run tombstones when it did not see them: every
/// variant of it, or only the listed ones (`""` is the default variant).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TombstoneScope {
    pub model: String,
    /// `None`: every variant of the model. An empty list covers nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<String>>,
}

impl TombstoneScope {
    /// Every variant of `model`.
    pub fn model(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            variants: None,
        }
    }

    /// Only the listed variants of `model`.
    pub fn variants<V: Into<String>>(
        model: impl Into<String>,
        variants: impl IntoIterator<Item = V>,
    ) -> Self {
        Self {
            model: model.into(),
            variants: Some(variants.into_iter().map(Into::into).collect()),
        }
    }

    /// The scope of a directory sync: every variant of each of [`DIRECTORY_SCHEMAS`].
    pub fn directory() -> Vec<Self> {
        DIRECTORY_SCHEMAS.iter().map(|m| Self::model(*m)).collect()
    }

    /// `Finding`, `Finding [assessment]`, `Finding [default, assessment]`: as tombstone reasons
    /// name it.
    pub fn label(&self) -> String {
        match &self.variants {
            None => self.model.clone(),
            Some(variants) => {
                let names: Vec<&str> = variants
                    .iter()
                    .map(|v| if v.is_empty() { "default" } else { v.as_str() })
                    .collect();
                format!("{} [{}]", self.model, names.join(", "))
            }
        }
    }
}

/// The `tombstone_scope` column of a run: its JSON, or (runs begun before the column existed)
/// the directory models for a directory sync.
fn stored_scope(
    json: Option<String>,
    directory_sync: bool,
) -> Result<Vec<TombstoneScope>, RecordsError> {
    match json {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| RecordsError::Invalid(format!("stored tombstone scope: {e}"))),
        None if directory_sync => Ok(TombstoneScope::directory()),
        None => Ok(Vec::new()),
    }
}

/// The state of an ingest run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestRunStatus {
    Running,
    /// Every payload was handled and none failed: the run's tombstone scope was reconciled.
    Completed,
    /// Finished, but some payloads failed or the provider listing was incomplete: nothing is
    /// tombstoned.
    Partial,
    /// Stopped by an error: nothing is tombstoned.
    Failed,
}

impl IngestRunStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            IngestRunStatus::Running => "running",
            IngestRunStatus::Completed => "completed",
            IngestRunStatus::Partial => "partial",
            IngestRunStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, RecordsError> {
        Ok(match text {
            "running" => IngestRunStatus::Running,
            "completed" => IngestRunStatus::Completed,
            "partial" => IngestRunStatus::Partial,
            "failed" => IngestRunStatus::Failed,
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
    /// Whether the tombstone scope covers a directory model (the run is a directory sync).
    pub directory_sync: bool,
    /// What the run tombstones if it completes: the models (and variants) whose records it did
    /// not see. Empty: nothing.
    pub tombstone_scope: Vec<TombstoneScope>,
    pub status: IngestRunStatus,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    pub counters: Counters,
}

/// Starts an ingest run that, if it completes, tombstones the unseen records of `tombstones`
/// (empty: nothing; [`TombstoneScope::directory`] for a directory sync).
pub async fn begin_ingest_run(
    db: &Db,
    scope: &RecordScope,
    run_id: Option<&str>,
    tombstones: &[TombstoneScope],
) -> Result<IngestRunRow, RecordsError> {
    let row = IngestRunRow {
        id: new_id(),
        tenant_id: scope.tenant_id.clone(),
        integration_id: scope.integration_id.clone(),
        run_id: run_id.map(str::to_owned),
        directory_sync: tombstones
            .iter()
            .any(|t| DIRECTORY_SCHEMAS.contains(&t.model.as_str())),
        tombstone_scope: tombstones.to_vec(),
        status: IngestRunStatus::Running,
        started_at: now_ms(),
        finished_at: None,
        error: None,
        counters: Counters::default(),
    };
    let scope_json = serde_json::to_string(&row.tombstone_scope)
        .map_err(|e| RecordsError::Invalid(format!("tombstone scope: {e}")))?;
    let mut tx = db.begin().await?;
    // An earlier ingest run of the same run (or delivery) still `running` belongs to an attempt
    // whose worker stopped: a new attempt only starts once the old one's lease ran out. Close
    // it, so that no ingest run stays `running` for good; its late finish, if the old worker
    // was only slow, is refused (`RunClosed`).
    if let Some(run_id) = run_id {
        let sql = "UPDATE ingest_runs SET status = 'failed', finished_at = $1, error = $2 \
                   WHERE run_id = $3 AND tenant_id = $4 AND status = 'running'";
        let params = (row.started_at, ABANDONED, run_id, &row.tenant_id);
        let abandoned = tx.exec().execute(sql, params).await?;
        if abandoned > 0 {
            tracing::warn!(
                run_id,
                abandoned,
                "closed ingest runs a stopped worker left running"
            );
        }
    }
    let sql = "INSERT INTO ingest_runs (id, tenant_id, integration_id, run_id, directory_sync, \
               tombstone_scope, status, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    let params = (
        &row.id,
        &row.tenant_id,
        &row.integration_id,
        row.run_id.as_deref(),
        row.directory_sync,
        &scope_json,
        row.status.as_str(),
        row.started_at,
    );
    tx.exec().execute(sql, params).await?;
    tx.commit().await?;
    Ok(row)
}

/// The error of an ingest run closed because a later attempt of its run started.
pub const ABANDONED: &str =
    "abandoned: the worker running it stopped, and a later attempt of the same run took over";

/// Finishes a running ingest run with its counters. A run finishing [`IngestRunStatus::Completed`]
/// tombstones, in the same transaction, the records of its integration within its tombstone
/// scope whose last sighting predates the run's start, and returns their number (also stored in
/// the run's `tombstoned` counter). Any other status tombstones nothing.
pub async fn finish_ingest_run(
    db: &Db,
    id: &str,
    status: IngestRunStatus,
    counters: &Counters,
    error: Option<&str>,
) -> Result<u64, RecordsError> {
    let by_model = finish_ingest_run_by_model(db, id, status, counters, error).await?;
    Ok(by_model.values().sum())
}

/// [`finish_ingest_run`], returning the records tombstoned per model: the tombstone scope is
/// worked through model by model, so the split costs nothing. A model of the scope with nothing
/// to tombstone is absent.
pub async fn finish_ingest_run_by_model(
    db: &Db,
    id: &str,
    status: IngestRunStatus,
    counters: &Counters,
    error: Option<&str>,
) -> Result<BTreeMap<String, u64>, RecordsError> {
    if status == IngestRunStatus::Running {
        return Err(RecordsError::Invalid(
            "a run cannot finish as running".into(),
        ));
    }
    let now = now_ms();
    let mut tx = db.begin().await?;
    let by_model = on_backend!(tx.exec(), |c| {
        let Some(run) = sqlx::query(
            "SELECT tenant_id, integration_id, directory_sync, tombstone_scope, status, \
             started_at FROM ingest_runs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        else {
            return Err(RecordsError::RunNotFound(id.to_owned()));
        };
        let current: String = run.try_get("status")?;
        if current != IngestRunStatus::Running.as_str() {
            return Err(RecordsError::RunClosed {
                id: id.to_owned(),
                status: current,
            });
        }
        let mut by_model = BTreeMap::<String, u64>::new();
        if status == IngestRunStatus::Completed {
            let tombstones = stored_scope(
                run.try_get("tombstone_scope")?,
                run.try_get("directory_sync")?,
            )?;
            let tenant_id: String = run.try_get("tenant_id")?;
            let integration_id: String = run.try_get("integration_id")?;
            let started_at: i64 = run.try_get("started_at")?;
            let labels: Vec<String> = tombstones.iter().map(TombstoneScope::label).collect();
            let reason = format!("not seen by the complete run {id} of {}", labels.join(", "));
            for tombstone in &tombstones {
                let variants = tombstone.variants.as_deref();
                if variants.is_some_and(<[String]>::is_empty) {
                    continue;
                }
                let mut sql = String::from(
                    "UPDATE ingest_records SET deleted_at = $1, deleted_reason = $2 \
                     WHERE tenant_id = $3 AND integration_id = $4 AND model = $5 \
                     AND deleted_at IS NULL AND last_seen_at < $6",
                );
                if let Some(variants) = variants {
                    let placeholders: Vec<String> =
                        (0..variants.len()).map(|i| format!("${}", i + 7)).collect();
                    sql.push_str(&format!(" AND variant IN ({})", placeholders.join(", ")));
                }
                // Only numbered placeholders are formatted into the text; values are bound.
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(&reason)
                    .bind(&tenant_id)
                    .bind(&integration_id)
                    .bind(&tombstone.model)
                    .bind(started_at);
                for variant in variants.unwrap_or_default() {
                    query = query.bind(variant);
                }
                let rows = query.execute(&mut *c).await?.rows_affected();
                if rows > 0 {
                    *by_model.entry(tombstone.model.clone()).or_default() += rows;
                }
            }
        }
        let counters = Counters {
            tombstoned: by_model.values().sum(),
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
        by_model
    });
    tx.commit().await?;
    Ok(by_model)
}

const INGEST_RUN_COLUMNS: &str = "id, tenant_id, integration_id, run_id, directory_sync, \
     tombstone_scope, status, started_at, finished_at, error, seen, created, updated, unchanged, \
     filtered, failed, tombstoned";

/// Reads an ingest run of a tenant.
pub async fn get_ingest_run(
    db: &Db,
    tenant_id: &str,
    id: &str,
) -> Result<Option<IngestRunRow>, RecordsError> {
    let mut conn = db.read().await?;
    on_backend!(conn.exec(), |c| {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INGEST_RUN_COLUMNS} FROM ingest_runs WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .map(|row| ingest_run_row(&row))
        .transpose()
    })
}

/// The ingest runs of an operation run (its id) or of a webhook delivery (`delivery:<id>`),
/// oldest first: one per attempt that ingested.
pub async fn ingest_runs_of(
    db: &Db,
    tenant_id: &str,
    run_id: &str,
) -> Result<Vec<IngestRunRow>, RecordsError> {
    let mut conn = db.read().await?;
    on_backend!(conn.exec(), |c| {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INGEST_RUN_COLUMNS} FROM ingest_runs WHERE tenant_id = $1 AND run_id = $2 \
             ORDER BY started_at, id"
        )))
        .bind(tenant_id)
        .bind(run_id)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(ingest_run_row)
        .collect()
    })
}

fn ingest_run_row<R>(row: &R) -> Result<IngestRunRow, RecordsError>
where
    R: sqlx::Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let count = |column: &str| -> Result<u64, RecordsError> {
        Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or_default())
    };
    let directory_sync: bool = row.try_get("directory_sync")?;
    Ok(IngestRunRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        integration_id: row.try_get("integration_id")?,
        run_id: row.try_get("run_id")?,
        directory_sync,
        tombstone_scope: stored_scope(row.try_get("tombstone_scope")?, directory_sync)?,
        status: IngestRunStatus::parse(&row.try_get::<String, _>("status")?)?,
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
    })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_begun_before_the_scope_column_keep_the_directory_rule() {
        assert_eq!(
            stored_scope(None, true).unwrap(),
            TombstoneScope::directory()
        );
        assert_eq!(stored_scope(None, false).unwrap(), []);
        assert_eq!(
            stored_scope(Some("[]".into()), true).unwrap(),
            [],
            "a stored scope wins over the flag"
        );
        assert_eq!(
            stored_scope(
                Some(r#"[{"model":"Finding","variants":["assessment"]}]"#.into()),
                false
            )
            .unwrap(),
            [TombstoneScope::variants("Finding", ["assessment"])]
        );
    }

    #[test]
    fn scope_labels_name_models_and_variants() {
        assert_eq!(TombstoneScope::model("Finding").label(), "Finding");
        assert_eq!(
            TombstoneScope::variants("Finding", ["", "assessment"]).label(),
            "Finding [default, assessment]"
        );
    }
}
