//! Retention on SQLite and PostgreSQL: each class of rows goes once it is older than its policy,
//! what is still in progress (or is the newest finished run of an operation) stays, a dry-run
//! count matches what a sweep deletes, small batches and concurrent sweepers delete each row once,
//! and a class kept forever is left alone.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use tributary_store::jobs::NewJob;
use tributary_store::keystore::KeyRing;
use tributary_store::records::{self, Counters, RecordScope};
use tributary_store::retention::{PurgeReport, RetentionPolicy};
use tributary_store::runs::{RunOutcome, RunStatus};
use tributary_store::sessions::NewAuthSession;
use tributary_store::testing::{TestDb, each_backend};
use tributary_store::{Db, SecretBytes, now_ms};

const DAY: i64 = 24 * 60 * 60 * 1000;

/// Past the default 30 days.
fn old() -> i64 {
    now_ms() - 31 * DAY
}

/// Within the default 30 days.
fn recent() -> i64 {
    now_ms() - 29 * DAY
}

/// The ids (or other key) of `table`'s rows, in order.
async fn keys(db: &Db, table: &str, key: &str) -> BTreeSet<String> {
    let mut conn = db.read().await.unwrap();
    let sql = format!("SELECT {key} FROM {table}");
    let rows: Vec<String> = match conn.exec() {
        tributary_store::Exec::Sqlite(c) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *c)
            .await
            .unwrap(),
        tributary_store::Exec::Postgres(c) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *c)
            .await
            .unwrap(),
    };
    rows.into_iter().collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

/// A dry run, then the sweep: both report the same rows, and a second dry run finds nothing.
async fn count_then_sweep(db: &Db, policy: &RetentionPolicy, name: &str) -> PurgeReport {
    let now = now_ms();
    let counted = db.retention().count(policy, now).await.unwrap();
    let swept = support::sweep(db, policy, now).await;
    assert_eq!(
        counted, swept,
        "{name}: the dry run counts what the sweep deletes"
    );
    assert_eq!(
        db.retention().count(policy, now).await.unwrap().total(),
        0,
        "{name}: nothing is left to delete"
    );
    swept
}

/// Finishes `run` with `status`, for runs that never started.
async fn finish_run(db: &Db, tenant: &str, run: &str, status: RunStatus) {
    db.runs()
        .finish(
            tenant,
            run,
            &RunOutcome {
                status,
                counters: &json!({}),
                error_kind: None,
                error_message: None,
                result: None,
            },
        )
        .await
        .unwrap();
}

/// A run of `operation` created at `created_at`, finished `finished` (unix ms) with `status` and
/// `logs` log lines; `None` leaves it pending.
async fn run_at(
    db: &Db,
    tenant: &str,
    integration: &str,
    operation: &str,
    created_at: i64,
    finished: Option<(RunStatus, i64)>,
    logs: usize,
) -> String {
    let run = db
        .runs()
        .create(tenant, integration, operation, "manual", &json!({}), None)
        .await
        .unwrap();
    for n in 0..logs {
        db.runs()
            .log(tenant, &run.id, "info", &format!("line {n}"), &json!({}))
            .await
            .unwrap();
    }
    if let Some((status, finished_at)) = finished {
        finish_run(db, tenant, &run.id, status).await;
        support::execute(
            db,
            &format!(
                "UPDATE runs SET finished_at = {finished_at} WHERE id = '{}'",
                run.id
            ),
        )
        .await;
    }
    support::execute(
        db,
        &format!(
            "UPDATE runs SET created_at = {created_at} WHERE id = '{}'",
            run.id
        ),
    )
    .await;
    run.id
}

#[each_backend]
async fn retention_deletes_old_succeeded_cancelled_and_dead_jobs_only(t: TestDb) {
    let db = &t.db;
    let payload = json!({});
    let mut ids = Vec::new();
    for _ in 0..6 {
        let job = db
            .jobs()
            .enqueue(&NewJob::new("operations", "test", &payload))
            .await
            .unwrap();
        ids.push(job.id().to_owned());
    }
    let [succeeded, cancelled, dead, queued, running, fresh] =
        <[String; 6]>::try_from(ids).unwrap();
    let (old, recent) = (old(), recent());
    for (id, state, finished_at) in [
        (&succeeded, "succeeded", Some(old)),
        (&cancelled, "cancelled", Some(old)),
        (&dead, "dead", Some(old)),
        (&running, "running", None),
        (&fresh, "succeeded", Some(recent)),
    ] {
        let finished_at = finished_at.map_or("NULL".to_owned(), |at| at.to_string());
        support::execute(
            db,
            &format!(
                "UPDATE jobs SET state = '{state}', finished_at = {finished_at} \
                     WHERE id = '{id}'"
            ),
        )
        .await;
    }
    // Waiting or running for ages is not finished.
    support::execute(
        db,
        &format!("UPDATE jobs SET created_at = {old}, run_at = {old}, updated_at = {old}"),
    )
    .await;

    let report = count_then_sweep(db, &RetentionPolicy::default(), t.name).await;
    assert_eq!(report.rows("jobs"), 3, "{}", t.name);
    assert_eq!(report.total(), 3, "{}", t.name);
    assert_eq!(
        keys(db, "jobs", "id").await,
        set(&[&queued, &running, &fresh]),
        "{}",
        t.name
    );
}

