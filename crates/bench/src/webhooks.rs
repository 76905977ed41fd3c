//! `webhooks`: webhook intake through the real server on loopback, loaded by a separate process.
//!
//! A fresh database gets one connected integration of a small definition whose endpoint verifies
//! Standard Webhooks signatures. A load generator in a process of its own
//! (`tributary-bench webhooks-load`, see [`crate::load`]) posts `--deliveries` distinct signed
//! deliveries with `--senders` keep-alive clients to `POST /v1/webhooks/<endpoint>` of
//! `tributary_server::router` over real loopback sockets. Each answer is a 2xx only once the
//! delivery and its job are committed with an fsync. The delivery budget is lifted for these
//! runs (what is measured is intake, not the limits). Each measured run follows a warm-up of
//! `--warm-up` deliveries to the same server, so it measures a server that has been running (its
//! database connections open, its statements prepared), not one starting.
//!
//! Per backend (`sqlite`, `postgres`):
//! * `deliveries_per_s`, `p50_ms`, `p99_ms`: accepted deliveries per second and request latency,
//!   group commit on (the default);
//! * `single_commit_per_s`: the same load in the same run with `intake_batch = 1`, one fsync'd
//!   transaction per delivery;
//! * `durability`: read back from a durable transaction's own connection (`fsync` or not).
//!
//! `flood`: under the default limits, an unsigned flood from 127.0.0.2 while signed deliveries
//! come from 127.0.0.3; `signed_refused` must be 0. `baseline`: the same load generator against a
//! bare axum handler. `aims` says which of the aims this run met.

use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    ConnectionRegistration, CredentialRegistration, Definition, DefinitionId, DefinitionSpec,
    Registry, ResolvedEvent, Secret, StableName, VerifyError, WebhookEvent, WebhookOutcome,
    WebhookRegistration, registry::CoreChecksOnly,
};
use tributary_runtime::{ConnectOutcome, ConnectRequest, Runtime, RuntimeConfig};

use crate::backends::{Backends, drop_schema, round1};
use tributary_server::{RateLimitConfig, ServerConfig};
use tributary_store::{Db, OpenOptions, keystore::KeyRing};
use tributary_webhooks::StandardWebhooks;

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object instead of pretty JSON.
    #[arg(long)]
    pub json: bool,
    /// Deliveries measured per run (after the warm-up).
    #[arg(long, default_value_t = 10_000)]
    pub deliveries: usize,
    /// Deliveries sent before each measured run and not counted: they open the pooled database
    /// connections and prepare the statements of each batch size, as a running server has long
    /// done. Without it a short run mostly measures start-up.
    #[arg(long, default_value_t = 2_000)]
    pub warm_up: usize,
    /// Pad each delivery's body to about this many bytes (0: a bare event of about 80 bytes).
    #[arg(long, default_value_t = 0)]
    pub body_bytes: usize,
    #[arg(long, default_value_t = 32)]
    pub senders: usize,
    #[command(flatten)]
    pub backends: Backends,
    /// Group committers (0: the backend's default).
    #[arg(long, default_value_t = 0)]
    pub committers: usize,
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
            let mut report = serde_json::Map::new();
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("hooks.db").display());
            report.insert("sqlite".into(), measure(Db::open(&url).await?, &args).await?);
            if !args.backends.sqlite_only {
                let schema = format!("bench_hooks_{}", std::process::id());
                let postgres = match Db::open_with(
                    OpenOptions::new(&args.backends.postgres_url)
                        .postgres_schema(schema.clone())
                        .max_connections(16),
                )
                .await
                {
                    Ok(db) => {
                        let result = measure(db, &args).await;
                        drop_schema(&args.backends.postgres_url, &schema).await;
                        result?
                    }
                    Err(err) => json!({"error": format!("PostgreSQL unavailable: {err}")}),
                };
                report.insert("postgres".into(), postgres);
            }
            let flood_dir = tempfile::tempdir()?;
            let flood_url = format!("sqlite://{}", flood_dir.path().join("flood.db").display());
            report.insert("flood".into(), flood(Db::open(&flood_url).await?, &args).await?);
            report.insert("baseline".into(), baseline(&args).await?);
            report.insert(
                "setup".into(),
                json!({
                    "deliveries": args.deliveries,
                    "senders": args.senders,
                    "signature": "Standard Webhooks",
                    "load_generator": "a separate process (tributary-bench webhooks-load), keep-alive HTTP/1.1 over loopback",
                    "single_commit": "the same load with intake_batch = 1: one fsync'd transaction per delivery",
                    "warm_up": format!("{} deliveries before each measured run, not counted", args.warm_up),
                    "body_bytes": args.body_bytes,
                    "machine": format!("{} CPUs", std::thread::available_parallelism().map_or(1, |n| n.get())),
                }),
            );
            report.insert("aims".into(), aims(&report));
            crate::print_report(&Value::Object(report), args.json)
        })
}

