//! A fake Google Workspace: the Admin SDK Directory API (v1) for one customer, behind the shared
//! [`FakeAuthorization`] mounted where Google serves its OAuth endpoints.
//!
//! - OAuth: `GET /o/oauth2/v2/auth` (approves at once), `POST /token` (authorization code with
//!   PKCE, refresh, and the service-account JWT-bearer grant whose `sub` is the impersonated
//!   admin), `GET /oauth2/v3/certs`.
//! - `GET /admin/directory/v1/customers/{customerKey}` (`my_customer` or the customer id);
//!   `GET /admin/directory/v1/users?customer=&maxResults=&pageToken=&projection=` (default 100, at
//!   most 500); `GET /admin/directory/v1/groups?customer=` (default and at most 200);
//!   `GET /admin/directory/v1/groups/{groupKey}/members` (default and at most 200; the key is the
//!   group id or email). Lists are `{kind, etag, <items>, nextPageToken}`; an empty list leaves
//!   the items out, as Google does. Page tokens are opaque.
//! - Errors use Google's body `{"error": {"code", "message", "errors": [{message, domain,
//!   reason}], "status"}}`: 401 `UNAUTHENTICATED` for a missing, unknown or expired token (with
//!   `WWW-Authenticate`), 403 `PERMISSION_DENIED` for a token without the endpoint's scope or
//!   whose subject is not an administrator of the customer, 404 `NOT_FOUND` for an unknown group,
//!   and 429 `RESOURCE_EXHAUSTED` with `Retry-After` when throttled.
//! - Scopes: users need `admin.directory.user.readonly`, groups
//!   `admin.directory.group.readonly`, members `admin.directory.group.member.readonly` (or the
//!   group scope), the customer `admin.directory.customer.readonly` (each or its read-write form).

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
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    FakeServer,
    authorization::{
        AuthorizationPaths, BearerRefusal, CLIENT_PUBLIC_KEY_PEM, ClientApp, FakeAuthorization,
    },
    controls::{Controls, retry_after},
    demo::DemoConnection,
    google::{self, ServiceAccount},
};

/// The OAuth client the fake knows (a "Web application" client in Google Cloud).
pub const OAUTH_CLIENT_ID: &str = "1234567890-tributarytest.apps.googleusercontent.com";
pub const OAUTH_CLIENT_SECRET: &str = "GOCSPX-fake-google-client-secret-0123";
/// The service account whose key [`FakeGoogleWorkspace::service_account_key_json`] returns.
pub const SERVICE_ACCOUNT_EMAIL: &str = "tributary-sync@acme-directory.iam.gserviceaccount.com";
pub const SERVICE_ACCOUNT_CLIENT_ID: &str = "104857600123456789012";

const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/";
const USERS_DEFAULT: usize = 100;
const USERS_MAX: usize = 500;
const GROUPS_MAX: usize = 200;
const MEMBERS_MAX: usize = 200;

/// One Directory API listing, for the throttling controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Listing {
    Users,
    Groups,
    Members,
}

/// The data of the fake customer.
#[derive(Debug, Clone)]
pub struct GoogleDirectory {
    pub customer_id: String,
    pub domain: String,
    /// User id -> user resource (`projection=full`).
    pub users: BTreeMap<String, Value>,
    /// Group id -> group resource.
    pub groups: BTreeMap<String, Value>,
    /// Group id -> member resources, in the order Google lists them.
    pub members: BTreeMap<String, Vec<Value>>,
}

