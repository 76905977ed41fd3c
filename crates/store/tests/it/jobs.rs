//! The durable job queue on SQLite and PostgreSQL: transactional enqueue, idempotency keys,
//! scheduling, cancellation, retries into the dead state, two competing workers, and a worker
//! process killed with SIGKILL in the middle of a job.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tributary_store::jobs::{
    Backoff, Enqueued, Job, JobError, JobState, NewJob, Worker, WorkerConfig, WorkerStats,
};
use tributary_store::testing::{TestDb, each_backend};
use tributary_store::{Db, now_ms};

fn fast_config(queue: &str) -> WorkerConfig {
    WorkerConfig {
        lease: Duration::from_secs(2),
        heartbeat: Duration::from_millis(200),
        poll_interval: Duration::from_millis(200),
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        ..WorkerConfig::new(queue)
    }
}

/// Runs a worker of `queue` (with [`fast_config`]) on its own task until the returned sender
/// is used or dropped.
fn spawn_worker<H, F>(
    db: &Db,
    queue: &str,
    handler: H,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<tributary_store::Result<WorkerStats>>,
)
where
    H: Fn(Job) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), JobError>> + Send + 'static,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(db.clone(), fast_config(queue));
    let running = tokio::spawn(worker.run(handler, async {
        stopped.await.ok();
    }));
    (stop, running)
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn state(db: &Db, id: &str) -> JobState {
    db.jobs().get(id).await.unwrap().unwrap().state
}

/// Enqueues `job` on its own (outside any transaction).
async fn enqueue(db: &Db, job: &NewJob<'_>) -> Enqueued {
    db.jobs().enqueue(job).await.unwrap()
}

/// Enqueues a job of kind `k` on queue `q` that is not due for a minute.
async fn enqueue_due_in_a_minute(db: &Db, payload: &serde_json::Value) -> Enqueued {
    enqueue(
        db,
        &NewJob::new("q", "k", payload).run_at(now_ms() + 60_000),
    )
    .await
}

#[each_backend]
async fn enqueue_is_transactional_and_idempotent(t: TestDb) {
    let db = &t.db;
    let payload = json!({"integration": "i1"});
    let keyed = NewJob::new("q", "sync", &payload).idempotency_key("run-1");
    let mut tx = db.begin().await.unwrap();
    let first = tx.jobs().enqueue(&keyed).await.unwrap();
    drop(tx);
    assert!(
        db.jobs().get(first.id()).await.unwrap().is_none(),
        "{}: rolled back with the caller",
        t.name
    );

    let mut tx = db.begin().await.unwrap();
    let first = tx.jobs().enqueue(&keyed).await.unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(first, Enqueued::New(_)));
    let again = enqueue(db, &keyed).await;
    assert_eq!(
        again,
        Enqueued::Existing(first.id().to_owned()),
        "{}",
        t.name
    );
    let other_queue = enqueue(
        db,
        &NewJob::new("q2", "sync", &payload).idempotency_key("run-1"),
    )
    .await;
    assert!(
        matches!(other_queue, Enqueued::New(_)),
        "keys are unique per queue"
    );
    let unkeyed = db
        .jobs()
        .enqueue_many(&[
            NewJob::new("q", "a", &payload),
            NewJob::new("q", "b", &payload),
        ])
        .await
        .unwrap();
    assert!(unkeyed.iter().all(|e| matches!(e, Enqueued::New(_))));
    assert_eq!(db.jobs().counts("q").await.unwrap()[&JobState::Queued], 3);
    let job = db.jobs().get(first.id()).await.unwrap().unwrap();
    assert_eq!(
        (job.kind.as_str(), job.payload.clone(), job.attempts),
        ("sync", payload.clone(), 0)
    );
}

#[each_backend]
async fn claim_respects_run_at_and_leases(t: TestDb) {
    let db = &t.db;
    let payload = json!({});
    let later = enqueue_due_in_a_minute(db, &payload).await;
    let now = enqueue(db, &NewJob::new("q", "k", &payload)).await;
    let claimed = db
        .jobs()
        .claim("q", "w1", 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        [now.id()],
        "{}",
        t.name
    );
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        db.jobs()
            .claim("q", "w2", 10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty()
    );
    let lease = claimed[0].lease_id.clone().unwrap();
    assert_eq!(
        db.jobs()
            .complete("not-the-lease", &[now.id()])
            .await
            .unwrap(),
        0
    );
    assert_eq!(db.jobs().complete(&lease, &[now.id()]).await.unwrap(), 1);
    assert_eq!(state(db, now.id()).await, JobState::Succeeded);
    assert_eq!(state(db, later.id()).await, JobState::Queued);
    assert_eq!(db.jobs().purge_finished(now_ms() + 1).await.unwrap(), 1);
    assert!(db.jobs().get(now.id()).await.unwrap().is_none());
}