#[each_backend]
async fn retention_deletes_old_finished_runs_with_their_logs_but_keeps_each_operations_newest(
    t: TestDb,
) {
    let db = &t.db;
    let (tenant, first) = support::tenant_with_integration(db, "acme").await;
    let second = db
        .integrations()
        .create(&tenant, "okta", "Second", &json!({}))
        .await
        .unwrap()
        .id;
    let old = old();
    let succeeded = Some((RunStatus::Succeeded, old));
    // Sync of the first integration: two old runs, then the newest finished one (a partial
    // run whose checkpoint the next run resumes from), and one still running since long ago.
    let oldest = run_at(db, &tenant, &first, "Sync", old - 3 * DAY, succeeded, 3).await;
    let failed = Some((RunStatus::Failed, old));
    let older = run_at(db, &tenant, &first, "Sync", old - 2 * DAY, failed, 2).await;
    let partial = Some((RunStatus::Partial, old));
    let newest = run_at(db, &tenant, &first, "Sync", old - DAY, partial, 2).await;
    db.runs()
        .checkpoint(&tenant, &newest, &json!({"cursor": "p9"}), &json!({}))
        .await
        .unwrap();
    let running = run_at(db, &tenant, &first, "Sync", old, None, 1).await;
    db.runs().start(&tenant, &running).await.unwrap();
    let pending = run_at(db, &tenant, &first, "Sync", old, None, 0).await;
    // The only run of another operation is its newest, however old.
    let only = run_at(db, &tenant, &first, "Health", old - DAY, succeeded, 1).await;
    // The second integration's Sync: an old run superseded by a recent one.
    let superseded = run_at(db, &tenant, &second, "Sync", old - DAY, succeeded, 1).await;
    let fresh = Some((RunStatus::Succeeded, recent()));
    let recent_run = run_at(db, &tenant, &second, "Sync", recent(), fresh, 1).await;

    let report = count_then_sweep(db, &RetentionPolicy::default(), t.name).await;
    assert_eq!(report.rows("runs"), 3, "{}", t.name);
    assert_eq!(report.rows("run_logs"), 3 + 2 + 1, "{}", t.name);
    assert_eq!(
        keys(db, "runs", "id").await,
        set(&[&newest, &running, &pending, &only, &recent_run]),
        "{}",
        t.name
    );
    for gone in [&oldest, &older, &superseded] {
        assert!(db.runs().logs(&tenant, gone).await.unwrap().is_empty());
    }
    assert_eq!(db.runs().logs(&tenant, &newest).await.unwrap().len(), 2);
    let latest = db
        .runs()
        .latest_finished(&tenant, &first, "Sync")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, newest, "{}", t.name);
    assert_eq!(latest.checkpoint, Some(json!({"cursor": "p9"})));
}

#[each_backend]
async fn retention_deletes_old_done_and_failed_webhook_deliveries_only(t: TestDb) {
    let db = &t.db;
    let ring = KeyRing::generate();
    let (tenant, integration) = support::tenant_with_integration(db, "acme").await;
    let (endpoint, _) = db
        .webhooks(&ring)
        .create_endpoint(&tenant, &integration, "events", &[])
        .await
        .unwrap();
    let mut ids = Vec::new();
    for delivery in ["done", "failed", "received", "recent"] {
        let (stored, _) = db
            .webhooks(&ring)
            .record_delivery(&tenant, &endpoint.id, delivery, "user.created", &json!({}))
            .await
            .unwrap();
        ids.push(stored.id);
    }
    let [done, failed, received, fresh] = <[String; 4]>::try_from(ids).unwrap();
    let mut hooks = db.webhooks(&ring);
    hooks.finish_delivery(&tenant, &done, None).await.unwrap();
    hooks
        .finish_delivery(&tenant, &failed, Some("handler failed"))
        .await
        .unwrap();
    hooks.finish_delivery(&tenant, &fresh, None).await.unwrap();
    support::execute(
        db,
        &format!("UPDATE webhook_deliveries SET received_at = {}", old()),
    )
    .await;
    support::execute(
        db,
        &format!(
            "UPDATE webhook_deliveries SET received_at = {} WHERE id = '{fresh}'",
            recent()
        ),
    )
    .await;

    let report = count_then_sweep(db, &RetentionPolicy::default(), t.name).await;
    assert_eq!(report.rows("webhook_deliveries"), 2, "{}", t.name);
    assert_eq!(
        keys(db, "webhook_deliveries", "id").await,
        set(&[&received, &fresh]),
        "{}",
        t.name
    );
}

