//! An ingest run: payload sets in, batched transactional upserts out, counters kept, failures
//! stored, and the tombstoning of what a complete run did not see among the models (and variants)
//! its emitter declares. Pushed payloads wait in a batch; a full batch is mapped off the async
//! runtime in one hop ([`crate::offload`]) and written in one transaction.
//!
//! The three stages overlap, a batch in each: while the caller gathers the next payloads, the
//! batch before is mapped on the blocking pool and the one before that is written (on the
//! database's own thread or server). At most one batch is mapped and one written at a time, so
//! batches commit in push order, a membership still sees the accounts and groups of every
//! earlier batch, and memory stays bounded by three batches.

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use serde_json::Value;
use tributary_core::{IngestPayloadSet, MappingEnvelope};
use tributary_model::{DirectoryMembership, IngestModel};
use tributary_store::Db;
use tributary_store::records::{
    self, Counters, FailureWrite, IngestRunStatus, MembershipRefs, RecordScope, RecordWrite,
    RecordsError, RunRef, TombstoneScope,
};

use crate::canonical::{canonical, content_hash};
use crate::error::{IngestError, RecordError};
use crate::mapper::{MapOutcome, MappedRecord, Mapper};
use crate::model_counts::{ModelCounters, model_name};
use crate::offload::{OffloadError, StopFlag, evaluate_off_runtime};

/// Who the payloads belong to and which run produced them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestContext {
    pub tenant_id: String,
    pub integration_id: String,
    /// The operation run or webhook run, stamped on the records it touches.
    pub run_id: Option<String>,
}

/// How a run batches and whether it reconciles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestOptions {
    /// Records per transaction; memory use is bounded by it. Default 500.
    pub batch_size: usize,
    /// Whether the run, if it finishes complete, tombstones the records it did not see of the
    /// models (and variants) the mapper's contracts declare. Default `true`; `false` for what is
    /// never a full listing (webhook events, pushed records, a resumed run).
    pub reconcile: bool,
    /// Wall-clock bound on mapping one batch (filters, map expressions, decoding); past it the
    /// run fails. Default 30 s.
    pub evaluation_timeout: Duration,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            reconcile: true,
            evaluation_timeout: Duration::from_secs(30),
        }
    }
}

/// Whether the emitter handed over everything it had (a full listing) or only part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    /// A page limit, a cancelled sync, a provider error on one resource: nothing is tombstoned.
    Partial,
}

/// The outcome of a finished run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub ingest_run_id: String,
    /// Whether the tombstone scope covers a directory model.
    pub directory_sync: bool,
    /// What the run tombstoned, or would have had it completed.
    pub tombstone_scope: Vec<TombstoneScope>,
    pub status: IngestRunStatus,
    pub counters: Counters,
    /// The same counts split by model (they add up to `counters`), for metrics.
    pub by_model: ModelCounters,
}

/// A run in progress. Feed it with [`IngestRun::ingest`] (or [`IngestRun::push`]), then end it
/// with [`IngestRun::finish`] or [`IngestRun::fail`]; a run dropped without either stays
/// `running` in the database and never tombstones.
pub struct IngestRun {
    db: Db,
    /// Shared, so that a batch can be mapped on another thread.
    mapper: Arc<Mapper>,
    scope: RecordScope,
    run: RunRef,
    ingest_run_id: String,
    directory_sync: bool,
    tombstone_scope: Vec<TombstoneScope>,
    batch_size: usize,
    evaluation_timeout: Duration,
    counters: Counters,
    /// Counted alongside `counters`, at the same places.
    by_model: ModelCounters,
    unmapped: Unmapped,
    pending: Vec<RecordWrite>,
    pending_failures: Vec<FailureWrite>,
    /// The batch being mapped, whose outcomes are taken when the next batch is full.
    mapping: Option<tokio::task::JoinHandle<Result<Vec<BatchOutcome>, OffloadError>>>,
    /// The batch being written, whose results are counted when it is settled.
    in_flight: Option<tokio::task::JoinHandle<BatchWritten>>,
}

/// A written batch: the store's result per write, with the writes (for the log) and any error.
type BatchWritten = (
    Result<Vec<records::WriteResult>, RecordsError>,
    Vec<RecordWrite>,
);