#[each_backend]
async fn retries_with_backoff_then_dead_with_last_error(t: TestDb) {
    let db = &t.db;
    let payload = json!({});
    let flaky = enqueue(db, &NewJob::new("q", "flaky", &payload).max_attempts(5)).await;
    let doomed = enqueue(db, &NewJob::new("q", "doomed", &payload).max_attempts(3)).await;
    let fatal = enqueue(db, &NewJob::new("q", "fatal", &payload).max_attempts(5)).await;
    let attempts: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let seen = attempts.clone();
    let (stop, running) = spawn_worker(db, "q", move |job| {
        let seen = seen.clone();
        async move {
            let n = {
                let mut seen = seen.lock().unwrap();
                let list = seen.entry(job.kind.clone()).or_default();
                list.push(Instant::now());
                list.len()
            };
            match job.kind.as_str() {
                "flaky" if n < 3 => Err(JobError::retry(format!("flaky failure {n}"))),
                "flaky" => Ok(()),
                "doomed" => Err(JobError::retry(format!("doomed failure {n}"))),
                _ => Err(JobError::permanent("bad configuration")),
            }
        }
    });
    wait_for("jobs to settle", Duration::from_secs(20), async || {
        state(db, flaky.id()).await == JobState::Succeeded
            && state(db, doomed.id()).await == JobState::Dead
            && state(db, fatal.id()).await == JobState::Dead
    })
    .await;
    stop.send(()).unwrap();
    let stats = running.await.unwrap().unwrap();
    assert_eq!(stats.succeeded, 1);
    assert_eq!(stats.failed, 2 + 3 + 1);

    let doomed_job = db.jobs().get(doomed.id()).await.unwrap().unwrap();
    assert_eq!(doomed_job.attempts, 3, "{}", t.name);
    assert_eq!(doomed_job.last_error.as_deref(), Some("doomed failure 3"));
    let fatal_job = db.jobs().get(fatal.id()).await.unwrap().unwrap();
    assert_eq!(fatal_job.attempts, 1, "a permanent error is not retried");
    let seen = attempts.lock().unwrap();
    let flaky_times = &seen["flaky"];
    assert_eq!(flaky_times.len(), 3);
    for pair in flaky_times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(10),
            "retries wait for the backoff"
        );
    }
}

#[each_backend]
async fn cancellation_of_queued_and_running_jobs(t: TestDb) {
    let db = &t.db;
    let payload = json!({});
    let queued = enqueue_due_in_a_minute(db, &payload).await;
    assert!(db.jobs().cancel(queued.id()).await.unwrap());
    assert!(
        !db.jobs().cancel(queued.id()).await.unwrap(),
        "already final"
    );
    assert_eq!(state(db, queued.id()).await, JobState::Cancelled);

    let long = enqueue(db, &NewJob::new("q", "long", &payload)).await;
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let finished = Arc::new(Mutex::new(false));
    let finished_flag = finished.clone();
    let (stop, running) = spawn_worker(db, "q", move |_job| {
        let started_tx = started_tx.clone();
        let finished_flag = finished_flag.clone();
        async move {
            started_tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            *finished_flag.lock().unwrap() = true;
            Ok(())
        }
    });
    started.recv().await.unwrap();
    assert!(db.jobs().cancel(long.id()).await.unwrap());
    stop.send(()).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the cancelled job was stopped")
        .unwrap()
        .unwrap();
    assert_eq!(stats.cancelled, 1, "{}", t.name);
    assert!(!*finished.lock().unwrap());
    assert_eq!(state(db, long.id()).await, JobState::Cancelled);
}