impl GoogleDirectory {
    /// A customer `acme.example` with `users` users and `groups` groups:
    /// - user 0 is the super administrator `admin@acme.example`, user 1 a delegated admin;
    /// - every 7th user is suspended, every 11th archived, every 3rd enrolled in 2-Step
    ///   Verification, every 5th has never signed in;
    /// - user `i` is a member of group `i % groups` (the admin owns every group, user 1 manages
    ///   group 0); group 0 also has a nested group, the whole customer and an outside member.
    pub fn sample(users: usize, groups: usize) -> Self {
        let customer_id = "C03az79cb".to_owned();
        let domain = "acme.example".to_owned();
        let mut directory = Self {
            customer_id: customer_id.clone(),
            domain: domain.clone(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            members: BTreeMap::new(),
        };
        for i in 0..users {
            let user = sample_user(i, &customer_id, &domain);
            directory
                .users
                .insert(user["id"].as_str().unwrap().to_owned(), user);
        }
        let group_ids: Vec<String> = (0..groups).map(group_id).collect();
        for (g, id) in group_ids.iter().enumerate() {
            directory
                .groups
                .insert(id.clone(), sample_group(g, &domain));
            directory.members.insert(id.clone(), Vec::new());
        }
        if groups > 0 {
            for i in 0..users {
                let group = &group_ids[i % groups];
                let role = match i {
                    1 if i % groups == 0 => "MANAGER",
                    _ => "MEMBER",
                };
                directory
                    .members
                    .get_mut(group)
                    .unwrap()
                    .push(user_member(&sample_user(i, &customer_id, &domain), role));
            }
            if users > 0 {
                let admin = sample_user(0, &customer_id, &domain);
                for group in &group_ids[1..] {
                    directory
                        .members
                        .get_mut(group)
                        .unwrap()
                        .insert(0, user_member(&admin, "OWNER"));
                }
                // User 0 is in group 0 already; as its owner.
                if let Some(first) = directory
                    .members
                    .get_mut(&group_ids[0])
                    .unwrap()
                    .first_mut()
                {
                    first["role"] = json!("OWNER");
                }
            }
            let first = directory.members.get_mut(&group_ids[0]).unwrap();
            if groups > 1 {
                first.push(json!({
                    "kind": "admin#directory#member",
                    "etag": etag(&format!("nested-{}", group_ids[1])),
                    "id": group_ids[1],
                    "email": format!("team-1@{domain}"),
                    "role": "MEMBER",
                    "type": "GROUP",
                    "status": "ACTIVE",
                }));
            }
            first.push(json!({
                "kind": "admin#directory#member",
                "etag": etag("customer-member"),
                "id": customer_id,
                "role": "MEMBER",
                "type": "CUSTOMER",
            }));
            first.push(json!({
                "kind": "admin#directory#member",
                "etag": etag("outside-member"),
                "id": "109876543210987654321",
                "email": "partner@contractor.example",
                "role": "MEMBER",
                "type": "USER",
                "status": "ACTIVE",
                "delivery_settings": "ALL_MAIL",
            }));
        }
        directory.refresh_member_counts();
        directory
    }

    /// Sets each group's `directMembersCount` from its members.
    pub fn refresh_member_counts(&mut self) {
        for (id, group) in &mut self.groups {
            let count = self.members.get(id).map_or(0, Vec::len);
            group["directMembersCount"] = json!(count.to_string());
        }
    }

    /// The id of sample user `i`.
    pub fn user_id(i: usize) -> String {
        format!("1{:020}", 14938571834745 + i as u64)
    }

    /// The id of sample group `g`.
    pub fn group_id(g: usize) -> String {
        group_id(g)
    }

    /// Removes a user, and its memberships, as deleting it in the Admin console does.
    pub fn delete_user(&mut self, id: &str) {
        self.users.remove(id);
        for members in self.members.values_mut() {
            members.retain(|member| member["id"] != id);
        }
        self.refresh_member_counts();
    }
}

fn group_id(g: usize) -> String {
    format!("03x8tuzt{g:07x}")
}

fn etag(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = URL_SAFE_NO_PAD.encode(&Sha256::digest(seed.as_bytes())[..18]);
    format!("\"{digest}/{}\"", &digest[..10])
}

const FIRST_NAMES: [&str; 8] = [
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Edsger",
    "Barbara",
    "Linus",
    "Margaret",
];
const LAST_NAMES: [&str; 8] = [
    "Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Torvalds", "Hamilton",
];
const DEPARTMENTS: [(&str, &str); 4] = [
    ("/Engineering", "Engineering"),
    ("/Sales", "Sales"),
    ("/Engineering/Platform", "Engineering"),
    ("/", ""),
];

/// A user resource as `users.list?projection=full` returns it.
pub fn sample_user(i: usize, customer_id: &str, domain: &str) -> Value {
    let given = FIRST_NAMES[i % FIRST_NAMES.len()];
    let family = LAST_NAMES[(i / FIRST_NAMES.len()) % LAST_NAMES.len()];
    let id = GoogleDirectory::user_id(i);
    let email = if i == 0 {
        format!("admin@{domain}")
    } else {
        format!(
            "{}.{}{i}@{domain}",
            given.to_lowercase(),
            family.to_lowercase()
        )
    };
    let (org_unit, department) = DEPARTMENTS[i % DEPARTMENTS.len()];
    let suspended = i % 7 == 6;
    let mut user = json!({
        "kind": "admin#directory#user",
        "id": id,
        "etag": etag(&format!("user-{i}")),
        "primaryEmail": email,
        "name": {"givenName": given, "familyName": family, "fullName": format!("{given} {family}")},
        "isAdmin": i == 0,
        "isDelegatedAdmin": i == 1,
        "lastLoginTime": if i % 5 == 4 { "1970-01-01T00:00:00.000Z".to_owned() } else { format!("2024-05-{:02}T09:15:22.000Z", 1 + i % 28) },
        "creationTime": format!("2021-03-{:02}T10:11:12.000Z", 1 + i % 28),
        "agreedToTerms": i % 5 != 4,
        "suspended": suspended,
        "archived": i % 11 == 10,
        "changePasswordAtNextLogin": false,
        "ipWhitelisted": false,
        "emails": [
            {"address": email, "primary": true},
            {"address": format!("{}@{domain}.test-google-a.com", email.split('@').next().unwrap())},
        ],
        "nonEditableAliases": [format!("{}@{domain}.test-google-a.com", email.split('@').next().unwrap())],
        "customerId": customer_id,
        "orgUnitPath": org_unit,
        "isMailboxSetup": true,
        "isEnrolledIn2Sv": i.is_multiple_of(3),
        "isEnforcedIn2Sv": i == 0,
        "includeInGlobalAddressList": true,
    });
    if !department.is_empty() {
        user["organizations"] = json!([{
            "title": if i == 0 { "IT Administrator" } else { "Engineer" },
            "primary": true,
            "customType": "",
            "department": department,
            "description": "Full-time",
        }]);
    }
    if suspended {
        user["suspensionReason"] = json!("ADMIN");
    }
    if i.is_multiple_of(2) {
        user["thumbnailPhotoUrl"] = json!(format!(
            "https://lh3.googleusercontent.com/a-/ALV-Uj{id}=s96-c"
        ));
        user["thumbnailPhotoEtag"] = etag(&format!("photo-{i}")).into();
    }
    user
}

/// A group resource as `groups.list` returns it.
pub fn sample_group(g: usize, domain: &str) -> Value {
    let (email, name, description) = match g {
        0 => (
            format!("engineering@{domain}"),
            "Engineering".to_owned(),
            "Everyone in engineering".to_owned(),
        ),
        _ => (
            format!("team-{g}@{domain}"),
            format!("Team {g}"),
            String::new(),
        ),
    };
    json!({
        "kind": "admin#directory#group",
        "id": group_id(g),
        "etag": etag(&format!("group-{g}")),
        "email": email,
        "name": name,
        "directMembersCount": "0",
        "description": description,
        "adminCreated": g % 4 != 3,
        "nonEditableAliases": [format!("{}@{domain}.test-google-a.com", email.split('@').next().unwrap())],
    })
}

/// A member resource of type `USER` for `user`.
pub fn user_member(user: &Value, role: &str) -> Value {
    json!({
        "kind": "admin#directory#member",
        "etag": etag(&format!("member-{}-{role}", user["id"])),
        "id": user["id"],
        "email": user["primaryEmail"],
        "role": role,
        "type": "USER",
        "status": if user["suspended"] == true { "SUSPENDED" } else { "ACTIVE" },
        "delivery_settings": "ALL_MAIL",
    })
}

struct Shared {
    directory: Mutex<GoogleDirectory>,
    /// Requests as path and query; throttles carry the `Retry-After` seconds.
    control: Mutex<Controls<u64, (Listing, usize)>>,
    auth: FakeAuthorization,
}

/// The running fake.
pub struct FakeGoogleWorkspace {
    shared: Arc<Shared>,
    server: FakeServer,
}

impl FakeGoogleWorkspace {
    /// Starts the fake with the OAuth client and the service account registered, and the code
    /// flow signing in as the directory's first super administrator.
    pub async fn start(directory: GoogleDirectory) -> std::io::Result<Self> {
        let auth = FakeAuthorization::new();
        auth.register_client(ClientApp::confidential(
            OAUTH_CLIENT_ID,
            OAUTH_CLIENT_SECRET,
        ));
        auth.register_service_account(SERVICE_ACCOUNT_EMAIL, CLIENT_PUBLIC_KEY_PEM);
        if let Some(admin) = directory
            .users
            .values()
            .find(|user| user["isAdmin"] == true)
        {
            auth.set_subject(admin["primaryEmail"].as_str().unwrap_or_default());
        }
        let shared = Arc::new(Shared {
            directory: Mutex::new(directory),
            control: Mutex::new(Controls::default()),
            auth: auth.clone(),
        });
        let router = Router::new()
            .route(
                "/admin/directory/v1/customers/{customer}",
                get(customer_details),
            )
            .route("/admin/directory/v1/users", get(list_users))
            .route("/admin/directory/v1/groups", get(list_groups))
            .route(
                "/admin/directory/v1/groups/{group}/members",
                get(list_members),
            )
            .with_state(Arc::clone(&shared));
        let server = auth
            .serve_beside("google_workspace", router, &AuthorizationPaths::google())
            .await?;
        Ok(Self { shared, server })
    }

