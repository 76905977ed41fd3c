//! Hooks of a stored run: log lines go to the run's log (in order, through one writer task),
//! checkpoints to the run record, emitted pages straight into the run's ingest, and cancellation
//! is noticed from the run's status.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::Instrument;
use tributary_core::{IngestPayloadSet, LogLevel, OperationError, RunHooks, WebhookEndpointAccess};
use tributary_ingest::{Completeness, IngestReport, IngestRun, Mapper};
use tributary_store::Db;

/// Where a run's emitted payloads go: an ingest run opened with the first page.
pub(crate) struct IngestSink {
    pub(crate) mapper: Arc<Mapper>,
    pub(crate) context: tributary_ingest::IngestContext,
    pub(crate) options: tributary_ingest::IngestOptions,
    run: Option<IngestRun>,
}

impl IngestSink {
    pub(crate) fn new(
        mapper: Arc<Mapper>,
        context: tributary_ingest::IngestContext,
        options: tributary_ingest::IngestOptions,
    ) -> Self {
        Self {
            mapper,
            context,
            options,
            run: None,
        }
    }

    async fn push(&mut self, db: &Db, sets: Vec<IngestPayloadSet>) -> Result<(), OperationError> {
        let span = tracing::debug_span!(
            "tributary.ingest",
            tenant_id = %self.context.tenant_id,
            integration_id = %self.context.integration_id,
            payloads = sets.iter().map(|s| s.envelopes.len()).sum::<usize>(),
        );
        self.push_in_span(db, sets).instrument(span).await
    }

    async fn push_in_span(
        &mut self,
        db: &Db,
        sets: Vec<IngestPayloadSet>,
    ) -> Result<(), OperationError> {
        if self.run.is_none() {
            self.run = Some(
                IngestRun::begin(db, Arc::clone(&self.mapper), &self.context, self.options)
                    .await
                    .map_err(|e| OperationError::internal(format!("ingest: {e}")))?,
            );
        }
        let run = self.run.as_mut().expect("opened above");
        run.ingest(sets)
            .await
            .map_err(|e| OperationError::internal(format!("ingest: {e}")))
    }

    async fn flush(&mut self) -> Result<(), OperationError> {
        match self.run.as_mut() {
            Some(run) => run
                .flush()
                .await
                .map_err(|e| OperationError::internal(format!("ingest: {e}"))),
            None => Ok(()),
        }
    }

    fn counters(&self) -> Value {
        self.run
            .as_ref()
            .map_or_else(|| json!({}), |run| json!(run.counters()))
    }
}

/// The hooks handed to an operation that runs as a stored run.
pub(crate) struct StoredRunHooks {
    db: Db,
    tenant_id: String,
    run_id: String,
    resume_from: Option<Value>,
    cancelled: Arc<AtomicBool>,
    /// The operation said its listing leaves records out: the run tombstones nothing.
    incomplete: AtomicBool,
    log_tx: Mutex<Option<mpsc::UnboundedSender<(LogLevel, String)>>>,
    log_writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    ingest: tokio::sync::Mutex<Option<IngestSink>>,
    webhooks: Vec<WebhookEndpointAccess>,
}

impl StoredRunHooks {
    pub(crate) fn new(
        db: Db,
        tenant_id: String,
        run_id: String,
        resume_from: Option<Value>,
        ingest: Option<IngestSink>,
    ) -> Self {
        let (log_tx, mut log_rx) = mpsc::unbounded_channel::<(LogLevel, String)>();
        let writer_db = db.clone();
        let (writer_tenant, writer_run) = (tenant_id.clone(), run_id.clone());
        let log_writer = tokio::spawn(async move {
            while let Some((level, message)) = log_rx.recv().await {
                let level = match level {
                    LogLevel::Debug => "debug",
                    LogLevel::Info => "info",
                    LogLevel::Warn => "warn",
                    LogLevel::Error => "error",
                };
                if let Err(err) = writer_db
                    .runs()
                    .log(&writer_tenant, &writer_run, level, &message, &json!({}))
                    .await
                {
                    tracing::warn!(run_id = %writer_run, error = %err, "a run log line was not stored");
                }
            }
        });
        Self {
            db,
            tenant_id,
            run_id,
            resume_from,
            cancelled: Arc::new(AtomicBool::new(false)),
            incomplete: AtomicBool::new(false),
            log_tx: Mutex::new(Some(log_tx)),
            log_writer: Mutex::new(Some(log_writer)),
            ingest: tokio::sync::Mutex::new(ingest),
            webhooks: Vec::new(),
        }
    }

