//! A fake Okta org: the Users and Groups APIs as Okta documents them.
//!
//! - `Authorization: SSWS <token>`; anything else answers 401 with Okta's `E0000011` error body.
//! - `GET /api/v1/users/me`, `GET /api/v1/users`, `GET /api/v1/groups`,
//!   `GET /api/v1/groups/{id}/users`: pages of at most `limit` (default and maximum 200), ordered by
//!   id, with `Link: <...>; rel="self"` and `<...?after=<last id>&limit=N>; rel="next"` headers.
//! - `search=status pr` (all users, including DEPROVISIONED), `search=status eq "ACTIVE"` and
//!   `search=profile.<field> eq "<value>"`; without `search`, deprovisioned users are left out, as
//!   Okta does.
//! - `X-Rate-Limit-Limit`, `-Remaining` and `-Reset` (epoch seconds) on every response; throttled
//!   requests answer 429 with `E0000047`.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::FakeServer;

const MAX_LIMIT: usize = 200;
const RATE_LIMIT: u32 = 600;

/// The data of a fake org.
#[derive(Debug, Clone, Default)]
pub struct OktaOrg {
    pub users: BTreeMap<String, Value>,
    pub groups: BTreeMap<String, Value>,
    /// Group id -> member user ids.
    pub members: BTreeMap<String, BTreeSet<String>>,
}

impl OktaOrg {
    /// A deterministic org of `users` users (every 17th suspended, every 23rd deprovisioned) and
    /// `groups` groups; user `i` belongs to group `i % groups`.
    pub fn sample(users: usize, groups: usize) -> Self {
        let mut org = Self::default();
        for g in 0..groups {
            let id = format!("00g{g:017}");
            org.groups
                .insert(id.clone(), group_json(&id, &format!("Team {g}")));
            org.members.insert(id, BTreeSet::new());
        }
        let group_ids: Vec<String> = org.groups.keys().cloned().collect();
        for i in 0..users {
            let status = if i % 23 == 22 {
                "DEPROVISIONED"
            } else if i % 17 == 16 {
                "SUSPENDED"
            } else {
                "ACTIVE"
            };
            let id = format!("00u{i:017}");
            org.users.insert(id.clone(), user_json(&id, i, status));
            if !group_ids.is_empty() {
                let group = &group_ids[i % group_ids.len()];
                org.members.entry(group.clone()).or_default().insert(id);
            }
        }
        org
    }
}

/// A user as Okta's Users API returns it.
pub fn user_json(id: &str, n: usize, status: &str) -> Value {
    let first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"][n % 6];
    let last = [
        "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson",
    ][n % 6];
    let login = format!(
        "{}.{}{}@example.com",
        first.to_lowercase(),
        last.to_lowercase(),
        n
    );
    let department = ["Engineering", "Sales", "Finance"][n % 3];
    let title = ["Engineer", "Account Executive", "Analyst"][n % 3];
    json!({
        "id": id,
        "status": status,
        "created": "2024-03-01T10:00:00.000Z",
        "activated": "2024-03-01T10:05:00.000Z",
        "statusChanged": "2024-03-02T08:00:00.000Z",
        "lastLogin": if n.is_multiple_of(5) { Value::Null } else { json!("2026-11-20T09:30:00.000Z") },
        "lastUpdated": "2026-11-01T12:00:00.000Z",
        "passwordChanged": "2024-03-01T10:06:00.000Z",
        "type": { "id": "oty1a2b3c4d5e6f7g8h9" },
        "profile": {
            "firstName": first,
            "lastName": last,
            "displayName": if n.is_multiple_of(4) { Value::Null } else { json!(format!("{first} {last}")) },
            "login": login,
            "email": login,
            "secondEmail": null,
            "mobilePhone": null,
            "department": department,
            "title": title,
        },
        "credentials": {
            "password": {},
            "provider": { "type": "OKTA", "name": "OKTA" }
        },
        "_links": { "self": { "href": format!("/api/v1/users/{id}") } }
    })
}

/// A group as Okta's Groups API returns it.
pub fn group_json(id: &str, name: &str) -> Value {
    json!({
        "id": id,
        "created": "2024-01-10T10:00:00.000Z",
        "lastUpdated": "2026-10-01T10:00:00.000Z",
        "lastMembershipUpdated": "2026-10-02T10:00:00.000Z",
        "objectClass": ["okta:user_group"],
        "type": "OKTA_GROUP",
        "profile": { "name": name, "description": format!("Members of {name}") },
        "_links": { "users": { "href": format!("/api/v1/groups/{id}/users") } }
    })
}

