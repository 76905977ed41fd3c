//! A fake OAuth 2.0 authorization server, in Rust, that a fake provider mounts beside its API
//! (Google's `/o/oauth2/v2/auth` and `/token`, Entra's `/{tenant}/oauth2/v2.0/...`, Okta's
//! `/oauth2/v1/token`). It checks what real servers check, so provider code that gets one detail
//! wrong fails here rather than in production:
//!
//! - `GET authorize`: a registered `client_id`, `response_type=code`, a `redirect_uri`; approves at
//!   once and redirects back with `code`, `state` and any extra callback parameters.
//! - `POST token` (form-encoded) grants `authorization_code` (single-use codes bound to the client
//!   and `redirect_uri`, PKCE S256 when the authorize request carried a challenge),
//!   `refresh_token` (tracked, revocable, optionally rotated), `client_credentials` and the
//!   JWT-bearer grant (`urn:ietf:params:oauth:grant-type:jwt-bearer`, RS256 assertions verified
//!   against registered public keys: a service account with domain-wide delegation sends `sub`).
//! - Clients authenticate with `client_secret_post`, `client_secret_basic` or `private_key_jwt`
//!   (an RS256 `client_assertion` whose `aud` is the token endpoint's URL).
//! - With `openid` in the scope, an RS256 id token (key at the JWKS path) carries `iss`, `aud`,
//!   `sub`, the authorize request's `nonce` and the configured extra claims (Entra's `tid`).
//! - Refusals use the standard error body: 400 `invalid_grant` / `invalid_request` /
//!   `unsupported_grant_type`, 401 `invalid_client`.
//!
//! The provider API handlers call [`FakeAuthorization::bearer`] to accept or refuse an access
//! token, and tests drive expiry and revocation through the control methods.

// The grant helpers return a ready refusal as their error; its size does not matter in a fake.
#![allow(clippy::result_large_err)]

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Form, Json, Router,
    extract::{OriginalUri, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::Jwk};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The RSA key that signs the fake's id tokens. A test-only key, generated for this repository.
const ISSUER_KEY_PEM: &str = crate::keys::ISSUER_RSA_PEM;
/// A client key pair for tests of `private_key_jwt` and service-account assertions: the private
/// half is what a user would paste, the public half what they would register with the provider.
pub const CLIENT_PRIVATE_KEY_PEM: &str = include_str!("../keys/client-rsa.pem");
pub const CLIENT_PUBLIC_KEY_PEM: &str = include_str!("../keys/client-rsa.pub.pem");
const ISSUER_KEY_ID: &str = "tributary-testkit-issuer";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Where the fake serves its endpoints; axum path patterns (`/{tenant}/oauth2/v2.0/token`).
#[derive(Debug, Clone)]
pub struct AuthorizationPaths {
    pub authorize: String,
    pub token: String,
    pub jwks: String,
}

impl AuthorizationPaths {
    /// Google's: `/o/oauth2/v2/auth`, `/token` and `/oauth2/v3/certs`.
    pub fn google() -> Self {
        Self::new("/o/oauth2/v2/auth", "/token", "/oauth2/v3/certs")
    }

    /// The Microsoft identity platform's, for any tenant: `/{tenant}/oauth2/v2.0/authorize`,
    /// `/{tenant}/oauth2/v2.0/token` and `/{tenant}/discovery/v2.0/keys`.
    pub fn microsoft() -> Self {
        Self::new(
            "/{tenant}/oauth2/v2.0/authorize",
            "/{tenant}/oauth2/v2.0/token",
            "/{tenant}/discovery/v2.0/keys",
        )
    }

    pub fn new(authorize: &str, token: &str, jwks: &str) -> Self {
        Self {
            authorize: authorize.into(),
            token: token.into(),
            jwks: jwks.into(),
        }
    }
}

/// An application registered with the fake: a confidential client with a secret, a client that
/// signs assertions with a key, or a public client with neither.
#[derive(Debug, Clone, Default)]
pub struct ClientApp {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// PEM public key for `private_key_jwt` client assertions.
    pub public_key_pem: Option<String>,
}

impl ClientApp {
    pub fn confidential(client_id: &str, client_secret: &str) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            public_key_pem: None,
        }
    }

    pub fn with_key(client_id: &str, public_key_pem: &str) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: None,
            public_key_pem: Some(public_key_pem.into()),
        }
    }
}

