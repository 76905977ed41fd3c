//! The SCIM endpoint through the whole server on SQLite and PostgreSQL: created and rotated over
//! the REST API, served at `/scim/v2/{endpoint}` with the server's layers (request ids), and
//! described in the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tributary_providers::{CatalogConfig, registry};
use tributary_server::ServerConfig;
use tributary_store::testing::backends;

use crate::support::TestServer;

async fn call(
    client: &reqwest::Client,
    method: Method,
    url: &str,
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

#[tokio::test]
async fn scim_endpoint_lifecycle_over_the_rest_api() {
    for db in backends("scim_api").await {
        let server = TestServer::start(
            db,
            registry(&CatalogConfig::default()).unwrap(),
            ServerConfig::default(),
        )
        .await;
        let token = server.tenant_with_token("acme", "ci").await.token;
        let base = &server.base;
        let client = reqwest::Client::new();
        let v1 = |path: &str| format!("{base}/v1{path}");

        let (status, integration, _) = call(
            &client,
            Method::POST,
            &v1("/integrations"),
            &token,
            Some(json!({"definitionId": "scim", "name": "Okta"})),
        )
        .await;
        assert_eq!(status, 201, "{integration}");
        let id = integration["id"].as_str().unwrap();
        let (status, _, _) = call(
            &client,
            Method::GET,
            &v1(&format!("/integrations/{id}/scim-endpoint")),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 404);
        let (status, created, _) = call(
            &client,
            Method::POST,
            &v1(&format!("/integrations/{id}/scim-endpoint")),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let scim = created["baseUrl"].as_str().unwrap().to_owned();
        assert!(scim.starts_with(&format!("{base}/scim/v2/scim_")));
        let secret = created["secret"].as_str().unwrap().to_owned();
        let (status, again, _) = call(
            &client,
            Method::POST,
            &v1(&format!("/integrations/{id}/scim-endpoint")),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 409, "{again}");
        let (status, shown, _) = call(
            &client,
            Method::GET,
            &v1(&format!("/integrations/{id}/scim-endpoint")),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert!(shown.get("secret").is_none());
        assert!(!shown.to_string().contains(&secret));
        let (_, integration, _) = call(
            &client,
            Method::GET,
            &v1(&format!("/integrations/{id}")),
            &token,
            None,
        )
        .await;
        assert_eq!(integration["status"], "connected");

        // A non-SCIM integration has no SCIM endpoint.
        let (_, other, _) = call(
            &client,
            Method::POST,
            &v1("/integrations"),
            &token,
            Some(json!({"definitionId": "cloudflare", "userInput": {"accountId": "0123456789abcdef0123456789abcdef"}})),
        )
        .await;
        let (status, _, _) = call(
            &client,
            Method::POST,
            &v1(&format!(
                "/integrations/{}/scim-endpoint",
                other["id"].as_str().unwrap()
            )),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 422);

        // The SCIM server, through the server's layers.
        let (status, user, headers) = call(&client, Method::POST, &format!("{scim}/Users"), &secret, Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a@example.com"}))).await;
        assert_eq!(status, 201, "{user}");
        assert_eq!(headers["content-type"], "application/scim+json");
        assert!(headers.contains_key("x-request-id"));
        // The API token is not a SCIM secret.
        let (status, _, _) =
            call(&client, Method::GET, &format!("{scim}/Users"), &token, None).await;
        assert_eq!(status, 401);

        let (status, rotated, _) = call(
            &client,
            Method::POST,
            &v1(&format!("/integrations/{id}/scim-endpoint/rotate-secret")),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert!(rotated["previousSecretValidUntil"].as_i64().unwrap() > 0);
        let new_secret = rotated["secret"].as_str().unwrap();
        assert_ne!(new_secret, secret);
        for secret in [secret.as_str(), new_secret] {
            let (status, list, _) =
                call(&client, Method::GET, &format!("{scim}/Users"), secret, None).await;
            assert_eq!(status, 200);
            assert_eq!(list["totalResults"], 1);
        }

        let (_, document, _) = call(
            &client,
            Method::GET,
            &format!("{base}/openapi.json"),
            &token,
            None,
        )
        .await;
        assert!(document["paths"]["/scim/v2/{endpoint}/Users/{id}"]["patch"].is_object());
        assert!(document["paths"]["/v1/integrations/{integration_id}/scim-endpoint/rotate-secret"]["post"].is_object());
    }
}
