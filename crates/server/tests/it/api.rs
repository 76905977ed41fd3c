//! The REST API over HTTP on loopback, with the Cloudflare definition against the fake Cloudflare:
//! tenancy (every route, both ways), the connect-run-read flow, bad input, secrets, and the audit
//! trail.

mod audit;
mod metrics;
mod retention;

use crate::support::{TestServer, registry_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tributary_providers::{CatalogConfig, registry};
use tributary_server::{ServerConfig, api::route_table};
use tributary_store::testing::{TestDb, each_backend};
use tributary_testkit::cloudflare::{CloudflareAccount, FakeCloudflare, TokenOwner};

const CF_TOKEN: &str = "cf-api-token-0123456789abcdef0123456789";

struct Api {
    server: TestServer,
    client: reqwest::Client,
    operator: String,
    fake: FakeCloudflare,
}

struct Answer {
    status: StatusCode,
    body: Value,
    text: String,
}

impl Api {
    async fn start(backend: TestDb) -> Self {
        Self::start_with(backend, ServerConfig::default()).await
    }

    async fn start_with(backend: TestDb, server: ServerConfig) -> Self {
        let fake = FakeCloudflare::start(CloudflareAccount::sample(7))
            .await
            .unwrap();
        fake.add_token(CF_TOKEN, TokenOwner::User);
        let registry = registry_of(
            "cloudflare",
            json!({"apiUrl": fake.api_url(), "allowLoopbackApiUrl": true}),
        );
        let server = TestServer::start(backend, registry, server).await;
        Api {
            client: reqwest::Client::new(),
            operator: server.operator_token().await,
            server,
            fake,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.server.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// [`Api::call`], failing the test unless it answers `status`.
    async fn call_expecting(
        &self,
        status: u16,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let answer = self.call(method.clone(), path, token, body).await;
        assert_eq!(
            answer.status, status,
            "{}: {method} {path}: {}",
            self.server.db.name, answer.text
        );
        answer
    }

    /// A tenant and a token for it.
    async fn tenant(&self, name: &str) -> (String, String) {
        let tenant = self
            .call_expecting(
                201,
                Method::POST,
                "/v1/tenants",
                Some(&self.operator),
                Some(json!({"name": name})),
            )
            .await;
        let id = tenant.body["id"].as_str().unwrap().to_owned();
        let token = self
            .call_expecting(
                201,
                Method::POST,
                &format!("/v1/tenants/{id}/tokens"),
                Some(&self.operator),
                Some(json!({"name": "ci"})),
            )
            .await;
        (id, token.body["token"].as_str().unwrap().to_owned())
    }

    /// Creates a Cloudflare integration of the fake's account, not yet connected, named `name`
    /// (else by default); the integration as answered.
    async fn create_integration(&self, token: &str, name: Option<String>) -> Value {
        let mut body = json!({"definitionId": "cloudflare", "userInput": {"accountId": self.fake.account_id()}});
        if let Some(name) = name {
            body["name"] = Value::String(name);
        }
        self.call_expecting(
            201,
            Method::POST,
            "/v1/integrations",
            Some(token),
            Some(body),
        )
        .await
        .body
    }

    /// Creates and connects a Cloudflare integration, syncs it and returns its ids.
    async fn connected_integration(&self, token: &str) -> Ids {
        let created = self.create_integration(token, None).await;
        assert_eq!(created["status"], "pending");
        let integration = created["id"].as_str().unwrap().to_owned();
        let connected = self
            .call_expecting(
                200,
                Method::PUT,
                &format!("/v1/integrations/{integration}/credentials/CloudflareApiToken"),
                Some(token),
                Some(json!({"apiToken": CF_TOKEN})),
            )
            .await;
        assert_eq!(connected.body["outcome"], "connected");
        assert!(!connected.text.contains(CF_TOKEN));
        let run = self
            .call_expecting(
                202,
                Method::POST,
                &format!("/v1/integrations/{integration}/operations/DirectorySync/runs"),
                Some(token),
                Some(json!({})),
            )
            .await;
        let run_id = run.body["run"]["id"].as_str().unwrap().to_owned();
        let finished = self.wait_for_run(token, &run_id).await;
        assert_eq!(finished["run"]["status"], "succeeded", "{finished}");
        let records = self
            .call_expecting(
                200,
                Method::GET,
                &format!("/v1/records/DirectoryAccount?integrationId={integration}&limit=3"),
                Some(token),
                None,
            )
            .await;
        let record = records.body["items"][0]["id"].as_str().unwrap().to_owned();
        Ids {
            integration,
            run: run_id,
            record,
        }
    }

    async fn wait_for_run(&self, token: &str, run: &str) -> Value {
        for _ in 0..200 {
            let detail = self
                .call_expecting(
                    200,
                    Method::GET,
                    &format!("/v1/runs/{run}"),
                    Some(token),
                    None,
                )
                .await;
            let status = detail.body["run"]["status"].as_str().unwrap_or_default();
            if !matches!(status, "pending" | "running") {
                return detail.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("run {run} did not finish");
    }
}

struct Ids {
    integration: String,
    run: String,
    record: String,
}

/// Fills a route's path parameters with the ids of `ids`.
fn concrete(path: &str, tenant: &str, ids: &Ids) -> String {
    path.replace("{tenant_id}", tenant)
        .replace("{token_id}", "0190f0e0-0000-7000-8000-000000000000")
        .replace("{integration_id}", &ids.integration)
        .replace("{run_id}", &ids.run)
        .replace("{record_id}", &ids.record)
        .replace("{model}", "DirectoryAccount")
        .replace("{slot}", "CloudflareApiToken")
        .replace("{operation}", "HealthCheck")
        .replace("{endpoint_id}", "no-endpoint")
        .replace("{delivery_id}", "no-delivery")
        .replace("{definition_id}", "cloudflare")
}

/// A body that passes the route's own validation, so only tenancy decides the answer.
fn body_for(method: &Method, path: &str, account_id: &str) -> Option<Value> {
    if *method == Method::GET || *method == Method::DELETE {
        return None;
    }
    Some(if path.ends_with("/credentials/{slot}") {
        json!({"apiToken": CF_TOKEN})
    } else if path.ends_with("/connect") {
        json!({"connection": "CloudflareApiToken", "credentials": {"CloudflareApiToken": {"apiToken": CF_TOKEN}}})
    } else if path.ends_with("/auth") {
        json!({"connection": "CloudflareApiToken"})
    } else if path == "/v1/integrations/{integration_id}" {
        json!({"userInput": {"accountId": account_id}})
    } else {
        json!({})
    })
}

#[each_backend]
async fn every_tenant_route_hides_other_tenants(backend: TestDb) {
    let api = Api::start(backend).await;
    let (tenant_a, token_a) = api.tenant("alpha").await;
    let (_tenant_b, token_b) = api.tenant("beta").await;
    let ids = api.connected_integration(&token_a).await;
    let account = api.fake.account_id();

    let mut checked = 0;
    for (method, path, access) in route_table() {
        if access != "tenant" || !path.contains('{') || path == "/v1/records/{model}" {
            continue;
        }
        // Destructive routes last, so they do not remove what the others look up.
        if method == Method::DELETE || path.ends_with("/disconnect") {
            continue;
        }
        let url = concrete(path, &tenant_a, &ids);
        let body = body_for(&method, path, &account);
        let other = api
            .call(method.clone(), &url, Some(&token_b), body.clone())
            .await;
        assert_eq!(
            other.status, 404,
            "{method} {path} answered another tenant: {}",
            other.text
        );
        assert_eq!(other.body["error"]["code"], "not_found", "{method} {path}");
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} routes checked");

    // Lists never show another tenant's rows.
    for path in [
        "/v1/integrations",
        "/v1/runs",
        "/v1/records/DirectoryAccount",
    ] {
        let answer = api.call(Method::GET, path, Some(&token_b), None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        assert!(
            !answer.text.contains(&ids.integration),
            "{path} leaked: {}",
            answer.text
        );
        let own = api.call(Method::GET, path, Some(&token_a), None).await;
        assert!(
            own.text.contains(&ids.integration),
            "{path} lost its own rows: {}",
            own.text
        );
    }

    // Deletes and disconnects refuse another tenant's ids too, then work for the owner.
    for (method, suffix) in [(Method::POST, "/disconnect"), (Method::DELETE, "")] {
        let url = format!("/v1/integrations/{}{suffix}", ids.integration);
        api.call_expecting(404, method.clone(), &url, Some(&token_b), None)
            .await;
        api.call_expecting(200, method, &url, Some(&token_a), None)
            .await;
    }
    api.call_expecting(
        404,
        Method::GET,
        &format!("/v1/integrations/{}", ids.integration),
        Some(&token_a),
        None,
    )
    .await;
}

#[tokio::test]
async fn tokens_decide_who_may_call_what() {
    // Every route is tried with a forged token, far beyond the failed-authentication throttle
    // (tested in tests/it/ui.rs); this test is about who may call what, so the throttle is off.
    let api = Api::start_with(
        tributary_store::testing::sqlite().await,
        ServerConfig {
            auth_failures: tributary_server::AuthFailureLimit::OFF,
            ..ServerConfig::default()
        },
    )
    .await;
    let (tenant, token) = api.tenant("alpha").await;

    for (method, path, access) in route_table() {
        let url = concrete(
            path,
            &tenant,
            &Ids {
                integration: "x".into(),
                run: "x".into(),
                record: "x".into(),
            },
        );
        let anonymous = api.call(method.clone(), &url, None, Some(json!({}))).await;
        assert_eq!(
            anonymous.status, 401,
            "{method} {path} without a token: {}",
            anonymous.text
        );
        assert_eq!(anonymous.body["error"]["code"], "unauthorized");
        let forged = api
            .call(
                method.clone(),
                &url,
                Some("trb_not-a-real-token"),
                Some(json!({})),
            )
            .await;
        assert_eq!(forged.status, 401, "{method} {path} with a forged token");
        let wrong_kind = match access {
            "operator" => Some(&token),
            "tenant" => Some(&api.operator),
            _ => None,
        };
        if let Some(wrong) = wrong_kind {
            let answer = api
                .call(method.clone(), &url, Some(wrong), Some(json!({})))
                .await;
            assert_eq!(
                answer.status, 403,
                "{method} {path} with the wrong kind of token: {}",
                answer.text
            );
        }
    }

    // A revoked token and an expired one stop working.
    let tokens = api
        .call(
            Method::GET,
            &format!("/v1/tenants/{tenant}/tokens"),
            Some(&api.operator),
            None,
        )
        .await;
    let token_id = tokens.body[0]["id"].as_str().unwrap();
    assert!(
        !tokens.text.contains(&token),
        "a token record must not show the token"
    );
    assert_eq!(
        api.call(Method::GET, "/v1/tenant", Some(&token), None)
            .await
            .status,
        200
    );
    api.call_expecting(
        204,
        Method::DELETE,
        &format!("/v1/tenants/{tenant}/tokens/{token_id}"),
        Some(&api.operator),
        None,
    )
    .await;
    assert_eq!(
        api.call(Method::GET, "/v1/tenant", Some(&token), None)
            .await
            .status,
        401
    );
    let (_, expiring) = api
        .server
        .runtime
        .db()
        .tenants()
        .issue_token(Some(&tenant), "short", Some(tributary_store::now_ms() + 50))
        .await
        .unwrap();
    let expiring = String::from_utf8(expiring.expose().to_vec()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    let expired = api
        .call_expecting(401, Method::GET, "/v1/tenant", Some(&expiring), None)
        .await;
    assert!(!expired.text.contains(&expiring));
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_with_a_request_id() {
    let api = Api::start(tributary_store::testing::sqlite().await).await;
    let (_, token) = api.tenant("alpha").await;
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = api
            .client
            .post(format!("{}/v1/integrations", api.server.base))
            .bearer_auth(&token)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let request_id = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = response.json().await.unwrap();
            (status, request_id, body)
        }
    };
    let cases = [
        (
            "{\"definitionId\": ",
            Some("application/json"),
            400,
            "invalid_json",
        ),
        (
            "{\"definitionId\": 5}",
            Some("application/json"),
            400,
            "invalid_body",
        ),
        (
            "{\"definitionId\": \"cloudflare\", \"extra\": 1}",
            Some("application/json"),
            400,
            "invalid_body",
        ),
        (
            "{\"definitionId\": \"cloudflare\"}",
            None,
            415,
            "unsupported_media_type",
        ),
        (
            "{\"definitionId\": \"nope\"}",
            Some("application/json"),
            422,
            "unknown_definition",
        ),
        (
            "{\"definitionId\": \"cloudflare\", \"userInput\": {\"accountId\": 7}}",
            Some("application/json"),
            422,
            "setup_failed",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let (got, request_id, answer) = send(body, content_type).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        assert_eq!(answer["error"]["requestId"], request_id);
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
    }
    let huge = "x".repeat(2 * 1024 * 1024);
    let too_big = api
        .client
        .post(format!("{}/v1/integrations", api.server.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    let unknown = api
        .call_expecting(404, Method::GET, "/v1/nothing-here", Some(&token), None)
        .await;
    assert_eq!(unknown.body["error"]["code"], "not_found");
    api.call_expecting(405, Method::PUT, "/v1/runs", Some(&token), None)
        .await;
    let bad_query = api
        .call_expecting(400, Method::GET, "/v1/runs?limit=lots", Some(&token), None)
        .await;
    assert_eq!(bad_query.body["error"]["code"], "invalid_query");
    api.call_expecting(
        400,
        Method::GET,
        "/v1/runs?status=sleeping",
        Some(&token),
        None,
    )
    .await;
}

#[each_backend]
async fn a_broken_filter_expr_is_refused_with_422_and_nothing_is_saved(backend: TestDb) {
    let name = backend.name;
    let api = Api::start(backend).await;
    let (_, token) = api.tenant("alpha").await;
    let account_id = api.fake.account_id();
    let create = |filter: &str| json!({"definitionId": "cloudflare", "userInput": {"accountId": account_id, "filterExpr": filter}});
    let listed = || async {
        api.call(Method::GET, "/v1/integrations", Some(&token), None)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .clone()
    };
    // A syntax error, and an expression that parses but names a variable runs do not have.
    for (filter, problem) in [
        ("payload.status ==", "at 1:"),
        ("paylod.status == 'accepted'", "paylod"),
    ] {
        let refused = api
            .call_expecting(
                422,
                Method::POST,
                "/v1/integrations",
                Some(&token),
                Some(create(filter)),
            )
            .await;
        assert_eq!(refused.body["error"]["code"], "setup_failed", "{name}");
        assert_eq!(
            refused.body["error"]["step"], "validate_user_input",
            "{name}"
        );
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("`filterExpr` is not a valid CEL filter") && message.contains(problem),
            "{name}: {message}"
        );
    }
    assert!(
        listed().await.is_empty(),
        "{name}: a refused integration was saved"
    );

    let created = api
        .call_expecting(
            201,
            Method::POST,
            "/v1/integrations",
            Some(&token),
            Some(create("payload.status == 'accepted'")),
        )
        .await;
    let id = created.body["id"].as_str().unwrap();
    let update = api
            .call_expecting(
                422,
                Method::PATCH,
                &format!("/v1/integrations/{id}"),
                Some(&token),
                Some(json!({"userInput": {"accountId": account_id, "filterExpr": "payload.status = 'x'"}})),
            )
            .await;
    assert!(
        update.text.contains("filterExpr"),
        "{name}: {}",
        update.text
    );
    let kept = api
        .call(
            Method::GET,
            &format!("/v1/integrations/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        kept.body["userInput"]["filterExpr"], "payload.status == 'accepted'",
        "{name}: {}",
        kept.text
    );
    assert_eq!(listed().await.len(), 1, "{name}");
}

#[tokio::test]
async fn connect_run_and_read_without_leaking_the_credential() {
    let api = Api::start(tributary_store::testing::sqlite().await).await;
    let (_, token) = api.tenant("alpha").await;
    let ids = api.connected_integration(&token).await;

    let integration = api
        .call(
            Method::GET,
            &format!("/v1/integrations/{}", ids.integration),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(integration.body["status"], "connected");
    assert_eq!(integration.body["connection"], "CloudflareApiToken");
    assert!(!integration.text.contains(CF_TOKEN));

    let health = api
        .call_expecting(
            200,
            Method::POST,
            &format!(
                "/v1/integrations/{}/operations/HealthCheck/runs",
                ids.integration
            ),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(health.body["run"]["status"], "succeeded");
    assert!(health.body["output"].is_object());
    api.call_expecting(
        422,
        Method::POST,
        &format!(
            "/v1/integrations/{}/operations/HealthCheck/runs",
            ids.integration
        ),
        Some(&token),
        Some(json!({"config": {"unexpected": true}})),
    )
    .await;

    // Paging walks every record exactly once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/records/DirectoryAccount?limit=3&cursor={cursor}"),
            None => "/v1/records/DirectoryAccount?limit=3".to_owned(),
        };
        let page = api.call(Method::GET, &path, Some(&token), None).await;
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    seen.dedup();
    assert_eq!(seen.len(), 7);
    let record = api
        .call_expecting(
            200,
            Method::GET,
            &format!("/v1/records/DirectoryAccount/{}", ids.record),
            Some(&token),
            None,
        )
        .await;
    assert!(record.body["rawPayload"].is_object() && record.body["fields"].is_object());

    let runs = api
        .call(
            Method::GET,
            &format!(
                "/v1/runs?integrationId={}&status=succeeded",
                ids.integration
            ),
            Some(&token),
            None,
        )
        .await;
    assert!(
        runs.body["items"].as_array().unwrap().len() >= 2,
        "{}",
        runs.text
    );

    let mapped = api
        .call_expecting(
            200,
            Method::POST,
            "/v1/mappings/evaluate",
            Some(&token),
            Some(json!({"definitionId": "cloudflare", "model": "DirectoryAccount", "payload": record.body["rawPayload"]})),
        )
        .await;
    assert_eq!(mapped.body["passedFilter"], true);
    assert_eq!(mapped.body["fields"], record.body["fields"]);

    // The catalog lists every visible built-in definition: one whose entry did not fit the
    // API's shape would silently drop out of it.
    let catalog = api
        .call(Method::GET, "/v1/definitions", Some(&token), None)
        .await;
    let listed: Vec<&str> = catalog
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["spec"]["id"].as_str().unwrap())
        .collect();
    let visible: Vec<String> = registry(&CatalogConfig::default())
        .unwrap()
        .definitions()
        .filter(|d| d.definition.spec.visible)
        .map(|d| d.id().to_string())
        .collect();
    for id in &visible {
        assert!(listed.contains(&id.as_str()), "{id} is missing: {listed:?}");
    }
    assert!(listed.contains(&"aws_security_hub") && listed.contains(&"cloudflare"));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let api = Api::start(tributary_store::testing::sqlite().await).await;
    let document = api
        .call_expecting(200, Method::GET, "/openapi.json", None, None)
        .await;
    assert_eq!(document.body["openapi"], "3.1.0");
    for (method, path, _) in route_table() {
        let operation = &document.body["paths"][path][method.as_str().to_ascii_lowercase()];
        assert!(operation.is_object(), "{method} {path} is not documented");
    }
    // Every reference resolves.
    let text = document.text;
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = &reference[..reference.find('"').unwrap()];
        let name = target.strip_prefix("#/components/schemas/").expect(target);
        assert!(
            document.body["components"]["schemas"][name].is_object(),
            "{target} is dangling"
        );
    }
}

/// A NUL character is refused with a 400 in the API's error shape, naming where it was, on
/// every backend (PostgreSQL cannot store it; SQLite would): in JSON values and keys at any
/// depth, query parameters and path segments.
#[each_backend]
async fn nul_characters_are_refused_with_a_400_naming_the_field(backend: TestDb) {
    let name = backend.name;
    let api = Api::start(backend).await;
    let (_, token) = api.tenant("alpha").await;
    let account = api.fake.account_id().to_owned();
    let cases = [
        (
            Method::POST,
            "/v1/tenants".to_owned(),
            Some(json!({"name": "acme\u{0}"})),
            "invalid_body",
            "`/name`",
        ),
        (
            Method::POST,
            "/v1/integrations".to_owned(),
            Some(
                json!({"definitionId": "cloudflare", "name": "a\u{0}b", "userInput": {"accountId": account}}),
            ),
            "invalid_body",
            "`/name`",
        ),
        (
            Method::POST,
            "/v1/integrations".to_owned(),
            Some(json!({"definitionId": "cloudflare", "userInput": {"accountId": "\u{0}"}})),
            "invalid_body",
            "`/userInput/accountId`",
        ),
        (
            Method::POST,
            "/v1/integrations".to_owned(),
            Some(
                json!({"definitionId": "cloudflare", "userInput": {"accountId": account, "x\u{0}": [1]}}),
            ),
            "invalid_body",
            "a key of `/userInput`",
        ),
        (
            Method::GET,
            "/v1/records/DirectoryAccount?cursor=%00".to_owned(),
            None,
            "invalid_query",
            "`cursor`",
        ),
        (
            Method::GET,
            "/v1/records/DirectoryAccount?integrationId=a%00b&limit=5".to_owned(),
            None,
            "invalid_query",
            "`integrationId`",
        ),
        (
            Method::GET,
            "/v1/runs?operation=Sync%00".to_owned(),
            None,
            "invalid_query",
            "`operation`",
        ),
        (
            Method::GET,
            "/v1/runs/run%00id".to_owned(),
            None,
            "invalid_path",
            "`run_id`",
        ),
    ];
    for (method, path, body, code, place) in cases {
        let caller = if path == "/v1/tenants" {
            &api.operator
        } else {
            &token
        };
        let answer = api.call(method.clone(), &path, Some(caller), body).await;
        assert_eq!(
            answer.status, 400,
            "{name}: {method} {path}: {}",
            answer.text
        );
        assert_eq!(answer.body["error"]["code"], code, "{name}: {path}");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("NUL"), "{name}: {path}: {message}");
        assert!(message.contains(place), "{name}: {path}: {message}");
        assert!(answer.body["error"]["requestId"].is_string());
    }
    // Nothing was stored, and the same requests without NUL still work.
    let tenants = api
        .call_expecting(200, Method::GET, "/v1/tenants", Some(&api.operator), None)
        .await;
    assert!(!tenants.text.contains("acme"), "{name}: {}", tenants.text);
    api.call_expecting(
        200,
        Method::GET,
        "/v1/runs?operation=Sync",
        Some(&token),
        None,
    )
    .await;
}

/// Every list route's `limit` takes exactly the range the OpenAPI document states: its bounds
/// answer, one past either answers 400 `invalid_query` (nothing is clamped silently).
#[tokio::test]
async fn list_limits_agree_with_the_openapi_document() {
    let api = Api::start(tributary_store::testing::sqlite().await).await;
    let (tenant, token) = api.tenant("alpha").await;
    let document = api.call(Method::GET, "/openapi.json", None, None).await;
    let ids = Ids {
        integration: "no-integration".into(),
        run: "no-run".into(),
        record: "no-record".into(),
    };
    let mut checked = Vec::new();
    for (path, item) in document.body["paths"].as_object().unwrap() {
        let Some(parameters) = item["get"]["parameters"].as_array() else {
            continue;
        };
        let Some(limit) = parameters
            .iter()
            .find(|p| p["in"] == "query" && p["name"] == "limit")
        else {
            continue;
        };
        let schema = &limit["schema"];
        let (Some(min), Some(max)) = (schema["minimum"].as_i64(), schema["maximum"].as_i64())
        else {
            panic!("{path}: `limit` has no bounds: {schema}");
        };
        assert_eq!(schema["type"], "integer", "{path}");
        let url = concrete(path, &tenant, &ids);
        for (value, accepted) in [(min - 1, false), (min, true), (max, true), (max + 1, false)] {
            let answer = api
                .call(
                    Method::GET,
                    &format!("{url}?limit={value}"),
                    Some(&token),
                    None,
                )
                .await;
            if accepted {
                // Unknown ids answer 404; what matters is that the limit passed.
                assert!(
                    answer.status == 200 || answer.status == 404,
                    "{path} limit={value}: {}",
                    answer.text
                );
            } else {
                assert_eq!(answer.status, 400, "{path} limit={value}: {}", answer.text);
                assert_eq!(answer.body["error"]["code"], "invalid_query", "{path}");
                let message = answer.body["error"]["message"].as_str().unwrap();
                assert!(message.contains("limit"), "{path}: {message}");
            }
        }
        checked.push(path.clone());
    }
    for expected in [
        "/v1/integrations",
        "/v1/runs",
        "/v1/records/{model}",
        "/v1/integrations/{integration_id}/webhook-endpoints/{endpoint_id}/deliveries",
    ] {
        assert!(
            checked.iter().any(|p| p == expected),
            "{expected} not checked: {checked:?}"
        );
    }
}

/// `GET /v1/integrations` pages like every other list: `{"items", "nextCursor"}` in id order,
/// the cursor absent on the last page, with the definition filter applied across pages.
#[each_backend]
async fn integrations_page_like_every_list(backend: TestDb) {
    let name = backend.name;
    let api = Api::start(backend).await;
    let (_, token) = api.tenant("alpha").await;
    let mut created = Vec::new();
    for n in 0..3 {
        let answer = api
            .create_integration(&token, Some(format!("cf {n}")))
            .await;
        created.push(answer["id"].as_str().unwrap().to_owned());
    }
    created.sort();
    let first = api
        .call_expecting(
            200,
            Method::GET,
            "/v1/integrations?limit=2",
            Some(&token),
            None,
        )
        .await;
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first.body), created[..2], "{name}");
    let cursor = first.body["nextCursor"].as_str().expect("a second page");
    let second = api
        .call(
            Method::GET,
            &format!("/v1/integrations?limit=2&cursor={cursor}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(ids(&second.body), created[2..], "{name}");
    assert!(
        second.body.get("nextCursor").is_none(),
        "{name}: {}",
        second.text
    );
    let other = api
        .call(
            Method::GET,
            "/v1/integrations?definitionId=okta",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(other.body, json!({"items": []}), "{name}");
}
