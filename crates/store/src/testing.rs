//! Test databases for the tests of crates built on the store (runtime, server): a fresh SQLite
//! file or a fresh PostgreSQL schema per test, so tests run in parallel. PostgreSQL is
//! `postgres://postgres@127.0.0.1/test` unless `TRIBUTARY_TEST_POSTGRES_URL` says otherwise; with
//! `CI=true` an unreachable PostgreSQL fails the test, elsewhere that half is skipped with a note.
//! `#[each_backend]` on `async fn name(backend: TestDb)` makes the tests `name_sqlite` and
//! `name_postgres` of it.

use std::sync::atomic::{AtomicUsize, Ordering};

pub use tributary_derive::each_backend;

use crate::{Db, OpenOptions};

/// One backend under test.
pub struct TestDb {
    /// `sqlite` or `postgres`.
    pub name: &'static str,
    pub db: Db,
    pub url: String,
    /// PostgreSQL schema of this test.
    pub schema: Option<String>,
    /// Keeps the SQLite directory alive.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A second, independent handle on the same database (another "process").
    pub async fn reopen(&self) -> Db {
        let mut options = OpenOptions::new(&self.url);
        if let Some(schema) = &self.schema {
            options = options.postgres_schema(schema.clone());
        }
        Db::open_with(options)
            .await
            .expect("reopen the test database")
    }
}

/// The PostgreSQL server tests use.
pub fn postgres_url() -> String {
    std::env::var("TRIBUTARY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into())
}

/// A schema name no other test uses. PostgreSQL cuts names at 63 bytes, which would cut off the
/// unique suffix of a long prefix (a test's name), so the prefix is shortened first.
fn unique(prefix: &str) -> String {
    const PREFIX_CHARS: usize = 32;
    let prefix = match prefix.char_indices().nth(PREFIX_CHARS) {
        Some((end, _)) => &prefix[..end],
        None => prefix,
    };
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A fresh SQLite database in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let db = Db::open(&url).await.expect("open sqlite");
    TestDb {
        name: "sqlite",
        db,
        url,
        schema: None,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL schema, or `None` (outside CI) when PostgreSQL is unreachable.
pub async fn postgres(prefix: &str) -> Option<TestDb> {
    let url = postgres_url();
    let schema = unique(prefix);
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
            _dir: None,
        }),
        Err(error) if !matches!(std::env::var("CI").as_deref(), Ok("true" | "1")) => {
            eprintln!("PostgreSQL unreachable ({error}); skipping the PostgreSQL half outside CI");
            None
        }
        Err(error) => panic!("PostgreSQL is required when CI=true: {error}"),
    }
}