struct OktaState {
    org: OktaOrg,
    token: String,
    base_url: String,
    throttle_next: u32,
    requests: u64,
    remaining: u32,
    window_reset: u64,
}

/// A running fake Okta org.
pub struct FakeOkta {
    server: FakeServer,
    state: Arc<Mutex<OktaState>>,
}

impl FakeOkta {
    /// Starts an org serving `org`, accepting the API token `token`.
    pub async fn start(org: OktaOrg, token: &str) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(OktaState {
            org,
            token: token.to_owned(),
            base_url: String::new(),
            throttle_next: 0,
            requests: 0,
            remaining: RATE_LIMIT,
            window_reset: now() + 60,
        }));
        let router = Router::new()
            .route("/api/v1/users/me", get(me))
            .route("/api/v1/users", get(list_users))
            .route("/api/v1/groups", get(list_groups))
            .route("/api/v1/groups/{id}/users", get(list_members))
            .with_state(Arc::clone(&state));
        let server = FakeServer::start(router).await?;
        lock(&state).base_url = server.base_url();
        Ok(Self { server, state })
    }

    /// The org URL (`http://127.0.0.1:<port>`).
    pub fn org_url(&self) -> String {
        self.server.base_url()
    }

    /// What the demo connects with: the org's API token.
    pub fn demo_connection(&self) -> crate::demo::DemoConnection {
        let token = lock(&self.state).token.clone();
        crate::demo::DemoConnection {
            definition: "okta",
            operator_config: serde_json::json!({"allowLoopbackOrgUrls": true}),
            connection: "OktaApiToken".into(),
            user_input: serde_json::json!({"orgUrl": self.org_url()}),
            credentials: [(
                "OktaApiToken".to_owned(),
                serde_json::json!({"apiToken": token}),
            )]
            .into(),
        }
    }

    /// Accepts a new token from now on; the old one answers 401 (a revoked or rotated token).
    pub fn rotate_token(&self, token: &str) {
        lock(&self.state).token = token.to_owned();
    }

    /// The next `n` API requests answer 429.
    pub fn throttle_next(&self, n: u32) {
        lock(&self.state).throttle_next = n;
    }

    /// Removes a user and their memberships (a hard delete in Okta).
    pub fn remove_user(&self, id: &str) {
        let mut state = lock(&self.state);
        state.org.users.remove(id);
        for members in state.org.members.values_mut() {
            members.remove(id);
        }
    }

    /// Changes the org's data.
    pub fn with_org<R>(&self, change: impl FnOnce(&mut OktaOrg) -> R) -> R {
        change(&mut lock(&self.state).org)
    }

    /// How many API requests were answered (including refused ones).
    pub fn request_count(&self) -> u64 {
        lock(&self.state).requests
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

fn lock(state: &Mutex<OktaState>) -> std::sync::MutexGuard<'_, OktaState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn okta_error(status: StatusCode, code: &str, summary: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oaeFakeErrorId",
            "errorCauses": []
        })),
    )
        .into_response()
}

