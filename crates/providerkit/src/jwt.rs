//! RS256 JWT assertions: Google service-account assertions (with a `sub` for domain-wide
//! delegation), GitHub App JWTs, and `private_key_jwt` client assertions (Okta, Entra).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_core::{OperationError, Secret};

use crate::pkce::random_token;

/// An RSA private key that signs RS256 JWTs. `Debug` shows the key id only.
#[derive(Clone)]
pub struct JwtSigner {
    key: EncodingKey,
    key_id: Option<String>,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// Reads a PEM RSA private key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`). A key that
    /// does not parse is a `Config` error that never quotes the key.
    pub fn from_rsa_pem(pem: &Secret) -> Result<Self, OperationError> {
        let key = EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|_| {
            OperationError::config("the private key is not a valid PEM-encoded RSA private key")
        })?;
        Ok(Self { key, key_id: None })
    }

    /// Reads a private RSA key in JWK form (what Okta's admin console generates for a service
    /// app: `kty`, `n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi`, and usually `kid`, which becomes the
    /// signer's key id). A key that does not parse is a `Config` error that never quotes it.
    pub fn from_rsa_jwk(jwk: &Secret) -> Result<Self, OperationError> {
        let invalid = || {
            OperationError::config(
                "the private key is not a JSON Web Key of an RSA private key (kty RSA with n, e, d, p, q, dp, dq and qi)",
            )
        };
        let value: Value = serde_json::from_str(jwk.expose()).map_err(|_| invalid())?;
        if value.get("kty").and_then(Value::as_str) != Some("RSA") {
            return Err(invalid());
        }
        let mut integers = Vec::with_capacity(8);
        for name in ["n", "e", "d", "p", "q", "dp", "dq", "qi"] {
            let encoded = value
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(invalid)?;
            let bytes = URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('='))
                .map_err(|_| invalid())?;
            integers.push(bytes);
        }
        let key = EncodingKey::from_rsa_der(&pkcs1_private_key_der(&integers));
        let signer = Self { key, key_id: None };
        // A key whose parts do not belong together fails here rather than at the provider.
        signer.sign(&serde_json::json!({})).map_err(|_| invalid())?;
        Ok(match value.get("kid").and_then(Value::as_str) {
            Some(kid) if !kid.is_empty() => signer.with_key_id(kid),
            _ => signer,
        })
    }

    /// A private key as a user pastes it: PEM (`-----BEGIN ...`) or a JWK (`{...}`).
    pub fn from_pasted_rsa_key(key: &Secret) -> Result<Self, OperationError> {
        if key.expose().trim_start().starts_with('{') {
            Self::from_rsa_jwk(key)
        } else {
            Self::from_rsa_pem(key)
        }
    }

    /// Puts `kid` in the header of every JWT (the key id the provider knows the key by).
    pub fn with_key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }

    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// Signs `claims` with RS256.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<Secret, OperationError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, claims, &self.key)
            .map(Secret::new)
            .map_err(|_| OperationError::config("signing a JWT with the private key failed"))
    }

    /// The public key as a JWK (what a user registers with Okta or Entra for `private_key_jwt`).
    pub fn public_jwk(&self) -> Result<Value, OperationError> {
        let mut jwk = Jwk::from_encoding_key(&self.key, Algorithm::RS256)
            .map_err(|_| OperationError::config("the public key could not be derived"))?;
        jwk.common.key_id = self.key_id.clone();
        serde_json::to_value(jwk).map_err(|err| OperationError::internal(err.to_string()))
    }
}

/// DER of a PKCS#1 `RSAPrivateKey`: `SEQUENCE { version 0, n, e, d, p, q, dp, dq, qi }`, from the
/// big-endian magnitudes of a JWK.
fn pkcs1_private_key_der(integers: &[Vec<u8>]) -> Vec<u8> {
    fn length(len: usize, out: &mut Vec<u8>) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
    }
    fn integer(magnitude: &[u8], out: &mut Vec<u8>) {
        let trimmed: &[u8] = match magnitude.iter().position(|b| *b != 0) {
            Some(first) => &magnitude[first..],
            None => &[0],
        };
        // A set high bit would read as negative: prefix a zero byte.
        let pad = trimmed[0] & 0x80 != 0;
        out.push(0x02);
        length(trimmed.len() + usize::from(pad), out);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(trimmed);
    }
    let mut body = Vec::new();
    integer(&[0], &mut body);
    for magnitude in integers {
        integer(magnitude, &mut body);
    }
    let mut der = vec![0x30];
    length(body.len(), &mut der);
    der.extend(body);
    der
}

/// The fields of a Google service-account JSON key that the assertion needs. `Debug` hides the
/// private key.
#[derive(Clone, Deserialize, Serialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key: Secret,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "google_token_uri")]
    pub token_uri: String,
}

fn google_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_owned()
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Parses the JSON key file a user pasted. Errors never quote it.
    pub fn from_json(json: &Secret) -> Result<Self, OperationError> {
        serde_json::from_str(json.expose()).map_err(|_| {
            OperationError::config(
                "the service account key is not a JSON key file with client_email and private_key",
            )
        })
    }

    pub fn signer(&self) -> Result<JwtSigner, OperationError> {
        let signer = JwtSigner::from_rsa_pem(&self.private_key)?;
        Ok(match &self.private_key_id {
            Some(id) => signer.with_key_id(id.clone()),
            None => signer,
        })
    }
}

/// Claims of a Google service-account assertion (RFC 7523 JWT bearer grant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountClaims {
    pub iss: String,
    /// The user to impersonate (domain-wide delegation), e.g. a Workspace admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub scope: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// A Google service-account assertion valid for one hour from `now` (unix seconds).
pub fn google_service_account_assertion(
    key: &ServiceAccountKey,
    scopes: &[&str],
    subject: Option<&str>,
    now: i64,
) -> Result<Secret, OperationError> {
    key.signer()?.sign(&ServiceAccountClaims {
        iss: key.client_email.clone(),
        sub: subject.map(str::to_owned),
        scope: scopes.join(" "),
        aud: key.token_uri.clone(),
        iat: now,
        exp: now + 3600,
    })
}

/// Claims of a GitHub App JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubAppClaims {
    /// The app id (or client id).
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// A GitHub App JWT: `iat` 60 s in the past to absorb clock drift, `exp` 9 minutes ahead
/// (GitHub refuses more than 10).
pub fn github_app_jwt(
    signer: &JwtSigner,
    app_id: &str,
    now: i64,
) -> Result<Secret, OperationError> {
    signer.sign(&GithubAppClaims {
        iss: app_id.to_owned(),
        iat: now - 60,
        exp: now + 540,
    })
}

/// Claims of a `private_key_jwt` client assertion (RFC 7523 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAssertionClaims {
    pub iss: String,
    pub sub: String,
    /// The token endpoint.
    pub aud: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// A client assertion for `client_id` at `token_url`, valid five minutes, with a fresh `jti`.
pub fn client_assertion(
    signer: &JwtSigner,
    client_id: &str,
    token_url: &str,
    now: i64,
) -> Result<Secret, OperationError> {
    signer.sign(&ClientAssertionClaims {
        iss: client_id.to_owned(),
        sub: client_id.to_owned(),
        aud: token_url.to_owned(),
        jti: random_token(16),
        iat: now,
        exp: now + 300,
    })
}
