//! The database handle: one type over SQLite and PostgreSQL.
//!
//! Every repository function is written once, in portable SQL (`$N` placeholders, `ON CONFLICT`,
//! `RETURNING`), and run on an [`Exec`]: a borrowed connection of either backend. The
//! [`on_backend!`] macro expands a body once per backend, so the same statement text and binds are
//! compiled against both drivers without generic trait bounds.
//!
//! Encodings shared by both backends: ids are TEXT (UUID v7, see [`new_id`]), JSON is TEXT,
//! timestamps are INTEGER (BIGINT) unix milliseconds (see [`now_ms`]), booleans are INTEGER 0/1
//! only where a column must be compared in SQL.
//!
//! SQLite allows one writer at a time. The handle therefore keeps a writer pool of exactly one
//! connection (writers queue in process, fairly, instead of sleeping in SQLite's busy handler)
//! and a separate pool of readers (WAL lets them read while a write is in progress). Other
//! processes sharing the file are handled by the busy timeout. Transactions on SQLite start with
//! `BEGIN IMMEDIATE`, so they take the write lock up front and never fail half-way with
//! `SQLITE_BUSY`. Consequence: on SQLite, while a [`Tx`] is open, a write through the [`Db`]
//! itself waits for that transaction to finish; do writes through the transaction.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Postgres, SqlSafeStr, Sqlite, Transaction};
use tokio::sync::Notify;

use crate::error::{Result, StoreError};

/// The optional filters of a list: for each condition that has a value, appends
/// ` AND {condition}$n` to `sql`, `n` being that value's place in `binds`.
pub(crate) fn push_filters<B>(
    sql: &mut String,
    binds: &mut Vec<B>,
    filters: impl IntoIterator<Item = (&'static str, Option<B>)>,
) {
    for (condition, value) in filters {
        if let Some(value) = value {
            binds.push(value);
            sql.push_str(&format!(" AND {condition}${}", binds.len()));
        }
    }
}

/// Runs `$body` with `$c` bound to the backend's concrete `&mut Connection`.
///
/// The body is compiled once per backend; write it with `sqlx::query`/`query_as`/`query_scalar`
/// and use `&mut *$c` as the executor (reborrow it when running several statements).
///
/// ```ignore
/// let n: i64 = on_backend!(exec, |c| {
///     sqlx::query_scalar("SELECT count(*) FROM tenants").fetch_one(&mut *c).await?
/// });
/// ```
macro_rules! on_backend {
    ($exec:expr, |$c:ident| $body:expr) => {
        match $exec {
            $crate::db::Exec::Sqlite($c) => $body,
            $crate::db::Exec::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file (or memory), one process writing at a time.
    Sqlite,
    /// A server shared by several processes.
    Postgres,
}

/// How to open a database. `Db::open(url)` covers the common case.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// `sqlite://path/to/file.db`, `sqlite:relative.db`, `sqlite::memory:` or
    /// `postgres://user@host/db`.
    pub url: String,
    /// PostgreSQL only: run in this schema (created if missing) by setting `search_path` on every
    /// connection. Tests use it so each test has its own tables.
    pub postgres_schema: Option<String>,
    /// Maximum pooled connections (PostgreSQL pool, SQLite readers). Default 8.
    pub max_connections: u32,
    /// How long a connection waits for a locked SQLite database. Default 5 s.
    pub busy_timeout: Duration,
}

impl OpenOptions {
    /// Options with defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        OpenOptions {
            url: url.into(),
            postgres_schema: None,
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
        }
    }

    /// Runs in `schema` on PostgreSQL (ignored on SQLite).
    pub fn postgres_schema(mut self, schema: impl Into<String>) -> Self {
        self.postgres_schema = Some(schema.into());
        self
    }

    /// Sets the pool size.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }
}

#[derive(Debug)]
enum Pools {
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres {
        pool: PgPool,
    },
}

