//! OIDC id-token verification against a JWKS: RS256 signature, issuer, audience, expiry and the
//! session's nonce. Entra's multi-tenant issuer (`.../{tenantid}/v2.0`) is checked against the
//! token's own `tid`.

use std::{collections::HashSet, sync::Arc};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    jwk::{Jwk, JwkSet},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use tributary_core::{OperationError, Secret};

use crate::ProviderHttp;

/// Which `iss` an id token must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerCheck {
    Exact(String),
    /// An issuer with a `{tenantid}` placeholder filled from the token's `tid` claim
    /// (`https://login.microsoftonline.com/{tenantid}/v2.0`).
    TenantTemplate(String),
}

/// The claims providers read from an id token; anything else is in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Value,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub nonce: Option<String>,
    /// Entra tenant id.
    #[serde(default)]
    pub tid: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Verifies id tokens of one client at one issuer. Keys are fetched on first use and again when
/// a token names a key id the cached set lacks (key rotation). Cheap to clone.
#[derive(Debug, Clone)]
pub struct IdTokenVerifier {
    http: ProviderHttp,
    jwks_url: String,
    issuer: IssuerCheck,
    audience: String,
    leeway_seconds: u64,
    keys: Arc<Mutex<Option<JwkSet>>>,
}

impl IdTokenVerifier {
    pub fn new(
        http: &ProviderHttp,
        jwks_url: impl Into<String>,
        issuer: IssuerCheck,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            http: http.clone(),
            jwks_url: jwks_url.into(),
            issuer,
            audience: audience.into(),
            leeway_seconds: 60,
            keys: Arc::new(Mutex::new(None)),
        }
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway_seconds = seconds;
        self
    }

    /// Verifies `id_token` and returns its claims. Every rejection is an `Auth` error that says
    /// which check failed and never quotes the token.
    pub async fn verify(
        &self,
        id_token: &Secret,
        expected_nonce: &str,
    ) -> Result<IdTokenClaims, OperationError> {
        let token = id_token.expose();
        let header = decode_header(token).map_err(|_| reject("it is not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(reject(&format!(
                "its algorithm {:?} is not RS256",
                header.alg
            )));
        }
        let jwk = self.key_for(header.kid.as_deref()).await?;
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|_| reject("the signing key is not usable"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = self.leeway_seconds;
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        if let IssuerCheck::Exact(issuer) = &self.issuer {
            validation.iss = Some(HashSet::from([issuer.clone()]));
        }
        let claims = decode::<IdTokenClaims>(token, &key, &validation)
            .map_err(|err| reject(&describe(err.kind())))?
            .claims;
        if let IssuerCheck::TenantTemplate(template) = &self.issuer {
            let tid = claims
                .tid
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| reject("it has no tenant id (tid)"))?;
            if claims.iss != template.replace("{tenantid}", tid) {
                return Err(reject("its issuer does not match its tenant"));
            }
        }
        if expected_nonce.is_empty() || claims.nonce.as_deref() != Some(expected_nonce) {
            return Err(reject("its nonce does not match the auth session"));
        }
        Ok(claims)
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<Jwk, OperationError> {
        let mut cached = self.keys.lock().await;
        for refetch in [false, true] {
            if refetch || cached.is_none() {
                *cached = Some(self.fetch_keys().await?);
            }
            let set = cached.as_ref().expect("fetched above");
            let found = match kid {
                Some(kid) => set.find(kid),
                // Without a kid, only an unambiguous set can be used.
                None if set.keys.len() == 1 => set.keys.first(),
                None => None,
            };
            if let Some(jwk) = found {
                return Ok(jwk.clone());
            }
            if kid.is_none() {
                break;
            }
        }
        Err(reject("its signing key is not in the issuer's key set"))
    }

    async fn fetch_keys(&self) -> Result<JwkSet, OperationError> {
        let response = self.http.get(&self.jwks_url).without_auth().send().await?;
        // Parse key by key so one key of an unsupported type does not hide the others.
        let body: Value = response.json()?;
        let keys = body
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                OperationError::provider(format!("{}: not a JWK set", response.label()))
            })?
            .iter()
            .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
            .collect();
        Ok(JwkSet { keys })
    }
}

fn reject(why: &str) -> OperationError {
    OperationError::auth(format!("the id token was rejected: {why}"))
}

fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => "its signature is invalid".into(),
        K::ExpiredSignature => "it has expired".into(),
        K::ImmatureSignature => "it is not valid yet".into(),
        K::InvalidIssuer => "its issuer is not the expected one".into(),
        K::InvalidAudience => "its audience is not this client".into(),
        K::MissingRequiredClaim(claim) => format!("it lacks the `{claim}` claim"),
        K::InvalidAlgorithm => "its algorithm does not match the key".into(),
        _ => "it is malformed".into(),
    }
}
