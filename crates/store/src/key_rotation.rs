//! Re-encryption under a new primary key, and online rotation: a new key reaches every running
//! process before anything is sealed with it, and an old key leaves the key file only when
//! nothing is sealed under it and no running process seals with it.
//!
//! The steps, each safe to interrupt (running `keys rotate` again resumes where it stopped):
//!
//! 1. **Stage**: the new key is added to the key file as `staged`. Processes reload the file
//!    (within [`WATCH_INTERVAL`]) and can now open what it seals, while still sealing with the
//!    old primary.
//! 2. **Wait** until every live holder ([`live_holders`]) reports the staged key.
//! 3. **Promote**: the staged key becomes the primary; wait until every live holder seals with it,
//!    then [`RotationOptions::settle`] more, so that work which read the ring before the switch
//!    has written what it sealed.
//! 4. **Re-encrypt** every row under an older key, until none is left.
//! 5. **Retire** the older keys from the key file.
//!
//! A holder that stops reporting for [`HOLDER_TIMEOUT`] (killed, crashed) is not waited for; a
//! live one that does not catch up within [`RotationOptions::wait_timeout`] stops the rotation
//! with its host, pid and role named, and nothing is lost: every key is still in the file.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::keystore::KeyRing;
use crate::keystore::holders::{HOLDER_TIMEOUT, Holder, WATCH_INTERVAL, live_holders};

/// Progress of [`reencrypt_all`], reported after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateProgress {
    /// Rows re-encrypted so far in this call.
    pub done: u64,
    /// Rows that were not under the primary key when the call started.
    pub total: u64,
}

/// Re-encrypts every credential, webhook secret and open auth session not sealed by the ring's
/// primary key, in batches of `batch_size` rows, each batch in its own transaction. Rows record
/// their key id, so an interrupted run is resumed by calling this again. A row changed
/// concurrently (its version or ciphertext moved on) is skipped in that batch and picked up by
/// the next one. Returns the number of rows re-encrypted.
pub async fn reencrypt_all(
    db: &Db,
    ring: &KeyRing,
    batch_size: u32,
    mut progress: impl FnMut(RotateProgress),
) -> Result<u64> {
    let primary = ring.primary_id();
    let batch = i64::from(batch_size.max(1));
    let total = count_not_under(db, &primary).await?;
    let mut done = 0u64;
    progress(RotateProgress { done, total });
    loop {
        let mut tx = db.begin().await?;
        let credentials = tx.credentials(ring).reseal_batch(batch).await?;
        let endpoints = tx.webhooks(ring).reseal_batch(batch).await?;
        let sessions = tx.auth_sessions(ring).reseal_batch(batch).await?;
        done += credentials.changed + endpoints.changed + sessions;
        if credentials.seen == 0 && endpoints.seen == 0 && sessions == 0 {
            tx.commit().await?;
            return Ok(done);
        }
        tx.commit().await?;
        progress(RotateProgress {
            done,
            total: total.max(done),
        });
    }
}

async fn count_not_under(db: &Db, primary: &str) -> Result<u64> {
    Ok(crate::credentials::SEALED
        .count_not_under(db, primary)
        .await?
        + crate::webhooks::SEALED.count_not_under(db, primary).await?)
}

/// How many credentials, webhook secrets and open auth sessions each key id seals (a key with
/// none may be removed from the ring).
pub async fn keys_in_use(db: &Db) -> Result<BTreeMap<String, u64>> {
    let mut counts = crate::credentials::SEALED.count_by_key(db).await?;
    for (key_id, sealed) in crate::webhooks::SEALED.count_by_key(db).await? {
        *counts.entry(key_id).or_insert(0) += sealed;
    }
    for (key_id, sessions) in crate::sessions::open_sessions_by_key(db).await? {
        *counts.entry(key_id).or_insert(0) += sessions;
    }
    Ok(counts)
}

/// Settings of [`rotate_online`].
#[derive(Debug, Clone)]
pub struct RotationOptions {
    /// Rows re-encrypted per transaction.
    pub batch_size: u32,
    /// How long to wait for the running processes at each step before giving up (resumable).
    pub wait_timeout: Duration,
    /// How long after every process seals with the new key before re-encrypting, for work that
    /// read the ring just before the switch to commit.
    pub settle: Duration,
    /// How often to look at the holders while waiting.
    pub poll: Duration,
}

