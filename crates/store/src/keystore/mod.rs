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
//!
//! A ring read from a file is live: every clone shares one key set, which [`KeyRing::reload`]
//! replaces when the file changes (the watcher in [`holders`] polls it; `SIGHUP` asks at once),
//! and opening an envelope under a key the ring does not hold re-reads the file first. Online
//! rotation ([`crate::key_rotation`], which knows the tables; this module does not) relies on this: it stages a key, waits until every running process
//! holds it, promotes it, re-encrypts, and retires the old key only when nothing is sealed
//! under it and every process has let it go.

pub mod holders;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{self, Aead, KeyInit, Payload};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::db::now_ms;
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

/// One batch of a table's rows re-sealed under the primary key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Rows found under an older key.
    pub seen: u64,
    /// Rows re-sealed (a row changed meanwhile is left for the next batch).
    pub changed: u64,
}

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

/// The AES-256-GCM cipher of `key`, and `nonce` as its nonce type.
fn cipher_and_nonce(key: &[u8], nonce: &[u8]) -> Result<(Aes256Gcm, aead::Nonce<Aes256Gcm>)> {
    let cipher =
        Aes256Gcm::new_from_slice(key).map_err(|_| StoreError::Crypto("bad key length".into()))?;
    let nonce = aead::Nonce::<Aes256Gcm>::try_from(nonce)
        .map_err(|_| StoreError::Crypto("bad nonce length".into()))?;
    Ok((cipher, nonce))
}

impl<'a> Binding<'a> {
    /// The binding of a `purpose`'s value in `slot` of a tenant's integration.
    pub fn new(
        purpose: &'a str,
        tenant_id: &'a str,
        integration_id: &'a str,
        slot: &'a str,
    ) -> Self {
        Binding {
            purpose,
            tenant_id,
            integration_id,
            slot,
        }
    }

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

/// Key id -> 32-byte key, with one primary key used for new ciphertexts and, during a
/// rotation, one staged key that is held (so it can be opened) but not yet sealed with.
#[derive(Clone, PartialEq, Eq)]
struct KeySet {
    keys: BTreeMap<String, Zeroizing<[u8; 32]>>,
    primary: String,
    staged: Option<String>,
}

/// The key ring. Clones share one key set: a reload seen by one is seen by all.
#[derive(Clone)]
pub struct KeyRing {
    set: Arc<RwLock<Arc<KeySet>>>,
    /// The key file it was read from; `None` for a ring from `TRIBUTARY_KEYRING` or memory,
    /// which never changes while the process runs.
    file: Option<Arc<PathBuf>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.current();
        f.debug_struct("KeyRing")
            .field("primary", &set.primary)
            .field("staged", &set.staged)
            .field("key_ids", &set.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The key file's JSON: `{"primary": "<id>", "keys": {"<id>": "<base64 of 32 bytes>"}}`, and
/// `"staged": "<id>"` while a rotation distributes its new key.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    primary: String,
    keys: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    staged: Option<String>,
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
    fn in_memory(set: KeySet) -> KeyRing {
        KeyRing {
            set: Arc::new(RwLock::new(Arc::new(set))),
            file: None,
        }
    }

    /// The key set in force now (a cheap snapshot; later reloads do not change it).
    fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.set.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn replace(&self, set: KeySet) {
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
    }

    /// Changes the key set (rotation's steps); persist with [`KeyRing::save`].
    fn update(&self, change: impl FnOnce(&mut KeySet) -> Result<()>) -> Result<()> {
        let mut guard = self.set.write().unwrap_or_else(|p| p.into_inner());
        let mut set = KeySet::clone(&guard);
        change(&mut set)?;
        *guard = Arc::new(set);
        Ok(())
    }

    /// A ring with one fresh random key.
    pub fn generate() -> KeyRing {
        let id = fresh_key_id(&BTreeMap::new());
        let mut keys = BTreeMap::new();
        keys.insert(id.clone(), random_bytes::<32>());
        KeyRing::in_memory(KeySet {
            keys,
            primary: id,
            staged: None,
        })
    }

    /// Adds a fresh random key and makes it the primary; returns its id. Persist the ring (see
    /// [`KeyRing::save`]) before re-encrypting anything under it. Only safe while no other
    /// process uses the ring; a running deployment rotates with [`rotate_online`].
    pub fn add_primary_key(&mut self) -> String {
        let mut added = String::new();
        let _ = self.update(|set| {
            added = fresh_key_id(&set.keys);
            set.keys.insert(added.clone(), random_bytes::<32>());
            set.primary = added.clone();
            set.staged = None;
            Ok(())
        });
        added
    }

    /// Adds a fresh random key as the staged key: held and opened, not yet sealed with.
    pub fn stage_key(&mut self) -> String {
        let mut added = String::new();
        let _ = self.update(|set| {
            added = fresh_key_id(&set.keys);
            set.keys.insert(added.clone(), random_bytes::<32>());
            set.staged = Some(added.clone());
            Ok(())
        });
        added
    }

    /// Makes the staged key the primary.
    pub fn promote_staged(&mut self) -> Result<String> {
        let mut promoted = String::new();
        self.update(|set| {
            let staged = set
                .staged
                .take()
                .ok_or_else(|| StoreError::KeyRing("no staged key to promote".into()))?;
            set.primary = staged.clone();
            promoted = staged;
            Ok(())
        })?;
        Ok(promoted)
    }

    /// Removes a key that no row uses any more (check with [`keys_in_use`]). The primary and
    /// the staged key cannot be removed.
    pub fn remove_key(&mut self, key_id: &str) -> Result<()> {
        self.update(|set| {
            if key_id == set.primary || set.staged.as_deref() == Some(key_id) {
                return Err(StoreError::KeyRing(
                    "the primary or staged key cannot be removed".into(),
                ));
            }
            set.keys
                .remove(key_id)
                .map(|_| ())
                .ok_or_else(|| StoreError::KeyRing(format!("no key {key_id:?} in the ring")))
        })
    }

    /// The id of the key new ciphertexts are sealed with.
    pub fn primary_id(&self) -> String {
        self.current().primary.clone()
    }

    /// The id of the key a rotation has staged, if one is in progress.
    pub fn staged_id(&self) -> Option<String> {
        self.current().staged.clone()
    }

    /// Ids of every key in the ring.
    pub fn key_ids(&self) -> Vec<String> {
        self.current().keys.keys().cloned().collect()
    }

    /// The key file this ring follows, if it came from one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref().map(PathBuf::as_path)
    }

