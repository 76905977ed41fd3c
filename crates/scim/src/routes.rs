//! The HTTP handlers under `/scim/v2/{endpoint}`: discovery documents, Users and Groups (POST,
//! GET, list with filter/sort/paging/projection, `.search`, PUT, PATCH, DELETE), ETags.
//!
//! Each write is one transaction that first takes the endpoint's lock (PostgreSQL advisory lock;
//! SQLite transactions exclude each other), so concurrent requests for the same resources are
//! applied one after the other; the directory records are brought up to date after the commit
//! ([`crate::records`]).

use std::collections::HashMap;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get, post},
};
use serde_json::{Value, json};
use tributary_runtime::Runtime;
use tributary_store::scim::{ScimEndpoint, ScimResource};

use crate::error::{SCIM_JSON, ScimError};
use crate::filter::{self, Filter};
use crate::patch;
use crate::records;
use crate::resource::{self, Kind, Rules};
use crate::schema::{self, LIST, MAX_RESULTS, SEARCH};

/// Where the server mounts the SCIM routes; `{endpoint}` is the SCIM endpoint id.
pub const BASE_PATH: &str = "/scim/v2/{endpoint}";

/// Largest request body, in bytes (413 beyond).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Longest request target (path and query), in bytes (414 beyond): room for a filter and an
/// attribute list at their caps, percent-encoded.
pub const MAX_URI_BYTES: usize = 32 * 1024;

#[derive(Clone)]
struct ScimState {
    runtime: Runtime,
}

/// The SCIM routes (full paths, to merge into the server's router).
pub fn router<S: Clone + Send + Sync + 'static>(runtime: Runtime) -> Router<S> {
    let p = |suffix: &str| format!("{BASE_PATH}{suffix}");
    Router::new()
        .route(
            &p("/ServiceProviderConfig"),
            scim(get(service_provider_config)),
        )
        .route(&p("/ResourceTypes"), scim(get(resource_types)))
        .route(&p("/ResourceTypes/{id}"), scim(get(resource_type)))
        .route(&p("/Schemas"), scim(get(schemas)))
        .route(&p("/Schemas/{id}"), scim(get(schema_by_id)))
        .merge(resource_routes(Kind::User))
        .merge(resource_routes(Kind::Group))
        .route(
            &p("/.search"),
            scim(post(|request, Body(body)| {
                search(request, body, &[Kind::User, Kind::Group])
            })),
        )
        .route(&p(""), axum::routing::any(unknown))
        .route(&p("/"), axum::routing::any(unknown))
        .route(&p("/{*rest}"), axum::routing::any(unknown))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(limit_uri))
        .with_state(ScimState { runtime })
}

/// The routes of one resource type (`/Users` or `/Groups`): its collection, its `.search` and a
/// single resource. Both types share the handlers, which `kind` steers.
fn resource_routes(kind: Kind) -> Router<ScimState> {
    let collection = format!("{BASE_PATH}/{}", kind.endpoint());
    let list_or_create = get(move |request| list(request, kind))
        .post(move |request, Body(body)| create(request, body, kind));
    let one = get(move |request| get_one(request, kind))
        .put(move |request, Body(body)| modify(request, body, kind, Change::Replace))
        .patch(move |request, Body(body)| modify(request, body, kind, Change::Patch))
        .delete(move |request| delete(request, kind));
    Router::new()
        .route(&collection, scim(list_or_create))
        .route(
            &format!("{collection}/.search"),
            scim(post(move |request, Body(body)| async move {
                search(request, body, &[kind]).await
            })),
        )
        .route(&format!("{collection}/{{id}}"), scim(one))
}

/// The route's methods, answering any other with a SCIM error (the server's own 405 is not in
/// SCIM's shape).
fn scim(methods: MethodRouter<ScimState>) -> MethodRouter<ScimState> {
    methods.fallback(method_not_allowed)
}

