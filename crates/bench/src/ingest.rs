//! `ingest`: 100,000 directory accounts through filter + map + decode + upsert, on SQLite and on
//! PostgreSQL, then the same 100,000 again (all unchanged), against a baseline of the same rows
//! inserted with plain batched sqlx statements (no CEL, no metadata) in the same run. A third,
//! reconciling pass sees nine records in ten and tombstones the rest when it finishes.
//!
//! Payloads are generated one at a time and pushed into the run, which maps each full batch off
//! the async runtime in one hop, so memory stays bounded by the batch size; `peak_rss_mb` is the process's peak resident set during each backend's half (the
//! peak is reset between halves through /proc/self/clear_refs).

use std::{sync::Arc, time::Instant};

use serde_json::{Value, json};
use tributary_cel::CelEngine;
use tributary_core::{IngestContract, MappingEnvelope, MappingRegistration};
use tributary_ingest::{Completeness, IngestContext, IngestOptions, IngestRun, Mapper};
use tributary_store::{Db, Exec, OpenOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Accounts per pass.
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Records per transaction.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// PostgreSQL server (a schema is created for the run and dropped after).
    #[arg(
        long,
        env = "TRIBUTARY_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1/test"
    )]
    pub postgres_url: String,
}

const FILTER: &str = "payload.type == 'user'";
const MAP: &str = r#"{
    "externalID": string(payload.id),
    "canonicalEmail": payload.email.lowerAscii(),
    "displayName": payload.name,
    "department": payload.department,
    "status": payload.active ? "ACTIVE" : "SUSPENDED",
    "isAdmin": payload.admin
}"#;

