//! `ingest`: 100,000 Okta users (the payloads the fake Okta serves, about 900 bytes each) through
//! the shipped Okta mapping (filter + map + decode) and the upsert, on SQLite and on PostgreSQL,
//! then the same 100,000 again (all unchanged), against a baseline of the same rows inserted with
//! plain batched sqlx statements (fields built in Rust, no CEL, no metadata) in the same run. A
//! third, reconciling pass sees nine records in ten and tombstones the rest when it finishes.
//!
//! Payloads are generated one at a time and pushed into the run, which maps each full batch off
//! the async runtime in one hop, so memory stays bounded by the batch size; `peak_rss_mb` is the
//! process's peak resident set during each backend's half (the peak is reset between halves
//! through /proc/self/clear_refs). `aims` says which of the aims set for ingest this run met.

use std::{sync::Arc, time::Instant};

use serde_json::{Map, Value, json};
use tributary_cel::CelEngine;
use tributary_core::{IngestContract, MappingEnvelope};
use tributary_ingest::{Completeness, IngestContext, IngestOptions, IngestRun, Mapper};
use tributary_providers::CatalogConfig;
use tributary_store::{Db, Exec, OpenOptions};

use crate::backends::{Backends, drop_schema};

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
    #[command(flatten)]
    pub backends: Backends,
}

/// The Okta user `i`, as the fake Okta's Users API serves it: one in ten suspended, one in fifty
/// staged.
fn payload(i: usize) -> Value {
    let status = if i % 50 == 7 {
        "STAGED"
    } else if i % 10 == 3 {
        "SUSPENDED"
    } else {
        "ACTIVE"
    };
    tributary_testkit::okta::user_json(&format!("00u{i:017}"), i, status)
}

/// The fields the shipped Okta account mapping produces for `user`, built directly in Rust: what
/// the baseline writes. The run checks that they equal what the mapping wrote.
fn baseline_fields(user: &Value) -> Value {
    let profile = &user["profile"];
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let status = user["status"].as_str().unwrap_or_default();
    let display_name = match profile["displayName"].as_str() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => format!(
            "{} {}",
            profile["firstName"].as_str().unwrap_or_default(),
            profile["lastName"].as_str().unwrap_or_default()
        ),
    };
    let mut fields = Map::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            fields.insert(key.to_owned(), Value::String(value));
        }
    };
    put("externalID", text(&user["id"]));
    put(
        "canonicalEmail",
        profile["email"].as_str().map(str::to_ascii_lowercase),
    );
    put("username", text(&profile["login"]));
    put("displayName", Some(display_name));
    put("givenName", text(&profile["firstName"]));
    put("familyName", text(&profile["lastName"]));
    put("department", text(&profile["department"]));
    put("jobTitle", text(&profile["title"]));
    put(
        "status",
        Some(
            match status {
                "DEPROVISIONED" => "DELETED",
                "SUSPENDED" => "SUSPENDED",
                "STAGED" | "PROVISIONED" => "PENDING",
                _ => "ACTIVE",
            }
            .to_owned(),
        ),
    );
    put("accountType", Some("USER".to_owned()));
    // The model's default, which decoding fills in.
    put("mfaState", Some("UNKNOWN".to_owned()));
    let utc = |value: &Value| value.as_str().map(|t| t.replace(".000Z", "Z"));
    put("lastLoginAt", utc(&user["lastLogin"]));
    put("sourceCreatedAt", utc(&user["created"]));
    put("sourceUpdatedAt", utc(&user["lastUpdated"]));
    fields.insert(
        "profile".to_owned(),
        json!({"oktaStatus": status, "userType": user["type"]["id"]}),
    );
    Value::Object(fields)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let sqlite = measure(&args, Db::open(&sqlite_url).await?).await?;

        let postgres = if args.backends.sqlite_only {
            None
        } else {
            let url = &args.backends.postgres_url;
            let schema = format!("bench_ingest_{}", std::process::id());
            let db = Db::open_with(OpenOptions::new(url).postgres_schema(&schema)).await?;
            let figures = measure(&args, db.clone()).await;
            db.close().await;
            drop_schema(url, &schema).await;
            Some(figures?)
        };
        let aims = aims(&sqlite, postgres.as_ref());
        let report = json!({ "sqlite": sqlite, "postgres": postgres, "aims": aims });
        crate::print_report(&report, args.json)
    })
}

