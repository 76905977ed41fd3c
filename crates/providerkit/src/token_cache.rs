//! An access token a client mints for itself (a Google service account's JWT-bearer grant, a
//! client-credentials grant) and keeps until it nears expiry.
//!
//! Such tokens are not stored credentials the runtime refreshes: the stored credential is the key,
//! and the client is pooled for as long as the key does not change, which can outlive the token.
//! The cache mints on first use and again when the token expires within the margin; concurrent
//! callers wait for one mint instead of each minting their own.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::Mutex;
use tributary_core::{OperationError, Secret};

use crate::{AwsCredentials, TokenSet};

/// Something minted with an expiry: an OAuth token, temporary AWS credentials.
pub trait Expiring {
    /// Whether it expires within `margin` (never, for what has no expiry).
    fn expires_within(&self, margin: Duration) -> bool;
}

impl Expiring for TokenSet {
    fn expires_within(&self, margin: Duration) -> bool {
        TokenSet::expires_within(self, margin)
    }
}

impl Expiring for AwsCredentials {
    fn expires_within(&self, margin: Duration) -> bool {
        AwsCredentials::expires_within(self, margin)
    }
}

/// One minted value, minted again when it expires within `margin`. Concurrent callers wait for
/// one mint; a failed mint leaves the cache empty.
#[derive(Debug)]
pub struct ExpiringCache<T> {
    current: Mutex<Option<Arc<T>>>,
    margin: Duration,
}

impl<T: Expiring> ExpiringCache<T> {
    pub fn new(margin: Duration) -> Self {
        Self {
            current: Mutex::new(None),
            margin,
        }
    }

    /// The cached value, or a new one from `mint` when there is none or it expires within the
    /// margin.
    pub async fn get_or_mint<F, Fut>(&self, mint: F) -> Result<Arc<T>, OperationError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, OperationError>>,
    {
        let mut current = self.current.lock().await;
        if let Some(value) = current.as_ref()
            && !value.expires_within(self.margin)
        {
            return Ok(Arc::clone(value));
        }
        *current = None;
        let fresh = Arc::new(mint().await?);
        *current = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// Forgets the value (the provider refused it before its expiry).
    pub async fn clear(&self) {
        *self.current.lock().await = None;
    }
}

/// Temporary AWS credentials (an assumed role's session), renewed before they expire.
pub type AwsCredentialCache = ExpiringCache<AwsCredentials>;

/// One minted access token, re-minted when it expires within `margin`.
#[derive(Debug)]
pub struct TokenCache(ExpiringCache<TokenSet>);

impl TokenCache {
    /// A cache that re-mints tokens expiring within `margin` (the runtime uses five minutes for
    /// stored tokens).
    pub fn new(margin: Duration) -> Self {
        Self(ExpiringCache::new(margin))
    }

    /// The cached access token, or a new one from `mint` when there is none or it expires within
    /// the margin. A failed mint leaves the cache empty and returns the error.
    pub async fn get_or_mint<F, Fut>(&self, mint: F) -> Result<Secret, OperationError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenSet, OperationError>>,
    {
        Ok(self.0.get_or_mint(mint).await?.access_token.clone())
    }

    /// Forgets the token (the provider refused it before its expiry).
    pub async fn clear(&self) {
        self.0.clear().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::unix_now;

    fn token(value: &str, lifetime: i64) -> TokenSet {
        TokenSet {
            expires_at: Some(unix_now() + lifetime),
            ..TokenSet::from_access_token(Secret::new(value))
        }
    }

    #[tokio::test]
    async fn mints_once_while_the_token_is_fresh_and_again_near_expiry() {
        let cache = TokenCache::new(Duration::from_secs(300));
        let mints = AtomicUsize::new(0);
        for _ in 0..3 {
            let got = cache
                .get_or_mint(|| async {
                    mints.fetch_add(1, Ordering::SeqCst);
                    Ok(token("long-lived", 3600))
                })
                .await
                .unwrap();
            assert_eq!(got.expose(), "long-lived");
        }
        assert_eq!(mints.load(Ordering::SeqCst), 1);

        // A token inside the margin is replaced on the next use.
        let short = TokenCache::new(Duration::from_secs(300));
        let first = short
            .get_or_mint(|| async { Ok(token("short-1", 60)) })
            .await
            .unwrap();
        let second = short
            .get_or_mint(|| async { Ok(token("short-2", 3600)) })
            .await
            .unwrap();
        assert_eq!((first.expose(), second.expose()), ("short-1", "short-2"));
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_mint_and_a_failure_is_not_cached() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(300)));
        let failed = cache
            .get_or_mint(|| async { Err(OperationError::auth("invalid_grant")) })
            .await;
        assert!(failed.is_err());
        let mints = Arc::new(AtomicUsize::new(0));
        let callers = (0..4).map(|_| {
            let (cache, mints) = (Arc::clone(&cache), Arc::clone(&mints));
            tokio::spawn(async move {
                cache
                    .get_or_mint(|| async {
                        mints.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(token("shared", 3600))
                    })
                    .await
                    .unwrap()
            })
        });
        for caller in callers.collect::<Vec<_>>() {
            assert_eq!(caller.await.unwrap().expose(), "shared");
        }
        assert_eq!(mints.load(Ordering::SeqCst), 1);
        cache.clear().await;
        cache
            .get_or_mint(|| async {
                mints.fetch_add(1, Ordering::SeqCst);
                Ok(token("after-clear", 3600))
            })
            .await
            .unwrap();
        assert_eq!(mints.load(Ordering::SeqCst), 2);
    }
}
