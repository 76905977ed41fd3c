//! Reconcile: reconcile-eligible operations of connected integrations run on a persisted,
//! adaptive schedule. The scheduler claims due schedules (a lease pushes their next run time out,
//! so two schedulers never queue the same one twice), queues a run for each, and the run's end
//! sets the next time: sooner when records changed, later when idle or failing, within
//! [`SchedulePolicy`](crate::reconcile::schedule::SchedulePolicy) bounds.

pub(crate) mod retention;
pub mod schedule;

use std::{future::Future, time::Duration};

use serde_json::Value;
use tributary_store::{
    integrations::{Integration, IntegrationStatus},
    jobs::{Worker, WorkerConfig, WorkerStats},
    now_ms,
    runs::Run,
    schedules::ScheduleUpdate,
};

use crate::{
    Runtime, RuntimeError,
    reconcile::schedule::{RunOutcome, ScheduleState},
    runs::{RUN_TYPE_RECONCILE, RunRequest},
};

/// How long a claimed schedule is held before another scheduler may claim it again (the run's
/// end sets the real next time well before).
const CLAIM_LEASE: Duration = Duration::from_secs(30 * 60);
/// Schedules claimed per tick.
const CLAIM_BATCH: i64 = 100;

impl Runtime {
    /// Queues a run for every due schedule. Returns how many runs were queued.
    pub async fn reconcile_tick(&self) -> Result<usize, RuntimeError> {
        let lease = i64::try_from(CLAIM_LEASE.as_millis()).unwrap_or(i64::MAX);
        let due = self
            .inner
            .db
            .schedules()
            .claim_due(now_ms(), lease, CLAIM_BATCH)
            .await?;
        let mut queued = 0;
        for schedule in due {
            let integration = match self
                .inner
                .db
                .integrations()
                .get(&schedule.tenant_id, &schedule.integration_id)
                .await?
            {
                Some(integration) => integration,
                None => continue,
            };
            if integration.status != IntegrationStatus::Connected {
                // Stopped integrations keep no running schedules.
                self.inner
                    .db
                    .schedules()
                    .set_enabled(&schedule.tenant_id, &schedule.integration_id, false)
                    .await?;
                continue;
            }
            // A run of this operation still going (a long sync, a manual run) is not doubled;
            // the claim's lease brings the schedule back later.
            if self
                .inner
                .db
                .runs()
                .has_active(
                    &schedule.tenant_id,
                    &schedule.integration_id,
                    &schedule.operation,
                )
                .await?
            {
                continue;
            }
            let request = RunRequest {
                tenant_id: schedule.tenant_id.clone(),
                integration_id: schedule.integration_id.clone(),
                operation: schedule.operation.clone(),
                config: Value::Null,
                workflow: None,
            };
            match self.queue_run_as(request, RUN_TYPE_RECONCILE).await {
                Ok(_) => queued += 1,
                Err(err) => tracing::warn!(
                    tenant_id = %schedule.tenant_id,
                    integration_id = %schedule.integration_id,
                    operation = %schedule.operation,
                    error = %err,
                    "a due reconcile run could not be queued"
                ),
            }
        }
        Ok(queued)
    }

    /// Sets a schedule's next run from how its last run went.
    pub(crate) async fn record_schedule_outcome(
        &self,
        integration: &Integration,
        operation: &str,
        outcome: RunOutcome,
        error: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let schedules = self
            .inner
            .db
            .schedules()
            .list(&integration.tenant_id, &integration.id)
            .await?;
        let Some(schedule) = schedules.iter().find(|s| s.operation == operation) else {
            return Ok(());
        };
        let policy = &self.inner.config.schedule_policy;
        let state = ScheduleState {
            interval: Duration::from_millis(u64::try_from(schedule.interval_ms).unwrap_or(0)),
            idle_streak: u32::try_from(schedule.idle_streak).unwrap_or(u32::MAX),
            error_streak: u32::try_from(schedule.error_streak).unwrap_or(u32::MAX),
        }
        .next(policy, outcome);
        let delay = state.jittered_delay(policy);
        self.inner
            .db
            .schedules()
            .record(
                &integration.tenant_id,
                &integration.id,
                operation,
                &ScheduleUpdate {
                    interval_ms: i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
                    idle_streak: i64::from(state.idle_streak),
                    error_streak: i64::from(state.error_streak),
                    last_error: error,
                },
            )
            .await?;
        Ok(())
    }

    /// Runs the reconcile scheduler until `shutdown` completes.
    pub async fn run_scheduler(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(err) = self.reconcile_tick().await {
                tracing::warn!(error = %err, "reconcile tick failed");
            }
            if let Err(err) = self
                .inner
                .db
                .auth_sessions(&self.inner.ring)
                .purge_expired()
                .await
            {
                tracing::warn!(error = %err, "purging expired auth sessions failed");
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.inner.config.scheduler_poll) => {}
            }
        }
    }

    /// Runs a job worker for queued runs until `shutdown` completes; running jobs finish first.
    pub async fn run_worker(
        &self,
        config: Option<WorkerConfig>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<WorkerStats, RuntimeError> {
        let config = config.unwrap_or_else(|| WorkerConfig::new(self.inner.config.queue.clone()));
        let runtime = self.clone();
        Ok(Worker::new(self.inner.db.clone(), config)
            .run(
                move |job| {
                    let runtime = runtime.clone();
                    async move { runtime.process_job(job).await }
                },
                shutdown,
            )
            .await?)
    }

    /// Runs a worker in this process until the run `run_id` ends, and returns the ended run.
    ///
    /// The worker takes whatever else is queued meanwhile too (it is an ordinary worker); it is
    /// stopped, letting its jobs finish, once the run is terminal. `on_progress` sees the run at
    /// every poll, for a progress display. Callers that want a deadline wrap this in a timeout.
    pub async fn drive_run(
        &self,
        tenant_id: &str,
        run_id: &str,
        worker: Option<WorkerConfig>,
        mut on_progress: impl FnMut(&Run) + Send,
    ) -> Result<Run, RuntimeError> {
        let mut worker =
            worker.unwrap_or_else(|| WorkerConfig::new(self.inner.config.queue.clone()));
        // Poll the queue about as often as this loop looks at the run, so a short run ends fast.
        worker.poll_interval = worker.poll_interval.min(DRIVE_POLL);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = {
            let runtime = self.clone();
            tokio::spawn(async move {
                runtime
                    .run_worker(Some(worker), async {
                        let _ = stopped.await;
                    })
                    .await
            })
        };
        let ended = loop {
            let run = match self.inner.db.runs().get(tenant_id, run_id).await {
                Ok(Some(run)) => run,
                Ok(None) => break Err(RuntimeError::NotFound("run")),
                Err(error) => break Err(error.into()),
            };
            on_progress(&run);
            if run.status.is_terminal() {
                break Ok(run);
            }
            tokio::time::sleep(DRIVE_POLL).await;
        };
        let _ = stop.send(());
        match running.await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(error),
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => {}
        }
        ended
    }
}

/// How often [`Runtime::drive_run`] looks at the run it waits for.
const DRIVE_POLL: Duration = Duration::from_millis(25);
