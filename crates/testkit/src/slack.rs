//! A fake Slack for one workspace, as Slack documents its Web API and OAuth v2:
//!
//! - Web API methods at `/api/<method>`, GET (query string) or POST (form or JSON body), with
//!   `Authorization: Bearer <token>`. Every answer is `{"ok": true, ...}`; refusals are HTTP 200
//!   with `{"ok": false, "error": "<code>"}` (`not_authed`, `invalid_auth`, `token_revoked`,
//!   `token_expired`, `missing_scope` with `needed`/`provided`, `channel_not_found`, ...);
//!   throttled calls answer HTTP 429 with `Retry-After` and `{"ok": false, "error":
//!   "ratelimited"}`.
//! - `auth.test`, `team.info` (`team:read`), `users.list` (`users:read`; emails only with
//!   `users:read.email`; `limit` and `cursor`, the next one in `response_metadata.next_cursor`),
//!   `chat.postMessage` (`chat:write`; to a channel id or a user id, `text` and/or `blocks`),
//!   `auth.revoke`.
//! - `GET /oauth/v2/authorize` approves at once: it redirects to `redirect_uri` with `code` and
//!   `state`. `POST /api/oauth.v2.access` takes the client id and secret by HTTP Basic or in the
//!   form, exchanges single-use codes bound to their `redirect_uri`, and, when token rotation
//!   is on, answers with `expires_in` and a `refresh_token` that `grant_type=refresh_token`
//!   exchanges (and rotates) at the same method.
//!
//! The shared `authorization` fake answers errors the standard OAuth way (HTTP 400, `error`), not
//! Slack's, so this fake has its own small token endpoint.

// The handlers' helpers return a ready response as their error; its size does not matter in a
// test fake.
#![allow(clippy::result_large_err)]

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use crate::{
    FakeServer,
    controls::{Controls, PostThrottles, retry_after},
    demo::DemoConnection,
    fixtures::fixture,
};

/// The OAuth app registered with the fake (what an operator puts in `[definitions.slack]`).
pub const CLIENT_ID: &str = "4242424242.1717171717";
pub const CLIENT_SECRET: &str = "8f1c2d3e4b5a69788796a5b4c3d2e1f0";
/// Every scope a token from the fake's OAuth flow gets, and the default of pasted tokens.
pub const ALL_SCOPES: &str = "users:read,users:read.email,team:read,chat:write";
/// Seconds a rotating token lives (Slack's is 12 hours).
pub const ROTATING_TOKEN_LIFETIME: i64 = 43_200;
/// The app's bot user in the workspace (`auth.test`'s `user_id`).
pub const BOT_USER_ID: &str = "U07TR1BUT0";
const BOT_ID: &str = "B07TR1BUT0";
/// The app's id (`api_app_id` of its Events API deliveries).
pub const APP_ID: &str = "A07TR1BUT0";

/// The realistic members every workspace has: a member with 2FA, the primary owner, a
/// deactivated member, a bot, a single-channel guest, and Slackbot.
pub const FIXTURES: [(&str, &str); 6] = [
    ("member", fixture!("slack", "member")),
    ("admin", fixture!("slack", "admin")),
    ("deleted", fixture!("slack", "deleted")),
    ("bot", fixture!("slack", "bot")),
    ("guest", fixture!("slack", "guest")),
    ("slackbot", fixture!("slack", "slackbot")),
];

/// The data of the fake workspace.
#[derive(Debug, Clone)]
pub struct SlackWorkspace {
    pub team_id: String,
    pub name: String,
    pub domain: String,
    pub enterprise_id: Option<String>,
    /// User id -> user object, listed in id order.
    pub users: BTreeMap<String, Value>,
    /// Channel ids messages may be posted to (the bot is a member).
    pub channels: BTreeSet<String>,
    /// Archived channels (posting answers `is_archived`).
    pub archived_channels: BTreeSet<String>,
}

