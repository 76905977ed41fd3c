//! Private keys pasted as JSON Web Keys sign exactly as their PEM form does.

use serde_json::{Value, json};
use tributary_core::{ErrorKind, Secret};
use tributary_providerkit::JwtSigner;

const PEM: &str = include_str!("../../../testkit/keys/client-rsa.pem");
const JWK: &str = include_str!("../../../testkit/keys/client-rsa.jwk.json");

#[test]
fn a_jwk_signs_like_its_pem_and_keeps_its_key_id() {
    let claims = json!({"iss": "0oa-service-app", "aud": "https://acme.okta.com/oauth2/v1/token", "exp": 2_000_000_000});
    let from_jwk = JwtSigner::from_pasted_rsa_key(&Secret::new(JWK)).unwrap();
    assert_eq!(from_jwk.key_id(), Some("tributary-testkit-client"));
    let from_pem = JwtSigner::from_pasted_rsa_key(&Secret::new(PEM))
        .unwrap()
        .with_key_id("tributary-testkit-client");
    // RS256 (PKCS#1 v1.5) is deterministic: the same key signs the same bytes.
    assert_eq!(
        from_jwk.sign(&claims).unwrap().expose(),
        from_pem.sign(&claims).unwrap().expose()
    );
}

#[test]
fn a_broken_jwk_is_a_config_error_that_does_not_quote_it() {
    let mut jwk: Value = serde_json::from_str(JWK).unwrap();
    let d = jwk["d"].as_str().unwrap().to_owned();
    jwk.as_object_mut().unwrap().remove("qi");
    let missing = JwtSigner::from_rsa_jwk(&Secret::new(jwk.to_string())).unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Config);
    assert!(!missing.message.contains(&d[..20]), "{}", missing.message);

    let public_only = json!({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]});
    assert!(JwtSigner::from_rsa_jwk(&Secret::new(public_only.to_string())).is_err());
    assert!(JwtSigner::from_pasted_rsa_key(&Secret::new("{not json")).is_err());
    assert!(JwtSigner::from_pasted_rsa_key(&Secret::new("not a key")).is_err());
}
