//! OAuth flows against a loopback token endpoint, PKCE, and JWT assertions checked with the
//! public key.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tributary_core::{ErrorKind, Secret};
use tributary_providerkit::{
    AuthorizationRequest, ClientAssertionClaims, ClientAuth, GithubAppClaims, JwtSigner,
    OAuthClient, ServiceAccountClaims, ServiceAccountKey, TokenSet, Url, client_assertion,
    github_app_jwt, github_installation_token, google_service_account_assertion, pkce_challenge,
    pkce_verifier, unix_now,
};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{body_string_contains, header, method, path},
};

use crate::support::{KEY_A, KEY_A_PUBLIC, KEY_B, http};

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn form_value(request: &Request, name: &str) -> Option<String> {
    form(request)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn decode<T: serde::de::DeserializeOwned>(jwt: &str, audience: Option<&str>) -> T {
    let key = DecodingKey::from_rsa_pem(KEY_A_PUBLIC.as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    match audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    validation.required_spec_claims = HashSet::from(["exp".to_owned()]);
    jsonwebtoken::decode::<T>(jwt, &key, &validation)
        .expect("the JWT verifies")
        .claims
}

#[test]
fn pkce_matches_the_rfc_7636_test_vector() {
    let verifier = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_eq!(
        pkce_challenge(&verifier),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    let fresh = pkce_verifier();
    assert_eq!(pkce_challenge(&fresh).len(), 43);
}

#[test]
fn authorization_url_carries_state_pkce_nonce_and_extras() {
    let server_http = tributary_providerkit::ProviderHttp::new(crate::support::profile()).unwrap();
    let client = OAuthClient::new(&server_http, "client-1", "https://login.example.com/token")
        .authorize_url("https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize");
    let request = AuthorizationRequest {
        redirect_uri: "https://app.example.com/v1/auth/callback".into(),
        state: "st-1".into(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        nonce: Some("n-1".into()),
        scopes: vec!["openid".into(), "offline_access".into()],
        extra: vec![],
    }
    .param("prompt", "admin_consent");
    let url = Url::parse(&client.authorization_url(&request).unwrap()).unwrap();
    assert_eq!(url.path(), "/organizations/oauth2/v2.0/authorize");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("response_type"), Some("code"));
    assert_eq!(get("client_id"), Some("client-1"));
    assert_eq!(
        get("redirect_uri"),
        Some("https://app.example.com/v1/auth/callback")
    );
    assert_eq!(get("state"), Some("st-1"));
    assert_eq!(get("code_challenge_method"), Some("S256"));
    assert_eq!(
        get("code_challenge"),
        Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    );
    assert_eq!(get("nonce"), Some("n-1"));
    assert_eq!(get("scope"), Some("openid offline_access"));
    assert_eq!(get("prompt"), Some("admin_consent"));
}

#[tokio::test]
async fn code_exchange_sends_the_verifier_and_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        // base64("client-1:s3cret")
        .and(header("authorization", "Basic Y2xpZW50LTE6czNjcmV0"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=the-code"))
        .and(body_string_contains(
            "code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-1", "refresh_token": "rt-1", "expires_in": 3600,
            "token_type": "Bearer", "scope": "openid offline_access", "id_token": "a.b.c"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = OAuthClient::new(
        &http(&server),
        "client-1",
        format!("{}/token", server.uri()),
    )
    .client_auth(ClientAuth::Basic(Secret::new("s3cret")));
    let verifier = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    let token = client
        .exchange_code("the-code", "https://app/cb", Some(&verifier))
        .await
        .unwrap();
    assert_eq!(token.access_token.expose(), "at-1");
    assert_eq!(token.refresh_token.as_ref().unwrap().expose(), "rt-1");
    assert!((token.expires_at.unwrap() - (unix_now() + 3600)).abs() <= 5);
    assert_eq!(token.scopes, ["openid", "offline_access"]);
    assert_eq!(token.id_token.as_ref().unwrap().expose(), "a.b.c");
}

/// A confidential client of `server`'s token endpoint and a credential holding a refresh token.
fn refreshing_client(server: &MockServer) -> (OAuthClient, TokenSet) {
    let client = OAuthClient::new(&http(server), "client-1", format!("{}/token", server.uri()))
        .client_auth(ClientAuth::Post(Secret::new("client-secret-value")));
    let current = TokenSet {
        refresh_token: Some(Secret::new("rt-old-secret")),
        ..TokenSet::from_access_token(Secret::new("at-old"))
    };
    (client, current)
}

#[tokio::test]
async fn invalid_grant_is_an_auth_error_without_secrets() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "Token has been expired or revoked: rt-old-secret"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (client, current) = refreshing_client(&server);
    let err = client.refresh(&current, &[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(err.message.contains("expired or revoked"), "{err}");
    for secret in ["rt-old-secret", "client-secret-value"] {
        assert!(
            !err.message.contains(secret) && !format!("{err:?}").contains(secret),
            "{err:?}"
        );
    }
}

/// RFC 6749 §6: a refresh may not ask for more than was granted. A server answering
/// `invalid_scope` to a refresh means the grant no longer covers the scopes: the user must consent
/// again (auth), whereas the same code at the first exchange is the app's configuration.
#[tokio::test]
async fn invalid_scope_on_a_refresh_is_an_auth_error_and_elsewhere_a_config_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_scope", "error_description": "AADSTS70011: The provided value for the input parameter 'scope' is not valid."
        })))
        .mount(&server)
        .await;
    let (client, current) = refreshing_client(&server);
    let refused = client.refresh(&current, &["User.Read"]).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Auth, "{refused}");
    assert!(refused.message.contains("AADSTS70011"), "{refused}");
    let at_first = client.client_credentials(&["User.Read"]).await.unwrap_err();
    assert_eq!(at_first.kind, ErrorKind::Config, "{at_first}");
}

#[tokio::test]
async fn errors_answered_with_200_are_classified() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."
        })))
        .mount(&server)
        .await;
    let client = OAuthClient::new(
        &http(&server),
        "client-1",
        format!("{}/token", server.uri()),
    );
    let err = client
        .exchange_code("c", "https://app/cb", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("incorrect or expired"), "{err}");
}

