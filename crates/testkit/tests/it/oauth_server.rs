//! The loopback OAuth 2.0 / OIDC server behaves like a real authorization server for the
//! provider kit's OAuth client: PKCE and single-use codes, rotated and revocable refresh tokens,
//! id tokens verified against its JWKS.

use serde_json::json;
use tributary_providerkit::{
    AuthorizationRequest, HttpProfile, IdTokenVerifier, IssuerCheck, OAuthClient, ProviderHttp,
    TokenSet, install_crypto_provider, oauth_state, oidc_nonce, pkce_challenge, pkce_verifier,
    unix_now,
};
use tributary_testkit::oauth::{OAuthServer, callback_param};

const CLIENT_ID: &str = "tributary-test-client";
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/callback";

fn http() -> ProviderHttp {
    install_crypto_provider();
    ProviderHttp::new(HttpProfile::new("oauth-server-test")).unwrap()
}

fn client(server: &OAuthServer, http: &ProviderHttp) -> OAuthClient {
    OAuthClient::new(http, CLIENT_ID, server.token_url()).authorize_url(server.authorize_url())
}

/// A running server, with an HTTP client and an OAuth client of it.
struct Session {
    server: OAuthServer,
    http: ProviderHttp,
    client: OAuthClient,
}

/// A [`Session`], or none when the server cannot start outside CI (see `start_or_skip`).
async fn session() -> Option<Session> {
    let server = OAuthServer::start_or_skip().await?;
    let http = http();
    let client = client(&server, &http);
    Some(Session {
        server,
        http,
        client,
    })
}

/// The browser's round trip for an authorization request with `code_challenge` and `nonce`:
/// checks the callback's `state` and returns its `code`.
async fn authorize(
    server: &OAuthServer,
    client: &OAuthClient,
    code_challenge: Option<String>,
    nonce: &str,
) -> String {
    let state = oauth_state();
    let request = AuthorizationRequest {
        redirect_uri: REDIRECT_URI.to_owned(),
        state: state.clone(),
        code_challenge,
        nonce: Some(nonce.to_owned()),
        scopes: vec!["openid".to_owned(), "offline_access".to_owned()],
        extra: Vec::new(),
    };
    let url = client.authorization_url(&request).unwrap();
    let callback = server.authorize(&url).await;
    assert_eq!(callback_param(&callback, "state"), Some(state.as_str()));
    assert_eq!(callback_param(&callback, "error"), None, "{callback:?}");
    callback_param(&callback, "code")
        .expect("the callback has a code")
        .to_owned()
}

/// A full code flow with PKCE: the tokens of a freshly connected integration.
async fn connect(server: &OAuthServer, client: &OAuthClient) -> TokenSet {
    let verifier = pkce_verifier();
    let code = authorize(
        server,
        client,
        Some(pkce_challenge(&verifier)),
        &oidc_nonce(),
    )
    .await;
    client
        .exchange_code(&code, REDIRECT_URI, Some(&verifier))
        .await
        .unwrap()
}

fn refresh_token(tokens: &TokenSet) -> String {
    tokens
        .refresh_token
        .as_ref()
        .expect("a refresh token")
        .expose()
        .to_owned()
}

