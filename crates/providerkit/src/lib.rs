//! The shared provider kit: what every provider definition needs to talk to its API, so that a
//! provider is mostly declarations and small functions.
//!
//! - [`ProviderHttp`]: one reqwest/rustls(ring) stack per [`HttpProfile`], with client-side
//!   pacing ([`RateLimit`], one [`Limiter`] per [`ScopeKey`]), bounded retries that honour
//!   `Retry-After` and provider reset headers, and errors classified into
//!   [`ErrorKind`](tributary_core::ErrorKind)s (see [`classify`]).
//! - [`Paginator`] with the [`Pagination`] styles of our providers and a [`Checkpoint`] to
//!   resume a listing; [`ResumableRun`] lists in checkpointed phases, and the [`accounts`],
//!   [`groups_and_memberships`] helpers shape what directory syncs ingest.
//! - OAuth 2.0 ([`OAuthClient`], [`TokenSet`]), PKCE and session randoms, OIDC id-token
//!   verification ([`IdTokenVerifier`]) and RS256 JWT assertions ([`JwtSigner`]).
//! - AWS: [`SigV4`] request signing (through `aws-sigv4`) and STS [`assume_role`].
//! - [`validate_base_url`] and [`host_has_suffix`] for user-supplied hosts.
//! - [`observed`]: a caller's [`HttpObserver`] hears of every request (its metrics).
//!
//! Errors never contain request headers, tokens or query strings.

mod aws;
pub mod classify;
mod deliveries;
mod directory;
mod dns;
mod findings;
mod github;
mod host;
mod http;
mod jwt;
mod oauth;
mod observe;
mod oidc;
mod pagination;
mod pkce;
mod profile;
mod random;
mod rate_limit;
pub mod redact;
mod request;
mod response;
mod resumable;
mod retry;
mod settings;
mod stored;
mod tls;
mod token;
mod token_cache;

pub use aws::{
    AssumeRoleRequest, AwsCredentials, SigV4, assume_role, aws_endpoint, aws_partition,
    is_aws_region, xml_text,
};
pub use classify::{redacted_url, request_label};
pub use deliveries::{DeliveryLog, unique_in_order};
pub use directory::{
    DIRECTORY_SCHEMAS, GROUPS_PHASE, USERS_PHASE, accounts, groups_and_memberships, membership,
};
pub use findings::vulnerabilities_and_findings;
pub use github::github_installation_token;
pub use host::{
    HostPolicy, host_has_suffix, is_public_ip, operator_config_url, validate_base_url,
    validate_host_with_suffix,
};
pub use http::ProviderHttp;
pub use jwt::{
    ClientAssertionClaims, GithubAppClaims, JwtSigner, ServiceAccountClaims, ServiceAccountKey,
    client_assertion, github_app_jwt, google_service_account_assertion,
};
pub use oauth::{AuthorizationRequest, ClientAuth, OAuthClient};
pub use observe::{HttpObserver, observed};
pub use oidc::{IdTokenClaims, IdTokenVerifier, IssuerCheck};
pub use pagination::{Checkpoint, Listing, Page, Pagination, Paginator, link_rel, next_cursor};
pub use pkce::{oauth_state, oidc_nonce, pkce_challenge, pkce_verifier, random_token};
pub use profile::{AnswerCheck, AuthHeader, HttpProfile};
pub use random::{fill_random, random_between, random_bytes};
pub use rate_limit::{Limiter, RateLimit, RateLimitScope, RateLimiters, ScopeKey};
pub use redact::redact;
pub use request::{ProviderRequest, RequestBody};
pub use response::ProviderResponse;
pub use resumable::{CursorPage, ResumableRun};
pub use retry::{ResetHeader, RetryPolicy, requested_wait, retry_after};
pub use settings::{required_secret, required_text};
pub use stored::decode_stored;
pub use tls::install_crypto_provider;
pub use token::{TokenSet, unix_now};
pub use token_cache::{AwsCredentialCache, Expiring, ExpiringCache, TokenCache};

/// Re-exported so providers name the same types.
pub use reqwest::{Method, StatusCode, Url, header};
