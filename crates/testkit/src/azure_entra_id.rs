//! A fake Microsoft identity platform and Microsoft Graph (the directory part) for one tenant,
//! on two loopback servers as in production (`login.microsoftonline.com`, `graph.microsoft.com`):
//!
//! - Login: the shared fake authorization server at `/{tenant}/oauth2/v2.0/authorize`, `/token`
//!   and `/{tenant}/discovery/v2.0/keys`: the admin-consent sign-in (authorization code with
//!   PKCE, an RS256 id token with issuer `<login>/<tid>/v2.0` and the claims `tid`, `oid`,
//!   `preferred_username`), then the client-credentials grant for app-only tokens, with the
//!   registered confidential client (`client_secret_post`).
//! - Graph under `/v1.0` with `Authorization: Bearer <app token>`: `GET /organization`,
//!   `GET /users`, `GET /groups` and `GET /groups/{id}/members/microsoft.graph.user`, honouring
//!   `$select` (unselected fields are left out, selected unset ones are null) and `$top`
//!   (default 100, at most 999), paged with an absolute `@odata.nextLink` carrying
//!   `$skiptoken`.
//! - Graph's change-notification subscriptions under `/v1.0/subscriptions` (create with URL
//!   validation, list, renew, delete) and its notifications: `graph_subscriptions.rs`.
//! - Graph's error body `{"error": {"code", "message", "innerError"}}`: 401
//!   `InvalidAuthenticationToken` for a missing, unknown or expired token, 404 for an unknown
//!   group, 400 for a bad `$top`, 429 `TooManyRequests` with `Retry-After`.
//!
//! Users and groups are built from the fixtures in
//! `crates/testkit/fixtures/azure_entra_id/`.

// The handlers' helpers return a ready response as their error; its size does not matter in a
// test fake.
#![allow(clippy::result_large_err)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{FromRequestParts, OriginalUri, Path, Query, State},
    http::{HeaderMap, Method, StatusCode, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, patch},
};
use serde_json::{Map, Value, json};

use crate::{
    authorization::FakeAuthorization,
    controls::Controls,
    fixtures::{fixture, parse},
    graph_subscriptions::{GraphSubscriptions, Refusal},
    microsoft::{
        AppRegistration, MicrosoftServers, SignedIn, fake_accessors, graph_error, invalid_token,
        log_graph_call, start_sign_in,
    },
};

pub const CLIENT_ID: &str = "4a1aa1d5-c567-49d0-ad0b-cd957a47f842";
pub const CLIENT_SECRET: &str = "Xy8Q~tributaryFakeEntraSecret.0123456789";
pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const ADMIN_OBJECT_ID: &str = "6e7b768e-07e2-4810-8459-485f84f8f204";
pub const ADMIN_UPN: &str = "admin@contoso.com";

/// One tenant's directory.
#[derive(Debug, Clone)]
pub struct EntraDirectory {
    pub organization: Value,
    /// Users by id, in listing order.
    pub users: BTreeMap<String, Value>,
    /// Groups by id, in listing order.
    pub groups: BTreeMap<String, Value>,
    /// User ids per group id.
    pub members: BTreeMap<String, Vec<String>>,
}