#[tokio::test]
async fn code_flow_enforces_pkce_and_single_use_codes() {
    let Some(Session { server, client, .. }) = session().await else {
        return;
    };

    let verifier = pkce_verifier();
    let code = authorize(&server, &client, Some(pkce_challenge(&verifier)), "n1").await;
    let tokens = client
        .exchange_code(&code, REDIRECT_URI, Some(&verifier))
        .await
        .unwrap();
    assert!(!tokens.access_token.expose().is_empty());
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.id_token.is_some());
    assert_eq!(tokens.scopes, ["openid", "offline_access"]);
    let expires_at = tokens.expires_at.expect("expires_in");
    assert!((expires_at - unix_now() - 3600).abs() < 60, "{expires_at}");

    let again = client
        .exchange_code(&code, REDIRECT_URI, Some(&verifier))
        .await
        .unwrap_err();
    assert_eq!(again.kind.as_str(), "auth", "{again}");
    assert!(again.message.contains("already used"), "{again}");

    let code = authorize(&server, &client, Some(pkce_challenge(&verifier)), "n2").await;
    let wrong = client
        .exchange_code(&code, REDIRECT_URI, Some(&pkce_verifier()))
        .await
        .unwrap_err();
    assert_eq!(wrong.kind.as_str(), "auth", "{wrong}");
    assert!(wrong.message.contains("code_verifier"), "{wrong}");

    let code = authorize(&server, &client, Some(pkce_challenge(&verifier)), "n3").await;
    let missing = client
        .exchange_code(&code, REDIRECT_URI, None)
        .await
        .unwrap_err();
    assert_eq!(missing.kind.as_str(), "auth", "{missing}");

    let code = authorize(&server, &client, Some(pkce_challenge(&verifier)), "n4").await;
    let elsewhere = client
        .exchange_code(&code, "http://127.0.0.1:9/other", Some(&verifier))
        .await
        .unwrap_err();
    assert_eq!(elsewhere.kind.as_str(), "auth", "{elsewhere}");
    assert!(elsewhere.message.contains("redirect_uri"), "{elsewhere}");

    let unknown = client
        .exchange_code("made-up", REDIRECT_URI, Some(&verifier))
        .await
        .unwrap_err();
    assert_eq!(unknown.kind.as_str(), "auth", "{unknown}");

    assert_eq!(
        server.stats().await,
        json!({"authorization_code": 6, "refresh_token": 0, "client_credentials": 0})
    );
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let Some(Session { server, client, .. }) = session().await else {
        return;
    };
    let first = connect(&server, &client).await;

    let second = client.refresh(&first, &[]).await.unwrap();
    assert_ne!(refresh_token(&second), refresh_token(&first));
    assert!(second.access_token.expose() != first.access_token.expose());
    assert_eq!(second.scopes, ["openid", "offline_access"]);

    let reused = client.refresh(&first, &[]).await.unwrap_err();
    assert_eq!(reused.kind.as_str(), "auth", "{reused}");
    let third = client.refresh(&second, &[]).await.unwrap();
    assert_ne!(refresh_token(&third), refresh_token(&second));

    server
        .configure(json!({"rotateRefreshTokens": false}))
        .await;
    let fourth = client.refresh(&third, &[]).await.unwrap();
    assert_eq!(refresh_token(&fourth), refresh_token(&third));
    client.refresh(&third, &[]).await.unwrap();

    assert_eq!(server.stats().await["refresh_token"], 5);
}

#[tokio::test]
async fn refresh_answers_can_omit_the_refresh_token() {
    let Some(Session { server, client, .. }) = session().await else {
        return;
    };
    let first = connect(&server, &client).await;
    server
        .configure(json!({"omitRefreshTokenOnRefresh": true, "expiresIn": 120}))
        .await;

    // The client keeps the current refresh token, which the server did not consume.
    let second = client.refresh(&first, &[]).await.unwrap();
    assert_eq!(refresh_token(&second), refresh_token(&first));
    let expires_at = second.expires_at.expect("expires_in");
    assert!((expires_at - unix_now() - 120).abs() < 60, "{expires_at}");
    client.refresh(&second, &[]).await.unwrap();
}

#[tokio::test]
async fn a_revoked_refresh_token_gets_invalid_grant() {
    let Some(Session { server, client, .. }) = session().await else {
        return;
    };
    let tokens = connect(&server, &client).await;

    server.revoke(&refresh_token(&tokens)).await;
    let err = client.refresh(&tokens, &[]).await.unwrap_err();
    assert_eq!(err.kind.as_str(), "auth", "{err}");
    assert!(err.message.contains("revoked"), "{err}");
    assert!(!err.message.contains(&refresh_token(&tokens)), "{err}");
}

#[tokio::test]
async fn concurrent_refreshes_with_one_rotating_token_race() {
    let Some(Session { server, client, .. }) = session().await else {
        return;
    };
    let tokens = connect(&server, &client).await;
    server.configure(json!({"refreshDelayMs": 300})).await;

    let (a, b) = tokio::join!(client.refresh(&tokens, &[]), client.refresh(&tokens, &[]));
    assert!(a.is_ok() != b.is_ok(), "exactly one refresh wins");
    let lost = a.err().or(b.err()).unwrap();
    assert_eq!(lost.kind.as_str(), "auth", "{lost}");
    assert_eq!(server.stats().await["refresh_token"], 2);
}

