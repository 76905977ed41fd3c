//! One portable statement and its bound values, run on either backend.
//!
//! Most repository calls are a single statement: its text, a few values bound in order, and one
//! way of reading the result (rows affected, one row, an optional row, every row). The functions
//! here run that once for both drivers, so a repository names only the SQL, the values (a tuple,
//! bound in order) and the row type. Statements that differ per backend, or that bind a varying
//! number of values, still use [`crate::db::on_backend!`].

use sqlx::encode::Encode;
use sqlx::error::BoxDynError;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Arguments, Database, FromRow, Postgres, SqlSafeStr, Sqlite, Type};

use crate::db::{Exec, Scope};
use crate::error::Result;

/// The values bound to a statement's `$1`, `$2`, ... in order: a tuple (`()` for none) of
/// values each backend can encode.
pub(crate) trait Params<'q, DB: Database>: Send {
    /// The driver's arguments holding these values.
    fn arguments(self) -> Result<DB::Arguments, BoxDynError>;
}

/// Values both backends can bind.
pub(crate) trait BothParams<'q>: Params<'q, Sqlite> + Params<'q, Postgres> {}

impl<'q, P: Params<'q, Sqlite> + Params<'q, Postgres>> BothParams<'q> for P {}

/// Implements [`Params`] for a tuple of `$name`s: each is added in order.
macro_rules! params_for_tuple {
    ($($name:ident),*) => {
        impl<'q, DB: Database, $($name),*> Params<'q, DB> for ($($name,)*)
        where
            $($name: Encode<'q, DB> + Type<DB> + Send + 'q,)*
        {
            #[allow(non_snake_case, unused_mut)]
            fn arguments(self) -> Result<DB::Arguments, BoxDynError> {
                let ($($name,)*) = self;
                let mut arguments = DB::Arguments::default();
                $(arguments.add($name)?;)*
                Ok(arguments)
            }
        }
    };
}

/// A varying number of values of one type (a list's optional filters), added in order.
impl<'q, DB: Database, T> Params<'q, DB> for Vec<T>
where
    T: Encode<'q, DB> + Type<DB> + Send + 'q,
{
    fn arguments(self) -> Result<DB::Arguments, BoxDynError> {
        let mut arguments = DB::Arguments::default();
        for value in self {
            arguments.add(value)?;
        }
        Ok(arguments)
    }
}

params_for_tuple!();
params_for_tuple!(A);
params_for_tuple!(A, B);
params_for_tuple!(A, B, C);
params_for_tuple!(A, B, C, D);
params_for_tuple!(A, B, C, D, E);
params_for_tuple!(A, B, C, D, E, F);
params_for_tuple!(A, B, C, D, E, F, G);
params_for_tuple!(A, B, C, D, E, F, G, H);
params_for_tuple!(A, B, C, D, E, F, G, H, I);
params_for_tuple!(A, B, C, D, E, F, G, H, I, J);
params_for_tuple!(A, B, C, D, E, F, G, H, I, J, K);
params_for_tuple!(A, B, C, D, E, F, G, H, I, J, K, L);
params_for_tuple!(A, B, C, D, E, F, G, H, I, J, K, L, M);
params_for_tuple!(A, B, C, D, E, F, G, H, I, J, K, L, M, N);

/// A row type both backends can decode (a `sqlx::FromRow` struct or a tuple).
pub(crate) trait BothRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> BothRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// Runs `$query` (a `sqlx` query function taking the statement and arguments) on the
/// connection of `$exec` and reads the result with `$fetch` (then `$then`, which makes the
/// driver's own result type common to both).
macro_rules! run {
    ($exec:expr, $query:ident, $sql:expr, $params:expr, $fetch:ident $(, $then:ident)?) => {
        match $exec {
            Exec::Sqlite(c) => {
                let arguments =
                    Params::<Sqlite>::arguments($params).map_err(sqlx::Error::Encode)?;
                sqlx::$query($sql, arguments).$fetch(c).await?$(.$then())?
            }
            Exec::Postgres(c) => {
                let arguments =
                    Params::<Postgres>::arguments($params).map_err(sqlx::Error::Encode)?;
                sqlx::$query($sql, arguments).$fetch(c).await?$(.$then())?
            }
        }
    };
}