    /// The API base URL (stands for `https://admin.googleapis.com`).
    pub fn api_url(&self) -> String {
        self.server.base_url()
    }

    /// Stands for `https://accounts.google.com/o/oauth2/v2/auth`.
    pub fn authorize_url(&self) -> String {
        format!("{}/o/oauth2/v2/auth", self.server.base_url())
    }

    /// Stands for `https://oauth2.googleapis.com/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.server.base_url())
    }

    /// The authorization server: expire or revoke tokens, count grants, change the signed-in
    /// subject.
    pub fn auth(&self) -> &FakeAuthorization {
        &self.shared.auth
    }

    pub fn customer_id(&self) -> String {
        self.shared.directory.lock().unwrap().customer_id.clone()
    }

    pub fn domain(&self) -> String {
        self.shared.directory.lock().unwrap().domain.clone()
    }

    /// The email of the directory's first super administrator.
    pub fn admin_email(&self) -> String {
        self.shared
            .directory
            .lock()
            .unwrap()
            .users
            .values()
            .find(|user| user["isAdmin"] == true)
            .and_then(|user| user["primaryEmail"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// A service-account JSON key file as Google Cloud downloads it, with the testkit's client key.
    pub fn service_account_key_json(&self) -> String {
        google::service_account_key_json(&ServiceAccount {
            project_id: "acme-directory",
            email: SERVICE_ACCOUNT_EMAIL,
            client_id: SERVICE_ACCOUNT_CLIENT_ID,
            key_id: "6c3b1e0f8a2d4b5c9e7f0a1b2c3d4e5f6a7b8c9d",
        })
    }

    /// The next request for page `page` (1-based) of `listing` answers 429 with
    /// `Retry-After: wait`.
    pub fn throttle_page(&self, listing: Listing, page: usize, wait: u64) {
        self.shared
            .control
            .lock()
            .unwrap()
            .throttle_page((listing, page), wait);
    }

    pub fn with_directory<T>(&self, change: impl FnOnce(&mut GoogleDirectory) -> T) -> T {
        change(&mut self.shared.directory.lock().unwrap())
    }

    /// Paths (with query, tokens excluded) of the Directory API requests so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.control.lock().unwrap().requests()
    }

    /// Plays the administrator's browser at the authorize URL the definition built: sends the
    /// request without following the redirect and returns the query parameters of the redirect's
    /// `Location` (`code` and `state`, or `error`), to hand to `Runtime::complete_auth`.
    ///
    /// # Panics
    /// When the URL is not this fake's or the answer is not a redirect.
    pub async fn authorize(&self, authorize_url: &str) -> Vec<(String, String)> {
        let url = url::Url::parse(authorize_url).expect("an absolute authorize URL");
        let addr = self.server.addr();
        assert_eq!(url.port(), Some(addr.port()), "not this fake's URL: {url}");
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut stream = TcpStream::connect(addr).await.expect("the fake listens");
        let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request sent");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("answer read");
        let answer = String::from_utf8_lossy(&answer);
        let head = answer.split("\r\n\r\n").next().unwrap_or_default();
        let mut lines = head.lines();
        let status = lines.next().unwrap_or_default();
        assert!(
            status
                .split(' ')
                .nth(1)
                .is_some_and(|code| code.starts_with('3')),
            "the authorize request was not redirected: {answer}"
        );
        let location = lines
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("location")
                    .then(|| value.trim().to_owned())
            })
            .expect("the redirect has a Location");
        url::Url::parse(&location)
            .expect("the Location is absolute")
            .query_pairs()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    }