impl SlackWorkspace {
    /// The fixture members plus `extra` generated regular members (`U1000000000`, ...).
    pub fn sample(extra: usize) -> Self {
        let mut workspace = Self {
            team_id: "T0ACMEHQ1".into(),
            name: "Acme HQ".into(),
            domain: "acme-hq".into(),
            enterprise_id: None,
            users: BTreeMap::new(),
            channels: ["C0GENERAL1", "C0ALERTS01"].map(str::to_owned).into(),
            archived_channels: ["C0OLDSTUFF"].map(str::to_owned).into(),
        };
        for (_, text) in FIXTURES {
            let user = crate::fixtures::parse(text);
            workspace
                .users
                .insert(user["id"].as_str().unwrap().to_owned(), user);
        }
        for i in 0..extra {
            let user = member(i);
            workspace
                .users
                .insert(user["id"].as_str().unwrap().to_owned(), user);
        }
        workspace
    }
}

/// A generated regular member, shaped like `users.list` members.
pub fn member(i: usize) -> Value {
    json!({
        "id": format!("U{:010}", 1_000_000_000 + i),
        "team_id": "T0ACMEHQ1",
        "name": format!("member{i}"),
        "deleted": false,
        "real_name": format!("Member {i}"),
        "tz": "Europe/Berlin",
        "tz_label": "Central European Summer Time",
        "tz_offset": 7200,
        "profile": {
            "title": "",
            "real_name": format!("Member {i}"),
            "display_name": "",
            "email": format!("Member{i}@Acme.example"),
            "first_name": "Member",
            "last_name": format!("{i}"),
            "image_192": format!("https://secure.gravatar.com/avatar/{i:011x}.jpg?s=192"),
            "team": "T0ACMEHQ1",
        },
        "is_admin": false,
        "is_owner": false,
        "is_primary_owner": false,
        "is_restricted": false,
        "is_ultra_restricted": false,
        "is_bot": false,
        "is_app_user": false,
        "updated": 1_718_000_000 + i as i64,
        "has_2fa": i.is_multiple_of(2),
    })
}

#[derive(Debug, Clone)]
struct TokenGrant {
    scopes: Vec<String>,
    /// Unix seconds; `None` for tokens without rotation.
    expires_at: Option<i64>,
}

struct CodeGrant {
    redirect_uri: String,
    scope: String,
}

#[derive(Default)]
struct Control {
    tokens: HashMap<String, TokenGrant>,
    /// API calls as `<method> <arguments>`; throttles carry the `Retry-After` seconds; pages are
    /// `users.list`'s (1-based, by position).
    controls: Controls,
    codes: HashMap<String, CodeGrant>,
    /// Refresh token -> scope.
    refresh_tokens: HashMap<String, String>,
    rotation: bool,
    /// Seconds a rotating access token lives.
    token_lifetime: i64,
    issued: u64,
    /// Throttled `chat.postMessage` calls; a channel is the `channel` argument.
    throttled_posts: PostThrottles,
    messages: Vec<Value>,
    grants: BTreeMap<String, usize>,
    next_ts: u64,
}

struct Shared {
    workspace: Mutex<SlackWorkspace>,
    control: Mutex<Control>,
}

