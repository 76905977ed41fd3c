//! `webhooks`: webhook intake through the runtime on SQLite and PostgreSQL.
//!
//! A fresh database gets one connected integration of a small definition (shared-secret
//! verification, one event whose handler does nothing). `--senders` concurrent senders post
//! `--deliveries` distinct deliveries through `Runtime::receive_webhook`: endpoint lookup and
//! secret decryption, verification, event resolution, then the delivery row and its job written in
//! one transaction. Then a worker processes them all.
//!
//! * `accepted_per_s`, `ack_p50_ms`, `ack_p99_ms`: intake throughput and the time until a sender
//!   could answer 2xx.
//! * `processed_per_s`: deliveries per second from the worker's start until every one is done.
//! * `baseline_per_s`: the same number of bare delivery inserts (`record_delivery`, one per
//!   transaction, same concurrency) measured in the same run; `ratio` = accepted / baseline.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    ConnectionRegistration, CredentialRegistration, Definition, DefinitionId, DefinitionSpec,
    InboundWebhook, Registry, ResolvedEvent, Secret, StableName, VerifyError, WebhookEvent,
    WebhookOutcome, WebhookRegistration, registry::CoreChecksOnly,
};
use tributary_runtime::{ConnectOutcome, ConnectRequest, Runtime, RuntimeConfig, WebhookAck};
use tributary_store::{Db, OpenOptions, keystore::KeyRing, webhooks::DeliveryStatus};

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object instead of pretty JSON.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = 5_000)]
    pub deliveries: usize,
    #[arg(long, default_value_t = 32)]
    pub senders: usize,
    #[arg(
        long,
        env = "TRIBUTARY_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1/test"
    )]
    pub postgres_url: String,
    #[arg(long)]
    pub sqlite_only: bool,
}

#[derive(StableName, Deserialize, schemars::JsonSchema)]
struct BenchToken {
    #[allow(dead_code)]
    token: Secret,
}

#[derive(StableName, Deserialize)]
struct Noted {}

fn definition() -> Definition {
    Definition::new(DefinitionSpec::new(DefinitionId::new("bench"), "Bench"))
        .credential(CredentialRegistration::form::<BenchToken>("Token", ""))
        .connection(ConnectionRegistration::new(BenchToken::NAME, "Token"))
        .webhook(
            WebhookRegistration::new("events")
                .verify(|request, secret| {
                    tributary_webhooks::shared_secret_header(request, "x-bench-secret", secret)
                })
                .resolve_event(|request| {
                    let payload: Value = serde_json::from_slice(&request.body)
                        .map_err(|_| VerifyError("not JSON".into()))?;
                    Ok(ResolvedEvent {
                        name: Some(Noted::NAME.to_owned()),
                        delivery_id: request.header("x-bench-delivery").map(str::to_owned),
                        provider_event: "noted".into(),
                        action: String::new(),
                        payload,
                    })
                })
                .event(
                    WebhookEvent::<Noted>::new("noted")
                        .handle(|_request, _event| async { Ok(WebhookOutcome::default()) }),
                ),
        )
}

pub fn run(args: Args) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let mut report = serde_json::Map::new();
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("hooks.db").display());
            report.insert(
                "sqlite".into(),
                measure(Db::open(&url).await?, &args).await?,
            );
            if !args.sqlite_only {
                let schema = format!("bench_hooks_{}", std::process::id());
                match Db::open_with(
                    OpenOptions::new(&args.postgres_url)
                        .postgres_schema(schema.clone())
                        .max_connections(16),
                )
                .await
                {
                    Ok(db) => {
                        let result = measure(db, &args).await;
                        crate::queue::drop_schema(&args.postgres_url, &schema).await;
                        report.insert("postgres".into(), result?);
                    }
                    Err(err) => {
                        report.insert(
                            "postgres".into(),
                            json!({"error": format!("PostgreSQL unavailable: {err}")}),
                        );
                    }
                }
            }
            report.insert(
                "setup".into(),
                json!({"deliveries": args.deliveries, "senders": args.senders, "handler": "no-op"}),
            );
            let report = Value::Object(report);
            if args.json {
                println!("{report}");
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(())
        })
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