/// The aims, each with whether this run met it.
fn aims(report: &serde_json::Map<String, Value>) -> Value {
    let mut aims = serde_json::Map::new();
    for backend in ["sqlite", "postgres"] {
        let Some(figures) = report.get(backend).filter(|f| f.get("error").is_none()) else {
            continue;
        };
        let per_s = figures["deliveries_per_s"].as_f64().unwrap_or_default();
        let single = figures["single_commit_per_s"].as_f64().unwrap_or(f64::MAX);
        let p99 = figures["p99_ms"].as_f64().unwrap_or(f64::MAX);
        aims.insert(
            format!("{backend}: >= 3000 fsync'd deliveries/s"),
            json!(per_s >= 3000.0 && figures["durability"] == "fsync"),
        );
        aims.insert(
            format!("{backend}: >= 2x single_commit_per_s"),
            json!(per_s >= 2.0 * single),
        );
        aims.insert(format!("{backend}: p99 < 50 ms"), json!(p99 < 50.0));
    }
    if let Some(flood) = report.get("flood") {
        aims.insert(
            "flood: signed_refused == 0".into(),
            json!(flood["signed_refused"] == 0),
        );
    }
    Value::Object(aims)
}

/// A runtime with the bench definition connected; its endpoint (URL and secret).
async fn connected(
    db: &Db,
    base: &str,
    intake_batch: usize,
    committers: usize,
) -> anyhow::Result<(Runtime, String, String)> {
    let registry =
        Registry::build(vec![definition()], &CoreChecksOnly).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut config = RuntimeConfig::new(base.to_owned());
    config.intake_batch = intake_batch;
    config.intake_committers = committers;
    let runtime = Runtime::new(registry, db.clone(), KeyRing::generate(), config);
    let tenant = db
        .tenants()
        .create(&format!("bench-{}", tributary_store::new_id()))
        .await?;
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
    Ok((runtime, endpoint.url, secret))
}

