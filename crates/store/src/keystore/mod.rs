//! Encryption at rest: a key ring of AES-256-GCM keys, sealed envelopes bound to their row, and
//! resumable re-encryption under a new primary key.
//!
//! * Every ciphertext is sealed with the ring's primary key; the row stores the key id beside the
//!   ciphertext, so decryption picks the right key and rotation knows what is left to do.
//! * The associated data names the purpose (credential or webhook secret), tenant, integration
//!   and slot, so a ciphertext copied into another row fails to decrypt.
//! * Envelope bytes: `0x01 | nonce (12 bytes, random) | ciphertext | tag (16 bytes)`.
//!
//! The ring comes from `TRIBUTARY_KEYRING` (the key file's JSON inline), or from a key file
//! (`TRIBUTARY_KEYRING_FILE`, default `<data dir>/keyring.json`), which
//! [`KeyRing::load_or_generate`] creates with mode 0600 on first start.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::db::{Db, now_ms, on_backend};
use crate::error::{Result, StoreError};
use crate::secret::{SecretBytes, random_bytes};

/// Environment variable holding the key ring JSON inline.
pub const KEYRING_ENV: &str = "TRIBUTARY_KEYRING";
/// Environment variable naming the key file.
pub const KEYRING_FILE_ENV: &str = "TRIBUTARY_KEYRING_FILE";
/// File name of the key file inside the data directory.
pub const KEYRING_FILE_NAME: &str = "keyring.json";

const ENVELOPE_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// What a sealed value is bound to. Two rows never share all four parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    /// `credential` or `webhook-secret`.
    pub purpose: &'a str,
    /// Owning tenant.
    pub tenant_id: &'a str,
    /// Owning integration.
    pub integration_id: &'a str,
    /// Credential slot name, or webhook endpoint id.
    pub slot: &'a str,
}

impl Binding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        // Length-prefixed parts, so ("a|b", "c") and ("a", "b|c") differ.
        let mut aad = b"tributary/v1".to_vec();
        for part in [self.purpose, self.tenant_id, self.integration_id, self.slot] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

/// A sealed value and the id of the key that sealed it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Envelope bytes (safe to store).
    pub ciphertext: Vec<u8>,
    /// Key ring id of the sealing key.
    pub key_id: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Sealed {{ key_id: {:?}, {} bytes }}",
            self.key_id,
            self.ciphertext.len()
        )
    }
}

/// Key id -> 32-byte key, with one primary key used for new ciphertexts.
#[derive(Clone)]
pub struct KeyRing {
    keys: BTreeMap<String, Zeroizing<[u8; 32]>>,
    primary: String,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("primary", &self.primary)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The key file's JSON: `{"primary": "<id>", "keys": {"<id>": "<base64 of 32 bytes>"}}`.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    primary: String,
    keys: BTreeMap<String, String>,
}

/// Where [`KeyRing::load_or_generate`] found (or put) the ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRingSource {
    /// From the `TRIBUTARY_KEYRING` variable.
    Env,
    /// Read from this existing key file.
    File(PathBuf),
    /// Generated now and written to this new key file (tell the operator: back it up).
    Generated(PathBuf),
}

impl KeyRing {
    /// A ring with one fresh random key.
    pub fn generate() -> KeyRing {
        let mut ring = KeyRing {
            keys: BTreeMap::new(),
            primary: String::new(),
        };
        ring.add_primary_key();
        ring
    }

    /// Adds a fresh random key and makes it the primary; returns its id. Persist the ring (see
    /// [`KeyRing::save`]) before re-encrypting anything under it.
    pub fn add_primary_key(&mut self) -> String {
        let id = loop {
            let suffix = random_bytes::<4>();
            let id = format!(
                "k{}-{:02x}{:02x}{:02x}{:02x}",
                now_ms() / 1000,
                suffix[0],
                suffix[1],
                suffix[2],
                suffix[3]
            );
            if !self.keys.contains_key(&id) {
                break id;
            }
        };
        self.keys.insert(id.clone(), random_bytes::<32>());
        self.primary = id.clone();
        id
    }

