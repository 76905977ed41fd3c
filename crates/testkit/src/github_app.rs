//! A fake GitHub for one organisation with the operator's GitHub App installed, as GitHub
//! documents its REST and GraphQL APIs and its App installs:
//!
//! - The install page `GET /apps/<slug>/installations/new?state=...` installs at once and
//!   redirects (302) to the app's Setup URL with `installation_id`, `setup_action=install` and
//!   the `state`, as GitHub sends the browser back.
//! - `POST /app/installations/<id>/access_tokens` and `GET /app/installations/<id>` take the app
//!   JWT (`Authorization: Bearer`), verified RS256 against the app's public key, with `iss` the
//!   app id, `exp` in the future and at most ten minutes after `iat`. A refused JWT answers 401
//!   (`A JSON web token could not be decoded`), an unknown or removed installation 404, a
//!   suspended one 403. Installation tokens are `ghs_...` with `expires_at` (one hour unless a
//!   test changes it).
//! - REST calls with an installation token (`Bearer` or `token`): an unknown or expired token
//!   answers 401 `{"message": "Bad credentials"}`. `GET /installation/repositories`
//!   (`{total_count, repositories}`) and the alert lists `GET /repos/<owner>/<repo>/
//!   {dependabot,code-scanning,secret-scanning}/alerts` page with `per_page`/`page` and `Link`
//!   headers (`rel="next"`, `rel="last"`). A feature that is off answers like GitHub: Dependabot
//!   403 "Dependabot alerts are disabled for this repository.", code scanning 404 "no analysis
//!   found", secret scanning 404 "Secret scanning is disabled on this repository.".
//! - `POST /graphql` answers `organization(login) { membersWithRole(first, after) { totalCount
//!   edges { role } nodes { ... } pageInfo { hasNextPage endCursor } } }` with opaque cursors.
//! - Every API answer carries `x-ratelimit-limit`, `-remaining`, `-used`, `-reset` and
//!   `-resource`. Throttles a test asks for answer 403 (secondary rate limit) or 429 with
//!   `Retry-After`.
//!
//! Webhook deliveries are built with [`signed_delivery`]: GitHub's headers and
//! `X-Hub-Signature-256` over the body with the app's webhook secret.

// The handlers' helpers return a ready response as their error; its size does not matter in a
// test fake.
#![allow(clippy::result_large_err)]

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    FakeServer,
    clock::{now_secs, rfc3339},
    controls::Controls,
    demo::DemoConnection,
    fixtures::parse,
};

/// The app registered with the fake (what an operator puts in `[definitions.github_app]`).
pub const APP_ID: &str = "424242";
pub const APP_SLUG: &str = "tributary-test";
pub const WEBHOOK_SECRET: &str = "whsec-3f9a1c7e5b2d48a6b0c1d2e3f4a5b6c7";
/// The app's private key (a test-only key, see [`crate::keys`]).
pub const APP_PRIVATE_KEY: &str = crate::keys::APP_RSA_PEM;
const APP_PUBLIC_KEY: &str = crate::keys::APP_RSA_PUBLIC_PEM;
/// Another RSA key, not the app's: JWTs signed with it are refused.
pub const OTHER_PRIVATE_KEY: &str = crate::keys::OTHER_RSA_PEM;
/// The installation of the sample organisation.
pub const INSTALLATION_ID: u64 = 41_000_001;
/// Seconds an installation token lives (GitHub's live one hour).
pub const TOKEN_LIFETIME: i64 = 3_600;

const DOCS: &str = "https://docs.github.com/rest";

/// The alert lists: REST path segment.
pub const ALERT_KINDS: [&str; 3] = ["dependabot", "code-scanning", "secret-scanning"];

/// Payload fixtures following GitHub's published shapes.
pub mod fixtures {
    use crate::fixtures::fixture;