/// What an accepted access token was granted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub client_id: String,
    /// The user or delegated subject (`sub` of a JWT-bearer assertion), if any.
    pub subject: Option<String>,
    pub scope: String,
    pub expires_at: i64,
}

/// Why a bearer token was refused, for the provider's own 401 body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerRefusal {
    Missing,
    Unknown,
    Expired,
}

/// The fake authorization server's state and controls. Clones share the state.
#[derive(Clone)]
pub struct FakeAuthorization {
    state: Arc<Mutex<AuthState>>,
    signing_key: Arc<EncodingKey>,
}

#[derive(Default)]
struct AuthState {
    issuer: String,
    clients: HashMap<String, ClientApp>,
    /// Assertion issuer (a service account's email) -> PEM public key.
    service_accounts: HashMap<String, String>,
    codes: HashMap<String, CodeGrant>,
    access_tokens: HashMap<String, AccessGrant>,
    refresh_tokens: HashMap<String, AccessGrant>,
    token_lifetime: i64,
    rotate_refresh_tokens: bool,
    id_token_claims: Map<String, Value>,
    subject: String,
    callback_params: Vec<(String, String)>,
    grants: BTreeMap<String, usize>,
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    nonce: Option<String>,
    scope: String,
}

impl Default for FakeAuthorization {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeAuthorization {
    pub fn new() -> Self {
        let signing_key = EncodingKey::from_rsa_pem(ISSUER_KEY_PEM.as_bytes())
            .expect("the testkit issuer key is a valid RSA key");
        Self {
            state: Arc::new(Mutex::new(AuthState {
                token_lifetime: 3600,
                subject: "admin@example.com".into(),
                ..AuthState::default()
            })),
            signing_key: Arc::new(signing_key),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AuthState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The routes to merge into the fake provider's router.
    pub fn routes(&self, paths: &AuthorizationPaths) -> Router {
        Router::new()
            .route(&paths.authorize, get(authorize))
            .route(&paths.token, post(token))
            .route(&paths.jwks, get(jwks))
            .with_state(self.clone())
    }

    /// Serves a provider's `api` with this server's routes at `paths` beside it, on one loopback
    /// server whose URL is the issuer (as Google's and Okta's are).
    pub(crate) async fn serve_beside(
        &self,
        service: &'static str,
        api: Router,
        paths: &AuthorizationPaths,
    ) -> std::io::Result<crate::FakeServer> {
        let server =
            crate::FakeServer::start_provider(service, api.merge(self.routes(paths))).await?;
        self.set_issuer(server.base_url());
        Ok(server)
    }

    /// The `iss` of id tokens (set once the fake knows its own URL).
    pub fn set_issuer(&self, issuer: impl Into<String>) {
        self.lock().issuer = issuer.into();
    }

    pub fn register_client(&self, client: ClientApp) {
        self.lock().clients.insert(client.client_id.clone(), client);
    }

    /// Accepts JWT-bearer assertions issued by `issuer` (a service account's email) and signed
    /// by the key whose public half is `public_key_pem`.
    pub fn register_service_account(&self, issuer: &str, public_key_pem: &str) {
        self.lock()
            .service_accounts
            .insert(issuer.into(), public_key_pem.into());
    }

    /// How long new access tokens live, in seconds (default 3600).
    pub fn set_token_lifetime(&self, seconds: i64) {
        self.lock().token_lifetime = seconds;
    }

    /// Issue a new refresh token on every refresh and forget the old one (Entra's behaviour).
    pub fn rotate_refresh_tokens(&self, rotate: bool) {
        self.lock().rotate_refresh_tokens = rotate;
    }

    /// Extra claims of every id token (`{"tid": "..."}`).
    pub fn set_id_token_claims(&self, claims: Value) {
        self.lock().id_token_claims = claims.as_object().cloned().unwrap_or_default();
    }

    /// The `sub` of id tokens and code-flow grants (default `admin@example.com`).
    pub fn set_subject(&self, subject: &str) {
        self.lock().subject = subject.into();
    }

    /// Extra query parameters of the redirect back to the client (Entra's `tenant`, Slack's
    /// nothing, GitHub's `installation_id`).
    pub fn set_callback_params(&self, params: &[(&str, &str)]) {
        self.lock().callback_params = params
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
    }

    /// Every access token issued so far stops working (as if an hour had passed).
    pub fn expire_access_tokens(&self) {
        for grant in self.lock().access_tokens.values_mut() {
            grant.expires_at = 0;
        }
    }

    /// Refresh tokens stop working (the user revoked the app or an admin reset consent).
    pub fn revoke_refresh_tokens(&self) {
        self.lock().refresh_tokens.clear();
    }

    /// Every token stops working and registered service accounts and clients are kept.
    pub fn revoke_all(&self) {
        let mut state = self.lock();
        state.access_tokens.clear();
        state.refresh_tokens.clear();
    }

    /// How many tokens were granted with `grant_type` (for tests of single-flight refresh).
    pub fn grants(&self, grant_type: &str) -> usize {
        self.lock().grants.get(grant_type).copied().unwrap_or(0)
    }

    /// Issues an access token directly, as if `client_id` had been through a grant.
    pub fn mint_access_token(&self, client_id: &str, subject: Option<&str>, scope: &str) -> String {
        let mut state = self.lock();
        let grant = AccessGrant {
            client_id: client_id.into(),
            subject: subject.map(str::to_owned),
            scope: scope.into(),
            expires_at: now() + state.token_lifetime,
        };
        let token = random_token("at");
        state.access_tokens.insert(token.clone(), grant);
        token
    }

    /// Checks `Authorization: Bearer <token>` against the issued tokens.
    pub fn bearer(&self, headers: &HeaderMap) -> Result<AccessGrant, BearerRefusal> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .ok_or(BearerRefusal::Missing)?;
        let grant = self
            .lock()
            .access_tokens
            .get(token.trim())
            .cloned()
            .ok_or(BearerRefusal::Unknown)?;
        if grant.expires_at <= now() {
            return Err(BearerRefusal::Expired);
        }
        Ok(grant)
    }

    fn issue(&self, grant: AccessGrant, with_refresh: bool, nonce: Option<&str>) -> Value {
        let (lifetime, issuer, claims, subject) = {
            let state = self.lock();
            (
                state.token_lifetime,
                state.issuer.clone(),
                state.id_token_claims.clone(),
                state.subject.clone(),
            )
        };
        let access_token = random_token("at");
        let mut body = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": grant.scope,
        });
        if with_refresh {
            let refresh_token = random_token("rt");
            self.lock()
                .refresh_tokens
                .insert(refresh_token.clone(), grant.clone());
            body["refresh_token"] = json!(refresh_token);
        }
        if grant.scope.split(' ').any(|scope| scope == "openid") {
            let mut id_claims = claims;
            id_claims.insert("iss".into(), json!(issuer));
            id_claims.insert("aud".into(), json!(grant.client_id));
            id_claims.insert(
                "sub".into(),
                json!(grant.subject.clone().unwrap_or(subject)),
            );
            id_claims.insert("iat".into(), json!(now()));
            id_claims.insert("exp".into(), json!(now() + lifetime));
            if let Some(nonce) = nonce {
                id_claims.insert("nonce".into(), json!(nonce));
            }
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(ISSUER_KEY_ID.into());
            let id_token = jsonwebtoken::encode(&header, &id_claims, &self.signing_key)
                .expect("signing with the issuer key works");
            body["id_token"] = json!(id_token);
        }
        let mut state = self.lock();
        let expires_at = now() + lifetime;
        state.access_tokens.insert(
            access_token,
            AccessGrant {
                expires_at,
                ..grant
            },
        );
        body
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default()
}

fn random_token(prefix: &str) -> String {
    let bytes: [u8; 24] = tributary_providerkit::random_bytes();
    format!("{prefix}-{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn form_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("v={part}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    state: Option<String>,
    scope: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

async fn authorize(
    State(auth): State<FakeAuthorization>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    let Some(client_id) = query
        .client_id
        .filter(|id| auth.lock().clients.contains_key(id))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "unknown client_id",
        );
    };
    let Some(redirect_uri) = query.redirect_uri else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is required",
        );
    };
    if query.response_type.as_deref() != Some("code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    if query.code_challenge.is_some() && query.code_challenge_method.as_deref() != Some("S256") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code_challenge_method must be S256",
        );
    }
    let Ok(mut location) = url::Url::parse(&redirect_uri) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is not an absolute URL",
        );
    };
    let code = random_token("code");
    let mut state = auth.lock();
    state.codes.insert(
        code.clone(),
        CodeGrant {
            client_id,
            redirect_uri: redirect_uri.clone(),
            code_challenge: query.code_challenge,
            nonce: query.nonce,
            scope: query.scope.unwrap_or_default(),
        },
    );
    {
        let mut pairs = location.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(value) = &query.state {
            pairs.append_pair("state", value);
        }
        for (name, value) in &state.callback_params {
            pairs.append_pair(name, value);
        }
    }
    Redirect::to(location.as_str()).into_response()
}

