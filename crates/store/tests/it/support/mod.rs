//! The shared harness: every store test runs once per backend.
//!
//! SQLite gets a fresh file in a temporary directory. PostgreSQL (`postgres://postgres@127.0.0.1/test`,
//! or `TRIBUTARY_TEST_POSTGRES_URL`) gets a fresh schema per test, so tests run in parallel. With
//! `CI=true` an unreachable PostgreSQL fails the test; otherwise that half is skipped with a notice.

use std::sync::atomic::{AtomicUsize, Ordering};

use tributary_store::{Db, Exec, OpenOptions};

/// One backend under test.
pub struct TestDb {
    /// `sqlite` or `postgres`.
    pub name: &'static str,
    /// The handle.
    pub db: Db,
    /// The URL it was opened with.
    pub url: String,
    /// PostgreSQL schema of this test.
    pub schema: Option<String>,
    /// SQLite database file.
    pub file: Option<std::path::PathBuf>,
    /// Keeps the SQLite directory alive.
    #[allow(dead_code, reason = "held, never read")]
    pub dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Opens a second, independent handle on the same database (another "process").
    pub async fn reopen(&self) -> Db {
        let mut options = OpenOptions::new(&self.url);
        if let Some(schema) = &self.schema {
            options = options.postgres_schema(schema.clone());
        }
        Db::open_with(options).await.expect("reopen")
    }
}

pub fn postgres_url() -> String {
    std::env::var("TRIBUTARY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into())
}

fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A fresh SQLite database.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested").join("store.db");
    let url = format!("sqlite://{}", file.display());
    let db = Db::open(&url).await.expect("open sqlite");
    TestDb {
        name: "sqlite",
        db,
        url,
        schema: None,
        file: Some(file),
        dir: Some(dir),
    }
}

/// A fresh PostgreSQL schema, or None (outside CI) when PostgreSQL is unreachable.
pub async fn postgres() -> Option<TestDb> {
    let url = postgres_url();
    let schema = unique("store");
    match Db::open_with(
        OpenOptions::new(&url)
            .postgres_schema(schema.clone())
            .max_connections(10),
    )
    .await
    {
        Ok(db) => Some(TestDb {
            name: "postgres",
            db,
            url,
            schema: Some(schema),
            file: None,
            dir: None,
        }),
        Err(error) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("PostgreSQL unreachable ({error}); skipping the PostgreSQL half outside CI");
            None
        }
        Err(error) => panic!("PostgreSQL is required when CI=true: {error}"),
    }
}

/// Both backends (PostgreSQL when reachable).
pub async fn backends() -> Vec<TestDb> {
    let mut all = vec![sqlite().await];
    all.extend(postgres().await);
    all
}

/// Runs one statement outside the repositories (test tables, tampering).
pub async fn execute(db: &Db, sql: &str) {
    let mut conn = db.write().await.unwrap();
    match conn.exec() {
        Exec::Sqlite(c) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut *c)
                .await
                .unwrap();
        }
        Exec::Postgres(c) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut *c)
                .await
                .unwrap();
        }
    }
}

/// Runs a query returning one integer.
pub async fn scalar(db: &Db, sql: &str) -> i64 {
    let mut conn = db.read().await.unwrap();
    match conn.exec() {
        Exec::Sqlite(c) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut *c)
            .await
            .unwrap(),
        Exec::Postgres(c) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut *c)
            .await
            .unwrap(),
    }
}

/// A tenant and one integration of it: (tenant id, integration id).
pub async fn tenant_with_integration(db: &Db, name: &str) -> (String, String) {
    let tenant = db.tenants().create(name).await.unwrap();
    let integration = db
        .integrations()
        .create(
            &tenant.id,
            "okta",
            &format!("{name} Okta"),
            &serde_json::json!({"org": "acme"}),
        )
        .await
        .unwrap();
    (tenant.id, integration.id)
}
