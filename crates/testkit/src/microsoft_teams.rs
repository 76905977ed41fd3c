//! A fake Microsoft identity platform and Microsoft Graph (the Teams part) for one tenant and one
//! signed-in user, on two loopback servers as in production (`login.microsoftonline.com` and
//! `graph.microsoft.com`):
//!
//! - Login: the shared fake authorization server at `/{tenant}/oauth2/v2.0/authorize`,
//!   `/{tenant}/oauth2/v2.0/token` and `/{tenant}/discovery/v2.0/keys`: authorization code with
//!   PKCE, the registered confidential client (`client_secret_post`), refresh tokens rotated on
//!   every refresh (the old one stops working), RS256 id tokens with issuer
//!   `<login>/<tid>/v2.0` and the claims `tid`, `oid`, `preferred_username` and `name`.
//! - Graph under `/v1.0`, with `Authorization: Bearer <token>`: `GET /me` (`User.Read`),
//!   `GET /me/joinedTeams` (`Team.ReadBasic.All`), `POST /teams/{team-id}/channels/{channel-id}/messages`
//!   (`ChannelMessage.Send`) and `POST /chats/{chat-id}/messages` (`ChatMessage.Send`), answering
//!   `201 Created` with the chatMessage. `$select` is honoured on `/me` and `/me/joinedTeams`.
//! - Graph's error body `{"error": {"code", "message", "innerError": {"date", "request-id",
//!   "client-request-id"}}}`: 401 `InvalidAuthenticationToken` for a missing, unknown or expired
//!   token (with `WWW-Authenticate`), 403 `Forbidden` naming the missing scope, 404 `NotFound`
//!   for an unknown team, channel or chat, 400 `BadRequest` for a malformed message, 429
//!   `TooManyRequests` with `Retry-After`.