    /// What `tributary demo` needs to connect `google_workspace` to this fake: the operator config
    /// with the fake's OAuth client and URLs, and the OAuth mode (the fake's authorize endpoint
    /// approves at once, as if the administrator had consented).
    pub fn demo_connection(&self) -> DemoConnection {
        DemoConnection {
            definition: "google_workspace",
            operator_config: json!({
                "clientId": OAUTH_CLIENT_ID,
                "clientSecret": OAUTH_CLIENT_SECRET,
                "authorizeUrl": self.authorize_url(),
                "tokenUrl": self.token_url(),
                "apiUrl": self.api_url(),
                "allowLoopbackUrls": true,
            }),
            connection: "GoogleWorkspaceOAuth".into(),
            user_input: json!({}),
            credentials: BTreeMap::new(),
        }
    }
}

/// Google's error body.
fn google_error(status: StatusCode, message: &str, reason: &str, state: &str) -> Response {
    (
        status,
        Json(json!({"error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": state,
        }})),
    )
        .into_response()
}

fn throttled(wait: u64) -> Response {
    let response = google_error(
        StatusCode::TOO_MANY_REQUESTS,
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'admin.googleapis.com' for consumer 'project_number:123456789012'.",
        "rateLimitExceeded",
        "RESOURCE_EXHAUSTED",
    );
    retry_after(response, wait)
}