#[tokio::test]
async fn id_tokens_carry_extra_claims_and_verify_against_the_jwks() {
    let Some(Session {
        server,
        http,
        client,
    }) = session().await
    else {
        return;
    };
    server
        .configure(json!({"idTokenClaims": {"tid": "tenant-1", "email": "ada@example.com"}}))
        .await;

    let verifier = pkce_verifier();
    let nonce = oidc_nonce();
    let code = authorize(&server, &client, Some(pkce_challenge(&verifier)), &nonce).await;
    let tokens = client
        .exchange_code(&code, REDIRECT_URI, Some(&verifier))
        .await
        .unwrap();
    let id_token = tokens.id_token.as_ref().expect("an id token");

    let verifier = IdTokenVerifier::new(
        &http,
        server.jwks_url(),
        IssuerCheck::Exact(server.issuer().to_owned()),
        CLIENT_ID,
    );
    let claims = verifier.verify(id_token, &nonce).await.unwrap();
    assert_eq!(claims.tid.as_deref(), Some("tenant-1"));
    assert_eq!(claims.email.as_deref(), Some("ada@example.com"));
    assert_eq!(claims.iss, server.issuer());
    assert_eq!(claims.aud, json!(CLIENT_ID));
    assert_eq!(claims.nonce.as_deref(), Some(nonce.as_str()));

    let err = verifier.verify(id_token, &oidc_nonce()).await.unwrap_err();
    assert_eq!(err.kind.as_str(), "auth", "{err}");
    assert!(err.message.contains("nonce"), "{err}");
    let other_client = IdTokenVerifier::new(
        &http,
        server.jwks_url(),
        IssuerCheck::Exact(server.issuer().to_owned()),
        "another-client",
    );
    let err = other_client.verify(id_token, &nonce).await.unwrap_err();
    assert!(err.message.contains("audience"), "{err}");
}

#[tokio::test]
async fn id_tokens_can_carry_an_entra_like_tenant_issuer() {
    let Some(Session {
        server,
        http,
        client,
    }) = session().await
    else {
        return;
    };
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let issuer = format!("{}/{tenant}/v2.0", server.issuer());
    server
        .configure(json!({"idTokenClaims": {"tid": tenant, "iss": issuer}}))
        .await;

    let verifier = pkce_verifier();
    let nonce = oidc_nonce();
    let code = authorize(&server, &client, Some(pkce_challenge(&verifier)), &nonce).await;
    let tokens = client
        .exchange_code(&code, REDIRECT_URI, Some(&verifier))
        .await
        .unwrap();
    let template = format!("{}/{{tenantid}}/v2.0", server.issuer());
    let claims = IdTokenVerifier::new(
        &http,
        server.jwks_url(),
        IssuerCheck::TenantTemplate(template),
        CLIENT_ID,
    )
    .verify(tokens.id_token.as_ref().unwrap(), &nonce)
    .await
    .unwrap();
    assert_eq!(claims.tid.as_deref(), Some(tenant));
    assert_eq!(claims.iss, issuer);
}

#[tokio::test]
async fn codes_without_pkce_and_bad_settings() {
    let Some(Session { server, client, .. }) = session().await else {
        return;
    };

    // Without a challenge, no verifier is needed (and none is accepted).
    let code = authorize(&server, &client, None, &oidc_nonce()).await;
    client
        .exchange_code(&code, REDIRECT_URI, None)
        .await
        .unwrap();
    let code = authorize(&server, &client, None, &oidc_nonce()).await;
    let err = client
        .exchange_code(&code, REDIRECT_URI, Some(&pkce_verifier()))
        .await
        .unwrap_err();
    assert_eq!(err.kind.as_str(), "auth", "{err}");

    let discovery = reqwest::get(server.discovery_url())
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], server.issuer());
    assert_eq!(discovery["token_endpoint"], server.token_url());

    let refused = tokio::spawn(async move {
        server.configure(json!({"rotateRefreshToken": false})).await;
    })
    .await;
    assert!(refused.is_err(), "a misspelt setting is refused");
}

#[tokio::test]
async fn stopping_ends_the_process() {
    let Some(server) = OAuthServer::start_or_skip().await else {
        return;
    };
    let issuer = server.issuer().to_owned();
    server.stop().await;
    install_crypto_provider();
    assert!(reqwest::get(format!("{issuer}/jwks")).await.is_err());
}
