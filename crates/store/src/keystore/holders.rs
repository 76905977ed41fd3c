//! Who holds the key ring: each running process records, every few seconds, the keys its ring
//! holds (`key_ring_holders`), and follows the key file so that a rotation reaches it without a
//! restart. Online rotation reads these rows to know when every process has caught up.

use std::time::Duration;

use serde::Serialize;

use super::KeyRing;
use crate::db::{Db, new_id, now_ms};
use crate::error::Result;

/// How often a holder checks its key file and renews its row.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// How often a holder renews its row when nothing changed.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// A holder not seen for this long is taken for gone (crashed or killed): rotation stops waiting
/// for it. Three missed heartbeats.
pub const HOLDER_TIMEOUT: Duration = Duration::from_secs(15);
/// The row of a holder gone this long is deleted by the retention sweep.
pub const GONE_HOLDER_KEPT: Duration = Duration::from_secs(3600);

/// One process's row: the keys it can open and the key it seals with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    pub holder_id: String,
    pub host: String,
    pub pid: u32,
    pub role: String,
    pub primary_key: String,
    pub key_ids: Vec<String>,
    pub started_at: i64,
    pub seen_at: i64,
}

/// A process's registration as a holder; [`KeyRingHolder::run`] keeps it current.
#[derive(Debug, Clone)]
pub struct KeyRingHolder {
    db: Db,
    ring: KeyRing,
    holder_id: String,
    role: String,
    started_at: i64,
}

impl KeyRingHolder {
    pub fn new(db: Db, ring: KeyRing, role: &str) -> Self {
        Self {
            db,
            ring,
            holder_id: new_id(),
            role: role.to_owned(),
            started_at: now_ms(),
        }
    }

    pub fn id(&self) -> &str {
        &self.holder_id
    }

    /// Writes this process's row as its ring is now.
    pub async fn report(&self) -> Result<()> {
        let key_ids = serde_json::to_string(&self.ring.key_ids())?;
        let host = host_name();
        let pid = i64::from(std::process::id());
        let primary = self.ring.primary_id();
        let sql = "INSERT INTO key_ring_holders \
                   (holder_id, host, pid, role, primary_key, key_ids, started_at, seen_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                   ON CONFLICT (holder_id) DO UPDATE SET primary_key = excluded.primary_key, \
                   key_ids = excluded.key_ids, seen_at = excluded.seen_at";
        let params = (
            &self.holder_id,
            &host,
            pid,
            &self.role,
            &primary,
            &key_ids,
            self.started_at,
            now_ms(),
        );
        let mut conn = self.db.write().await?;
        conn.exec().execute(sql, params).await?;
        Ok(())
    }

    /// Removes this process's row (a clean shutdown: rotation need not wait for it).
    pub async fn withdraw(&self) -> Result<()> {
        let sql = "DELETE FROM key_ring_holders WHERE holder_id = $1";
        let mut conn = self.db.write().await?;
        conn.exec().execute(sql, (&self.holder_id,)).await?;
        Ok(())
    }

    /// Follows the key file and renews the row until `stop` resolves, then withdraws. Reads the
    /// file every [`WATCH_INTERVAL`] (cheap: a small JSON document) and reports at once after a
    /// change, otherwise every [`HEARTBEAT_INTERVAL`]. A message on `reload_now` (SIGHUP) asks
    /// for an immediate re-read. Errors are logged, never fatal: a process keeps its keys.
    pub async fn run(
        self,
        mut reload_now: Option<tokio::sync::mpsc::Receiver<()>>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        let mut last_report = None::<tokio::time::Instant>;
        loop {
            let changed = match self.ring.reload() {
                Ok(changed) => changed,
                Err(err) => {
                    tracing::warn!(error = %err, "the key file could not be re-read; keeping the keys held");
                    false
                }
            };
            if changed {
                tracing::info!(
                    primary_key = %self.ring.primary_id(),
                    keys = self.ring.key_ids().len(),
                    "the key ring changed on disk and was reloaded"
                );
            }
            let due = last_report.is_none_or(|at| at.elapsed() >= HEARTBEAT_INTERVAL);
            if changed || due {
                match self.report().await {
                    Ok(()) => last_report = Some(tokio::time::Instant::now()),
                    Err(err) => tracing::warn!(error = %err, "could not record the keys held"),
                }
            }
            let asked = async {
                match reload_now.as_mut() {
                    Some(receiver) => receiver.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(WATCH_INTERVAL) => {}
                asked = asked => if asked.is_none() {
                    // Nobody can ask any more: keep to the timer.
                    reload_now = None;
                },
            }
        }
        if let Err(err) = self.withdraw().await {
            tracing::warn!(error = %err, "could not withdraw the key ring holder row");
        }
    }
}

/// Every holder seen within [`HOLDER_TIMEOUT`].
pub async fn live_holders(db: &Db) -> Result<Vec<Holder>> {
    let since = now_ms() - i64::try_from(HOLDER_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
    let mut conn = db.read().await?;
    let sql = "SELECT holder_id, host, pid, role, primary_key, key_ids, started_at, seen_at \
               FROM key_ring_holders WHERE seen_at >= $1 ORDER BY started_at";
    let rows: Vec<HolderRow> = conn.exec().fetch_all(sql, (since,)).await?;
    Ok(rows
        .into_iter()
        .map(|row| Holder {
            holder_id: row.holder_id,
            host: row.host,
            pid: u32::try_from(row.pid).unwrap_or(0),
            role: row.role,
            primary_key: row.primary_key,
            key_ids: serde_json::from_str(&row.key_ids).unwrap_or_default(),
            started_at: row.started_at,
            seen_at: row.seen_at,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct HolderRow {
    holder_id: String,
    host: String,
    pid: i64,
    role: String,
    primary_key: String,
    /// A JSON array of key ids.
    key_ids: String,
    started_at: i64,
    seen_at: i64,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
