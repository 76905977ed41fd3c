//! Bind placeholders for statements with many parameters (multi-row inserts, long `IN` lists).
//!
//! PostgreSQL numbers its parameters (`$1`, `$2`...), and a value used in every row can be bound
//! once and named again. On SQLite, numbered and named parameters are kept in a list that
//! `sqlite3_bind_parameter_name` searches from the start, and sqlx asks it for the name of each
//! parameter when it binds: binding a statement with thousands of `$N` costs time quadratic in
//! their number (half the CPU time of an ingest batch of 500 records, once). Anonymous `?`
//! parameters are not in that list, so on SQLite every placeholder is a `?`, bound in the order
//! it appears, and a value used in every row is bound again for each row.

use crate::db::Backend;

/// Writes placeholders in the order their values are bound.
#[derive(Debug)]
pub(crate) struct Placeholders {
    backend: Backend,
    bound: usize,
}

impl Placeholders {
    /// Placeholders for `backend`. On PostgreSQL the first `shared` values are bound once, as
    /// `$1..$shared`, and the placeholders this writes are numbered after them; on SQLite there
    /// are no shared binds.
    pub(crate) fn new(backend: Backend, shared: usize) -> Self {
        let bound = match backend {
            Backend::Sqlite => 0,
            Backend::Postgres => shared,
        };
        Self { backend, bound }
    }

    /// Whether each use of a shared value needs a bind of its own, where it appears (SQLite).
    pub(crate) fn rebinds_shared_values(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// Appends a use of shared value `number` (1-based): `$number` on PostgreSQL, a `?` to bind
    /// it again on SQLite.
    pub(crate) fn push_shared(&mut self, sql: &mut String, number: usize) {
        match self.backend {
            Backend::Sqlite => self.push(sql),
            Backend::Postgres => {
                sql.push('$');
                sql.push_str(&number.to_string());
            }
        }
    }

    /// Appends the next placeholder to `sql`.
    pub(crate) fn push(&mut self, sql: &mut String) {
        self.bound += 1;
        match self.backend {
            Backend::Sqlite => sql.push('?'),
            Backend::Postgres => {
                sql.push('$');
                sql.push_str(&self.bound.to_string());
            }
        }
    }

    /// Appends `count` placeholders separated by commas.
    pub(crate) fn push_list(&mut self, sql: &mut String, count: usize) {
        for index in 0..count {
            if index > 0 {
                sql.push_str(", ");
            }
            self.push(sql);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_anonymous_placeholders_and_postgres_numbered_ones() {
        let write = |backend| {
            let mut sql = String::new();
            let mut placeholders = Placeholders::new(backend, 3);
            placeholders.push_list(&mut sql, 3);
            sql.push_str(" | ");
            placeholders.push_shared(&mut sql, 2);
            sql.push_str(" | ");
            placeholders.push(&mut sql);
            (sql, placeholders.rebinds_shared_values())
        };
        assert_eq!(write(Backend::Sqlite), ("?, ?, ? | ? | ?".to_owned(), true));
        assert_eq!(
            write(Backend::Postgres),
            ("$4, $5, $6 | $2 | $7".to_owned(), false)
        );
    }
}
