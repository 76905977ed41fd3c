//! OAuth 2.0 client flows on the provider HTTP stack: authorization URL, code exchange with PKCE,
//! refresh, client credentials, JWT bearer grant and `private_key_jwt` client authentication.
//! Token requests never follow redirects.

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::{StatusCode, Url, header::AUTHORIZATION};
use serde_json::Value;
use tributary_core::{AuthStartRequest, OperationError, Secret};

use crate::{
    JwtSigner, ProviderHttp, TokenSet,
    classify::{classify_status, oauth_error_code, status_message},
    jwt::client_assertion,
    token::unix_now,
};

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client id and secret.
    Basic(Secret),
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post(Secret),
    /// `private_key_jwt`: a signed client assertion (Okta service apps, Entra certificates).
    PrivateKeyJwt(JwtSigner),
    /// A public client: `client_id` only (PKCE protects the code).
    None,
}

/// An OAuth client registration at one authorization server.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    http: ProviderHttp,
    client_id: String,
    auth: ClientAuth,
    authorize_url: Option<String>,
    token_url: String,
    scope_separator: &'static str,
    tenant_credential: bool,
}

/// What goes into an authorization URL besides the client id.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationRequest {
    pub redirect_uri: String,
    pub state: String,
    /// The S256 challenge; `None` for servers without PKCE.
    pub code_challenge: Option<String>,
    /// The OIDC nonce, when an id token is expected.
    pub nonce: Option<String>,
    pub scopes: Vec<String>,
    /// Further parameters: `prompt=consent`, `access_type=offline`, `prompt=admin_consent`.
    pub extra: Vec<(String, String)>,
}

impl AuthorizationRequest {
    /// The request for a keymaker session: its redirect URI, state, PKCE challenge and nonce.
    pub fn from_session(start: &AuthStartRequest, scopes: &[&str]) -> Self {
        Self {
            redirect_uri: start.redirect_uri.clone(),
            state: start.state.clone(),
            code_challenge: Some(start.code_challenge.clone()),
            nonce: Some(start.nonce.clone()).filter(|n| !n.is_empty()),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            extra: Vec::new(),
        }
    }

    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.extra.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Drops the nonce (servers that reject unknown parameters, non-OIDC flows).
    pub fn without_nonce(mut self) -> Self {
        self.nonce = None;
        self
    }
}

impl OAuthClient {
    /// A client of the server whose token endpoint is `token_url`. The requests use `http`'s
    /// stack, profile and limiter, without its auth header and without redirects.
    pub fn new(
        http: &ProviderHttp,
        client_id: impl Into<String>,
        token_url: impl Into<String>,
    ) -> Self {
        Self {
            http: http.clone(),
            client_id: client_id.into(),
            auth: ClientAuth::None,
            authorize_url: None,
            token_url: token_url.into(),
            scope_separator: " ",
            tenant_credential: false,
        }
    }

    pub fn authorize_url(mut self, url: impl Into<String>) -> Self {
        self.authorize_url = Some(url.into());
        self
    }

    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// The client is the tenant's own credential (an Okta service app, an app registration a
    /// tenant pasted), not the operator's registration: the server refusing it (401
    /// `invalid_client`) is then an `Auth` error, so a failed refresh asks the tenant to
    /// connect again, instead of the `Config` error an operator's broken registration is.
    pub fn tenant_credential(mut self) -> Self {
        self.tenant_credential = true;
        self
    }

    /// Scope separator in authorization URLs and token requests (Slack wants `,`).
    pub fn scope_separator(mut self, separator: &'static str) -> Self {
        self.scope_separator = separator;
        self
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The URL to send the user's browser to.
    pub fn authorization_url(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<String, OperationError> {
        let base = self
            .authorize_url
            .as_deref()
            .ok_or_else(|| OperationError::internal("the OAuth client has no authorization URL"))?;
        let mut url = Url::parse(base).map_err(|err| {
            OperationError::config(format!("the authorization URL is not valid ({err})"))
        })?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &request.redirect_uri)
                .append_pair("state", &request.state);
            if !request.scopes.is_empty() {
                query.append_pair("scope", &request.scopes.join(self.scope_separator));
            }
            if let Some(challenge) = &request.code_challenge {
                query
                    .append_pair("code_challenge", challenge)
                    .append_pair("code_challenge_method", "S256");
            }
            if let Some(nonce) = &request.nonce {
                query.append_pair("nonce", nonce);
            }
            for (name, value) in &request.extra {
                query.append_pair(name, value);
            }
        }
        Ok(url.into())
    }