impl EntraDirectory {
    /// The fixtures (a member, a guest, a pending guest, a disabled user; a security, a Microsoft
    /// 365 and a dynamic group) plus `extra_users` generated members, spread over the groups.
    pub fn sample(extra_users: usize) -> Self {
        let mut users = BTreeMap::new();
        for text in [
            fixture!("azure_entra_id", "user_member"),
            fixture!("azure_entra_id", "user_guest"),
            fixture!("azure_entra_id", "user_pending_guest"),
            fixture!("azure_entra_id", "user_disabled"),
        ] {
            let user = parse(text);
            users.insert(user["id"].as_str().unwrap().to_owned(), user);
        }
        let template = parse(fixture!("azure_entra_id", "user_member"));
        for i in 0..extra_users {
            let mut user = template.clone();
            let id = format!("00000000-0000-4000-8000-{i:012x}");
            let upn = format!("user{i}@contoso.com");
            user["id"] = json!(id);
            user["displayName"] = json!(format!("User {i}"));
            user["givenName"] = json!("User");
            user["surname"] = json!(i.to_string());
            user["mail"] = json!(upn);
            user["userPrincipalName"] = json!(upn);
            user["employeeId"] = json!(format!("{}", 2000 + i));
            user["department"] = json!(if i % 3 == 0 { "Retail" } else { "Engineering" });
            users.insert(id, user);
        }
        let mut groups = BTreeMap::new();
        for text in [
            fixture!("azure_entra_id", "group_security"),
            fixture!("azure_entra_id", "group_unified"),
            fixture!("azure_entra_id", "group_dynamic"),
        ] {
            let group = parse(text);
            groups.insert(group["id"].as_str().unwrap().to_owned(), group);
        }
        let user_ids: Vec<String> = users.keys().cloned().collect();
        let group_ids: Vec<String> = groups.keys().cloned().collect();
        let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (i, user) in user_ids.iter().enumerate() {
            members
                .entry(group_ids[i % group_ids.len()].clone())
                .or_default()
                .push(user.clone());
            if i % 2 == 0 {
                members
                    .entry(group_ids[(i + 1) % group_ids.len()].clone())
                    .or_default()
                    .push(user.clone());
            }
        }
        Self {
            organization: parse(fixture!("azure_entra_id", "organization")),
            users,
            groups,
            members,
        }
    }
}

#[derive(Default)]
struct Control {
    /// Graph calls as `<METHOD> <path>?<query>`; throttles carry the `Retry-After` seconds.
    controls: Controls,
    /// Graph may serve fewer items than `$top` asks for; this caps every page.
    page_cap: Option<usize>,
}

struct Shared {
    consent_withdrawn: Arc<std::sync::atomic::AtomicBool>,
    directory: Mutex<EntraDirectory>,
    control: Mutex<Control>,
    auth: FakeAuthorization,
    graph_base: Mutex<String>,
    subscriptions: GraphSubscriptions,
}

/// The fake identity platform and Graph. Dropping it stops both servers.
pub struct FakeEntra {
    shared: Arc<Shared>,
    servers: MicrosoftServers,
}

const APP: AppRegistration = AppRegistration {
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
};

impl FakeEntra {
    fake_accessors!("azure_entra_id", "EntraAdminConsent");

    pub async fn start(directory: EntraDirectory) -> std::io::Result<Self> {
        let tenant_id = directory.organization["id"]
            .as_str()
            .unwrap_or(TENANT_ID)
            .to_owned();
        let admin = SignedIn {
            tenant_id: &tenant_id,
            subject: "Zq3aBQ5m8bV0Tj1pQ8hP2nX4cR6dS7eU9fW0gY1hZ2i",
            object_id: ADMIN_OBJECT_ID,
            username: ADMIN_UPN,
            name: "Contoso Administrator",
        };
        let consent_withdrawn = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gate = (Arc::clone(&consent_withdrawn), tenant_id.clone());
        let (auth, login) = start_sign_in(APP, &admin, |routes| {
            routes.layer(axum::middleware::from_fn_with_state(gate, consent_gate))
        })
        .await?;
        let shared = Arc::new(Shared {
            consent_withdrawn,
            directory: Mutex::new(directory),
            control: Mutex::new(Control::default()),
            auth,
            graph_base: Mutex::new(String::new()),
            subscriptions: GraphSubscriptions::new(&tenant_id, CLIENT_ID),
        });
        let graph_router = Router::new()
            .route("/v1.0/organization", get(organization))
            .route("/v1.0/users", get(users))
            .route("/v1.0/groups", get(groups))
            .route(
                "/v1.0/groups/{group}/members/microsoft.graph.user",
                get(group_members),
            )
            .route(
                "/v1.0/subscriptions",
                get(list_subscriptions).post(create_subscription),
            )
            .route(
                "/v1.0/subscriptions/{id}",
                patch(renew_subscription).delete(delete_subscription),
            )
            .fallback(unknown_resource)
            .with_state(Arc::clone(&shared));
        let servers = MicrosoftServers::start(APP, login, graph_router).await?;
        *shared.graph_base.lock().unwrap() = servers.graph_url();
        Ok(Self { shared, servers })
    }