    pub const REPOSITORY: &str = fixture!("github_app", "repository");
    pub const REPOSITORY_PUBLIC_ARCHIVED: &str =
        fixture!("github_app", "repository_public_archived");
    pub const DEPENDABOT_ALERT: &str = fixture!("github_app", "dependabot_alert");
    pub const DEPENDABOT_ALERT_DISMISSED: &str =
        fixture!("github_app", "dependabot_alert_dismissed_minimal");
    pub const CODE_SCANNING_ALERT: &str = fixture!("github_app", "code_scanning_alert");
    pub const CODE_SCANNING_ALERT_NOTE: &str =
        fixture!("github_app", "code_scanning_alert_note_minimal");
    pub const SECRET_SCANNING_ALERT: &str = fixture!("github_app", "secret_scanning_alert");
    pub const SECRET_SCANNING_ALERT_RESOLVED: &str =
        fixture!("github_app", "secret_scanning_alert_resolved");
    pub const MEMBER_ADMIN: &str = fixture!("github_app", "member_admin");
    pub const MEMBER_NO_PUBLIC_EMAIL: &str = fixture!("github_app", "member_no_public_email");
    pub const WEBHOOK_PING: &str = fixture!("github_app", "webhook_ping");
    pub const WEBHOOK_INSTALLATION_CREATED: &str =
        fixture!("github_app", "webhook_installation_created");
    pub const WEBHOOK_INSTALLATION_DELETED: &str =
        fixture!("github_app", "webhook_installation_deleted");
    pub const WEBHOOK_INSTALLATION_SUSPEND: &str =
        fixture!("github_app", "webhook_installation_suspend");
    pub const WEBHOOK_INSTALLATION_UNSUSPEND: &str =
        fixture!("github_app", "webhook_installation_unsuspend");
    pub const WEBHOOK_DEPENDABOT_ALERT: &str = fixture!("github_app", "webhook_dependabot_alert");
}