async fn method_not_allowed() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "this SCIM resource endpoint does not take that method",
    )
}

/// Answers 414 in SCIM's shape for a request target over [`MAX_URI_BYTES`].
async fn limit_uri(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let length = uri.path().len() + uri.query().map_or(0, |query| query.len() + 1);
    if length > MAX_URI_BYTES {
        return ScimError::new(
            StatusCode::URI_TOO_LONG,
            None,
            format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

/// A request body of at most [`MAX_BODY_BYTES`]; a refused one is a SCIM error.
struct Body(Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ScimError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ScimError> {
        Bytes::from_request(request, state)
            .await
            .map(Body)
            .map_err(|rejection| {
                let detail = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes")
                } else {
                    rejection.body_text()
                };
                ScimError::new(rejection.status(), None, detail)
            })
    }
}

type Params = Path<HashMap<String, String>>;
type Answer = Result<Response, ScimError>;

/// What every SCIM handler reads besides the body: the state, the path parameters (`endpoint`,
/// and `id` under a single resource), the headers and the raw query string.
struct ScimRequest {
    state: ScimState,
    params: Params,
    headers: HeaderMap,
    query: Option<String>,
}

impl FromRequestParts<ScimState> for ScimRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ScimState) -> Result<Self, Response> {
        let params = Params::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            state: state.clone(),
            params,
            headers: parts.headers.clone(),
            query: parts.uri.query().map(str::to_owned),
        })
    }
}

impl ScimRequest {
    async fn authenticate(&self) -> Result<Ctx, ScimError> {
        authenticate(&self.state, &self.params, &self.headers).await
    }

    /// The `id` path parameter of a single resource.
    fn id(&self) -> String {
        self.params.get("id").cloned().unwrap_or_default()
    }
}

/// The authenticated endpoint of a request and its base URL.
struct Ctx {
    endpoint: ScimEndpoint,
    base: String,
}

async fn authenticate(
    state: &ScimState,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Ctx, ScimError> {
    let endpoint_id = params.get("endpoint").cloned().unwrap_or_default();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(ScimError::unauthorized)?;
    let db = state.runtime.db();
    let endpoint = db
        .scim()
        .authenticate(&endpoint_id, token.as_bytes())
        .await?
        .ok_or_else(ScimError::unauthorized)?;
    let integration = db
        .integrations()
        .get(&endpoint.tenant_id, &endpoint.integration_id)
        .await?
        .ok_or_else(ScimError::unauthorized)?;
    // On the request's span, so that every line logged for this request names them.
    let span = tracing::Span::current();
    span.record("tenant_id", endpoint.tenant_id.as_str());
    span.record("integration_id", endpoint.integration_id.as_str());
    if integration.status != tributary_store::integrations::IntegrationStatus::Connected {
        return Err(ScimError::new(
            StatusCode::FORBIDDEN,
            None,
            "the integration of this SCIM endpoint is not connected",
        ));
    }
    let base = format!(
        "{}/scim/v2/{}",
        state.runtime.config().public_url.trim_end_matches('/'),
        endpoint.id
    );
    Ok(Ctx { endpoint, base })
}

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

fn parse_body(body: &Bytes) -> Result<Value, ScimError> {
    use tributary_core::json::{BoundedJsonError, MAX_JSON_DEPTH, has_nul, parse_bounded};
    let value = parse_bounded(body, MAX_JSON_DEPTH).map_err(|error| match error {
        BoundedJsonError::TooDeep(too_deep) => ScimError::invalid_syntax(too_deep.to_string()),
        BoundedJsonError::Invalid(_) => ScimError::invalid_syntax("the body is not valid JSON"),
    })?;
    // PostgreSQL cannot store U+0000 and SQLite can: refuse it on both alike.
    if has_nul(&value) {
        return Err(ScimError::invalid_value(
            "text may not contain the NUL character (\\u0000)",
        ));
    }
    Ok(value)
}

fn query_map(query: &Option<String>) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn query_get<'a>(query: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

// ---------- discovery ----------

async fn service_provider_config(request: ScimRequest) -> Answer {
    let ctx = request.authenticate().await?;
    Ok(scim_json(
        StatusCode::OK,
        &schema::service_provider_config(&ctx.base),
    ))
}

/// A discovery list: every document on one page.
fn list_answer(resources: Vec<Value>) -> Answer {
    Ok(scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST],
            "totalResults": resources.len(),
            "startIndex": 1,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    ))
}

