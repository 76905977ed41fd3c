//! What a definition declares about its HTTP use ([`HttpProfile`]) and the credential header
//! its requests carry ([`AuthHeader`]).

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::Value;
use tributary_core::{ErrorKind, OperationError, Secret};

use crate::{RateLimit, ResetHeader, RetryPolicy};

/// Reads a refusal out of a successful answer's JSON body, for providers that report errors with
/// HTTP 200 (Slack's `{"ok": false, "error": "invalid_auth"}`). It returns the error's kind and
/// the provider's code or message; `None` accepts the answer.
pub type AnswerCheck = fn(&Value) -> Option<(ErrorKind, String)>;

/// How a definition talks HTTP to its provider. Declared once per definition.
#[derive(Debug, Clone)]
pub struct HttpProfile {
    /// The definition id, used in limiter keys and traces.
    pub name: &'static str,
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Whole-request timeout, body included.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// The provider's budget; `None` means no client-side pacing (throttle answers still pause
    /// the scope).
    pub rate_limit: Option<RateLimit>,
    /// Headers that say when a throttled window resets, read after `Retry-After`.
    pub reset_headers: Vec<ResetHeader>,
    /// Headers giving the remaining budget (Okta `X-Rate-Limit-Remaining`). When a successful
    /// answer says `0`, the scope pauses until the reset the reset headers announce.
    pub remaining_headers: Vec<&'static str>,
    /// Connect to public addresses only: names resolving to private, loopback or link-local
    /// addresses, such IP literals and redirects to them are refused. Set it for providers whose
    /// host a user supplies (an Okta org URL); tests on loopback leave it off.
    pub public_addresses_only: bool,
    /// Larger response bodies fail with a `Provider` error instead of filling memory.
    pub max_response_bytes: usize,
    /// Errors the provider reports inside successful answers; see [`AnswerCheck`].
    pub answer_check: Option<AnswerCheck>,
}

impl HttpProfile {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            user_agent: format!("tributary/{} ({name})", env!("CARGO_PKG_VERSION")),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            rate_limit: None,
            reset_headers: Vec::new(),
            remaining_headers: Vec::new(),
            public_addresses_only: false,
            max_response_bytes: 32 * 1024 * 1024,
            answer_check: None,
        }
    }

    /// A profile for an API on a host the operator chose (or the provider's public default),
    /// paced by `budget`. A private address there is the operator's call; tenant input never
    /// names the host.
    pub fn operator_hosts(name: &'static str, budget: RateLimit) -> Self {
        Self::new(name)
            .rate_limit(budget)
            .public_addresses_only(false)
    }

    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    pub fn timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    pub fn reset_header(mut self, header: ResetHeader) -> Self {
        self.reset_headers.push(header);
        self
    }

    pub fn remaining_header(mut self, name: &'static str) -> Self {
        self.remaining_headers.push(name);
        self
    }

    pub fn public_addresses_only(mut self, public_only: bool) -> Self {
        self.public_addresses_only = public_only;
        self
    }

    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Refuses successful answers whose body `check` finds an error in (Slack's `ok: false`).
    /// Paginators and the OAuth client send through the same path, so they see the error too.
    pub fn answer_check(mut self, check: AnswerCheck) -> Self {
        self.answer_check = Some(check);
        self
    }
}

/// The `Authorization` (or other) header carrying a credential. `Debug` shows the header name.
#[derive(Clone)]
pub struct AuthHeader {
    pub(crate) name: HeaderName,
    scheme: Option<&'static str>,
    pub(crate) token: Secret,
}

impl AuthHeader {
    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: Secret) -> Self {
        Self::scheme("Bearer", token)
    }

    /// `Authorization: <scheme> <token>` (Okta's `SSWS`).
    pub fn scheme(scheme: &'static str, token: Secret) -> Self {
        Self {
            name: AUTHORIZATION,
            scheme: Some(scheme),
            token,
        }
    }

    /// `<name>: <token>` (an API-key header).
    pub fn header(name: HeaderName, token: Secret) -> Self {
        Self {
            name,
            scheme: None,
            token,
        }
    }

    pub(crate) fn value(&self) -> Result<HeaderValue, OperationError> {
        let text = match self.scheme {
            Some(scheme) => format!("{scheme} {}", self.token.expose()),
            None => self.token.expose().to_owned(),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            OperationError::config(
                "the credential contains characters not allowed in an HTTP header",
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl std::fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthHeader")
            .field("name", &self.name)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}
