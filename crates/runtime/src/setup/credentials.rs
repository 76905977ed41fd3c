//! Credentials on their way to a client: loaded and decrypted, refreshed first when they expire
//! within the margin.
//!
//! A refresh is single-flight per integration slot: within a process a mutex, across processes
//! (PostgreSQL) a transaction-level advisory lock. Whoever gets the lock re-reads the credential;
//! if another worker refreshed it meanwhile, that token is used. The new token is saved with
//! compare-and-swap on the version read. A refresh answer without a refresh token keeps the old
//! one. A refresh the provider refuses as an auth error (`invalid_grant`) marks the integration
//! `needs_reauth` and stops its schedules until it is connected again.
//!
//! When the provider refuses a token that has not expired (401/403 to an operation), the run
//! refreshes it at once ([`Runtime::refresh_after_refusal`]) and tries once more; a connection
//! that cannot refresh (an API token), or a second refusal, marks the integration
//! `needs_reauth` the same way.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tributary_core::{
    ConnectionRegistration, CredentialBindings, ErrorKind, RefreshFn, RefreshRequest,
    registry::RegisteredDefinition,
};
use tributary_store::{
    Backend, SecretBytes, StoreError, Tx,
    credentials::{Credential, Credentials, Expect},
    integrations::{Integration, IntegrationStatus},
};

use crate::{
    Runtime, RuntimeError, runtime::integration_context, setup::connection_change::StatusMove,
};

/// The credential field holding its expiry in Unix seconds (what `TokenSet` serialises).
pub const EXPIRES_AT_FIELD: &str = "expires_at";
/// The credential field holding a refresh token, kept when a refresh answer has none.
pub const REFRESH_TOKEN_FIELD: &str = "refresh_token";

/// A credential's expiry in Unix milliseconds, from its `expires_at` (Unix seconds).
pub(crate) fn credential_expiry_ms(value: &Value) -> Option<i64> {
    value
        .get(EXPIRES_AT_FIELD)
        .and_then(Value::as_i64)
        .map(|seconds| seconds.saturating_mul(1000))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn expires_within(expires_at_ms: Option<i64>, margin: Duration) -> bool {
    let margin = i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
    expires_at_ms.is_some_and(|at| at <= now_ms().saturating_add(margin))
}

/// When a credential is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Only when it expires within the refresh margin (before every use).
    IfExpiring,
    /// Now, unless another worker refreshed it meanwhile (after the provider refused it).
    Now,
}

/// The bound credentials of a connection and a number that changes whenever one of them does.
pub(crate) struct LoadedCredentials {
    pub(crate) bindings: CredentialBindings,
    pub(crate) version: i64,
}

fn decode(credential: &Credential) -> Result<Value, RuntimeError> {
    credential.secret.expose_json().map_err(|_| {
        RuntimeError::Invalid(format!(
            "stored credential `{}` is not JSON; connect the integration again",
            credential.slot
        ))
    })
}

impl Runtime {
    /// The credential store inside the refresh's transaction when it holds one (the PostgreSQL
    /// advisory lock lives there), or on the pool.
    fn credentials_within<'a>(&'a self, tx: Option<&'a mut Tx>) -> Credentials<'a> {
        match tx {
            Some(tx) => tx.credentials(&self.inner.ring),
            None => self.inner.db.credentials(&self.inner.ring),
        }
    }

    /// Loads the connection's credentials, refreshing an expiring one first (an auth-managed
    /// token, or the token a typed credential was exchanged for).
    pub(crate) async fn load_credentials(
        &self,
        definition: &RegisteredDefinition,
        integration: &Integration,
        connection: &ConnectionRegistration,
    ) -> Result<LoadedCredentials, RuntimeError> {
        let mut bindings = CredentialBindings::new();
        let mut version = 0i64;
        for slot in &connection.credential_refs {
            let stored = self
                .inner
                .db
                .credentials(&self.inner.ring)
                .load(&integration.tenant_id, &integration.id, slot)
                .await?;
            let Some(stored) = stored else {
                if *slot == connection.credential_ref {
                    return Err(RuntimeError::Invalid(format!(
                        "credential `{slot}` is missing; connect the integration again"
                    )));
                }
                continue;
            };
            let (value, slot_version) = match connection.refresh_hook(slot) {
                Some(refresh)
                    if expires_within(stored.expires_at, self.inner.config.refresh_margin) =>
                {
                    self.refresh(
                        definition,
                        integration,
                        refresh,
                        stored,
                        Refresh::IfExpiring,
                    )
                    .await?
                }
                _ => (decode(&stored)?, stored.version),
            };
            version = version.wrapping_mul(31).wrapping_add(slot_version);
            bindings.insert(*slot, value);
        }
        Ok(LoadedCredentials { bindings, version })
    }

