//! A fake Okta org: the Users and Groups APIs as Okta documents them.
//!
//! - `Authorization: SSWS <token>` (an API token), or `Authorization: Bearer <access token>` from
//!   the org authorization server mounted at `/oauth2/v1/token` (the shared [`FakeAuthorization`]:
//!   a service app authenticates with a `private_key_jwt` client assertion and gets a token for
//!   the client credentials grant). Anything else answers 401 with Okta's `E0000011` body; a bearer
//!   token also gets the `WWW-Authenticate: Bearer ... error="invalid_token"` header. A bearer
//!   token without the endpoint's scope (`okta.users.read`, `okta.groups.read`) answers 403
//!   `E0000006` with `error="insufficient_scope"`, and `/users/me` has no user to return for it.
//! - `GET /.well-known/okta-organization` (no credentials): the org id and its Okta URL, which is
//!   how a custom domain is recognised as an Okta org.
//! - `GET /api/v1/users/me`, `GET /api/v1/users`, `GET /api/v1/groups`,
//!   `GET /api/v1/groups/{id}/users`: pages of at most `limit` (default and maximum 200), ordered by
//!   id, with `Link: <...>; rel="self"` and `<...?after=<last id>&limit=N>; rel="next"` headers.
//! - `search=status pr` (all users, including DEPROVISIONED), `search=status eq "ACTIVE"` and
//!   `search=profile.<field> eq "<value>"`; without `search`, deprovisioned users are left out, as
//!   Okta does.
//! - `X-Rate-Limit-Limit`, `-Remaining` and `-Reset` (epoch seconds) on every response; throttled
//!   requests answer 429 with `E0000047` and no `Retry-After` (Okta only sends the reset time).

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

use crate::{
    FakeServer,
    authorization::{
        AuthorizationPaths, BearerRefusal, CLIENT_PRIVATE_KEY_PEM, CLIENT_PUBLIC_KEY_PEM,
        ClientApp, FakeAuthorization,
    },
    controls::Controls,
    demo::DemoConnection,
};

const MAX_LIMIT: usize = 200;
const RATE_LIMIT: u32 = 600;

/// The client id of the service app registered with the fake's authorization server; it signs
/// its client assertions with [`CLIENT_PRIVATE_KEY_PEM`].
pub const SERVICE_APP_CLIENT_ID: &str = "0oa1serviceapp0000001";
/// The key id of the service app's public key, as Okta shows it under the app's public keys.
pub const SERVICE_APP_KEY_ID: &str = "tributary-testkit-client";
/// The service app's private key as the JWK Okta's admin console generates (same key as
/// [`CLIENT_PRIVATE_KEY_PEM`], `kid` [`SERVICE_APP_KEY_ID`]).
pub const SERVICE_APP_PRIVATE_JWK: &str = include_str!("../keys/client-rsa.jwk.json");
/// The org id `/.well-known/okta-organization` reports.
pub const ORG_ID: &str = "00o1fakeorg000000001";

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
    /// API requests as path and query; a throttle carries the seconds until the reset its 429
    /// announces; a page is (listing path, 1-based page).
    controls: Controls<u64, (String, usize)>,
    /// What `/.well-known/okta-organization` names as the org's Okta URL; `None`: 404 (not an
    /// Okta org).
    organization_url: Option<String>,
    remaining: u32,
    window_reset: u64,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<OktaState>>,
    auth: FakeAuthorization,
}

/// A running fake Okta org.
pub struct FakeOkta {
    server: FakeServer,
    state: Arc<Mutex<OktaState>>,
    auth: FakeAuthorization,
}