/// The data of the fake organisation.
#[derive(Debug, Clone)]
pub struct GithubOrg {
    pub login: String,
    pub id: u64,
    /// `Organization` or `User`.
    pub account_type: String,
    pub installation_id: u64,
    /// Repository id -> repository, listed in id order.
    pub repositories: BTreeMap<u64, Value>,
    /// (full name, alert kind) -> alerts, listed in order.
    pub alerts: BTreeMap<(String, &'static str), Vec<Value>>,
    /// (full name, alert kind) of features that are off.
    pub disabled: BTreeSet<(String, &'static str)>,
    /// databaseId -> member node with its `role`.
    pub members: BTreeMap<u64, Value>,
}

impl GithubOrg {
    /// `acme-corp` with the fixture repositories (`web-app` with two alerts of each kind,
    /// `legacy-sdk` with every alert feature off), the fixture members, and `extra_repos`
    /// repositories and `extra_members` members generated.
    pub fn sample(extra_repos: usize, extra_members: usize) -> Self {
        let mut org = Self {
            login: "acme-corp".into(),
            id: 143_287_342,
            account_type: "Organization".into(),
            installation_id: INSTALLATION_ID,
            repositories: BTreeMap::new(),
            alerts: BTreeMap::new(),
            disabled: BTreeSet::new(),
            members: BTreeMap::new(),
        };
        for text in [fixtures::REPOSITORY, fixtures::REPOSITORY_PUBLIC_ARCHIVED] {
            let repo = parse(text);
            org.repositories.insert(repo["id"].as_u64().unwrap(), repo);
        }
        let web = "acme-corp/web-app".to_owned();
        org.alerts.insert(
            (web.clone(), "dependabot"),
            vec![
                parse(fixtures::DEPENDABOT_ALERT),
                parse(fixtures::DEPENDABOT_ALERT_DISMISSED),
            ],
        );
        org.alerts.insert(
            (web.clone(), "code-scanning"),
            vec![
                parse(fixtures::CODE_SCANNING_ALERT),
                parse(fixtures::CODE_SCANNING_ALERT_NOTE),
            ],
        );
        org.alerts.insert(
            (web, "secret-scanning"),
            vec![
                parse(fixtures::SECRET_SCANNING_ALERT),
                parse(fixtures::SECRET_SCANNING_ALERT_RESOLVED),
            ],
        );
        for kind in ALERT_KINDS {
            org.disabled.insert(("acme-corp/legacy-sdk".into(), kind));
        }
        for text in [fixtures::MEMBER_ADMIN, fixtures::MEMBER_NO_PUBLIC_EMAIL] {
            let mut member = parse(text);
            if let Some(object) = member.as_object_mut() {
                object.remove("organization");
            }
            org.members
                .insert(member["databaseId"].as_u64().unwrap(), member);
        }
        for i in 0..extra_repos {
            let repo = repository(i);
            org.repositories.insert(repo["id"].as_u64().unwrap(), repo);
        }
        for i in 0..extra_members {
            let member = member(i);
            org.members
                .insert(member["databaseId"].as_u64().unwrap(), member);
        }
        org
    }
}

/// A generated private repository of `acme-corp`, shaped like the REST repository object.
pub fn repository(i: usize) -> Value {
    let name = format!("service-{i:03}");
    rest_repository(json!({
        "id": 800_000_000u64 + i as u64,
        "node_id": format!("R_kgDOGen{i:04}"),
        "name": name,
        "full_name": format!("acme-corp/{name}"),
        "private": true,
        "owner": simple_user("acme-corp", 143_287_342, "O_kgDOCIpULg", "Organization"),
        "html_url": format!("https://github.com/acme-corp/{name}"),
        "description": format!("Service {i}"),
        "fork": false,
        "url": format!("https://api.github.com/repos/acme-corp/{name}"),
        "created_at": "2024-01-10T08:00:00Z",
        "updated_at": "2024-06-01T08:00:00Z",
        "pushed_at": "2024-06-02T08:00:00Z",
        "language": "Rust",
        "archived": false,
        "disabled": false,
        "visibility": "private",
        "default_branch": "main",
        "topics": [],
    }))
}

/// An account as GitHub's REST API embeds it (`simple-user`: a repository's owner, an
/// installation's account), with every property GitHub's description requires.
pub fn simple_user(login: &str, id: u64, node_id: &str, kind: &str) -> Value {
    let api = format!("https://api.github.com/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": node_id,
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// `base` completed with what GitHub's REST repository object always carries and `base` leaves
/// out: the API URL templates, clone URLs, counters (zero) and feature flags.
fn rest_repository(mut base: Value) -> Value {
    let full_name = base["full_name"].as_str().unwrap_or_default().to_owned();
    let api = format!("https://api.github.com/repos/{full_name}");
    let url = |path: &str| json!(format!("{api}{path}"));
    let defaults = [
        ("forks_url", url("/forks")),
        ("keys_url", url("/keys{/key_id}")),
        ("collaborators_url", url("/collaborators{/collaborator}")),
        ("teams_url", url("/teams")),
        ("hooks_url", url("/hooks")),
        ("issue_events_url", url("/issues/events{/number}")),
        ("events_url", url("/events")),
        ("assignees_url", url("/assignees{/user}")),
        ("branches_url", url("/branches{/branch}")),
        ("tags_url", url("/tags")),
        ("blobs_url", url("/git/blobs{/sha}")),
        ("git_tags_url", url("/git/tags{/sha}")),
        ("git_refs_url", url("/git/refs{/sha}")),
        ("trees_url", url("/git/trees{/sha}")),
        ("statuses_url", url("/statuses/{sha}")),
        ("languages_url", url("/languages")),
        ("stargazers_url", url("/stargazers")),
        ("contributors_url", url("/contributors")),
        ("subscribers_url", url("/subscribers")),
        ("subscription_url", url("/subscription")),
        ("commits_url", url("/commits{/sha}")),
        ("git_commits_url", url("/git/commits{/sha}")),
        ("comments_url", url("/comments{/number}")),
        ("issue_comment_url", url("/issues/comments{/number}")),
        ("contents_url", url("/contents/{+path}")),
        ("compare_url", url("/compare/{base}...{head}")),
        ("merges_url", url("/merges")),
        ("archive_url", url("/{archive_format}{/ref}")),
        ("downloads_url", url("/downloads")),
        ("issues_url", url("/issues{/number}")),
        ("pulls_url", url("/pulls{/number}")),
        ("milestones_url", url("/milestones{/number}")),
        (
            "notifications_url",
            url("/notifications{?since,all,participating}"),
        ),
        ("labels_url", url("/labels{/name}")),
        ("releases_url", url("/releases{/id}")),
        ("deployments_url", url("/deployments")),
        (
            "git_url",
            json!(format!("git://github.com/{full_name}.git")),
        ),
        ("ssh_url", json!(format!("git@github.com:{full_name}.git"))),
        (
            "clone_url",
            json!(format!("https://github.com/{full_name}.git")),
        ),
        ("svn_url", json!(format!("https://github.com/{full_name}"))),
        ("homepage", Value::Null),
        ("size", json!(4096)),
        ("stargazers_count", json!(0)),
        ("watchers_count", json!(0)),
        ("watchers", json!(0)),
        ("forks_count", json!(0)),
        ("forks", json!(0)),
        ("open_issues_count", json!(0)),
        ("open_issues", json!(0)),
        ("has_issues", json!(true)),
        ("has_projects", json!(false)),
        ("has_downloads", json!(true)),
        ("has_wiki", json!(false)),
        ("has_pages", json!(false)),
        ("has_discussions", json!(false)),
        ("mirror_url", Value::Null),
        ("license", Value::Null),
        ("allow_forking", json!(false)),
        ("is_template", json!(false)),
        ("web_commit_signoff_required", json!(false)),
    ];
    if let Some(object) = base.as_object_mut() {
        for (key, value) in defaults {
            object.entry(key).or_insert(value);
        }
    }
    base
}

/// A generated organisation member node (`MEMBER` role).
pub fn member(i: usize) -> Value {
    json!({
        "databaseId": 60_000_000u64 + i as u64,
        "login": format!("member-{i}"),
        "name": format!("Member {i}"),
        "email": if i.is_multiple_of(3) { json!(format!("Member{i}@Acme.example")) } else { json!("") },
        "avatarUrl": format!("https://avatars.githubusercontent.com/u/{}?v=4", 60_000_000 + i),
        "url": format!("https://github.com/member-{i}"),
        "createdAt": "2020-01-01T00:00:00Z",
        "updatedAt": "2024-05-01T00:00:00Z",
        "role": "MEMBER",
    })
}

/// A generated Dependabot alert number `number`.
pub fn dependabot_alert(repository: &str, number: u64) -> Value {
    let mut alert = parse(fixtures::DEPENDABOT_ALERT);
    alert["number"] = json!(number);
    alert["html_url"] = json!(format!(
        "https://github.com/{repository}/security/dependabot/{number}"
    ));
    alert["url"] = json!(format!(
        "https://api.github.com/repos/{repository}/dependabot/alerts/{number}"
    ));
    alert
}

/// How a throttled call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// 403 "You have exceeded a secondary rate limit" with `Retry-After`.
    Secondary(u64),
    /// 429 with `Retry-After`.
    TooManyRequests(u64),
}

#[derive(Default)]
struct Control {
    /// Installation token -> (installation id, expires at).
    tokens: HashMap<String, (u64, i64)>,
    token_lifetime: i64,
    mints: usize,
    jwts_verified: usize,
    /// The installation was removed (404) or suspended (403).
    uninstalled: bool,
    suspended: bool,
    /// API calls as `METHOD /path?query`; a throttled page is a text the next request whose
    /// line contains it answers with.
    controls: Controls<Throttle, String>,
    remaining: u64,
    setup_url: String,
    next_token: u64,
}

struct Shared {
    org: Mutex<GithubOrg>,
    control: Mutex<Control>,
    base: Mutex<String>,
}

/// The running fake.
pub struct FakeGithub {
    shared: Arc<Shared>,
    server: FakeServer,
}

impl FakeGithub {
    pub async fn start(org: GithubOrg) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            org: Mutex::new(org),
            control: Mutex::new(Control {
                token_lifetime: TOKEN_LIFETIME,
                remaining: 5_000,
                setup_url: "http://127.0.0.1:9/v1/auth/callback".into(),
                ..Control::default()
            }),
            base: Mutex::new(String::new()),
        });
        let router = Router::new()
            .route("/apps/{slug}/installations/new", get(install_page))
            .route(
                "/app/installations/{id}/access_tokens",
                post(create_installation_token),
            )
            .route("/app/installations/{id}", get(get_installation))
            .route("/installation/repositories", get(installation_repositories))
            .route("/repos/{owner}/{repo}/{kind}/alerts", get(alerts))
            .route("/graphql", post(graphql))
            .with_state(Arc::clone(&shared));
        let server = FakeServer::start_provider("github", router).await?;
        *shared.base.lock().unwrap() = server.base_url();
        Ok(Self { shared, server })
    }