#[each_backend(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_each_of_1000_jobs_exactly_once(t: TestDb) {
    let payload = json!({});
    let jobs: Vec<_> = (0..1000)
        .map(|_| NewJob::new("bulk", "count", &payload))
        .collect();
    let ids: Vec<String> =
        t.db.jobs()
            .enqueue_many(&jobs)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id().to_owned())
            .collect();

    let counts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let overlaps = Arc::new(Mutex::new(0u32));
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut workers = Vec::new();
    for _ in 0..2 {
        let db = t.reopen().await; // a separate handle, as another process would have
        let (counts, in_flight, overlaps) = (counts.clone(), in_flight.clone(), overlaps.clone());
        let mut stopped = stop.subscribe();
        // A lease long enough that a slow machine cannot let it lapse: this test is about
        // claims never overlapping; lapsed leases are the next test's subject.
        let config = WorkerConfig {
            concurrency: 4,
            batch_size: 8,
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(5),
            ..fast_config("bulk")
        };
        workers.push(tokio::spawn(Worker::new(db, config).run(
            move |job| {
                let (counts, in_flight, overlaps) =
                    (counts.clone(), in_flight.clone(), overlaps.clone());
                async move {
                    if !in_flight.lock().unwrap().insert(job.id.clone()) {
                        *overlaps.lock().unwrap() += 1;
                    }
                    tokio::task::yield_now().await;
                    *counts.lock().unwrap().entry(job.id.clone()).or_default() += 1;
                    in_flight.lock().unwrap().remove(&job.id);
                    Ok(())
                }
            },
            async move {
                stopped.recv().await.ok();
            },
        )));
    }
    wait_for("1000 jobs", Duration::from_secs(60), async || {
        t.db.jobs()
            .counts("bulk")
            .await
            .unwrap()
            .get(&JobState::Succeeded)
            == Some(&1000)
    })
    .await;
    stop.send(()).unwrap();
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap().unwrap().succeeded;
    }
    assert_eq!(total, 1000, "{}", t.name);
    assert_eq!(
        *overlaps.lock().unwrap(),
        0,
        "no job ran twice at the same time"
    );
    let counts = counts.lock().unwrap().clone();
    assert_eq!(counts.len(), 1000);
    for id in &ids {
        let job = t.db.jobs().get(id).await.unwrap();
        assert_eq!(
            counts.get(id),
            Some(&1),
            "{}: job ran {:?} times: {job:?}",
            t.name,
            counts.get(id)
        );
    }
}

const CHILD_URL: &str = "TRIBUTARY_TEST_CHILD_WORKER_URL";
const CHILD_SCHEMA: &str = "TRIBUTARY_TEST_CHILD_WORKER_SCHEMA";

/// Not a test of its own: `a_worker_killed_mid_job_is_replaced_after_its_lease` runs this test
/// binary again with this test selected and the database in the environment, making it a worker
/// process that records that it started the job and then hangs until it is killed.
#[tokio::test]
#[ignore = "runs only as the child process of a_worker_killed_mid_job_is_replaced_after_its_lease"]
async fn child_worker_process() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        eprintln!("child_worker_process only works when started by the parent test");
        return;
    };
    let mut options = tributary_store::OpenOptions::new(url);
    if let Ok(schema) = std::env::var(CHILD_SCHEMA) {
        options = options.postgres_schema(schema);
    }
    let db = Db::open_with(options).await.unwrap();
    let config = WorkerConfig {
        lease: Duration::from_secs(1),
        heartbeat: Duration::from_millis(300),
        ..fast_config("crash")
    };
    let marker_db = db.clone();
    Worker::new(db, config)
        .run(
            move |job| {
                let db = marker_db.clone();
                async move {
                    support::execute(
                        &db,
                        &format!("INSERT INTO test_started (job_id) VALUES ('{}')", job.id),
                    )
                    .await;
                    std::future::pending::<()>().await;
                    Ok(())
                }
            },
            std::future::pending(),
        )
        .await
        .unwrap();
}

#[each_backend]
async fn a_worker_killed_mid_job_is_replaced_after_its_lease(t: TestDb) {
    support::execute(&t.db, "CREATE TABLE test_started (job_id TEXT NOT NULL)").await;
    support::execute(&t.db, "CREATE TABLE test_effects (job_id TEXT PRIMARY KEY)").await;
    let job =
        t.db.jobs()
            .enqueue(&NewJob::new("crash", "effect", &json!({})).max_attempts(3))
            .await
            .unwrap();

    // libtest names a test by its path below the crate root (`jobs::child_worker_process`).
    let child_test = format!(
        "{}::child_worker_process",
        module_path!().trim_start_matches("it::")
    );
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args(["--ignored", "--exact", &child_test, "--nocapture"])
        .env(CHILD_URL, &t.url);
    if let Some(schema) = &t.schema {
        child.env(CHILD_SCHEMA, schema);
    }
    let mut child = child.spawn().unwrap();
    wait_for(
        "the child to start the job",
        Duration::from_secs(60),
        async || support::scalar(&t.db, "SELECT count(*) FROM test_started").await == 1,
    )
    .await;
    child.kill().unwrap(); // SIGKILL: no cleanup, the lease is left behind
    child.wait().unwrap();
    let killed_at = Instant::now();
    assert_eq!(state(&t.db, job.id()).await, JobState::Running);

    let effect_db = t.db.clone();
    let (stop, running) = spawn_worker(&t.db, "crash", move |job| {
        let db = effect_db.clone();
        async move {
            // The effect is keyed by the job id, as real handlers key theirs.
            support::execute(&db, &format!("INSERT INTO test_effects (job_id) VALUES ('{}') ON CONFLICT (job_id) DO NOTHING", job.id)).await;
            Ok(())
        }
    });
    wait_for("the job to complete", Duration::from_secs(30), async || {
        state(&t.db, job.id()).await == JobState::Succeeded
    })
    .await;
    assert!(
        killed_at.elapsed() >= Duration::from_millis(500),
        "{}: reclaimed only after the lease ran out",
        t.name
    );
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    let done = t.db.jobs().get(job.id()).await.unwrap().unwrap();
    assert_eq!(done.attempts, 2, "{}", t.name);
    assert_eq!(
        support::scalar(&t.db, "SELECT count(*) FROM test_effects").await,
        1
    );
    assert_eq!(
        support::scalar(&t.db, "SELECT count(*) FROM test_started").await,
        1
    );
}