#[each_backend]
async fn retention_deletes_old_finished_ingest_runs_and_old_ingest_failures(t: TestDb) {
    let db = &t.db;
    let (tenant, integration) = support::tenant_with_integration(db, "acme").await;
    let scope = RecordScope {
        tenant_id: tenant.clone(),
        integration_id: integration.clone(),
    };
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(
            records::begin_ingest_run(db, &scope, None, &[])
                .await
                .unwrap()
                .id,
        );
    }
    let [finished, running, fresh] = <[String; 3]>::try_from(runs).unwrap();
    for run in [&finished, &fresh] {
        records::finish_ingest_run(
            db,
            run,
            records::IngestRunStatus::Completed,
            &Counters::default(),
            None,
        )
        .await
        .unwrap();
    }
    let (old, recent) = (old(), recent());
    support::execute(
        db,
        &format!(
            "UPDATE ingest_runs SET started_at = {old}, finished_at = {old} WHERE id <> '{fresh}'"
        ),
    )
    .await;
    support::execute(
        db,
        &format!("UPDATE ingest_runs SET finished_at = NULL WHERE id = '{running}'"),
    )
    .await;
    support::execute(
        db,
        &format!("UPDATE ingest_runs SET finished_at = {recent} WHERE id = '{fresh}'"),
    )
    .await;
    for (id, created_at) in [("failure-old", old), ("failure-recent", recent)] {
        support::execute(
            db,
            &format!(
                "INSERT INTO ingest_failures (id, tenant_id, integration_id, ingest_run_id, \
                     run_id, schema_name, variant, mapping, payload_index, code, failed_key, \
                     reason, raw_payload, created_at) VALUES ('{id}', '{tenant}', \
                     '{integration}', '{finished}', NULL, 'DirectoryAccount', '', 'users', 0, \
                     'mapping', NULL, 'did not map', '{{}}', {created_at})"
            ),
        )
        .await;
    }

    let report = count_then_sweep(db, &RetentionPolicy::default(), t.name).await;
    assert_eq!(report.rows("ingest_runs"), 1, "{}", t.name);
    assert_eq!(report.rows("ingest_failures"), 1, "{}", t.name);
    assert_eq!(
        keys(db, "ingest_runs", "id").await,
        set(&[&running, &fresh]),
        "{}",
        t.name
    );
    assert_eq!(
        keys(db, "ingest_failures", "id").await,
        set(&["failure-recent"]),
        "{}",
        t.name
    );
}

#[each_backend]
async fn retention_deletes_auth_and_ui_sessions_a_day_after_they_ended(t: TestDb) {
    let db = &t.db;
    let (tenant, integration) = support::tenant_with_integration(db, "acme").await;
    let ring = KeyRing::generate();
    let verifier = SecretBytes::from("pkce-verifier-0123456789");
    let state = json!({});
    let new = NewAuthSession {
        nonce: "n",
        ..support::okta_auth_session(&tenant, &integration, &verifier, &state)
    };
    let (api_token, _) = db
        .tenants()
        .issue_token(Some(&tenant), "ui", None)
        .await
        .unwrap();
    let now = now_ms();
    // Ended two days ago, ended an hour ago, still open.
    let ends = [now - 2 * DAY, now - 60 * 60 * 1000, now + DAY];
    for end in ends {
        db.auth_sessions(&ring).create(&new).await.unwrap();
        db.ui_sessions()
            .create(&tenant, &api_token.id, Duration::from_secs(60))
            .await
            .unwrap();
        for table in ["auth_sessions", "ui_sessions"] {
            support::execute(
                db,
                &format!("UPDATE {table} SET expires_at = {end} WHERE expires_at > {now}"),
            )
            .await;
        }
    }

    let report = count_then_sweep(db, &RetentionPolicy::default(), t.name).await;
    assert_eq!(report.rows("auth_sessions"), 1, "{}", t.name);
    assert_eq!(report.rows("ui_sessions"), 1, "{}", t.name);
    for table in ["auth_sessions", "ui_sessions"] {
        let left = support::scalar(
            db,
            &format!(
                "SELECT count(*) FROM {table} WHERE expires_at >= {}",
                now - DAY
            ),
        )
        .await;
        let all = support::scalar(db, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!((left, all), (2, 2), "{} {table}", t.name);
    }
}

#[each_backend]
async fn rows_of_key_ring_holders_gone_for_an_hour_are_swept_and_live_ones_stay(t: TestDb) {
    use tributary_store::keystore::holders::{KeyRingHolder, live_holders};

    let db = &t.db;
    let ring = KeyRing::generate();
    let gone = KeyRingHolder::new(db.clone(), ring.clone(), "worker");
    gone.report().await.unwrap();
    let hour_and_more = now_ms() - 61 * 60 * 1000;
    support::execute(
        db,
        &format!("UPDATE key_ring_holders SET seen_at = {hour_and_more}"),
    )
    .await;
    let running = KeyRingHolder::new(db.clone(), ring, "api");
    running.report().await.unwrap();
    let report = count_then_sweep(db, &RetentionPolicy::default(), t.name).await;
    assert_eq!(report.rows("key_ring_holders"), 1, "{}", t.name);
    let live = live_holders(db).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].holder_id, running.id());
}