/// The running fake.
pub struct FakeSlack {
    shared: Arc<Shared>,
    server: FakeServer,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl FakeSlack {
    pub async fn start(workspace: SlackWorkspace) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            workspace: Mutex::new(workspace),
            control: Mutex::new(Control {
                next_ts: 1_718_600_000_000_100,
                token_lifetime: ROTATING_TOKEN_LIFETIME,
                ..Control::default()
            }),
        });
        let router = Router::new()
            .route("/oauth/v2/authorize", get(authorize))
            .route("/api/{method}", get(api).post(api))
            .with_state(Arc::clone(&shared));
        Ok(Self {
            shared,
            server: FakeServer::start_provider("slack", router).await?,
        })
    }

    /// The base URL (`http://127.0.0.1:<port>`), Slack's `https://slack.com`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn team_id(&self) -> String {
        self.shared.workspace.lock().unwrap().team_id.clone()
    }

    /// The operator config pointing the definition at this fake, with the registered app (its
    /// signing secret signs the deliveries of [`crate::slack_events`]).
    pub fn operator_config(&self) -> Value {
        json!({
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "signingSecret": crate::slack_events::SIGNING_SECRET,
            "baseUrl": self.base_url(),
            "allowLoopbackBaseUrl": true,
        })
    }

    /// Connects the definition to this fake through the OAuth mode, as the demo does.
    pub fn demo_connection(&self) -> DemoConnection {
        DemoConnection {
            definition: "slack",
            operator_config: self.operator_config(),
            connection: "SlackOAuth".into(),
            user_input: json!({}),
            credentials: BTreeMap::new(),
        }
    }

    /// Accepts `token` as a bot token with `scopes` (comma-separated), never expiring.
    pub fn add_bot_token(&self, token: &str, scopes: &str) {
        self.shared.control.lock().unwrap().tokens.insert(
            token.into(),
            TokenGrant {
                scopes: split_scopes(scopes),
                expires_at: None,
            },
        );
    }

    /// The token stops working (`token_revoked`).
    pub fn revoke_token(&self, token: &str) {
        let mut control = self.shared.control.lock().unwrap();
        control.tokens.remove(token);
        control.controls.revoke(token);
    }

    /// Every access token issued so far expires now (`token_expired`).
    pub fn expire_tokens(&self) {
        let mut control = self.shared.control.lock().unwrap();
        for grant in control.tokens.values_mut() {
            if grant.expires_at.is_some() {
                grant.expires_at = Some(now() - 1);
            }
        }
    }

    /// Every refresh token stops working (`invalid_refresh_token`).
    pub fn revoke_refresh_tokens(&self) {
        self.shared.control.lock().unwrap().refresh_tokens.clear();
    }

    /// Token rotation on: OAuth answers carry `expires_in` and a `refresh_token`.
    pub fn enable_token_rotation(&self, on: bool) {
        self.shared.control.lock().unwrap().rotation = on;
    }

    /// Rotating tokens issued from now on live `seconds` (Slack's live 12 hours).
    pub fn set_token_lifetime(&self, seconds: i64) {
        self.shared.control.lock().unwrap().token_lifetime = seconds;
    }

    /// How many `oauth.v2.access` exchanges of `grant_type` succeeded.
    pub fn grants(&self, grant_type: &str) -> usize {
        let control = self.shared.control.lock().unwrap();
        control.grants.get(grant_type).copied().unwrap_or(0)
    }

    /// The next API calls answer 429 with these `Retry-After` seconds, one each.
    pub fn throttle(&self, waits: impl IntoIterator<Item = u64>) {
        self.shared.control.lock().unwrap().controls.throttle(waits);
    }

    /// The next request for `users.list` page `page` (1-based) answers 429 with `wait`.
    pub fn throttle_users_page(&self, page: usize, wait: u64) {
        let mut control = self.shared.control.lock().unwrap();
        control.controls.throttle_page(page, wait);
    }

    /// The next `chat.postMessage` calls answer 429 with these waits, one each.
    pub fn throttle_messages(&self, waits: impl IntoIterator<Item = u64>) {
        let mut control = self.shared.control.lock().unwrap();
        control.throttled_posts.throttle_any(waits);
    }

    /// The next posts to `channel` (the `channel` argument, e.g. a user id) answer 429 with
    /// these `Retry-After` seconds, one each; other channels are not throttled.
    pub fn throttle_messages_to(&self, channel: &str, waits: impl IntoIterator<Item = u64>) {
        let mut control = self.shared.control.lock().unwrap();
        control.throttled_posts.throttle_to(channel, waits);
    }

    pub fn with_workspace<T>(&self, change: impl FnOnce(&mut SlackWorkspace) -> T) -> T {
        change(&mut self.shared.workspace.lock().unwrap())
    }

    /// `<method>?<query or form>` of each API call so far (tokens and secrets left out).
    pub fn requests(&self) -> Vec<String> {
        self.shared.control.lock().unwrap().controls.requests()
    }

    /// The messages posted so far: `{channel, text, blocks, thread_ts, ts}`.
    pub fn messages(&self) -> Vec<Value> {
        self.shared.control.lock().unwrap().messages.clone()
    }
}

fn split_scopes(scopes: &str) -> Vec<String> {
    scopes
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn ok(mut body: Value) -> Response {
    body["ok"] = json!(true);
    Json(body).into_response()
}

/// Slack's refusal: HTTP 200, `ok: false`.
fn refusal(code: &str) -> Response {
    Json(json!({"ok": false, "error": code})).into_response()
}

fn ratelimited(wait: u64) -> Response {
    let response = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"ok": false, "error": "ratelimited"})),
    )
        .into_response();
    retry_after(response, wait)
}