    /// Removes a key that no row uses any more (check with [`keys_in_use`]). The primary key
    /// cannot be removed.
    pub fn remove_key(&mut self, key_id: &str) -> Result<()> {
        if key_id == self.primary {
            return Err(StoreError::KeyRing(
                "the primary key cannot be removed".into(),
            ));
        }
        self.keys
            .remove(key_id)
            .map(|_| ())
            .ok_or_else(|| StoreError::KeyRing(format!("no key {key_id:?} in the ring")))
    }

    /// The id of the key new ciphertexts are sealed with.
    pub fn primary_id(&self) -> &str {
        &self.primary
    }

    /// Ids of every key in the ring.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Parses the key file JSON (also the format of `TRIBUTARY_KEYRING`).
    pub fn from_json(text: &str) -> Result<KeyRing> {
        let file: KeyFile = serde_json::from_str(text)
            .map_err(|e| StoreError::KeyRing(format!("not a key ring document: {e}")))?;
        let mut keys = BTreeMap::new();
        for (id, encoded) in file.keys {
            let bytes = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| StoreError::KeyRing(format!("key {id:?} is not base64")))?,
            );
            let key: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::KeyRing(format!("key {id:?} is not 32 bytes")))?;
            keys.insert(id, Zeroizing::new(key));
        }
        if !keys.contains_key(&file.primary) {
            return Err(StoreError::KeyRing(format!(
                "primary key {:?} is not in the ring",
                file.primary
            )));
        }
        Ok(KeyRing {
            keys,
            primary: file.primary,
        })
    }

    /// The key file JSON. It contains the keys: write it only to a private file.
    pub fn to_json(&self) -> Zeroizing<String> {
        let file = KeyFile {
            primary: self.primary.clone(),
            keys: self
                .keys
                .iter()
                .map(|(id, key)| {
                    (
                        id.clone(),
                        base64::engine::general_purpose::STANDARD.encode(key.as_ref()),
                    )
                })
                .collect(),
        };
        Zeroizing::new(serde_json::to_string_pretty(&file).unwrap_or_default())
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<KeyRing> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| StoreError::KeyRing(format!("reading {}: {e}", path.display())))?,
        );
        KeyRing::from_json(&text)
    }

    /// Writes the key file atomically (temporary file + rename) with mode 0600.
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write as _;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let temp = path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&temp)?;
        file.write_all(self.to_json().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        Ok(())
    }

    /// The ring from `TRIBUTARY_KEYRING`, else from the key file (`TRIBUTARY_KEYRING_FILE` or
    /// `<data_dir>/keyring.json`), else a new ring written to that file.
    pub fn load_or_generate(data_dir: &Path) -> Result<(KeyRing, KeyRingSource)> {
        if let Ok(inline) = std::env::var(KEYRING_ENV) {
            let inline = Zeroizing::new(inline);
            if !inline.trim().is_empty() {
                return Ok((KeyRing::from_json(&inline)?, KeyRingSource::Env));
            }
        }
        let path = std::env::var_os(KEYRING_FILE_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join(KEYRING_FILE_NAME));
        if path.exists() {
            return Ok((KeyRing::load(&path)?, KeyRingSource::File(path)));
        }
        let ring = KeyRing::generate();
        ring.save(&path)?;
        Ok((ring, KeyRingSource::Generated(path)))
    }

    /// Seals `plaintext` under the primary key, bound to `binding`.
    pub fn seal(&self, binding: &Binding<'_>, plaintext: &[u8]) -> Result<Sealed> {
        let key = &self.keys[&self.primary];
        let cipher = Aes256Gcm::new_from_slice(key.as_ref())
            .map_err(|_| StoreError::Crypto("bad key length".into()))?;
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let nonce = aes_gcm::Nonce::try_from(&nonce_bytes[..])
            .map_err(|_| StoreError::Crypto("bad nonce length".into()))?;
        let aad = binding.associated_data();
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Crypto("encryption failed".into()))?;
        let mut envelope = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        envelope.push(ENVELOPE_VERSION);
        envelope.extend_from_slice(nonce_bytes.as_ref());
        envelope.extend_from_slice(&sealed);
        Ok(Sealed {
            ciphertext: envelope,
            key_id: self.primary.clone(),
        })
    }

    /// Opens an envelope sealed by key `key_id` for `binding`. Fails on a wrong key, a tampered
    /// envelope, or an envelope that belongs to another row.
    pub fn open(
        &self,
        binding: &Binding<'_>,
        key_id: &str,
        envelope: &[u8],
    ) -> Result<SecretBytes> {
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| StoreError::Crypto(format!("key {key_id:?} is not in the key ring")))?;
        if envelope.len() < 1 + NONCE_LEN + 16 || envelope[0] != ENVELOPE_VERSION {
            return Err(StoreError::Crypto("malformed envelope".into()));
        }
        let cipher = Aes256Gcm::new_from_slice(key.as_ref())
            .map_err(|_| StoreError::Crypto("bad key length".into()))?;
        let nonce = aes_gcm::Nonce::try_from(&envelope[1..1 + NONCE_LEN])
            .map_err(|_| StoreError::Crypto("bad nonce length".into()))?;
        let aad = binding.associated_data();
        let plaintext = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &envelope[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| {
                StoreError::Crypto(
                    "decryption failed (wrong key, tampered, or ciphertext of another row)".into(),
                )
            })?;
        Ok(SecretBytes::new(plaintext))
    }
}

