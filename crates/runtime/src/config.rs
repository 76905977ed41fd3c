//! Settings of the runtime: where users come back from a provider, which queue runs use, how
//! early tokens are refreshed, how often runs are retried, how reconcile is paced and how long
//! finished work is kept.

use std::time::Duration;

use tributary_store::retention::RetentionPolicy;

use crate::reconcile::schedule::SchedulePolicy;

/// Default of [`RuntimeConfig::retention_interval`].
pub const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Default of [`RuntimeConfig::max_open_auth_sessions`]: far more flows than people connecting
/// at once, far fewer rows than would strain the table.
pub const DEFAULT_MAX_OPEN_AUTH_SESSIONS: u32 = 100;

/// Settings of a [`Runtime`](crate::Runtime).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The externally reachable base URL of the server (`https://tributary.example.com`); the
    /// OAuth redirect URI and webhook URLs are built from it.
    pub public_url: String,
    /// Path of the OAuth/app-install callback route under `public_url`.
    pub callback_path: String,
    /// The job queue queued runs go to.
    pub queue: String,
    /// Tokens expiring within this margin are refreshed before use.
    pub refresh_margin: Duration,
    /// Attempts of a queued run before it fails for good (transient provider errors retry).
    pub run_attempts: i64,
    /// How often a running operation looks for a cancellation.
    pub cancel_poll: Duration,
    /// How often the reconcile scheduler looks for due schedules.
    pub scheduler_poll: Duration,
    /// Bounds of the adaptive reconcile interval.
    pub schedule_policy: SchedulePolicy,
    /// Records per ingest transaction.
    pub ingest_batch: usize,
    /// Most webhook deliveries stored in one fsync'd intake transaction (group commit); 1
    /// commits each delivery on its own (one fsync each).
    pub intake_batch: usize,
    /// Group committers, each committing its batches on its own pooled connection; 0 takes the
    /// backend's default ([`default_intake_committers`]).
    pub intake_committers: usize,
    /// Wall-clock bound on mapping one ingest batch (the integration's filter, the definition's
    /// filters and maps, decoding), which runs off the async runtime; past it the run fails.
    pub ingest_evaluation_timeout: Duration,
    /// Bound on a disconnect hook (token revocation, uninstall) before local cleanup goes on.
    pub disconnect_timeout: Duration,
    /// Most browser authorization flows (OAuth, app installs) a tenant may have open at once:
    /// started, not yet finished, not expired. One more answers 429.
    pub max_open_auth_sessions: u32,
    /// How long finished jobs, runs, deliveries, ingest runs and failures, and ended sessions are
    /// kept before a worker's retention sweep deletes them.
    pub retention: RetentionPolicy,
    /// How often a worker sweeps (the first sweep comes after this or 30 s, whichever is
    /// shorter); zero turns the worker's sweep off (`tributary storage purge` still works).
    pub retention_interval: Duration,
}

/// Group committers by backend: SQLite has one writer, so more would only queue for it;
/// PostgreSQL commits in parallel, but each committer holds a pooled connection while it writes,
/// and four leave the default pool (8) to the API and the workers.
pub fn default_intake_committers(backend: tributary_store::Backend) -> usize {
    match backend {
        tributary_store::Backend::Sqlite => 1,
        tributary_store::Backend::Postgres => 4,
    }
}

/// Deliveries per group commit: enough to turn a burst into a few fsyncs, few enough that one
/// transaction stays short.
pub const DEFAULT_INTAKE_BATCH: usize = 128;

impl RuntimeConfig {
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            public_url: public_url.into(),
            callback_path: "/v1/auth/callback".into(),
            queue: "operations".into(),
            refresh_margin: Duration::from_secs(5 * 60),
            run_attempts: 3,
            cancel_poll: Duration::from_secs(1),
            scheduler_poll: Duration::from_secs(5),
            schedule_policy: SchedulePolicy::default(),
            ingest_batch: 500,
            intake_batch: DEFAULT_INTAKE_BATCH,
            intake_committers: 0,
            ingest_evaluation_timeout: Duration::from_secs(30),
            disconnect_timeout: Duration::from_secs(30),
            max_open_auth_sessions: DEFAULT_MAX_OPEN_AUTH_SESSIONS,
            retention: RetentionPolicy::default(),
            retention_interval: DEFAULT_RETENTION_INTERVAL,
        }
    }

    /// How an ingest run of this runtime batches and bounds its work; `reconcile` says whether a
    /// complete run tombstones what it did not see.
    pub(crate) fn ingest_options(&self, reconcile: bool) -> tributary_ingest::IngestOptions {
        tributary_ingest::IngestOptions {
            batch_size: self.ingest_batch,
            reconcile,
            evaluation_timeout: self.ingest_evaluation_timeout,
        }
    }

    /// The redirect URI registered with providers.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}{}",
            self.public_url.trim_end_matches('/'),
            self.callback_path
        )
    }

    /// The public URL of a webhook endpoint path (`/v1/webhooks/{id}`).
    pub fn public_link(&self, path: &str) -> String {
        format!("{}{}", self.public_url.trim_end_matches('/'), path)
    }
}