/// Serves `runtime` with `config` on a fresh loopback port; its base URL and the server task.
async fn serve(
    runtime: &Runtime,
    config: ServerConfig,
    listener: tokio::net::TcpListener,
) -> tokio::task::JoinHandle<()> {
    let app = tributary_server::router(runtime.clone(), config)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// The limits lifted: what is measured is intake, not the rate limits.
fn unlimited() -> ServerConfig {
    ServerConfig {
        webhook_rate: RateLimitConfig {
            per_second: 1e9,
            burst: 1e9,
        },
        ..ServerConfig::default()
    }
}

/// Signed deliveries through the server, group-committed, then the same load committing each
/// delivery on its own.
async fn measure(db: Db, args: &Args) -> anyhow::Result<Value> {
    let durability = {
        let mut tx = db.begin_durable().await?;
        let durability = tx.durability().await?;
        tx.rollback().await?;
        durability
    };
    let mut figures = serde_json::Map::new();
    for (name, batch, prefix) in [
        ("group", tributary_runtime::DEFAULT_INTAKE_BATCH, "msg_g_"),
        ("single", 1, "msg_s_"),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (runtime, url, secret) = connected(&db, &base, batch, args.committers).await?;
        let server = serve(&runtime, unlimited(), listener).await;
        let send = |total: usize, prefix: String| {
            let load_args: Vec<String> = vec![
                "--url".into(),
                url.clone(),
                "--total".into(),
                total.to_string(),
                "--senders".into(),
                args.senders.to_string(),
                "--id-prefix".into(),
                prefix,
                "--body-bytes".into(),
                args.body_bytes.to_string(),
            ];
            let secret = secret.clone();
            async move { crate::load::spawn(&load_args, Some(&secret)).await }
        };
        if args.warm_up > 0 {
            let warm = send(args.warm_up, format!("warm_{prefix}")).await?;
            anyhow::ensure!(
                warm["ok"] == args.warm_up,
                "{name}: the warm-up was not accepted: {warm}"
            );
        }
        let load = send(args.deliveries, prefix.to_owned()).await?;
        server.abort();
        anyhow::ensure!(
            load["ok"] == args.deliveries,
            "{name}: not every delivery was accepted: {load}"
        );
        let per_s = args.deliveries as f64 / load["elapsed_s"].as_f64().unwrap_or(f64::MAX);
        figures.insert(name.into(), json!({"per_s": round1(per_s), "p50_ms": round1(load["p50_ms"].as_f64().unwrap_or_default()), "p99_ms": round1(load["p99_ms"].as_f64().unwrap_or_default())}));
    }
    db.close().await;
    let group = &figures["group"];
    Ok(json!({
        "deliveries_per_s": group["per_s"],
        "single_commit_per_s": figures["single"]["per_s"],
        "p50_ms": group["p50_ms"],
        "p99_ms": group["p99_ms"],
        "single_commit_p99_ms": figures["single"]["p99_ms"],
        "durability": match durability {
            tributary_store::Durability::Fsync => "fsync",
            tributary_store::Durability::Deferred => "deferred",
        },
        "transport": "socket",
    }))
}

/// Forged requests in the flood check.
const FLOOD_UNSIGNED: usize = 5_000;
/// Signed deliveries sent during the flood: within the default per-integration burst.
const FLOOD_SIGNED: usize = 1_000;

/// An unsigned flood from one address while correctly signed deliveries come from another,
/// under the default limits: how many signed deliveries were refused.
async fn flood(db: Db, args: &Args) -> anyhow::Result<Value> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (runtime, url, secret) = connected(
        &db,
        &base,
        tributary_runtime::DEFAULT_INTAKE_BATCH,
        args.committers,
    )
    .await?;
    let server = serve(&runtime, ServerConfig::default(), listener).await;
    // The signed deliveries stay within one integration's default burst (1,000), so a refusal
    // can only be the flood's doing; the sizes do not follow `--deliveries` for that reason.
    let unsigned_sent = FLOOD_UNSIGNED;
    let signed_sent = FLOOD_SIGNED;
    let flood_args: Vec<String> = [
        "--url",
        &url,
        "--total",
        &unsigned_sent.to_string(),
        "--senders",
        "16",
        "--source",
        "127.0.0.2",
        "--id-prefix",
        "forged_",
        "--forged",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let signed_args: Vec<String> = [
        "--url",
        &url,
        "--total",
        &signed_sent.to_string(),
        "--senders",
        "4",
        "--source",
        "127.0.0.3",
        "--id-prefix",
        "signed_",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let (flooded, signed) = tokio::join!(
        crate::load::spawn(&flood_args, None),
        crate::load::spawn(&signed_args, Some(&secret)),
    );
    server.abort();
    let (flooded, signed) = (flooded?, signed?);
    db.close().await;
    Ok(json!({
        "unsigned_sent": unsigned_sent,
        "unsigned_answers": flooded["statuses"],
        "signed_sent": signed_sent,
        "signed_refused": signed_sent - signed["ok"].as_u64().unwrap_or_default() as usize,
    }))
}

/// The same clients and load against a bare axum handler answering 200.
async fn baseline(args: &Args) -> anyhow::Result<Value> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let bare = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    let server = tokio::spawn(async move { axum::serve(listener, bare).await });
    let load = crate::load::spawn(
        &[
            "--url".into(),
            url,
            "--total".into(),
            args.deliveries.to_string(),
            "--senders".into(),
            args.senders.to_string(),
            "--plain".into(),
        ],
        None,
    )
    .await?;
    server.abort();
    let per_s = args.deliveries as f64 / load["elapsed_s"].as_f64().unwrap_or(f64::MAX);
    Ok(
        json!({"bare_axum_per_s": round1(per_s), "p99_ms": round1(load["p99_ms"].as_f64().unwrap_or_default())}),
    )
}