/// The discovery document of `documents` whose `id` is `id`; 404 names the `kind` of document.
fn find_by_id(documents: Vec<Value>, id: &str, kind: &str) -> Answer {
    documents
        .into_iter()
        .find(|document| document["id"] == id)
        .map(|document| scim_json(StatusCode::OK, &document))
        .ok_or_else(|| ScimError::not_found(format!("no {kind} {id}")))
}

async fn resource_types(request: ScimRequest) -> Answer {
    let ctx = request.authenticate().await?;
    list_answer(schema::resource_types(&ctx.base))
}

async fn resource_type(request: ScimRequest) -> Answer {
    let ctx = request.authenticate().await?;
    find_by_id(
        schema::resource_types(&ctx.base),
        &request.id(),
        "resource type",
    )
}

async fn schemas(request: ScimRequest) -> Answer {
    let ctx = request.authenticate().await?;
    list_answer(schema::schemas(&ctx.base))
}

async fn schema_by_id(request: ScimRequest) -> Answer {
    let ctx = request.authenticate().await?;
    find_by_id(schema::schemas(&ctx.base), &request.id(), "schema")
}

async fn unknown(request: ScimRequest) -> Answer {
    request.authenticate().await?;
    Err(ScimError::not_found("no such SCIM resource endpoint"))
}

// ---------- rendering ----------

/// Renders resources of one kind, with the computed attributes: a user's `groups`, a group's
/// member `$ref`s and `display`s.
async fn render_all(
    state: &ScimState,
    ctx: &Ctx,
    kind: Kind,
    stored: &[ScimResource],
) -> Result<Vec<Value>, ScimError> {
    let db = state.runtime.db();
    match kind {
        Kind::User => {
            let groups = db.scim().list(&ctx.endpoint.id, Kind::Group.name()).await?;
            let mut groups_of: HashMap<String, Vec<&ScimResource>> = HashMap::new();
            for group in &groups {
                for user in records::member_user_ids(group) {
                    groups_of.entry(user).or_default().push(group);
                }
            }
            Ok(stored
                .iter()
                .map(|user| {
                    let memberships: Vec<Value> = groups_of
                        .get(&user.id)
                        .into_iter()
                        .flatten()
                        .map(|g| {
                            json!({
                                "value": g.id,
                                "$ref": format!("{}/Groups/{}", ctx.base, g.id),
                                "display": g.body["displayName"],
                                "type": "direct",
                            })
                        })
                        .collect();
                    let extra =
                        (!memberships.is_empty()).then_some(("groups", Value::Array(memberships)));
                    resource::render(kind, user, &ctx.base, extra)
                })
                .collect())
        }
        Kind::Group => Ok(stored
            .iter()
            .map(|group| {
                let mut rendered = resource::render(kind, group, &ctx.base, None);
                if let Some(Value::Array(members)) = rendered.get_mut("members") {
                    for member in members.iter_mut().filter_map(Value::as_object_mut) {
                        let member_type = member
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("User")
                            .to_owned();
                        let endpoint = if member_type == "Group" {
                            "Groups"
                        } else {
                            "Users"
                        };
                        if let Some(id) = member.get("value").and_then(Value::as_str) {
                            let reference = format!("{}/{endpoint}/{id}", ctx.base);
                            member.insert("$ref".into(), Value::String(reference));
                        }
                    }
                }
                rendered
            })
            .collect()),
    }
}