    pub fn with_directory<T>(&self, change: impl FnOnce(&mut EntraDirectory) -> T) -> T {
        change(&mut self.shared.directory.lock().unwrap())
    }

    /// After `passes` more Graph calls go through, the next answers 429 with `Retry-After: wait`.
    pub fn throttle_after(&self, passes: usize, wait: u64) {
        let mut control = self.shared.control.lock().unwrap();
        control.controls.throttle_after(passes, wait);
    }

    /// The tenant withdraws its consent (or deletes the app): the token endpoint of the tenant
    /// answers `invalid_client` with AADSTS700016, as Microsoft does.
    pub fn withdraw_consent(&self) {
        self.shared
            .consent_withdrawn
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Serves at most `items` per page whatever `$top` asks (Graph may return fewer).
    pub fn cap_pages(&self, items: usize) {
        self.shared.control.lock().unwrap().page_cap = Some(items);
    }

    /// The app's change-notification subscriptions, and Graph's side of notifying them.
    pub fn subscriptions(&self) -> &GraphSubscriptions {
        &self.shared.subscriptions
    }
}

/// Refuses app tokens for the tenant once its consent is withdrawn, with Entra's error body.
async fn consent_gate(
    State((withdrawn, tenant_id)): State<(Arc<std::sync::atomic::AtomicBool>, String)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let for_tenant = request.uri().path() == format!("/{tenant_id}/oauth2/v2.0/token");
    if for_tenant && withdrawn.load(std::sync::atomic::Ordering::SeqCst) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_client",
                "error_description": format!(
                    "AADSTS700016: Application with identifier '{CLIENT_ID}' was not found in \
                     the directory '{tenant_id}'. This can happen if the application has not \
                     been installed by the administrator of the tenant or consented to by any \
                     user in the tenant.\r\nTrace ID: 0b5f1c1e-6c1a-4d3b-9a1e-3b1d2c3a4b5c"
                ),
                "error_codes": [700016],
            })),
        )
            .into_response();
    }
    next.run(request).await
}

/// Logs the call, answers a queued throttle, and checks the app token.
fn admit(shared: &Shared, uri: &OriginalUri, headers: &HeaderMap) -> Result<(), Response> {
    admit_call(shared, &Method::GET, uri, headers)
}

