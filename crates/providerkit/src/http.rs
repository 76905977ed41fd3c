//! The provider HTTP client: one reqwest stack per definition profile, sharing connections,
//! pacing and the profile between cheap clones.

use std::sync::Arc;

use reqwest::{Method, Url};
use tributary_core::{IntegrationContext, OperationError, Secret};

use crate::{
    AuthHeader, HttpProfile, ProviderRequest,
    dns::{PublicOnlyResolver, is_private_ip_literal, proxy_hosts},
    rate_limit::{Limiter, RateLimit, RateLimitScope, RateLimiters, ScopeKey},
    tls::install_crypto_provider,
};

pub(crate) struct Shared {
    pub(crate) client: reqwest::Client,
    /// Token endpoints and anything else that must not follow redirects.
    pub(crate) no_redirects: reqwest::Client,
    pub(crate) profile: HttpProfile,
    /// Whether a proxy is configured: the target's name is then resolved by the proxy, so a
    /// public-only client checks it itself before sending.
    pub(crate) proxied: bool,
}

/// A provider's HTTP client: cheap to clone, shares connections, limiter and profile.
#[derive(Clone)]
pub struct ProviderHttp {
    pub(crate) shared: Arc<Shared>,
    pub(crate) limiter: Arc<Limiter>,
    base_url: Option<Url>,
    pub(crate) auth: Option<AuthHeader>,
}

impl std::fmt::Debug for ProviderHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderHttp")
            .field("profile", &self.shared.profile.name)
            .field("base_url", &self.base_url.as_ref().map(crate::redacted_url))
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl ProviderHttp {
    /// Builds the client of `profile`. Its limiter is private to this client until it is given
    /// a scope with [`scoped`](Self::scoped).
    pub fn new(profile: HttpProfile) -> Result<Self, OperationError> {
        install_crypto_provider();
        let proxies = proxy_hosts();
        let build = |redirects: reqwest::redirect::Policy| {
            let mut builder = reqwest::Client::builder()
                .user_agent(profile.user_agent.clone())
                .connect_timeout(profile.connect_timeout)
                .timeout(profile.request_timeout)
                .redirect(redirects);
            if profile.public_addresses_only {
                builder = builder.dns_resolver(Arc::new(PublicOnlyResolver {
                    proxies: Arc::clone(&proxies),
                }));
            }
            builder.build().map_err(|err| {
                OperationError::internal(format!(
                    "the HTTP client of `{}` could not be built ({})",
                    profile.name,
                    err.without_url()
                ))
            })
        };
        let public_only = profile.public_addresses_only;
        let following = reqwest::redirect::Policy::custom(move |attempt| {
            match redirect_refusal(public_only, attempt.previous().len(), attempt.url()) {
                Some(reason) => attempt.error(reason),
                None => attempt.follow(),
            }
        });
        let client = build(following)?;
        let no_redirects = build(reqwest::redirect::Policy::none())?;
        let limiter = Arc::new(Limiter::new(profile.rate_limit));
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                no_redirects,
                profile,
                proxied: !proxies.is_empty(),
            }),
            limiter,
            base_url: None,
            auth: None,
        })
    }

    /// A client drawing from the budget of `key` in the process-wide limiter registry.
    pub fn scoped(&self, key: &ScopeKey) -> Self {
        self.scoped_in(RateLimiters::global(), key)
    }

    /// A client drawing from the budget of the scope the profile's rate limit declares: the
    /// integration, or the credential's fingerprint (integration when no limit is declared).
    pub fn scoped_for(&self, integration: &IntegrationContext, credential: &Secret) -> Self {
        let scope = self
            .shared
            .profile
            .rate_limit
            .map_or(RateLimitScope::Integration, |limit| limit.scope);
        self.scoped(&ScopeKey::for_scope(scope, integration, credential))
    }

    /// A client drawing from the budget of `key` in `registry`.
    pub fn scoped_in(&self, registry: &RateLimiters, key: &ScopeKey) -> Self {
        Self {
            limiter: registry.limiter(key, self.shared.profile.rate_limit),
            ..self.clone()
        }
    }

    /// A client drawing from a budget of its own for one class of endpoints (Slack's method
    /// tiers): `http.limited(&ScopeKey::integration(&ctx).class("tier2"), RateLimit::per_minute(20))`.
    pub fn limited(&self, key: &ScopeKey, budget: RateLimit) -> Self {
        Self {
            limiter: RateLimiters::global().limiter(key, Some(budget)),
            ..self.clone()
        }
    }

    /// Relative request paths are appended to `base_url` (which is how tests point a provider at
    /// a loopback server).
    pub fn with_base_url(&self, base_url: Url) -> Self {
        Self {
            base_url: Some(base_url),
            ..self.clone()
        }
    }

    /// Every request carries `auth` unless it sets its own.
    pub fn with_auth(&self, auth: AuthHeader) -> Self {
        Self {
            auth: Some(auth),
            ..self.clone()
        }
    }

    pub fn profile(&self) -> &HttpProfile {
        &self.shared.profile
    }

    pub fn base_url(&self) -> Option<&Url> {
        self.base_url.as_ref()
    }

    /// The limiter this client draws from.
    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// A request to `url`: absolute, or a path relative to the base URL.
    pub fn request(&self, method: Method, url: &str) -> ProviderRequest {
        ProviderRequest::new(self.clone(), method, self.resolve(url))
    }

    pub fn get(&self, url: &str) -> ProviderRequest {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: &str) -> ProviderRequest {
        self.request(Method::POST, url)
    }

    pub fn put(&self, url: &str) -> ProviderRequest {
        self.request(Method::PUT, url)
    }

    pub fn patch(&self, url: &str) -> ProviderRequest {
        self.request(Method::PATCH, url)
    }

    pub fn delete(&self, url: &str) -> ProviderRequest {
        self.request(Method::DELETE, url)
    }

    fn resolve(&self, url: &str) -> Result<Url, OperationError> {
        let joined;
        let absolute = ["http://", "https://"].iter().any(|scheme| {
            url.len() >= scheme.len() && url[..scheme.len()].eq_ignore_ascii_case(scheme)
        });
        let text = if absolute {
            url
        } else if let Some(base) = &self.base_url {
            joined = format!(
                "{}/{}",
                base.as_str().trim_end_matches('/'),
                url.trim_start_matches('/')
            );
            &joined
        } else {
            return Err(OperationError::internal(format!(
                "a relative request path was used but `{}` has no base URL",
                self.shared.profile.name
            )));
        };
        // The parse error is worded by `url`, which never echoes the input.
        Url::parse(text)
            .map_err(|err| OperationError::config(format!("the request URL is not valid ({err})")))
    }
}