    /// The base URL (`http://127.0.0.1:<port>`): GitHub's `https://api.github.com` (REST, with
    /// GraphQL at `/graphql`) and `https://github.com` (the install page) at once.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The operator config pointing the definition at this fake, with the registered app.
    pub fn operator_config(&self) -> Value {
        json!({
            "appId": APP_ID,
            "privateKey": APP_PRIVATE_KEY,
            "webhookSecret": WEBHOOK_SECRET,
            "appSlug": APP_SLUG,
            "apiUrl": self.base_url(),
            "webUrl": self.base_url(),
            "allowLoopbackUrls": true,
        })
    }

    /// Connects the definition to this fake by installing the app, as the demo does. The
    /// install page redirects to the Setup URL set with [`set_setup_url`](Self::set_setup_url)
    /// (the demo's `/v1/auth/callback`), as GitHub redirects to the app's Setup URL.
    pub fn demo_connection(&self) -> DemoConnection {
        DemoConnection {
            definition: "github_app",
            operator_config: self.operator_config(),
            connection: "GithubAppInstallation".into(),
            user_input: json!({}),
            credentials: BTreeMap::new(),
        }
    }

    /// Where the install page sends the browser back (the app's Setup URL).
    pub fn set_setup_url(&self, url: &str) {
        self.shared.control.lock().unwrap().setup_url = url.to_owned();
    }

    pub fn installation_id(&self) -> u64 {
        self.shared.org.lock().unwrap().installation_id
    }