#[derive(Debug)]
struct Inner {
    pools: Pools,
    /// Wakes job workers in this process when a job is enqueued (SQLite has no NOTIFY).
    job_wake: Arc<Notify>,
    /// Webhook endpoints as intake reads them, emptied by every change to them.
    intake_cache: crate::intake_cache::IntakeCache,
}

/// A cheap-to-clone handle to the database, with migrations applied.
#[derive(Debug, Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

impl Db {
    /// Opens (creating if needed) the database at `url` and applies the embedded migrations.
    pub async fn open(url: &str) -> Result<Db> {
        Db::open_with(OpenOptions::new(url)).await
    }

    /// Opens with explicit options and applies the embedded migrations.
    pub async fn open_with(options: OpenOptions) -> Result<Db> {
        let url = options.url.trim();
        let db = if url.starts_with("sqlite:") {
            open_sqlite(url, &options).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            open_postgres(url, &options).await?
        } else {
            return Err(StoreError::Config(
                "database URL must start with sqlite: or postgres://".into(),
            ));
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<()> {
        match &self.inner.pools {
            Pools::Sqlite { writer, .. } => sqlx::migrate!("migrations/sqlite").run(writer).await?,
            Pools::Postgres { pool, .. } => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// The backend this handle talks to.
    pub fn backend(&self) -> Backend {
        match self.inner.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Webhook endpoints as intake reads them ([`crate::intake_cache`]).
    pub(crate) fn intake_cache(&self) -> &crate::intake_cache::IntakeCache {
        &self.inner.intake_cache
    }

    /// Starts a transaction (`BEGIN IMMEDIATE` on SQLite). Dropping it without
    /// [`Tx::commit`] rolls it back.
    pub async fn begin(&self) -> Result<Tx> {
        let inner = match &self.inner.pools {
            Pools::Sqlite { writer, .. } => {
                TxInner::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?)
            }
            Pools::Postgres { pool, .. } => TxInner::Postgres(pool.begin().await?),
        };
        Ok(Tx::new(inner, self.clone(), false))
    }

    /// A transaction whose commit returns only once it is on disk ([`Durability::Fsync`]), for
    /// writes that are acknowledged to someone who will not send them again (a webhook
    /// delivery). SQLite: the writer connection runs it with `synchronous=FULL` (the WAL is
    /// fsync'd at commit; the database otherwise runs `NORMAL`, durable at the next
    /// checkpoint), set back to `NORMAL` after the commit. PostgreSQL: `synchronous_commit = on`
    /// for this transaction, whatever the server's default. One such commit costs an fsync, so
    /// callers batch (see the runtime's group commit of webhook intake).
    pub async fn begin_durable(&self) -> Result<Tx> {
        let (inner, restore_normal_sync) = match &self.inner.pools {
            Pools::Sqlite { writer, .. } => {
                // The pragma cannot change inside a transaction: set on the connection first,
                // and the transaction begun on that same connection.
                let mut conn = writer.acquire().await?;
                sqlx::query("PRAGMA synchronous = FULL")
                    .execute(&mut *conn)
                    .await?;
                let begin = "BEGIN IMMEDIATE".into_sql_str();
                (
                    TxInner::Sqlite(Transaction::begin(conn, Some(begin)).await?),
                    true,
                )
            }
            Pools::Postgres { pool, .. } => {
                // One round trip: the begin statement goes as a simple query, which may hold
                // two statements.
                let tx = pool
                    .begin_with("BEGIN; SET LOCAL synchronous_commit = on")
                    .await?;
                (TxInner::Postgres(tx), false)
            }
        };
        Ok(Tx::new(inner, self.clone(), restore_normal_sync))
    }

    /// Sets the SQLite writer connection back to `synchronous=NORMAL` after a durable
    /// transaction. A failure only leaves later commits fsync'd too (slower, not less safe).
    async fn restore_normal_sync(&self) {
        if let Pools::Sqlite { writer, .. } = &self.inner.pools {
            let restored = match writer.acquire().await {
                Ok(mut conn) => sqlx::query("PRAGMA synchronous = NORMAL")
                    .execute(&mut *conn)
                    .await
                    .map(|_| ()),
                Err(error) => Err(error),
            };
            if let Err(error) = restored {
                tracing::warn!(%error, "the SQLite writer stays at synchronous=FULL");
            }
        }
    }

    /// A pooled connection for reads (on SQLite, from the reader pool).
    pub async fn read(&self) -> Result<Conn> {
        Ok(match &self.inner.pools {
            Pools::Sqlite { reader, .. } => Conn::Sqlite(reader.acquire().await?),
            Pools::Postgres { pool, .. } => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// A pooled connection for single-statement writes outside a transaction (on SQLite, the one
    /// writer connection).
    pub async fn write(&self) -> Result<Conn> {
        Ok(match &self.inner.pools {
            Pools::Sqlite { writer, .. } => Conn::Sqlite(writer.acquire().await?),
            Pools::Postgres { pool, .. } => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// Closes every pooled connection (waits for borrowed ones to come back).
    pub async fn close(&self) {
        match &self.inner.pools {
            Pools::Sqlite { writer, reader } => {
                writer.close().await;
                reader.close().await;
            }
            Pools::Postgres { pool, .. } => pool.close().await,
        }
    }

    /// SQLite: folds the write-ahead log back into the main file (used before inspecting the
    /// file's bytes, and by backups). A no-op on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<()> {
        if let Pools::Sqlite { writer, .. } = &self.inner.pools {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(writer)
                .await?;
        }
        Ok(())
    }

    pub(crate) fn job_wake(&self) -> &Arc<Notify> {
        &self.inner.job_wake
    }

    /// Wakes the job workers listening for these queues (PostgreSQL `NOTIFY`; nothing on
    /// SQLite, whose workers share this process's in-memory wake-up).
    pub(crate) async fn notify_queues(&self, queues: &[String]) -> Result<()> {
        if let Pools::Postgres { pool, .. } = &self.inner.pools {
            for queue in queues {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(crate::jobs::NOTIFY_CHANNEL)
                    .bind(queue)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// The PostgreSQL pool (LISTEN connections are made from it); None on SQLite.
    pub(crate) fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.inner.pools {
            Pools::Postgres { pool, .. } => Some(pool),
            Pools::Sqlite { .. } => None,
        }
    }
}

async fn open_sqlite(url: &str, options: &OpenOptions) -> Result<Db> {
    let connect = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("sqlite URL: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout);
    let path = connect.get_filename().to_path_buf();
    let in_memory = is_memory(url, &path);
    if let Some(parent) = path
        .parent()
        .filter(|p| !in_memory && !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    if !in_memory {
        private_file::create(&path)?;
    }
    let (writer, reader, job_wake) = if in_memory {
        // Each connection to an in-memory database is its own database: use exactly one,
        // kept forever, for both roles.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect)
            .await?;
        (pool.clone(), pool, Arc::new(Notify::new()))
    } else {
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(connect.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .connect_with(connect)
            .await?;
        // SQLite gives a new -wal and -shm the database file's mode; ones left by an older
        // version (or copied in) may be wider.
        private_file::narrow_companions(&path);
        (writer, reader, shared_wake(&path))
    };
    Ok(Db {
        inner: Arc::new(Inner {
            pools: Pools::Sqlite { writer, reader },
            job_wake,
            intake_cache: Default::default(),
        }),
    })
}

/// The SQLite file and its `-wal` and `-shm` companions hold personal data (ingested records) and
/// sealed secrets: they are readable and writable by the owner only (0600), whatever the umask.
mod private_file {
    use std::path::{Path, PathBuf};

    /// Mode of the database file and its companions.
    #[cfg(unix)]
    const MODE: u32 = 0o600;

    /// Creates the database file with [`MODE`] if it does not exist (before SQLite would create
    /// it with 0644 less the umask), and narrows an existing one.
    pub(super) fn create(path: &Path) -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, MODE);
        options.open(path)?;
        narrow(path);
        Ok(())
    }

    /// Narrows the `-wal` and `-shm` files of `path`, where they exist.
    pub(super) fn narrow_companions(path: &Path) {
        for suffix in ["-wal", "-shm"] {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            let companion = PathBuf::from(companion);
            if companion.exists() {
                narrow(&companion);
            }
        }
    }

    /// Sets [`MODE`] on an existing file. A file this process may use but not change (another
    /// user's, shared through its group) stays as it is, with a warning: refusing to start
    /// would not make it private.
    fn narrow(path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let wider = std::fs::metadata(path)
                .map(|meta| meta.permissions().mode() & 0o777 != MODE)
                .unwrap_or(false);
            if wider
                && let Err(err) =
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(MODE))
            {
                tracing::warn!(
                    file = %path.display(),
                    error = %err,
                    "could not make the database file private (mode 0600)"
                );
            }
        }
        #[cfg(not(unix))]
        let _ = path;
    }
}

fn is_memory(url: &str, path: &Path) -> bool {
    url.contains(":memory:") || url.contains("mode=memory") || path.as_os_str() == ":memory:"
}

/// One wake-up signal per SQLite file per process, so two handles opened on the same file
/// (two workers in one process) wake each other.
fn shared_wake(path: &Path) -> Arc<Notify> {
    static WAKES: OnceLock<Mutex<HashMap<PathBuf, Weak<Notify>>>> = OnceLock::new();
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut wakes = WAKES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    wakes.retain(|_, weak| weak.strong_count() > 0);
    if let Some(existing) = wakes.get(&key).and_then(Weak::upgrade) {
        return existing;
    }
    let wake = Arc::new(Notify::new());
    wakes.insert(key, Arc::downgrade(&wake));
    wake
}

async fn open_postgres(url: &str, options: &OpenOptions) -> Result<Db> {
    let mut connect = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("postgres URL: {e}")))?;
    if let Some(schema) = &options.postgres_schema {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Config(
                "postgres schema names may use letters, digits and _ only".into(),
            ));
        }
        let mut admin = PgConnection::connect_with(&connect).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&mut admin)
        .await?;
        admin.close().await?;
        connect = connect.options([("search_path", schema.as_str())]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections)
        .connect_with(connect)
        .await?;
    Ok(Db {
        inner: Arc::new(Inner {
            pools: Pools::Postgres { pool },
            job_wake: Arc::new(Notify::new()),
            intake_cache: Default::default(),
        }),
    })
}

/// A borrowed connection of either backend: what every repository function runs on.
#[derive(Debug)]
pub enum Exec<'c> {
    /// A SQLite connection (pooled or inside a transaction).
    Sqlite(&'c mut SqliteConnection),
    /// A PostgreSQL connection (pooled or inside a transaction).
    Postgres(&'c mut PgConnection),
}

impl Exec<'_> {
    /// Reborrows for a shorter lifetime, so one `Exec` can run several statements.
    pub fn reborrow(&mut self) -> Exec<'_> {
        match self {
            Exec::Sqlite(c) => Exec::Sqlite(c),
            Exec::Postgres(c) => Exec::Postgres(c),
        }
    }

    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            Exec::Sqlite(_) => Backend::Sqlite,
            Exec::Postgres(_) => Backend::Postgres,
        }
    }
}

/// A pooled connection, returned to its pool on drop.
#[derive(Debug)]
pub enum Conn {
    /// SQLite.
    Sqlite(sqlx::pool::PoolConnection<Sqlite>),
    /// PostgreSQL.
    Postgres(sqlx::pool::PoolConnection<Postgres>),
}

impl Conn {
    /// The connection as an [`Exec`].
    pub fn exec(&mut self) -> Exec<'_> {
        match self {
            Conn::Sqlite(c) => Exec::Sqlite(c),
            Conn::Postgres(c) => Exec::Postgres(c),
        }
    }
}

#[derive(Debug)]
enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// How a transaction ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Commit,
    Rollback,
}

/// An open transaction. Commit with [`Tx::commit`]; dropping it rolls back.
#[derive(Debug)]
pub struct Tx {
    inner: TxInner,
    /// Set when a job was enqueued, so in-process workers are woken after the commit.
    job_wake: Option<Arc<Notify>>,
    /// PostgreSQL: the job queues to `NOTIFY` once committed. A transaction that notifies holds
    /// a database-wide lock through its commit (PostgreSQL keeps notifications in commit
    /// order), so notifying inside it would serialise every such commit and its WAL flush:
    /// concurrent intake commits could not share an fsync.
    notify_after_commit: Vec<String>,
    /// Webhook endpoints (or what owns them) changed: intake's cache is emptied at commit.
    endpoints_changed: bool,
    db: Db,
    /// A durable SQLite transaction: its connection goes back to `synchronous=NORMAL` after.
    restore_normal_sync: bool,
}

/// When a transaction's commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Before the commit returns: the log is flushed (SQLite `synchronous` FULL or EXTRA in WAL
    /// mode; PostgreSQL `synchronous_commit` other than `off`).
    Fsync,
    /// Possibly after: an OS crash or power loss can undo a commit that returned (SQLite
    /// `NORMAL` in WAL mode; PostgreSQL `synchronous_commit = off`).
    Deferred,
}

