//! Keymaker auth sessions: short-lived, single-use state of an OAuth or app-install flow.
//!
//! The browser holds a random 256-bit token; the table keeps its SHA-256. [`AuthSessions::take`]
//! deletes and returns the row in one statement (`DELETE ... RETURNING`), so two callbacks racing
//! with the same token cannot both succeed. A tenant has at most
//! [`NewAuthSession::max_open_per_tenant`] sessions open at once, so it cannot fill the table.

use std::time::Duration;

use serde_json::Value;

use crate::db::{Db, Scope, Tx, now_ms};
use crate::error::{Result, StoreError, one_changed};
use crate::keystore::{Binding, KeyRing};
use crate::secret::{SecretBytes, random_token, token_hash};
use base64::Engine as _;

/// Sessions live this long unless the caller says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// What a new session records.
#[derive(Debug, Clone)]
pub struct NewAuthSession<'a> {
    /// Tenant starting the flow.
    pub tenant_id: &'a str,
    /// Integration being connected.
    pub integration_id: &'a str,
    /// Its definition.
    pub definition_id: &'a str,
    /// The connection (credential slot) being authorised.
    pub connection: &'a str,
    /// PKCE code verifier (S256 challenge sent to the provider).
    pub pkce_verifier: &'a SecretBytes,
    /// OIDC nonce.
    pub nonce: &'a str,
    /// The provider's own state (its CSRF value, redirect details).
    pub provider_state: &'a Value,
    /// Lifetime; [`DEFAULT_TTL`] if `None`.
    pub ttl: Option<Duration>,
    /// Most sessions of the tenant that may be open (unexpired and not yet taken) at once,
    /// this one included; see [`AuthSessions::create`].
    pub max_open_per_tenant: u32,
}

/// A taken session.
#[derive(Debug, Clone)]
pub struct AuthSession {
    /// Tenant.
    pub tenant_id: String,
    /// Integration.
    pub integration_id: String,
    /// Definition.
    pub definition_id: String,
    /// Connection.
    pub connection: String,
    /// PKCE code verifier.
    pub pkce_verifier: SecretBytes,
    /// OIDC nonce.
    pub nonce: String,
    /// Provider state.
    pub provider_state: Value,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: String,
    integration_id: String,
    definition_id: String,
    connection: String,
    pkce_verifier: String,
    nonce: String,
    provider_state: String,
    created_at: i64,
    expires_at: i64,
}

/// How a sealed verifier is spelled in its column: `sealed:v1:<key id>:<base64 envelope>`.
const SEALED_PREFIX: &str = "sealed:v1:";
const PURPOSE: &str = "auth-session";

/// The computed columns of a new session.
struct SessionRow<'a> {
    hash: &'a str,
    verifier: &'a str,
    state: &'a str,
    now: i64,
    expires_at: i64,
}

/// Inserts the session unless its tenant already has `max_open_per_tenant` unexpired ones.
async fn insert_if_below_cap(
    tx: &mut Tx,
    new: &NewAuthSession<'_>,
    row: &SessionRow<'_>,
) -> Result<bool> {
    let sql = "INSERT INTO auth_sessions (token_hash, tenant_id, integration_id, definition_id, \
               connection, pkce_verifier, nonce, provider_state, created_at, expires_at) \
               SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
               WHERE (SELECT COUNT(*) FROM auth_sessions \
               WHERE tenant_id = $11 AND expires_at > $12) < $13";
    let params = (
        row.hash,
        new.tenant_id,
        new.integration_id,
        new.definition_id,
        new.connection,
        row.verifier,
        new.nonce,
        row.state,
        row.now,
        row.expires_at,
        new.tenant_id,
        row.now,
        i64::from(new.max_open_per_tenant),
    );
    let inserted = tx.exec().execute(sql, params).await?;
    Ok(inserted > 0)
}

/// Repository for auth sessions.
#[derive(Debug)]
pub struct AuthSessions<'a> {
    scope: Scope<'a>,
    ring: &'a KeyRing,
}

