//! `tributary storage purge`: the dry run counts and deletes nothing, the purge deletes what the
//! retention settings no longer keep (and what is still in use stays), and `[retention]` in the
//! configuration file changes what goes.

use serde_json::{Value, json};
use tributary_store::{Db, Exec, jobs::NewJob, now_ms, runs::RunOutcome, runs::RunStatus};

use crate::support::{
    command::on_data_dir,
    seed::{acme_with_okta, run_of, sqlite_url},
};

const DAY: i64 = 24 * 60 * 60 * 1000;

fn tributary(data_dir: &std::path::Path, args: &[&str]) -> String {
    let out = on_data_dir(data_dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn purge_json(data_dir: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec!["storage", "purge", "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&tributary(data_dir, &args)).expect("JSON output")
}

async fn execute(db: &Db, sql: String) {
    let mut conn = db.write().await.unwrap();
    match conn.exec() {
        Exec::Sqlite(c) => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *c)
                .await
                .unwrap();
        }
        Exec::Postgres(c) => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *c)
                .await
                .unwrap();
        }
    }
}

async fn count(db: &Db, table: &str) -> i64 {
    let mut conn = db.read().await.unwrap();
    let sql = format!("SELECT count(*) FROM {table}");
    match conn.exec() {
        Exec::Sqlite(c) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *c)
            .await
            .unwrap(),
        Exec::Postgres(c) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *c)
            .await
            .unwrap(),
    }
}

/// Two jobs that finished 40 days ago and one still queued; an integration whose operation ran
/// twice 40 days ago (the older run with three log lines goes, the newer is the latest and stays).
async fn seed(db: &Db) {
    let old = now_ms() - 40 * DAY;
    let payload = json!({});
    let jobs: Vec<NewJob<'_>> = (0..3)
        .map(|_| NewJob::new("operations", "test", &payload))
        .collect();
    let ids: Vec<String> = db
        .jobs()
        .enqueue_many(&jobs)
        .await
        .unwrap()
        .iter()
        .map(|job| job.id().to_owned())
        .collect();
    for id in &ids[..2] {
        execute(
            db,
            format!("UPDATE jobs SET state = 'succeeded', finished_at = {old} WHERE id = '{id}'"),
        )
        .await;
    }
    let (tenant, integration) = acme_with_okta(db).await;
    for (n, logs) in [(2, 3), (1, 0)] {
        let run = run_of(db, &tenant.id, &integration.id, "Sync", "manual").await;
        for line in 0..logs {
            db.runs()
                .log(
                    &tenant.id,
                    &run.id,
                    "info",
                    &format!("line {line}"),
                    &json!({}),
                )
                .await
                .unwrap();
        }
        db.runs()
            .finish(
                &tenant.id,
                &run.id,
                &RunOutcome {
                    status: RunStatus::Succeeded,
                    counters: &json!({}),
                    error_kind: None,
                    error_message: None,
                    result: None,
                },
            )
            .await
            .unwrap();
        execute(
            db,
            format!(
                "UPDATE runs SET created_at = {}, finished_at = {old} WHERE id = '{}'",
                old - n * DAY,
                run.id
            ),
        )
        .await;
    }
}

#[test]
fn dry_run_counts_then_purge_deletes_what_retention_no_longer_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let url = sqlite_url(&data);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = Db::open(&url).await.unwrap();
        seed(&db).await;
        db.close().await;
    });
    let expected = json!({
        "jobs": 2, "run_logs": 3, "runs": 1, "webhook_deliveries": 0, "ingest_failures": 0,
        "ingest_runs": 0, "auth_sessions": 0, "ui_sessions": 0, "key_ring_holders": 0,
        "audit_events": 0,
    });

    // A configuration that keeps jobs forever leaves them out.
    let config = dir.path().join("tributary.toml");
    std::fs::write(&config, "[retention]\njobs_days = 0\n").unwrap();
    let kept = purge_json(&data, &["--dry-run", "--config", config.to_str().unwrap()]);
    assert_eq!(kept["rows"]["jobs"], 0, "{kept}");
    assert_eq!(kept["rows"]["runs"], 1, "{kept}");

    let dry = purge_json(&data, &["--dry-run"]);
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["rows"], expected);
    assert_eq!(dry["total"], 6);
    let text = tributary(&data, &["storage", "purge", "--dry-run"]);
    assert!(text.contains("would delete"), "{text}");
    assert!(text.contains("6 row(s) would be deleted"), "{text}");
    let counts = |tables: &'static [&'static str]| {
        runtime.block_on(async {
            let db = Db::open(&url).await.unwrap();
            let mut counts = Vec::new();
            for table in tables {
                counts.push(count(&db, table).await);
            }
            db.close().await;
            counts
        })
    };
    assert_eq!(
        counts(&["jobs", "runs", "run_logs"]),
        [3, 2, 3],
        "a dry run deletes nothing"
    );

    let purged = purge_json(&data, &["--batch-size", "1"]);
    assert_eq!(purged["dryRun"], false);
    assert_eq!(purged["rows"], expected);
    assert_eq!(
        counts(&["jobs", "runs", "run_logs"]),
        [1, 1, 0],
        "the queued job and the latest run stay"
    );
    assert_eq!(purge_json(&data, &[])["total"], 0);
}
