//! The store's error type. Messages never contain secret material: ciphertexts, keys and tokens
//! are described, never printed.

/// Everything a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL or options could not be understood.
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// The database driver reported an error (connection, constraint, syntax).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row the caller named does not exist (or belongs to another tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A compare-and-swap write lost: the row changed since the caller read it.
    #[error("{what} was changed concurrently (expected version {expected}, found {found})")]
    Conflict {
        /// What kind of row it was.
        what: &'static str,
        /// The version the caller expected.
        expected: i64,
        /// The version the database holds (0 when the row is missing).
        found: i64,
    },
    /// A unique value (name, idempotency key, delivery id) is already taken.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// A per-tenant cap would be exceeded (open auth sessions); the caller should wait for some
    /// to be used or to expire.
    #[error("too many {what} (at most {limit})")]
    LimitReached {
        /// What is counted.
        what: &'static str,
        /// The cap.
        limit: u64,
    },
    /// A single-use item was already used or has expired.
    #[error("{0} has expired")]
    Expired(&'static str),
    /// Encryption or decryption failed (wrong key, tampered or swapped ciphertext).
    #[error("keystore: {0}")]
    Crypto(String),
    /// The key ring could not be loaded or written.
    #[error("key ring: {0}")]
    KeyRing(String),
    /// A stored value did not decode (corrupt JSON, unknown status).
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    /// File system error (creating the database directory, the key file).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Shorthand for results of store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Corrupt(format!("json: {err}"))
    }
}

impl StoreError {
    /// True when the database rejected a write because of a unique constraint.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
    }

    /// `AlreadyExists(what)` in place of a unique-constraint violation; any other error as it is.
    pub(crate) fn taken(self, what: &'static str) -> StoreError {
        if self.is_unique_violation() {
            StoreError::AlreadyExists(what)
        } else {
            self
        }
    }
}

/// The row an `INSERT ... SELECT ... RETURNING` wrote: `NotFound(parent)` when the row it selects
/// from is missing, `AlreadyExists(what)` when one of its unique values is taken.
pub(crate) fn inserted<T>(
    result: Result<Option<T>>,
    parent: &'static str,
    what: &'static str,
) -> Result<T> {
    result
        .map_err(|e| e.taken(what))?
        .ok_or(StoreError::NotFound(parent))
}

/// The result of a write that names one row: `NotFound(what)` when it changed none (the row is
/// missing, or not in the state the write expects).
pub(crate) fn one_changed(rows_affected: u64, what: &'static str) -> Result<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}

/// The value of `all` whose stored spelling (`name`) is `text`; anything else in the column is
/// corrupt. Reading walks the list so the spellings are written once, in `name`.
pub(crate) fn from_stored_name<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    text: &str,
    what: &str,
) -> Result<T> {
    all.iter()
        .copied()
        .find(|value| name(*value) == text)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} {text:?}")))
}