async fn render_one(
    state: &ScimState,
    ctx: &Ctx,
    kind: Kind,
    stored: &ScimResource,
) -> Result<Value, ScimError> {
    Ok(render_all(state, ctx, kind, std::slice::from_ref(stored))
        .await?
        .remove(0))
}

/// A single resource's answer: body (projected), `ETag`, `Location` on 201.
fn resource_answer(
    status: StatusCode,
    rendered: Value,
    stored: &ScimResource,
    query: &HashMap<String, String>,
) -> Answer {
    let attributes = resource::parse_attribute_list(query_get(query, "attributes"))?;
    let excluded = resource::parse_attribute_list(query_get(query, "excludedAttributes"))?;
    let location = rendered["meta"]["location"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body = resource::project(rendered, &attributes, &excluded);
    let mut response = scim_json(status, &body);
    if let Ok(value) = HeaderValue::from_str(&resource::etag(stored.version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if status == StatusCode::CREATED
        && let Ok(value) = HeaderValue::from_str(&location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

// ---------- queries ----------

/// A list or search request.
struct Query {
    filter: Option<Filter>,
    sort_by: Option<filter::AttrPath>,
    descending: bool,
    start_index: usize,
    count: usize,
    attributes: Vec<filter::AttrPath>,
    excluded: Vec<filter::AttrPath>,
}

fn number(value: Option<&Value>) -> Result<Option<i64>, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_i64()),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ScimError::invalid_value("startIndex and count must be integers")),
        Some(_) => Err(ScimError::invalid_value(
            "startIndex and count must be integers",
        )),
    }
}

/// The sort order a request asks for: `true` for descending.
fn sort_order(text: Option<&str>) -> Result<bool, ScimError> {
    match text.map(str::trim) {
        None | Some("") => Ok(false),
        Some(order) if order.eq_ignore_ascii_case("ascending") => Ok(false),
        Some(order) if order.eq_ignore_ascii_case("descending") => Ok(true),
        Some(_) => Err(ScimError::invalid_value(
            "sortOrder must be \"ascending\" or \"descending\"",
        )),
    }
}

/// Builds a list or search request over resources of `kinds` from its parameters.
fn build_query(kinds: &[Kind], get: impl Fn(&str) -> Option<Value>) -> Result<Query, ScimError> {
    let string = |name: &str| -> Result<Option<String>, ScimError> {
        match get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Array(items)) => Ok(Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            )),
            Some(_) => Err(ScimError::invalid_value(format!("{name} must be a string"))),
        }
    };
    let filter = match string("filter")? {
        Some(text) => {
            let filter = filter::parse_filter(&text)
                .map_err(|e| ScimError::invalid_filter(e.to_string()))?;
            // A filter that fits none of the resource types searched would only ever match
            // nothing: it is a client's mistake to report, not an empty list.
            let failures: Vec<String> = kinds
                .iter()
                .filter_map(|kind| schema::check_filter(kind.schema(), &filter).err())
                .collect();
            if failures.len() == kinds.len()
                && let Some(first) = failures.into_iter().next()
            {
                return Err(ScimError::invalid_filter(first));
            }
            Some(filter)
        }
        None => None,
    };
    let sort_by = match string("sortBy")? {
        Some(text) => {
            let path = filter::parse_attr_path(&text)
                .map_err(|e| ScimError::invalid_value(e.to_string()))?;
            if !kinds
                .iter()
                .any(|kind| schema::known_path(kind.schema(), &path))
            {
                return Err(ScimError::invalid_value(format!(
                    "sortBy names no attribute of the resources: {text:?}"
                )));
            }
            Some(path)
        }
        None => None,
    };
    let descending = sort_order(string("sortOrder")?.as_deref())?;
    let start_index = number(get("startIndex").as_ref())?.unwrap_or(1).max(1) as usize;
    let count = number(get("count").as_ref())?
        .map(|c| c.clamp(0, MAX_RESULTS as i64) as usize)
        .unwrap_or(MAX_RESULTS);
    Ok(Query {
        filter,
        sort_by,
        descending,
        start_index,
        count,
        attributes: resource::parse_attribute_list(string("attributes")?.as_deref())?,
        excluded: resource::parse_attribute_list(string("excludedAttributes")?.as_deref())?,
    })
}