/// Authenticates, counts and rate-limits one request, returning the headers every response
/// carries, or the refusal.
fn admit(state: &Mutex<OktaState>, headers: &HeaderMap) -> Result<HeaderMap, Box<Response>> {
    let mut state = lock(state);
    state.requests += 1;
    let now = now();
    if now >= state.window_reset {
        state.window_reset = now + 60;
        state.remaining = RATE_LIMIT;
    }
    let mut out = HeaderMap::new();
    let throttled = state.throttle_next > 0;
    if throttled {
        // The org's budget is spent: it refills at the next window, a second from now.
        state.throttle_next -= 1;
        state.remaining = 0;
        state.window_reset = now + 1;
    } else {
        state.remaining = state.remaining.saturating_sub(1);
    }
    let reset = state.window_reset;
    out.insert("x-rate-limit-limit", HeaderValue::from(RATE_LIMIT));
    out.insert("x-rate-limit-remaining", HeaderValue::from(state.remaining));
    out.insert("x-rate-limit-reset", HeaderValue::from(reset));
    let expected = format!("SSWS {}", state.token);
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given == expected);
    if !authorized {
        let mut response = okta_error(
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
        );
        response.headers_mut().extend(out);
        return Err(Box::new(response));
    }
    if throttled {
        let mut response = okta_error(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        );
        response.headers_mut().extend(out);
        return Err(Box::new(response));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct PageParams {
    limit: Option<usize>,
    after: Option<String>,
    search: Option<String>,
}

/// One page of `items` (already ordered by id) after the cursor, with Okta's Link headers.
fn page(
    base_url: &str,
    path: &str,
    params: &PageParams,
    items: Vec<(String, Value)>,
    mut headers: HeaderMap,
) -> Response {
    let limit = params.limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT);
    let start = match &params.after {
        Some(after) => items.partition_point(|(id, _)| id.as_str() <= after.as_str()),
        None => 0,
    };
    let slice: Vec<&(String, Value)> = items[start..].iter().take(limit).collect();
    let search = params
        .search
        .as_deref()
        .map(|s| format!("&search={}", encode(s)))
        .unwrap_or_default();
    let mut links = vec![format!(
        "<{base_url}{path}?limit={limit}{search}>; rel=\"self\""
    )];
    if start + slice.len() < items.len()
        && let Some((last, _)) = slice.last()
    {
        links.push(format!(
            "<{base_url}{path}?after={last}&limit={limit}{search}>; rel=\"next\""
        ));
    }
    for link in links {
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.append(header::LINK, value);
        }
    }
    let body: Vec<&Value> = slice.iter().map(|(_, v)| v).collect();
    (StatusCode::OK, headers, axum::Json(body)).into_response()
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Evaluates the supported subset of Okta's search expressions.
fn matches_search(user: &Value, search: Option<&str>) -> Result<bool, ()> {
    let Some(search) = search.map(str::trim) else {
        return Ok(user["status"] != "DEPROVISIONED");
    };
    if search == "status pr" {
        return Ok(true);
    }
    let (field, value) = search.split_once(" eq ").ok_or(())?;
    let value = value.trim().trim_matches('"');
    let actual = field
        .trim()
        .split('.')
        .try_fold(user, |v, key| v.get(key))
        .and_then(Value::as_str);
    Ok(actual == Some(value))
}

async fn me(State(state): State<Arc<Mutex<OktaState>>>, headers: HeaderMap) -> Response {
    let out = match admit(&state, &headers) {
        Ok(out) => out,
        Err(refusal) => return *refusal,
    };
    let admin = json!({
        "id": "00uadmin000000000000",
        "status": "ACTIVE",
        "profile": { "login": "admin@example.com", "email": "admin@example.com", "firstName": "Org", "lastName": "Admin" }
    });
    (StatusCode::OK, out, axum::Json(admin)).into_response()
}

async fn list_users(
    State(state): State<Arc<Mutex<OktaState>>>,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Response {
    let out = match admit(&state, &headers) {
        Ok(out) => out,
        Err(refusal) => return *refusal,
    };
    let state = lock(&state);
    let mut users = Vec::new();
    for (id, user) in &state.org.users {
        match matches_search(user, params.search.as_deref()) {
            Ok(true) => users.push((id.clone(), user.clone())),
            Ok(false) => {}
            Err(()) => {
                return okta_error(
                    StatusCode::BAD_REQUEST,
                    "E0000031",
                    "Invalid search specified.",
                );
            }
        }
    }
    page(&state.base_url, "/api/v1/users", &params, users, out)
}

async fn list_groups(
    State(state): State<Arc<Mutex<OktaState>>>,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Response {
    let out = match admit(&state, &headers) {
        Ok(out) => out,
        Err(refusal) => return *refusal,
    };
    let state = lock(&state);
    let groups = state
        .org
        .groups
        .iter()
        .map(|(id, g)| (id.clone(), g.clone()))
        .collect();
    page(&state.base_url, "/api/v1/groups", &params, groups, out)
}

async fn list_members(
    State(state): State<Arc<Mutex<OktaState>>>,
    headers: HeaderMap,
    Path(group): Path<String>,
    Query(params): Query<PageParams>,
) -> Response {
    let out = match admit(&state, &headers) {
        Ok(out) => out,
        Err(refusal) => return *refusal,
    };
    let state = lock(&state);
    let Some(members) = state.org.members.get(&group) else {
        return okta_error(
            StatusCode::NOT_FOUND,
            "E0000007",
            &format!("Not found: Resource not found: {group} (UserGroup)"),
        );
    };
    let users = members
        .iter()
        .filter_map(|id| state.org.users.get(id).map(|u| (id.clone(), u.clone())))
        .collect();
    let path = format!("/api/v1/groups/{group}/users");
    page(&state.base_url, &path, &params, users, out)
}