    /// Installation tokens issued from now on live `seconds`.
    pub fn set_token_lifetime(&self, seconds: i64) {
        self.shared.control.lock().unwrap().token_lifetime = seconds;
    }

    /// Every installation token issued so far has expired (401 Bad credentials).
    pub fn expire_tokens(&self) {
        for (_, expires_at) in self.shared.control.lock().unwrap().tokens.values_mut() {
            *expires_at = now_secs() - 1;
        }
    }

    /// How many installation tokens were minted.
    pub fn mints(&self) -> usize {
        self.shared.control.lock().unwrap().mints
    }

    /// How many app JWTs were verified and accepted.
    pub fn jwts_verified(&self) -> usize {
        self.shared.control.lock().unwrap().jwts_verified
    }

    /// The app is uninstalled: its tokens stop working and no new ones are minted (404).
    pub fn uninstall(&self) {
        let mut control = self.shared.control.lock().unwrap();
        control.uninstalled = true;
        control.tokens.clear();
    }

    /// The installation is suspended (403 on token requests).
    pub fn suspend(&self, suspended: bool) {
        self.shared.control.lock().unwrap().suspended = suspended;
    }

    /// The next API calls are throttled, one each.
    pub fn throttle(&self, throttles: impl IntoIterator<Item = Throttle>) {
        self.shared
            .control
            .lock()
            .unwrap()
            .controls
            .throttle(throttles);
    }

    /// The next request whose path and query contain `contains` is throttled.
    pub fn throttle_request(&self, contains: &str, throttle: Throttle) {
        self.shared
            .control
            .lock()
            .unwrap()
            .controls
            .throttle_page(contains.to_owned(), throttle);
    }

    pub fn with_org<T>(&self, change: impl FnOnce(&mut GithubOrg) -> T) -> T {
        change(&mut self.shared.org.lock().unwrap())
    }

    /// `METHOD /path?query` of each API call so far (GraphQL calls as `POST /graphql after=<cursor>`).
    pub fn requests(&self) -> Vec<String> {
        self.shared.control.lock().unwrap().controls.requests()
    }
}

/// A webhook delivery as GitHub sends it: the headers (`X-GitHub-Event`, `X-GitHub-Delivery`,
/// `X-Hub-Signature-256` over the body with `secret`, the hook's ids) and the body.
pub fn signed_delivery(
    secret: &str,
    event: &str,
    delivery: &str,
    payload: &Value,
) -> (Vec<(String, String)>, Vec<u8>) {
    let body = serde_json::to_vec(payload).expect("a payload serialises");
    let signature = hmac_sha256_hex(secret.as_bytes(), &body);
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("user-agent", "GitHub-Hookshot/6b1c2a7".to_owned()),
        ("x-github-event", event.to_owned()),
        ("x-github-delivery", delivery.to_owned()),
        ("x-github-hook-id", "487215963".to_owned()),
        (
            "x-github-hook-installation-target-type",
            "integration".to_owned(),
        ),
        ("x-github-hook-installation-target-id", APP_ID.to_owned()),
        ("x-hub-signature-256", format!("sha256={signature}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    (headers, body)
}

/// The payload of an alert event (`dependabot_alert`, `code_scanning_alert`,
/// `secret_scanning_alert`) for `alert` in `repository` of the sample organisation.
pub fn alert_event(action: &str, alert: Value, repository: &str, installation_id: u64) -> Value {
    let name = repository.rsplit('/').next().unwrap_or(repository);
    json!({
        "action": action,
        "alert": alert,
        "repository": {
            "id": 702_915_513,
            "name": name,
            "full_name": repository,
            "private": true,
            "owner": {"login": repository.split('/').next().unwrap_or_default(), "type": "Organization"},
        },
        "organization": {"login": "acme-corp", "id": 143_287_342},
        "installation": {"id": installation_id},
        "sender": {"login": "github-advanced-security[bot]", "id": 62_310_815, "type": "Bot"},
    })
}

/// HMAC-SHA256 (RFC 2104) in hex.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        Json(json!({"message": text, "documentation_url": DOCS, "status": status.as_u16().to_string()})),
    )
        .into_response()
}

fn with_rate_headers(mut response: Response, control: &mut Control, resource: &str) -> Response {
    control.remaining = control.remaining.saturating_sub(1);
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    };
    set("x-ratelimit-limit", "5000".into());
    set("x-ratelimit-remaining", control.remaining.to_string());
    set("x-ratelimit-used", (5_000 - control.remaining).to_string());
    set("x-ratelimit-reset", (now_secs() + 3_600).to_string());
    set("x-ratelimit-resource", resource.into());
    response
}

