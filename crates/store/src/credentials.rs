//! Credentials: one encrypted, versioned secret per integration and slot.
//!
//! Writes are compare-and-swap on `version` (see [`Expect`]), so a token refresh that lost a race
//! gets [`StoreError::Conflict`] and re-reads instead of overwriting a newer token.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::db::{Backend, Db, Scope, Tx, now_ms, on_backend};
use crate::error::{Result, StoreError};
use crate::keystore::{Binding, KeyRing, Resealed};
use crate::secret::SecretBytes;
use crate::statement::BothRow;

/// The associated-data purpose of credential ciphertexts.
pub const PURPOSE: &str = "credential";

/// What the caller believes the stored version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No credential exists yet for the slot.
    Absent,
    /// The stored credential has exactly this version.
    Version(i64),
    /// Overwrite whatever is there (setup flows that replace a credential outright).
    Any,
}

/// A decrypted credential.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Slot name.
    pub slot: String,
    /// Plaintext (usually JSON).
    pub secret: SecretBytes,
    /// Version for the next compare-and-swap.
    pub version: i64,
    /// Unix ms when the secret expires, if known.
    pub expires_at: Option<i64>,
    /// Unix ms of the last write.
    pub updated_at: i64,
}

/// A credential's metadata without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CredentialInfo {
    /// Slot name.
    pub slot: String,
    /// Current version.
    pub version: i64,
    /// Key ring id of the sealing key.
    pub key_id: String,
    /// Unix ms.
    pub expires_at: Option<i64>,
    /// Unix ms.
    pub updated_at: i64,
}

/// Repository for credentials; needs the key ring.
#[derive(Debug)]
pub struct Credentials<'a> {
    scope: Scope<'a>,
    ring: &'a KeyRing,
}

impl Db {
    /// Credentials, sealed and opened with `ring`.
    pub fn credentials<'a>(&'a self, ring: &'a KeyRing) -> Credentials<'a> {
        Credentials {
            scope: Scope::Db(self),
            ring,
        }
    }
}

impl Tx {
    /// Credentials inside this transaction.
    pub fn credentials<'a>(&'a mut self, ring: &'a KeyRing) -> Credentials<'a> {
        Credentials {
            scope: Scope::Tx(self),
            ring,
        }
    }
}

/// ciphertext, key id, version, expires_at, updated_at.
type SealedRow = (Vec<u8>, String, i64, Option<i64>, i64);