/// Admits a call that sends a JSON body, then reads the body: Graph answers 400 to one that is
/// not JSON.
fn admit_with_body(
    shared: &Shared,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Response> {
    admit_call(shared, method, uri, headers)?;
    serde_json::from_slice(body)
        .map_err(|_| graph_error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid JSON body."))
}

fn admit_call(
    shared: &Shared,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let request = format!(
        "{method} {}{}",
        uri.path(),
        uri.query().map(|q| format!("?{q}")).unwrap_or_default()
    );
    log_graph_call(&mut shared.control.lock().unwrap().controls, request)?;
    shared
        .auth
        .bearer(headers)
        .map(|_| ())
        .map_err(invalid_token)
}

/// The properties Graph v1.0 returns for a user when no `$select` names others (Graph docs, "user
/// resource type": "By default, only a limited set of properties are returned").
const USER_DEFAULT_PROPERTIES: &str = "businessPhones,displayName,givenName,id,jobTitle,mail,\
     mobilePhone,officeLocation,preferredLanguage,surname,userPrincipalName";

/// The collection-valued properties of the fixtures' users and groups.
const COLLECTION_PROPERTIES: [&str; 5] = [
    "businessPhones",
    "otherMails",
    "proxyAddresses",
    "groupTypes",
    "verifiedDomains",
];

/// The selected fields of `object` (all when `$select` is absent); selected unset ones are null.
fn project(object: &Value, select: Option<&str>) -> Value {
    let Some(select) = select else {
        return object.clone();
    };
    let mut out = Map::new();
    for field in select.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        // An unset collection-valued property is an empty collection, never null.
        let unset = if COLLECTION_PROPERTIES.contains(&field) {
            json!([])
        } else {
            Value::Null
        };
        out.insert(
            field.to_owned(),
            object.get(field).cloned().unwrap_or(unset),
        );
    }
    if let Some(kind) = object.get("@odata.type") {
        out.insert("@odata.type".into(), kind.clone());
    }
    Value::Object(out)
}

/// One page of `items` per `$top` and `$skiptoken`, with an absolute `@odata.nextLink`.
fn page(
    shared: &Shared,
    path: &str,
    query: &BTreeMap<String, String>,
    items: Vec<Value>,
) -> Response {
    let top = match query.get("$top").map(|t| t.parse::<usize>()) {
        None => 100,
        Some(Ok(top)) if (1..=999).contains(&top) => top,
        Some(_) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "Invalid value for '$top' query parameter: must be between 1 and 999.",
            );
        }
    };
    let top = shared
        .control
        .lock()
        .unwrap()
        .page_cap
        .map_or(top, |cap| top.min(cap));
    let skip = query
        .get("$skiptoken")
        .and_then(|token| token.strip_prefix("X%27"))
        .and_then(|token| token.parse::<usize>().ok())
        .unwrap_or(0);
    // Without `$select`, Graph v1.0 answers a user with its default properties only.
    let is_user_list = path == "users" || path.ends_with("/microsoft.graph.user");
    let select = query
        .get("$select")
        .map(String::as_str)
        .or(is_user_list.then_some(USER_DEFAULT_PROPERTIES));
    let value: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(top)
        .map(|item| project(item, select))
        .collect();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{path}"),
        "value": value,
    });
    if skip + top < items.len() {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in query {
            if key != "$skiptoken" {
                next.append_pair(key, value);
            }
        }
        next.append_pair("$skiptoken", &format!("X%27{}", skip + top));
        body["@odata.nextLink"] = json!(format!(
            "{}/v1.0/{path}?{}",
            shared.graph_base.lock().unwrap(),
            next.finish()
        ));
    }
    Json(body).into_response()
}

/// What a directory read takes from its request: the call (to log and admit) and its query
/// (`$top`, `$select`, `$skiptoken`).
struct DirectoryRead {
    uri: OriginalUri,
    headers: HeaderMap,
    query: BTreeMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for DirectoryRead {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let uri = OriginalUri::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Query(query) = Query::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            uri,
            headers: parts.headers.clone(),
            query,
        })
    }
}

impl DirectoryRead {
    fn admit(&self, shared: &Shared) -> Result<(), Response> {
        admit(shared, &self.uri, &self.headers)
    }

    /// Admits the call, then pages the collection at `path` that `items` reads.
    fn list(
        &self,
        shared: &Shared,
        path: &str,
        items: impl FnOnce(&EntraDirectory) -> Vec<Value>,
    ) -> Response {
        if let Err(refusal) = self.admit(shared) {
            return refusal;
        }
        let items = items(&shared.directory.lock().unwrap());
        page(shared, path, &self.query, items)
    }
}

async fn organization(State(shared): State<Arc<Shared>>, read: DirectoryRead) -> Response {
    read.list(&shared, "organization", |directory| {
        vec![directory.organization.clone()]
    })
}

async fn users(State(shared): State<Arc<Shared>>, read: DirectoryRead) -> Response {
    read.list(&shared, "users", |directory| {
        directory.users.values().cloned().collect()
    })
}

async fn groups(State(shared): State<Arc<Shared>>, read: DirectoryRead) -> Response {
    read.list(&shared, "groups", |directory| {
        directory.groups.values().cloned().collect()
    })
}

