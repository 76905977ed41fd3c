//! Operation runs: inline (the caller waits for the result) or queued (a durable job a worker
//! picks up). Both record a run (status, attempt, times, counters, error kind, log lines,
//! checkpoint) and go through the same execution path: load the integration and definition,
//! resolve credentials (refreshing near-expiry tokens), run the operation with the pooled client,
//! feed emitted payloads to ingest, and end the run with a status that says what happened.

pub mod client_pool;
pub mod execute;
pub(crate) mod mappers;
pub(crate) mod push;
pub(crate) mod run_hooks;

use std::{sync::Arc, time::Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;
use tributary_core::{ErrorKind, LogLevel, OperationContext, OperationOutput, RunHooks};
use tributary_ingest::{Completeness, IngestContext};
use tributary_store::{
    StoreError,
    integrations::IntegrationStatus,
    jobs::{Job, JobError, NewJob},
    runs::{Run, RunLog, RunOutcome, RunStatus},
};

use crate::{
    Runtime, RuntimeError,
    reconcile::schedule::RunOutcome as ScheduleOutcome,
    runs::execute::Execution,
    runs::run_hooks::{IngestSink, StoredRunHooks},
    runtime::{active_connection, integration_context},
};

/// The job kind of a queued run.
pub const RUN_JOB_KIND: &str = "operation_run";

/// Run types recorded on runs.
pub const RUN_TYPE_INLINE: &str = "inline";
pub const RUN_TYPE_QUEUED: &str = "queued";
pub const RUN_TYPE_RECONCILE: &str = "reconcile";
/// Queued by a webhook event (an Okta event hook asking for a sync).
pub const RUN_TYPE_WEBHOOK: &str = "webhook";

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub tenant_id: String,
    pub integration_id: String,
    pub operation: String,
    pub config: Value,
    /// Metadata of a calling workflow (its id, step), kept on the run.
    pub workflow: Option<Value>,
}

/// A finished inline run and what the operation produced.
#[derive(Debug, Clone, Serialize)]
pub struct InlineResult {
    pub run: Run,
    /// The raw result, or the ingest report of an ingesting operation.
    pub output: Value,
}

/// A run with its log.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetails {
    pub run: Run,
    pub logs: Vec<RunLog>,
}

fn job_key(run_id: &str) -> String {
    format!("run:{run_id}")
}

/// How one execution of a run ended, before it is recorded. `Pending` means: retry the job (a
/// transient failure with attempts left).
struct Ending {
    status: RunStatus,
    error: Option<(ErrorKind, String)>,
    result: Option<Value>,
    counters: Value,
    /// The ingest report's counts per model, for the metrics.
    ingested: tributary_ingest::ModelCounters,
    changed: u64,
    /// The failure as the runtime saw it, for an inline caller.
    cause: Option<RuntimeError>,
}

impl Ending {
    fn new(status: RunStatus) -> Self {
        Self {
            status,
            error: None,
            result: None,
            counters: json!({}),
            ingested: tributary_ingest::ModelCounters::default(),
            changed: 0,
            cause: None,
        }
    }

    /// Counters and changed records from the run's ingest report, if it ingested anything.
    fn with_report(mut self, report: Option<tributary_ingest::IngestReport>) -> Self {
        if let Some(report) = report {
            self.changed = changed_records(&report);
            self.counters = json!(report.counters);
            self.ingested = report.by_model;
        }
        self
    }

    fn with_error(mut self, kind: ErrorKind, message: String, cause: Option<RuntimeError>) -> Self {
        self.error = Some((kind, message));
        self.cause = cause;
        self
    }

    fn retry(&self) -> bool {
        self.status == RunStatus::Pending
    }
}

impl Runtime {
    /// Runs an inline-eligible operation now and returns its result.
    pub async fn run_inline(&self, request: RunRequest) -> Result<InlineResult, RuntimeError> {
        let (run, _) = self.create_run(&request, RUN_TYPE_INLINE, false).await?;
        let (_, cause) = self.execute_run(&request.tenant_id, &run.id, true).await?;
        if let Some(cause) = cause {
            return Err(cause);
        }
        let run = self.stored_run(&request.tenant_id, &run.id).await?;
        let output = run
            .result
            .clone()
            .unwrap_or_else(|| json!({"counters": run.counters}));
        if let (Some(kind), Some(message)) = (&run.error_kind, &run.error_message)
            && run.status == RunStatus::Failed
        {
            return Err(RuntimeError::Execute(crate::ExecuteError::Operation(
                tributary_core::OperationError::new(parse_kind(kind), message.clone()),
            )));
        }
        Ok(InlineResult { run, output })
    }

