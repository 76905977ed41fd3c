//! The Microsoft identity platform's client credentials grant for a service principal, with a
//! client secret or a certificate. A certificate signs a `private_key_jwt` client assertion
//! (RS256) whose header names the certificate by its thumbprints (`x5t`, SHA-1, which is how
//! Entra ID looks the key up, and `x5t#S256`). Errors are classified by their `AADSTS` code into
//! messages that say what to fix, and never quote the secret, the key or the assertion.
//! The `AADSTS` codes and the id checks are the shared ones of `crate::microsoft`.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tributary_core::{OperationError, RefreshRequest, Secret};
use tributary_providerkit::{ProviderHttp, StatusCode, TokenSet, random_token, unix_now};

use super::{AzureClientCertificate, AzureClientSecret, client::Endpoints};
use crate::microsoft::{self, Registration, check_guid, check_tenant};

const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A certificate's private key and the thumbprints that name it.
#[derive(Clone)]
pub struct CertificateKey {
    key: EncodingKey,
    /// Base64url SHA-1 of the certificate's DER.
    pub x5t: String,
    /// Base64url SHA-256 of the certificate's DER.
    pub x5t_s256: String,
}

impl std::fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateKey")
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

/// The first PEM block labelled one of `labels`: its label and full text.
fn pem_block<'a>(text: &'a str, labels: &[&'static str]) -> Option<(&'static str, &'a str)> {
    for label in labels {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        if let Some(start) = text.find(&begin)
            && let Some(stop) = text[start..].find(&end)
        {
            let block = &text[start..start + stop + end.len()];
            return Some((label, block));
        }
    }
    None
}

impl CertificateKey {
    /// Reads the certificate (`-----BEGIN CERTIFICATE-----`) and the RSA private key (PKCS#8
    /// `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`), from `certificate` alone or from
    /// `certificate` and `private_key`. Errors name the field, never its content.
    pub fn from_pem(
        certificate: &Secret,
        private_key: Option<&Secret>,
    ) -> Result<Self, OperationError> {
        let text = certificate.expose();
        let (_, cert_block) = pem_block(text, &["CERTIFICATE"]).ok_or_else(|| {
            OperationError::config(
                "certificate: no `-----BEGIN CERTIFICATE-----` block; paste the PEM certificate together with its private key",
            )
        })?;
        let body: String = cert_block
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = STANDARD
            .decode(body)
            .ok()
            .filter(|der| der.first() == Some(&0x30))
            .ok_or_else(|| {
                OperationError::config("certificate: the certificate block is not valid base64 DER")
            })?;
        let key_labels = ["PRIVATE KEY", "RSA PRIVATE KEY"];
        let (field, key_block) = match private_key.filter(|key| !key.expose().trim().is_empty()) {
            Some(key) => ("privateKey", pem_block(key.expose(), &key_labels)),
            None => ("certificate", pem_block(text, &key_labels)),
        };
        let (_, key_block) = key_block.ok_or_else(|| {
            if pem_block(text, &["ENCRYPTED PRIVATE KEY"]).is_some() {
                OperationError::config(format!(
                    "{field}: the private key is encrypted; export it without a passphrase (openssl pkey -in key.pem -out plain.pem)"
                ))
            } else {
                OperationError::config(format!(
                    "{field}: no `-----BEGIN PRIVATE KEY-----` block; the certificate's RSA private key is needed to sign token requests"
                ))
            }
        })?;
        let key = EncodingKey::from_rsa_pem(key_block.as_bytes()).map_err(|_| {
            OperationError::config(format!(
                "{field}: the private key is not a valid PEM RSA private key"
            ))
        })?;
        let signer = Self {
            key,
            x5t: URL_SAFE_NO_PAD.encode(Sha1::digest(&der)),
            x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
        };
        // A key whose parts do not belong together fails here rather than at Entra.
        signer
            .assertion("check", "https://login.microsoftonline.com/", 0)
            .map_err(|_| OperationError::config(format!("{field}: the private key cannot sign")))?;
        Ok(signer)
    }

    /// A client assertion for `client_id` at `token_url`: RS256, `x5t` and `x5t#S256` in the
    /// header, `aud` the token endpoint, `iss` = `sub` = the client id, a fresh `jti`, valid ten
    /// minutes (Entra accepts up to ten minutes of skew around `nbf`/`exp`).
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        now: i64,
    ) -> Result<Secret, OperationError> {
        let mut header = Header::new(Algorithm::RS256);
        header.x5t = Some(self.x5t.clone());
        header.x5t_s256 = Some(self.x5t_s256.clone());
        let claims = json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": random_token(16),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(Secret::new)
            .map_err(|_| {
                OperationError::config(
                    "signing the client assertion with the certificate's key failed",
                )
            })
    }
}