fn unauthenticated() -> Response {
    let mut response = google_error(
        StatusCode::UNAUTHORIZED,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "authError",
        "UNAUTHENTICATED",
    );
    response.headers_mut().insert(
        "www-authenticate",
        "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""
            .parse()
            .unwrap(),
    );
    response
}

fn forbidden() -> Response {
    google_error(
        StatusCode::FORBIDDEN,
        "Not Authorized to access this resource/api",
        "forbidden",
        "PERMISSION_DENIED",
    )
}

/// Records the request, then checks the bearer token, its scope and its subject's admin rights.
fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    path: String,
    scopes: &[&str],
) -> Result<(), Response> {
    shared.control.lock().unwrap().record(path);
    let grant = shared
        .auth
        .bearer(headers)
        .map_err(|refusal| match refusal {
            BearerRefusal::Missing | BearerRefusal::Unknown | BearerRefusal::Expired => {
                unauthenticated()
            }
        })?;
    let granted: Vec<&str> = grant.scope.split(' ').collect();
    let allowed = scopes.iter().any(|scope| {
        let full = format!("{SCOPE_PREFIX}{scope}");
        let read_write = full.trim_end_matches(".readonly").to_owned();
        granted.contains(&full.as_str()) || granted.contains(&read_write.as_str())
    });
    if !allowed {
        return Err(google_error(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
            "insufficientPermissions",
            "PERMISSION_DENIED",
        ));
    }
    // Without domain-wide delegation a service account acts as itself, which is no administrator.
    let subject = grant.subject.unwrap_or_default();
    let directory = shared.directory.lock().unwrap();
    let is_admin = directory.users.values().any(|user| {
        user["primaryEmail"].as_str() == Some(subject.as_str())
            && (user["isAdmin"] == true || user["isDelegatedAdmin"] == true)
            && user["suspended"] != true
    });
    if !is_admin {
        return Err(forbidden());
    }
    Ok(())
}