async fn measure(db: Db, args: &Args) -> anyhow::Result<Value> {
    let registry =
        Registry::build(vec![definition()], &CoreChecksOnly).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ring = KeyRing::generate();
    let runtime = Runtime::new(
        registry,
        db.clone(),
        ring.clone(),
        RuntimeConfig::new("http://127.0.0.1:8080"),
    );
    let tenant = db.tenants().create("bench").await?;
    let ConnectOutcome::Connected(done) = runtime
        .connect(ConnectRequest {
            tenant_id: tenant.id.clone(),
            definition_id: "bench".into(),
            connection: "BenchToken".into(),
            credentials: [("BenchToken".to_owned(), json!({"token": "t"}))].into(),
            ..Default::default()
        })
        .await?
    else {
        anyhow::bail!("the bench connection redirected");
    };
    let endpoint = done.webhook_endpoints[0].clone();
    let secret = endpoint.secret.expose().to_owned();

    // Intake.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..args.senders.max(1) {
        let (runtime, next, endpoint, secret) = (
            runtime.clone(),
            next.clone(),
            endpoint.id.clone(),
            secret.clone(),
        );
        let total = args.deliveries;
        senders.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let request = InboundWebhook {
                    method: "POST".into(),
                    headers: vec![
                        ("x-bench-secret".into(), secret.clone()),
                        ("x-bench-delivery".into(), format!("d-{n}")),
                    ],
                    query: Vec::new(),
                    body: serde_json::to_vec(
                        &json!({"n": n, "user": {"id": n, "email": "someone@example.com"}}),
                    )?,
                    received_at: 0,
                };
                let sent = Instant::now();
                let ack = runtime
                    .receive_webhook(&endpoint, &request)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                anyhow::ensure!(matches!(ack, WebhookAck::Accepted { queued: true, .. }));
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    let mut latencies = Vec::new();
    for sender in senders {
        latencies.extend(sender.await??);
    }
    let intake = started.elapsed();
    latencies.sort_by(f64::total_cmp);

    // Processing.
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = {
        let runtime = runtime.clone();
        let mut config = tributary_store::jobs::WorkerConfig::new(runtime.config().queue.clone());
        config.poll_interval = Duration::from_millis(100);
        tokio::spawn(async move {
            runtime
                .run_worker(Some(config), async {
                    let _ = stopped.await;
                })
                .await
        })
    };
    loop {
        let recent = db
            .webhooks(&ring)
            .list_deliveries(&tenant.id, &endpoint.id, 1_000_000)
            .await?;
        if recent.iter().all(|d| d.status == DeliveryStatus::Done) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let processing = started.elapsed();
    let _ = stop.send(());
    worker.await??;

    // Baseline: bare delivery inserts, same count and concurrency.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut inserters = Vec::new();
    for _ in 0..args.senders.max(1) {
        let (db, ring, next, tenant, endpoint) = (
            db.clone(),
            ring.clone(),
            next.clone(),
            tenant.id.clone(),
            endpoint.id.clone(),
        );
        let total = args.deliveries;
        inserters.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    return Ok::<_, anyhow::Error>(());
                }
                db.webhooks(&ring)
                    .record_delivery(
                        &tenant,
                        &endpoint,
                        &format!("base-{n}"),
                        "Noted",
                        &json!({"n": n, "user": {"id": n, "email": "someone@example.com"}}),
                    )
                    .await?;
            }
        }));
    }
    for inserter in inserters {
        inserter.await??;
    }
    let baseline = started.elapsed();
    db.close().await;

    let per_s = |d: Duration| args.deliveries as f64 / d.as_secs_f64();
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Ok(json!({
        "accepted_per_s": round(per_s(intake)),
        "ack_p50_ms": round(percentile(&latencies, 0.5)),
        "ack_p99_ms": round(percentile(&latencies, 0.99)),
        "processed_per_s": round(per_s(processing)),
        "baseline_per_s": round(per_s(baseline)),
        "ratio": (per_s(intake) / per_s(baseline) * 100.0).round() / 100.0,
    }))
}
