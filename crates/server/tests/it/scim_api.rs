//! The SCIM endpoint through the whole server on SQLite and PostgreSQL: created and rotated over
//! the REST API, served at `/scim/v2/{endpoint}` with the server's layers (request ids), and
//! described in the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tributary_providers::{CatalogConfig, registry};
use tributary_server::ServerConfig;

use crate::support::TestServer;
use tributary_store::testing::{TestDb, each_backend};

async fn call(
    client: &reqwest::Client,
    method: Method,
    url: impl reqwest::IntoUrl,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null);
    (status, body, headers)
}

#[each_backend]
async fn scim_endpoint_lifecycle_over_the_rest_api(db: TestDb) {
    let server = TestServer::start(
        db,
        registry(&CatalogConfig::default()).unwrap(),
        ServerConfig::default(),
    )
    .await;
    let token = server.tenant_with_token("acme", "ci").await.token;
    let base = &server.base;
    let client = reqwest::Client::new();
    // A REST API call with the tenant's token.
    let rest =
        |method, path: &str, body| call(&client, method, format!("{base}/v1{path}"), &token, body);

    let (status, integration, _) = rest(
        Method::POST,
        "/integrations",
        Some(json!({"definitionId": "scim", "name": "Okta"})),
    )
    .await;
    assert_eq!(status, 201, "{integration}");
    let id = integration["id"].as_str().unwrap();
    let endpoint = format!("/integrations/{id}/scim-endpoint");
    let (status, _, _) = rest(Method::GET, &endpoint, None).await;
    assert_eq!(status, 404);
    let (status, created, _) = rest(Method::POST, &endpoint, None).await;
    assert_eq!(status, 201, "{created}");
    let scim = created["baseUrl"].as_str().unwrap().to_owned();
    assert!(scim.starts_with(&format!("{base}/scim/v2/scim_")));
    let secret = created["secret"].as_str().unwrap().to_owned();
    let (status, again, _) = rest(Method::POST, &endpoint, None).await;
    assert_eq!(status, 409, "{again}");
    let (status, shown, _) = rest(Method::GET, &endpoint, None).await;
    assert_eq!(status, 200);
    assert!(shown.get("secret").is_none());
    assert!(!shown.to_string().contains(&secret));
    let (_, integration, _) = rest(Method::GET, &format!("/integrations/{id}"), None).await;
    assert_eq!(integration["status"], "connected");

    // A non-SCIM integration has no SCIM endpoint.
    let (_, other, _) = rest(
            Method::POST,
            "/integrations",
            Some(json!({"definitionId": "cloudflare", "userInput": {"accountId": "0123456789abcdef0123456789abcdef"}})),
        )
        .await;
    let other = other["id"].as_str().unwrap();
    let (status, _, _) = rest(
        Method::POST,
        &format!("/integrations/{other}/scim-endpoint"),
        None,
    )
    .await;
    assert_eq!(status, 422);

    // The SCIM server, through the server's layers.
    let users = format!("{scim}/Users");
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a@example.com"});
    let (status, user, headers) = call(&client, Method::POST, &users, &secret, Some(user)).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(headers["content-type"], "application/scim+json");
    assert!(headers.contains_key("x-request-id"));
    // The API token is not a SCIM secret.
    let (status, _, _) = call(&client, Method::GET, &users, &token, None).await;
    assert_eq!(status, 401);

    let rotate = format!("{endpoint}/rotate-secret");
    let (status, rotated, _) = rest(Method::POST, &rotate, None).await;
    assert_eq!(status, 200);
    assert!(rotated["previousSecretValidUntil"].as_i64().unwrap() > 0);
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    for secret in [secret.as_str(), new_secret] {
        let (status, list, _) = call(&client, Method::GET, &users, secret, None).await;
        assert_eq!(status, 200);
        assert_eq!(list["totalResults"], 1);
    }

    let openapi = format!("{base}/openapi.json");
    let (_, document, _) = call(&client, Method::GET, openapi, &token, None).await;
    assert!(document["paths"]["/scim/v2/{endpoint}/Users/{id}"]["patch"].is_object());
    assert!(
        document["paths"]["/v1/integrations/{integration_id}/scim-endpoint/rotate-secret"]["post"]
            .is_object()
    );
}