fn throttled(throttle: Throttle) -> Response {
    let (status, wait) = match throttle {
        Throttle::Secondary(wait) => (StatusCode::FORBIDDEN, wait),
        Throttle::TooManyRequests(wait) => (StatusCode::TOO_MANY_REQUESTS, wait),
    };
    let mut response = message(
        status,
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    );
    response.headers_mut().insert(
        "retry-after",
        HeaderValue::from_str(&wait.to_string()).unwrap(),
    );
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
}

/// Checks the installation token and throttles; logs the call. `Ok` is the installation id.
fn api_call(
    shared: &Shared,
    headers: &HeaderMap,
    line: String,
    resource: &str,
) -> Result<u64, Response> {
    let mut control = shared.control.lock().unwrap();
    control.controls.record(line.clone());
    let token = bearer(headers).unwrap_or_default().to_owned();
    let valid = control
        .tokens
        .get(&token)
        .filter(|(_, expires_at)| *expires_at > now_secs())
        .map(|(installation, _)| *installation);
    let Some(installation) = valid else {
        let response = message(StatusCode::UNAUTHORIZED, "Bad credentials");
        return Err(with_rate_headers(response, &mut control, resource));
    };
    // A throttle aimed at this request answers before the queued ones, which it leaves.
    let throttle = control
        .controls
        .take_page_throttle_where(|contains| line.contains(contains.as_str()))
        .or_else(|| control.controls.next_throttle());
    if let Some(throttle) = throttle {
        return Err(with_rate_headers(
            throttled(throttle),
            &mut control,
            resource,
        ));
    }
    Ok(installation)
}

fn respond(shared: &Shared, response: Response, resource: &str) -> Response {
    with_rate_headers(response, &mut shared.control.lock().unwrap(), resource)
}

#[derive(Deserialize)]
struct AppClaims {
    iss: Value,
    iat: i64,
    exp: i64,
}

/// Verifies the app JWT like GitHub: RS256 with the app's public key, `iss` the app id, not
/// expired, `exp` at most ten minutes after `iat`.
fn app_jwt(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let refuse = |text: &str| Err(message(StatusCode::UNAUTHORIZED, text));
    let Some(jwt) = bearer(headers) else {
        return refuse("A JSON web token could not be decoded");
    };
    let key = DecodingKey::from_rsa_pem(APP_PUBLIC_KEY.as_bytes()).expect("the app key is RSA");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    validation.leeway = 0;
    let claims = match jsonwebtoken::decode::<AppClaims>(jwt, &key, &validation) {
        Ok(data) => data.claims,
        Err(err) => {
            return match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => refuse(
                    "'Expiration time' claim ('exp') must be a numeric value representing the \
                     future time at which the assertion expires",
                ),
                _ => refuse("A JSON web token could not be decoded"),
            };
        }
    };
    let issuer = match &claims.iss {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if issuer != APP_ID {
        return refuse("'Issuer' claim ('iss') must be an Integer");
    }
    if claims.exp - claims.iat > 600 || claims.iat > now_secs() + 60 {
        return refuse(
            "'Expiration time' claim ('exp') is too far in the future or 'Issued at' is in the \
             future",
        );
    }
    shared.control.lock().unwrap().jwts_verified += 1;
    Ok(())
}

fn installation_object(org: &GithubOrg) -> Value {
    json!({
        "id": org.installation_id,
        "client_id": "Iv23liTributaryTest01",
        "account": simple_user(&org.login, org.id, "O_kgDOCIpULg", &org.account_type),
        "repository_selection": "all",
        "access_tokens_url": format!("https://api.github.com/app/installations/{}/access_tokens", org.installation_id),
        "repositories_url": "https://api.github.com/installation/repositories",
        "html_url": format!("https://github.com/organizations/{}/settings/installations/{}", org.login, org.installation_id),
        "app_id": 424_242,
        "app_slug": APP_SLUG,
        "target_id": org.id,
        "target_type": org.account_type,
        "permissions": {"members": "read", "metadata": "read", "security_events": "read",
                        "secret_scanning_alerts": "read", "vulnerability_alerts": "read"},
        "events": ["code_scanning_alert", "dependabot_alert", "secret_scanning_alert"],
        "created_at": "2024-06-12T09:30:11.000Z",
        "updated_at": "2024-06-12T09:30:11.000Z",
        "single_file_name": null,
        "suspended_by": null,
        "suspended_at": null,
    })
}

