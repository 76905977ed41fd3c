//! Payloads that failed mapping, kept for inspection.

use serde::Serialize;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Row};

use super::RecordsError;
use crate::db::{Db, on_backend, push_filters};

/// Inserts failure rows on the connection `$c` (the batch's transaction), one statement per row.
macro_rules! insert_failures {
    ($c:expr, $scope:expr, $run:expr, $failures:expr, $now:expr) => {
        for failure in $failures {
            sqlx::query(
                "INSERT INTO ingest_failures (id, tenant_id, integration_id, ingest_run_id, run_id, \
                 schema_name, variant, mapping, payload_index, code, failed_key, reason, raw_payload, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind($crate::db::new_id())
            .bind(&$scope.tenant_id)
            .bind(&$scope.integration_id)
            .bind($run.ingest_run_id.as_deref())
            .bind($run.run_id.as_deref())
            .bind(&failure.schema)
            .bind(&failure.variant)
            .bind(&failure.mapping)
            .bind(failure.payload_index)
            .bind(&failure.code)
            .bind(failure.failed_key.as_deref())
            .bind(&failure.reason)
            .bind(&failure.raw_json)
            .bind($now)
            .execute(&mut *$c)
            .await?;
        }
    };
}
pub(super) use insert_failures;

/// A stored failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredFailure {
    pub id: String,
    pub tenant_id: String,
    pub integration_id: String,
    pub ingest_run_id: Option<String>,
    pub run_id: Option<String>,
    pub schema: String,
    pub variant: String,
    pub mapping: String,
    /// Position of the payload in its payload set; -1 when the failure came from storage
    /// (an unresolved membership reference).
    pub payload_index: i64,
    pub code: String,
    pub failed_key: Option<String>,
    pub reason: String,
    pub raw_payload: Value,
    pub created_at: i64,
}

/// Which failures to list: a tenant's, optionally one integration's or one ingest run's, oldest
/// first, `limit` after the cursor `after` (a failure id).
#[derive(Debug, Clone, Default)]
pub struct FailureQuery {
    pub tenant_id: String,
    pub integration_id: Option<String>,
    pub ingest_run_id: Option<String>,
    pub after: Option<String>,
    pub limit: u32,
}

pub async fn list_failures(
    db: &Db,
    query: &FailureQuery,
) -> Result<Vec<StoredFailure>, RecordsError> {
    let mut sql = String::from(
        "SELECT id, tenant_id, integration_id, ingest_run_id, run_id, schema_name, variant, mapping, \
         payload_index, code, failed_key, reason, raw_payload, created_at FROM ingest_failures \
         WHERE tenant_id = $1",
    );
    let mut binds: Vec<&str> = vec![&query.tenant_id];
    push_filters(
        &mut sql,
        &mut binds,
        [
            ("integration_id = ", query.integration_id.as_deref()),
            ("ingest_run_id = ", query.ingest_run_id.as_deref()),
            ("id > ", query.after.as_deref()),
        ],
    );
    sql.push_str(&format!(
        " ORDER BY id LIMIT {}",
        query.limit.clamp(1, 1000)
    ));
    let mut conn = db.read().await?;
    on_backend!(conn.exec(), |c| {
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for value in &binds {
            q = q.bind(*value);
        }
        let rows = q.fetch_all(&mut *c).await?;
        rows.into_iter()
            .map(|row| {
                Ok(StoredFailure {
                    id: row.try_get("id")?,
                    tenant_id: row.try_get("tenant_id")?,
                    integration_id: row.try_get("integration_id")?,
                    ingest_run_id: row.try_get("ingest_run_id")?,
                    run_id: row.try_get("run_id")?,
                    schema: row.try_get("schema_name")?,
                    variant: row.try_get("variant")?,
                    mapping: row.try_get("mapping")?,
                    payload_index: row.try_get("payload_index")?,
                    code: row.try_get("code")?,
                    failed_key: row.try_get("failed_key")?,
                    reason: row.try_get("reason")?,
                    raw_payload: serde_json::from_str(&row.try_get::<String, _>("raw_payload")?)
                        .map_err(|e| RecordsError::Invalid(format!("failure payload: {e}")))?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    })
}