/// How the principal proves itself at the token endpoint.
enum ClientProof {
    Secret(Secret),
    Certificate(CertificateKey),
}

/// The tenant, client and proof of a stored credential of either slot.
struct Principal {
    tenant_id: String,
    client_id: String,
    proof: ClientProof,
    /// What the tenant typed, stored back with the token.
    typed: Value,
}

fn principal(credential: &Value) -> Result<Principal, OperationError> {
    if credential.get("certificate").is_some() {
        let cert = AzureClientCertificate::deserialize(credential).map_err(|_| {
            OperationError::config(
                "the certificate credential needs tenantId, clientId and certificate",
            )
        })?;
        let tenant_id = check_tenant(&cert.tenant_id)?;
        let client_id = check_guid("clientId", &cert.client_id)?;
        let key = CertificateKey::from_pem(&cert.certificate, cert.private_key.as_ref())?;
        let mut typed = json!({
            "tenantId": tenant_id, "clientId": client_id, "certificate": cert.certificate,
        });
        if let Some(private_key) = cert.private_key {
            typed["privateKey"] = json!(private_key);
        }
        Ok(Principal {
            tenant_id,
            client_id,
            proof: ClientProof::Certificate(key),
            typed,
        })
    } else {
        let app = AzureClientSecret::deserialize(credential).map_err(|_| {
            OperationError::config(
                "the client secret credential needs tenantId, clientId and clientSecret",
            )
        })?;
        let tenant_id = check_tenant(&app.tenant_id)?;
        let client_id = check_guid("clientId", &app.client_id)?;
        if app.client_secret.expose().trim().is_empty() {
            return Err(OperationError::config(
                "clientSecret: the client secret is required",
            ));
        }
        let typed = json!({
            "tenantId": tenant_id, "clientId": client_id, "clientSecret": app.client_secret,
        });
        Ok(Principal {
            tenant_id,
            client_id,
            proof: ClientProof::Secret(app.client_secret),
            typed,
        })
    }
}

/// Mints an ARM access token for the stored or typed credential and returns what to store: the
/// typed fields plus the token and its `expires_at` (the runtime re-mints it when it expires
/// within its refresh margin).
pub(super) async fn mint(
    request: RefreshRequest,
    endpoints: Endpoints,
) -> Result<Value, OperationError> {
    let principal = principal(&request.credential)?;
    let http = endpoints.login_http()?;
    let token_url = format!(
        "{}/{}/oauth2/v2.0/token",
        endpoints.login.as_str().trim_end_matches('/'),
        principal.tenant_id
    );
    let tokens = client_credentials(&http, &principal, &token_url, &endpoints.scope).await?;
    let mut credential = principal.typed;
    let token = serde_json::to_value(&tokens)
        .map_err(|_| OperationError::internal("the token did not serialise"))?;
    if let (Value::Object(credential), Value::Object(token)) = (&mut credential, token) {
        credential.extend(token);
    }
    Ok(credential)
}

async fn client_credentials(
    http: &ProviderHttp,
    principal: &Principal,
    token_url: &str,
    scope: &str,
) -> Result<TokenSet, OperationError> {
    let mut form: Vec<(&str, String)> = vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", principal.client_id.clone()),
        ("scope", scope.to_owned()),
    ];
    let secret = match &principal.proof {
        ClientProof::Secret(secret) => {
            form.push(("client_secret", secret.expose().to_owned()));
            secret.clone()
        }
        ClientProof::Certificate(key) => {
            let assertion = key.assertion(&principal.client_id, token_url, unix_now())?;
            form.push(("client_assertion_type", CLIENT_ASSERTION_TYPE.into()));
            form.push(("client_assertion", assertion.expose().to_owned()));
            assertion
        }
    };
    let response = http
        .post(token_url)
        .without_auth()
        .no_redirects()
        .redact(&secret)
        .accept_status(400)
        .accept_status(401)
        .header("accept", "application/json")
        .form(form.iter().map(|(k, v)| (*k, v.as_str())))
        .send()
        .await?;
    let body: Value = response.json().unwrap_or(Value::Null);
    if response.status() != StatusCode::OK || body.get("access_token").is_none() {
        return Err(classify_token_error(
            response.status(),
            &body,
            &[secret.expose()],
        ));
    }
    TokenSet::from_token_response(&body, unix_now())
}

/// The error of a refused token request, by its `AADSTS` code: what is wrong and what to do,
/// plus Entra's first sentence (without its trace and correlation ids). `secrets` are cut out.
/// The principal is the tenant's own, so a refused secret asks the tenant to reconnect.
pub fn classify_token_error(status: StatusCode, body: &Value, secrets: &[&str]) -> OperationError {
    microsoft::classify_token_error(status, body, secrets, Registration::Tenant)
}
