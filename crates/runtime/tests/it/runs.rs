//! Operation runs: inline and queued, logs and counters, 429 storms ending `partial` and resuming
//! from the checkpoint, a worker killed mid-run, cancellation, and the reconcile schedule; and
//! the records they ingest, counted by model in the metrics.

mod ingest_metrics;
use crate::support;

use std::time::{Duration, Instant};

use crate::support::{
    Harness, connect_token_to, connect_with_token, eventually, records, runtime_configured,
    schedules_enabled, spawn_worker, wait_for_run,
};
use serde_json::{Value, json};
use tributary_core::ErrorKind;
use tributary_runtime::{RUN_TYPE_RECONCILE, RunRequest, RuntimeError};
use tributary_store::runs::RunStatus;
use tributary_store::testing::{TestDb, each_backend};

const TOKEN: &str = "acme-runs-token-77";

fn request(h: &Harness, integration_id: &str, operation: &str) -> RunRequest {
    RunRequest {
        tenant_id: h.tenant_id.clone(),
        integration_id: integration_id.to_owned(),
        operation: operation.to_owned(),
        config: Value::Null,
        workflow: None,
    }
}

#[each_backend]
async fn inline_runs_answer_the_caller_and_queued_runs_sync_through_a_worker(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let id = connect_with_token(&h, TOKEN).await;

    let inline = h
        .runtime
        .run_inline(request(&h, &id, "HealthCheck"))
        .await
        .unwrap();
    assert_eq!(inline.output, json!({"org": "org-42"}));
    assert_eq!(inline.run.status, RunStatus::Succeeded);
    assert_eq!(inline.run.run_type, "inline");
    assert_eq!(inline.run.result, Some(json!({"org": "org-42"})));

    let not_inline = h
        .runtime
        .run_inline(request(&h, &id, "DirectorySync"))
        .await
        .unwrap_err();
    assert!(
        matches!(not_inline, RuntimeError::Invalid(_)),
        "{not_inline}"
    );
    let mut bad_config = request(&h, &id, "DirectorySync");
    bad_config.config = json!({"pages": 3});
    let err = h.runtime.queue_run(bad_config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");

    let mut queued = request(&h, &id, "DirectorySync");
    queued.workflow = Some(json!({"workflowId": "wf-1", "step": "sync"}));
    let run = h.runtime.queue_run(queued).await.unwrap();
    assert_eq!(run.status, RunStatus::Pending);
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    let run = wait_for_run(&h, &run.id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error_message);
    assert_eq!(run.attempt, 1);
    assert_eq!(run.counters["created"], 5);
    assert_eq!(
        run.workflow,
        Some(json!({"workflowId": "wf-1", "step": "sync"}))
    );
    assert!(run.duration_ms.is_some() && run.started_at.is_some());
    let details = h.runtime.run_details(&h.tenant_id, &run.id).await.unwrap();
    assert_eq!(
        details
            .logs
            .iter()
            .filter(|l| l.message == "synced a page of users")
            .count(),
        3
    );
    let accounts = records(&h, &id, "DirectoryAccount").await;
    assert_eq!(accounts.len(), 5);
    assert_eq!(
        accounts[0].fields["canonicalEmail"].as_str().unwrap(),
        accounts[0].fields["canonicalEmail"]
            .as_str()
            .unwrap()
            .to_lowercase()
    );

    // A sync that says its listing left users out tombstones nothing, and logs why...
    h.api.lock().users.pop();
    let mut partial = request(&h, &id, "DirectorySync");
    partial.config = json!({"markIncomplete": true});
    let partial = h.runtime.queue_run(partial).await.unwrap();
    let partial = wait_for_run(&h, &partial.id).await;
    assert_eq!(partial.status, RunStatus::Succeeded);
    assert_eq!(partial.counters["tombstoned"], 0);
    h.assert_logged(&partial.id, "users of suspended teams are not listed")
        .await;
    // ...and the next complete sync tombstones the user that disappeared.
    let again = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    let again = wait_for_run(&h, &again.id).await;
    assert_eq!(again.status, RunStatus::Succeeded);
    assert_eq!(again.counters["tombstoned"], 1);
    let runs = h.runtime.list_runs(&h.tenant_id, &id, 10).await.unwrap();
    assert_eq!(runs.len(), 4);
    let _ = stop.send(());
    worker.await.unwrap();
    let metrics = h.runtime.metrics().render();
    assert!(metrics.contains("tributary_runs_total{definition=\"acme\",operation=\"DirectorySync\",status=\"succeeded\"} 3"), "{metrics}");
}

/// A filter that takes about a million steps of comprehension work for each payload, just under
/// the CEL engine's work budget: slow, yet within every limit the engine checks.
fn slow_filter() -> String {
    let list = format!(
        "[{}]",
        (0..99).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
    );
    format!("{list}.all(a, {list}.all(b, {list}.all(c, c >= 0)))")
}

#[each_backend]
async fn a_slow_integration_filter_does_not_stall_concurrent_writes(backend: TestDb) {
    let mut h = Harness::new(backend, None).await;
    h.runtime = runtime_configured(h.backend.db.clone(), h.ring.clone(), None, |config| {
        config.ingest_evaluation_timeout = Duration::from_secs(2);
    });
    let id = connect_with_token(&h, TOKEN).await;
    let mut input = h.user_input();
    input["filterExpr"] = json!(slow_filter());
    h.runtime
        .update_user_input(&h.tenant_id, &id, &input)
        .await
        .unwrap();
    let run = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    eventually(Duration::from_secs(10), "the run starts", || async {
        let run = h
            .runtime
            .db()
            .runs()
            .get(&h.tenant_id, &run.id)
            .await
            .unwrap();
        run.is_some_and(|run| run.status != RunStatus::Pending)
    })
    .await;

    // Store writes one after another while the run maps its pages: each gets through
    // promptly (before, one waited for the whole filter).
    let window = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut writes = 0;
    while window.elapsed() < Duration::from_secs(3) {
        let started = Instant::now();
        h.runtime
            .create_integration(&h.tenant_id, "acme", Some("probe"), &h.user_input())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        slowest = slowest.max(started.elapsed());
        writes += 1;
    }
    assert!(
        slowest < Duration::from_secs(3),
        "a write waited {slowest:?} while the filter ran ({writes} writes)"
    );

    // The run ends at the evaluation time limit (or, where the engine's own deadline on one
    // evaluation cuts each filter short first, with every payload failed), and nothing got
    // past the filter.
    let run = wait_for_run(&h, &run.id).await;
    if run.status == RunStatus::Failed {
        let message = run.error_message.unwrap_or_default();
        assert!(
            message.contains("took longer than the CEL evaluation time limit of 2000 ms"),
            "{message}"
        );
    } else {
        // Which payloads the engine's deadline cuts short, and whether a page then hits the
        // run's limit, depends on how loaded the machine is; that none is created does not.
        let failed = run.counters["failed"].as_u64().unwrap_or(0);
        assert!(failed >= 1, "{:?}", run.counters);
        assert_eq!(
            run.counters["created"].as_u64().unwrap_or(0),
            0,
            "{:?}",
            run.counters
        );
    }
    assert!(records(&h, &id, "DirectoryAccount").await.is_empty());
    let _ = stop.send(());
    worker.await.unwrap();
}

#[each_backend]
async fn a_429_storm_ends_the_run_partial_and_the_next_run_resumes_from_its_checkpoint(
    backend: TestDb,
) {
    let h = Harness::new(backend, None).await;
    let id = connect_with_token(&h, TOKEN).await;
    // A short burst of 429s is absorbed by the HTTP layer's retries.
    h.api.lock().throttle.extend([0, 0]);
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    let run = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    assert_eq!(wait_for_run(&h, &run.id).await.status, RunStatus::Succeeded);

    // A storm on the second page: the provider asks for a longer wait than we hold a worker.
    h.api.lock().users.push(support::fake_api::user(6));
    h.api.lock().cursors.clear();
    h.api.lock().storm_on_cursor = Some("p2".into());
    let run = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    let run = wait_for_run(&h, &run.id).await;
    assert_eq!(run.status, RunStatus::Partial, "{:?}", run.error_message);
    assert_eq!(run.error_kind.as_deref(), Some("rate_limit"));
    assert_eq!(
        run.checkpoint,
        Some(json!({"phases": {"users": {"cursor": "p2"}}}))
    );
    assert_eq!(h.api.cursors(), ["", "p2"]);

    h.api.lock().storm_on_cursor = None;
    let next = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    let next = wait_for_run(&h, &next.id).await;
    assert_eq!(next.status, RunStatus::Succeeded);
    // It started at the throttled page, not at the beginning...
    assert_eq!(h.api.cursors(), ["", "p2", "p2", "p4"]);
    // ...and, having seen only part of the listing, tombstoned nothing.
    assert_eq!(next.counters["tombstoned"], 0);
    assert_eq!(records(&h, &id, "DirectoryAccount").await.len(), 6);

    // Short waits, but more 429s than the HTTP layer retries: partial too, not failed.
    h.api.lock().throttle.extend([0; 6]);
    let throttled = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    let throttled = wait_for_run(&h, &throttled.id).await;
    assert_eq!(
        throttled.status,
        RunStatus::Partial,
        "{:?}",
        throttled.error_message
    );
    assert_eq!(throttled.error_kind.as_deref(), Some("rate_limit"));
    let _ = stop.send(());
    worker.await.unwrap();
}

#[each_backend]
async fn a_worker_killed_mid_run_is_replaced_and_the_run_resumes_from_its_checkpoint(
    backend: TestDb,
) {
    let h = Harness::new(backend, None).await;
    let id = connect_with_token(&h, TOKEN).await;
    h.api.lock().hang_on_cursor = Some("p2".into());
    let run = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    let (_stop, doomed) = spawn_worker(&h.runtime, Duration::from_millis(800));
    support::eventually(
        Duration::from_secs(10),
        "the first page checkpointed",
        || async {
            let run = h
                .runtime
                .db()
                .runs()
                .get(&h.tenant_id, &run.id)
                .await
                .unwrap()
                .unwrap();
            run.checkpoint == Some(json!({"phases": {"users": {"cursor": "p2"}}}))
                && h.api.cursors().len() == 2
        },
    )
    .await;
    // The process dies mid-request: no result is recorded, the lease runs out.
    doomed.abort();
    let _ = doomed.await;
    h.api.lock().hang_on_cursor = None;

    let survivor = h.second_process(None).await;
    let (stop, worker) = spawn_worker(&survivor, Duration::from_millis(800));
    let run = wait_for_run(&h, &run.id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error_message);
    assert_eq!(run.attempt, 2);
    assert_eq!(h.api.cursors(), ["", "p2", "p2", "p4"]);
    assert_eq!(records(&h, &id, "DirectoryAccount").await.len(), 5);
    // Resumed runs never tombstone.
    assert_eq!(run.counters["tombstoned"], 0);
    // The ingest run of the killed attempt does not stay `running`: the second attempt
    // closed it when it began its own.
    let ingest_runs =
        tributary_store::records::ingest_runs_of(h.runtime.db(), &h.tenant_id, &run.id)
            .await
            .unwrap();
    let statuses: Vec<_> = ingest_runs.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            tributary_store::records::IngestRunStatus::Failed,
            tributary_store::records::IngestRunStatus::Partial
        ],
        "{ingest_runs:?}"
    );
    assert_eq!(
        ingest_runs[0].error.as_deref(),
        Some(tributary_store::records::ABANDONED)
    );
    let logs = survivor
        .run_details(&h.tenant_id, &run.id)
        .await
        .unwrap()
        .logs;
    assert!(
        logs.iter().any(|l| l.message.contains("resuming")),
        "{logs:?}"
    );
    let _ = stop.send(());
    worker.await.unwrap();
}