impl Db {
    /// Keymaker auth sessions; `ring` seals their PKCE verifiers.
    pub fn auth_sessions<'a>(&'a self, ring: &'a KeyRing) -> AuthSessions<'a> {
        AuthSessions {
            scope: Scope::Db(self),
            ring,
        }
    }
}

impl Tx {
    /// Keymaker auth sessions inside this transaction; `ring` seals their PKCE verifiers.
    pub fn auth_sessions<'a>(&'a mut self, ring: &'a KeyRing) -> AuthSessions<'a> {
        AuthSessions {
            scope: Scope::Tx(self),
            ring,
        }
    }
}

impl AuthSessions<'_> {
    /// Stores a session; returns its token (give it to the browser, e.g. as the `state`
    /// cookie) and its expiry (unix ms).
    ///
    /// `LimitReached` when the tenant already has `max_open_per_tenant` open sessions, so one
    /// tenant cannot fill the table. Expired sessions do not count. The count and the insert
    /// run in one transaction holding a per-tenant lock, so concurrent starts cannot overshoot
    /// the cap.
    pub async fn create(&mut self, new: &NewAuthSession<'_>) -> Result<(SecretBytes, i64)> {
        let token = random_token("trs_");
        let now = now_ms();
        let ttl = i64::try_from(new.ttl.unwrap_or(DEFAULT_TTL).as_millis()).unwrap_or(i64::MAX);
        let expires_at = now.saturating_add(ttl);
        let hash = token_hash(token.expose());
        // The verifier is a secret until the code is exchanged: sealed like a credential.
        let verifier =
            self.sealed_verifier(new.tenant_id, new.integration_id, &hash, new.pkce_verifier)?;
        let row = SessionRow {
            hash: &hash,
            verifier: &verifier,
            state: &serde_json::to_string(new.provider_state)?,
            now,
            expires_at,
        };
        // Counting and inserting under a per-tenant lock makes the cap exact on PostgreSQL too
        // (SQLite's transactions exclude each other already).
        let key = format!("auth-sessions:{}", new.tenant_id);
        let inserted = match &mut self.scope {
            Scope::Db(db) => {
                let mut tx = db.begin().await?;
                tx.lock_key(&key).await?;
                let inserted = insert_if_below_cap(&mut tx, new, &row).await?;
                tx.commit().await?;
                inserted
            }
            Scope::Tx(tx) => {
                tx.lock_key(&key).await?;
                insert_if_below_cap(tx, new, &row).await?
            }
        };
        if !inserted {
            return Err(StoreError::LimitReached {
                what: "open auth sessions of the tenant",
                limit: u64::from(new.max_open_per_tenant),
            });
        }
        Ok((token, expires_at))
    }

    /// Stores what the provider's auth start returned with the session, for its callback.
    pub async fn set_provider_state(&mut self, token: &[u8], provider_state: &Value) -> Result<()> {
        let state = serde_json::to_string(provider_state)?;
        let sql = "UPDATE auth_sessions SET provider_state = $1 WHERE token_hash = $2";
        let n = self.scope.execute(sql, (&state, token_hash(token))).await?;
        one_changed(n, "auth session")
    }

    /// Consumes the session for `token`: it is gone afterwards whatever the outcome.
    /// `NotFound` if unknown or already taken, `Expired` if past its TTL.
    pub async fn take(&mut self, token: &[u8]) -> Result<AuthSession> {
        let sql = "DELETE FROM auth_sessions WHERE token_hash = $1 RETURNING tenant_id, integration_id, \
                   definition_id, connection, pkce_verifier, nonce, provider_state, created_at, expires_at";
        let row: Option<Row> = self.scope.write_optional(sql, (token_hash(token),)).await?;
        let row = row.ok_or(StoreError::NotFound("auth session"))?;
        if row.expires_at <= now_ms() {
            return Err(StoreError::Expired("auth session"));
        }
        let pkce_verifier = self.open_verifier(&row, &token_hash(token))?;
        Ok(AuthSession {
            tenant_id: row.tenant_id,
            integration_id: row.integration_id,
            definition_id: row.definition_id,
            connection: row.connection,
            pkce_verifier,
            nonce: row.nonce,
            provider_state: serde_json::from_str(&row.provider_state)?,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }

    /// The stored form of a verifier: `sealed:v1:<key id>:<base64 envelope>`.
    fn sealed_verifier(
        &self,
        tenant_id: &str,
        integration_id: &str,
        token_hash: &str,
        verifier: &SecretBytes,
    ) -> Result<String> {
        let sealed = self.ring.seal(
            &Binding::new(PURPOSE, tenant_id, integration_id, token_hash),
            verifier.expose(),
        )?;
        Ok(format!(
            "{}{}:{}",
            SEALED_PREFIX,
            sealed.key_id,
            base64::engine::general_purpose::STANDARD.encode(&sealed.ciphertext)
        ))
    }

    /// Re-seals under the primary key up to `limit` open sessions sealed by another key (key
    /// rotation); returns how many. A session taken or re-sealed meanwhile is left alone.
    pub async fn reseal_batch(&mut self, limit: i64) -> Result<u64> {
        let primary_prefix = format!("{SEALED_PREFIX}{}:", self.ring.primary_id());
        let prefix_len = i64::try_from(primary_prefix.len()).unwrap_or(i64::MAX);
        let now = now_ms();
        let rows: Vec<(String, String, String, String)> = {
            let sql = "SELECT token_hash, tenant_id, integration_id, pkce_verifier \
                       FROM auth_sessions WHERE expires_at > $1 \
                       AND substr(pkce_verifier, 1, CAST($2 AS INTEGER)) <> $3 ORDER BY token_hash LIMIT $4";
            let params = (now, prefix_len, &primary_prefix, limit);
            self.scope.write_all(sql, params).await?
        };
        let mut resealed = 0;
        for (hash, tenant_id, integration_id, stored) in rows {
            let plaintext = self.open_stored(&stored, &tenant_id, &integration_id, &hash)?;
            let fresh = self.sealed_verifier(&tenant_id, &integration_id, &hash, &plaintext)?;
            let sql = "UPDATE auth_sessions SET pkce_verifier = $1 \
                       WHERE token_hash = $2 AND pkce_verifier = $3";
            let params = (&fresh, &hash, &stored);
            resealed += self.scope.execute(sql, params).await?;
        }
        Ok(resealed)
    }

    fn open_verifier(&self, row: &Row, token_hash: &str) -> Result<SecretBytes> {
        self.open_stored(
            &row.pkce_verifier,
            &row.tenant_id,
            &row.integration_id,
            token_hash,
        )
    }

    fn open_stored(
        &self,
        stored: &str,
        tenant_id: &str,
        integration_id: &str,
        token_hash: &str,
    ) -> Result<SecretBytes> {
        use base64::Engine as _;
        let corrupt = || StoreError::Corrupt("auth session verifier".into());
        let rest = stored.strip_prefix(SEALED_PREFIX).ok_or_else(corrupt)?;
        let (key_id, encoded) = rest.split_once(':').ok_or_else(corrupt)?;
        let ciphertext = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| corrupt())?;
        self.ring.open(
            &Binding::new(PURPOSE, tenant_id, integration_id, token_hash),
            key_id,
            &ciphertext,
        )
    }

    /// Deletes expired sessions; returns how many.
    pub async fn purge_expired(&mut self) -> Result<u64> {
        let now = now_ms();
        let sql = "DELETE FROM auth_sessions WHERE expires_at <= $1";
        self.scope.execute(sql, (now,)).await
    }
}

/// How many open (unexpired) sessions each key id seals.
pub async fn open_sessions_by_key(db: &Db) -> Result<std::collections::BTreeMap<String, u64>> {
    let now = now_ms();
    let mut conn = db.read().await?;
    let sql = "SELECT pkce_verifier FROM auth_sessions WHERE expires_at > $1";
    let stored: Vec<(String,)> = conn.exec().fetch_all(sql, (now,)).await?;
    let mut counts = std::collections::BTreeMap::new();
    for (verifier,) in stored {
        if let Some((key_id, _)) = verifier
            .strip_prefix(SEALED_PREFIX)
            .and_then(|rest| rest.split_once(':'))
        {
            *counts.entry(key_id.to_owned()).or_insert(0) += 1;
        }
    }
    Ok(counts)
}
