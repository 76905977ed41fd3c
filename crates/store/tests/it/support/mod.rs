//! Helpers of the store's tests. A test on both backends is `#[each_backend]` on
//! `async fn name(backend: TestDb)` (from `tributary_store::testing`, which the store's own
//! dev-dependency on itself turns on), one generated test per backend.

use std::path::PathBuf;

use tributary_store::{Db, Exec};

/// A fresh SQLite database whose file the test reads: `tributary_store::testing` hands out a
/// database, not its path. The file sits in a directory that does not exist yet, so opening
/// checks that the store creates it.
pub struct SqliteFile {
    pub db: Db,
    pub file: PathBuf,
    /// Keeps the directory alive.
    _dir: tempfile::TempDir,
}

pub async fn sqlite_file() -> SqliteFile {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested").join("store.db");
    let db = Db::open(&format!("sqlite://{}", file.display()))
        .await
        .expect("open sqlite");
    SqliteFile {
        db,
        file,
        _dir: dir,
    }
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