#[each_backend]
async fn a_cancelled_run_stops_and_stays_cancelled(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let id = connect_with_token(&h, TOKEN).await;
    h.api.lock().hang_on_cursor = Some("p2".into());
    let run = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_millis(800));
    support::eventually(Duration::from_secs(10), "the run to be running", || async {
        h.api.cursors().len() == 2
    })
    .await;
    let cancelled = h.runtime.cancel_run(&h.tenant_id, &run.id).await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    let again = h
        .runtime
        .cancel_run(&h.tenant_id, &run.id)
        .await
        .unwrap_err();
    assert!(matches!(again, RuntimeError::Invalid(_)));
    // The worker drops the job at its next heartbeat; the run keeps its cancelled status.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let run = wait_for_run(&h, &run.id).await;
    assert_eq!(run.status, RunStatus::Cancelled);
    let _ = stop.send(());
    worker.await.unwrap();
    assert!(matches!(
        h.runtime
            .cancel_run("other-tenant", &run.id)
            .await
            .unwrap_err(),
        RuntimeError::NotFound(_)
    ));
}

#[each_backend]
async fn reconcile_runs_on_the_persisted_schedule_and_stops_on_disconnect(backend: TestDb) {
    let h = Harness::new(backend, None).await;
    let id = connect_with_token(&h, TOKEN).await;
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    // The first connection scheduled the sync for right away.
    assert_eq!(h.runtime.reconcile_tick().await.unwrap(), 1);
    assert_eq!(h.runtime.reconcile_tick().await.unwrap(), 0, "claimed once");
    let runs = h.runtime.list_runs(&h.tenant_id, &id, 10).await.unwrap();
    let run = wait_for_run(&h, &runs[0].id).await;
    assert_eq!(run.run_type, RUN_TYPE_RECONCILE);
    assert_eq!(run.status, RunStatus::Succeeded);
    // The run's end sets the next time (just after the run is recorded).
    support::eventually(
        Duration::from_secs(10),
        "the schedule recorded the run",
        || async {
            let schedules = h
                .runtime
                .db()
                .schedules()
                .list(&h.tenant_id, &id)
                .await
                .unwrap();
            schedules[0].last_run_at.is_some()
        },
    )
    .await;
    let schedule = h
        .runtime
        .db()
        .schedules()
        .list(&h.tenant_id, &id)
        .await
        .unwrap()
        .remove(0);
    let now = tributary_store::now_ms();
    // Records changed: the next run comes after the minimum interval (± jitter), not at once.
    assert!(schedule.next_run_at > now + 4 * 60_000, "{schedule:?}");
    assert!(schedule.next_run_at < now + 6 * 60_000, "{schedule:?}");
    assert_eq!(schedule.last_error, None);

    // While a run of the operation is still going, a due schedule does not queue another.
    h.api.lock().hang_on_cursor = Some("p2".into());
    let manual = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    h.runtime
        .db()
        .schedules()
        .upsert(&h.tenant_id, &id, "DirectorySync", 300_000, 0)
        .await
        .unwrap();
    assert_eq!(h.runtime.reconcile_tick().await.unwrap(), 0);
    h.runtime
        .cancel_run(&h.tenant_id, &manual.id)
        .await
        .unwrap();
    h.api.lock().hang_on_cursor = None;

    let report = h.runtime.disconnect(&h.tenant_id, &id).await.unwrap();
    assert_eq!(report.schedules_deleted, 1);
    assert!(
        h.runtime
            .db()
            .schedules()
            .list(&h.tenant_id, &id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(h.runtime.reconcile_tick().await.unwrap(), 0);
    let err = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disconnected"), "{err}");
    let _ = stop.send(());
    worker.await.unwrap();
}

#[each_backend]
async fn a_revoked_api_token_marks_the_integration_needs_reauth_until_it_is_reconnected(
    backend: TestDb,
) {
    let h = Harness::new(backend, None).await;
    let id = connect_with_token(&h, TOKEN).await;
    let schedules = schedules_enabled(&h, &id).await;
    assert!(!schedules.is_empty() && schedules.iter().all(|on| *on));
    // The tenant revokes the token at the provider; nothing about it has expired.
    h.api.refuse_token(TOKEN);
    let run = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    let (stop, worker) = spawn_worker(&h.runtime, Duration::from_secs(30));
    let run = wait_for_run(&h, &run.id).await;
    // The run and the integration tell the same story.
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error_kind.as_deref(), Some("auth"));
    assert_eq!(run.attempt, 1, "an auth refusal is not retried");
    let integration = h.runtime.integration(&h.tenant_id, &id).await.unwrap();
    assert_eq!(
        integration.status,
        tributary_store::integrations::IntegrationStatus::NeedsReauth
    );
    let reason = integration.status_reason.clone().unwrap();
    assert!(reason.contains("401"), "{reason}");
    let message = run.error_message.clone().unwrap();
    assert!(message.ends_with(&reason), "{message} / {reason}");
    assert!(
        schedules_enabled(&h, &id).await.iter().all(|on| !on),
        "schedules pause"
    );
    let refused = h
        .runtime
        .run_inline(request(&h, &id, "HealthCheck"))
        .await
        .unwrap_err();
    assert!(matches!(refused, RuntimeError::NeedsReauth(_)), "{refused}");

    // Connecting again with a new token restores the integration and its schedules.
    connect_token_to(&h, "acme-runs-token-78", Some(id.clone())).await;
    let integration = h.runtime.integration(&h.tenant_id, &id).await.unwrap();
    assert_eq!(
        integration.status,
        tributary_store::integrations::IntegrationStatus::Connected
    );
    assert!(schedules_enabled(&h, &id).await.iter().all(|on| *on));
    let again = h
        .runtime
        .queue_run(request(&h, &id, "DirectorySync"))
        .await
        .unwrap();
    assert_eq!(
        wait_for_run(&h, &again.id).await.status,
        RunStatus::Succeeded
    );
    let _ = stop.send(());
    worker.await.unwrap();
}

/// `POST /v1/mappings/evaluate` and the UI's playground map with the runtime's compiled mapper
/// of the model: compiled once, then shared by every call.
#[tokio::test]
async fn a_models_mapper_is_compiled_once_and_shared() {
    let h = support::Harness::new(tributary_store::testing::sqlite().await, None).await;
    let definition = h.runtime.registry().definition("acme").unwrap();
    let first = h
        .runtime
        .model_mapper(definition, "DirectoryAccount")
        .unwrap();
    let again = h
        .runtime
        .model_mapper(definition, "DirectoryAccount")
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    let record = tributary_ingest::map_one(
        &again,
        "acme",
        "DirectoryAccount",
        "",
        &support::fake_api::user(7),
    )
    .unwrap();
    assert_eq!(record.fields["canonicalEmail"], "user7@acme.example");
}
