//! Reading records: listing with filters and cursor paging, detail, and the disconnection mark.

use serde::Serialize;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Row};

use super::RecordsError;
use crate::db::{Db, now_ms, on_backend, push_filters};

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

macro_rules! record_from_row {
    ($row:expr) => {{
        let row = $row;
        Ok::<_, RecordsError>(StoredRecord {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            integration_id: row.try_get("integration_id")?,
            model: row.try_get("model")?,
            variant: row.try_get("variant")?,
            lookup_key: row.try_get("lookup_key")?,
            fields: json_column(row.try_get("fields")?, "fields")?,
            raw_payload: json_column(row.try_get("raw_payload")?, "raw_payload")?,
            content_hash: row.try_get("content_hash")?,
            account_record_id: row.try_get("account_record_id")?,
            group_record_id: row.try_get("group_record_id")?,
            first_seen_at: row.try_get("first_seen_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
            changed_at: row.try_get("changed_at")?,
            created_run_id: row.try_get("created_run_id")?,
            changed_run_id: row.try_get("changed_run_id")?,
            last_run_id: row.try_get("last_run_id")?,
            deleted_at: row.try_get("deleted_at")?,
            deleted_reason: row.try_get("deleted_reason")?,
            disconnected_at: row.try_get("disconnected_at")?,
        })
    }};
}

pub async fn list_records(db: &Db, query: &RecordQuery) -> Result<Vec<StoredRecord>, RecordsError> {
    let mut sql = format!("SELECT {COLUMNS} FROM ingest_records WHERE tenant_id = $1");
    let mut binds: Vec<&str> = vec![&query.tenant_id];
    push_filters(
        &mut sql,
        &mut binds,
        [
            ("integration_id = ", query.integration_id.as_deref()),
            ("model = ", query.model.as_deref()),
            ("lookup_key = ", query.lookup_key.as_deref()),
            ("id > ", query.after.as_deref()),
        ],
    );
    if !query.include_deleted {
        sql.push_str(" AND deleted_at IS NULL");
    }
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
        q.fetch_all(&mut *c)
            .await?
            .into_iter()
            .map(|row| record_from_row!(row))
            .collect()
    })
}

/// One record of a tenant by id, tombstoned or not.
pub async fn get_record(
    db: &Db,
    tenant_id: &str,
    id: &str,
) -> Result<Option<StoredRecord>, RecordsError> {
    let sql = format!("SELECT {COLUMNS} FROM ingest_records WHERE tenant_id = $1 AND id = $2");
    let mut conn = db.read().await?;
    on_backend!(conn.exec(), |c| {
        match sqlx::query(AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *c)
            .await?
        {
            Some(row) => record_from_row!(row).map(Some),
            None => Ok(None),
        }
    })
}

/// Marks every live record of an integration as disconnected (the integration was disconnected;
/// its data is kept but no longer refreshed). The next write of a record clears the mark.
pub async fn mark_disconnected(
    db: &Db,
    tenant_id: &str,
    integration_id: &str,
) -> Result<u64, RecordsError> {
    let now = now_ms();
    let mut conn = db.write().await?;
    on_backend!(conn.exec(), |c| {
        Ok(sqlx::query(
            "UPDATE ingest_records SET disconnected_at = $1 WHERE tenant_id = $2 \
             AND integration_id = $3 AND disconnected_at IS NULL",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(integration_id)
        .execute(&mut *c)
        .await?
        .rows_affected())
    })
}
