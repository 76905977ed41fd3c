//! Building and sending one request: pacing, bounded retries that honour the provider's
//! throttling headers, and errors classified by kind.

use std::time::SystemTime;

use reqwest::{
    Method, StatusCode, Url,
    header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tokio::time::Instant;
use tributary_core::{ErrorKind, OperationError, Secret};

use crate::{
    AuthHeader, ProviderHttp, ProviderResponse, SigV4,
    classify::{
        classify_status, error_body, header_str, request_label, status_message, transport_error,
    },
    dns::is_private_ip_literal,
    retry::requested_wait,
};

/// A request body kept as data, so a retry or the next page can resend or adjust it.
#[derive(Debug, Clone)]
pub enum RequestBody {
    Json(Value),
    Form(Vec<(String, String)>),
}

/// A request being built. Cheap to clone (paginators use one as the template of every page).
#[derive(Clone)]
pub struct ProviderRequest {
    http: ProviderHttp,
    method: Method,
    url: Result<Url, OperationError>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Secret values this request carries, cut out of provider messages.
    redactions: Vec<Secret>,
    body: Option<RequestBody>,
    idempotent: Option<bool>,
    follow_redirects: bool,
    accepted: Vec<StatusCode>,
    deferred_error: Option<OperationError>,
    /// Signs each attempt with AWS Signature Version 4 (instead of an auth header).
    signer: Option<SigV4>,
}

impl std::fmt::Debug for ProviderRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_ref().ok().map(crate::redacted_url))
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ProviderRequest {
    pub(crate) fn new(
        http: ProviderHttp,
        method: Method,
        url: Result<Url, OperationError>,
    ) -> Self {
        Self {
            http,
            method,
            url,
            headers: Vec::new(),
            redactions: Vec::new(),
            body: None,
            idempotent: None,
            follow_redirects: true,
            accepted: Vec::new(),
            deferred_error: None,
            signer: None,
        }
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn url(&self) -> Option<&Url> {
        self.url.as_ref().ok()
    }

    pub fn body(&self) -> Option<&RequestBody> {
        self.body.as_ref()
    }

    /// Replaces the URL (a paginator following a next link).
    pub fn set_url(mut self, url: Url) -> Self {
        self.url = Ok(url);
        self
    }

    /// Appends a query parameter.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        if let Ok(url) = &mut self.url {
            url.query_pairs_mut().append_pair(name, value);
        }
        self
    }

    /// Appends several query parameters.
    pub fn query_pairs<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (name, value) in pairs {
            self = self.query(name, value);
        }
        self
    }

    /// Sets a query parameter, replacing every earlier value of it.
    pub fn set_query(mut self, name: &str, value: &str) -> Self {
        if let Ok(url) = &mut self.url {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(key, _)| key != name)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair(name, value);
        }
        self
    }

    /// A query parameter carrying a secret (an API key some providers want in the URL). Query
    /// strings never appear in our errors; the value is also cut out of provider messages.
    pub fn secret_query(mut self, name: &str, value: &Secret) -> Self {
        self.redactions.push(value.clone());
        self.query(name, value.expose())
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(value) => self.headers.push((HeaderName::from_static(name), value)),
            Err(_) => {
                self.deferred_error = Some(OperationError::internal(format!(
                    "the value of header `{name}` is not valid"
                )));
            }
        }
        self
    }

    /// A header carrying a secret: marked sensitive and cut out of provider messages.
    pub fn secret_header(mut self, name: HeaderName, value: &Secret) -> Self {
        match HeaderValue::from_str(value.expose()) {
            Ok(mut header) => {
                header.set_sensitive(true);
                self.headers.push((name, header));
                self.redactions.push(value.clone());
            }
            Err(_) => {
                self.deferred_error = Some(OperationError::config(format!(
                    "the credential for header `{name}` contains characters not allowed in a header"
                )));
            }
        }
        self
    }

    /// Overrides the client's auth header for this request.
    pub fn auth(mut self, auth: AuthHeader) -> Self {
        self.http.auth = Some(auth);
        self
    }

    /// Sends no auth header (token endpoints authenticate in the body).
    pub fn without_auth(mut self) -> Self {
        self.http.auth = None;
        self
    }

    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_value(body) {
            Ok(value) => self.body = Some(RequestBody::Json(value)),
            Err(err) => {
                self.deferred_error = Some(OperationError::internal(format!(
                    "a request body could not be encoded ({err})"
                )));
            }
        }
        self
    }

    /// Replaces the JSON body (paginators setting a token).
    pub fn set_json(mut self, body: Value) -> Self {
        self.body = Some(RequestBody::Json(body));
        self
    }

    /// A form body. Pass secret fields (client secrets, codes, refresh tokens) to
    /// [`redact`](Self::redact) as well.
    pub fn form<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.body = Some(RequestBody::Form(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ));
        self
    }

    /// Cuts `secret` out of any provider message quoted in an error.
    pub fn redact(mut self, secret: &Secret) -> Self {
        self.redactions.push(secret.clone());
        self
    }

    /// Whether the request may be repeated after a connection error or a 5xx. Defaults to the
    /// method's idempotency (GET, HEAD, PUT, DELETE, OPTIONS); set it for POSTs that only read
    /// (GraphQL queries, AWS list calls). Throttle answers (429, 503) are retried regardless.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// Signs the request with AWS Signature Version 4, anew for each attempt (a retried request
    /// needs a current `X-Amz-Date`). The credentials' secret parts are cut out of messages.
    pub fn sigv4(mut self, signer: SigV4) -> Self {
        self.redactions.extend(signer.credentials().secrets());
        self.signer = Some(signer);
        self
    }

    /// Do not follow redirects (OAuth token endpoints).
    pub fn no_redirects(mut self) -> Self {
        self.follow_redirects = false;
        self
    }

    /// Treats `status` as an answer to return rather than an error (a 404 meaning "absent").
    pub fn accept_status(mut self, status: u16) -> Self {
        if let Ok(status) = StatusCode::from_u16(status) {
            self.accepted.push(status);
        }
        self
    }

    fn is_idempotent(&self) -> bool {
        self.idempotent.unwrap_or(matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        ))
    }

    fn secrets(&self) -> Vec<&str> {
        let mut secrets: Vec<&str> = self.redactions.iter().map(Secret::expose).collect();
        if let Some(auth) = &self.http.auth {
            secrets.push(auth.token.expose());
        }
        if let Some(RequestBody::Form(pairs)) = &self.body {
            // Form bodies are what OAuth endpoints take; their values are credentials or codes.
            secrets.extend(
                pairs
                    .iter()
                    .filter(|(k, _)| {
                        matches!(
                            k.as_str(),
                            "client_secret"
                                | "code"
                                | "code_verifier"
                                | "refresh_token"
                                | "assertion"
                                | "client_assertion"
                                | "password"
                        )
                    })
                    .map(|(_, v)| v.as_str()),
            );
        }
        secrets
    }

    fn build(&self, url: &Url) -> Result<reqwest::Request, OperationError> {
        let client = self.client();
        let mut builder = client.request(self.method.clone(), url.clone());
        if let Some(auth) = &self.http.auth {
            builder = builder.header(auth.name.clone(), auth.value()?);
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        builder = match &self.body {
            Some(RequestBody::Json(value)) => builder.json(value),
            Some(RequestBody::Form(pairs)) => builder
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(pairs)
                        .finish(),
                ),
            None => builder,
        };
        let mut request = builder
            .build()
            .map_err(|err| transport_error(&request_label(&self.method, url), &err))?;
        if let Some(signer) = &self.signer {
            signer.sign(&mut request, SystemTime::now())?;
        }
        Ok(request)
    }

    fn client(&self) -> &reqwest::Client {
        if self.follow_redirects {
            &self.http.shared.client
        } else {
            &self.http.shared.no_redirects
        }
    }

    /// Sends the request: waits for the scope's budget, retries throttles and (for idempotent
    /// requests) transient failures within the profile's retry policy, and returns the answer if
    /// its status is a success (or accepted), else a classified error.
    pub async fn send(self) -> Result<ProviderResponse, OperationError> {
        if let Some(err) = self.deferred_error.clone() {
            return Err(err);
        }
        let url = self.url.clone()?;
        let label = request_label(&self.method, &url);
        let profile = &self.http.shared.profile;
        if profile.public_addresses_only && is_private_ip_literal(&url) {
            return Err(OperationError::config(format!(
                "{label}: the address is not a public address"
            )));
        }
        if profile.public_addresses_only
            && self.http.shared.proxied
            && let Err(reason) = crate::dns::ensure_public_host(&url).await
        {
            return Err(OperationError::config(format!("{label}: {reason}")));
        }
        let policy = profile.retry;
        let secrets = self.secrets();
        let mut attempt: u32 = 0;
        let definition = profile.name;
        loop {
            let waiting = Instant::now();
            self.http.limiter.acquire().await;
            let waited = waiting.elapsed();
            crate::observe::report(|o| o.waited(definition, waited));
            let request = self.build(&url)?;
            let started = Instant::now();
            let outcome = self.client().execute(request).await;
            let response = match outcome {
                Ok(response) => response,
                Err(err) => {
                    let elapsed = started.elapsed();
                    crate::observe::report(|o| o.failed(definition, elapsed));
                    tracing::debug!(target: "tributary::http", profile = profile.name, request = %label, attempt, "request failed without an answer");
                    let retryable = err.is_timeout() || err.is_connect() || err.is_request();
                    if retryable && self.is_idempotent() && attempt < policy.max_retries {
                        tokio::time::sleep(policy.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    let mut error = transport_error(&label, &err);
                    error.message.push_str(&retries_suffix(attempt));
                    return Err(error);
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let final_url = response.url().clone();
            let body = read_body(response, profile.max_response_bytes, &label).await;
            let elapsed = started.elapsed();
            crate::observe::report(|o| o.answered(definition, status.as_u16(), elapsed));
            let body = body?;
            tracing::debug!(target: "tributary::http", profile = profile.name, request = %label, status = status.as_u16(), attempt, elapsed_ms = started.elapsed().as_millis() as u64, "answer");
            self.observe_remaining(&headers);
            if status.is_success() {
                if let Some(refusal) = answer_refusal(profile.answer_check, &body, &label, &secrets)
                {
                    if refusal.kind == ErrorKind::RateLimit {
                        // Slack says "ratelimited" in a 200.
                        crate::observe::report(|o| o.throttled(definition));
                    }
                    return Err(refusal);
                }
                return Ok(ProviderResponse::new(
                    status, headers, final_url, body, label,
                ));
            }
            let json = error_body(&headers, &body);
            let kind = classify_status(status, &headers, &json);
            let throttled =
                kind == ErrorKind::RateLimit || status == StatusCode::SERVICE_UNAVAILABLE;
            // An accepted status is returned as an answer, unless it is a throttle (a 403 that is
            // GitHub's secondary limit must still be waited out, not read as "forbidden").
            if self.accepted.contains(&status) && !throttled {
                return Ok(ProviderResponse::new(
                    status, headers, final_url, body, label,
                ));
            }
            let message = status_message(&label, status, &json, &secrets);
            if throttled {
                crate::observe::report(|o| o.throttled(definition));
                let requested = requested_wait(&headers, &profile.reset_headers, SystemTime::now());
                let wait = requested.unwrap_or_else(|| policy.backoff(attempt));
                if wait > policy.max_wait {
                    return Err(OperationError::rate_limited(
                        format!(
                            "{message} (the provider asks to wait {}s, longer than this client waits)",
                            wait.as_secs()
                        ),
                        Some(wait),
                    ));
                }
                if attempt < policy.max_retries {
                    // Pausing the scope (not just this request) holds back concurrent requests
                    // of the same integration too; `acquire` at the loop start does the wait.
                    self.http.limiter.pause_until(Instant::now() + wait);
                    attempt += 1;
                    continue;
                }
                let message = format!("{message}{}", retries_suffix(attempt));
                return Err(
                    if status == StatusCode::SERVICE_UNAVAILABLE && requested.is_none() {
                        OperationError::provider(message)
                    } else {
                        OperationError::rate_limited(message, Some(wait))
                    },
                );
            }
            let transient = status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT;
            if transient && self.is_idempotent() && attempt < policy.max_retries {
                tokio::time::sleep(policy.backoff(attempt)).await;
                attempt += 1;
                continue;
            }
            let kind = if status.is_redirection() {
                ErrorKind::Provider
            } else {
                kind
            };
            return Err(OperationError::new(
                kind,
                format!("{message}{}", retries_suffix(attempt)),
            ));
        }
    }

    /// [`send`](Self::send), then decode the JSON body as `T`.
    pub async fn send_json<T: DeserializeOwned>(self) -> Result<T, OperationError> {
        self.send().await?.json()
    }

    fn observe_remaining(&self, headers: &HeaderMap) {
        let profile = &self.http.shared.profile;
        let exhausted = profile
            .remaining_headers
            .iter()
            .any(|name| header_str(headers, name).is_some_and(|v| v.trim() == "0"));
        if !exhausted {
            return;
        }
        if let Some(wait) = requested_wait(headers, &profile.reset_headers, SystemTime::now())
            && wait <= profile.retry.max_wait
        {
            self.http.limiter.pause_until(Instant::now() + wait);
        }
    }
}

/// The error a profile's [`AnswerCheck`](crate::profile::AnswerCheck) finds in a successful
/// answer: `"GET https://slack.com/api/users.list was refused: invalid_auth"`.
fn answer_refusal(
    check: Option<crate::profile::AnswerCheck>,
    body: &[u8],
    label: &str,
    secrets: &[&str],
) -> Option<OperationError> {
    let check = check?;
    let json: Value = serde_json::from_slice(body).ok()?;
    let (kind, detail) = check(&json)?;
    let message = format!(
        "{label} was refused: {}",
        crate::classify::excerpt(&detail, secrets)
    );
    Some(match kind {
        ErrorKind::RateLimit => OperationError::rate_limited(message, None),
        kind => OperationError::new(kind, message),
    })
}

fn retries_suffix(attempt: u32) -> String {
    match attempt {
        0 => String::new(),
        1 => " (after 1 retry)".to_owned(),
        n => format!(" (after {n} retries)"),
    }
}

async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    label: &str,
) -> Result<Vec<u8>, OperationError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(OperationError::provider(format!(
                        "{label} answered with a body larger than {limit} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(err) => return Err(transport_error(label, &err)),
        }
    }
}