/// The token request's form; unknown fields are ignored as real servers do.
#[derive(Deserialize, Default)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    assertion: Option<String>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

async fn token(
    State(auth): State<FakeAuthorization>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    let endpoint = format!("http://{host}{}", uri.path());
    let grant_type = form.grant_type.clone().unwrap_or_default();
    // The grants a client makes for itself start by authenticating it.
    let authenticated = |grant: ClientGrant| {
        authenticate_client(&auth, &headers, &endpoint, &form)
            .and_then(|client| grant(&auth, client, &form))
    };
    let result = match grant_type.as_str() {
        "authorization_code" => authenticated(code_grant),
        "refresh_token" => authenticated(refresh_grant),
        "client_credentials" => authenticated(client_credentials_grant),
        JWT_BEARER => jwt_bearer_grant(&auth, &endpoint, &form),
        _ => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "the grant_type is not supported",
        )),
    };
    match result {
        Ok(body) => {
            *auth.lock().grants.entry(grant_type).or_default() += 1;
            ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
        }
        Err(response) => response,
    }
}

/// A token grant made by an authenticated client.
type ClientGrant = fn(&FakeAuthorization, ClientApp, &TokenForm) -> Result<Value, Response>;

/// Authenticates the client by secret (form or Basic) or signed assertion; public clients pass
/// with their id alone.
fn authenticate_client(
    auth: &FakeAuthorization,
    headers: &HeaderMap,
    endpoint: &str,
    form: &TokenForm,
) -> Result<ClientApp, Response> {
    let invalid = |why: &str| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| {
            // RFC 6749 §2.3.1: each part is form-urlencoded before the Basic encoding.
            pair.split_once(':')
                .map(|(id, secret)| (form_decode(id), form_decode(secret)))
        });
    let (client_id, presented_secret) = match (&basic, &form.client_id) {
        (Some((id, secret)), _) => (Some(id.clone()), Some(secret.clone())),
        (None, id) => (id.clone(), form.client_secret.clone()),
    };
    let assertion_issuer = match (&form.client_assertion_type, &form.client_assertion) {
        (Some(kind), Some(assertion)) if kind == CLIENT_ASSERTION_TYPE => {
            let claims = jsonwebtoken::dangerous::insecure_decode::<AssertionClaims>(assertion)
                .map_err(|_| invalid("the client assertion is not a JWT"))?;
            Some((claims.claims.iss, assertion.clone()))
        }
        _ => None,
    };
    let client_id = client_id
        .or_else(|| assertion_issuer.as_ref().map(|(iss, _)| iss.clone()))
        .ok_or_else(|| invalid("client authentication is missing"))?;
    let client = auth
        .lock()
        .clients
        .get(&client_id)
        .cloned()
        .ok_or_else(|| invalid("unknown client"))?;
    match (&client.client_secret, &client.public_key_pem) {
        (Some(secret), _) if presented_secret.as_deref() == Some(secret.as_str()) => Ok(client),
        (_, Some(public_key)) if assertion_issuer.is_some() => {
            let (_, assertion) = assertion_issuer.expect("checked");
            verify_assertion(&assertion, public_key, endpoint, Some(&client_id))
                .map_err(|why| invalid(&why))?;
            Ok(client)
        }
        (None, None) => Ok(client),
        _ => Err(invalid("client authentication failed")),
    }
}