impl IngestRun {
    /// Records the start of a run (an `ingest_runs` row).
    pub async fn begin(
        db: &Db,
        mapper: Arc<Mapper>,
        context: &IngestContext,
        options: IngestOptions,
    ) -> Result<Self, IngestError> {
        let tombstones: Vec<TombstoneScope> = if options.reconcile {
            mapper
                .contracts()
                .into_iter()
                .map(|contract| TombstoneScope {
                    model: contract.schema,
                    variants: contract.variants,
                })
                .collect()
        } else {
            Vec::new()
        };
        let scope = RecordScope {
            tenant_id: context.tenant_id.clone(),
            integration_id: context.integration_id.clone(),
        };
        let row =
            records::begin_ingest_run(db, &scope, context.run_id.as_deref(), &tombstones).await?;
        let batch_size = options.batch_size.max(1);
        Ok(Self {
            db: db.clone(),
            mapper,
            scope,
            run: RunRef {
                ingest_run_id: Some(row.id.clone()),
                run_id: context.run_id.clone(),
            },
            ingest_run_id: row.id,
            directory_sync: row.directory_sync,
            tombstone_scope: row.tombstone_scope,
            batch_size,
            evaluation_timeout: options.evaluation_timeout,
            counters: Counters::default(),
            by_model: ModelCounters::default(),
            unmapped: Unmapped::default(),
            pending: Vec::with_capacity(batch_size),
            pending_failures: Vec::new(),
            mapping: None,
            in_flight: None,
        })
    }

    pub fn id(&self) -> &str {
        &self.ingest_run_id
    }

    /// The counters so far (payloads pushed but not yet written count as seen only).
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Runs every envelope of every set through the pipeline, mapping and writing full batches
    /// as they fill.
    pub async fn ingest(&mut self, sets: Vec<IngestPayloadSet>) -> Result<(), IngestError> {
        for set in sets {
            for (index, envelope) in set.envelopes.into_iter().enumerate() {
                self.push(&set.schema, envelope, index).await?;
            }
        }
        Ok(())
    }

    /// Adds one envelope (position `index` in its set) to the batch, mapping and writing the
    /// batch once it is full. A payload that fails is counted, logged and stored in the failures
    /// table; only a database error or a batch past its time limit is returned.
    pub async fn push(
        &mut self,
        schema: &str,
        envelope: MappingEnvelope,
        index: usize,
    ) -> Result<(), IngestError> {
        self.counters.seen += 1;
        self.by_model.of(schema).seen += 1;
        self.unmapped.push(schema, envelope, index);
        if self.unmapped.len >= self.batch_size {
            // Each stage moves one batch on: the batch mapped meanwhile goes to be written
            // (once the write before it has ended), and this full batch goes to be mapped.
            self.take_mapped().await?;
            self.settle().await?;
            self.start_write();
            self.start_mapping();
        }
        Ok(())
    }

    /// Starts mapping the gathered payloads off the async runtime, as the one mapping in flight.
    fn start_mapping(&mut self) {
        debug_assert!(self.mapping.is_none(), "one batch mapped at a time");
        if self.unmapped.len == 0 {
            return;
        }
        let batch = std::mem::take(&mut self.unmapped);
        let what = format!("a batch of {} payloads", batch.len);
        let mapper = Arc::clone(&self.mapper);
        let work = evaluate_off_runtime(what, self.evaluation_timeout, move |stop| {
            map_unmapped(&mapper, batch, stop)
        });
        self.mapping = Some(tokio::spawn(work));
    }

    /// Waits for the mapping in flight, if any, and queues its writes and failures.
    async fn take_mapped(&mut self) -> Result<(), IngestError> {
        let Some(mapping) = self.mapping.take() else {
            return Ok(());
        };
        let outcomes = mapping.await.map_err(|error| OffloadError::Failed {
            what: "a batch of payloads".into(),
            reason: if error.is_cancelled() {
                "cancelled"
            } else {
                "panicked"
            },
        })??;
        for outcome in outcomes {
            match outcome {
                BatchOutcome::Write(write) => self.pending.push(write),
                BatchOutcome::Filtered { model } => {
                    self.counters.filtered += 1;
                    self.by_model.of(model).filtered += 1;
                }
                BatchOutcome::Rejected { error, raw_json } => self.reject(&error, raw_json),
            }
        }
        Ok(())
    }