    /// Queues a run of the operation; a worker executes it. Returns the pending run.
    pub async fn queue_run(&self, request: RunRequest) -> Result<Run, RuntimeError> {
        self.queue_run_as(request, RUN_TYPE_QUEUED).await
    }

    pub(crate) async fn queue_run_as(
        &self,
        request: RunRequest,
        run_type: &str,
    ) -> Result<Run, RuntimeError> {
        let (run, _) = self.create_run(&request, run_type, true).await?;
        Ok(run)
    }

    /// Validates a run request and records the run (and its job when `queued`), in one
    /// transaction. A run following a throttled (partial) run of the same operation starts from
    /// that run's checkpoint.
    async fn create_run(
        &self,
        request: &RunRequest,
        run_type: &str,
        queued: bool,
    ) -> Result<(Run, Option<String>), RuntimeError> {
        let integration = self
            .integration(&request.tenant_id, &request.integration_id)
            .await?;
        require_connected(integration.status, integration.status_reason.as_deref())?;
        let definition = self.definition(&integration.definition_id)?;
        let operation = definition
            .definition
            .operation_named(&request.operation)
            .ok_or_else(|| {
                RuntimeError::Invalid(format!(
                    "definition `{}` has no operation `{}`",
                    integration.definition_id, request.operation
                ))
            })?;
        if !queued && !operation.policy.inline {
            return Err(RuntimeError::Invalid(format!(
                "operation `{}` runs queued, not inline; queue it instead",
                operation.name
            )));
        }
        let config = if request.config.is_null() {
            json!({})
        } else {
            request.config.clone()
        };
        self.inner
            .executor
            .validate_config(&integration.definition_id, operation.name, &config)?;
        let resume = self
            .inner
            .db
            .runs()
            .latest_finished(&request.tenant_id, &integration.id, operation.name)
            .await?
            .filter(|run| run.status == RunStatus::Partial)
            .and_then(|run| run.checkpoint);
        let mut tx = self.inner.db.begin().await?;
        let run = tx
            .runs()
            .create(
                &request.tenant_id,
                &integration.id,
                operation.name,
                run_type,
                &config,
                request.workflow.as_ref(),
            )
            .await?;
        if let Some(checkpoint) = &resume {
            tx.runs()
                .seed_checkpoint(&request.tenant_id, &run.id, checkpoint)
                .await?;
        }
        let mut job_id = None;
        if queued {
            let payload = json!({"tenantId": request.tenant_id, "runId": run.id});
            let key = job_key(&run.id);
            let enqueued = tx
                .jobs()
                .enqueue(
                    &NewJob::new(&self.inner.config.queue, RUN_JOB_KIND, &payload)
                        .tenant(&request.tenant_id)
                        .max_attempts(self.inner.config.run_attempts.max(1))
                        .idempotency_key(&key),
                )
                .await?;
            job_id = Some(enqueued.id().to_owned());
        }
        tx.commit().await?;
        Ok((run, job_id))
    }