/// Progress of [`reencrypt_all`], reported after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateProgress {
    /// Rows re-encrypted so far in this call.
    pub done: u64,
    /// Rows that were not under the primary key when the call started.
    pub total: u64,
}

/// Re-encrypts every credential and webhook secret not sealed by the ring's primary key, in
/// batches of `batch_size` rows, each batch in its own transaction. Rows record their key id, so
/// an interrupted run is resumed by calling this again. A row changed concurrently (its version
/// moved on) is skipped in that batch and picked up by the next one. Returns the number of rows
/// re-encrypted.
pub async fn reencrypt_all(
    db: &Db,
    ring: &KeyRing,
    batch_size: u32,
    mut progress: impl FnMut(RotateProgress),
) -> Result<u64> {
    let primary = ring.primary_id().to_owned();
    let batch = i64::from(batch_size.max(1));
    let total = count_not_under(db, &primary).await?;
    let mut done = 0u64;
    progress(RotateProgress { done, total });
    loop {
        let mut tx = db.begin().await?;
        let rows: Vec<(String, String, String, Vec<u8>, String, i64)> =
            on_backend!(tx.exec(), |c| {
                sqlx::query_as(
                    "SELECT integration_id, slot, tenant_id, ciphertext, key_id, version \
                 FROM credentials WHERE key_id <> $1 ORDER BY integration_id, slot LIMIT $2",
                )
                .bind(&primary)
                .bind(batch)
                .fetch_all(&mut *c)
                .await?
            });
        let endpoints: Vec<(String, String, String, Vec<u8>, String)> =
            on_backend!(tx.exec(), |c| {
                sqlx::query_as(
                    "SELECT id, tenant_id, integration_id, secret_ciphertext, secret_key_id \
                 FROM webhook_endpoints WHERE secret_key_id <> $1 ORDER BY id LIMIT $2",
                )
                .bind(&primary)
                .bind(batch)
                .fetch_all(&mut *c)
                .await?
            });
        if rows.is_empty() && endpoints.is_empty() {
            tx.commit().await?;
            return Ok(done);
        }
        for (integration_id, slot, tenant_id, ciphertext, key_id, version) in rows {
            let binding = Binding {
                purpose: crate::credentials::PURPOSE,
                tenant_id: &tenant_id,
                integration_id: &integration_id,
                slot: &slot,
            };
            let plaintext = ring.open(&binding, &key_id, &ciphertext)?;
            let sealed = ring.seal(&binding, plaintext.expose())?;
            let changed = on_backend!(tx.exec(), |c| {
                sqlx::query(
                    "UPDATE credentials SET ciphertext = $1, key_id = $2 \
                     WHERE integration_id = $3 AND slot = $4 AND version = $5",
                )
                .bind(&sealed.ciphertext)
                .bind(&sealed.key_id)
                .bind(&integration_id)
                .bind(&slot)
                .bind(version)
                .execute(&mut *c)
                .await?
                .rows_affected()
            });
            done += changed;
        }
        for (id, tenant_id, integration_id, ciphertext, key_id) in endpoints {
            let binding = Binding {
                purpose: crate::webhooks::PURPOSE,
                tenant_id: &tenant_id,
                integration_id: &integration_id,
                slot: &id,
            };
            let plaintext = ring.open(&binding, &key_id, &ciphertext)?;
            let sealed = ring.seal(&binding, plaintext.expose())?;
            let changed = on_backend!(tx.exec(), |c| {
                sqlx::query(
                    "UPDATE webhook_endpoints SET secret_ciphertext = $1, secret_key_id = $2 \
                     WHERE id = $3 AND secret_key_id = $4",
                )
                .bind(&sealed.ciphertext)
                .bind(&sealed.key_id)
                .bind(&id)
                .bind(&key_id)
                .execute(&mut *c)
                .await?
                .rows_affected()
            });
            done += changed;
        }
        tx.commit().await?;
        progress(RotateProgress {
            done,
            total: total.max(done),
        });
    }
}

