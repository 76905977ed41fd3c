//! Payloads that failed mapping, kept for inspection.

use serde::Serialize;
use serde_json::Value;

use super::RecordsError;
use crate::db::Db;

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

/// A row of `ingest_failures` as stored: the payload is JSON text.
#[derive(sqlx::FromRow)]
struct FailureRow {
    id: String,
    tenant_id: String,
    integration_id: String,
    ingest_run_id: Option<String>,
    run_id: Option<String>,
    schema_name: String,
    variant: String,
    mapping: String,
    payload_index: i64,
    code: String,
    failed_key: Option<String>,
    reason: String,
    raw_payload: String,
    created_at: i64,
}

impl TryFrom<FailureRow> for StoredFailure {
    type Error = RecordsError;
    fn try_from(row: FailureRow) -> Result<Self, RecordsError> {
        Ok(StoredFailure {
            id: row.id,
            tenant_id: row.tenant_id,
            integration_id: row.integration_id,
            ingest_run_id: row.ingest_run_id,
            run_id: row.run_id,
            schema: row.schema_name,
            variant: row.variant,
            mapping: row.mapping,
            payload_index: row.payload_index,
            code: row.code,
            failed_key: row.failed_key,
            reason: row.reason,
            raw_payload: serde_json::from_str(&row.raw_payload)
                .map_err(|e| RecordsError::Invalid(format!("failure payload: {e}")))?,
            created_at: row.created_at,
        })
    }
}

pub async fn list_failures(
    db: &Db,
    query: &FailureQuery,
) -> Result<Vec<StoredFailure>, RecordsError> {
    let sql = String::from(
        "SELECT id, tenant_id, integration_id, ingest_run_id, run_id, schema_name, variant, mapping, \
         payload_index, code, failed_key, reason, raw_payload, created_at FROM ingest_failures \
         WHERE tenant_id = $1",
    );
    let filters = [
        ("integration_id = ", query.integration_id.as_deref()),
        ("ingest_run_id = ", query.ingest_run_id.as_deref()),
        ("id > ", query.after.as_deref()),
    ];
    let rows: Vec<FailureRow> =
        super::fetch_page(db, sql, &query.tenant_id, &filters, query.limit).await?;
    rows.into_iter().map(StoredFailure::try_from).collect()
}