// The handlers' helpers return a ready response as their error; its size does not matter in a
// test fake.
#![allow(clippy::result_large_err)]

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{OriginalUri, Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use crate::{
    authorization::FakeAuthorization,
    clock::{now_ms, rfc3339_ms},
    controls::{Controls, PostThrottles},
    fixtures::fixture,
    microsoft::{
        AppRegistration, MicrosoftServers, SignedIn, fake_accessors, graph_error, invalid_token,
        log_graph_call, start_sign_in, throttled,
    },
};

/// Graph's answers as Microsoft documents them, the templates of the fake's answers.
pub const FIXTURES: [(&str, &str); 5] = [
    ("me", fixture!("microsoft_teams", "me")),
    ("joined_team", fixture!("microsoft_teams", "joined_team")),
    (
        "channel_message",
        fixture!("microsoft_teams", "channel_message"),
    ),
    ("chat_message", fixture!("microsoft_teams", "chat_message")),
    (
        "error_not_found",
        fixture!("microsoft_teams", "error_not_found"),
    ),
];

fn fixture(name: &str) -> Value {
    let text = FIXTURES
        .iter()
        .find(|(fixture, _)| *fixture == name)
        .map(|(_, text)| *text)
        .expect("a known fixture");
    crate::fixtures::parse(text)
}

/// The app registration the fake knows (what an operator puts in
/// `[definitions.microsoft_teams]`).
pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const CLIENT_SECRET: &str = "qWe8Q~tributaryFakeSecret.0123456789abcdef";
pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// A team the user joined and its channels.
#[derive(Debug, Clone)]
pub struct FakeTeam {
    pub display_name: String,
    pub description: String,
    /// Channel id -> display name.
    pub channels: BTreeMap<String, String>,
}

/// The tenant's data as the signed-in user sees it.
#[derive(Debug, Clone)]
pub struct TeamsTenant {
    pub tenant_id: String,
    pub user_id: String,
    pub display_name: String,
    pub user_principal_name: String,
    /// Team id -> team, for the teams the user joined.
    pub teams: BTreeMap<String, FakeTeam>,
    /// Chats the user is a member of.
    pub chats: BTreeSet<String>,
}

impl TeamsTenant {
    pub const ENGINEERING: &'static str = "19dd6c7e-9b5a-4f2e-8f7e-0123456789ab";
    pub const GENERAL: &'static str = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2";
    pub const ALERTS: &'static str = "19:b1c2d3e4f5a60718293a4b5c6d7e8f90@thread.tacv2";
    pub const SECURITY: &'static str = "02bd9fd6-8f93-4758-87c3-1fb73740a315";
    pub const INCIDENTS: &'static str = "19:0ac1d7c2e0a94f8d8e1b0c2d3e4f5a6b@thread.skype";
    pub const GROUP_CHAT: &'static str = "19:2da4c29f6d7041eca70b638b43d45437@thread.v2";
    pub const ONE_ON_ONE: &'static str = "19:8b081ef6-4792-4def-b2c9-c363a1bf41d5_5031bb31-22c0-4f6f-9f73-91d34ab2b32d@unq.gbl.spaces";

    /// Megan in two teams (Engineering with General and Alerts, Security with a private
    /// Incidents channel) and two chats.
    pub fn sample() -> Self {
        let team = |name: &str, description: &str, channels: &[(&str, &str)]| FakeTeam {
            display_name: name.into(),
            description: description.into(),
            channels: channels
                .iter()
                .map(|(id, name)| ((*id).to_owned(), (*name).to_owned()))
                .collect(),
        };
        Self {
            tenant_id: TENANT_ID.into(),
            user_id: "8b081ef6-4792-4def-b2c9-c363a1bf41d5".into(),
            display_name: "Megan Bowen".into(),
            user_principal_name: "MeganB@contoso.onmicrosoft.com".into(),
            teams: [
                (
                    Self::ENGINEERING.to_owned(),
                    team(
                        "Engineering",
                        "Builds and runs the product",
                        &[(Self::GENERAL, "General"), (Self::ALERTS, "Alerts")],
                    ),
                ),
                (
                    Self::SECURITY.to_owned(),
                    team(
                        "Security",
                        "Security operations",
                        &[(Self::INCIDENTS, "Incidents")],
                    ),
                ),
            ]
            .into(),
            chats: [Self::GROUP_CHAT.to_owned(), Self::ONE_ON_ONE.to_owned()].into(),
        }
    }
}

#[derive(Default)]
struct Control {
    /// Graph calls as `<METHOD> <path>`; throttles carry the `Retry-After` seconds.
    controls: Controls,
    /// Throttled message posts; a destination is a channel or chat id.
    throttled_posts: PostThrottles,
    messages: Vec<Value>,
    serial: u64,
}

struct Shared {
    tenant: Mutex<TeamsTenant>,
    control: Mutex<Control>,
    auth: FakeAuthorization,
}

/// The running fake: a login server and a Graph server.
pub struct FakeMicrosoftTeams {
    shared: Arc<Shared>,
    servers: MicrosoftServers,
}

const APP: AppRegistration = AppRegistration {
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
};

impl FakeMicrosoftTeams {
    fake_accessors!("microsoft_teams", "MicrosoftTeamsOAuth");

    pub async fn start(tenant: TeamsTenant) -> std::io::Result<Self> {
        let user = SignedIn {
            tenant_id: &tenant.tenant_id,
            subject: "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            object_id: &tenant.user_id,
            username: &tenant.user_principal_name,
            name: &tenant.display_name,
        };
        let (auth, login) = start_sign_in(APP, &user, |routes| routes).await?;
        // Microsoft issues a new refresh token on every refresh; the fake forgets the old one.
        auth.rotate_refresh_tokens(true);
        let shared = Arc::new(Shared {
            tenant: Mutex::new(tenant),
            control: Mutex::new(Control {
                serial: 0,
                ..Control::default()
            }),
            auth,
        });
        let graph_router = Router::new()
            .route("/v1.0/me", get(me))
            .route("/v1.0/me/joinedTeams", get(joined_teams))
            .route(
                "/v1.0/teams/{team}/channels/{channel}/messages",
                post(post_channel_message),
            )
            .route("/v1.0/chats/{chat}/messages", post(post_chat_message))
            .fallback(unknown_resource)
            .with_state(Arc::clone(&shared));
        let servers = MicrosoftServers::start(APP, login, graph_router).await?;
        Ok(Self { shared, servers })
    }

    pub fn with_tenant<T>(&self, change: impl FnOnce(&mut TeamsTenant) -> T) -> T {
        change(&mut self.shared.tenant.lock().unwrap())
    }

    /// The next message posts answer 429 with these `Retry-After` seconds, one each.
    pub fn throttle_posts(&self, waits: impl IntoIterator<Item = u64>) {
        let mut control = self.shared.control.lock().unwrap();
        control.throttled_posts.throttle_any(waits);
    }

    /// The next posts to the channel or chat `id` answer 429 with these waits, one each.
    pub fn throttle_posts_to(&self, id: &str, waits: impl IntoIterator<Item = u64>) {
        let mut control = self.shared.control.lock().unwrap();
        control.throttled_posts.throttle_to(id, waits);
    }

    /// The messages posted so far: `{teamId, channelId}` or `{chatId}`, plus `id`,
    /// `contentType`, `content`, `subject` and `from` (the user id).
    pub fn messages(&self) -> Vec<Value> {
        self.shared.control.lock().unwrap().messages.clone()
    }
}

/// Logs the call, answers a queued throttle, checks the token and its scope.
fn admit(
    shared: &Shared,
    method: &str,
    uri: &OriginalUri,
    headers: &HeaderMap,
    needed: &[&str],
) -> Result<String, Response> {
    let request = format!("{method} {}", uri.path());
    log_graph_call(&mut shared.control.lock().unwrap().controls, request)?;
    let grant = shared.auth.bearer(headers).map_err(|refusal| {
        let mut response = invalid_token(refusal);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\""
                .parse()
                .unwrap(),
        );
        response
    })?;
    let granted: Vec<&str> = grant
        .scope
        .split(' ')
        .map(|scope| scope.rsplit('/').next().unwrap_or(scope))
        .collect();
    if !needed.is_empty()
        && !needed
            .iter()
            .any(|n| granted.iter().any(|g| g.eq_ignore_ascii_case(n)))
    {
        let on_request: Vec<&str> = granted
            .iter()
            .copied()
            .filter(|g| !matches!(*g, "openid" | "profile" | "offline_access" | "email"))
            .collect();
        return Err(graph_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "Missing scope permissions on the request. API requires one of '{}'. Scopes on \
                 the request '{}'",
                needed.join(", "),
                on_request.join(", ")
            ),
        ));
    }
    Ok(grant.client_id)
}