    /// Parses the key file JSON (also the format of `TRIBUTARY_KEYRING`).
    pub fn from_json(text: &str) -> Result<KeyRing> {
        Ok(KeyRing::in_memory(parse_key_file(text)?))
    }

    /// The key file JSON. It contains the keys: write it only to a private file.
    pub fn to_json(&self) -> Zeroizing<String> {
        let set = self.current();
        let file = KeyFile {
            primary: set.primary.clone(),
            staged: set.staged.clone(),
            keys: set
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

    /// Reads a key file; the ring then follows it (see [`KeyRing::reload`]).
    pub fn load(path: &Path) -> Result<KeyRing> {
        Ok(KeyRing {
            file: Some(Arc::new(path.to_path_buf())),
            ..KeyRing::in_memory(read_key_file(path)?)
        })
    }

    /// Re-reads the key file this ring came from. Returns whether the keys changed. A file that
    /// does not read or parse (half-written by hand, say) is an error and the ring keeps the
    /// keys it has: a bad edit never leaves a running process without keys.
    pub fn reload(&self) -> Result<bool> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let fresh = read_key_file(path)?;
        if *self.current() == fresh {
            return Ok(false);
        }
        self.replace(fresh);
        Ok(true)
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
        // The rename is durable only once the directory is synced.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && let Ok(dir) = std::fs::File::open(parent)
        {
            let _ = dir.sync_all();
        }
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
        let generated = KeyRing::generate();
        generated.save(&path)?;
        let ring = KeyRing {
            file: Some(Arc::new(path.clone())),
            ..generated
        };
        Ok((ring, KeyRingSource::Generated(path)))
    }

    /// Seals `plaintext` under the primary key, bound to `binding`.
    pub fn seal(&self, binding: &Binding<'_>, plaintext: &[u8]) -> Result<Sealed> {
        let set = self.current();
        let key = set
            .keys
            .get(&set.primary)
            .ok_or_else(|| StoreError::KeyRing("the primary key is not in the ring".into()))?;
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let (cipher, nonce) = cipher_and_nonce(key.as_ref(), &nonce_bytes[..])?;
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
            key_id: set.primary.clone(),
        })
    }

    /// Opens an envelope sealed by key `key_id` and seals its plaintext again under the primary
    /// key: one row of a rotation.
    pub fn reseal(&self, binding: &Binding<'_>, key_id: &str, envelope: &[u8]) -> Result<Sealed> {
        let plaintext = self.open(binding, key_id, envelope)?;
        self.seal(binding, plaintext.expose())
    }

    /// Opens an envelope sealed by key `key_id` for `binding`. Fails on a wrong key, a tampered
    /// envelope, or an envelope that belongs to another row.
    pub fn open(
        &self,
        binding: &Binding<'_>,
        key_id: &str,
        envelope: &[u8],
    ) -> Result<SecretBytes> {
        let mut set = self.current();
        if !set.keys.contains_key(key_id) && self.file.is_some() {
            // Sealed by a process that already read a newer key file: read it too.
            if let Err(err) = self.reload() {
                tracing::warn!(error = %err, "the key file could not be re-read");
            }
            set = self.current();
        }
        let key = set
            .keys
            .get(key_id)
            .ok_or_else(|| StoreError::Crypto(format!("key {key_id:?} is not in the key ring")))?;
        if envelope.len() < 1 + NONCE_LEN + 16 || envelope[0] != ENVELOPE_VERSION {
            return Err(StoreError::Crypto("malformed envelope".into()));
        }
        let (cipher, nonce) = cipher_and_nonce(key.as_ref(), &envelope[1..1 + NONCE_LEN])?;
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

/// A key id not yet in `keys`: the creation second and four random bytes.
fn fresh_key_id(keys: &BTreeMap<String, Zeroizing<[u8; 32]>>) -> String {
    loop {
        let suffix = random_bytes::<4>();
        let id = format!(
            "k{}-{:02x}{:02x}{:02x}{:02x}",
            now_ms() / 1000,
            suffix[0],
            suffix[1],
            suffix[2],
            suffix[3]
        );
        if !keys.contains_key(&id) {
            return id;
        }
    }
}

fn read_key_file(path: &Path) -> Result<KeySet> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| StoreError::KeyRing(format!("reading {}: {e}", path.display())))?,
    );
    parse_key_file(&text)
}

fn parse_key_file(text: &str) -> Result<KeySet> {
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
    for (role, id) in [
        ("primary", Some(&file.primary)),
        ("staged", file.staged.as_ref()),
    ] {
        if let Some(id) = id
            && !keys.contains_key(id)
        {
            return Err(StoreError::KeyRing(format!(
                "{role} key {id:?} is not in the ring"
            )));
        }
    }
    Ok(KeySet {
        keys,
        primary: file.primary,
        staged: file.staged,
    })
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