impl FakeOkta {
    /// Starts an org serving `org`, accepting the API token `token` and the bearer tokens its
    /// authorization server issues to the registered service app ([`SERVICE_APP_CLIENT_ID`]).
    pub async fn start(org: OktaOrg, token: &str) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(OktaState {
            org,
            token: token.to_owned(),
            base_url: String::new(),
            controls: Controls::default(),
            organization_url: Some("https://fake-acme.okta.com".into()),
            remaining: RATE_LIMIT,
            window_reset: now() + 60,
        }));
        let auth = FakeAuthorization::new();
        auth.register_client(ClientApp::with_key(
            SERVICE_APP_CLIENT_ID,
            CLIENT_PUBLIC_KEY_PEM,
        ));
        let shared = Shared {
            state: Arc::clone(&state),
            auth: auth.clone(),
        };
        let router = Router::new()
            .route("/.well-known/okta-organization", get(organization))
            .route("/api/v1/users/me", get(me))
            .route("/api/v1/users", get(list_users))
            .route("/api/v1/groups", get(list_groups))
            .route("/api/v1/groups/{id}/users", get(list_members))
            .with_state(shared);
        let paths = AuthorizationPaths::new(
            "/oauth2/v1/authorize",
            "/oauth2/v1/token",
            "/oauth2/v1/keys",
        );
        let server = auth.serve_beside("okta", router, &paths).await?;
        lock(&state).base_url = server.base_url();
        Ok(Self {
            server,
            state,
            auth,
        })
    }

    /// The org URL (`http://127.0.0.1:<port>`).
    pub fn org_url(&self) -> String {
        self.server.base_url()
    }

    /// The org authorization server: expire or revoke tokens, change the service app.
    pub fn authorization(&self) -> &FakeAuthorization {
        &self.auth
    }

    /// Accepts a new token from now on; the old one answers 401 (a revoked or rotated token).
    pub fn rotate_token(&self, token: &str) {
        lock(&self.state).token = token.to_owned();
    }

    /// The next `n` API requests answer 429, with a reset one second away.
    pub fn throttle_next(&self, n: u32) {
        // The org's budget is spent: it refills at the next window, a second from now.
        lock(&self.state).controls.throttle_next(n as usize, 1);
    }

    /// The next request for page `page` (1-based) of the listing at `path` (`/api/v1/users`)
    /// answers 429 with `X-Rate-Limit-Reset` `reset_in` seconds from now.
    pub fn throttle_page(&self, path: &str, page: usize, reset_in: u64) {
        lock(&self.state)
            .controls
            .throttle_page((path.to_owned(), page), reset_in);
    }

    /// What `/.well-known/okta-organization` names as the org's Okta URL (`None`: the host is
    /// not an Okta org and answers 404).
    pub fn set_organization_url(&self, url: Option<&str>) {
        lock(&self.state).organization_url = url.map(str::to_owned);
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

    /// How many API requests were answered (including refused ones; not the token endpoint or
    /// the well-known document).
    pub fn request_count(&self) -> u64 {
        lock(&self.state).controls.request_count() as u64
    }

    /// The API requests answered so far: path and query, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).controls.requests()
    }

    /// The demo's connection: the definition pointed at this fake (loopback allowed) in API
    /// token mode.
    pub fn demo_connection(&self) -> DemoConnection {
        let token = lock(&self.state).token.clone();
        DemoConnection {
            definition: "okta",
            operator_config: json!({ "allowLoopbackOrgUrls": true }),
            connection: "OktaApiToken".into(),
            user_input: json!({ "orgUrl": self.org_url() }),
            credentials: [("OktaApiToken".to_owned(), json!({ "apiToken": token }))].into(),
        }
    }

    /// What a tenant pastes for the service app mode (the `OktaServiceApp` credential).
    pub fn service_app_credential(&self) -> Value {
        json!({
            "clientId": SERVICE_APP_CLIENT_ID,
            "keyId": SERVICE_APP_KEY_ID,
            "privateKey": CLIENT_PRIVATE_KEY_PEM,
        })
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

/// The scope an OAuth token needs for an endpoint.
#[derive(Clone, Copy)]
enum Scope {
    UsersRead,
    GroupsRead,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::UsersRead => "okta.users.read",
            Scope::GroupsRead => "okta.groups.read",
        }
    }
}