/// The arguments of a Web API call: query string, then a form or JSON body.
fn arguments(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Value, Response> {
    let mut args = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        args.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => args.extend(map),
            _ => return Err(refusal("invalid_json")),
        }
    } else if !body.is_empty() {
        for (k, v) in url::form_urlencoded::parse(body) {
            args.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    Ok(Value::Object(args))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The query or form of a call, without secrets, for [`FakeSlack::requests`].
fn logged(method: &str, args: &Value) -> String {
    let pairs: Vec<String> = args
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "client_secret" | "code" | "refresh_token" | "token"
                    )
                })
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect()
        })
        .unwrap_or_default();
    format!("{method}?{}", pairs.join("&"))
}

async fn api(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let args = match arguments(query.as_deref(), &headers, &body) {
        Ok(args) => args,
        Err(response) => return response,
    };
    {
        let mut control = shared.control.lock().unwrap();
        if let Some(wait) = control.controls.answer(logged(&method, &args)) {
            return ratelimited(wait);
        }
    }
    if method == "oauth.v2.access" {
        return token_exchange(&shared, &headers, &args);
    }
    let grant = match authenticate(&shared, &headers) {
        Ok(grant) => grant,
        Err(response) => return response,
    };
    let needs = |scope: &str| -> Result<(), Response> {
        if grant.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(Json(
                json!({"ok": false, "error": "missing_scope", "needed": scope,
                "provided": grant.scopes.join(",")}),
            )
            .into_response())
        }
    };
    let result = match method.as_str() {
        "auth.test" => Ok(auth_test(&shared)),
        "auth.revoke" => {
            let token = bearer(&headers).unwrap_or_default().to_owned();
            let mut control = shared.control.lock().unwrap();
            control.tokens.remove(&token);
            control.controls.revoke(token);
            Ok(ok(json!({"revoked": true})))
        }
        "team.info" => needs("team:read").map(|()| team_info(&shared)),
        "users.list" => needs("users:read").and_then(|()| {
            users_list(
                &shared,
                &args,
                grant.scopes.iter().any(|s| s == "users:read.email"),
            )
        }),
        "chat.postMessage" => needs("chat:write").and_then(|()| post_message(&shared, &args)),
        _ => Err(refusal("unknown_method")),
    };
    result.unwrap_or_else(|response| response)
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<TokenGrant, Response> {
    let token = bearer(headers).ok_or_else(|| refusal("not_authed"))?;
    let control = shared.control.lock().unwrap();
    if control.controls.is_revoked(token) {
        return Err(refusal("token_revoked"));
    }
    let grant = control
        .tokens
        .get(token)
        .ok_or_else(|| refusal("invalid_auth"))?;
    if grant.expires_at.is_some_and(|at| at <= now()) {
        return Err(refusal("token_expired"));
    }
    Ok(grant.clone())
}

fn auth_test(shared: &Shared) -> Response {
    let workspace = shared.workspace.lock().unwrap();
    let mut body = json!({
        "url": format!("https://{}.slack.com/", workspace.domain),
        "team": workspace.name,
        "user": "tributary",
        "team_id": workspace.team_id,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": false,
    });
    if let Some(enterprise) = &workspace.enterprise_id {
        body["enterprise_id"] = json!(enterprise);
    }
    ok(body)
}

fn team_info(shared: &Shared) -> Response {
    let workspace = shared.workspace.lock().unwrap();
    let mut team = json!({
        "id": workspace.team_id,
        "name": workspace.name,
        "url": format!("https://{}.slack.com/", workspace.domain),
        "domain": workspace.domain,
        "email_domain": "acme.example",
        "icon": {
            "image_34": "https://a.slack-edge.com/80588/img/avatars-teams/ava_0001-34.png",
            "image_default": true,
        },
        "avatar_base_url": "https://ca.slack-edge.com/",
        "is_verified": false,
    });
    if let Some(enterprise) = &workspace.enterprise_id {
        team["enterprise_id"] = json!(enterprise);
        team["enterprise_name"] = json!("Acme Enterprise");
    }
    ok(json!({"team": team}))
}

/// Cursors are opaque to clients; like Slack's they are base64 of `user:<next user id>`.
fn cursor_for(user_id: &str) -> String {
    STANDARD.encode(format!("user:{user_id}"))
}

