//! A token endpoint refusing a client that is the tenant's own credential is an `Auth` error;
//! refusing the operator's registration stays a `Config` error.

use serde_json::json;
use tributary_core::{ErrorKind, Secret};
use tributary_providerkit::{ClientAuth, OAuthClient};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

use crate::support::http;

#[tokio::test]
async fn invalid_client_is_auth_for_a_tenant_credential_and_config_otherwise() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client",
            "error_description": "The client_assertion signature is invalid."
        })))
        .mount(&server)
        .await;
    let token_url = format!("{}/oauth2/v1/token", server.uri());
    let secret = Secret::new("s3cret-value-never-shown");
    let operator = OAuthClient::new(&http(&server), "0oa-app", &token_url)
        .client_auth(ClientAuth::Post(secret.clone()));
    let err = operator.client_credentials(&["x"]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config, "{}", err.message);

    let tenant = operator.tenant_credential();
    let err = tenant.client_credentials(&["x"]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{}", err.message);
    assert!(err.message.contains("401"), "{}", err.message);
    assert!(
        err.message.contains("signature is invalid"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("s3cret-value"), "{}", err.message);
}
