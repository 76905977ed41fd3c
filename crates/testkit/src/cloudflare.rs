//! A fake Cloudflare API (v4) for one account, as Cloudflare documents it:
//!
//! - `Authorization: Bearer <token>`; a bad token answers 400 with the v4 envelope and error code
//!   6003/6111 ("Invalid format" / "Invalid request headers"), a revoked one 401 (code 10000),
//!   a token without access to the account 403 (code 9109).
//! - `GET /user/tokens/verify` (user-owned tokens) and `GET /accounts/{id}/tokens/verify`
//!   (account-owned tokens), each answering only for its kind of token;
//!   `GET /accounts/{id}`; `GET /accounts/{id}/members?page=&per_page=` (default 20, at most 50),
//!   with `result_info.total_pages`.
//! - Every answer is the v4 envelope `{success, errors, messages, result}`. Throttled requests
//!   answer 429 with `Retry-After` (Cloudflare's global limit is 1,200 requests per 5 minutes).

// The handlers' helpers return a ready response as their error; its size does not matter in a
// test fake.
#![allow(clippy::result_large_err)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    FakeServer,
    controls::{Controls, retry_after},
};

const DEFAULT_PER_PAGE: usize = 20;
const MAX_PER_PAGE: usize = 50;

/// Who owns a token: a user (verified at `/user/tokens/verify`) or the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOwner {
    User,
    Account,
}

/// The data of the fake account.
#[derive(Debug, Clone)]
pub struct CloudflareAccount {
    pub id: String,
    pub name: String,
    /// Member id -> member object.
    pub members: BTreeMap<String, Value>,
}

impl CloudflareAccount {
    /// An account of `members` members: every fifth still pending, every third with 2FA,
    /// the first a super administrator.
    pub fn sample(members: usize) -> Self {
        let mut account = Self {
            id: "023e105f4ecef8ad9ca31a8372d0c353".into(),
            name: "Acme Corp".into(),
            members: BTreeMap::new(),
        };
        for i in 0..members {
            let id = format!("{i:032x}");
            account.members.insert(id.clone(), member(i));
        }
        account
    }
}

/// A member as `GET /accounts/{id}/members` returns it.
pub fn member(i: usize) -> Value {
    // A role comes with its permission grants (the SDK's Role: `permissions` is required).
    let role = if i == 0 {
        json!({"id": "33666b9c79b9a5273fc7344ff42f953d", "name": "Super Administrator - All Privileges", "description": "Can edit any Cloudflare setting",
            "permissions": {"analytics": {"read": true, "write": true}, "billing": {"read": true, "write": true}}})
    } else {
        json!({"id": "05784afa30c1afe1440e79d9351c7430", "name": "Administrator Read Only", "description": "Can access the full account in read-only mode",
            "permissions": {"analytics": {"read": true, "write": false}, "billing": {"read": true, "write": false}}})
    };
    json!({
        "id": format!("{i:032x}"),
        "status": if i % 5 == 4 { "pending" } else { "accepted" },
        "user": {
            "id": format!("{:032x}", 1000 + i),
            "email": format!("Member{i}@Acme.example"),
            "first_name": format!("Member{i}"),
            "last_name": "Tester",
            "two_factor_authentication_enabled": i.is_multiple_of(3),
        },
        "roles": [role],
        "policies": [],
    })
}

#[derive(Default)]
struct Control {
    tokens: BTreeMap<String, TokenOwner>,
    /// Throttles carry the `Retry-After` seconds; pages are the members listing's.
    controls: Controls,
}

struct Shared {
    account: Mutex<CloudflareAccount>,
    control: Mutex<Control>,
}

/// The running fake.
pub struct FakeCloudflare {
    shared: Arc<Shared>,
    server: FakeServer,
}

impl FakeCloudflare {
    pub async fn start(account: CloudflareAccount) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            account: Mutex::new(account),
            control: Mutex::new(Control::default()),
        });
        let router = Router::new()
            .route("/client/v4/user/tokens/verify", get(verify_user))
            .route(
                "/client/v4/accounts/{account}/tokens/verify",
                get(verify_account),
            )
            .route("/client/v4/accounts/{account}", get(account_details))
            .route("/client/v4/accounts/{account}/members", get(members))
            .with_state(Arc::clone(&shared));
        Ok(Self {
            shared,
            server: FakeServer::start_provider("cloudflare", router).await?,
        })
    }

    /// The API base URL (`…/client/v4`).
    pub fn api_url(&self) -> String {
        format!("{}/client/v4", self.server.base_url())
    }

    pub fn account_id(&self) -> String {
        self.shared.account.lock().unwrap().id.clone()
    }

    pub fn add_token(&self, token: &str, owner: TokenOwner) {
        self.shared
            .control
            .lock()
            .unwrap()
            .tokens
            .insert(token.into(), owner);
    }

    /// What the demo connects with: a user token registered now, the account id.
    pub fn demo_connection(&self) -> crate::demo::DemoConnection {
        let token = "cf-demo-token-0123456789abcdef0123456789";
        self.add_token(token, TokenOwner::User);
        crate::demo::DemoConnection {
            definition: "cloudflare",
            operator_config: json!({"apiUrl": self.api_url(), "allowLoopbackApiUrl": true}),
            connection: "CloudflareApiToken".into(),
            user_input: json!({"accountId": self.account_id()}),
            credentials: [("CloudflareApiToken".to_owned(), json!({"apiToken": token}))].into(),
        }
    }

    /// The token stops working (401, code 10000).
    pub fn revoke_token(&self, token: &str) {
        let mut control = self.shared.control.lock().unwrap();
        control.tokens.remove(token);
        control.controls.revoke(token);
    }

    /// The next requests answer 429 with these `Retry-After` seconds, one each.
    pub fn throttle(&self, waits: impl IntoIterator<Item = u64>) {
        self.shared.control.lock().unwrap().controls.throttle(waits);
    }

    pub fn with_account<T>(&self, change: impl FnOnce(&mut CloudflareAccount) -> T) -> T {
        change(&mut self.shared.account.lock().unwrap())
    }

    /// The next request for members page `page` answers 429 with `Retry-After: wait`.
    pub fn throttle_members_page(&self, page: usize, wait: u64) {
        self.shared
            .control
            .lock()
            .unwrap()
            .controls
            .throttle_page(page, wait);
    }

    /// Paths (with query) requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.control.lock().unwrap().controls.requests()
    }
}