    /// The integration's webhook endpoints the operation may register with the provider.
    pub(crate) fn with_webhooks(mut self, webhooks: Vec<WebhookEndpointAccess>) -> Self {
        self.webhooks = webhooks;
        self
    }

    pub(crate) fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancelled)
    }

    pub(crate) fn was_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub(crate) fn was_incomplete(&self) -> bool {
        self.incomplete.load(Ordering::SeqCst)
    }

    /// Waits until every log line sent so far is stored.
    pub(crate) async fn flush_logs(&self) {
        drop(self.log_tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let writer = self
            .log_writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
    }

    /// Ingests the payload sets an operation returned (after those it emitted).
    pub(crate) async fn ingest_returned(
        &self,
        sets: Vec<IngestPayloadSet>,
    ) -> Result<(), OperationError> {
        let mut sink = self.ingest.lock().await;
        match sink.as_mut() {
            Some(sink) => sink.push(&self.db, sets).await,
            None if sets.iter().all(|s| s.envelopes.is_empty()) => Ok(()),
            None => Err(OperationError::internal(
                "the operation returned ingest payloads but declares no ingest schemas",
            )),
        }
    }

    /// Ends the run's ingest: `Complete` tombstones what a full directory listing did not see.
    /// Returns the report, or `None` when nothing was emitted.
    pub(crate) async fn finish_ingest(
        &self,
        completeness: Option<Completeness>,
        failure: &str,
    ) -> Result<Option<IngestReport>, OperationError> {
        let mut sink = self.ingest.lock().await;
        let Some(run) = sink.as_mut().and_then(|s| s.run.take()) else {
            return Ok(None);
        };
        let report = match completeness {
            Some(completeness) => run.finish(completeness).await,
            None => run.fail(failure).await,
        };
        report
            .map(Some)
            .map_err(|e| OperationError::internal(format!("ingest: {e}")))
    }

    async fn refresh_cancelled(&self) {
        if let Ok(true) = self
            .db
            .runs()
            .is_cancelled(&self.tenant_id, &self.run_id)
            .await
        {
            self.cancelled.store(true, Ordering::SeqCst);
        }
    }
}

impl RunHooks for StoredRunHooks {
    fn webhook_endpoint(&self, webhook: &str) -> Option<WebhookEndpointAccess> {
        self.webhooks.iter().find(|w| w.name == webhook).cloned()
    }

    fn mark_incomplete(&self, reason: &str) {
        self.incomplete.store(true, Ordering::SeqCst);
        self.log(
            LogLevel::Warn,
            &format!("the listing is incomplete, so nothing is tombstoned: {reason}"),
        );
    }

    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Debug => {
                tracing::debug!(target: "tributary::run", run_id = %self.run_id, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "tributary::run", run_id = %self.run_id, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "tributary::run", run_id = %self.run_id, "{message}")
            }
            LogLevel::Error => {
                tracing::error!(target: "tributary::run", run_id = %self.run_id, "{message}")
            }
        }
        if let Some(tx) = self
            .log_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = tx.send((level, message.to_owned()));
        }
    }

    fn checkpoint(&self) -> Option<Value> {
        self.resume_from.clone()
    }

    fn save_checkpoint(&self, checkpoint: Value) -> BoxFuture<'_, Result<(), OperationError>> {
        Box::pin(async move {
            // What the checkpoint claims as done must be stored first: a run resumed from it
            // will not fetch those pages again.
            let counters = {
                let mut sink = self.ingest.lock().await;
                match sink.as_mut() {
                    Some(sink) => {
                        sink.flush().await?;
                        sink.counters()
                    }
                    None => json!({}),
                }
            };
            self.db
                .runs()
                .checkpoint(&self.tenant_id, &self.run_id, &checkpoint, &counters)
                .await
                .map_err(|e| OperationError::internal(format!("saving the checkpoint: {e}")))?;
            self.refresh_cancelled().await;
            Ok(())
        })
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn emit(&self, set: IngestPayloadSet) -> BoxFuture<'_, Result<(), OperationError>> {
        Box::pin(async move {
            let mut sink = self.ingest.lock().await;
            match sink.as_mut() {
                Some(sink) => sink.push(&self.db, vec![set]).await,
                None => Err(OperationError::internal(
                    "the operation emitted ingest payloads but declares no ingest schemas",
                )),
            }
        })
    }
}
