//! Types that hold plaintext secrets: zeroed on drop, redacted in `Debug`, never `Display`.

use std::fmt;

use zeroize::Zeroizing;

/// Secret bytes (a credential's JSON, a webhook secret, a session token).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// Serialises a JSON value (a credential) into a secret.
    pub fn from_json(value: &serde_json::Value) -> Self {
        SecretBytes::new(serde_json::to_vec(value).unwrap_or_default())
    }

    /// The plaintext. Keep its use short and never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The plaintext as text, when it is UTF-8.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Parses the plaintext as JSON.
    pub fn expose_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.0)
    }
}

impl From<&str> for SecretBytes {
    fn from(text: &str) -> Self {
        SecretBytes::new(text.as_bytes().to_vec())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {} bytes])", self.0.len())
    }
}

/// `len` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut bytes = Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut()).expect("the operating system's random source failed");
    bytes
}

/// A random 256-bit token, base64url without padding, with a readable prefix (`trb_`, `trs_`).
pub(crate) fn random_token(prefix: &str) -> SecretBytes {
    use base64::Engine as _;
    let bytes = random_bytes::<32>();
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref());
    SecretBytes::new(format!("{prefix}{encoded}").into_bytes())
}

/// The SHA-256 of a token, hex encoded: what tables store instead of the token.
pub(crate) fn token_hash(token: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(token);
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = SecretBytes::from("hunter2-very-secret");
        let shown = format!("{secret:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        let a = random_token("trb_");
        let b = random_token("trb_");
        assert_ne!(a, b);
        assert!(a.expose_str().unwrap().starts_with("trb_"));
        assert_eq!(token_hash(b"abc").len(), 64);
        assert_eq!(
            token_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