/// Why a redirect to `url` after `hops` earlier ones must not be followed, if it must not.
fn redirect_refusal(public_only: bool, hops: usize, url: &Url) -> Option<&'static str> {
    if hops >= 5 {
        Some("too many redirects")
    } else if public_only && is_private_ip_literal(url) {
        Some("redirect to a non-public address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_join_the_base_url() {
        let http = ProviderHttp::new(HttpProfile::new("test"))
            .unwrap()
            .with_base_url(Url::parse("https://acme.okta.com/api/v1/").unwrap());
        let resolved = |path: &str| http.resolve(path).unwrap().to_string();
        assert_eq!(resolved("users"), "https://acme.okta.com/api/v1/users");
        assert_eq!(
            resolved("/users?q=https://x"),
            "https://acme.okta.com/api/v1/users?q=https://x"
        );
        assert_eq!(
            resolved("HTTPS://other.example/x"),
            "https://other.example/x"
        );
        let without_base = ProviderHttp::new(HttpProfile::new("test")).unwrap();
        assert_eq!(
            without_base.resolve("/users").unwrap_err().kind,
            tributary_core::ErrorKind::Internal
        );
    }

    #[test]
    fn scoped_for_follows_the_declared_scope() {
        let mut integration = IntegrationContext::detached("scope-test");
        integration.integration_id = "i-1".into();
        let token = Secret::new("shared-token");
        let per_credential = ProviderHttp::new(
            HttpProfile::new("scope-test")
                .rate_limit(crate::RateLimit::per_second(1).scope(RateLimitScope::Credential)),
        )
        .unwrap();
        let a = per_credential.scoped_for(&integration, &token);
        integration.integration_id = "i-2".into();
        let b = per_credential.scoped_for(&integration, &token);
        assert!(
            Arc::ptr_eq(a.limiter(), b.limiter()),
            "same credential, same budget"
        );
        let per_integration = ProviderHttp::new(HttpProfile::new("scope-test")).unwrap();
        let c = per_integration.scoped_for(&integration, &token);
        integration.integration_id = "i-3".into();
        let d = per_integration.scoped_for(&integration, &token);
        assert!(
            !Arc::ptr_eq(c.limiter(), d.limiter()),
            "different integrations"
        );
    }

    #[test]
    fn endpoint_classes_have_their_own_budgets() {
        let mut integration = IntegrationContext::detached("class-test");
        integration.integration_id = "i-1".into();
        let http = ProviderHttp::new(HttpProfile::new("class-test")).unwrap();
        let base = ScopeKey::integration(&integration);
        let tier2 = http.limited(&base.clone().class("tier2"), RateLimit::per_minute(20));
        let tier2_again = http.limited(&base.clone().class("tier2"), RateLimit::per_minute(20));
        let tier3 = http.limited(&base.class("tier3"), RateLimit::per_minute(50));
        assert!(Arc::ptr_eq(tier2.limiter(), tier2_again.limiter()));
        assert!(!Arc::ptr_eq(tier2.limiter(), tier3.limiter()));
    }

    #[test]
    fn redirects_are_bounded_and_stay_public_when_asked() {
        let private = Url::parse("http://169.254.169.254/latest/meta-data").unwrap();
        let public = Url::parse("https://api.example.com/next").unwrap();
        assert_eq!(redirect_refusal(false, 0, &private), None);
        assert!(redirect_refusal(true, 0, &private).is_some());
        assert_eq!(redirect_refusal(true, 4, &public), None);
        assert!(redirect_refusal(true, 5, &public).is_some());
    }
}