/// PostgreSQL wakes workers in other processes with `NOTIFY`. A transaction that enqueues jobs
/// notifies only once it has committed: a notifying transaction would hold a database-wide lock
/// through its commit and serialise every such commit (and its WAL flush).
#[tokio::test]
async fn a_transaction_wakes_other_processes_only_once_committed() {
    let Some(t) = tributary_store::testing::postgres("wake_once_committed").await else {
        return;
    };
    let queue = format!("wake_{}", tributary_store::new_id().replace('-', ""));
    let mut listener = sqlx::postgres::PgListener::connect(&t.url).await.unwrap();
    listener
        .listen(tributary_store::jobs::NOTIFY_CHANNEL)
        .await
        .unwrap();
    // Other tests share the channel: only this test's queue counts.
    async fn next_for(
        listener: &mut sqlx::postgres::PgListener,
        queue: &str,
        within: Duration,
    ) -> bool {
        tokio::time::timeout(within, async {
            loop {
                let notification = listener.recv().await.unwrap();
                if notification.payload() == queue {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }
    let payload = json!({});
    let mut tx = t.db.begin().await.unwrap();
    tx.jobs()
        .enqueue(&NewJob::new(&queue, "sync", &payload))
        .await
        .unwrap();
    assert!(
        !next_for(&mut listener, &queue, Duration::from_millis(300)).await,
        "no wake-up before the commit"
    );
    tx.commit().await.unwrap();
    assert!(
        next_for(&mut listener, &queue, Duration::from_secs(5)).await,
        "the commit wakes the listeners"
    );
    // Outside a transaction the enqueue wakes them at once.
    t.db.jobs()
        .enqueue(&NewJob::new(&queue, "sync", &payload))
        .await
        .unwrap();
    assert!(next_for(&mut listener, &queue, Duration::from_secs(5)).await);
}

#[each_backend]
async fn backlog_counts_waiting_and_running_jobs_per_kind(t: TestDb) {
    let db = &t.db;
    let payload = json!({});
    let now = now_ms();
    for (kind, run_at) in [
        ("sync", now - 5_000),
        ("sync", now - 1_000),
        ("sync", now + 60_000),
        ("delivery", now + 60_000),
        ("other", now - 100),
    ] {
        db.jobs()
            .enqueue(&NewJob::new("backlog", kind, &payload).run_at(run_at))
            .await
            .unwrap();
    }
    // Another queue's jobs are not counted.
    db.jobs()
        .enqueue(&NewJob::new("elsewhere", "sync", &payload))
        .await
        .unwrap();
    // The claim takes the due jobs in run_at order: the oldest sync job runs.
    let claimed = db
        .jobs()
        .claim("backlog", "w1", 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claimed[0].kind, "sync", "{}", t.name);
    let backlog = db.jobs().backlog("backlog", now).await.unwrap();
    let by_kind: HashMap<&str, _> = backlog.iter().map(|b| (b.kind.as_str(), b)).collect();
    assert_eq!(by_kind.len(), 3, "{}: {backlog:?}", t.name);
    let sync = by_kind["sync"];
    assert_eq!((sync.queued, sync.running), (2, 1), "{}", t.name);
    assert_eq!(sync.oldest_ready_at, Some(now - 1_000), "{}", t.name);
    let delivery = by_kind["delivery"];
    assert_eq!((delivery.queued, delivery.running), (1, 0), "{}", t.name);
    assert_eq!(delivery.oldest_ready_at, None, "{}: not due yet", t.name);
    assert_eq!(by_kind["other"].oldest_ready_at, Some(now - 100));
    assert!(db.jobs().backlog("empty", now).await.unwrap().is_empty());
}