fn users_list(shared: &Shared, args: &Value, with_email: bool) -> Result<Response, Response> {
    let limit = match args.get("limit").and_then(Value::as_str) {
        None | Some("") => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| refusal("invalid_limit"))?,
    };
    // Slack answers everything at once without a limit and caps it at 1,000.
    let limit = if limit == 0 {
        usize::MAX
    } else {
        limit.min(1000)
    };
    let start = match args.get("cursor").and_then(Value::as_str) {
        None | Some("") => None,
        Some(cursor) => {
            let decoded = STANDARD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.strip_prefix("user:").map(str::to_owned))
                .ok_or_else(|| refusal("invalid_cursor"))?;
            Some(decoded)
        }
    };
    let workspace = shared.workspace.lock().unwrap();
    let position = start.as_deref().map_or(0, |from| {
        workspace
            .users
            .keys()
            .take_while(|id| id.as_str() < from)
            .count()
    });
    let page = if limit == usize::MAX {
        1
    } else {
        position / limit + 1
    };
    let throttled = {
        let mut control = shared.control.lock().unwrap();
        control.controls.take_page_throttle(&page)
    };
    if let Some(wait) = throttled {
        return Err(ratelimited(wait));
    }
    let mut rest = workspace.users.values().skip(position);
    let members: Vec<Value> = rest
        .by_ref()
        .take(limit)
        .map(|user| {
            let mut user = user.clone();
            if !with_email && let Some(profile) = user["profile"].as_object_mut() {
                profile.remove("email");
            }
            user
        })
        .collect();
    let next = rest
        .next()
        .and_then(|user| user["id"].as_str())
        .map(cursor_for)
        .unwrap_or_default();
    Ok(ok(json!({
        "members": members,
        "cache_ts": now(),
        "response_metadata": {"next_cursor": next},
    })))
}

fn post_message(shared: &Shared, args: &Value) -> Result<Response, Response> {
    // A post throttled wherever it goes is refused before its arguments are read.
    let any_wait = shared.control.lock().unwrap().throttled_posts.take_any();
    if let Some(wait) = any_wait {
        return Err(ratelimited(wait));
    }
    let channel = args
        .get("channel")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| refusal("channel_not_found"))?
        .to_owned();
    let channel_wait = shared
        .control
        .lock()
        .unwrap()
        .throttled_posts
        .take_to(&channel);
    if let Some(wait) = channel_wait {
        return Err(ratelimited(wait));
    }
    let text = args
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    // Blocks come as a JSON array (JSON body) or a JSON-encoded string (form body).
    let blocks = match args.get("blocks") {
        None | Some(Value::Null) => None,
        Some(Value::Array(blocks)) => Some(Value::Array(blocks.clone())),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(blocks)) => Some(Value::Array(blocks)),
            _ => return Err(refusal("invalid_blocks_format")),
        },
        Some(_) => return Err(refusal("invalid_blocks_format")),
    };
    if let Some(blocks) = &blocks
        && blocks
            .as_array()
            .is_some_and(|list| list.iter().any(|b| b.get("type").is_none()))
    {
        return Err(refusal("invalid_blocks"));
    }
    if text.trim().is_empty() && blocks.as_ref().is_none_or(|b| b == &json!([])) {
        return Err(refusal("no_text"));
    }
    let workspace = shared.workspace.lock().unwrap();
    // A user id posts to the app's direct message with that user.
    let posted_to = if workspace.archived_channels.contains(&channel) {
        return Err(refusal("is_archived"));
    } else if workspace.channels.contains(&channel) {
        channel.clone()
    } else if workspace
        .users
        .get(&channel)
        .is_some_and(|u| u["deleted"] != json!(true))
    {
        format!("D{}", &channel[1..])
    } else {
        return Err(refusal("channel_not_found"));
    };
    drop(workspace);
    let mut control = shared.control.lock().unwrap();
    control.next_ts += 1;
    let ts = format!(
        "{}.{:06}",
        control.next_ts / 1_000_000,
        control.next_ts % 1_000_000
    );
    control.messages.push(json!({
        "channel": posted_to,
        "text": text,
        "blocks": blocks,
        "thread_ts": args.get("thread_ts"),
        "ts": ts,
    }));
    Ok(ok(json!({
        "channel": posted_to,
        "ts": ts,
        "message": {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID,
            "text": text, "ts": ts},
    })))
}