fn query_map(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn install_page(
    State(shared): State<Arc<Shared>>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if slug != APP_SLUG {
        return message(StatusCode::NOT_FOUND, "Not Found");
    }
    let params = query_map(query.as_deref());
    let installation = shared.org.lock().unwrap().installation_id;
    let setup = shared.control.lock().unwrap().setup_url.clone();
    let mut url = url::Url::parse(&setup).expect("the setup URL is a URL");
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("installation_id", &installation.to_string());
        pairs.append_pair("setup_action", "install");
        if let Some(state) = params.get("state") {
            pairs.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

async fn create_installation_token(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = app_jwt(&shared, &headers) {
        return response;
    }
    let installation = shared.org.lock().unwrap().installation_id;
    let mut control = shared.control.lock().unwrap();
    control
        .controls
        .record(format!("POST /app/installations/{id}/access_tokens"));
    if id != installation || control.uninstalled {
        return message(StatusCode::NOT_FOUND, "Not Found");
    }
    if control.suspended {
        return message(
            StatusCode::FORBIDDEN,
            "This installation has been suspended",
        );
    }
    control.next_token += 1;
    control.mints += 1;
    let random: [u8; 12] = tributary_providerkit::random_bytes();
    let token = format!(
        "ghs_{}{:04}",
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        control.next_token
    );
    let expires_at = now_secs() + control.token_lifetime;
    control.tokens.insert(token.clone(), (id, expires_at));
    (
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "expires_at": rfc3339(expires_at),
            "permissions": {"members": "read", "metadata": "read", "security_events": "read",
                            "secret_scanning_alerts": "read", "vulnerability_alerts": "read"},
            "repository_selection": "all",
        })),
    )
        .into_response()
}

async fn get_installation(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = app_jwt(&shared, &headers) {
        return response;
    }
    let org = shared.org.lock().unwrap().clone();
    if id != org.installation_id || shared.control.lock().unwrap().uninstalled {
        return message(StatusCode::NOT_FOUND, "Not Found");
    }
    Json(installation_object(&org)).into_response()
}

/// `per_page` (default 30, at most 100) and `page` (1-based).
fn paging(params: &HashMap<String, String>) -> (usize, usize) {
    let per_page = params
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 100);
    let page = params
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    (per_page, page)
}

/// The `Link` header of page `page` of `total` items.
fn link_header(
    base: &str,
    path: &str,
    params: &HashMap<String, String>,
    per_page: usize,
    page: usize,
    total: usize,
) -> Option<String> {
    let last = total.div_ceil(per_page).max(1);
    if page >= last {
        return None;
    }
    let url_of = |page: usize| {
        let mut url = url::Url::parse(&format!("{base}{path}")).unwrap();
        {
            let mut pairs = url.query_pairs_mut();
            let mut keys: Vec<_> = params.keys().filter(|k| *k != "page").collect();
            keys.sort();
            for key in keys {
                pairs.append_pair(key, &params[key]);
            }
            pairs.append_pair("page", &page.to_string());
        }
        url.to_string()
    };
    Some(format!(
        "<{}>; rel=\"next\", <{}>; rel=\"last\"",
        url_of(page + 1),
        url_of(last)
    ))
}

fn paged(
    shared: &Shared,
    path: &str,
    params: &HashMap<String, String>,
    items: Vec<Value>,
    wrap: impl FnOnce(Vec<Value>, usize) -> Value,
) -> Response {
    let (per_page, page) = paging(params);
    let total = items.len();
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let base = shared.base.lock().unwrap().clone();
    let mut response = Json(wrap(slice, total)).into_response();
    if let Some(link) = link_header(&base, path, params, per_page, page, total) {
        response
            .headers_mut()
            .insert(header::LINK, HeaderValue::from_str(&link).unwrap());
    }
    respond(shared, response, "core")
}

async fn installation_repositories(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let path = "/installation/repositories";
    let line = format!("GET {path}?{}", query.as_deref().unwrap_or_default());
    if let Err(response) = api_call(&shared, &headers, line, "core") {
        return response;
    }
    let params = query_map(query.as_deref());
    let repositories: Vec<Value> = shared
        .org
        .lock()
        .unwrap()
        .repositories
        .values()
        .cloned()
        .collect();
    paged(
        &shared,
        path,
        &params,
        repositories,
        |page, total| json!({"total_count": total, "repository_selection": "all", "repositories": page}),
    )
}

