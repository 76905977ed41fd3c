//! `queue`: the durable job queue's throughput and latency on SQLite and PostgreSQL.
//!
//! For each backend and worker count, a fresh database gets `--jobs` no-op jobs. A producer keeps
//! at most `--in-flight` jobs outstanding (closed loop, like callers that wait for their jobs),
//! enqueueing as soon as jobs finish, in one transaction per enqueue call with as many jobs as
//! there are free slots. Workers share the process's database handle (one `Worker` each, default
//! concurrency and batch size).
//!
//! * `jobs_per_s`: jobs divided by the time from the first enqueue until the database shows every
//!   job succeeded (acknowledgements included).
//! * latency: from just before the enqueue transaction to the end of the job's handler.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_store::jobs::{JobState, NewJob, Worker, WorkerConfig};
use tributary_store::{Db, OpenOptions};

use crate::backends::{Backends, drop_schema, percentile};

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Jobs per run.
    #[arg(long, default_value_t = 20_000)]
    pub jobs: usize,
    /// Worker counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub workers: Vec<usize>,
    /// Most jobs outstanding (enqueued, not finished) at once.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    #[command(flatten)]
    pub backends: Backends,
}

struct Measured {
    jobs_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Measured {
    fn to_json(&self) -> Value {
        json!({
            "jobs_per_s": (self.jobs_per_s * 10.0).round() / 10.0,
            "p50_ms": (self.p50_ms * 100.0).round() / 100.0,
            "p99_ms": (self.p99_ms * 100.0).round() / 100.0,
        })
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut report = serde_json::Map::new();
        report.insert("sqlite".into(), backend(&args, Backend::Sqlite).await?);
        if !args.backends.sqlite_only {
            report.insert("postgres".into(), backend(&args, Backend::Postgres).await?);
        }
        report.insert(
            "setup".into(),
            json!({"jobs": args.jobs, "in_flight": args.in_flight, "handler": "no-op"}),
        );
        if let Some(postgres) = report.get("postgres") {
            let aims = aims(postgres);
            report.insert("aims".into(), aims);
        }
        crate::print_report(&Value::Object(report), args.json)
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn backend(args: &Args, which: Backend) -> anyhow::Result<Value> {
    let mut by_workers = serde_json::Map::new();
    let mut best: Option<(usize, Measured)> = None;
    for &workers in &args.workers {
        let measured = match which {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("queue.db").display());
                let db = Db::open(&url).await?;
                let result = measure(&db, args, workers).await;
                db.close().await;
                result?
            }
            Backend::Postgres => {
                let schema = format!("bench_queue_{}_{workers}", std::process::id());
                let options = OpenOptions::new(&args.backends.postgres_url)
                    .postgres_schema(schema.clone())
                    .max_connections(16);
                let db = match Db::open_with(options).await {
                    Ok(db) => db,
                    Err(err) => {
                        return Ok(json!({"error": format!("PostgreSQL unavailable: {err}")}));
                    }
                };
                let result = measure(&db, args, workers).await;
                db.close().await;
                drop_schema(&args.backends.postgres_url, &schema).await;
                result?
            }
        };
        by_workers.insert(workers.to_string(), measured.to_json());
        if best
            .as_ref()
            .is_none_or(|(_, b)| measured.jobs_per_s > b.jobs_per_s)
        {
            best = Some((workers, measured));
        }
    }
    let (workers, best) = best.ok_or_else(|| anyhow::anyhow!("no worker counts given"))?;
    let mut out = best.to_json();
    out["workers"] = json!(workers);
    out["by_workers"] = Value::Object(by_workers);
    Ok(out)
}

async fn measure(db: &Db, args: &Args, workers: usize) -> anyhow::Result<Measured> {
    const QUEUE: &str = "bench";
    let origin = Instant::now();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::with_capacity(args.jobs)));
    let slots = Arc::new(tokio::sync::Semaphore::new(args.in_flight.max(1)));
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut running = Vec::new();
    for _ in 0..workers {
        let latencies = latencies.clone();
        let slots = slots.clone();
        let mut stopped = stop.subscribe();
        let config = WorkerConfig {
            poll_interval: Duration::from_millis(500),
            ..WorkerConfig::new(QUEUE)
        };
        running.push(tokio::spawn(Worker::new(db.clone(), config).run(
            move |job| {
                let latencies = latencies.clone();
                let slots = slots.clone();
                async move {
                    let enqueued_us = job.payload["t"].as_f64().unwrap_or_default();
                    let now_us = origin.elapsed().as_secs_f64() * 1e6;
                    latencies
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((now_us - enqueued_us) / 1000.0);
                    slots.add_permits(1);
                    Ok(())
                }
            },
            async move {
                stopped.recv().await.ok();
            },
        )));
    }

    let start = Instant::now();
    let mut enqueued = 0;
    while enqueued < args.jobs {
        let permit = slots.acquire().await?;
        permit.forget();
        let mut take = 1;
        while take < args.jobs - enqueued {
            match slots.try_acquire() {
                Ok(permit) => {
                    permit.forget();
                    take += 1;
                }
                Err(_) => break,
            }
        }
        let t = json!({"t": origin.elapsed().as_secs_f64() * 1e6});
        let batch: Vec<NewJob<'_>> = (0..take).map(|_| NewJob::new(QUEUE, "noop", &t)).collect();
        let mut tx = db.begin().await?;
        tx.jobs().enqueue_many(&batch).await?;
        tx.commit().await?;
        enqueued += take;
    }
    // Wait for the handlers first (cheap), then for the acknowledgements to be committed.
    while latencies.lock().unwrap_or_else(|p| p.into_inner()).len() < args.jobs {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    loop {
        let counts = db.jobs().counts(QUEUE).await?;
        if counts.get(&JobState::Succeeded).copied().unwrap_or(0) >= args.jobs as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = start.elapsed();
    let _ = stop.send(());
    for worker in running {
        worker.await??;
    }
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    latencies.sort_by(f64::total_cmp);
    let counts: BTreeMap<_, _> = db.jobs().counts(QUEUE).await?.into_iter().collect();
    anyhow::ensure!(counts.len() == 1, "jobs left in other states: {counts:?}");
    Ok(Measured {
        jobs_per_s: args.jobs as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
    })
}

/// The aims set for the PostgreSQL queue, each with whether this run met it (measured with the
/// report's worker count, 4 by default).
fn aims(postgres: &Value) -> Value {
    let per_s = postgres["jobs_per_s"].as_f64().unwrap_or_default();
    let p50 = postgres["p50_ms"].as_f64().unwrap_or(f64::MAX);
    json!({
        "postgres: >= 3000 jobs/s": per_s >= 3000.0,
        "postgres: p50 < 20 ms": p50 < 20.0,
    })
}
