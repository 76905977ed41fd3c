//! A fake Acme API: `GET /me`, `GET /users?cursor=` (two users a page, `next` cursor in the body),
//! `POST /revoke`. Bearer tokens are API tokens it was told to accept, or JWT access tokens of a
//! configured OAuth issuer that have not expired (it reads their claims; signature checks are the
//! authorization server's business). A bad or expired token gets 401; throttling gets 429 with
//! `Retry-After`.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_testkit::FakeServer;

pub const PAGE_SIZE: usize = 2;

#[derive(Default)]
pub struct AcmeState {
    pub tokens: HashSet<String>,
    /// Tokens answered 401 whatever else holds (revoked at the provider before they expire).
    pub refused: HashSet<String>,
    pub oauth_issuer: Option<String>,
    pub users: Vec<Value>,
    /// 429 answers still to give on `/users`, each with this Retry-After (seconds).
    pub throttle: VecDeque<u64>,
    /// Answer 429 (Retry-After 120) to every `/users` request while set.
    pub storm: bool,
    /// Answer 429 (Retry-After 120) to requests for this cursor while set.
    pub storm_on_cursor: Option<String>,
    /// Requests for this cursor hang (a process killed mid-request).
    pub hang_on_cursor: Option<String>,
    /// Every `/users` cursor asked for, in order ("" for the first page).
    pub cursors: Vec<String>,
    pub revoked: Vec<String>,
    pub me_calls: usize,
    /// App installations that exist (minting for others answers 404, like an uninstalled app).
    pub installations: HashSet<u64>,
    /// Installation tokens minted so far.
    pub minted: usize,
}

#[derive(Clone)]
pub struct FakeAcme {
    pub state: Arc<Mutex<AcmeState>>,
    server: Arc<FakeServer>,
}

pub fn user(n: usize) -> Value {
    json!({
        "id": format!("u{n}"),
        "email": format!("User{n}@Acme.example"),
        "name": format!("User {n}"),
        "active": true,
    })
}

impl FakeAcme {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(AcmeState {
            users: (1..=5).map(user).collect(),
            ..AcmeState::default()
        }));
        let router = Router::new()
            .route("/me", get(me))
            .route("/users", get(users))
            .route("/revoke", post(revoke))
            .route(
                "/app/installations/{id}/access_tokens",
                post(mint_installation_token),
            )
            .with_state(Arc::clone(&state));
        let server = FakeServer::start(router).await.unwrap();
        Self {
            state,
            server: Arc::new(server),
        }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, AcmeState> {
        self.state.lock().unwrap()
    }

    pub fn accept_token(&self, token: &str) {
        self.lock().tokens.insert(token.to_owned());
    }

    pub fn reject_token(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// Revokes `token` at the provider: a JWT that has not expired is refused too.
    pub fn refuse_token(&self, token: &str) {
        self.lock().refused.insert(token.to_owned());
    }

    pub fn cursors(&self) -> Vec<String> {
        self.lock().cursors.clone()
    }
}

type Shared = State<Arc<Mutex<AcmeState>>>;

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token", "message": message})),
    )
        .into_response()
}

/// The caller's token, or why it is refused (a 401 message).
fn authorized(state: &AcmeState, headers: &HeaderMap) -> Result<String, &'static str> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("missing bearer token")?
        .to_owned();
    if state.refused.contains(&token) {
        return Err("token revoked");
    }
    if state.tokens.contains(&token) {
        return Ok(token);
    }
    if let Some(issuer) = &state.oauth_issuer
        && let Some(claims) = jwt_claims(&token)
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if claims.get("iss").and_then(Value::as_str) == Some(issuer.as_str())
            && claims.get("exp").and_then(Value::as_i64).unwrap_or(0) > now
        {
            return Ok(token);
        }
        return Err("token expired");
    }
    Err("unknown token")
}

fn jwt_claims(token: &str) -> Option<Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

async fn me(State(state): Shared, headers: HeaderMap) -> Response {
    let mut state = state.lock().unwrap();
    if let Err(message) = authorized(&state, &headers) {
        return unauthorized(message);
    }
    state.me_calls += 1;
    Json(json!({"id": "org-42", "name": "Acme Org"})).into_response()
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    cursor: Option<String>,
}

async fn users(State(state): Shared, headers: HeaderMap, Query(page): Query<Page>) -> Response {
    let cursor = page.cursor.unwrap_or_default();
    let hang = {
        let mut state = state.lock().unwrap();
        if let Err(message) = authorized(&state, &headers) {
            return unauthorized(message);
        }
        state.cursors.push(cursor.clone());
        if state.storm || state.storm_on_cursor.as_deref() == Some(cursor.as_str()) {
            return throttled(120);
        }
        if let Some(wait) = state.throttle.pop_front() {
            return throttled(wait);
        }
        state.hang_on_cursor.as_deref() == Some(cursor.as_str())
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let state = state.lock().unwrap();
    let start: usize = cursor
        .strip_prefix('p')
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let items: Vec<Value> = state
        .users
        .iter()
        .skip(start)
        .take(PAGE_SIZE)
        .cloned()
        .collect();
    let next = (start + PAGE_SIZE < state.users.len()).then(|| format!("p{}", start + PAGE_SIZE));
    Json(json!({"users": items, "response_metadata": {"next_cursor": next.unwrap_or_default()}}))
        .into_response()
}

fn throttled(retry_after: u64) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [("retry-after", retry_after.to_string())],
        Json(json!({"error": "rate_limited"})),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Revoke {
    token: String,
}

async fn revoke(State(state): Shared, axum::Form(form): axum::Form<Revoke>) -> Response {
    let mut state = state.lock().unwrap();
    state.tokens.remove(&form.token);
    state.revoked.push(form.token);
    StatusCode::OK.into_response()
}

/// GitHub's `POST /app/installations/{id}/access_tokens`: the app JWT (RS256, `iss` = app id) in
/// the bearer; a token valid for two minutes (so that every use re-mints it, the runtime's margin
/// being five).
async fn mint_installation_token(
    State(state): Shared,
    axum::extract::Path(id): axum::extract::Path<u64>,
    headers: HeaderMap,
) -> Response {
    let mut state = state.lock().unwrap();
    let claims = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(jwt_claims);
    let Some(claims) = claims else {
        return unauthorized("an app JWT is required");
    };
    if claims["iss"] != json!(super::acme::APP_ID) && claims["iss"] != json!(4242) {
        return unauthorized("unknown app");
    }
    if !state.installations.contains(&id) {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    }
    state.minted += 1;
    let token = format!("ghs_installation_{id}_{}", state.minted);
    state.tokens.insert(token.clone());
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(120))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (
        StatusCode::CREATED,
        Json(json!({"token": token, "expires_at": expires})),
    )
        .into_response()
}
