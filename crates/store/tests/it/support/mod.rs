//! Helpers of the store's tests. A test on both backends is `#[each_backend]` on
//! `async fn name(backend: TestDb)` (from `tributary_store::testing`, which the store's own
//! dev-dependency on itself turns on), one generated test per backend.

use std::path::PathBuf;

use tributary_store::credentials::{Credentials, Expect};
use tributary_store::retention::{DEFAULT_BATCH_SIZE, PurgeReport, RetentionPolicy};
use tributary_store::sessions::NewAuthSession;
use tributary_store::{Db, Exec, SecretBytes};

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

/// Sweeps what `policy` lets go at `now`, in batches of the default size.
pub async fn sweep(db: &Db, policy: &RetentionPolicy, now: i64) -> PurgeReport {
    db.retention()
        .sweep(policy, now, DEFAULT_BATCH_SIZE)
        .await
        .unwrap()
}

/// An Okta OAuth sign-in started for the tenant's integration: the default lifetime, at most 100
/// open per tenant.
pub fn okta_auth_session<'a>(
    tenant_id: &'a str,
    integration_id: &'a str,
    pkce_verifier: &'a SecretBytes,
    provider_state: &'a serde_json::Value,
) -> NewAuthSession<'a> {
    NewAuthSession {
        tenant_id,
        integration_id,
        definition_id: "okta",
        connection: "OktaOAuth",
        pkce_verifier,
        nonce: "n-1",
        provider_state,
        ttl: None,
        max_open_per_tenant: 100,
    }
}

/// Saves `value` as the first credential of `slot` (none stored yet, no expiry); returns its
/// version.
pub async fn save_new_credential(
    credentials: &mut Credentials<'_>,
    tenant_id: &str,
    integration_id: &str,
    slot: &str,
    value: &str,
) -> i64 {
    credentials
        .save(
            tenant_id,
            integration_id,
            slot,
            &SecretBytes::from(value),
            Expect::Absent,
            None,
        )
        .await
        .unwrap()
}