fn check_throttle(shared: &Shared, listing: Listing, page: usize) -> Result<(), Response> {
    match shared
        .control
        .lock()
        .unwrap()
        .take_page_throttle(&(listing, page))
    {
        Some(wait) => Err(throttled(wait)),
        None => Ok(()),
    }
}

fn known_customer(directory: &GoogleDirectory, key: Option<&str>) -> bool {
    matches!(key, Some(key) if key == "my_customer" || key == directory.customer_id)
}

async fn customer_details(
    State(shared): State<Arc<Shared>>,
    Path(customer): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorize(
        &shared,
        &headers,
        format!("/admin/directory/v1/customers/{customer}"),
        &["admin.directory.customer.readonly"],
    ) {
        return response;
    }
    let directory = shared.directory.lock().unwrap();
    if !known_customer(&directory, Some(&customer)) {
        return forbidden();
    }
    Json(json!({
        "kind": "admin#directory#customer",
        "id": directory.customer_id,
        "etag": etag(&format!("customer-{}", directory.customer_id)),
        "customerDomain": directory.domain,
        "alternateEmail": format!("it-team@{}", directory.domain.replace(".example", "-backup.example")),
        "customerCreationTime": "2019-06-12T08:30:00.000Z",
        "language": "en",
        "postalAddress": {
            "contactName": "Acme IT",
            "organizationName": "Acme Corp",
            "addressLine1": "1 Market Street",
            "locality": "San Francisco",
            "region": "CA",
            "postalCode": "94105",
            "countryCode": "US",
        },
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    customer: Option<String>,
    domain: Option<String>,
    max_results: Option<usize>,
    page_token: Option<String>,
    projection: Option<String>,
}

impl ListQuery {
    fn describe(&self, path: &str) -> String {
        let mut parts = Vec::new();
        for (name, value) in [
            ("customer", &self.customer),
            ("domain", &self.domain),
            ("projection", &self.projection),
            ("pageToken", &self.page_token),
        ] {
            if let Some(value) = value {
                parts.push(format!("{name}={value}"));
            }
        }
        if let Some(max) = self.max_results {
            parts.push(format!("maxResults={max}"));
        }
        if parts.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", parts.join("&"))
        }
    }

    /// The offset a page token stands for; an unreadable token is Google's 400.
    fn offset(&self) -> Result<usize, Response> {
        let Some(token) = &self.page_token else {
            return Ok(0);
        };
        URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.strip_prefix("offset:")?.parse().ok())
            .ok_or_else(|| {
                google_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid Input: pageToken",
                    "invalid",
                    "INVALID_ARGUMENT",
                )
            })
    }

    fn scope(&self, directory: &GoogleDirectory) -> Result<(), Response> {
        match (&self.customer, &self.domain) {
            (None, None) => Err(google_error(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "badRequest",
                "INVALID_ARGUMENT",
            )),
            (_, Some(domain)) if *domain != directory.domain => Err(forbidden()),
            (Some(customer), _) if !known_customer(directory, Some(customer)) => Err(forbidden()),
            _ => Ok(()),
        }
    }
}

/// One page of `items`: the list resource with `nextPageToken` when more remain.
fn page(kind: &str, key: &str, items: &[Value], offset: usize, per_page: usize) -> (Value, usize) {
    let chunk: Vec<Value> = items.iter().skip(offset).take(per_page).cloned().collect();
    let mut body = json!({"kind": kind, "etag": etag(&format!("{kind}-{offset}-{}", items.len()))});
    if !chunk.is_empty() {
        body[key] = Value::Array(chunk);
    }
    if offset + per_page < items.len() {
        body["nextPageToken"] =
            json!(URL_SAFE_NO_PAD.encode(format!("offset:{}", offset + per_page)));
    }
    (body, offset / per_page.max(1) + 1)
}