impl Tx {
    /// A transaction just begun on `db`, with nothing to do after its commit yet.
    fn new(inner: TxInner, db: Db, restore_normal_sync: bool) -> Tx {
        Tx {
            inner,
            job_wake: None,
            notify_after_commit: Vec::new(),
            endpoints_changed: false,
            db,
            restore_normal_sync,
        }
    }

    /// The transaction's connection as an [`Exec`].
    pub fn exec(&mut self) -> Exec<'_> {
        match &mut self.inner {
            TxInner::Sqlite(t) => Exec::Sqlite(t),
            TxInner::Postgres(t) => Exec::Postgres(t),
        }
    }

    /// The handle this transaction came from.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Commits, then wakes in-process job workers if jobs were enqueued.
    pub async fn commit(self) -> Result<()> {
        Tx::end(
            self.inner,
            &self.db,
            self.restore_normal_sync,
            Ending::Commit,
        )
        .await?;
        if self.endpoints_changed {
            self.db.intake_cache().invalidate();
        }
        if let Some(wake) = self.job_wake {
            wake.notify_waiters();
        }
        if !self.notify_after_commit.is_empty() {
            // A lost wake-up only delays a worker until its next poll; the jobs are committed.
            if let Err(error) = self.db.notify_queues(&self.notify_after_commit).await {
                tracing::warn!(%error, "waking job workers after a commit failed; they poll");
            }
        }
        Ok(())
    }

    /// Rolls back explicitly (dropping the transaction does the same).
    pub async fn rollback(self) -> Result<()> {
        Ok(Tx::end(
            self.inner,
            &self.db,
            self.restore_normal_sync,
            Ending::Rollback,
        )
        .await?)
    }

    /// Ends the driver's transaction; a durable SQLite transaction's connection goes back to
    /// `synchronous=NORMAL` whatever the outcome.
    async fn end(
        inner: TxInner,
        db: &Db,
        restore_normal_sync: bool,
        ending: Ending,
    ) -> sqlx::Result<()> {
        let ended = match (inner, ending) {
            (TxInner::Sqlite(t), Ending::Commit) => t.commit().await,
            (TxInner::Sqlite(t), Ending::Rollback) => t.rollback().await,
            (TxInner::Postgres(t), Ending::Commit) => t.commit().await,
            (TxInner::Postgres(t), Ending::Rollback) => t.rollback().await,
        };
        if restore_normal_sync {
            db.restore_normal_sync().await;
        }
        ended
    }

    /// When this transaction's commit will reach the disk, read from the connection's own
    /// settings: what a caller that acknowledges the commit checks before it does.
    pub async fn durability(&mut self) -> Result<Durability> {
        let fsync = match &mut self.inner {
            TxInner::Sqlite(t) => {
                let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
                    .fetch_one(&mut **t)
                    .await?;
                // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
                level >= 2
            }
            TxInner::Postgres(t) => {
                let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
                    .fetch_one(&mut **t)
                    .await?;
                setting != "off"
            }
        };
        Ok(if fsync {
            Durability::Fsync
        } else {
            Durability::Deferred
        })
    }

    /// PostgreSQL: lets this transaction's commit return before its WAL is flushed
    /// (`synchronous_commit = off` for this transaction only). Only for writes that are safe to
    /// lose in a server crash: job claims (the job is simply queued again) and job results (the
    /// job runs again after its lease, as after any crash). No-op on SQLite, whose WAL commits
    /// do not wait for the disk with `synchronous=NORMAL` anyway.
    pub(crate) async fn relax_durability(&mut self) -> Result<()> {
        if let TxInner::Postgres(t) = &mut self.inner {
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }

    /// Serialises this transaction with every other one locking the same `key`, in any process,
    /// until it commits or rolls back (PostgreSQL: a transaction-level advisory lock). SQLite
    /// needs none: its transactions already exclude each other (`BEGIN IMMEDIATE`).
    pub async fn lock_key(&mut self, key: &str) -> Result<()> {
        if let TxInner::Postgres(t) = &mut self.inner {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }

    pub(crate) fn wake_workers_on_commit(&mut self) {
        self.job_wake = Some(self.db.job_wake().clone());
    }

    /// Notifies the workers listening for `queue` (PostgreSQL) once this transaction commits.
    pub(crate) fn notify_queue_on_commit(&mut self, queue: &str) {
        if !self.notify_after_commit.iter().any(|q| q == queue) {
            self.notify_after_commit.push(queue.to_owned());
        }
    }
}

/// Where a repository call runs: on the database (a pooled connection per call) or inside a
/// caller's transaction. Repositories are created with `db.xxx()` or `tx.xxx()`.
#[derive(Debug)]
pub enum Scope<'a> {
    /// Each call takes a pooled connection.
    Db(&'a Db),
    /// Calls run inside this transaction.
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Db> for Scope<'a> {
    fn from(db: &'a Db) -> Self {
        Scope::Db(db)
    }
}

impl<'a> From<&'a mut Tx> for Scope<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Scope::Tx(tx)
    }
}

