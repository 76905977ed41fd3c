//! Random values for auth sessions: PKCE verifiers (RFC 7636) and their S256 challenges, OAuth
//! `state` and OIDC `nonce`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use tributary_core::Secret;

/// `bytes` random bytes from the operating system's CSPRNG, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    crate::fill_random(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// A PKCE code verifier: 32 random bytes as 43 base64url characters (RFC 7636 §4.1).
pub fn pkce_verifier() -> Secret {
    Secret::new(random_token(32))
}

/// The S256 code challenge of `verifier`: `BASE64URL(SHA256(verifier))`.
pub fn pkce_challenge(verifier: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()))
}

/// A fresh `state` for an authorization request.
pub fn oauth_state() -> String {
    random_token(32)
}

/// A fresh OIDC `nonce`.
pub fn oidc_nonce() -> String {
    random_token(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_shape() {
        let verifier = pkce_verifier();
        assert_eq!(verifier.expose().len(), 43);
        assert!(
            verifier
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(verifier.expose(), pkce_verifier().expose());
    }
}