/// Who made a request.
enum Caller {
    ApiToken,
    /// A service app's access token (no user behind it).
    ServiceApp,
}

fn bearer_challenge(base_url: &str, error: &str, description: &str, scope: Scope) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "Bearer authorization_uri=\"{base_url}/oauth2/v1/authorize\", realm=\"IdP\", scope=\"{}\", error=\"{error}\", error_description=\"{description}\"",
        scope.as_str()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// Authenticates, logs and rate-limits one request, returning the headers every response
/// carries and who called, or the refusal.
fn admit(
    shared: &Shared,
    headers: &HeaderMap,
    request: String,
    scope: Scope,
    page: Option<(&str, usize)>,
) -> Result<(HeaderMap, Caller), Box<Response>> {
    let mut state = lock(&shared.state);
    state.controls.record(request);
    let now = now();
    if now >= state.window_reset {
        state.window_reset = now + 60;
        state.remaining = RATE_LIMIT;
    }
    let mut out = HeaderMap::new();
    // A throttled page answers before the queued throttles, which it leaves for later calls.
    let reset_in = page
        .and_then(|(path, number)| {
            state
                .controls
                .take_page_throttle(&(path.to_owned(), number))
        })
        .or_else(|| state.controls.next_throttle());
    let throttled = reset_in.is_some();
    if let Some(reset_in) = reset_in {
        state.remaining = 0;
        state.window_reset = now + reset_in;
    } else {
        state.remaining = state.remaining.saturating_sub(1);
    }
    let reset = state.window_reset;
    out.insert("x-rate-limit-limit", HeaderValue::from(RATE_LIMIT));
    out.insert("x-rate-limit-remaining", HeaderValue::from(state.remaining));
    out.insert("x-rate-limit-reset", HeaderValue::from(reset));
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let refuse = |status: StatusCode, code: &str, summary: &str, challenge: Option<HeaderValue>| {
        let mut response = okta_error(status, code, summary);
        response.headers_mut().extend(out.clone());
        if let Some(challenge) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        Box::new(response)
    };
    let caller = if given.strip_prefix("SSWS ") == Some(state.token.as_str()) {
        Caller::ApiToken
    } else if given.starts_with("Bearer ") {
        match shared.auth.bearer(headers) {
            Ok(grant) if grant.scope.split(' ').any(|s| s == scope.as_str()) => Caller::ServiceApp,
            Ok(_) => {
                let challenge = bearer_challenge(
                    &state.base_url,
                    "insufficient_scope",
                    "The access token provided does not contain the required scopes.",
                    scope,
                );
                return Err(refuse(
                    StatusCode::FORBIDDEN,
                    "E0000006",
                    "You do not have permission to perform the requested action",
                    Some(challenge),
                ));
            }
            Err(refusal) => {
                let description = match refusal {
                    BearerRefusal::Expired => "The token is expired.",
                    BearerRefusal::Missing | BearerRefusal::Unknown => {
                        "The access token is invalid."
                    }
                };
                let challenge =
                    bearer_challenge(&state.base_url, "invalid_token", description, scope);
                return Err(refuse(
                    StatusCode::UNAUTHORIZED,
                    "E0000011",
                    "Invalid token provided",
                    Some(challenge),
                ));
            }
        }
    } else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
            None,
        ));
    };
    if throttled {
        return Err(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
            None,
        ));
    }
    Ok((out, caller))
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

/// The 1-based number of the page a request asks for, from its cursor (Okta's cursors are ids).
fn page_number(ids: &[String], params: &PageParams) -> usize {
    let limit = params.limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT);
    let start = match &params.after {
        Some(after) => ids.partition_point(|id| id.as_str() <= after.as_str()),
        None => 0,
    };
    start / limit + 1
}