/// Writes one [`Exec`] method per row: `name: query.fetch -> Output where [bounds]` runs the
/// statement with the `sqlx` query function `query` and reads it with its `fetch`.
macro_rules! exec_methods {
    ($($(#[$doc:meta])* $name:ident: $query:ident.$fetch:ident -> $out:ty where [$($bound:tt)*];)*) => {
        impl Exec<'_> {
            $(
                $(#[$doc])*
                pub(crate) async fn $name<'q, T>(
                    self,
                    sql: impl SqlSafeStr + Send,
                    params: impl BothParams<'q>,
                ) -> sqlx::Result<$out>
                where
                    $($bound)*
                {
                    Ok(run!(self, $query, sql, params, $fetch))
                }
            )*
        }
    };
}

exec_methods! {
    /// The statement's one row (an error if there is none).
    fetch_one: query_as_with.fetch_one -> T where [T: BothRow];
    /// The statement's first row, if any.
    fetch_optional: query_as_with.fetch_optional -> Option<T> where [T: BothRow];
    /// Every row of the statement.
    fetch_all: query_as_with.fetch_all -> Vec<T> where [T: BothRow];
    /// The one value of the statement's one row (`SELECT count(*) ...`).
    scalar_one: query_scalar_with.fetch_one -> T where [(T,): BothRow, T: Send + Unpin];
    /// The one value of the statement's first row, if any.
    scalar_optional: query_scalar_with.fetch_optional -> Option<T>
        where [(T,): BothRow, T: Send + Unpin];
    /// The one value of every row of the statement.
    scalar_all: query_scalar_with.fetch_all -> Vec<T> where [(T,): BothRow, T: Send + Unpin];
}

impl Exec<'_> {
    /// Runs a statement that returns no rows; how many rows it changed.
    pub(crate) async fn execute<'q>(
        self,
        sql: impl SqlSafeStr + Send,
        params: impl BothParams<'q>,
    ) -> sqlx::Result<u64> {
        Ok(run!(self, query_with, sql, params, execute, rows_affected))
    }
}

/// Writes one [`Scope`] method per row: `name: connection.method -> Output where [bounds]` takes
/// the scope's `read` or `write` connection and runs the [`Exec`] method on it.
macro_rules! scope_methods {
    ($($(#[$doc:meta])* $name:ident: $connection:ident.$method:ident -> $out:ty where [$($bound:tt)*];)*) => {
        impl Scope<'_> {
            $(
                $(#[$doc])*
                pub(crate) async fn $name<'q, T>(
                    &mut self,
                    sql: impl SqlSafeStr + Send,
                    params: impl BothParams<'q>,
                ) -> Result<$out>
                where
                    $($bound)*
                {
                    Ok(self.$connection().await?.exec().$method(sql, params).await?)
                }
            )*
        }
    };
}

scope_methods! {
    /// [`Exec::fetch_optional`] on the reading connection.
    fetch_optional: read.fetch_optional -> Option<T> where [T: BothRow];
    /// [`Exec::fetch_all`] on the reading connection.
    fetch_all: read.fetch_all -> Vec<T> where [T: BothRow];
    /// [`Exec::scalar_optional`] on the reading connection.
    scalar_optional: read.scalar_optional -> Option<T> where [(T,): BothRow, T: Send + Unpin];
    /// [`Exec::scalar_all`] on the reading connection.
    scalar_all: read.scalar_all -> Vec<T> where [(T,): BothRow, T: Send + Unpin];
    /// [`Exec::fetch_one`] on the writing connection (`INSERT ... RETURNING`).
    write_one: write.fetch_one -> T where [T: BothRow];
    /// [`Exec::fetch_optional`] on the writing connection (`UPDATE ... RETURNING`).
    write_optional: write.fetch_optional -> Option<T> where [T: BothRow];
    /// [`Exec::fetch_all`] on the writing connection (`UPDATE ... RETURNING`).
    write_all: write.fetch_all -> Vec<T> where [T: BothRow];
}

impl Scope<'_> {
    /// [`Exec::execute`] on the writing connection.
    pub(crate) async fn execute<'q>(
        &mut self,
        sql: impl SqlSafeStr + Send,
        params: impl BothParams<'q>,
    ) -> Result<u64> {
        Ok(self.write().await?.exec().execute(sql, params).await?)
    }
}