/// Verifies an RS256 assertion: signature, `exp`, `aud` = the token endpoint, and `iss`/`sub`
/// = the client for client assertions.
fn verify_assertion(
    assertion: &str,
    public_key_pem: &str,
    endpoint: &str,
    client_id: Option<&str>,
) -> Result<AssertionClaims, String> {
    let key = DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
        .map_err(|_| "the registered public key is not an RSA key".to_owned())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[endpoint]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    if let Some(client_id) = client_id {
        validation.set_issuer(&[client_id]);
        validation.sub = Some(client_id.to_owned());
    }
    jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
        .map(|data| data.claims)
        .map_err(|err| format!("the assertion was refused: {err}"))
}

/// The 400 `invalid_grant` refusal of a grant's code, token or assertion.
fn invalid_grant(why: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why)
}

/// An access token alone, without a refresh token or an id token: what a grant made without a
/// user's sign-in (client credentials, a JWT bearer assertion) answers.
fn issue_access_only(
    auth: &FakeAuthorization,
    client_id: String,
    subject: Option<String>,
    scope: String,
) -> Value {
    let grant = AccessGrant {
        client_id,
        subject,
        scope,
        expires_at: 0,
    };
    auth.issue(grant, false, None)
}

fn code_grant(
    auth: &FakeAuthorization,
    client: ClientApp,
    form: &TokenForm,
) -> Result<Value, Response> {
    // A code is consumed by its first exchange attempt, even one that fails.
    let grant = form
        .code
        .as_ref()
        .and_then(|code| auth.lock().codes.remove(code))
        .ok_or_else(|| invalid_grant("the code is unknown, used or expired"))?;
    if grant.client_id != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri does not match the authorize request",
        ));
    }
    if let Some(challenge) = &grant.code_challenge {
        let verifier = form
            .code_verifier
            .as_deref()
            .ok_or_else(|| invalid_grant("code_verifier is required"))?;
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if &computed != challenge {
            return Err(invalid_grant("code_verifier does not match the challenge"));
        }
    }
    let subject = auth.lock().subject.clone();
    Ok(auth.issue(
        AccessGrant {
            client_id: client.client_id,
            subject: Some(subject),
            scope: grant.scope,
            expires_at: 0,
        },
        true,
        grant.nonce.as_deref(),
    ))
}