    fn reject(&mut self, error: &RecordError, raw_json: String) {
        self.counters.failed += 1;
        // The payload set's schema: a payload that never mapped has no other.
        self.by_model.of(&error.schema).failed += 1;
        tracing::warn!(
            definition = %error.definition_id,
            mapping = %error.mapping,
            payload_index = error.record.index,
            code = error.failure.code(),
            key = error.failure.key().unwrap_or(""),
            "ingest payload rejected: {error}"
        );
        self.pending_failures.push(FailureWrite {
            schema: error.schema.clone(),
            variant: error.variant.clone(),
            mapping: error.mapping.clone(),
            payload_index: i64::try_from(error.record.index).unwrap_or(i64::MAX),
            code: error.failure.code().to_owned(),
            failed_key: error.failure.key().map(str::to_owned),
            reason: error.to_string(),
            raw_json,
        });
    }

    /// Maps and writes the payloads pushed so far, their records and failures in one
    /// transaction per batch, and waits until every batch is written. Call it before saving a
    /// checkpoint that claims them: a run resumed from that checkpoint will not see them again.
    pub async fn flush(&mut self) -> Result<(), IngestError> {
        self.take_mapped().await?;
        self.settle().await?;
        self.start_write();
        self.start_mapping();
        self.take_mapped().await?;
        self.settle().await?;
        self.start_write();
        self.settle().await
    }

    /// Starts writing what is mapped, if anything, as the one write in flight.
    fn start_write(&mut self) {
        debug_assert!(self.in_flight.is_none(), "one write in flight at a time");
        if self.pending.is_empty() && self.pending_failures.is_empty() {
            return;
        }
        let writes = std::mem::replace(&mut self.pending, Vec::with_capacity(self.batch_size));
        let failures = std::mem::take(&mut self.pending_failures);
        let (db, scope, run) = (self.db.clone(), self.scope.clone(), self.run.clone());
        // A task, so that the transaction makes progress while this run maps the next batch.
        self.in_flight = Some(tokio::spawn(async move {
            let results = records::write_batch(&db, &scope, &run, &writes, &failures).await;
            (results, writes)
        }));
    }

    /// Waits for the write in flight, if any, and counts its results.
    async fn settle(&mut self) -> Result<(), IngestError> {
        let Some(write) = self.in_flight.take() else {
            return Ok(());
        };
        let (results, writes) = write.await.map_err(|error| {
            IngestError::Store(RecordsError::Invalid(format!(
                "writing a batch stopped unexpectedly: {error}"
            )))
        })?;
        for (result, write) in results?.iter().zip(&writes) {
            if let records::WriteResult::Rejected { reason } = result {
                tracing::warn!(
                    definition = %self.mapper.definition_id(),
                    model = %write.model,
                    payload_index = write.payload_index,
                    code = "unresolved_reference",
                    "ingest record rejected: {reason}"
                );
            }
            self.counters.count(result);
            self.by_model.of(&write.model).count(result);
        }
        Ok(())
    }

    /// Writes what is pending and closes the run: `completed` when the emitter says the listing
    /// is complete and no payload failed, else `partial`. A completed run that reconciles
    /// tombstones the integration's records of its declared models (and variants) it did not see.
    pub async fn finish(mut self, completeness: Completeness) -> Result<IngestReport, IngestError> {
        if let Err(error) = self.flush().await {
            return Err(self.close_failed(error).await);
        }
        let status = if completeness == Completeness::Complete && self.counters.failed == 0 {
            IngestRunStatus::Completed
        } else {
            IngestRunStatus::Partial
        };
        self.close(status, None).await
    }

    /// Closes the run as failed (nothing is tombstoned), dropping what is pending.
    pub async fn fail(self, reason: &str) -> Result<IngestReport, IngestError> {
        self.close(IngestRunStatus::Failed, Some(reason)).await
    }

    async fn close_failed(self, error: IngestError) -> IngestError {
        let reason = error.to_string();
        match self.close(IngestRunStatus::Failed, Some(&reason)).await {
            Ok(_) => error,
            Err(close_error) => {
                tracing::error!("could not mark ingest run failed: {close_error}");
                error
            }
        }
    }