impl Scope<'_> {
    /// A connection for reading.
    pub async fn read(&mut self) -> Result<Handle<'_>> {
        Ok(match self {
            Scope::Db(db) => Handle::Pooled(db.read().await?),
            Scope::Tx(tx) => Handle::Tx(tx),
        })
    }

    /// A connection for writing.
    pub async fn write(&mut self) -> Result<Handle<'_>> {
        Ok(match self {
            Scope::Db(db) => Handle::Pooled(db.write().await?),
            Scope::Tx(tx) => Handle::Tx(tx),
        })
    }

    /// Records that webhook endpoints, or the integrations or tenants owning them, were changed
    /// by this scope's last write: intake's cache is emptied now, or when the transaction
    /// commits.
    pub(crate) fn endpoints_changed(&mut self) {
        match self {
            Scope::Db(db) => db.intake_cache().invalidate(),
            Scope::Tx(tx) => tx.endpoints_changed = true,
        }
    }

    /// The database handle behind this scope.
    pub fn db(&self) -> &Db {
        match self {
            Scope::Db(db) => db,
            Scope::Tx(tx) => tx.db(),
        }
    }
}

/// A connection obtained from a [`Scope`].
#[derive(Debug)]
pub enum Handle<'a> {
    /// A pooled connection owned for this call.
    Pooled(Conn),
    /// The caller's transaction.
    Tx(&'a mut Tx),
}

impl Handle<'_> {
    /// The connection as an [`Exec`].
    pub fn exec(&mut self) -> Exec<'_> {
        match self {
            Handle::Pooled(c) => c.exec(),
            Handle::Tx(tx) => tx.exec(),
        }
    }
}

/// A new row id: a UUID v7 as text (time-ordered, so ids sort by creation).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current time as unix milliseconds, the timestamp encoding of every table.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}