fn envelope(status: StatusCode, result: Value, errors: Value) -> Response {
    let success = status.is_success();
    (
        status,
        Json(json!({"success": success, "errors": errors, "messages": [], "result": result})),
    )
        .into_response()
}

fn failure(status: StatusCode, code: u32, message: &str) -> Response {
    envelope(
        status,
        Value::Null,
        json!([{"code": code, "message": message}]),
    )
}

/// Cloudflare's 429 with `Retry-After`.
fn rate_limited(wait: u64) -> Response {
    let response = failure(
        StatusCode::TOO_MANY_REQUESTS,
        971,
        "Please wait and consider throttling your request speed",
    );
    retry_after(response, wait)
}

/// Checks the bearer token; returns its owner.
fn authorize(shared: &Shared, headers: &HeaderMap, path: String) -> Result<TokenOwner, Response> {
    let mut control = shared.control.lock().unwrap();
    if let Some(wait) = control.controls.answer(path) {
        return Err(rate_limited(wait));
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| failure(StatusCode::BAD_REQUEST, 6003, "Invalid request headers"))?;
    if control.controls.is_revoked(token) {
        return Err(failure(
            StatusCode::UNAUTHORIZED,
            10000,
            "Authentication error",
        ));
    }
    control.tokens.get(token).copied().ok_or_else(|| {
        failure(
            StatusCode::BAD_REQUEST,
            6111,
            "Invalid format for Authorization header",
        )
    })
}

fn token_status() -> Value {
    json!({"id": "ed17574386854bf78a67040be0a770b0", "status": "active", "expires_on": "2030-01-01T00:00:00Z"})
}

async fn verify_user(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match authorize(&shared, &headers, "/user/tokens/verify".into()) {
        Ok(TokenOwner::User) => envelope(StatusCode::OK, token_status(), json!([])),
        // Account-owned tokens are not known at the user endpoint.
        Ok(TokenOwner::Account) => failure(StatusCode::UNAUTHORIZED, 1000, "Invalid API Token"),
        Err(response) => response,
    }
}

async fn verify_account(
    State(shared): State<Arc<Shared>>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match authorize(
        &shared,
        &headers,
        format!("/accounts/{account_id}/tokens/verify"),
    ) {
        Ok(TokenOwner::Account) if account_id == shared.account.lock().unwrap().id => {
            envelope(StatusCode::OK, token_status(), json!([]))
        }
        Ok(_) => failure(StatusCode::UNAUTHORIZED, 1000, "Invalid API Token"),
        Err(response) => response,
    }
}

fn known_account(shared: &Shared, account_id: &str) -> Result<(), Response> {
    if account_id == shared.account.lock().unwrap().id {
        Ok(())
    } else {
        Err(failure(
            StatusCode::FORBIDDEN,
            9109,
            "Unauthorized to access requested resource",
        ))
    }
}

async fn account_details(
    State(shared): State<Arc<Shared>>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorize(&shared, &headers, format!("/accounts/{account_id}")) {
        return response;
    }
    if let Err(response) = known_account(&shared, &account_id) {
        return response;
    }
    let account = shared.account.lock().unwrap();
    envelope(
        StatusCode::OK,
        json!({"id": account.id, "name": account.name, "type": "standard", "settings": {"enforce_twofactor": false}}),
        json!([]),
    )
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<usize>,
    per_page: Option<usize>,
}

async fn members(
    State(shared): State<Arc<Shared>>,
    Path(account_id): Path<String>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let page = query.page.unwrap_or(1).max(1);
    let per_page = query
        .per_page
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(5, MAX_PER_PAGE);
    let path = format!("/accounts/{account_id}/members?page={page}&per_page={per_page}");
    if let Err(response) = authorize(&shared, &headers, path) {
        return response;
    }
    if let Err(response) = known_account(&shared, &account_id) {
        return response;
    }
    let throttled = {
        let mut control = shared.control.lock().unwrap();
        control.controls.take_page_throttle(&page)
    };
    if let Some(wait) = throttled {
        return rate_limited(wait);
    }
    let account = shared.account.lock().unwrap();
    let total = account.members.len();
    let items: Vec<Value> = account
        .members
        .values()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let total_pages = total.div_ceil(per_page).max(1);
    (
        StatusCode::OK,
        Json(json!({
            "success": true,
            "errors": [],
            "messages": [],
            "result": items,
            "result_info": {"page": page, "per_page": per_page, "count": items.len(), "total_count": total, "total_pages": total_pages},
        })),
    )
        .into_response()
}