    /// Cancels a pending or running run. A running operation stops at its next page.
    pub async fn cancel_run(&self, tenant_id: &str, run_id: &str) -> Result<Run, RuntimeError> {
        let run = self.stored_run(tenant_id, run_id).await?;
        if run.status.is_terminal() {
            return Err(RuntimeError::Invalid(format!(
                "run {run_id} already ended ({})",
                run.status.as_str()
            )));
        }
        let cancelled = self
            .record_cancelled(tenant_id, run_id, &run.counters, "cancelled")
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    RuntimeError::Invalid(format!("run {run_id} already ended"))
                }
                other => other.into(),
            })?;
        self.cancel_run_job(run_id).await?;
        Ok(cancelled)
    }

    /// The tenant's run `run_id`, or `NotFound`.
    async fn stored_run(&self, tenant_id: &str, run_id: &str) -> Result<Run, RuntimeError> {
        self.inner
            .db
            .runs()
            .get(tenant_id, run_id)
            .await?
            .ok_or(RuntimeError::NotFound("run"))
    }

    /// Ends an unfinished run as cancelled, keeping its `counters`, with `why` as its message;
    /// `NotFound` when it had already ended.
    pub(crate) async fn record_cancelled(
        &self,
        tenant_id: &str,
        run_id: &str,
        counters: &Value,
        why: &str,
    ) -> Result<Run, StoreError> {
        self.inner
            .db
            .runs()
            .finish(
                tenant_id,
                run_id,
                &RunOutcome {
                    status: RunStatus::Cancelled,
                    counters,
                    error_kind: None,
                    error_message: Some(why),
                    result: None,
                },
            )
            .await
    }

    /// Drops a run's queued job, if any, so no worker starts it.
    pub(crate) async fn cancel_run_job(&self, run_id: &str) -> Result<(), RuntimeError> {
        self.inner
            .db
            .jobs()
            .cancel_keyed(&self.inner.config.queue, &job_key(run_id))
            .await?;
        Ok(())
    }

    /// A run and its log lines.
    pub async fn run_details(
        &self,
        tenant_id: &str,
        run_id: &str,
    ) -> Result<RunDetails, RuntimeError> {
        let run = self.stored_run(tenant_id, run_id).await?;
        let logs = self.inner.db.runs().logs(tenant_id, run_id).await?;
        Ok(RunDetails { run, logs })
    }

    /// An integration's runs, newest first.
    pub async fn list_runs(
        &self,
        tenant_id: &str,
        integration_id: &str,
        limit: i64,
    ) -> Result<Vec<Run>, RuntimeError> {
        self.integration(tenant_id, integration_id).await?;
        Ok(self
            .inner
            .db
            .runs()
            .list(tenant_id, integration_id, limit)
            .await?)
    }

    /// The job handler of the runtime's queue: queued runs and webhook deliveries (give it to a
    /// [`tributary_store::jobs::Worker`], or use [`Runtime::run_worker`]).
    pub async fn process_job(&self, job: Job) -> Result<(), JobError> {
        let started = std::time::Instant::now();
        let kind = job.kind.clone();
        let last_attempt = job.attempts >= job.max_attempts;
        let result = self.process_job_here(job).await;
        let outcome = match &result {
            Ok(()) => "succeeded",
            Err(err) if err.retryable && !last_attempt => "retried",
            Err(_) => "dead",
        };
        self.inner
            .metrics
            .job_attempt(&kind, outcome, started.elapsed());
        result
    }

    async fn process_job_here(&self, job: Job) -> Result<(), JobError> {
        if job.kind == crate::WEBHOOK_JOB_KIND {
            return self.process_delivery_job(job).await;
        }
        if job.kind == crate::HELD_EVENT_JOB_KIND {
            return self.process_held_event_job(job).await;
        }
        let (Some(tenant_id), Some(run_id)) = (
            job.payload.get("tenantId").and_then(Value::as_str),
            job.payload.get("runId").and_then(Value::as_str),
        ) else {
            return Err(JobError::permanent("a run job without tenantId and runId"));
        };
        let final_attempt = job.attempts >= job.max_attempts;
        match self.execute_run(tenant_id, run_id, final_attempt).await {
            Ok((true, _)) => Err(JobError::retry("the run failed and will be retried")),
            Ok((false, _)) => Ok(()),
            Err(err) => Err(JobError::retry(format!("recording the run failed: {err}"))),
        }
    }

    /// Executes a recorded run once. Returns whether the job should be retried.
    async fn execute_run(
        &self,
        tenant_id: &str,
        run_id: &str,
        final_attempt: bool,
    ) -> Result<(bool, Option<RuntimeError>), RuntimeError> {
        let attempt = match self.inner.db.runs().start(tenant_id, run_id).await {
            Ok(attempt) => attempt,
            // Cancelled or finished meanwhile: nothing to do.
            Err(StoreError::NotFound(_)) => return Ok((false, None)),
            Err(err) => return Err(err.into()),
        };
        let run = self.stored_run(tenant_id, run_id).await?;
        let integration = self.integration(tenant_id, &run.integration_id).await?;
        let span = tracing::info_span!(
            "tributary.run",
            tenant_id = %tenant_id,
            definition_id = %integration.definition_id,
            integration_id = %integration.id,
            operation = %run.operation,
            run_id = %run_id,
            attempt,
        );
        self.execute_loaded(run, integration, final_attempt)
            .instrument(span)
            .await
    }

    async fn execute_loaded(
        &self,
        run: Run,
        integration: tributary_store::integrations::Integration,
        final_attempt: bool,
    ) -> Result<(bool, Option<RuntimeError>), RuntimeError> {
        let started = Instant::now();
        let definition = match self.definition(&integration.definition_id) {
            Ok(definition) => definition.clone(),
            Err(err) => return self.fail_unstartable(&run, &err).await,
        };
        let definition_id = definition.definition.id();
        let resumed = run.checkpoint.is_some();
        let operation = definition.definition.operation_named(&run.operation);
        let contracts = operation.map(|o| o.ingest.clone()).unwrap_or_default();
        let sink = if contracts.is_empty() {
            None
        } else {
            let mapper = self
                .inner
                .mappers
                .get(
                    &definition,
                    &run.operation,
                    &contracts,
                    &integration.user_input,
                )
                .map_err(|e| RuntimeError::Ingest(e.to_string()))?;
            Some(IngestSink::new(
                mapper,
                IngestContext {
                    tenant_id: integration.tenant_id.clone(),
                    integration_id: integration.id.clone(),
                    run_id: Some(run.id.clone()),
                },
                // A resumed run sees only the rest of the listing: it never reconciles.
                self.inner.config.ingest_options(!resumed),
            ))
        };
        let webhooks = self
            .webhook_access(&definition, &integration.tenant_id, &integration.id)
            .await?;
        let hooks = Arc::new(
            StoredRunHooks::new(
                self.inner.db.clone(),
                integration.tenant_id.clone(),
                run.id.clone(),
                run.checkpoint.clone(),
                sink,
            )
            .with_webhooks(webhooks),
        );
        if resumed {
            hooks.log(LogLevel::Info, "resuming from the saved checkpoint");
        }

        let ending = match self
            .execute_with_hooks(&definition, &integration, &run, Arc::clone(&hooks))
            .await
        {
            _ if hooks.was_cancelled() => {
                let _ = hooks.finish_ingest(None, "cancelled").await;
                Ending::new(RunStatus::Cancelled)
            }
            Ok(output) => self.ending_of_success(&hooks, output, resumed).await,
            Err(err) => {
                let kind = err.kind();
                let message = err.to_string();
                hooks.log(LogLevel::Error, &message);
                let status = match kind {
                    // Throttled past the HTTP layer's retries: keep what was ingested and the
                    // checkpoint; the next run continues from there.
                    ErrorKind::RateLimit => RunStatus::Partial,
                    ErrorKind::Provider | ErrorKind::Internal if !final_attempt => {
                        RunStatus::Pending
                    }
                    _ => RunStatus::Failed,
                };
                let report = if status == RunStatus::Partial {
                    hooks
                        .finish_ingest(Some(Completeness::Partial), "")
                        .await
                        .ok()
                        .flatten()
                } else {
                    let _ = hooks.finish_ingest(None, &message).await;
                    None
                };
                Ending::new(status)
                    .with_report(report)
                    .with_error(kind, message, Some(err))
            }
        };
        hooks.flush_logs().await;
        self.record_ending(&run, &integration, definition_id, &ending, started)
            .await?;
        Ok((ending.retry(), ending.cause))
    }

    /// Ends a run that cannot even start (its definition left the binary, its mappings do not
    /// compile): retrying would not help.
    async fn fail_unstartable(
        &self,
        run: &Run,
        err: &RuntimeError,
    ) -> Result<(bool, Option<RuntimeError>), RuntimeError> {
        let message = err.to_string();
        self.record_outcome(
            run,
            &RunOutcome {
                status: RunStatus::Failed,
                counters: &json!({}),
                error_kind: Some(err.kind().as_str()),
                error_message: Some(&message),
                result: None,
            },
        )
        .await?;
        Ok((false, None))
    }

    /// Records how an execution of `run` ended. A run cancelled meanwhile is already ended: the
    /// cancellation stands.
    async fn record_outcome(
        &self,
        run: &Run,
        outcome: &RunOutcome<'_>,
    ) -> Result<(), RuntimeError> {
        match self
            .inner
            .db
            .runs()
            .finish(&run.tenant_id, &run.id, outcome)
            .await
        {
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    async fn execute_with_hooks(
        &self,
        definition: &tributary_core::registry::RegisteredDefinition,
        integration: &tributary_store::integrations::Integration,
        run: &Run,
        hooks: Arc<StoredRunHooks>,
    ) -> Result<OperationOutput, RuntimeError> {
        require_connected(integration.status, integration.status_reason.as_deref())?;
        let connection = active_connection(definition, integration).ok_or_else(|| {
            RuntimeError::Invalid("the integration has no active connection; connect it".into())
        })?;
        // Notice cancellation even while the operation waits on the provider.
        let flag = hooks.cancel_flag();
        let watcher_db = self.inner.db.clone();
        let (tenant, run_id) = (integration.tenant_id.clone(), run.id.clone());
        let poll = self.inner.config.cancel_poll;
        // Aborted when this frame ends, however it ends (the worker aborts a cancelled job's
        // task, which drops this future mid-await).
        let _watcher = AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(poll).await;
                if let Ok(true) = watcher_db.runs().is_cancelled(&tenant, &run_id).await {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
            }
        }));
        let refused = match self
            .execute_operation(definition, integration, connection, run, &hooks)
            .await
        {
            // A cancelled run's refusal may come from the disconnect that cancelled it.
            Err(err) if err.kind() == ErrorKind::Auth && !hooks.was_cancelled() => err,
            other => return other,
        };
        // The provider refused credentials we hold as valid (revoked, rotated, or an access
        // token cut short). Where the connection can refresh, get a new token and try once
        // more; otherwise, or if that is refused too, the tenant must connect again, and the
        // integration says so as the run does.
        let refreshed = match self
            .refresh_after_refusal(definition, integration, connection)
            .await
        {
            Ok(refreshed) => refreshed,
            Err(RuntimeError::NeedsReauth(refresh_refused)) => {
                let reason = format!("{refused}; a new token was refused too: {refresh_refused}");
                return Err(self.needs_reauth(integration, reason).await);
            }
            Err(other) => return Err(other),
        };
        if refreshed {
            hooks.log(
                LogLevel::Warn,
                "the provider refused the credentials; they were refreshed and the operation runs once more",
            );
            match self
                .execute_operation(definition, integration, connection, run, &hooks)
                .await
            {
                Err(err) if err.kind() == ErrorKind::Auth => {
                    return Err(self.needs_reauth(integration, err.to_string()).await);
                }
                other => return other,
            }
        }
        Err(self.needs_reauth(integration, refused.to_string()).await)
    }

    /// One execution of the run's operation with freshly loaded credentials.
    async fn execute_operation(
        &self,
        definition: &tributary_core::registry::RegisteredDefinition,
        integration: &tributary_store::integrations::Integration,
        connection: &tributary_core::ConnectionRegistration,
        run: &Run,
        hooks: &Arc<StoredRunHooks>,
    ) -> Result<OperationOutput, RuntimeError> {
        let credentials = self
            .load_credentials(definition, integration, connection)
            .await?;
        let context = OperationContext::with_hooks(
            integration_context(definition, integration),
            Some(run.id.clone()),
            Arc::clone(hooks) as _,
        );
        let result = self
            .inner
            .executor
            .execute(Execution::in_run(
                context,
                run.operation.clone(),
                run.config.clone(),
                credentials.bindings,
                credentials.version,
            ))
            .await;
        Ok(result?)
    }

    /// Marks the integration `needs_reauth` for the provider's refusal and returns the run's
    /// error, which says the same thing.
    async fn needs_reauth(
        &self,
        integration: &tributary_store::integrations::Integration,
        reason: String,
    ) -> RuntimeError {
        if let Err(err) = self.mark_needs_reauth(integration, &reason).await {
            return err;
        }
        RuntimeError::NeedsReauth(reason)
    }

    async fn ending_of_success(
        &self,
        hooks: &StoredRunHooks,
        output: OperationOutput,
        resumed: bool,
    ) -> Ending {
        let failed = |message: String| {
            Ending::new(RunStatus::Failed).with_error(ErrorKind::Internal, message, None)
        };
        match output {
            OperationOutput::Raw(value) => Ending {
                result: Some(value),
                ..Ending::new(RunStatus::Succeeded)
            },
            OperationOutput::Ingest(sets) => {
                if let Err(err) = hooks.ingest_returned(sets).await {
                    let _ = hooks.finish_ingest(None, &err.message).await;
                    return failed(err.message);
                }
                // A run that resumed saw only the rest of the listing, and an operation may say
                // its listing leaves records out: never tombstone on either.
                let completeness = if resumed || hooks.was_incomplete() {
                    Completeness::Partial
                } else {
                    Completeness::Complete
                };
                match hooks.finish_ingest(Some(completeness), "").await {
                    Ok(report) => Ending::new(RunStatus::Succeeded).with_report(report),
                    Err(err) => failed(err.message),
                }
            }
        }
    }

    async fn record_ending(
        &self,
        run: &Run,
        integration: &tributary_store::integrations::Integration,
        definition_id: &str,
        ending: &Ending,
        started: Instant,
    ) -> Result<(), RuntimeError> {
        let (kind, message) = match &ending.error {
            Some((kind, message)) => (Some(kind.as_str()), Some(message.as_str())),
            None => (None, None),
        };
        if ending.retry() {
            match self
                .inner
                .db
                .runs()
                .requeue(
                    &run.tenant_id,
                    &run.id,
                    kind.unwrap_or("internal"),
                    message.unwrap_or(""),
                )
                .await
            {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(err) => return Err(err.into()),
            }
            return Ok(());
        }
        self.record_outcome(
            run,
            &RunOutcome {
                status: ending.status,
                counters: &ending.counters,
                error_kind: kind,
                error_message: message,
                result: ending.result.as_ref(),
            },
        )
        .await?;
        self.inner.metrics.run_finished(
            definition_id,
            &run.operation,
            ending.status.as_str(),
            started.elapsed(),
        );
        self.inner
            .metrics
            .ingest_finished(definition_id, &ending.ingested);
        if run.run_type == RUN_TYPE_RECONCILE {
            let outcome = match ending.status {
                RunStatus::Succeeded | RunStatus::Partial if ending.changed > 0 => {
                    ScheduleOutcome::Changed(ending.changed)
                }
                RunStatus::Succeeded | RunStatus::Partial | RunStatus::Cancelled => {
                    ScheduleOutcome::Idle
                }
                _ => ScheduleOutcome::Failed,
            };
            self.record_schedule_outcome(
                integration,
                &run.operation,
                outcome,
                ending.error.as_ref().map(|(_, m)| m.as_str()),
            )
            .await?;
        }
        Ok(())
    }
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn changed_records(report: &tributary_ingest::IngestReport) -> u64 {
    report.counters.created + report.counters.updated + report.counters.tombstoned
}

fn require_connected(status: IntegrationStatus, reason: Option<&str>) -> Result<(), RuntimeError> {
    match status {
        IntegrationStatus::Connected => Ok(()),
        IntegrationStatus::NeedsReauth => Err(RuntimeError::NeedsReauth(
            reason
                .unwrap_or("the provider refused the stored grant")
                .to_owned(),
        )),
        IntegrationStatus::Suspended => Err(RuntimeError::Invalid(format!(
            "the provider suspended the integration's connection ({}); it runs again once the \
             provider resumes it",
            reason.unwrap_or("no reason given")
        ))),
        other => Err(RuntimeError::Invalid(format!(
            "the integration is {}; connect it first",
            other.as_str()
        ))),
    }
}

fn parse_kind(kind: &str) -> ErrorKind {
    match kind {
        "auth" => ErrorKind::Auth,
        "config" => ErrorKind::Config,
        "provider" => ErrorKind::Provider,
        "rate_limit" => ErrorKind::RateLimit,
        _ => ErrorKind::Internal,
    }
}
