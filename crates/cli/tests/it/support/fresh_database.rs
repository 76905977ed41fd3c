//! A fresh PostgreSQL database for a test that starts `tributary` processes (which take a
//! database URL, not a schema), shared by the areas that need one.

/// A database created for one test and dropped by [`FreshDatabase::drop_it`], or none outside CI
/// when PostgreSQL is unreachable.
pub struct FreshDatabase {
    admin: String,
    name: String,
}

/// Runs `test` with the URL of a fresh database named after `prefix`, then drops the database;
/// runs nothing outside CI when PostgreSQL is unreachable.
pub fn on_fresh_database(prefix: &str, test: impl FnOnce(String)) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(database) = rt.block_on(FreshDatabase::create(prefix)) else {
        return;
    };
    test(database.url());
    rt.block_on(database.drop_it());
}

impl FreshDatabase {
    /// Creates `<prefix>_<pid>_<ms>` on the test server (`TRIBUTARY_TEST_POSTGRES_URL`).
    pub async fn create(prefix: &str) -> Option<Self> {
        use sqlx::Connection;
        let admin = std::env::var("TRIBUTARY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into());
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            tributary_store::now_ms()
        );
        match sqlx::PgConnection::connect(&admin).await {
            Ok(mut conn) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Some(Self { admin, name })
            }
            Err(error) if !matches!(std::env::var("CI").as_deref(), Ok("true" | "1")) => {
                eprintln!("PostgreSQL unreachable ({error}); skipping outside CI");
                None
            }
            Err(error) => panic!("PostgreSQL is required when CI=true: {error}"),
        }
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        let base = self
            .admin
            .rsplit_once('/')
            .map_or(self.admin.as_str(), |(base, _)| base);
        format!("{base}/{}", self.name)
    }

    /// Drops the database, closing its connections.
    pub async fn drop_it(self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await;
        }
    }
}
