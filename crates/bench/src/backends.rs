//! What every suite that measures both databases shares: where PostgreSQL is (each measurement
//! uses a fresh schema, dropped afterwards) and the percentiles of a sorted sample.

/// The databases a suite measures.
#[derive(clap::Args)]
pub struct Backends {
    /// PostgreSQL to measure (each run uses a fresh schema, dropped afterwards).
    #[arg(
        long,
        env = "TRIBUTARY_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1/test"
    )]
    pub postgres_url: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    pub sqlite_only: bool,
}

/// Drops a suite's PostgreSQL schema; a failure only leaves it behind.
pub async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection as _;
    if let Ok(mut conn) = sqlx::PgConnection::connect(url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .execute(&mut conn)
        .await;
    }
}

/// The value at quantile `q` of an ascending sample (nearest rank); 0 for an empty one.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let last = sorted.len().saturating_sub(1);
    sorted
        .get(((last as f64) * q).round() as usize)
        .copied()
        .unwrap_or_default()
}

/// `value` to one decimal, for the printed figures.
pub fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