impl Default for RotationOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            wait_timeout: Duration::from_secs(120),
            settle: Duration::from_secs(5),
            poll: Duration::from_millis(200),
        }
    }
}

/// What [`rotate_online`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationReport {
    pub primary_key_id: String,
    /// Whether it finished a rotation an earlier call had started.
    pub resumed: bool,
    pub reencrypted: u64,
    pub retired_keys: Vec<String>,
    /// The running processes that took part (each held the new key before it was used).
    pub holders: Vec<Holder>,
}

/// Rotates the key ring of a running deployment without losing anything (see the module
/// documentation for the steps). `ring` must come from a key file, which every process of the
/// deployment reads.
pub async fn rotate_online(
    db: &Db,
    ring: &mut KeyRing,
    options: &RotationOptions,
    mut progress: impl FnMut(RotateProgress),
) -> Result<RotationReport> {
    let path = ring
        .file()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| {
            StoreError::KeyRing(
                "online rotation needs the key ring in a key file that every process reads".into(),
            )
        })?;
    ring.reload()?;
    let resumed = ring.staged_id().is_some() || ring.key_ids().len() > 1;
    if !resumed {
        ring.stage_key();
        ring.save(&path)?;
    }
    if let Some(staged) = ring.staged_id() {
        wait_for_holders(
            db,
            options,
            &format!("hold the new key {staged}"),
            |holder| holder.key_ids.contains(&staged),
        )
        .await?;
        ring.promote_staged()?;
        ring.save(&path)?;
    }
    let primary = ring.primary_id();
    let holders = wait_for_holders(db, options, &format!("seal with {primary}"), |holder| {
        holder.primary_key == primary
    })
    .await?;
    if !holders.is_empty() {
        tokio::time::sleep(options.settle).await;
    }
    let started = Instant::now();
    let mut reencrypted = 0;
    loop {
        reencrypted += reencrypt_all(db, ring, options.batch_size, &mut progress).await?;
        let in_use = keys_in_use(db).await?;
        if in_use.keys().all(|key_id| *key_id == primary) {
            break;
        }
        if started.elapsed() > options.wait_timeout {
            return Err(StoreError::KeyRing(format!(
                "rows are still being sealed with an older key after {:?}; run the rotation again",
                options.wait_timeout
            )));
        }
        tokio::time::sleep(options.poll).await;
    }
    let retired: Vec<String> = ring
        .key_ids()
        .into_iter()
        .filter(|key_id| *key_id != primary)
        .collect();
    for key_id in &retired {
        ring.remove_key(key_id)?;
    }
    ring.save(&path)?;
    Ok(RotationReport {
        primary_key_id: primary,
        resumed,
        reencrypted,
        retired_keys: retired,
        holders,
    })
}

/// Waits until every live holder satisfies `caught_up`; returns them.
async fn wait_for_holders(
    db: &Db,
    options: &RotationOptions,
    what: &str,
    caught_up: impl Fn(&Holder) -> bool,
) -> Result<Vec<Holder>> {
    let started = Instant::now();
    loop {
        let holders = live_holders(db).await?;
        let lagging: Vec<&Holder> = holders.iter().filter(|h| !caught_up(h)).collect();
        if lagging.is_empty() {
            return Ok(holders);
        }
        if started.elapsed() > options.wait_timeout {
            let names: Vec<String> = lagging
                .iter()
                .map(|h| format!("{} pid {} ({})", h.host, h.pid, h.role))
                .collect();
            return Err(StoreError::KeyRing(format!(
                "{} running process(es) did not {what} within {:?}: {}. Each must read the same \
                 key file (it is re-read every {}s, or at once on SIGHUP); nothing was lost, and \
                 running the rotation again resumes it. A process that stopped is no longer \
                 waited for after {}s.",
                lagging.len(),
                options.wait_timeout,
                names.join(", "),
                WATCH_INTERVAL.as_secs(),
                HOLDER_TIMEOUT.as_secs(),
            )));
        }
        tokio::time::sleep(options.poll).await;
    }
}
