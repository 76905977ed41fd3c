//! Ingested records: the rows the ingest pipeline writes, the ingest runs (directory syncs among
//! them) and the payloads that failed mapping.
//!
//! Writes are batched and transactional: [`write_batch`] upserts many records with
//! `INSERT ... ON CONFLICT` on (tenant, integration, model, lookup key), so two writers of the same
//! key produce one row and no read-then-write race exists. A record whose content hash is unchanged
//! keeps its content, `changed_at` and `changed_run_id`; only `last_seen_at` and `last_run_id`
//! move. A complete ingest run tombstones ([`finish_ingest_run`]) the records of its integration
//! within its tombstone scope (the models, and variants, its emitter declares) that nothing saw
//! since it started; a later write restores them.
//!
//! The module knows nothing of CEL or model metadata: the pipeline (tributary-ingest) hands it
//! decoded fields, lookup keys and content hashes.

mod failures;
mod query;
mod runs;
mod upsert;

use serde::Serialize;

use crate::db::{Db, push_filters};
use crate::statement::BothRow;

pub use failures::{FailureQuery, StoredFailure, list_failures};
pub use query::{RecordQuery, StoredRecord, get_record, list_records, mark_disconnected};
pub use runs::{
    ABANDONED, IngestRunRow, IngestRunStatus, TombstoneScope, begin_ingest_run, finish_ingest_run,
    finish_ingest_run_by_model, get_ingest_run, ingest_runs_of,
};
pub use upsert::{write_batch, write_batch_in};

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("records database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    #[error("ingest run `{0}` does not exist")]
    RunNotFound(String),
    #[error("ingest run `{id}` is already {status}")]
    RunClosed { id: String, status: String },
    #[error("stored value is invalid: {0}")]
    Invalid(String),
}

/// The tenant and integration a batch of records belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordScope {
    pub tenant_id: String,
    pub integration_id: String,
}

/// Which runs a batch is written for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRef {
    /// The ingest run (its `ingest_runs` row), for failure rows.
    pub ingest_run_id: Option<String>,
    /// The operation or webhook run, stamped on the records as the run that last touched them.
    pub run_id: Option<String>,
}

/// The account and group a membership names, by their external ids within the integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRefs {
    pub account_external_id: String,
    pub group_external_id: String,
}

/// One decoded record to upsert.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    pub model: String,
    pub variant: String,
    pub lookup_key: String,
    /// The decoded fields: a JSON object, as JSON text.
    pub fields_json: String,
    /// The provider payload the record was mapped from, as JSON text.
    pub raw_json: String,
    pub content_hash: String,
    /// Set for `DirectoryMembership` records: resolved inside the write's transaction.
    pub membership: Option<MembershipRefs>,
    /// Position of the payload in its payload set, for a failure row if the write is rejected.
    pub payload_index: i64,
}

/// One payload that did not become a record.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureWrite {
    pub schema: String,
    pub variant: String,
    pub mapping: String,
    pub payload_index: i64,
    /// A stable code (`unknown_key`, `bad_enum_value`, ...).
    pub code: String,
    pub failed_key: Option<String>,
    /// The full message; it names keys, never credentials.
    pub reason: String,
    /// The provider payload, as JSON text.
    pub raw_json: String,
}

/// What became of one [`RecordWrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    Created,
    /// Content changed, or a tombstoned record was restored.
    Updated,
    /// Same content hash: only the last-seen time and run moved.
    Unchanged,
    /// Not written (a membership naming an unknown account or group); stored as a failure row.
    Rejected {
        reason: String,
    },
}

/// Counters of an ingest run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Payloads handed to the pipeline.
    pub seen: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Payloads a filter returned `false` for.
    pub filtered: u64,
    /// Payloads that failed mapping, decoding or reference resolution.
    pub failed: u64,
    /// Directory records tombstoned when the run completed.
    pub tombstoned: u64,
}

impl Counters {
    /// Adds the outcome of one write.
    pub fn count(&mut self, result: &WriteResult) {
        match result {
            WriteResult::Created => self.created += 1,
            WriteResult::Updated => self.updated += 1,
            WriteResult::Unchanged => self.unchanged += 1,
            WriteResult::Rejected { .. } => self.failed += 1,
        }
    }

    /// Adds `other`, counter by counter.
    pub fn add(&mut self, other: &Counters) {
        self.seen += other.seen;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.filtered += other.filtered;
        self.failed += other.failed;
        self.tombstoned += other.tombstoned;
    }
}

/// One page of a listing in id order: `sql` selects a tenant's rows (`tenant_id = $1`); each
/// filter with a value narrows it, `id > after` among them, and at most `limit` (1 to 1000) rows
/// come back.
async fn fetch_page<Row: BothRow>(
    db: &Db,
    mut sql: String,
    tenant_id: &str,
    filters: &[(&'static str, Option<&str>)],
    limit: u32,
) -> Result<Vec<Row>, RecordsError> {
    let mut binds: Vec<&str> = vec![tenant_id];
    push_filters(&mut sql, &mut binds, filters.iter().copied());
    sql.push_str(&format!(" ORDER BY id LIMIT {}", limit.clamp(1, 1000)));
    let mut conn = db.read().await?;
    let sql = sqlx::AssertSqlSafe(sql);
    Ok(conn.exec().fetch_all(sql, binds).await?)
}