/// The value of a filter that is just `<unique attribute> eq "<value>"` (the probe identity
/// providers send before creating): answered from the unique index instead of a scan.
fn unique_probe(kind: Kind, filter: Option<&Filter>) -> Option<String> {
    match filter? {
        Filter::Compare(path, filter::CompareOp::Eq, Value::String(value))
            if path.sub.is_none()
                && path.attr.eq_ignore_ascii_case(kind.unique_attribute())
                && path
                    .uri
                    .as_deref()
                    .is_none_or(|u| u.eq_ignore_ascii_case(kind.schema())) =>
        {
            Some(value.to_lowercase())
        }
        _ => None,
    }
}

async fn run_query(state: &ScimState, ctx: &Ctx, kinds: &[Kind], query: Query) -> Answer {
    let mut rendered = Vec::new();
    for kind in kinds {
        let db = state.runtime.db();
        let stored = match (kinds.len(), unique_probe(*kind, query.filter.as_ref())) {
            (1, Some(key)) => db
                .scim()
                .find_by_key(&ctx.endpoint.id, kind.name(), &key)
                .await?
                .into_iter()
                .collect(),
            _ => db.scim().list(&ctx.endpoint.id, kind.name()).await?,
        };
        rendered.extend(render_all(state, ctx, *kind, &stored).await?);
    }
    if let Some(filter) = &query.filter {
        rendered.retain(|r| filter::matches(filter, r));
    }
    if let Some(path) = &query.sort_by {
        rendered.sort_by(|a, b| filter::compare_by(a, b, path));
        if query.descending {
            rendered.reverse();
        }
    }
    let total = rendered.len();
    let page: Vec<Value> = rendered
        .into_iter()
        .skip(query.start_index - 1)
        .take(query.count)
        .map(|r| resource::project(r, &query.attributes, &query.excluded))
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST],
            "totalResults": total,
            "startIndex": query.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        }),
    ))
}

async fn list(request: ScimRequest, kind: Kind) -> Answer {
    let ctx = request.authenticate().await?;
    let map = query_map(&request.query);
    let query = build_query(&[kind], |name| {
        query_get(&map, name).map(|v| Value::String(v.to_owned()))
    })?;
    run_query(&request.state, &ctx, &[kind], query).await
}

async fn search(request: ScimRequest, body: Bytes, kinds: &[Kind]) -> Answer {
    let ctx = request.authenticate().await?;
    let body = parse_body(&body)?;
    let is_search = body
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|s| s == SEARCH));
    if !is_search {
        return Err(ScimError::invalid_syntax("the body is not a SearchRequest"));
    }
    let query = build_query(kinds, |name| filter::get_ci(&body, name).cloned())?;
    run_query(&request.state, &ctx, kinds, query).await
}

// ---------- single resources ----------

fn if_match_fails(headers: &HeaderMap, version: i64) -> bool {
    let Some(expected) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let etag = resource::etag(version);
    let strong = format!("\"{version}\"");
    !expected
        .split(',')
        .map(str::trim)
        .any(|e| e == "*" || e == etag || e == strong)
}

/// The 404 of a resource that does not exist (or is deleted).
fn resource_not_found(kind: Kind, id: &str) -> ScimError {
    ScimError::not_found(format!("{} {id} not found", kind.name()))
}