/// The provider payload of account `i`: about 250 bytes, like a trimmed directory user.
fn payload(i: usize) -> Value {
    let department = ["engineering", "sales", "finance", "support"][i % 4];
    json!({
        "id": 10_000_000 + i,
        "type": "user",
        "email": format!("User.{i}@Example.com"),
        "name": format!("User Number {i}"),
        "department": department,
        "active": !i.is_multiple_of(10),
        "admin": i.is_multiple_of(100),
        "created": "2024-01-01T00:00:00Z",
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let sqlite = measure(&args, Db::open(&sqlite_url).await?).await?;

        let schema = format!("bench_ingest_{}", std::process::id());
        let postgres = match Db::open_with(
            OpenOptions::new(&args.postgres_url).postgres_schema(&schema),
        )
        .await
        {
            Ok(db) => {
                let figures = measure(&args, db.clone()).await;
                drop_schema(&db, &args.postgres_url, &schema).await;
                Some(figures?)
            }
            Err(error) => {
                eprintln!("PostgreSQL unreachable ({error}); its figures are null");
                None
            }
        };
        let report = json!({ "sqlite": sqlite, "postgres": postgres });
        if args.json {
            println!("{report}");
        } else {
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Ok(())
    })
}

async fn measure(args: &Args, db: Db) -> anyhow::Result<Value> {
    reset_peak_rss();
    let engine = CelEngine::default();
    let mappings = [MappingRegistration::new("DirectoryAccount")
        .filter(FILTER)
        .map(MAP)];
    let mapper = Arc::new(Mapper::new(
        &engine,
        "bench",
        &mappings,
        &[IngestContract::new("DirectoryAccount")],
    )?);
    let context = IngestContext {
        tenant_id: "tenant".into(),
        integration_id: "integration".into(),
        run_id: None,
    };
    let options = IngestOptions {
        batch_size: args.batch_size,
        reconcile: false,
        ..IngestOptions::default()
    };

    let mut passes = Vec::new();
    for expected in ["created", "unchanged"] {
        let started = Instant::now();
        let mut run = IngestRun::begin(&db, Arc::clone(&mapper), &context, options).await?;
        for i in 0..args.records {
            run.push("DirectoryAccount", MappingEnvelope::new(payload(i)), i)
                .await?;
        }
        let report = run.finish(Completeness::Complete).await?;
        let seconds = started.elapsed().as_secs_f64();
        let counted = match expected {
            "created" => report.counters.created,
            _ => report.counters.unchanged,
        };
        anyhow::ensure!(
            counted == args.records as u64,
            "expected {} {expected} records, counters were {:?}",
            args.records,
            report.counters
        );
        passes.push(args.records as f64 / seconds);
    }

    // A complete reconciling pass that no longer sees one record in ten: the unseen ones are
    // tombstoned in the transaction that closes the run.
    let reconcile = IngestOptions {
        reconcile: true,
        ..options
    };
    let started = Instant::now();
    let mut run = IngestRun::begin(&db, mapper, &context, reconcile).await?;
    let mut seen = 0u64;
    for i in (0..args.records).filter(|i| i % 10 != 9) {
        run.push("DirectoryAccount", MappingEnvelope::new(payload(i)), i)
            .await?;
        seen += 1;
    }
    let finishing = Instant::now();
    let report = run.finish(Completeness::Complete).await?;
    let finish_ms = finishing.elapsed().as_secs_f64() * 1000.0;
    let reconcile_per_s = seen as f64 / started.elapsed().as_secs_f64();
    let gone = (args.records - seen as usize) as u64;
    anyhow::ensure!(
        report.counters.tombstoned == gone,
        "expected {gone} tombstoned records, counters were {:?}",
        report.counters
    );

    let baseline = baseline_per_s(args, &db).await?;
    Ok(json!({
        "records_per_s": passes[0].round(),
        "unchanged_records_per_s": passes[1].round(),
        "reconcile_records_per_s": reconcile_per_s.round(),
        "tombstoned": gone,
        "tombstone_finish_ms": finish_ms.round(),
        "baseline_per_s": baseline.round(),
        "ratio": ((passes[0] / baseline) * 1000.0).round() / 1000.0,
        "peak_rss_mb": peak_rss_mb(),
    }))
}

/// The same rows (same columns, JSON built directly in Rust) written with multi-row INSERTs,
/// one transaction per batch, into a table shaped like `ingest_records`.
async fn baseline_per_s(args: &Args, db: &Db) -> anyhow::Result<f64> {
    let mut tx = db.begin().await?;
    let ddl = "CREATE TABLE bench_baseline (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, \
               integration_id TEXT NOT NULL, model TEXT NOT NULL, lookup_key TEXT NOT NULL, \
               fields TEXT NOT NULL, raw_payload TEXT NOT NULL, seen_at BIGINT NOT NULL, \
               UNIQUE (tenant_id, integration_id, model, lookup_key))";
    match tx.exec() {
        Exec::Sqlite(c) => {
            sqlx::query(ddl).execute(&mut *c).await?;
        }
        Exec::Postgres(c) => {
            sqlx::query(ddl).execute(&mut *c).await?;
        }
    }
    tx.commit().await?;

    let started = Instant::now();
    let mut start = 0;
    while start < args.records {
        let end = (start + args.batch_size).min(args.records);
        let rows: Vec<[String; 4]> = (start..end)
            .map(|i| {
                let raw = payload(i);
                let fields = json!({
                    "externalID": raw["id"].to_string(),
                    "canonicalEmail": raw["email"].as_str().unwrap_or_default().to_lowercase(),
                    "displayName": raw["name"],
                    "department": raw["department"],
                    "status": if raw["active"] == true { "ACTIVE" } else { "SUSPENDED" },
                    "isAdmin": raw["admin"],
                });
                [
                    tributary_store::new_id(),
                    raw["id"].to_string(),
                    fields.to_string(),
                    raw.to_string(),
                ]
            })
            .collect();
        let mut sql = String::from(
            "INSERT INTO bench_baseline (id, tenant_id, integration_id, model, lookup_key, fields, \
             raw_payload, seen_at) VALUES ",
        );
        for row in 0..rows.len() {
            let b = row * 4;
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, 'tenant', 'integration', 'DirectoryAccount', ${}, ${}, ${}, 0)",
                b + 1,
                b + 2,
                b + 3,
                b + 4
            ));
        }
        let mut tx = db.begin().await?;
        match tx.exec() {
            Exec::Sqlite(c) => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for row in &rows {
                    query = query
                        .bind(&row[0])
                        .bind(&row[1])
                        .bind(&row[2])
                        .bind(&row[3]);
                }
                query.execute(&mut *c).await?;
            }
            Exec::Postgres(c) => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for row in &rows {
                    query = query
                        .bind(&row[0])
                        .bind(&row[1])
                        .bind(&row[2])
                        .bind(&row[3]);
                }
                query.execute(&mut *c).await?;
            }
        }
        tx.commit().await?;
        start = end;
    }
    Ok(args.records as f64 / started.elapsed().as_secs_f64())
}

/// Drops the run's schema through a plain connection (opening a `Db` would migrate `public`).
async fn drop_schema(db: &Db, url: &str, schema: &str) {
    use sqlx::Connection;
    db.close().await;
    if let Ok(mut conn) = sqlx::postgres::PgConnection::connect(url).await {
        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
    }
}

/// Resets the kernel's peak-RSS mark of this process (Linux; ignored elsewhere).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set since the last reset, in MiB (`VmHWM`), or null where unknown.
fn peak_rss_mb() -> Value {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Value::Null;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(Value::Null, |kb| json!((kb / 1024.0 * 10.0).round() / 10.0))
}