    async fn close(
        mut self,
        status: IngestRunStatus,
        error: Option<&str>,
    ) -> Result<IngestReport, IngestError> {
        // A batch still being mapped is given up; a batch being written is let end before the
        // run is closed, so that nothing of it is written after the run says it stopped.
        if let Some(mapping) = self.mapping.take() {
            mapping.abort();
        }
        if let Err(in_flight) = self.settle().await {
            if status != IngestRunStatus::Failed {
                return Err(in_flight);
            }
            tracing::warn!("the last batch of a failed ingest run was not written: {in_flight}");
        }
        let tombstoned = records::finish_ingest_run_by_model(
            &self.db,
            &self.ingest_run_id,
            status,
            &self.counters,
            error,
        )
        .await?;
        self.counters.tombstoned = tombstoned.values().sum();
        for (model, records) in tombstoned {
            self.by_model.of(&model).tombstoned += records;
        }
        Ok(IngestReport {
            ingest_run_id: self.ingest_run_id,
            directory_sync: self.directory_sync,
            tombstone_scope: self.tombstone_scope,
            status,
            counters: self.counters,
            by_model: self.by_model,
        })
    }
}

/// Runs payload sets through a fresh run and finishes it: `completeness` says whether the sets
/// are the emitter's full listing. A database error fails the run and is returned.
pub async fn ingest_payload_sets(
    db: &Db,
    mapper: Arc<Mapper>,
    context: &IngestContext,
    sets: Vec<IngestPayloadSet>,
    completeness: Completeness,
    options: IngestOptions,
) -> Result<IngestReport, IngestError> {
    let mut run = IngestRun::begin(db, mapper, context, options).await?;
    match run.ingest(sets).await {
        Ok(()) => run.finish(completeness).await,
        Err(error) => Err(run.close_failed(error).await),
    }
}

/// Payloads pushed but not yet mapped, in push order, grouped by schema (a page is one schema, so
/// the schema is not copied for each payload).
#[derive(Default)]
struct Unmapped {
    groups: Vec<(String, Vec<(MappingEnvelope, usize)>)>,
    len: usize,
}

impl Unmapped {
    fn push(&mut self, schema: &str, envelope: MappingEnvelope, index: usize) {
        match self.groups.last_mut() {
            Some((last, items)) if last == schema => items.push((envelope, index)),
            _ => self
                .groups
                .push((schema.to_owned(), vec![(envelope, index)])),
        }
        self.len += 1;
    }
}

/// What became of one payload of a batch, ready to be written.
enum BatchOutcome {
    Write(RecordWrite),
    /// `model` is the payload set's model name ([`model_name`]): no text copied per payload.
    Filtered {
        model: &'static str,
    },
    Rejected {
        error: Box<RecordError>,
        raw_json: String,
    },
}

/// Steps 1 to 5 for a whole batch, with the canonical texts and hashes of what is written: the
/// CPU work of a batch, done on a blocking thread. Stops early (the result is then discarded)
/// once the caller stopped waiting.
fn map_unmapped(mapper: &Mapper, batch: Unmapped, stop: &StopFlag) -> Vec<BatchOutcome> {
    let mut outcomes = Vec::with_capacity(batch.len);
    for (schema, items) in batch.groups {
        let model = model_name(&schema);
        for (envelope, index) in items {
            if stop.is_set() {
                return outcomes;
            }
            outcomes.push(match mapper.map(&schema, &envelope, index) {
                Ok(MapOutcome::Mapped(record)) => {
                    BatchOutcome::Write(record_write(record, &envelope.payload, index))
                }
                Ok(MapOutcome::Filtered(_)) => BatchOutcome::Filtered { model },
                Err(error) => BatchOutcome::Rejected {
                    error,
                    raw_json: canonical(&envelope.payload),
                },
            });
        }
    }
    outcomes
}

/// The store write of a mapped record: canonical texts, content hash, membership references.
fn record_write(record: MappedRecord, payload: &Value, index: usize) -> RecordWrite {
    let membership = (record.schema == DirectoryMembership::METADATA.schema).then(|| {
        let text = |key: &str| {
            record
                .fields
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        MembershipRefs {
            account_external_id: text("accountExternalID"),
            group_external_id: text("groupExternalID"),
        }
    });
    let raw_json = canonical(payload);
    let fields_json = canonical(&Value::Object(record.fields));
    RecordWrite {
        model: record.schema.to_owned(),
        variant: record.variant,
        lookup_key: record.lookup_key,
        content_hash: content_hash(&fields_json, &raw_json),
        fields_json,
        raw_json,
        membership,
        payload_index: i64::try_from(index).unwrap_or(i64::MAX),
    }
}

impl From<RecordsError> for IngestError {
    fn from(error: RecordsError) -> Self {
        IngestError::Store(error)
    }
}