fn request_line(path: &str, params: &PageParams) -> String {
    let mut line = path.to_owned();
    let mut sep = '?';
    for (name, value) in [
        ("limit", params.limit.map(|l| l.to_string())),
        ("after", params.after.clone()),
        ("search", params.search.clone()),
    ] {
        if let Some(value) = value {
            line.push_str(&format!("{sep}{name}={value}"));
            sep = '&';
        }
    }
    line
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

async fn organization(State(shared): State<Shared>) -> Response {
    let state = lock(&shared.state);
    match &state.organization_url {
        Some(url) => axum::Json(json!({
            "id": ORG_ID,
            "pipeline": "idx",
            "_links": {
                "organization": { "href": url },
                "alternate": { "href": state.base_url }
            },
            "settings": { "analyticsCollectionEnabled": false, "bugReportingEnabled": true }
        }))
        .into_response(),
        // A test's host that is not an Okta org: Okta describes no such answer.
        None => {
            let mut refusal = okta_error(
                StatusCode::NOT_FOUND,
                "E0000007",
                "Not found: Resource not found: okta-organization",
            );
            refusal.headers_mut().insert(
                crate::response_log::DEVIATION_HEADER,
                HeaderValue::from_static("a host that is not an Okta org"),
            );
            refusal
        }
    }
}

async fn me(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let (out, caller) = match admit(
        &shared,
        &headers,
        "/api/v1/users/me".into(),
        Scope::UsersRead,
        None,
    ) {
        Ok(admitted) => admitted,
        Err(refusal) => return *refusal,
    };
    if let Caller::ServiceApp = caller {
        // A client-credentials token acts for the app, not for a user.
        return okta_error(
            StatusCode::NOT_FOUND,
            "E0000007",
            "Not found: Resource not found: me (User)",
        );
    }
    let admin = json!({
        "id": "00uadmin000000000000",
        "status": "ACTIVE",
        "profile": { "login": "admin@example.com", "email": "admin@example.com", "firstName": "Org", "lastName": "Admin" }
    });
    (StatusCode::OK, out, axum::Json(admin)).into_response()
}

async fn list_users(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Response {
    let path = "/api/v1/users";
    let mut users = Vec::new();
    {
        let state = lock(&shared.state);
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
    }
    admitted_page(&shared, &headers, path, &params, users, Scope::UsersRead)
}

async fn list_groups(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Response {
    let path = "/api/v1/groups";
    let groups: Vec<(String, Value)> = lock(&shared.state)
        .org
        .groups
        .iter()
        .map(|(id, g)| (id.clone(), g.clone()))
        .collect();
    admitted_page(&shared, &headers, path, &params, groups, Scope::GroupsRead)
}

/// Answers the requested page of a top-level listing at `path`, once the caller is admitted with
/// `scope` (a throttle queued for that page answers 429 instead).
fn admitted_page(
    shared: &Shared,
    headers: &HeaderMap,
    path: &str,
    params: &PageParams,
    items: Vec<(String, Value)>,
    scope: Scope,
) -> Response {
    let ids: Vec<String> = items.iter().map(|(id, _)| id.clone()).collect();
    let number = page_number(&ids, params);
    let out = match admit(
        shared,
        headers,
        request_line(path, params),
        scope,
        Some((path, number)),
    ) {
        Ok((out, _)) => out,
        Err(refusal) => return *refusal,
    };
    let base_url = lock(&shared.state).base_url.clone();
    page(&base_url, path, params, items, out)
}

async fn list_members(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(group): Path<String>,
    Query(params): Query<PageParams>,
) -> Response {
    let path = format!("/api/v1/groups/{group}/users");
    let out = match admit(
        &shared,
        &headers,
        request_line(&path, &params),
        Scope::GroupsRead,
        None,
    ) {
        Ok((out, _)) => out,
        Err(refusal) => return *refusal,
    };
    let state = lock(&shared.state);
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
    page(&state.base_url, &path, &params, users, out)
}