#[tokio::test]
async fn refresh_keeps_the_refresh_token_when_none_is_returned() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "at-2", "expires_in": 3599})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = OAuthClient::new(
        &http(&server),
        "client-1",
        format!("{}/token", server.uri()),
    )
    .client_auth(ClientAuth::Post(Secret::new("s")));
    let current = TokenSet {
        refresh_token: Some(Secret::new("rt-1")),
        scopes: vec!["a".into()],
        ..TokenSet::from_access_token(Secret::new("at-1"))
    };
    let fresh = client.refresh(&current, &[]).await.unwrap();
    assert_eq!(fresh.access_token.expose(), "at-2");
    assert_eq!(fresh.refresh_token.as_ref().unwrap().expose(), "rt-1");
    assert_eq!(fresh.scopes, ["a"]);
    assert!(!fresh.expires_within(std::time::Duration::from_secs(600)));
}

#[tokio::test]
async fn refresh_takes_a_rotated_refresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-2", "refresh_token": "rt-2", "expires_in": 60
        })))
        .mount(&server)
        .await;
    let client = OAuthClient::new(
        &http(&server),
        "client-1",
        format!("{}/token", server.uri()),
    );
    let current = TokenSet {
        refresh_token: Some(Secret::new("rt-1")),
        ..TokenSet::from_access_token(Secret::new("at-1"))
    };
    let fresh = client.refresh(&current, &[]).await.unwrap();
    assert_eq!(fresh.refresh_token.as_ref().unwrap().expose(), "rt-2");
    assert!(fresh.expires_within(std::time::Duration::from_secs(120)));
}

#[tokio::test]
async fn token_endpoints_do_not_follow_redirects() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/elsewhere"))
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "stolen"})))
        .expect(0)
        .mount(&server)
        .await;
    let client = OAuthClient::new(
        &http(&server),
        "client-1",
        format!("{}/token", server.uri()),
    );
    let err = client.client_credentials(&["x"]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Provider);
}