/// What tells one Directory listing from another: its list resource's `kind` and items `key`,
/// its page sizes and the scopes that may read it (any one suffices).
struct ListingSpec {
    listing: Listing,
    kind: &'static str,
    key: &'static str,
    default_size: usize,
    max_size: usize,
    scopes: &'static [&'static str],
}

const USERS_LISTING: ListingSpec = ListingSpec {
    listing: Listing::Users,
    kind: "admin#directory#users",
    key: "users",
    default_size: USERS_DEFAULT,
    max_size: USERS_MAX,
    scopes: &["admin.directory.user.readonly"],
};

const GROUPS_LISTING: ListingSpec = ListingSpec {
    listing: Listing::Groups,
    kind: "admin#directory#groups",
    key: "groups",
    default_size: GROUPS_MAX,
    max_size: GROUPS_MAX,
    scopes: &["admin.directory.group.readonly"],
};

const MEMBERS_LISTING: ListingSpec = ListingSpec {
    listing: Listing::Members,
    kind: "admin#directory#members",
    key: "members",
    default_size: MEMBERS_MAX,
    max_size: MEMBERS_MAX,
    scopes: &[
        "admin.directory.group.member.readonly",
        "admin.directory.group.readonly",
    ],
};

/// Answers the requested page of `spec`'s listing at `path`: the caller is authorized first,
/// then `select` takes the listing's items from the directory (or refuses the request).
fn answer_listing(
    shared: &Shared,
    headers: &HeaderMap,
    query: &ListQuery,
    path: &str,
    spec: &ListingSpec,
    select: impl FnOnce(&GoogleDirectory) -> Result<Vec<Value>, Response>,
) -> Response {
    if let Err(response) = authorize(shared, headers, query.describe(path), spec.scopes) {
        return response;
    }
    let per_page = query
        .max_results
        .unwrap_or(spec.default_size)
        .clamp(1, spec.max_size);
    let listing = (|| {
        let offset = query.offset()?;
        let directory = shared.directory.lock().unwrap();
        let items = select(&directory)?;
        Ok(page(spec.kind, spec.key, &items, offset, per_page))
    })();
    respond(shared, spec.listing, listing)
}

async fn list_users(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let path = "/admin/directory/v1/users";
    answer_listing(
        &shared,
        &headers,
        &query,
        path,
        &USERS_LISTING,
        |directory| {
            query.scope(directory)?;
            let mut users: Vec<Value> = directory.users.values().cloned().collect();
            if query.projection.as_deref() != Some("full") {
                for user in &mut users {
                    if let Some(user) = user.as_object_mut() {
                        user.remove("customSchemas");
                    }
                }
            }
            Ok(users)
        },
    )
}

async fn list_groups(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let path = "/admin/directory/v1/groups";
    answer_listing(
        &shared,
        &headers,
        &query,
        path,
        &GROUPS_LISTING,
        |directory| {
            query.scope(directory)?;
            Ok(directory.groups.values().cloned().collect())
        },
    )
}

async fn list_members(
    State(shared): State<Arc<Shared>>,
    Path(group): Path<String>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/admin/directory/v1/groups/{group}/members");
    answer_listing(
        &shared,
        &headers,
        &query,
        &path,
        &MEMBERS_LISTING,
        |directory| {
            let id = directory
                .groups
                .iter()
                .find(|(id, value)| {
                    **id == group || value["email"].as_str() == Some(group.as_str())
                })
                .map(|(id, _)| id.clone())
                .ok_or_else(|| {
                    google_error(
                        StatusCode::NOT_FOUND,
                        "Resource Not Found: groupKey",
                        "notFound",
                        "NOT_FOUND",
                    )
                })?;
            Ok(directory.members.get(&id).cloned().unwrap_or_default())
        },
    )
}

fn respond(
    shared: &Shared,
    listing: Listing,
    result: Result<(Value, usize), Response>,
) -> Response {
    match result {
        Ok((body, page)) => match check_throttle(shared, listing, page) {
            Ok(()) => Json(body).into_response(),
            Err(response) => response,
        },
        Err(response) => response,
    }
}