/// `GET /oauth/v2/authorize`: the user approves at once.
async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let refuse = |message: &str| (StatusCode::BAD_REQUEST, message.to_owned()).into_response();
    if params.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return refuse("invalid_client_id");
    }
    let Some(redirect_uri) = params.get("redirect_uri").filter(|u| !u.is_empty()) else {
        return refuse("bad_redirect_uri");
    };
    let scope = params.get("scope").cloned().unwrap_or_default();
    if scope.contains(' ') {
        // Slack wants comma-separated scopes.
        return refuse("invalid_scope");
    }
    let code = {
        let mut control = shared.control.lock().unwrap();
        control.issued += 1;
        let code = format!(
            "{}.{:016x}.code",
            CLIENT_ID.split('.').next().unwrap(),
            control.issued * 7919
        );
        control.codes.insert(
            code.clone(),
            CodeGrant {
                redirect_uri: redirect_uri.clone(),
                scope,
            },
        );
        code
    };
    let mut target = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return refuse("bad_redirect_uri"),
    };
    target.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = params.get("state") {
        target.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(target.as_str()).into_response()
}

/// The client id and secret, by HTTP Basic or in the form.
fn client_credentials(headers: &HeaderMap, args: &Value) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(basic).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((decode(id)?, decode(secret)?));
    }
    let field = |name: &str| args.get(name).and_then(Value::as_str).map(str::to_owned);
    Some((field("client_id")?, field("client_secret")?))
}

/// `POST /api/oauth.v2.access`.
fn token_exchange(shared: &Shared, headers: &HeaderMap, args: &Value) -> Response {
    let Some((client_id, secret)) = client_credentials(headers, args) else {
        return refusal("invalid_client_id");
    };
    if client_id != CLIENT_ID {
        return refusal("invalid_client_id");
    }
    if secret != CLIENT_SECRET {
        return refusal("bad_client_secret");
    }
    let field = |name: &str| args.get(name).and_then(Value::as_str).unwrap_or_default();
    let mut control = shared.control.lock().unwrap();
    let (scope, grant_type) = match field("grant_type") {
        "" | "authorization_code" => {
            let Some(code) = control.codes.remove(field("code")) else {
                return refusal("invalid_code");
            };
            if !field("redirect_uri").is_empty() && field("redirect_uri") != code.redirect_uri {
                return refusal("bad_redirect_uri");
            }
            (code.scope, "authorization_code")
        }
        "refresh_token" => {
            let Some(scope) = control.refresh_tokens.remove(field("refresh_token")) else {
                return refusal("invalid_refresh_token");
            };
            (scope, "refresh_token")
        }
        _ => return refusal("invalid_grant_type"),
    };
    control.issued += 1;
    let serial = control.issued;
    let rotation = control.rotation || grant_type == "refresh_token";
    let lifetime = control.token_lifetime;
    let access_token = if rotation {
        format!("xoxe.xoxb-1-fake{serial:08}-rotating")
    } else {
        format!("xoxb-4242-fake{serial:08}-bot")
    };
    control.tokens.insert(
        access_token.clone(),
        TokenGrant {
            scopes: split_scopes(&scope),
            expires_at: rotation.then(|| now() + lifetime),
        },
    );
    *control.grants.entry(grant_type.to_owned()).or_default() += 1;
    let workspace = shared.workspace.lock().unwrap();
    let mut answer = json!({
        "access_token": access_token,
        "token_type": "bot",
        "scope": scope,
        "bot_user_id": BOT_USER_ID,
        "app_id": APP_ID,
        "team": {"id": workspace.team_id, "name": workspace.name},
        "enterprise": workspace.enterprise_id.as_ref().map(|id| json!({"id": id, "name": "Acme Enterprise"})),
        "is_enterprise_install": false,
        "authed_user": {"id": "U01ADM1N01"},
    });
    if rotation {
        let refresh = format!("xoxe-1-fake{serial:08}-refresh");
        control.refresh_tokens.insert(refresh.clone(), scope);
        answer["refresh_token"] = json!(refresh);
        answer["expires_in"] = json!(lifetime);
    }
    ok(answer)
}
