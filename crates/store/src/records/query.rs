//! Reading records: listing with filters and cursor paging, detail, and the disconnection mark.

use serde::Serialize;
use serde_json::Value;
use sqlx::AssertSqlSafe;

use super::RecordsError;
use crate::db::{Db, now_ms};

fn json_column(text: String, column: &str) -> Result<Value, RecordsError> {
    serde_json::from_str(&text).map_err(|e| RecordsError::Invalid(format!("record {column}: {e}")))
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRecord {
    pub id: String,
    pub tenant_id: String,
    pub integration_id: String,
    pub model: String,
    pub variant: String,
    pub lookup_key: String,
    pub fields: Value,
    pub raw_payload: Value,
    pub content_hash: String,
    pub account_record_id: Option<String>,
    pub group_record_id: Option<String>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    /// When the content last changed (or the record was created or restored).
    pub changed_at: i64,
    pub created_run_id: Option<String>,
    pub changed_run_id: Option<String>,
    /// The run that last touched (wrote or saw) the record.
    pub last_run_id: Option<String>,
    pub deleted_at: Option<i64>,
    pub deleted_reason: Option<String>,
    pub disconnected_at: Option<i64>,
}

/// Which records to list: a tenant's, narrowed by integration, model and lookup key, oldest
/// first, at most `limit` (1 to 1000) after the cursor `after` (a record id). Tombstoned records
/// are left out unless `include_deleted`.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    pub tenant_id: String,
    pub integration_id: Option<String>,
    pub model: Option<String>,
    pub lookup_key: Option<String>,
    pub include_deleted: bool,
    pub after: Option<String>,
    pub limit: u32,
}

const COLUMNS: &str = "id, tenant_id, integration_id, model, variant, lookup_key, fields, raw_payload, \
    content_hash, account_record_id, group_record_id, first_seen_at, last_seen_at, changed_at, \
    created_run_id, changed_run_id, last_run_id, deleted_at, deleted_reason, disconnected_at";

/// A row of `ingest_records` as stored: its JSON documents are text.
#[derive(sqlx::FromRow)]
struct RecordRow {
    id: String,
    tenant_id: String,
    integration_id: String,
    model: String,
    variant: String,
    lookup_key: String,
    fields: String,
    raw_payload: String,
    content_hash: String,
    account_record_id: Option<String>,
    group_record_id: Option<String>,
    first_seen_at: i64,
    last_seen_at: i64,
    changed_at: i64,
    created_run_id: Option<String>,
    changed_run_id: Option<String>,
    last_run_id: Option<String>,
    deleted_at: Option<i64>,
    deleted_reason: Option<String>,
    disconnected_at: Option<i64>,
}

impl TryFrom<RecordRow> for StoredRecord {
    type Error = RecordsError;
    fn try_from(row: RecordRow) -> Result<Self, RecordsError> {
        Ok(StoredRecord {
            id: row.id,
            tenant_id: row.tenant_id,
            integration_id: row.integration_id,
            model: row.model,
            variant: row.variant,
            lookup_key: row.lookup_key,
            fields: json_column(row.fields, "fields")?,
            raw_payload: json_column(row.raw_payload, "raw_payload")?,
            content_hash: row.content_hash,
            account_record_id: row.account_record_id,
            group_record_id: row.group_record_id,
            first_seen_at: row.first_seen_at,
            last_seen_at: row.last_seen_at,
            changed_at: row.changed_at,
            created_run_id: row.created_run_id,
            changed_run_id: row.changed_run_id,
            last_run_id: row.last_run_id,
            deleted_at: row.deleted_at,
            deleted_reason: row.deleted_reason,
            disconnected_at: row.disconnected_at,
        })
    }
}

pub async fn list_records(db: &Db, query: &RecordQuery) -> Result<Vec<StoredRecord>, RecordsError> {
    let mut sql = format!("SELECT {COLUMNS} FROM ingest_records WHERE tenant_id = $1");
    let filters = [
        ("integration_id = ", query.integration_id.as_deref()),
        ("model = ", query.model.as_deref()),
        ("lookup_key = ", query.lookup_key.as_deref()),
        ("id > ", query.after.as_deref()),
    ];
    if !query.include_deleted {
        sql.push_str(" AND deleted_at IS NULL");
    }
    let rows: Vec<RecordRow> =
        super::fetch_page(db, sql, &query.tenant_id, &filters, query.limit).await?;
    rows.into_iter().map(StoredRecord::try_from).collect()
}

/// One record of a tenant by id, tombstoned or not.
pub async fn get_record(
    db: &Db,
    tenant_id: &str,
    id: &str,
) -> Result<Option<StoredRecord>, RecordsError> {
    let sql = format!("SELECT {COLUMNS} FROM ingest_records WHERE tenant_id = $1 AND id = $2");
    let mut conn = db.read().await?;
    let row: Option<RecordRow> = conn
        .exec()
        .fetch_optional(AssertSqlSafe(sql), (tenant_id, id))
        .await?;
    row.map(StoredRecord::try_from).transpose()
}

/// Marks every live record of an integration as disconnected (the integration was disconnected;
/// its data is kept but no longer refreshed). The next write of a record clears the mark.
pub async fn mark_disconnected(
    db: &Db,
    tenant_id: &str,
    integration_id: &str,
) -> Result<u64, RecordsError> {
    let now = now_ms();
    let sql = "UPDATE ingest_records SET disconnected_at = $1 WHERE tenant_id = $2 \
               AND integration_id = $3 AND disconnected_at IS NULL";
    let mut conn = db.write().await?;
    Ok(conn
        .exec()
        .execute(sql, (now, tenant_id, integration_id))
        .await?)
}
