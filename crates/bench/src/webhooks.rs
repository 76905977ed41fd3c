//! `webhooks`: webhook intake through the real server on loopback.
//!
//! A fresh database gets one connected integration of a small definition whose endpoint verifies
//! Standard Webhooks signatures. `--senders` concurrent HTTP clients (keep-alive, in process) post
//! `--deliveries` distinct signed deliveries to `POST /v1/webhooks/<endpoint>` of
//! `tributary_server::router`. Each answer is a 2xx only once the delivery and its job are
//! durably written. The per-endpoint rate limit is lifted for the run (it exists to slow one sender
//! down, which is not what is measured here).
//!
//! * `deliveries_per_s`, `p50_ms`, `p99_ms`: accepted deliveries per second and request latency.
//! * `baseline_per_s`: the same clients and load against a bare axum handler answering 200, in the
//!   same run; `ratio` = deliveries / baseline.
//! * `processed_per_s`: afterwards, one job worker processes every delivery (no-op handler).
//!
//! The top-level figures are SQLite's (the embedded default); `postgres` holds the same for
//! PostgreSQL.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    ConnectionRegistration, CredentialRegistration, Definition, DefinitionId, DefinitionSpec,
    Registry, ResolvedEvent, Secret, StableName, VerifyError, WebhookEvent, WebhookOutcome,
    WebhookRegistration, registry::CoreChecksOnly,
};
use tributary_runtime::{ConnectOutcome, ConnectRequest, Runtime, RuntimeConfig};
use tributary_server::{RateLimitConfig, ServerConfig};
use tributary_store::{Db, OpenOptions, keystore::KeyRing, webhooks::DeliveryStatus};
use tributary_webhooks::{StandardWebhooks, sign_standard};

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
                .verify(|request, secret| StandardWebhooks::default().verify(request, secret))
                .resolve_event(|request| {
                    let payload: Value = serde_json::from_slice(&request.body)
                        .map_err(|_| VerifyError("not JSON".into()))?;
                    Ok(ResolvedEvent {
                        name: Some(Noted::NAME.to_owned()),
                        delivery_id: request.header("webhook-id").map(str::to_owned),
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
    tributary_providerkit::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("hooks.db").display());
            let sqlite = measure(Db::open(&url).await?, &args).await?;
            let mut report = match sqlite {
                Value::Object(map) => map,
                _ => serde_json::Map::new(),
            };
            if !args.sqlite_only {
                let schema = format!("bench_hooks_{}", std::process::id());
                let postgres = match Db::open_with(
                    OpenOptions::new(&args.postgres_url)
                        .postgres_schema(schema.clone())
                        .max_connections(16),
                )
                .await
                {
                    Ok(db) => {
                        let result = measure(db, &args).await;
                        crate::queue::drop_schema(&args.postgres_url, &schema).await;
                        result?
                    }
                    Err(err) => json!({"error": format!("PostgreSQL unavailable: {err}")}),
                };
                report.insert("postgres".into(), postgres);
            }
            report.insert(
                "setup".into(),
                json!({
                    "deliveries": args.deliveries,
                    "senders": args.senders,
                    "signature": "Standard Webhooks",
                    "handler": "no-op",
                }),
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

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Posts `total` requests with `senders` concurrent clients; returns (seconds, sorted latencies).
async fn load(
    url: String,
    total: usize,
    senders: usize,
    secret: Option<Secret>,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(senders)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..senders.max(1) {
        let (client, url, next, secret) =
            (client.clone(), url.clone(), next.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let body = serde_json::to_vec(
                    &json!({"n": n, "user": {"id": n, "email": "someone@example.com"}}),
                )?;
                let id = format!("msg_{n}");
                let mut request = client.post(&url).body(body.clone());
                if let Some(secret) = &secret {
                    let now = tributary_providerkit::unix_now();
                    let signature = sign_standard(secret, &id, now, &body)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    request = request
                        .header("webhook-id", &id)
                        .header("webhook-timestamp", now.to_string())
                        .header("webhook-signature", signature);
                }
                let sent = Instant::now();
                let response = request.send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "delivery {n} answered {}",
                    response.status()
                );
                let _ = response.bytes().await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok((elapsed, latencies))
}

async fn measure(db: Db, args: &Args) -> anyhow::Result<Value> {
    let registry =
        Registry::build(vec![definition()], &CoreChecksOnly).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ring = KeyRing::generate();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let runtime = Runtime::new(
        registry,
        db.clone(),
        ring.clone(),
        RuntimeConfig::new(base.clone()),
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

    // Intake through the server.
    let config = ServerConfig {
        webhook_rate: RateLimitConfig {
            per_second: 1e9,
            burst: 1e9,
        },
        ..ServerConfig::default()
    };
    let app = tributary_server::router(runtime.clone(), config);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let (intake_s, latencies) = load(
        endpoint.url.clone(),
        args.deliveries,
        args.senders,
        Some(endpoint.secret.clone()),
    )
    .await?;
    server.abort();

    // Baseline: a bare handler answering 200, same clients and load.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_url = format!("http://{}/hook", listener.local_addr()?);
    let bare = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    let bare_server = tokio::spawn(async move { axum::serve(listener, bare).await });
    let (baseline_s, _) = load(bare_url, args.deliveries, args.senders, None).await?;
    bare_server.abort();

    // Processing by one worker.
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
        let deliveries = db
            .webhooks(&ring)
            .list_deliveries(&tenant.id, &endpoint.id, 1_000_000)
            .await?;
        anyhow::ensure!(deliveries.len() == args.deliveries, "deliveries were lost");
        if deliveries.iter().all(|d| d.status == DeliveryStatus::Done) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let processing_s = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    worker.await??;
    db.close().await;

    let per_s = |seconds: f64| args.deliveries as f64 / seconds;
    Ok(json!({
        "deliveries_per_s": round(per_s(intake_s)),
        "p50_ms": round(percentile(&latencies, 0.5)),
        "p99_ms": round(percentile(&latencies, 0.99)),
        "baseline_per_s": round(per_s(baseline_s)),
        "ratio": (baseline_s / intake_s * 1000.0).round() / 1000.0,
        "processed_per_s": round(per_s(processing_s)),
    }))
}