/// Seeds `jobs` old succeeded jobs and one run superseded by a newer one with `logs` lines, for
/// the batch and concurrency tests.
async fn seed_backlog(db: &Db, jobs: usize, logs: usize) {
    let payload = json!({});
    let new: Vec<NewJob<'_>> = (0..jobs)
        .map(|_| NewJob::new("operations", "test", &payload))
        .collect();
    db.jobs().enqueue_many(&new).await.unwrap();
    support::execute(
        db,
        &format!(
            "UPDATE jobs SET state = 'succeeded', finished_at = {}",
            old()
        ),
    )
    .await;
    let (tenant, integration) = support::tenant_with_integration(db, "acme").await;
    let finished = Some((RunStatus::Succeeded, old()));
    run_at(
        db,
        &tenant,
        &integration,
        "Sync",
        old() - DAY,
        finished,
        logs,
    )
    .await;
    run_at(db, &tenant, &integration, "Sync", old(), finished, 0).await;
}

/// What a report says of the tables [`seed_backlog`] fills: (jobs, runs, run logs).
fn backlog_rows(report: &PurgeReport) -> (u64, u64, u64) {
    (
        report.rows("jobs"),
        report.rows("runs"),
        report.rows("run_logs"),
    )
}

#[each_backend]
async fn retention_sweeps_in_small_batches_until_nothing_is_left(t: TestDb) {
    let db = &t.db;
    seed_backlog(db, 7, 5).await;
    let report = db
        .retention()
        .sweep(&RetentionPolicy::default(), now_ms(), 2)
        .await
        .unwrap();
    assert_eq!(backlog_rows(&report), (7, 1, 5), "{}", t.name);
    assert_eq!(support::scalar(db, "SELECT count(*) FROM jobs").await, 0);
    assert_eq!(
        support::scalar(db, "SELECT count(*) FROM run_logs").await,
        0
    );
    assert_eq!(support::scalar(db, "SELECT count(*) FROM runs").await, 1);
}

#[each_backend]
async fn concurrent_retention_sweeps_delete_each_row_once(t: TestDb) {
    let db = &t.db;
    seed_backlog(db, 300, 120).await;
    let other = t.reopen().await;
    let policy = RetentionPolicy::default();
    let now = now_ms();
    let (first, second) = (db.retention(), other.retention());
    let (a, b, c) = tokio::join!(
        first.sweep(&policy, now, 7),
        second.sweep(&policy, now, 7),
        second.sweep(&policy, now, 11),
    );
    let reports = [a.unwrap(), b.unwrap(), c.unwrap()];
    let sum = |table| reports.iter().map(|r| r.rows(table)).sum::<u64>();
    assert_eq!(
        (sum("jobs"), sum("runs"), sum("run_logs")),
        (300, 1, 120),
        "{}",
        t.name
    );
    assert_eq!(db.retention().count(&policy, now).await.unwrap().total(), 0);
}

#[each_backend]
async fn a_class_kept_forever_is_never_swept(t: TestDb) {
    let db = &t.db;
    seed_backlog(db, 3, 2).await;
    let report = count_then_sweep(db, &RetentionPolicy::KEEP_EVERYTHING, t.name).await;
    assert_eq!(report.total(), 0, "{}", t.name);
    assert_eq!(support::scalar(db, "SELECT count(*) FROM jobs").await, 3);

    let runs_forever = RetentionPolicy {
        runs: RetentionPolicy::KEEP_FOREVER,
        ..RetentionPolicy::default()
    };
    let report = count_then_sweep(db, &runs_forever, t.name).await;
    assert_eq!(backlog_rows(&report), (3, 0, 0), "{}", t.name);
    assert_eq!(support::scalar(db, "SELECT count(*) FROM runs").await, 2);
    assert_eq!(
        support::scalar(db, "SELECT count(*) FROM run_logs").await,
        2
    );

    // Every table is reported, and the report serialises as a plain object.
    let value = serde_json::to_value(&report).unwrap();
    for table in PurgeReport::TABLES {
        assert!(value[table].is_u64(), "{table} in {value}");
    }
}
