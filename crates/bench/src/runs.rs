//! `runs`: queued sync runs end to end, as a tenant's reconcile runs them. For each backend, a
//! fresh database gets `--integrations` Azure Entra ID integrations (each its own platform tenant,
//! connected through the admin consent) reading the fake Microsoft Graph on loopback, whose
//! directory holds `--users` users, the sample groups and their members. Then, `--rounds` times,
//! one DirectorySync run per integration is queued at once and `--workers` job workers take them:
//! HTTP with `@odata.nextLink` paging, the shipped CEL mappings, and upserts of accounts, groups
//! and memberships. The first round creates every record; later rounds find them unchanged, as
//! most reconciles do.
//!
//! * `runs_per_s`: runs divided by the time from queueing each round until its last run ended,
//!   summed over the rounds.
//! * `records_per_s`: the payloads those runs handed to ingest (`seen`), over the same time.
//! * `p50_ms`, `p99_ms`: each run's time from queued to finished.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_core::CallbackParams;
use tributary_providers::{CatalogConfig, registry};
use tributary_runtime::{ConnectOutcome, ConnectRequest, RunRequest, Runtime, RuntimeConfig};
use tributary_store::{Db, OpenOptions, keystore::KeyRing, runs::RunStatus};
use tributary_testkit::azure_entra_id::{EntraDirectory, FakeEntra};

use crate::backends::{Backends, drop_schema, percentile, round1};

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object instead of pretty JSON.
    #[arg(long)]
    pub json: bool,
    /// Integrations synced in each round, all at once.
    #[arg(long, default_value_t = 8)]
    pub integrations: usize,
    /// Rounds of one run per integration.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Users in the fake directory (besides the fixtures), read by every run.
    #[arg(long, default_value_t = 2_000)]
    pub users: usize,
    /// Job workers taking the runs.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    #[command(flatten)]
    pub backends: Backends,
}

/// How long one round may take before the bench gives up.
const ROUND_DEADLINE: Duration = Duration::from_secs(600);

pub fn run(args: Args) -> anyhow::Result<()> {
    tributary_providerkit::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut report = serde_json::Map::new();
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("runs.db").display());
        let db = Db::open(&url).await?;
        report.insert("sqlite".into(), measure(db.clone(), &args).await?);
        db.close().await;
        if !args.backends.sqlite_only {
            let schema = format!("bench_runs_{}", std::process::id());
            let options = OpenOptions::new(&args.backends.postgres_url)
                .postgres_schema(schema.clone())
                .max_connections(16);
            let figures = match Db::open_with(options).await {
                Ok(db) => {
                    let figures = measure(db.clone(), &args).await;
                    db.close().await;
                    drop_schema(&args.backends.postgres_url, &schema).await;
                    figures?
                }
                Err(err) => json!({"error": format!("PostgreSQL unavailable: {err}")}),
            };
            report.insert("postgres".into(), figures);
        }
        report.insert(
            "setup".into(),
            json!({
                "definition": "azure_entra_id (fake Microsoft Graph on loopback, HTTP/1.1)",
                "integrations": args.integrations,
                "rounds": args.rounds,
                "users": args.users,
                "workers": args.workers,
                "machine": format!("{} CPUs", std::thread::available_parallelism().map_or(0, |n| n.get())),
            }),
        );
        crate::print_report(&Value::Object(report), args.json)
    })
}

async fn measure(db: Db, args: &Args) -> anyhow::Result<Value> {
    let fake = FakeEntra::start(EntraDirectory::sample(args.users)).await?;
    let mut operator = fake.operator_config();
    // Only the sync is measured: no subscriptions to keep.
    operator["changeNotifications"] = json!(false);
    let config = CatalogConfig {
        definitions: [("azure_entra_id".to_owned(), operator)].into(),
        public_url: None,
    };
    let registry = registry(&config).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let runtime = Runtime::new(
        registry,
        db.clone(),
        KeyRing::generate(),
        RuntimeConfig::new("http://127.0.0.1:9"),
    );
    let mut integrations = Vec::new();
    for n in 0..args.integrations {
        let tenant = runtime.db().tenants().create(&format!("t{n}")).await?.id;
        let integration = connect(&runtime, &tenant).await?;
        integrations.push((tenant, integration));
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for _ in 0..args.workers {
        let runtime = runtime.clone();
        let mut stopped = stopped.clone();
        workers.push(tokio::spawn(async move {
            runtime
                .run_worker(None, async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await
        }));
    }

    let mut elapsed = Duration::ZERO;
    let mut durations_ms = Vec::new();
    let mut records = 0u64;
    let mut failed = 0usize;
    for _ in 0..args.rounds {
        let started = Instant::now();
        let mut queued = Vec::new();
        for (tenant, integration) in &integrations {
            let run = runtime
                .queue_run(RunRequest {
                    tenant_id: tenant.clone(),
                    integration_id: integration.clone(),
                    operation: "DirectorySync".into(),
                    config: json!({}),
                    workflow: None,
                })
                .await?;
            queued.push((tenant.clone(), run.id));
        }
        let mut pending = queued;
        while !pending.is_empty() {
            anyhow::ensure!(
                started.elapsed() < ROUND_DEADLINE,
                "a round of runs did not end within {ROUND_DEADLINE:?}"
            );
            let mut still = Vec::new();
            for (tenant, run_id) in pending {
                let run = db
                    .runs()
                    .get(&tenant, &run_id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("run {run_id} vanished"))?;
                if !run.status.is_terminal() {
                    still.push((tenant, run_id));
                    continue;
                }
                if run.status != RunStatus::Succeeded {
                    failed += 1;
                }
                durations_ms.push(
                    (run.finished_at.unwrap_or(run.created_at) - run.created_at).max(0) as f64,
                );
                records += run.counters["seen"].as_u64().unwrap_or(0);
            }
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        elapsed += started.elapsed();
    }
    let _ = stop.send(true);
    for worker in workers {
        worker.await??;
    }
    anyhow::ensure!(failed == 0, "{failed} runs did not succeed");

    durations_ms.sort_by(f64::total_cmp);
    let runs = durations_ms.len();
    let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
    Ok(json!({
        "runs": runs,
        "records": records,
        "runs_per_s": round1(runs as f64 / seconds),
        "records_per_s": round1(records as f64 / seconds),
        "p50_ms": percentile(&durations_ms, 0.50),
        "p99_ms": percentile(&durations_ms, 0.99),
    }))
}

/// The admin consent, with the fake approving at once (the browser step).
async fn connect(runtime: &Runtime, tenant: &str) -> anyhow::Result<String> {
    let ConnectOutcome::Redirect(redirect) = runtime
        .connect(ConnectRequest {
            tenant_id: tenant.to_owned(),
            definition_id: "azure_entra_id".into(),
            user_input: Some(json!({})),
            connection: "EntraAdminConsent".into(),
            ..Default::default()
        })
        .await?
    else {
        anyhow::bail!("the admin consent must redirect");
    };
    let callback = tributary_testkit::browser::approve(&redirect.url).await;
    let connected = runtime.complete_auth(CallbackParams::new(callback)).await?;
    Ok(connected.integration.id)
}