/// The fields of `object` named by `$select` (all of them without it).
fn selected(object: Value, select: Option<&String>) -> Value {
    let Some(select) = select else {
        return object;
    };
    let names: Vec<&str> = select.split(',').map(str::trim).collect();
    match object {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k.starts_with('@') || names.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

async fn me(
    State(shared): State<Arc<Shared>>,
    uri: OriginalUri,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(response) = admit(&shared, "GET", &uri, &headers, &["User.Read"]) {
        return response;
    }
    let tenant = shared.tenant.lock().unwrap();
    let (given, surname) = tenant
        .display_name
        .split_once(' ')
        .unwrap_or((tenant.display_name.as_str(), ""));
    let mut user = fixture("me");
    user["displayName"] = json!(tenant.display_name);
    user["givenName"] = json!(given);
    user["surname"] = json!(surname);
    user["mail"] = json!(tenant.user_principal_name);
    user["userPrincipalName"] = json!(tenant.user_principal_name);
    user["id"] = json!(tenant.user_id);
    Json(selected(user, query.get("$select"))).into_response()
}

async fn joined_teams(
    State(shared): State<Arc<Shared>>,
    uri: OriginalUri,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let needed = [
        "Team.ReadBasic.All",
        "TeamSettings.Read.All",
        "TeamSettings.ReadWrite.All",
    ];
    if let Err(response) = admit(&shared, "GET", &uri, &headers, &needed) {
        return response;
    }
    let tenant = shared.tenant.lock().unwrap();
    let teams: Vec<Value> = tenant
        .teams
        .iter()
        .map(|(id, team)| {
            let mut entry = fixture("joined_team");
            entry["id"] = json!(id);
            entry["displayName"] = json!(team.display_name);
            entry["description"] = json!(team.description);
            entry["tenantId"] = json!(tenant.tenant_id);
            selected(entry, query.get("$select"))
        })
        .collect();
    // Graph answers `@odata.count` only to `$count=true`, which this method does not support.
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#teams",
        "value": teams,
    }))
    .into_response()
}

/// The request's JSON body.
fn json_body(body: &[u8]) -> Result<Value, Response> {
    if body.is_empty() {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Empty Payload. JSON content expected.",
        ));
    }
    serde_json::from_slice(body).map_err(|_| {
        graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid request body: the JSON is not well formed.",
        )
    })
}

/// Checks a posted chatMessage: `body.content` and a `contentType` of `text` or `html`.
fn checked_message(body: &Value) -> Result<(String, String, Option<String>), Response> {
    let bad = |message: &str| graph_error(StatusCode::BAD_REQUEST, "BadRequest", message);
    let content = body
        .pointer("/body/content")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| bad("Missing body content."))?;
    let content_type = match body.pointer("/body/contentType").and_then(Value::as_str) {
        None => "text",
        Some(kind) if kind.eq_ignore_ascii_case("text") => "text",
        Some(kind) if kind.eq_ignore_ascii_case("html") => "html",
        Some(_) => return Err(bad("Invalid value for body contentType.")),
    };
    let subject = body
        .get("subject")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((content.to_owned(), content_type.to_owned(), subject))
}