    /// After the provider refused credentials that had not expired: refreshes every slot of the
    /// connection that can be refreshed, whatever its expiry. Returns whether there was one to
    /// refresh (a token-only connection has none: the tenant must connect again). A refresh the
    /// provider refuses is `NeedsReauth`, and the integration is left for the caller to mark.
    pub(crate) async fn refresh_after_refusal(
        &self,
        definition: &RegisteredDefinition,
        integration: &Integration,
        connection: &ConnectionRegistration,
    ) -> Result<bool, RuntimeError> {
        let mut refreshed = false;
        for slot in &connection.credential_refs {
            let Some(refresh) = connection.refresh_hook(slot) else {
                continue;
            };
            let Some(stored) = self
                .inner
                .db
                .credentials(&self.inner.ring)
                .load(&integration.tenant_id, &integration.id, slot)
                .await?
            else {
                continue;
            };
            self.refresh(definition, integration, refresh, stored, Refresh::Now)
                .await?;
            refreshed = true;
        }
        Ok(refreshed)
    }

    #[tracing::instrument(
        name = "tributary.refresh",
        skip_all,
        fields(
            tenant_id = %integration.tenant_id,
            definition_id = %definition.definition.id(),
            integration_id = %integration.id,
            slot = %seen.slot,
        )
    )]
    async fn refresh(
        &self,
        definition: &RegisteredDefinition,
        integration: &Integration,
        refresh: &RefreshFn,
        seen: Credential,
        when: Refresh,
    ) -> Result<(Value, i64), RuntimeError> {
        let lock = self.inner.refresh_locks.get(&integration.id);
        let _held = lock.lock().await;
        // Other processes: PostgreSQL serialises refreshes of this slot with an advisory lock
        // held by this transaction. SQLite deployments are one process; the mutex suffices.
        let mut tx: Option<Tx> = match self.inner.db.backend() {
            Backend::Postgres => {
                let mut tx = self.inner.db.begin().await?;
                tx.lock_key(&format!("refresh:{}:{}", integration.id, seen.slot))
                    .await?;
                Some(tx)
            }
            Backend::Sqlite => None,
        };
        let current = self
            .credentials_within(tx.as_mut())
            .load(&integration.tenant_id, &integration.id, &seen.slot)
            .await?
            .ok_or_else(|| {
                RuntimeError::Invalid(format!(
                    "credential `{}` is missing; connect the integration again",
                    seen.slot
                ))
            })?;
        let still_good = when == Refresh::IfExpiring
            && !expires_within(current.expires_at, self.inner.config.refresh_margin);
        if current.version != seen.version || still_good {
            // Someone refreshed it while we waited.
            return Ok((decode(&current)?, current.version));
        }
        let old = decode(&current)?;
        let answer = self
            .observed(refresh(RefreshRequest {
                integration: integration_context(definition, integration),
                credential: old.clone(),
            }))
            .await;
        let definition_id = definition.definition.id();
        let mut fresh = match answer {
            Ok(fresh) => fresh,
            Err(err) if err.kind == ErrorKind::Auth => {
                drop(tx);
                self.inner
                    .metrics
                    .credential_refresh(definition_id, "needs_reauth");
                // After a refusal the caller marks the integration, with the refusal that
                // started it as well as this one.
                if when == Refresh::IfExpiring {
                    self.mark_needs_reauth(integration, &err.message).await?;
                }
                return Err(RuntimeError::NeedsReauth(err.message));
            }
            Err(err) => {
                self.inner
                    .metrics
                    .credential_refresh(definition_id, "failed");
                return Err(RuntimeError::Execute(err.into()));
            }
        };
        keep_refresh_token(&old, &mut fresh);
        let sealed = SecretBytes::new(serde_json::to_vec(&fresh).map_err(|_| {
            RuntimeError::Invalid("a refreshed credential did not serialise".into())
        })?);
        let expires_at = credential_expiry_ms(&fresh);
        let saved = self
            .credentials_within(tx.as_mut())
            .save(
                &integration.tenant_id,
                &integration.id,
                &current.slot,
                &sealed,
                Expect::Version(current.version),
                expires_at,
            )
            .await;
        let version = match saved {
            Ok(version) => version,
            Err(StoreError::Conflict { .. }) => {
                // Lost a race with a process that does not take our lock (an older version, or
                // a reconnect): its credential is newer than ours.
                drop(tx);
                let latest = self
                    .inner
                    .db
                    .credentials(&self.inner.ring)
                    .load(&integration.tenant_id, &integration.id, &current.slot)
                    .await?
                    .ok_or(RuntimeError::NotFound("credential"))?;
                return Ok((decode(&latest)?, latest.version));
            }
            Err(err) => return Err(err.into()),
        };
        if let Some(tx) = tx {
            tx.commit().await?;
        }
        self.inner.executor.pool().invalidate(&integration.id);
        self.inner
            .metrics
            .credential_refresh(definition_id, "refreshed");
        tracing::info!(version, "credential refreshed");
        Ok((fresh, version))
    }

    /// The provider refused the grant: stop using it and tell the tenant to reconnect. Only a
    /// `connected` integration changes: one disconnected (or already marked) meanwhile keeps
    /// its status.
    pub(crate) async fn mark_needs_reauth(
        &self,
        integration: &Integration,
        reason: &str,
    ) -> Result<(), RuntimeError> {
        let move_to = StatusMove {
            from: IntegrationStatus::Connected,
            to: IntegrationStatus::NeedsReauth,
            reason: Some(reason),
            schedules_run: false,
        };
        if !self.move_status(integration, move_to).await? {
            return Ok(());
        }
        tracing::warn!(
            tenant_id = %integration.tenant_id,
            integration_id = %integration.id,
            "integration needs to be connected again; its schedules are stopped"
        );
        Ok(())
    }
}