fn refresh_grant(
    auth: &FakeAuthorization,
    client: ClientApp,
    form: &TokenForm,
) -> Result<Value, Response> {
    let presented = form.refresh_token.clone().unwrap_or_default();
    let (grant, rotate) = {
        let mut state = auth.lock();
        let rotate = state.rotate_refresh_tokens;
        let grant = if rotate {
            state.refresh_tokens.remove(&presented)
        } else {
            state.refresh_tokens.get(&presented).cloned()
        };
        (grant, rotate)
    };
    let grant = grant
        .filter(|grant| grant.client_id == client.client_id)
        .ok_or_else(|| invalid_grant("the refresh token is unknown, revoked or expired"))?;
    Ok(auth.issue(grant, rotate, None))
}

fn client_credentials_grant(
    auth: &FakeAuthorization,
    client: ClientApp,
    form: &TokenForm,
) -> Result<Value, Response> {
    if client.client_secret.is_none() && client.public_key_pem.is_none() {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "a public client cannot use client_credentials",
        ));
    }
    Ok(issue_access_only(
        auth,
        client.client_id,
        None,
        form.scope.clone().unwrap_or_default(),
    ))
}

fn jwt_bearer_grant(
    auth: &FakeAuthorization,
    endpoint: &str,
    form: &TokenForm,
) -> Result<Value, Response> {
    let assertion = form
        .assertion
        .as_deref()
        .ok_or_else(|| invalid_grant("assertion is required"))?;
    let unverified = jsonwebtoken::dangerous::insecure_decode::<AssertionClaims>(assertion)
        .map_err(|_| invalid_grant("the assertion is not a JWT"))?;
    let public_key = auth
        .lock()
        .service_accounts
        .get(&unverified.claims.iss)
        .cloned()
        .ok_or_else(|| invalid_grant("the assertion's issuer is not a known service account"))?;
    let claims = verify_assertion(assertion, &public_key, endpoint, None)
        .map_err(|why| invalid_grant(&why))?;
    Ok(issue_access_only(
        auth,
        claims.iss,
        claims.sub,
        claims.scope.unwrap_or_default(),
    ))
}

async fn jwks(State(auth): State<FakeAuthorization>) -> Response {
    let mut jwk = Jwk::from_encoding_key(&auth.signing_key, Algorithm::RS256)
        .expect("the issuer key has a public JWK");
    jwk.common.key_id = Some(ISSUER_KEY_ID.into());
    Json(json!({"keys": [jwk]})).into_response()
}