async fn group_members(
    State(shared): State<Arc<Shared>>,
    Path(group): Path<String>,
    read: DirectoryRead,
) -> Response {
    if let Err(refusal) = read.admit(&shared) {
        return refusal;
    }
    let members: Option<Vec<Value>> = {
        let directory = shared.directory.lock().unwrap();
        directory.groups.get(&group).map(|_| {
            directory
                .members
                .get(&group)
                .into_iter()
                .flatten()
                .filter_map(|id| directory.users.get(id))
                .map(|user| {
                    let mut user = user.clone();
                    user["@odata.type"] = json!("#microsoft.graph.user");
                    user
                })
                .collect()
        })
    };
    match members {
        Some(members) => page(
            &shared,
            &format!("groups/{group}/members/microsoft.graph.user"),
            &read.query,
            members,
        ),
        None => graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{group}' does not exist or one of its queried reference-property objects are not present."
            ),
        ),
    }
}

fn refusal(refusal: Refusal) -> Response {
    let (status, code, message) = refusal;
    graph_error(status, code, &message)
}

fn graph_base(shared: &Shared) -> String {
    shared.graph_base.lock().unwrap().clone()
}

async fn list_subscriptions(
    State(shared): State<Arc<Shared>>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = admit(&shared, &uri, &headers) {
        return refused;
    }
    Json(json!({
        "@odata.context": format!("{}/v1.0/$metadata#subscriptions", graph_base(&shared)),
        "value": shared.subscriptions.list(),
    }))
    .into_response()
}

async fn create_subscription(
    State(shared): State<Arc<Shared>>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body = match admit_with_body(&shared, &Method::POST, &uri, &headers, &body) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    match shared
        .subscriptions
        .create(&graph_base(&shared), &body)
        .await
    {
        Ok(entity) => (StatusCode::CREATED, Json(entity)).into_response(),
        Err(refused) => refusal(refused),
    }
}

async fn renew_subscription(
    State(shared): State<Arc<Shared>>,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let body = match admit_with_body(&shared, &Method::PATCH, &uri, &headers, &body) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    match shared.subscriptions.renew(&graph_base(&shared), &id, &body) {
        Ok(entity) => Json(entity).into_response(),
        Err(refused) => refusal(refused),
    }
}

async fn delete_subscription(
    State(shared): State<Arc<Shared>>,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = admit_call(&shared, &Method::DELETE, &uri, &headers) {
        return refused;
    }
    match shared.subscriptions.delete(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refused) => refusal(refused),
    }
}

async fn unknown_resource(uri: OriginalUri) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Resource not found for the segment '{}'.", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_has_guests_disabled_users_and_memberships() {
        let directory = EntraDirectory::sample(10);
        assert_eq!(directory.users.len(), 14);
        assert_eq!(directory.groups.len(), 3);
        let guests = directory
            .users
            .values()
            .filter(|u| {
                u["userType"]
                    .as_str()
                    .unwrap()
                    .eq_ignore_ascii_case("guest")
            })
            .count();
        assert_eq!(guests, 2);
        let memberships: usize = directory.members.values().map(Vec::len).sum();
        assert_eq!(memberships, 14 + 7);
    }

    #[test]
    fn a_user_without_select_has_the_default_properties_only() {
        let user = parse(fixture!("azure_entra_id", "user_member"));
        let projected = project(&user, Some(USER_DEFAULT_PROPERTIES));
        let keys: Vec<&str> = projected
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 11, "{keys:?}");
        assert!(!keys.contains(&"accountEnabled"));
        assert_eq!(projected["businessPhones"], json!([]));
        assert_eq!(projected["mobilePhone"], Value::Null);
    }

    #[test]
    fn select_keeps_only_the_named_fields() {
        let user = parse(fixture!("azure_entra_id", "user_member"));
        let projected = project(&user, Some("id,accountEnabled,nope"));
        assert_eq!(
            projected,
            json!({"id": user["id"], "accountEnabled": true, "nope": null})
        );
    }
}
