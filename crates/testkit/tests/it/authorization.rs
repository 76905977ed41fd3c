//! The fake authorization server checks what a real one checks, exercised through the provider
//! kit's own OAuth client.

use crate::support::send;
use axum::http::{HeaderMap, HeaderValue, header};
use tributary_core::{ErrorKind, Secret};
use tributary_providerkit::{
    AuthorizationRequest, ClientAuth, HttpProfile, JwtSigner, OAuthClient, ProviderHttp,
    ServiceAccountKey, google_service_account_assertion, pkce_challenge, pkce_verifier, unix_now,
};
use tributary_testkit::{
    FakeServer,
    authorization::{
        AuthorizationPaths, BearerRefusal, CLIENT_PRIVATE_KEY_PEM, CLIENT_PUBLIC_KEY_PEM,
        ClientApp, FakeAuthorization,
    },
};

struct Fixture {
    auth: FakeAuthorization,
    server: FakeServer,
    http: ProviderHttp,
}

async fn fixture() -> Fixture {
    tributary_providerkit::install_crypto_provider();
    let auth = FakeAuthorization::new();
    let paths = AuthorizationPaths {
        authorize: "/{tenant}/authorize".into(),
        token: "/{tenant}/token".into(),
        jwks: "/keys".into(),
    };
    let server = FakeServer::start(auth.routes(&paths)).await.unwrap();
    auth.set_issuer(server.base_url());
    let http =
        ProviderHttp::new(HttpProfile::new("authorization-test").public_addresses_only(false))
            .unwrap();
    Fixture { auth, server, http }
}

impl Fixture {
    fn token_url(&self) -> String {
        format!("{}/t1/token", self.server.base_url())
    }

    fn client(&self, client_id: &str, auth: ClientAuth) -> OAuthClient {
        OAuthClient::new(&self.http, client_id, self.token_url())
            .authorize_url(format!("{}/t1/authorize", self.server.base_url()))
            .client_auth(auth)
    }

    /// Follows the authorize redirect like a browser and returns the callback's query.
    async fn authorize(&self, url: &str) -> url::Url {
        let response = send(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(url),
        )
        .await;
        assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
        url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
    }
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn bearer(token: &Secret) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", token.expose())).unwrap(),
    );
    headers
}

#[tokio::test]
async fn the_code_flow_checks_pkce_and_single_use_codes_and_refreshes() {
    let f = fixture().await;
    f.auth
        .register_client(ClientApp::confidential("web-app", "s3cret:with/odd+chars"));
    f.auth.set_callback_params(&[("tenant", "tid-1")]);
    f.auth
        .set_id_token_claims(serde_json::json!({"tid": "tid-1"}));
    let client = f.client(
        "web-app",
        ClientAuth::Basic(Secret::new("s3cret:with/odd+chars")),
    );
    let verifier = pkce_verifier();
    let request = AuthorizationRequest {
        redirect_uri: "http://127.0.0.1:9/callback".into(),
        state: "state-1".into(),
        code_challenge: Some(pkce_challenge(&verifier)),
        nonce: Some("nonce-1".into()),
        scopes: vec!["openid".into(), "offline_access".into()],
        extra: Vec::new(),
    };
    let callback = f
        .authorize(&client.authorization_url(&request).unwrap())
        .await;
    assert_eq!(param(&callback, "state").as_deref(), Some("state-1"));
    assert_eq!(param(&callback, "tenant").as_deref(), Some("tid-1"));
    let code = param(&callback, "code").unwrap();

    // A wrong verifier is refused, and the attempt consumes the code.
    let wrong = client
        .exchange_code(&code, &request.redirect_uri, Some(&Secret::new("wrong")))
        .await
        .unwrap_err();
    assert_eq!(wrong.kind, ErrorKind::Auth);
    let again = client
        .exchange_code(&code, &request.redirect_uri, Some(&verifier))
        .await
        .unwrap_err();
    assert_eq!(again.kind, ErrorKind::Auth);

    let callback = f
        .authorize(&client.authorization_url(&request).unwrap())
        .await;
    let tokens = client
        .exchange_code(
            &param(&callback, "code").unwrap(),
            &request.redirect_uri,
            Some(&verifier),
        )
        .await
        .unwrap();
    let id_token = tokens
        .id_token
        .clone()
        .expect("openid scope brings an id token");
    let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode(id_token.expose())
        .unwrap()
        .claims;
    assert_eq!(claims["tid"], "tid-1");
    assert_eq!(claims["nonce"], "nonce-1");
    assert_eq!(claims["aud"], "web-app");
    assert!(f.auth.bearer(&bearer(&tokens.access_token)).is_ok());

    f.auth.expire_access_tokens();
    assert_eq!(
        f.auth.bearer(&bearer(&tokens.access_token)),
        Err(BearerRefusal::Expired)
    );
    let refreshed = client.refresh(&tokens, &[]).await.unwrap();
    assert!(f.auth.bearer(&bearer(&refreshed.access_token)).is_ok());
    assert_eq!(f.auth.grants("refresh_token"), 1);

    f.auth.revoke_refresh_tokens();
    let revoked = client.refresh(&tokens, &[]).await.unwrap_err();
    assert_eq!(revoked.kind, ErrorKind::Auth);
    assert!(
        !revoked
            .to_string()
            .contains(tokens.refresh_token.unwrap().expose())
    );
}