#[tokio::test]
async fn client_credentials_with_private_key_jwt() {
    let server = MockServer::start().await;
    let token_url = format!("{}/oauth2/v1/token", server.uri());
    Mock::given(method("POST"))
        .and(path("/oauth2/v1/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains(
            "scope=okta.users.read+okta.groups.read",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "at", "expires_in": 3600, "token_type": "Bearer"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let signer = JwtSigner::from_rsa_pem(&Secret::new(KEY_A))
        .unwrap()
        .with_key_id("kid-1");
    let client = OAuthClient::new(&http(&server), "0oa-service", &token_url)
        .client_auth(ClientAuth::PrivateKeyJwt(signer));
    client
        .client_credentials(&["okta.users.read", "okta.groups.read"])
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(
        form_value(request, "client_assertion_type").as_deref(),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let assertion = form_value(request, "client_assertion").unwrap();
    let claims: ClientAssertionClaims = decode(&assertion, Some(&token_url));
    assert_eq!(claims.iss, "0oa-service");
    assert_eq!(claims.sub, "0oa-service");
    assert!(claims.exp - claims.iat <= 300);
    assert_eq!(
        jsonwebtoken::decode_header(&assertion)
            .unwrap()
            .kid
            .as_deref(),
        Some("kid-1")
    );
}

#[test]
fn google_service_account_assertion_has_subject_and_scope() {
    let key = ServiceAccountKey::from_json(&Secret::new(
        json!({
            "type": "service_account",
            "client_email": "sync@project.iam.gserviceaccount.com",
            "private_key_id": "pk-1",
            "private_key": KEY_A,
            "token_uri": "https://oauth2.googleapis.com/token"
        })
        .to_string(),
    ))
    .unwrap();
    assert!(!format!("{key:?}").contains("PRIVATE KEY"));
    let now = unix_now();
    let jwt = google_service_account_assertion(
        &key,
        &[
            "https://www.googleapis.com/auth/admin.directory.user.readonly",
            "https://www.googleapis.com/auth/admin.directory.group.readonly",
        ],
        Some("admin@example.com"),
        now,
    )
    .unwrap();
    let claims: ServiceAccountClaims =
        decode(jwt.expose(), Some("https://oauth2.googleapis.com/token"));
    assert_eq!(claims.iss, "sync@project.iam.gserviceaccount.com");
    assert_eq!(claims.sub.as_deref(), Some("admin@example.com"));
    assert_eq!(
        claims.scope,
        "https://www.googleapis.com/auth/admin.directory.user.readonly https://www.googleapis.com/auth/admin.directory.group.readonly"
    );
    assert_eq!((claims.iat, claims.exp), (now, now + 3600));
    assert_eq!(
        jsonwebtoken::decode_header(jwt.expose())
            .unwrap()
            .kid
            .as_deref(),
        Some("pk-1")
    );
}

#[tokio::test]
async fn jwt_bearer_grant_exchanges_the_assertion() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
        ))
        .and(body_string_contains("assertion=eyJ"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "ya29.x", "expires_in": 3599})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let signer = JwtSigner::from_rsa_pem(&Secret::new(KEY_A)).unwrap();
    let assertion = signer
        .sign(&json!({"iss": "x", "exp": unix_now() + 60}))
        .unwrap();
    let client = OAuthClient::new(&http(&server), "", format!("{}/token", server.uri()));
    let token = client.jwt_bearer(&assertion).await.unwrap();
    assert_eq!(token.access_token.expose(), "ya29.x");
}

#[test]
fn github_app_jwt_is_backdated_and_short_lived() {
    let signer = JwtSigner::from_rsa_pem(&Secret::new(KEY_A)).unwrap();
    let now = unix_now();
    let jwt = github_app_jwt(&signer, "123456", now).unwrap();
    let claims: GithubAppClaims = decode(jwt.expose(), None);
    assert_eq!(claims.iss, "123456");
    assert_eq!(claims.iat, now - 60);
    assert!(
        claims.exp > now && claims.exp - claims.iat <= 600,
        "{claims:?}"
    );
}

#[test]
fn a_jwt_signed_by_another_key_does_not_verify() {
    let other = JwtSigner::from_rsa_pem(&Secret::new(KEY_B)).unwrap();
    let jwt = client_assertion(&other, "c", "https://t", unix_now()).unwrap();
    let key = DecodingKey::from_rsa_pem(KEY_A_PUBLIC.as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    assert!(jsonwebtoken::decode::<Value>(jwt.expose(), &key, &validation).is_err());
}

#[test]
fn bad_keys_are_config_errors_that_do_not_echo_the_key() {
    let err = JwtSigner::from_rsa_pem(&Secret::new(
        "-----BEGIN PRIVATE KEY-----\nnot-a-key-secret\n-----END PRIVATE KEY-----",
    ))
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(!err.message.contains("not-a-key-secret"));
    let err = ServiceAccountKey::from_json(&Secret::new(
        "{\"client_email\": \"x\", \"private_key\": 5, \"leak\": \"abc-secret\"}",
    ))
    .unwrap_err();
    assert!(!err.message.contains("abc-secret"));
}

#[test]
fn public_jwk_matches_the_private_key() {
    let signer = JwtSigner::from_rsa_pem(&Secret::new(KEY_A))
        .unwrap()
        .with_key_id("k1");
    let jwk = signer.public_jwk().unwrap();
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["kid"], "k1");
    assert!(jwk.get("d").is_none(), "no private part");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    let jwt = signer.sign(&json!({"exp": unix_now() + 60})).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(jwt.expose(), &key, &validation).unwrap();
}

#[tokio::test]
async fn github_installation_tokens_are_minted_with_the_app_jwt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/app/installations/4242/access_tokens"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": "ghs_installationtoken", "expires_at": "2030-07-11T22:14:10Z",
            "permissions": {"metadata": "read"}, "repository_selection": "all"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/app/installations/7/access_tokens"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&server)
        .await;
    let signer = JwtSigner::from_rsa_pem(&Secret::new(KEY_A)).unwrap();
    let token = github_installation_token(&http(&server), &signer, "123", 4242)
        .await
        .unwrap();
    assert_eq!(token.access_token.expose(), "ghs_installationtoken");
    assert_eq!(token.expires_at, Some(1_910_038_450));
    let requests = server.received_requests().await.unwrap();
    let bearer = requests[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    let claims: GithubAppClaims = decode(bearer.strip_prefix("Bearer ").unwrap(), None);
    assert_eq!(claims.iss, "123");
    let err = github_installation_token(&http(&server), &signer, "123", 7)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
}
