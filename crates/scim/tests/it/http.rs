//! The SCIM server over HTTP on loopback, through the runtime's ingest path, on SQLite and
//! PostgreSQL: discovery, Users and Groups CRUD, filters, PATCH, errors, ETags, the directory
//! records (deactivation, tombstones, memberships), concurrent PATCHes and secret rotation.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tributary_providers::{CatalogConfig, registry};
use tributary_runtime::{Runtime, RuntimeConfig};
use tributary_store::{
    keystore::KeyRing,
    records::{RecordQuery, StoredRecord, list_records},
    testing::{TestDb, each_backend},
};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

struct Server {
    runtime: Runtime,
    tenant: String,
    integration: String,
    base: String,
    secret: String,
    http: reqwest::Client,
    _db: TestDb,
}

struct Answer {
    status: StatusCode,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

async fn start(db: TestDb) -> Server {
    tributary_providerkit::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let runtime = Runtime::new(
        registry(&CatalogConfig::default()).unwrap(),
        db.db.clone(),
        KeyRing::generate(),
        RuntimeConfig::new(url),
    );
    let app: axum::Router = tributary_scim::router(runtime.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let tenant = runtime.db().tenants().create("t").await.unwrap().id;
    let integration = runtime
        .create_integration(&tenant, "scim", Some("Okta"), &json!({}))
        .await
        .unwrap()
        .id;
    let (endpoint, secret) =
        tributary_scim::admin::create_endpoint(&runtime, &tenant, &integration)
            .await
            .unwrap();
    Server {
        base: tributary_scim::admin::base_url(&runtime, &endpoint.id),
        secret: secret.expose_str().unwrap().to_owned(),
        runtime,
        tenant,
        integration,
        http: reqwest::Client::new(),
        _db: db,
    }
}

impl Server {
    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_with(method, path, body, &self.secret, &[]).await
    }

    /// POSTs a body as it is written, for bodies a `Value` cannot carry (too large, too deep).
    async fn post_text(&self, path: &str, body: String) -> Answer {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.secret)
            .header("content-type", "application/scim+json")
            .body(body)
            .send()
            .await
            .unwrap();
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.json().await.unwrap(),
        }
    }

    async fn records(&self, model: &str, include_deleted: bool) -> Vec<StoredRecord> {
        list_records(
            self.runtime.db(),
            &RecordQuery {
                tenant_id: self.tenant.clone(),
                integration_id: Some(self.integration.clone()),
                model: Some(model.into()),
                include_deleted,
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
    }

    async fn create_user(&self, user_name: &str, extra: Value) -> Value {
        let mut body = json!({"schemas": [USER], "userName": user_name});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let answer = self.call(Method::POST, "/Users", Some(body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body
    }
}

fn error_type(answer: &Answer) -> (u16, Option<&str>) {
    assert_eq!(
        answer.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(answer.body["status"], answer.status.as_u16().to_string());
    (answer.status.as_u16(), answer.body["scimType"].as_str())
}

#[each_backend]
async fn discovery_documents(db: TestDb) {
    let s = start(db).await;
    let config = s.call(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(config.status, 200);
    assert_eq!(config.headers["content-type"], "application/scim+json");
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["filter"]["supported"], true);
    let types = s.call(Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types.body["totalResults"], 2);
    let user = s.call(Method::GET, "/ResourceTypes/User", None).await;
    assert_eq!(user.body["endpoint"], "/Users");
    let schemas = s.call(Method::GET, "/Schemas", None).await;
    assert_eq!(schemas.body["totalResults"], 3);
    let group = s
        .call(Method::GET, &format!("/Schemas/{GROUP}"), None)
        .await;
    assert_eq!(group.body["attributes"][0]["name"], "displayName");
    let missing = s.call(Method::GET, "/Schemas/urn:nope", None).await;
    assert_eq!(error_type(&missing), (404, None));
    let nowhere = s.call(Method::GET, "/Nowhere", None).await;
    assert_eq!(error_type(&nowhere), (404, None));
}

#[each_backend]
async fn authentication_and_rotation(db: TestDb) {
    let s = start(db).await;
    let bad = s
        .call_with(Method::GET, "/Users", None, "scimsec_wrong", &[])
        .await;
    assert_eq!(error_type(&bad), (401, None));
    assert!(!bad.body.to_string().contains(&s.secret));
    let other = s
        .http
        .get(format!("{}x/Users", s.base))
        .bearer_auth(&s.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
    let (_, new) = tributary_scim::admin::rotate_secret(&s.runtime, &s.tenant, &s.integration)
        .await
        .unwrap();
    // The old secret keeps working during the grace period; the new one works at once.
    assert_eq!(s.call(Method::GET, "/Users", None).await.status, 200);
    let fresh = s
        .call_with(Method::GET, "/Users", None, new.expose_str().unwrap(), &[])
        .await;
    assert_eq!(fresh.status, 200);
}

#[each_backend]
async fn users_crud_filters_and_records(db: TestDb) {
    let s = start(db).await;
    let alice = s
        .create_user(
            "alice@example.com",
            json!({
                "name": {"givenName": "Alice", "familyName": "Liddell"},
                "emails": [{"value": "Alice@Example.com", "type": "work", "primary": true}],
                "active": true, "password": "hunter2", "externalId": "00u1",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}
            }),
        )
        .await;
    let id = alice["id"].as_str().unwrap().to_owned();
    assert!(alice.get("password").is_none());
    assert_eq!(alice["meta"]["resourceType"], "User");
    assert_eq!(alice["meta"]["version"], "W/\"1\"");
    s.create_user(
        "bob@example.com",
        json!({"active": false, "emails": [{"value": "bob@home.example", "type": "home"}]}),
    )
    .await;

    let dup = s
        .call(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": "ALICE@example.com"})),
        )
        .await;
    assert_eq!(error_type(&dup), (409, Some("uniqueness")));
    let invalid = s
        .call(Method::POST, "/Users", Some(json!({"schemas": [USER]})))
        .await;
    assert_eq!(error_type(&invalid), (400, Some("invalidValue")));
    let garbage = s
        .http
        .post(format!("{}/Users", s.base))
        .bearer_auth(&s.secret)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);

    let got = s.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["etag"], "W/\"1\"");
    let unknown = s.call(Method::GET, "/Users/nope", None).await;
    assert_eq!(error_type(&unknown), (404, None));

    let count = |filter: &str| {
        let s = &s;
        let filter = filter.to_owned();
        async move {
            let url = format!("/Users?filter={}", urlencode(&filter));
            let answer = s.call(Method::GET, &url, None).await;
            assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
            answer.body["totalResults"].as_u64().unwrap()
        }
    };
    assert_eq!(count(r#"userName eq "Alice@example.com""#).await, 1);
    assert_eq!(count(r#"userName ne "alice@example.com""#).await, 1);
    assert_eq!(
        count(r#"emails[type eq "work"].value co "example""#).await,
        1
    );
    assert_eq!(
        count(r#"emails[type eq "work" or type eq "home"]"#).await,
        2
    );
    assert_eq!(
        count(r#"name.familyName sw "Lid" and not (active eq false)"#).await,
        1
    );
    assert_eq!(count(r#"userName ew ".com""#).await, 2);
    assert_eq!(count("externalId pr").await, 1);
    assert_eq!(count(r#"meta.created gt "2000-01-01T00:00:00Z""#).await, 2);
    assert_eq!(
        count(r#"meta.lastModified lt "2000-01-01T00:00:00Z""#).await,
        0
    );
    assert_eq!(
        count(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#)
            .await,
        1
    );
    let bad = s
        .call(
            Method::GET,
            &format!("/Users?filter={}", urlencode("userName zz 1")),
            None,
        )
        .await;
    assert_eq!(error_type(&bad), (400, Some("invalidFilter")));

    let page = s
        .call(
            Method::GET,
            "/Users?sortBy=userName&sortOrder=descending&startIndex=1&count=1&attributes=userName",
            None,
        )
        .await;
    assert_eq!(page.body["totalResults"], 2);
    assert_eq!(page.body["itemsPerPage"], 1);
    assert_eq!(page.body["Resources"][0]["userName"], "bob@example.com");
    assert!(page.body["Resources"][0].get("emails").is_none());
    let search = s
        .call(
            Method::POST,
            "/Users/.search",
            Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName sw \"ali\"", "excludedAttributes": ["emails"]})),
        )
        .await;
    assert_eq!(search.body["totalResults"], 1);
    assert!(search.body["Resources"][0].get("emails").is_none());

    // The directory record: active, then deactivated by PATCH.
    let account = |records: Vec<StoredRecord>, id: &str| {
        records.into_iter().find(|r| r.lookup_key == id).unwrap()
    };
    let record = account(s.records("DirectoryAccount", false).await, &id);
    assert_eq!(record.fields["status"], "ACTIVE");
    assert_eq!(record.fields["canonicalEmail"], "alice@example.com");
    assert_eq!(record.fields["department"], "R&D");
    let patched = s.call(Method::PATCH, &format!("/Users/{id}"), Some(json!({
            "schemas": [PATCH],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"},
                           {"op": "add", "path": "emails[type eq \"work\"].display", "value": "Work"}]}))).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["emails"][0]["display"], "Work");
    assert_eq!(patched.body["meta"]["version"], "W/\"2\"");
    assert_eq!(
        account(s.records("DirectoryAccount", false).await, &id).fields["status"],
        "INACTIVE"
    );

    // If-Match with an old version is refused.
    let stale = s
        .call_with(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [USER], "userName": "alice@example.com"})),
            &s.secret,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(error_type(&stale), (412, None));
    let put = s
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [USER], "userName": "alice2@example.com", "active": true})),
        )
        .await;
    assert_eq!(put.status, 200);
    assert!(put.body.get("emails").is_none());
    let bad_patch = s
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove"}]})),
        )
        .await;
    assert_eq!(error_type(&bad_patch), (400, Some("noTarget")));

    let deleted = s.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        s.call(Method::GET, &format!("/Users/{id}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        s.call(Method::DELETE, &format!("/Users/{id}"), None)
            .await
            .status,
        404
    );
    assert!(
        s.records("DirectoryAccount", false)
            .await
            .iter()
            .all(|r| r.lookup_key != id)
    );
    let tombstone = account(s.records("DirectoryAccount", true).await, &id);
    assert_eq!(tombstone.fields["status"], "DELETED");
    assert!(tombstone.deleted_at.is_some());
    // The name can be provisioned again.
    s.create_user("alice2@example.com", json!({})).await;
}

#[each_backend]
async fn groups_members_and_their_records(db: TestDb) {
    let s = start(db).await;
    let a = s.create_user("a@example.com", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = s.create_user("b@example.com", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = s.create_user("c@example.com", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = s
        .call(
            Method::POST,
            "/Groups",
            Some(json!({
            "schemas": [GROUP], "displayName": "Engineering",
            "members": [{"value": a}, {"value": b}, {"value": a}]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let g = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(
        created.body["members"][0]["$ref"],
        format!("{}/Users/{a}", s.base)
    );
    let dup = s
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "engineering"})),
        )
        .await;
    assert_eq!(error_type(&dup), (409, Some("uniqueness")));
    let unknown_member = s
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "X", "members": [{"value": "nope"}]})),
        )
        .await;
    assert_eq!(error_type(&unknown_member), (400, Some("invalidValue")));
    let user = s.call(Method::GET, &format!("/Users/{a}"), None).await;
    assert_eq!(user.body["groups"][0]["value"], g);

    let key = |u: &str| serde_json::to_string(&[u, g.as_str()]).unwrap();
    let mut expected = vec![key(&a), key(&b)];
    expected.sort();
    assert_eq!(live(&s).await, expected);

    let patched = s
        .call(
            Method::PATCH,
            &format!("/Groups/{g}"),
            Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": c}]},
            {"op": "remove", "path": format!("members[value eq \"{a}\"]")}]})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let mut expected = vec![key(&b), key(&c)];
    expected.sort();
    assert_eq!(live(&s).await, expected);
    let filtered = s
        .call(
            Method::GET,
            &format!(
                "/Groups?filter={}",
                urlencode(&format!("members[value eq \"{c}\"]"))
            ),
            None,
        )
        .await;
    assert_eq!(filtered.body["totalResults"], 1);

    // Deleting a user removes it from the group (and ends its membership).
    assert_eq!(
        s.call(Method::DELETE, &format!("/Users/{b}"), None)
            .await
            .status,
        204
    );
    assert_eq!(live(&s).await, vec![key(&c)]);
    let group = s.call(Method::GET, &format!("/Groups/{g}"), None).await;
    assert_eq!(group.body["members"].as_array().unwrap().len(), 1);

    // Deleting the group tombstones it and its memberships.
    assert_eq!(
        s.call(Method::DELETE, &format!("/Groups/{g}"), None)
            .await
            .status,
        204
    );
    assert!(live(&s).await.is_empty());
    let groups = s.records("DirectoryGroup", true).await;
    assert_eq!(groups[0].fields["status"], "DELETED");
    assert!(groups[0].deleted_at.is_some());
}

#[each_backend]
async fn concurrent_patches_of_one_user_lose_nothing(db: TestDb) {
    let s = start(db).await;
    let id = s.create_user("c@example.com", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let n = 12;
    let mut tasks = Vec::new();
    let s = std::sync::Arc::new(s);
    for i in 0..n {
        let s = s.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
                s.call(Method::PATCH, &format!("/Users/{id}"), Some(json!({"schemas": [PATCH], "Operations": [
                    {"op": "add", "path": "emails", "value": [{"value": format!("e{i}@example.com"), "type": "other"}]}]}))).await.status
            }));
    }
    for task in tasks {
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .unwrap()
                .unwrap(),
            200
        );
    }
    let user = s.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(user.body["emails"].as_array().unwrap().len(), n);
    assert_eq!(user.body["meta"]["version"], format!("W/\"{}\"", n + 1));
    let record = s.records("DirectoryAccount", false).await.remove(0);
    assert_eq!(
        record.raw_payload["resource"]["emails"]
            .as_array()
            .unwrap()
            .len(),
        n
    );
}