async fn get_one(request: ScimRequest, kind: Kind) -> Answer {
    let ctx = request.authenticate().await?;
    let id = request.id();
    let ScimRequest { state, headers, .. } = &request;
    let stored = state
        .runtime
        .db()
        .scim()
        .get(&ctx.endpoint.id, kind.name(), &id, false)
        .await?
        .ok_or_else(|| resource_not_found(kind, &id))?;
    if let Some(tags) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && tags
            .split(',')
            .map(str::trim)
            .any(|t| t == resource::etag(stored.version) || t == "*")
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(value) = HeaderValue::from_str(&resource::etag(stored.version)) {
            response.headers_mut().insert(header::ETAG, value);
        }
        return Ok(response);
    }
    let rendered = render_one(state, &ctx, kind, &stored).await?;
    resource_answer(
        StatusCode::OK,
        rendered,
        &stored,
        &query_map(&request.query),
    )
}

/// Whether resource `id` of `kind` exists at the endpoint and is not deleted.
async fn is_live(
    tx: &mut tributary_store::Tx,
    endpoint: &str,
    kind: Kind,
    id: &str,
) -> Result<bool, ScimError> {
    Ok(tx
        .scim()
        .get(endpoint, kind.name(), id, false)
        .await?
        .is_some())
}

/// Checks a group's members: each must be a live User or Group of the endpoint; duplicates are
/// dropped, `type` is set, `$ref` and `display` are computed (not stored).
async fn check_members(
    tx: &mut tributary_store::Tx,
    endpoint: &str,
    body: &mut Value,
    group_id: Option<&str>,
) -> Result<(), ScimError> {
    let Some(Value::Array(members)) = body.get_mut("members") else {
        return Ok(());
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut checked = Vec::new();
    for member in members.drain(..) {
        let Some(value) = filter::get_ci(&member, "value")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Err(ScimError::invalid_value(
                "each member needs a value (a User or Group id)",
            ));
        };
        if !seen.insert(value.clone()) {
            continue;
        }
        let declared = filter::get_ci(&member, "type")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let member_type = if declared.as_deref() != Some("Group")
            && is_live(tx, endpoint, Kind::User, &value).await?
        {
            "User"
        } else if Some(value.as_str()) != group_id
            && is_live(tx, endpoint, Kind::Group, &value).await?
        {
            "Group"
        } else {
            return Err(ScimError::invalid_value(format!(
                "member {value} is not a User or Group of this endpoint"
            )));
        };
        checked.push(json!({"value": value, "type": member_type}));
    }
    *members = checked;
    if members.is_empty() {
        body.as_object_mut().expect("an object").remove("members");
    }
    Ok(())
}

async fn begin(state: &ScimState, ctx: &Ctx) -> Result<tributary_store::Tx, ScimError> {
    let mut tx = state.runtime.db().begin().await?;
    tx.lock_key(&format!("scim:{}", ctx.endpoint.id)).await?;
    Ok(tx)
}

/// Opens the transaction of a change to resource `id` and reads the resource, refusing one that
/// does not exist (404) or whose version does not match `If-Match` (412).
async fn begin_change(
    request: &ScimRequest,
    ctx: &Ctx,
    kind: Kind,
    id: &str,
) -> Result<(tributary_store::Tx, ScimResource), ScimError> {
    let mut tx = begin(&request.state, ctx).await?;
    let current = tx
        .scim()
        .get(&ctx.endpoint.id, kind.name(), id, false)
        .await?
        .ok_or_else(|| resource_not_found(kind, id))?;
    if if_match_fails(&request.headers, current.version) {
        return Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            "the resource's version does not match If-Match",
        ));
    }
    Ok((tx, current))
}

