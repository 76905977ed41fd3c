//! Id-token verification against a JWKS served on loopback.

use serde_json::{Value, json};
use tributary_core::{ErrorKind, Secret};
use tributary_providerkit::{IdTokenVerifier, IssuerCheck, JwtSigner, unix_now};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};

use crate::support::{KEY_A, KEY_B, http};

const CLIENT_ID: &str = "app-client-id";
const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

fn signer(pem: &str) -> JwtSigner {
    JwtSigner::from_rsa_pem(&Secret::new(pem))
        .unwrap()
        .with_key_id("key-a")
}

fn claims(audience: &str, nonce: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
        "sub": "user-1", "aud": audience, "iat": now, "exp": now + 600,
        "nonce": nonce, "tid": TENANT, "email": "ada@example.com"
    })
}

/// A JWKS endpoint (with a key of another type first) that expects `fetches` requests.
async fn jwks_server(fetches: u64) -> MockServer {
    let server = MockServer::start().await;
    let jwk = signer(KEY_A).public_jwk().unwrap();
    Mock::given(path("/discovery/v2.0/keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": [
            {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "kid": "ec-key"},
            jwk
        ]})))
        .expect(fetches)
        .mount(&server)
        .await;
    server
}

fn verifier(server: &MockServer, issuer: IssuerCheck) -> IdTokenVerifier {
    IdTokenVerifier::new(
        &http(server),
        format!("{}/discovery/v2.0/keys", server.uri()),
        issuer,
        CLIENT_ID,
    )
}

/// [`verifier`] accepting Microsoft's issuer of any tenant.
fn tenant_template_verifier(server: &MockServer) -> IdTokenVerifier {
    verifier(
        server,
        IssuerCheck::TenantTemplate("https://login.microsoftonline.com/{tenantid}/v2.0".into()),
    )
}

#[tokio::test]
async fn a_good_token_verifies_and_gives_the_tenant() {
    let server = jwks_server(1).await;
    let verifier = tenant_template_verifier(&server);
    let token = signer(KEY_A).sign(&claims(CLIENT_ID, "nonce-1")).unwrap();
    let verified = verifier.verify(&token, "nonce-1").await.unwrap();
    assert_eq!(verified.tid.as_deref(), Some(TENANT));
    assert_eq!(verified.email.as_deref(), Some("ada@example.com"));
    // The key set is cached: a second verification does not fetch it again (expect(1)).
    verifier.verify(&token, "nonce-1").await.unwrap();
}

#[tokio::test]
async fn exact_issuer_is_checked() {
    let server = jwks_server(2).await;
    let token = signer(KEY_A).sign(&claims(CLIENT_ID, "n")).unwrap();
    let good = verifier(
        &server,
        IssuerCheck::Exact(format!("https://login.microsoftonline.com/{TENANT}/v2.0")),
    );
    good.verify(&token, "n").await.unwrap();
    let wrong = verifier(
        &server,
        IssuerCheck::Exact("https://accounts.google.com".into()),
    );
    let err = wrong.verify(&token, "n").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(err.message.contains("issuer"), "{err}");
}

#[tokio::test]
async fn rejections_are_auth_errors() {
    let server = jwks_server(1).await;
    let verifier = tenant_template_verifier(&server);
    let wrong_audience = signer(KEY_A).sign(&claims("someone-else", "n")).unwrap();
    let wrong_nonce = signer(KEY_A)
        .sign(&claims(CLIENT_ID, "other-nonce"))
        .unwrap();
    let bad_signature = signer(KEY_B).sign(&claims(CLIENT_ID, "n")).unwrap();
    let mut expired_claims = claims(CLIENT_ID, "n");
    expired_claims["exp"] = json!(unix_now() - 3600);
    let expired = signer(KEY_A).sign(&expired_claims).unwrap();
    let mut forged_tenant = claims(CLIENT_ID, "n");
    forged_tenant["tid"] = json!("another-tenant");
    let forged_tenant = signer(KEY_A).sign(&forged_tenant).unwrap();
    let cases = [
        (wrong_audience, "audience"),
        (wrong_nonce, "nonce"),
        (bad_signature, "signature"),
        (expired, "expired"),
        (forged_tenant, "tenant"),
        (Secret::new("not.a.jwt"), "not a JWT"),
    ];
    for (token, why) in cases {
        let err = verifier.verify(&token, "n").await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Auth, "{why}: {err}");
        assert!(err.message.contains(why), "{why}: {err}");
        assert!(!err.message.contains(token.expose()), "{err}");
    }
}

#[tokio::test]
async fn an_unknown_key_id_refetches_once_then_fails() {
    let server = MockServer::start().await;
    Mock::given(path("/keys"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"keys": [signer(KEY_A).public_jwk().unwrap()]})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let verifier = IdTokenVerifier::new(
        &http(&server),
        format!("{}/keys", server.uri()),
        IssuerCheck::Exact("x".into()),
        CLIENT_ID,
    );
    let token = JwtSigner::from_rsa_pem(&Secret::new(KEY_B))
        .unwrap()
        .with_key_id("rotated")
        .sign(&claims(CLIENT_ID, "n"))
        .unwrap();
    let err = verifier.verify(&token, "n").await.unwrap_err();
    assert!(err.message.contains("key set"), "{err}");
}