impl Credentials<'_> {
    /// Re-seals up to `limit` credentials that are not under the ring's primary key (one batch
    /// of a rotation, `crate::key_rotation`). A credential changed meanwhile (its version moved
    /// on) is left for the next batch.
    pub async fn reseal_batch(&mut self, limit: i64) -> Result<Resealed> {
        let primary = self.ring.primary_id();
        let mut conn = self.scope.write().await?;
        let sql = "SELECT integration_id, slot, tenant_id, ciphertext, key_id, version \
                   FROM credentials WHERE key_id <> $1 ORDER BY integration_id, slot LIMIT $2";
        let rows: Vec<(String, String, String, Vec<u8>, String, i64)> =
            conn.exec().fetch_all(sql, (&primary, limit)).await?;
        let mut resealed = Resealed {
            seen: rows.len() as u64,
            changed: 0,
        };
        for (integration_id, slot, tenant_id, ciphertext, key_id, version) in rows {
            let binding = Binding::new(PURPOSE, &tenant_id, &integration_id, &slot);
            let sealed = self.ring.reseal(&binding, &key_id, &ciphertext)?;
            let sql = "UPDATE credentials SET ciphertext = $1, key_id = $2 \
                       WHERE integration_id = $3 AND slot = $4 AND version = $5";
            let params = (
                &sealed.ciphertext,
                &sealed.key_id,
                &integration_id,
                &slot,
                version,
            );
            resealed.changed += conn.exec().execute(sql, params).await?;
        }
        Ok(resealed)
    }

    /// Encrypts and stores `secret` for the slot if the stored version matches `expect`.
    /// Returns the new version. `NotFound` if the integration is not the tenant's; `Conflict`
    /// if the version moved on.
    pub async fn save(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        slot: &str,
        secret: &SecretBytes,
        expect: Expect,
        expires_at: Option<i64>,
    ) -> Result<i64> {
        let sealed = self.ring.seal(
            &Binding::new(PURPOSE, tenant_id, integration_id, slot),
            secret.expose(),
        )?;
        let now = now_ms();
        let sql = match expect {
            Expect::Absent => {
                "INSERT INTO credentials (integration_id, slot, tenant_id, ciphertext, key_id, \
                     version, expires_at, created_at, updated_at) \
                 SELECT id, $2, tenant_id, $4, $5, 1, $6, $7, $7 FROM integrations \
                 WHERE id = $1 AND tenant_id = $3 \
                 ON CONFLICT (integration_id, slot) DO NOTHING RETURNING version"
            }
            Expect::Any => {
                "INSERT INTO credentials (integration_id, slot, tenant_id, ciphertext, key_id, \
                     version, expires_at, created_at, updated_at) \
                 SELECT id, $2, tenant_id, $4, $5, 1, $6, $7, $7 FROM integrations \
                 WHERE id = $1 AND tenant_id = $3 \
                 ON CONFLICT (integration_id, slot) DO UPDATE SET ciphertext = excluded.ciphertext, \
                     key_id = excluded.key_id, version = credentials.version + 1, \
                     expires_at = excluded.expires_at, updated_at = excluded.updated_at \
                 RETURNING version"
            }
            Expect::Version(_) => {
                "UPDATE credentials SET ciphertext = $4, key_id = $5, version = version + 1, \
                     expires_at = $6, updated_at = $7 \
                 WHERE integration_id = $1 AND slot = $2 AND tenant_id = $3 AND version = $8 \
                 RETURNING version"
            }
        };
        let expected = match expect {
            Expect::Version(v) => v,
            _ => 0,
        };
        let mut conn = self.scope.write().await?;
        let version: Option<i64> = on_backend!(conn.exec(), |c| {
            let query = sqlx::query_scalar(sql)
                .bind(integration_id)
                .bind(slot)
                .bind(tenant_id)
                .bind(&sealed.ciphertext)
                .bind(&sealed.key_id)
                .bind(expires_at)
                .bind(now);
            let query = if matches!(expect, Expect::Version(_)) {
                query.bind(expected)
            } else {
                query
            };
            query.fetch_optional(&mut *c).await?
        });
        drop(conn);
        if let Some(version) = version {
            return Ok(version);
        }
        // Nothing written: tell a missing integration from a lost race.
        if !crate::integrations::exists(&mut self.scope, tenant_id, integration_id).await? {
            return Err(StoreError::NotFound("integration"));
        }
        let found = self
            .info(tenant_id, integration_id, slot)
            .await?
            .map_or(0, |i| i.version);
        Err(StoreError::Conflict {
            what: "credential",
            expected,
            found,
        })
    }

    /// Loads and decrypts the slot's credential.
    pub async fn load(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        slot: &str,
    ) -> Result<Option<Credential>> {
        let columns = "ciphertext, key_id, version, expires_at, updated_at";
        let row: Option<SealedRow> = self
            .slot_row(columns, tenant_id, integration_id, slot)
            .await?;
        let Some((ciphertext, key_id, version, expires_at, updated_at)) = row else {
            return Ok(None);
        };
        let secret = self.ring.open(
            &Binding::new(PURPOSE, tenant_id, integration_id, slot),
            &key_id,
            &ciphertext,
        )?;
        Ok(Some(Credential {
            slot: slot.to_owned(),
            secret,
            version,
            expires_at,
            updated_at,
        }))
    }

    /// The slot's metadata, without decrypting.
    pub async fn info(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        slot: &str,
    ) -> Result<Option<CredentialInfo>> {
        let columns = "slot, version, key_id, expires_at, updated_at";
        self.slot_row(columns, tenant_id, integration_id, slot)
            .await
    }

    /// The `columns` of the slot's row, if it has one.
    async fn slot_row<T: BothRow>(
        &mut self,
        columns: &str,
        tenant_id: &str,
        integration_id: &str,
        slot: &str,
    ) -> Result<Option<T>> {
        let sql = format!(
            "SELECT {columns} FROM credentials \
             WHERE tenant_id = $1 AND integration_id = $2 AND slot = $3"
        );
        let params = (tenant_id, integration_id, slot);
        self.scope.fetch_optional(AssertSqlSafe(sql), params).await
    }

    /// Metadata of every slot the integration has a credential for.
    pub async fn list(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<Vec<CredentialInfo>> {
        let sql = "SELECT slot, version, key_id, expires_at, updated_at FROM credentials \
                   WHERE tenant_id = $1 AND integration_id = $2 ORDER BY slot";
        self.scope.fetch_all(sql, (tenant_id, integration_id)).await
    }

    /// Credentials expiring before `before` (unix ms), across tenants: what a refresher should
    /// renew next. Returns (tenant id, integration id, slot, version).
    pub async fn expiring_before(
        &mut self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(String, String, String, i64)>> {
        let sql = "SELECT tenant_id, integration_id, slot, version FROM credentials \
                   WHERE expires_at IS NOT NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2";
        self.scope.fetch_all(sql, (before, limit)).await
    }

    /// Deletes one slot's credential. False if there was none.
    pub async fn delete(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        slot: &str,
    ) -> Result<bool> {
        let sql =
            "DELETE FROM credentials WHERE tenant_id = $1 AND integration_id = $2 AND slot = $3";
        let n = self
            .scope
            .execute(sql, (tenant_id, integration_id, slot))
            .await?;
        Ok(n > 0)
    }

    /// Deletes every credential of the integration except those in `keep` (switching connection
    /// mode cleans up the old mode's slots). Returns how many were deleted.
    pub async fn delete_all_except(
        &mut self,
        tenant_id: &str,
        integration_id: &str,
        keep: &[&str],
    ) -> Result<u64> {
        let mut conn = self.scope.write().await?;
        let keep_json = serde_json::to_string(keep)?;
        // The kept slots travel as one JSON array so the statement text stays fixed.
        let exec = conn.exec();
        let sql = match exec.backend() {
            Backend::Sqlite => {
                "DELETE FROM credentials WHERE tenant_id = $1 AND integration_id = $2 \
                 AND slot NOT IN (SELECT value FROM json_each($3))"
            }
            Backend::Postgres => {
                "DELETE FROM credentials WHERE tenant_id = $1 AND integration_id = $2 \
                 AND slot NOT IN (SELECT jsonb_array_elements_text($3::jsonb))"
            }
        };
        Ok(exec
            .execute(sql, (tenant_id, integration_id, &keep_json))
            .await?)
    }
}

/// Where the key id of each sealed value is kept (for key rotation's counts).
pub(crate) const SEALED: crate::sealed_rows::SealedColumn = crate::sealed_rows::SealedColumn {
    table: "credentials",
    key_column: "key_id",
};