async fn create(request: ScimRequest, body: Bytes, kind: Kind) -> Answer {
    let ctx = request.authenticate().await?;
    let mut normalized = resource::normalize(kind, &parse_body(&body)?)?;
    resource::check_single_primary(&normalized)?;
    let state = &request.state;
    let mut tx = begin(state, &ctx).await?;
    if kind == Kind::Group {
        check_members(&mut tx, &ctx.endpoint.id, &mut normalized, None).await?;
    }
    let stored = tx
        .scim()
        .insert(
            &ctx.endpoint.id,
            kind.name(),
            &resource::unique_key(kind, &normalized),
            &normalized,
        )
        .await?;
    tx.commit().await?;
    records::sync(&state.runtime, &ctx.endpoint, &[(kind, stored.id.clone())]).await;
    let rendered = render_one(state, &ctx, kind, &stored).await?;
    resource_answer(
        StatusCode::CREATED,
        rendered,
        &stored,
        &query_map(&request.query),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Change {
    Replace,
    Patch,
}

async fn modify(request: ScimRequest, body: Bytes, kind: Kind, change: Change) -> Answer {
    let ctx = request.authenticate().await?;
    let id = request.id();
    let replacement = parse_body(&body)?;
    let operations =
        match change {
            Change::Patch => Some(patch::parse_operations(&replacement).map_err(|e| {
                ScimError::new(StatusCode::BAD_REQUEST, Some(e.scim_type), e.detail)
            })?),
            Change::Replace => None,
        };
    let (mut tx, current) = begin_change(&request, &ctx, kind, &id).await?;
    let candidate = match &operations {
        Some(operations) => {
            let mut patched = current.body.clone();
            patch::apply(&mut patched, operations, &Rules(kind)).map_err(|e| {
                ScimError::new(StatusCode::BAD_REQUEST, Some(e.scim_type), e.detail)
            })?;
            patched
        }
        None => replacement,
    };
    let mut normalized = resource::normalize(kind, &candidate)?;
    if change == Change::Replace {
        // A PATCH settled its primary values itself; one that touched none keeps what is stored.
        resource::check_single_primary(&normalized)?;
    }
    if kind == Kind::Group {
        check_members(&mut tx, &ctx.endpoint.id, &mut normalized, Some(&id)).await?;
    }
    let stored = if normalized == current.body {
        current
    } else {
        tx.scim()
            .update(
                &current,
                &resource::unique_key(kind, &normalized),
                &normalized,
            )
            .await?
    };
    tx.commit().await?;
    let state = &request.state;
    records::sync(&state.runtime, &ctx.endpoint, &[(kind, id)]).await;
    let rendered = render_one(state, &ctx, kind, &stored).await?;
    resource_answer(
        StatusCode::OK,
        rendered,
        &stored,
        &query_map(&request.query),
    )
}

async fn delete(request: ScimRequest, kind: Kind) -> Answer {
    let ctx = request.authenticate().await?;
    let id = request.id();
    let (mut tx, _) = begin_change(&request, &ctx, kind, &id).await?;
    tx.scim().delete(&ctx.endpoint.id, kind.name(), &id).await?;
    // The resource leaves every group it was a member of.
    let mut changed = vec![(kind, id.clone())];
    let groups = tx.scim().list(&ctx.endpoint.id, Kind::Group.name()).await?;
    for group in groups {
        let Some(Value::Array(members)) = group.body.get("members") else {
            continue;
        };
        if !members.iter().any(|m| m["value"] == id.as_str()) {
            continue;
        }
        let mut body = group.body.clone();
        let remaining: Vec<Value> = members
            .iter()
            .filter(|m| m["value"] != id.as_str())
            .cloned()
            .collect();
        let object = body.as_object_mut().expect("an object");
        if remaining.is_empty() {
            object.remove("members");
        } else {
            object.insert("members".into(), Value::Array(remaining));
        }
        tx.scim()
            .update(&group, &resource::unique_key(Kind::Group, &body), &body)
            .await?;
        changed.push((Kind::Group, group.id.clone()));
    }
    tx.commit().await?;
    records::sync(&request.state.runtime, &ctx.endpoint, &changed).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