#[tokio::test]
async fn client_credentials_with_a_secret_or_a_signed_assertion() {
    let f = fixture().await;
    f.auth
        .register_client(ClientApp::confidential("daemon", "daemon-secret"));
    f.auth
        .register_client(ClientApp::with_key("service-app", CLIENT_PUBLIC_KEY_PEM));

    let by_secret = f.client("daemon", ClientAuth::Post(Secret::new("daemon-secret")));
    let token = by_secret
        .client_credentials(&["okta.users.read"])
        .await
        .unwrap();
    assert!(f.auth.bearer(&bearer(&token.access_token)).is_ok());
    // invalid_client: the app registration (an operator's setting) is wrong.
    let wrong = f.client("daemon", ClientAuth::Post(Secret::new("nope")));
    assert_eq!(
        wrong.client_credentials(&[]).await.unwrap_err().kind,
        ErrorKind::Config
    );

    let signer = JwtSigner::from_rsa_pem(&Secret::new(CLIENT_PRIVATE_KEY_PEM)).unwrap();
    let by_key = f.client("service-app", ClientAuth::PrivateKeyJwt(signer));
    let token = by_key
        .client_credentials(&["okta.users.read"])
        .await
        .unwrap();
    let grant = f.auth.bearer(&bearer(&token.access_token)).unwrap();
    assert_eq!(grant.client_id, "service-app");
    assert_eq!(grant.scope, "okta.users.read");

    // An assertion signed by another key is refused.
    let other =
        JwtSigner::from_rsa_pem(&Secret::new(tributary_testkit::keys::ISSUER_RSA_PEM)).unwrap();
    let impostor = f.client("service-app", ClientAuth::PrivateKeyJwt(other));
    assert_eq!(
        impostor.client_credentials(&[]).await.unwrap_err().kind,
        ErrorKind::Config
    );
}

#[tokio::test]
async fn service_account_assertions_are_verified_and_delegate_to_their_subject() {
    let f = fixture().await;
    let email = "sync@project.iam.gserviceaccount.com";
    f.auth
        .register_service_account(email, CLIENT_PUBLIC_KEY_PEM);
    let key_json = serde_json::json!({
        "type": "service_account",
        "client_email": email,
        "private_key": CLIENT_PRIVATE_KEY_PEM,
        "private_key_id": "k1",
        "token_uri": f.token_url(),
    });
    let key = ServiceAccountKey::from_json(&Secret::new(key_json.to_string())).unwrap();
    let client = OAuthClient::new(&f.http, email, f.token_url());
    let assertion = google_service_account_assertion(
        &key,
        &["https://www.googleapis.com/auth/admin.directory.user.readonly"],
        Some("admin@example.com"),
        unix_now(),
    )
    .unwrap();
    let token = client.jwt_bearer(&assertion).await.unwrap();
    let grant = f.auth.bearer(&bearer(&token.access_token)).unwrap();
    assert_eq!(grant.subject.as_deref(), Some("admin@example.com"));

    // Expired assertions and unknown accounts are refused with invalid_grant.
    let stale = google_service_account_assertion(&key, &["x"], None, unix_now() - 7200).unwrap();
    assert_eq!(
        client.jwt_bearer(&stale).await.unwrap_err().kind,
        ErrorKind::Auth
    );
}