async fn measure(args: &Args, db: Db) -> anyhow::Result<Value> {
    reset_peak_rss();
    let engine = CelEngine::default();
    let okta = tributary_providers::okta::definition(&CatalogConfig::default());
    let mapper = Arc::new(Mapper::new(
        &engine,
        "okta",
        &okta.mappings,
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
    same_rows_as_baseline(&db).await?;
    Ok(json!({
        "records": args.records,
        "batch_size": args.batch_size,
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
                let fields = baseline_fields(&raw);
                [
                    tributary_store::new_id(),
                    raw["id"].as_str().unwrap_or_default().to_owned(),
                    fields.to_string(),
                    raw.to_string(),
                ]
            })
            .collect();
        // Anonymous `?` on SQLite, as the store writes its multi-row statements (binding
        // thousands of numbered parameters costs SQLite time quadratic in their number).
        let sqlite = matches!(db.backend(), tributary_store::Backend::Sqlite);
        let mut sql = String::from(
            "INSERT INTO bench_baseline (id, tenant_id, integration_id, model, lookup_key, fields, \
             raw_payload, seen_at) VALUES ",
        );
        for row in 0..rows.len() {
            let b = row * 4;
            if row > 0 {
                sql.push_str(", ");
            }
            if sqlite {
                sql.push_str("(?, 'tenant', 'integration', 'DirectoryAccount', ?, ?, ?, 0)");
            } else {
                sql.push_str(&format!(
                    "(${}, 'tenant', 'integration', 'DirectoryAccount', ${}, ${}, ${}, 0)",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4
                ));
            }
        }
        let mut tx = db.begin().await?;
        // The same statement on either backend's connection type.
        macro_rules! insert_rows {
            ($conn:expr) => {{
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for row in &rows {
                    query = query
                        .bind(&row[0])
                        .bind(&row[1])
                        .bind(&row[2])
                        .bind(&row[3]);
                }
                query.execute($conn).await?;
            }};
        }
        match tx.exec() {
            Exec::Sqlite(c) => insert_rows!(&mut *c),
            Exec::Postgres(c) => insert_rows!(&mut *c),
        }
        tx.commit().await?;
        start = end;
    }
    Ok(args.records as f64 / started.elapsed().as_secs_f64())
}

/// The aims set for ingest over 100,000 records, each with whether this run met it.
fn aims(sqlite: &Value, postgres: Option<&Value>) -> Value {
    let figure = |figures: &Value, key: &str| figures[key].as_f64().unwrap_or_default();
    let mut aims = json!({
        "sqlite: >= 20000 records/s": figure(sqlite, "records_per_s") >= 20_000.0,
        "sqlite: ratio >= 0.5": figure(sqlite, "ratio") >= 0.5,
        "records >= 100000": figure(sqlite, "records") >= 100_000.0,
    });
    if let Some(postgres) = postgres {
        aims["postgres: >= 15000 records/s"] = json!(figure(postgres, "records_per_s") >= 15_000.0);
    }
    aims
}

/// Fails unless the baseline wrote, for a sample of accounts, the same fields the mapping did.
async fn same_rows_as_baseline(db: &Db) -> anyhow::Result<()> {
    let sql = "SELECT r.fields AS mapped, b.fields AS baseline FROM ingest_records r \
               JOIN bench_baseline b ON b.lookup_key = r.lookup_key \
               WHERE r.model = 'DirectoryAccount' AND r.deleted_at IS NULL \
               ORDER BY r.lookup_key LIMIT 50";
    let mut tx = db.begin().await?;
    let pairs: Vec<(String, String)> = match tx.exec() {
        Exec::Sqlite(c) => sqlx::query_as(sql).fetch_all(&mut *c).await?,
        Exec::Postgres(c) => sqlx::query_as(sql).fetch_all(&mut *c).await?,
    };
    tx.commit().await?;
    anyhow::ensure!(!pairs.is_empty(), "no account to compare with the baseline");
    for (mapped, baseline) in pairs {
        let (mapped, baseline): (Value, Value) = (
            serde_json::from_str(&mapped)?,
            serde_json::from_str(&baseline)?,
        );
        anyhow::ensure!(
            mapped == baseline,
            "the baseline writes other rows than the mapping: {mapped} vs {baseline}"
        );
    }
    Ok(())
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