    /// Exchanges an authorization code (with the PKCE verifier when the flow used one).
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&Secret>,
    ) -> Result<TokenSet, OperationError> {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier.expose().to_owned()));
        }
        self.token_request(form).await
    }

    /// Refreshes `current`. An answer without a refresh token keeps the current one; a rotated
    /// one replaces it. `invalid_grant` (revoked or expired refresh token) is an `Auth` error.
    pub async fn refresh(
        &self,
        current: &TokenSet,
        scopes: &[&str],
    ) -> Result<TokenSet, OperationError> {
        let refresh_token = current.refresh_token.as_ref().ok_or_else(|| {
            OperationError::auth("the credential has no refresh token; reconnect the integration")
        })?;
        let mut form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose().to_owned()),
        ];
        if !scopes.is_empty() {
            form.push(("scope", scopes.join(self.scope_separator)));
        }
        let mut fresh = self.token_request(form).await?;
        if fresh.refresh_token.is_none() {
            fresh.refresh_token = Some(refresh_token.clone());
        }
        if fresh.scopes.is_empty() {
            fresh.scopes = current.scopes.clone();
        }
        Ok(fresh)
    }

    /// The client credentials grant (app-only tokens: Entra, Okta service apps).
    pub async fn client_credentials(&self, scopes: &[&str]) -> Result<TokenSet, OperationError> {
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if !scopes.is_empty() {
            form.push(("scope", scopes.join(self.scope_separator)));
        }
        self.token_request(form).await
    }

    /// The JWT bearer grant (RFC 7523): Google service accounts.
    pub async fn jwt_bearer(&self, assertion: &Secret) -> Result<TokenSet, OperationError> {
        self.token_request(vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
            ),
            ("assertion", assertion.expose().to_owned()),
        ])
        .await
    }

    async fn token_request(
        &self,
        mut form: Vec<(&'static str, String)>,
    ) -> Result<TokenSet, OperationError> {
        let mut request = self
            .http
            .post(&self.token_url)
            .without_auth()
            .no_redirects();
        match &self.auth {
            ClientAuth::Basic(secret) => {
                // RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let credentials =
                    format!("{}:{}", encode(&self.client_id), encode(secret.expose()));
                let header = Secret::new(format!("Basic {}", STANDARD.encode(credentials)));
                request = request.secret_header(AUTHORIZATION, &header).redact(secret);
            }
            ClientAuth::Post(secret) => {
                form.push(("client_id", self.client_id.clone()));
                form.push(("client_secret", secret.expose().to_owned()));
            }
            ClientAuth::PrivateKeyJwt(signer) => {
                let assertion =
                    client_assertion(signer, &self.client_id, &self.token_url, unix_now())?;
                form.push(("client_id", self.client_id.clone()));
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                ));
                form.push(("client_assertion", assertion.expose().to_owned()));
            }
            ClientAuth::None => form.push(("client_id", self.client_id.clone())),
        }
        if self.tenant_credential {
            request = request.accept_status(401);
        }
        // RFC 6749 §5.2: a refused token request is 400 with an `error` code, read below.
        request = request.accept_status(400);
        let refreshing = form
            .iter()
            .any(|(key, value)| *key == "grant_type" && value == "refresh_token");
        let response = request
            .header("accept", "application/json")
            .form(form.iter().map(|(k, v)| (*k, v.as_str())))
            .send()
            .await?;
        let secrets: Vec<&str> = form
            .iter()
            .filter(|(k, _)| *k != "grant_type" && *k != "client_id" && *k != "scope")
            .map(|(_, v)| v.as_str())
            .collect();
        if response.status() == StatusCode::UNAUTHORIZED {
            // Only reached with `tenant_credential`: other clients fail in `send`.
            let body: Value = response.json().unwrap_or(Value::Null);
            let message = status_message(response.label(), response.status(), &body, &secrets);
            return Err(OperationError::auth(message));
        }
        if response.status() == StatusCode::BAD_REQUEST {
            let body: Value = response.json().unwrap_or(Value::Null);
            let message = status_message(response.label(), response.status(), &body, &secrets);
            // A refresh asking for a scope the grant no longer covers (consent withdrawn or
            // narrowed) cannot succeed until the user consents again: that is the grant's
            // problem, not the configuration's.
            let kind = match oauth_error_code(&body) {
                Some("invalid_scope") if refreshing => tributary_core::ErrorKind::Auth,
                _ => classify_status(response.status(), response.headers(), &body),
            };
            return Err(OperationError::new(kind, message));
        }
        let body: Value = response.json()?;
        // Some servers (GitHub's) answer errors with 200 and an `error` field.
        if body.get("access_token").is_none() && body.get("error").is_some() {
            let status = StatusCode::BAD_REQUEST;
            let kind = classify_status(status, response.headers(), &body);
            let message = status_message(response.label(), response.status(), &body, &secrets);
            return Err(OperationError::new(kind, message));
        }
        TokenSet::from_token_response(&body, unix_now())
    }
}