async fn alerts(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo, kind)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/{kind}/alerts");
    let line = format!("GET {path}?{}", query.as_deref().unwrap_or_default());
    if let Err(response) = api_call(&shared, &headers, line, "core") {
        return response;
    }
    let Some(kind) = ALERT_KINDS.into_iter().find(|k| *k == kind) else {
        return respond(&shared, message(StatusCode::NOT_FOUND, "Not Found"), "core");
    };
    let full_name = format!("{owner}/{repo}");
    let org = shared.org.lock().unwrap().clone();
    if !org
        .repositories
        .values()
        .any(|r| r["full_name"] == full_name.as_str())
    {
        return respond(&shared, message(StatusCode::NOT_FOUND, "Not Found"), "core");
    }
    if org.disabled.contains(&(full_name.clone(), kind)) {
        let (status, text) = match kind {
            "dependabot" => (
                StatusCode::FORBIDDEN,
                "Dependabot alerts are disabled for this repository.",
            ),
            "code-scanning" => (StatusCode::NOT_FOUND, "no analysis found"),
            _ => (
                StatusCode::NOT_FOUND,
                "Secret scanning is disabled on this repository.",
            ),
        };
        return respond(&shared, message(status, text), "core");
    }
    let params = query_map(query.as_deref());
    let mut items = org
        .alerts
        .get(&(full_name, kind))
        .cloned()
        .unwrap_or_default();
    if kind == "secret-scanning" && params.get("hide_secret").map(String::as_str) != Some("true") {
        for alert in &mut items {
            alert["secret"] = json!("AKIAEXAMPLEEXAMPLE12");
        }
    }
    paged(&shared, &path, &params, items, |page, _| Value::Array(page))
}

fn graphql_error(text: &str) -> Response {
    Json(json!({"errors": [{"message": text}]})).into_response()
}

fn cursor_of(offset: usize) -> String {
    STANDARD.encode(format!("cursor:v2:{offset}"))
}

fn offset_of(cursor: &str) -> Option<usize> {
    let decoded = String::from_utf8(STANDARD.decode(cursor).ok()?).ok()?;
    decoded.strip_prefix("cursor:v2:")?.parse().ok()
}

async fn graphql(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let variables = &request["variables"];
    let after = variables["after"].as_str().map(str::to_owned);
    let line = format!(
        "POST /graphql after={}",
        after.as_deref().unwrap_or_default()
    );
    if let Err(response) = api_call(&shared, &headers, line, "graphql") {
        return response;
    }
    let query = request["query"].as_str().unwrap_or_default();
    if !query.contains("membersWithRole") {
        return respond(
            &shared,
            graphql_error("this fake answers membersWithRole queries only"),
            "graphql",
        );
    }
    let first = variables["first"].as_u64().unwrap_or(0) as usize;
    if !(1..=100).contains(&first) {
        return respond(
            &shared,
            graphql_error(
                "Requesting more than 100 records on the `membersWithRole` connection is not \
                 allowed, and `first` must be set.",
            ),
            "graphql",
        );
    }
    let org = shared.org.lock().unwrap().clone();
    let login = variables["login"].as_str().unwrap_or_default();
    if login != org.login || org.account_type != "Organization" {
        let answer = json!({
            "data": {"organization": null},
            "errors": [{"type": "NOT_FOUND", "path": ["organization"], "locations": [{"line": 2, "column": 3}],
                        "message": format!("Could not resolve to an Organization with the login of '{login}'.")}],
        });
        return respond(&shared, Json(answer).into_response(), "graphql");
    }
    let start = match after.as_deref() {
        None => 0,
        Some(cursor) => match offset_of(cursor) {
            Some(offset) => offset,
            None => {
                return respond(
                    &shared,
                    graphql_error(&format!("`{cursor}` does not appear to be a valid cursor.")),
                    "graphql",
                );
            }
        },
    };
    let members: Vec<Value> = org.members.values().cloned().collect();
    let total = members.len();
    let page: Vec<Value> = members.into_iter().skip(start).take(first).collect();
    let end = start + page.len();
    let edges: Vec<Value> = page.iter().map(|m| json!({"role": m["role"]})).collect();
    let nodes: Vec<Value> = page
        .into_iter()
        .map(|mut m| {
            if let Some(object) = m.as_object_mut() {
                object.remove("role");
            }
            m
        })
        .collect();
    let answer = json!({"data": {"organization": {"membersWithRole": {
        "totalCount": total,
        "edges": edges,
        "nodes": nodes,
        "pageInfo": {"hasNextPage": end < total, "endCursor": if end > start { json!(cursor_of(end)) } else { Value::Null }},
    }}}});
    respond(&shared, Json(answer).into_response(), "graphql")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_githubs_documented_example() {
        // docs.github.com "Validating webhook deliveries": secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        assert_eq!(
            hmac_sha256_hex(b"It's a Secret to Everybody", b"Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn the_sample_org_loads_its_fixtures() {
        let org = GithubOrg::sample(3, 2);
        assert_eq!(org.repositories.len(), 5);
        assert_eq!(org.members.len(), 4);
        assert_eq!(org.alerts.len(), 3);
    }
}