/// Providers that do not rotate refresh tokens answer a refresh without one: keep the old.
fn keep_refresh_token(old: &Value, fresh: &mut Value) {
    let missing = fresh
        .get(REFRESH_TOKEN_FIELD)
        .is_none_or(|token| token.is_null() || token.as_str() == Some(""));
    if let (true, Some(token), Value::Object(map)) = (missing, old.get(REFRESH_TOKEN_FIELD), fresh)
    {
        map.insert(REFRESH_TOKEN_FIELD.into(), token.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_refresh_without_a_refresh_token_keeps_the_old_one() {
        let old = json!({"access_token": "a1", "refresh_token": "r1"});
        let mut fresh = json!({"access_token": "a2"});
        keep_refresh_token(&old, &mut fresh);
        assert_eq!(fresh["refresh_token"], "r1");
        let mut rotated = json!({"access_token": "a3", "refresh_token": "r2"});
        keep_refresh_token(&old, &mut rotated);
        assert_eq!(rotated["refresh_token"], "r2");
    }

    #[test]
    fn expiry_comes_from_unix_seconds() {
        assert_eq!(
            credential_expiry_ms(&json!({"expires_at": 1_700_000_000})),
            Some(1_700_000_000_000)
        );
        assert_eq!(credential_expiry_ms(&json!({"token": "x"})), None);
        assert!(expires_within(
            Some(now_ms() + 1000),
            Duration::from_secs(60)
        ));
        assert!(!expires_within(
            Some(now_ms() + 3_600_000),
            Duration::from_secs(60)
        ));
        assert!(!expires_within(None, Duration::from_secs(60)));
    }
}