#[each_backend]
async fn hostile_queries_and_paths_are_refused_and_the_server_stays_up(db: TestDb) {
    let s = start(db).await;
    let id = s
        .create_user(
            "h@example.com",
            json!({"emails": [{"value": "h@example.com", "type": "work"}]}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let nested = |opener: &str, closer: &str, depth: usize| {
        format!(
            "{}userName pr{}",
            opener.repeat(depth),
            closer.repeat(depth)
        )
    };
    let chain = |operator: &str, terms: usize| vec![r#"userName eq "x""#; terms].join(operator);
    let search = |filter: String| {
        let s = &s;
        async move {
            s.call(
                Method::POST,
                "/.search",
                Some(json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        "filter": filter})),
            )
            .await
        }
    };
    let get = |query: String| {
        let s = &s;
        async move { s.call(Method::GET, &format!("/Users?{query}"), None).await }
    };
    // What crashed the server: deep nesting and long chains, by POST and by GET.
    for filter in [
        nested("(", ")", 2_000),
        nested("not (", ")", 3_000),
        chain(" or ", 20_000),
        chain(" and ", 20_000),
        chain(" or ", 300),
    ] {
        let answer = search(filter.clone()).await;
        assert_eq!(error_type(&answer), (400, Some("invalidFilter")));
        // The chains of 20,000 terms do not fit in a request target (see the 414 below).
        let query = format!("filter={}", urlencode(&filter));
        if query.len() < 32 * 1024 {
            let answer = get(query).await;
            assert_eq!(error_type(&answer), (400, Some("invalidFilter")));
        }
    }
    let deep_path = format!(
        "emails[{}type eq \"work\"{}].value",
        "(".repeat(2_000),
        ")".repeat(2_000)
    );
    let patched = s
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": deep_path, "value": "x@example.com"}]})),
        )
        .await;
    assert_eq!(error_type(&patched), (400, Some("invalidPath")));
    // Sorting and projection parameters.
    for query in [
        "sortBy=nope".to_owned(),
        "sortBy=name.nope".to_owned(),
        format!("sortBy={}", "a".repeat(600)),
        "sortBy=userName&sortOrder=sideways".to_owned(),
        format!("attributes={}", vec!["userName"; 200].join(",")),
        format!("excludedAttributes={}", "a.".repeat(5_000)),
    ] {
        assert_eq!(
            error_type(&get(query.clone()).await),
            (400, Some("invalidValue")),
            "{query}"
        );
    }
    let sorted = get("sortBy=name.givenName&sortOrder=Ascending".into()).await;
    assert_eq!(sorted.status, 200, "{}", sorted.body);
    // A request target over 32 KiB, a body over 2 MiB, a method a route does not take.
    let long = get(format!("filter={}", "a".repeat(40_000))).await;
    assert_eq!(error_type(&long), (414, None));
    let big = s
        .post_text(
            "/Users",
            format!(
                r#"{{"schemas": ["{USER}"], "userName": "big", "title": "{}"}}"#,
                "x".repeat(2 * 1024 * 1024)
            ),
        )
        .await;
    assert_eq!(error_type(&big), (413, None));
    let wrong_method = s.call(Method::DELETE, "/Users", None).await;
    assert_eq!(error_type(&wrong_method), (405, None));
    assert_eq!(
        wrong_method.headers["content-type"],
        "application/scim+json"
    );
    let allowed = wrong_method.headers["allow"].to_str().unwrap();
    assert!(
        allowed.contains("GET") && allowed.contains("POST"),
        "{allowed}"
    );
    // A body nested deeper than any SCIM resource is refused before serde_json recurses.
    let deep = s
        .post_text(
            "/Users",
            format!(
                r#"{{"schemas": ["{USER}"], "userName": "deep", "name": {}1{}}}"#,
                r#"{"a":"#.repeat(100_000),
                "}".repeat(100_000)
            ),
        )
        .await;
    assert_eq!(error_type(&deep), (400, Some("invalidSyntax")));
    // NUL is refused on both backends alike (PostgreSQL cannot store it).
    let nul = s
        .call(
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": "nul\u{0}@example.com"})),
        )
        .await;
    assert_eq!(error_type(&nul), (400, Some("invalidValue")));
    // The server is still up and filters still work.
    let found = get(format!(
        "filter={}",
        urlencode(r#"emails[type eq "work"].value ew "example.com""#)
    ))
    .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    let user = s.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(user.status, 200);
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn live(s: &Server) -> Vec<String> {
    let mut keys: Vec<String> = s
        .records("DirectoryMembership", false)
        .await
        .into_iter()
        .map(|r| r.lookup_key)
        .collect();
    keys.sort();
    keys
}

#[each_backend]
async fn okta_and_entra_provisioning_sequences(db: TestDb) {
    use tributary_testkit::scim::FakeIdentityProvider;

    let s = start(db).await;
    let idp = FakeIdentityProvider::new(&s.base, &s.secret);
    let okta = idp
        .push_okta(&[
            ("ann@example.com", "Ann", "A"),
            ("ben@example.com", "Ben", "B"),
            ("cy@example.com", "Cy", "C"),
        ])
        .await
        .unwrap();
    let entra = idp.push_entra("contoso.example").await.unwrap();
    let accounts = s.records("DirectoryAccount", false).await;
    assert_eq!(accounts.len(), 5);
    let status = |id: &str| {
        accounts
            .iter()
            .find(|r| r.lookup_key == id)
            .unwrap()
            .fields
            .clone()
    };
    assert_eq!(status(&okta.users[0])["status"], "ACTIVE");
    assert_eq!(status(&okta.users[2])["status"], "INACTIVE");
    assert_eq!(
        status(&entra.users[0])["canonicalEmail"],
        "adele@contoso.example"
    );
    assert_eq!(status(&entra.users[0])["department"], "Sales");
    assert_eq!(
        status(&entra.users[1])["managerExternalID"],
        entra.users[0].as_str()
    );
    assert_eq!(status(&entra.users[1])["status"], "INACTIVE");
    let memberships = live(&s).await;
    let key = |u: &str, g: &str| serde_json::to_string(&[u, g]).unwrap();
    let mut expected: Vec<String> = okta.users.iter().map(|u| key(u, &okta.groups[0])).collect();
    expected.push(key(&entra.users[1], &entra.groups[0]));
    expected.sort();
    assert_eq!(memberships, expected);
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

impl Server {
    async fn patch_user(&self, id: &str, operations: Value) -> Answer {
        self.call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": operations})),
        )
        .await
    }

    /// [`Server::patch_user`], failing the test unless it answers 200.
    async fn patched_user(&self, id: &str, operations: Value) -> Answer {
        let answer = self.patch_user(id, operations).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer
    }

    async fn get_user(&self, id: &str) -> Value {
        let answer = self.call(Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }
}

/// Barbara Jensen of RFC 7643 §8.2 (the full User representation), as far as a test needs her.
fn barbara() -> Value {
    json!({
        "externalId": "701984",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [{
            "type": "work",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
            "primary": true
        }],
        ENTERPRISE: {"employeeNumber": "701984", "costCenter": "4130", "department": "Tour Operations"}
    })
}

/// RFC 7644 §3.5.2.3: replacing a complex attribute replaces the sub-attributes the value names
/// and leaves the others unchanged, with a path and without one; a multi-valued attribute
/// without a filter is replaced whole.
#[each_backend]
async fn replace_of_a_complex_attribute_keeps_the_sub_attributes_it_does_not_name(db: TestDb) {
    let s = start(db).await;
    let id = s.create_user("bjensen@example.com", barbara()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.patched_user(
        &id,
        json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}]),
    )
    .await;
    let mut name = barbara()["name"].clone();
    name["givenName"] = json!("Babs");
    assert_eq!(s.get_user(&id).await["name"], name);

    // The RFC's own path-less example: `emails` (multi-valued) is replaced whole.
    s.patched_user(
        &id,
        json!([{"op": "replace", "value": {
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "nickname": "Babs",
            "name": {"middleName": "J"}
        }}]),
    )
    .await;
    let user = s.get_user(&id).await;
    name["middleName"] = json!("J");
    assert_eq!(user["name"], name);
    assert_eq!(user["nickName"], "Babs");
    assert_eq!(user["emails"], barbara()["emails"]);
    s
            .patched_user(
                &id,
                json!([{"op": "replace", "value": {"emails": [{"value": "b@example.com", "type": "other"}]}}]),
            )
            .await;
    assert_eq!(
        s.get_user(&id).await["emails"],
        json!([{"value": "b@example.com", "type": "other"}])
    );
    // A sub-attribute of the extension's complex `manager`.
    let managed = s
            .patched_user(
                &id,
                json!([
                    {"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}},
                    {"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d"}}
                ]),
            )
            .await;
    assert_eq!(
        managed.body[ENTERPRISE]["manager"],
        json!({"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith",
                   "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d"})
    );
}
/// RFC 7643 §2.4: the primary value "MUST appear no more than once". A PATCH that makes a value
/// primary demotes the others; a POST or PUT carrying two is refused.
#[each_backend]
async fn one_primary_value_per_attribute(db: TestDb) {
    let s = start(db).await;
    let id = s.create_user("bjensen@example.com", barbara()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let added = s
            .patched_user(
                &id,
                json!([{"op": "add", "path": "emails", "value": [{"value": "babs@example.org", "type": "other", "primary": true}]}]),
            )
            .await;
    let primaries = |user: &Value| -> Vec<String> {
        user["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == true)
            .map(|e| e["value"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(primaries(&added.body), ["babs@example.org"]);
    assert_eq!(added.body["emails"][0]["primary"], false);
    let replaced = s
        .patched_user(
            &id,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": true}]),
        )
        .await;
    assert_eq!(primaries(&replaced.body), ["bjensen@example.com"]);
    // Entra's string boolean counts as true too.
    let entra = s
            .patched_user(
                &id,
                json!([{"op": "Add", "path": "emails", "value": [{"value": "e@example.com", "type": "work", "primary": "True"}]}]),
            )
            .await;
    assert_eq!(primaries(&entra.body), ["e@example.com"]);
    let before = s.get_user(&id).await;
    let two = s
        .patch_user(
            &id,
            json!([{"op": "add", "path": "phoneNumbers", "value": [
                    {"value": "tel:+1-201-555-0123", "type": "work", "primary": true},
                    {"value": "tel:+1-201-555-0124", "type": "mobile", "primary": true}]}]),
        )
        .await;
    assert_eq!(error_type(&two), (400, Some("invalidValue")));
    assert_eq!(s.get_user(&id).await, before);

    let mut doubled = barbara();
    doubled["emails"][1]["primary"] = json!(true);
    doubled["schemas"] = json!([USER]);
    doubled["userName"] = json!("babs@example.com");
    let posted = s.call(Method::POST, "/Users", Some(doubled.clone())).await;
    assert_eq!(error_type(&posted), (400, Some("invalidValue")));
    doubled["userName"] = json!("bjensen@example.com");
    let put = s
        .call(Method::PUT, &format!("/Users/{id}"), Some(doubled))
        .await;
    assert_eq!(error_type(&put), (400, Some("invalidValue")));
    assert_eq!(s.get_user(&id).await, before);
}
/// RFC 7644 §3.5.2.3: a `replace` whose value filter matches no value answers 400 `noTarget`.
/// An `add` with such a filter creates the value (what Entra ID sends, see errata 8097).
#[each_backend]
async fn replace_through_a_filter_matching_nothing_is_no_target(db: TestDb) {
    let s = start(db).await;
    let mut user = barbara();
    user["emails"] = json!([{"value": "bjensen@example.com", "type": "work", "primary": true}]);
    let id = s.create_user("bjensen@example.com", user).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = s.get_user(&id).await;
    let missing = s
            .patch_user(
                &id,
                json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "babs@jensen.org"}]),
            )
            .await;
    assert_eq!(error_type(&missing), (400, Some("noTarget")));
    let missing = s
            .patch_user(
                &id,
                json!([{"op": "replace", "path": "addresses[type eq \"home\"]", "value": {"type": "home", "locality": "Hollywood"}}]),
            )
            .await;
    assert_eq!(error_type(&missing), (400, Some("noTarget")));
    assert_eq!(s.get_user(&id).await, before);
    // The RFC's example of replacing a sub-attribute of the matching values.
    let street = s
            .patched_user(
                &id,
                json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
            )
            .await;
    assert_eq!(
        street.body["addresses"][0]["streetAddress"],
        "1010 Broadway Ave"
    );
    assert_eq!(street.body["addresses"][0]["locality"], "Hollywood");
    let added = s
            .patched_user(
                &id,
                json!([{"op": "add", "path": "emails[type eq \"home\"].value", "value": "babs@jensen.org"}]),
            )
            .await;
    assert_eq!(
        added.body["emails"][1],
        json!({"type": "home", "value": "babs@jensen.org"})
    );
}
/// RFC 7644 §3.4.2.2 / §3.12: a filter naming no attribute of the resource type, comparing an
/// attribute with a value of another type or a dateTime with text that is no date is 400
/// `invalidFilter`, not an empty list.
#[each_backend]
async fn filters_are_checked_against_the_schema(db: TestDb) {
    let s = start(db).await;
    s.create_user("bjensen@example.com", barbara()).await;
    let list = |endpoint: &'static str, filter: &'static str| {
        let s = &s;
        async move {
            s.call(
                Method::GET,
                &format!("/{endpoint}?filter={}", urlencode(filter)),
                None,
            )
            .await
        }
    };
    for (endpoint, filter) in [
        ("Users", r#"meta.lastModified gt "yesterday""#),
        ("Users", r#"meta.created eq "2026-13-45""#),
        ("Users", r#"active eq "yes""#),
        ("Users", "userName gt true"),
        ("Users", "userName eq 3"),
        ("Users", r#"nosuchattr eq "x""#),
        ("Users", "nosuchattr pr"),
        ("Users", r#"name.nosuch eq "x""#),
        ("Users", r#"emails[nosuch eq "x"]"#),
        ("Users", r#"emails[type eq "work"].nosuch eq "x""#),
        ("Users", r#"name eq "Barbara""#),
        (
            "Users",
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nosuch eq "x""#,
        ),
        ("Users", r#"userName eq "a" or nosuchattr eq "x""#),
        ("Users", r#"not (emails[primary eq "yes"])"#),
        ("Groups", r#"userName eq "bjensen@example.com""#),
        ("Groups", r#"members[value eq 1]"#),
    ] {
        let answer = list(endpoint, filter).await;
        assert_eq!(
            error_type(&answer),
            (400, Some("invalidFilter")),
            "{endpoint} {filter}"
        );
    }
    for filter in [
        r#"userName eq "bjensen@example.com""#,
        r#"emails eq "bjensen@example.com""#,
        r#"emails[type eq "work" and primary eq true].value co "example""#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"title eq null"#,
        r#"name.familyName sw "J""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#,
    ] {
        let answer = list("Users", filter).await;
        assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
        assert_eq!(answer.body["totalResults"], 1, "{filter}");
    }
    let search = |filter: &str| {
        let s = &s;
        let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": filter});
        async move { s.call(Method::POST, "/.search", Some(body)).await }
    };
    assert_eq!(search(r#"userName sw "bj""#).await.body["totalResults"], 1);
    assert_eq!(
        error_type(&search(r#"nosuchattr eq "x""#).await),
        (400, Some("invalidFilter"))
    );
}
/// RFC 7644 §3.5.2: a PATCH path naming no attribute of the resource type is 400 `invalidPath`
/// (and nothing is changed).
#[each_backend]
async fn unknown_patch_paths_are_invalid(db: TestDb) {
    let s = start(db).await;
    let id = s.create_user("bjensen@example.com", barbara()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = s.get_user(&id).await;
    for (op, path) in [
        ("replace", "nosuchattr"),
        ("add", "nosuchattr"),
        ("remove", "nosuchattr"),
        ("replace", "name.nosuch"),
        ("remove", "name.nosuch"),
        ("replace", "emails[type eq \"work\"].nosuch"),
        ("replace", "emails[nosuch eq \"work\"].value"),
        ("remove", "emails[nosuch eq \"work\"]"),
        (
            "replace",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nosuch",
        ),
        (
            "replace",
            "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
        ),
        ("replace", "name[givenName eq \"Barbara\"]"),
    ] {
        let answer = s
            .patch_user(&id, json!([{"op": op, "path": path, "value": "x"}]))
            .await;
        assert_eq!(
            error_type(&answer),
            (400, Some("invalidPath")),
            "{op} {path}: {}",
            answer.body
        );
    }
    assert_eq!(s.get_user(&id).await, before);
    let group = s
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Tour Guides"})),
        )
        .await;
    let answer = s
        .call(
            Method::PATCH,
            &format!("/Groups/{}", group.body["id"].as_str().unwrap()),
            Some(json!({"schemas": [PATCH], "Operations": [
                    {"op": "replace", "path": "userName", "value": "x"}]})),
        )
        .await;
    assert_eq!(error_type(&answer), (400, Some("invalidPath")));
}
/// RFC 7643 §3: `schemas` lists the extensions "used to describe" the resource: an extension
/// none of whose attributes are in the answer is not listed.
#[each_backend]
async fn schemas_list_an_extension_only_when_its_attributes_are_returned(db: TestDb) {
    let s = start(db).await;
    let id = s.create_user("bjensen@example.com", barbara()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let get = |query: String| {
        let s = &s;
        let id = id.clone();
        async move {
            let answer = s
                .call(Method::GET, &format!("/Users/{id}?{query}"), None)
                .await;
            assert_eq!(answer.status, 200, "{query}: {}", answer.body);
            answer.body
        }
    };
    assert_eq!(
        get(String::new()).await["schemas"],
        json!([USER, ENTERPRISE])
    );
    assert_eq!(
        get("attributes=userName".into()).await["schemas"],
        json!([USER])
    );
    assert_eq!(
        get(format!("excludedAttributes={ENTERPRISE}")).await["schemas"],
        json!([USER])
    );
    assert_eq!(
        get(format!("attributes={ENTERPRISE}:department")).await["schemas"],
        json!([USER, ENTERPRISE])
    );
    let listed = s
        .call(Method::GET, "/Users?attributes=displayName", None)
        .await;
    assert_eq!(listed.body["Resources"][0]["schemas"], json!([USER]));
    let patched = s
        .patched_user(&id, json!([{"op": "remove", "path": ENTERPRISE}]))
        .await;
    assert_eq!(patched.body["schemas"], json!([USER]));
    let put = s
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [USER, ENTERPRISE], "userName": "bjensen@example.com"})),
        )
        .await;
    assert_eq!(put.body["schemas"], json!([USER]));
}