async fn count_not_under(db: &Db, primary: &str) -> Result<u64> {
    let mut conn = db.read().await?;
    let (credentials, endpoints): (i64, i64) = on_backend!(conn.exec(), |c| {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM credentials WHERE key_id <> $1), \
                    (SELECT count(*) FROM webhook_endpoints WHERE secret_key_id <> $1)",
        )
        .bind(primary)
        .fetch_one(&mut *c)
        .await?
    });
    Ok(u64::try_from(credentials + endpoints).unwrap_or(0))
}

/// How many credentials and webhook secrets each key id seals (a key with no rows may be removed
/// from the ring).
pub async fn keys_in_use(db: &Db) -> Result<BTreeMap<String, u64>> {
    let mut conn = db.read().await?;
    let rows: Vec<(String, i64)> = on_backend!(conn.exec(), |c| {
        sqlx::query_as(
            "SELECT key_id, count(*) FROM ( \
                 SELECT key_id FROM credentials \
                 UNION ALL SELECT secret_key_id AS key_id FROM webhook_endpoints \
             ) AS sealed GROUP BY key_id",
        )
        .fetch_all(&mut *c)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, u64::try_from(n).unwrap_or(0)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding<'a>(slot: &'a str) -> Binding<'a> {
        Binding {
            purpose: "credential",
            tenant_id: "t1",
            integration_id: "i1",
            slot,
        }
    }

    #[test]
    fn round_trip_and_binding() {
        let ring = KeyRing::generate();
        let sealed = ring.seal(&binding("token"), b"s3cret").unwrap();
        assert_eq!(
            ring.open(&binding("token"), &sealed.key_id, &sealed.ciphertext)
                .unwrap()
                .expose(),
            b"s3cret"
        );
        assert!(
            ring.open(&binding("other"), &sealed.key_id, &sealed.ciphertext)
                .is_err()
        );
        let mut tampered = sealed.ciphertext.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(
            ring.open(&binding("token"), &sealed.key_id, &tampered)
                .is_err()
        );
    }

    #[test]
    fn json_round_trip_keeps_keys_and_debug_hides_them() {
        let mut ring = KeyRing::generate();
        let old = ring.primary_id().to_owned();
        let sealed = ring.seal(&binding("s"), b"x").unwrap();
        ring.add_primary_key();
        let reloaded = KeyRing::from_json(&ring.to_json()).unwrap();
        assert_ne!(reloaded.primary_id(), old);
        assert_eq!(
            reloaded
                .open(&binding("s"), &old, &sealed.ciphertext)
                .unwrap()
                .expose(),
            b"x"
        );
        let shown = format!("{ring:?}");
        let file: KeyFile = serde_json::from_str(&ring.to_json()).unwrap();
        for encoded in file.keys.values() {
            assert!(!shown.contains(encoded.as_str()));
        }
    }

    #[test]
    fn generated_key_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/keyring.json");
        KeyRing::generate().save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(KeyRing::load(&path).is_ok());
    }
}
