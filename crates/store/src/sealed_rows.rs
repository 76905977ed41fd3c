//! Counting a table's sealed values by the key that sealed them, for key rotation. Each
//! repository that seals names its table and key column once; the counting is written here once.

use std::collections::BTreeMap;

use crate::db::Db;
use crate::error::Result;

/// Where a repository keeps the key id of its sealed values.
pub(crate) struct SealedColumn {
    pub table: &'static str,
    pub key_column: &'static str,
}

impl SealedColumn {
    /// How many values are sealed under another key than `primary`.
    pub(crate) async fn count_not_under(&self, db: &Db, primary: &str) -> Result<u64> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} <> $1",
            self.table, self.key_column
        );
        let mut conn = db.read().await?;
        let (count,): (i64,) = conn
            .exec()
            .fetch_one(sqlx::AssertSqlSafe(sql.clone()), (primary,))
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// How many values each key id seals.
    pub(crate) async fn count_by_key(&self, db: &Db) -> Result<BTreeMap<String, u64>> {
        let sql = format!(
            "SELECT {0}, count(*) FROM {1} GROUP BY {0}",
            self.key_column, self.table
        );
        let mut conn = db.read().await?;
        let rows: Vec<(String, i64)> = conn
            .exec()
            .fetch_all(sqlx::AssertSqlSafe(sql.clone()), ())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, n)| (id, u64::try_from(n).unwrap_or(0)))
            .collect())
    }
}