/// Stores a message and answers 201 with the chatMessage Graph returns.
fn created(
    shared: &Shared,
    destination: Value,
    content: &str,
    content_type: &str,
    subject: Option<String>,
) -> Response {
    let tenant = shared.tenant.lock().unwrap();
    let mut control = shared.control.lock().unwrap();
    control.serial += 1;
    let created_ms = now_ms() + control.serial as i64;
    let id = created_ms.to_string();
    let created = rfc3339_ms(created_ms);
    let template = if destination.get("chatId").is_some() {
        "chat_message"
    } else {
        "channel_message"
    };
    let mut message = fixture(template);
    for field in ["id", "etag"] {
        message[field] = json!(id);
    }
    for field in ["createdDateTime", "lastModifiedDateTime"] {
        message[field] = json!(created);
    }
    message["subject"] = json!(subject);
    message["from"]["user"]["id"] = json!(tenant.user_id);
    message["from"]["user"]["displayName"] = json!(tenant.display_name);
    message["body"] = json!({"contentType": content_type, "content": content});
    // Graph percent-encodes thread ids (`19%3A...%40thread.v2`) in contexts and links.
    let encode = |value: &Value| -> String {
        url::form_urlencoded::byte_serialize(value.as_str().unwrap_or_default().as_bytes())
            .collect()
    };
    if let Some(chat) = destination.get("chatId") {
        message["@odata.context"] = json!(format!(
            "https://graph.microsoft.com/v1.0/$metadata#chats('{}')/messages/$entity",
            encode(chat)
        ));
        message["chatId"] = chat.clone();
    } else {
        let (team, channel) = (&destination["teamId"], &destination["channelId"]);
        message["@odata.context"] = json!(format!(
            "https://graph.microsoft.com/v1.0/$metadata#teams('{}')/channels('{}')/messages/$entity",
            team.as_str().unwrap_or_default(),
            encode(channel)
        ));
        message["channelIdentity"] = json!({"teamId": team, "channelId": channel});
        let encoded = encode(channel);
        message["webUrl"] = json!(format!(
            "https://teams.microsoft.com/l/message/{encoded}/{id}?groupId={}&tenantId={}&createdTime={id}&parentMessageId={id}",
            team.as_str().unwrap_or_default(),
            tenant.tenant_id
        ));
    }
    let mut stored = destination;
    stored["id"] = json!(id);
    stored["content"] = json!(content);
    stored["contentType"] = json!(content_type);
    stored["subject"] = json!(message["subject"]);
    stored["from"] = json!(tenant.user_id);
    control.messages.push(stored);
    (StatusCode::CREATED, Json(message)).into_response()
}

fn posts_throttle(shared: &Shared, destination: &str) -> Result<(), Response> {
    let wait = shared
        .control
        .lock()
        .unwrap()
        .throttled_posts
        .take(destination);
    match wait {
        Some(wait) => Err(throttled(wait)),
        None => Ok(()),
    }
}

async fn post_channel_message(
    State(shared): State<Arc<Shared>>,
    Path((team, channel)): Path<(String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let needed = ["ChannelMessage.Send", "Group.ReadWrite.All"];
    let result = admit(&shared, "POST", &uri, &headers, &needed)
        .and_then(|_| posts_throttle(&shared, &channel))
        .and_then(|()| {
            let tenant = shared.tenant.lock().unwrap();
            let found = tenant
                .teams
                .iter()
                .find(|(id, _)| id.eq_ignore_ascii_case(&team))
                .ok_or_else(|| {
                    graph_error(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        &format!("No team found with Group Id {team}"),
                    )
                })?;
            if !found.1.channels.contains_key(&channel) {
                return Err(graph_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("Channel {channel} was not found in team {}.", found.0),
                ));
            }
            Ok(found.0.clone())
        })
        .and_then(|team_id| {
            let body = json_body(&body)?;
            let (content, content_type, subject) = checked_message(&body)?;
            Ok(created(
                &shared,
                json!({"teamId": team_id, "channelId": channel}),
                &content,
                &content_type,
                subject,
            ))
        });
    result.unwrap_or_else(|response| response)
}

async fn post_chat_message(
    State(shared): State<Arc<Shared>>,
    Path(chat): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let needed = ["ChatMessage.Send", "Chat.ReadWrite", "Group.ReadWrite.All"];
    let result = admit(&shared, "POST", &uri, &headers, &needed)
        .and_then(|_| posts_throttle(&shared, &chat))
        .and_then(|()| {
            if !shared.tenant.lock().unwrap().chats.contains(&chat) {
                return Err(graph_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("Chat {chat} was not found or the user is not a member of it."),
                ));
            }
            let body = json_body(&body)?;
            let (content, content_type, _subject) = checked_message(&body)?;
            Ok(created(
                &shared,
                json!({"chatId": chat}),
                &content,
                &content_type,
                None,
            ))
        });
    result.unwrap_or_else(|response| response)
}

async fn unknown_resource(uri: OriginalUri) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!(
            "Resource not found for the segment '{}'.",
            uri.path().rsplit('/').next().unwrap_or_default()
        ),
    )
}
