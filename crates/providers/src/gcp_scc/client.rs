//! The Security Command Center API client: Google's endpoints (overridable by the operator,
//! validated), the bearer token of whichever connection is bound, and the API's budget.
//!
//! - Service account key: the client signs a JWT assertion (RS256, `scope` = cloud-platform,
//!   `aud` = the token endpoint) and exchanges it with the JWT-bearer grant.
//! - Workload identity federation: the stored external token is exchanged at Google's STS
//!   (RFC 8693 token exchange) for a federated token, which calls iamcredentials
//!   `generateAccessToken` to impersonate the service account.
//!
//! Either way the access token is cached and re-minted before it expires, however long the
//! pooled client lives; a 401 on a token Google has already dropped clears the cache and the
//! request is sent once more with a fresh token.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    ClientRef, ClientRegistration, CredentialBindings, ErrorKind, IntegrationContext,
    OperationError, Secret, StableName,
};
use tributary_providerkit::{
    AuthHeader, HostPolicy, HttpProfile, OAuthClient, ProviderHttp, ProviderRequest, RateLimit,
    RateLimitScope, ScopeKey, ServiceAccountKey, TokenCache, TokenSet, Url,
    google_service_account_assertion, operator_config_url, unix_now,
};

use super::{GcpSccOperatorConfig, GcpSccServiceAccount, GcpSccUserInput, GcpSccWorkloadIdentity};
use crate::registration::client_built_with;

pub const DEFAULT_API_URL: &str = "https://securitycenter.googleapis.com";
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_STS_URL: &str = "https://sts.googleapis.com/v1/token";
pub const DEFAULT_IAM_CREDENTIALS_URL: &str = "https://iamcredentials.googleapis.com";

/// SCC accepts only the broad Cloud Platform scope; what the token can read is decided by the
/// service account's IAM roles (`roles/securitycenter.findingsViewer`).
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const SUBJECT_TOKEN_TYPES: [&str; 4] = [
    JWT_TOKEN_TYPE,
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:saml2",
    "urn:ietf:params:aws:token-type:aws4_request",
];
/// The lifetime asked of iamcredentials (its default and maximum without an org policy).
const IMPERSONATION_LIFETIME: i64 = 3600;

/// SCC's default quota for ListFindings is 1,000 requests per minute per project; stay well under
/// it. 429 `RESOURCE_EXHAUSTED` answers are retried after their `Retry-After`.
pub(super) const BUDGET: RateLimit = RateLimit::per_minute(600)
    .burst(20)
    .scope(RateLimitScope::Integration);

/// Tokens are re-minted this long before they expire.
const MINT_MARGIN: Duration = Duration::from_secs(300);

pub const GCP_SCC_API: ClientRef<GcpSccApi> = ClientRef::new("gcp_scc");

/// A client for one integration's parent (organization, folder or project).
pub struct GcpSccApi {
    http: ProviderHttp,
    tokens: TokenCache,
    minter: Minter,
    /// `organizations/1`, `folders/2` or `projects/p`.
    pub(super) parent: String,
    pub(super) location: String,
    pub(super) filter: String,
}

enum Minter {
    Key(Box<KeyMinter>),
    Federated(Box<FederatedMinter>),
}

struct KeyMinter {
    key: ServiceAccountKey,
    token_client: OAuthClient,
}

struct FederatedMinter {
    http: ProviderHttp,
    sts_url: String,
    iam_credentials_url: Url,
    audience: String,
    subject_token: Secret,
    subject_token_type: String,
    service_account_email: String,
}

impl GcpSccApi {
    async fn token(&self) -> Result<Secret, OperationError> {
        self.tokens.get_or_mint(|| self.mint()).await
    }

    async fn mint(&self) -> Result<TokenSet, OperationError> {
        match &self.minter {
            Minter::Key(minter) => {
                let assertion =
                    google_service_account_assertion(&minter.key, &[SCOPE], None, unix_now())?;
                minter
                    .token_client
                    .jwt_bearer(&assertion)
                    .await
                    .map_err(|err| {
                        if matches!(err.kind, ErrorKind::Auth | ErrorKind::Config) {
                            OperationError::auth(format!(
                                "Google refused the service account key (deleted or disabled key, \
                             or disabled account): {}",
                                err.message
                            ))
                        } else {
                            err
                        }
                    })
            }
            Minter::Federated(minter) => minter.mint().await,
        }
    }

    /// Sends a GET built by `build` with a current token; a 401 (the token was dropped before
    /// its expiry) clears the cache and tries once more with a fresh one.
    pub(super) async fn get_json(
        &self,
        build: impl Fn(&ProviderHttp) -> ProviderRequest,
    ) -> Result<Value, OperationError> {
        let authed = |token: Secret| self.http.with_auth(AuthHeader::bearer(token));
        match build(&authed(self.token().await?)).send_json().await {
            Err(err) if err.kind == ErrorKind::Auth && err.message.contains("401") => {
                self.tokens.clear().await;
                build(&authed(self.token().await?)).send_json().await
            }
            other => other,
        }
    }

    /// `<parent>/sources/-/locations/<location>/findings`: every source's findings.
    pub(super) fn findings_path(&self) -> String {
        format!(
            "/v2/{}/sources/-/locations/{}/findings",
            self.parent, self.location
        )
    }
}

impl FederatedMinter {
    async fn mint(&self) -> Result<TokenSet, OperationError> {
        let refused = |what: &str, err: OperationError| {
            if matches!(err.kind, ErrorKind::Auth | ErrorKind::Config) {
                OperationError::auth(format!("{what}: {}", err.message))
            } else {
                err
            }
        };
        let federated: Value = self
            .http
            .post(&self.sts_url)
            .without_auth()
            .form([
                ("grant_type", TOKEN_EXCHANGE),
                ("audience", self.audience.as_str()),
                ("scope", SCOPE),
                ("requested_token_type", ACCESS_TOKEN_TYPE),
                ("subject_token", self.subject_token.expose()),
                ("subject_token_type", self.subject_token_type.as_str()),
            ])
            .redact(&self.subject_token)
            .send_json()
            .await
            .map_err(|err| {
                refused(
                    "Google's Security Token Service refused the subject token (expired, wrong \
                     audience, or not trusted by the pool provider)",
                    err,
                )
            })?;
        let federated = TokenSet::from_token_response(&federated, unix_now())?;
        let mut url = self.iam_credentials_url.clone();
        url.set_path(&format!(
            "/v1/projects/-/serviceAccounts/{}:generateAccessToken",
            self.service_account_email
        ));
        let answer: Value = self
            .http
            .post(url.as_str())
            .auth(AuthHeader::bearer(federated.access_token.clone()))
            .redact(&federated.access_token)
            .json(&json!({
                "scope": [SCOPE],
                "lifetime": format!("{IMPERSONATION_LIFETIME}s"),
            }))
            .send_json()
            .await
            .map_err(|err| {
                refused(
                    "the federated identity may not impersonate the service account (it needs \
                     roles/iam.workloadIdentityUser)",
                    err,
                )
            })?;
        let token = answer
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                OperationError::provider("generateAccessToken returned no accessToken")
            })?;
        Ok(TokenSet {
            // The lifetime asked for; `expireTime` is the same instant or earlier only under an
            // org policy, which the re-mint margin covers.
            expires_at: Some(unix_now() + IMPERSONATION_LIFETIME),
            ..TokenSet::from_access_token(Secret::new(token))
        })
    }
}

/// Google's endpoints after validation.
#[derive(Debug, Clone)]
struct Endpoints {
    api_url: Url,
    token_url: String,
    sts_url: String,
    iam_credentials_url: Url,
}

impl GcpSccOperatorConfig {
    fn endpoints(&self) -> Result<Endpoints, OperationError> {
        let policy = HostPolicy::operator(self.allow_loopback_urls);
        let checked = |value: &Option<String>, default: &str, field: &str| {
            operator_config_url(
                "gcp_scc",
                field,
                value.as_deref().unwrap_or(default),
                policy,
            )
        };
        Ok(Endpoints {
            api_url: checked(&self.api_url, DEFAULT_API_URL, "apiUrl")?,
            token_url: checked(&self.token_url, DEFAULT_TOKEN_URL, "tokenUrl")?.into(),
            sts_url: checked(&self.sts_url, DEFAULT_STS_URL, "stsUrl")?.into(),
            iam_credentials_url: checked(
                &self.iam_credentials_url,
                DEFAULT_IAM_CREDENTIALS_URL,
                "iamCredentialsUrl",
            )?,
        })
    }
}

/// Reads and checks the connect form: the parent's kind and id, the location, the filter.
pub(super) fn user_input(value: &Value) -> Result<(String, String, String), OperationError> {
    let input: GcpSccUserInput = serde_json::from_value(value.clone()).map_err(|err| {
        OperationError::config(format!("the gcp_scc connect form is invalid: {err}"))
    })?;
    let parent = input.parent.trim().trim_matches('/').to_owned();
    let valid_parent = match parent.split_once('/') {
        Some(("organizations" | "folders", id)) => {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
        }
        Some(("projects", id)) => {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        }
        _ => false,
    };
    if !valid_parent {
        return Err(OperationError::config(
            "parent must be organizations/<number>, folders/<number> or projects/<project id>",
        ));
    }
    let location = input
        .location
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("global")
        .to_owned();
    if !location
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(OperationError::config(
            "location must be an SCC location such as global, us or eu",
        ));
    }
    let filter = input
        .finding_filter
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .unwrap_or("state=\"ACTIVE\"")
        .to_owned();
    Ok((parent, location, filter))
}

pub(super) fn registration(operator: GcpSccOperatorConfig) -> ClientRegistration {
    client_built_with(
        GCP_SCC_API,
        "Security Command Center API v2",
        [GcpSccServiceAccount::NAME, GcpSccWorkloadIdentity::NAME],
        operator,
        build,
    )
}

#[derive(Deserialize)]
struct KeyKind {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// The key as pasted: a JSON object, or that object JSON-encoded once more as a string (what
/// some secret stores hand out).
fn unwrap_key(raw: &Secret) -> Result<Secret, OperationError> {
    let text = raw.expose().trim();
    if text.starts_with('"') {
        let inner: String = serde_json::from_str(text)
            .map_err(|_| OperationError::config("serviceAccountKey is not a JSON key file"))?;
        return Ok(Secret::new(inner.trim()));
    }
    Ok(Secret::new(text))
}

fn service_account_email(value: &str) -> Result<String, OperationError> {
    let email = value.trim();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.ends_with(".gserviceaccount.com")
                && email
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.@_".contains(&b)) =>
        {
            Ok(email.to_owned())
        }
        _ => Err(OperationError::config(
            "serviceAccountEmail must be a service account's email (…@….iam.gserviceaccount.com)",
        )),
    }
}

/// Builds the client from whichever connection's credential is bound.
pub(super) fn build(
    integration: &IntegrationContext,
    credentials: &CredentialBindings,
    operator: &GcpSccOperatorConfig,
) -> Result<GcpSccApi, OperationError> {
    let endpoints = operator.endpoints()?;
    let (parent, location, filter) = user_input(&integration.user_input)?;
    let stack = ProviderHttp::new(HttpProfile::operator_hosts("gcp_scc", BUDGET))?
        .scoped(&ScopeKey::integration(integration));
    let http = stack.with_base_url(endpoints.api_url.clone());
    let minter = if let Some(federation) = credentials.get::<GcpSccWorkloadIdentity>()? {
        let audience = federation.audience.trim().to_owned();
        if !audience.starts_with("//iam.googleapis.com/") || !audience.contains("/providers/") {
            return Err(OperationError::config(
                "audience must be the pool provider's name: //iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>",
            ));
        }
        let subject_token_type = federation
            .subject_token_type
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(JWT_TOKEN_TYPE)
            .to_owned();
        if !SUBJECT_TOKEN_TYPES.contains(&subject_token_type.as_str()) {
            return Err(OperationError::config(format!(
                "subjectTokenType must be one of {}",
                SUBJECT_TOKEN_TYPES.join(", ")
            )));
        }
        if federation.subject_token.expose().trim().is_empty() {
            return Err(OperationError::config("subjectToken is empty"));
        }
        Minter::Federated(Box::new(FederatedMinter {
            http: stack.clone(),
            sts_url: endpoints.sts_url,
            iam_credentials_url: endpoints.iam_credentials_url,
            audience,
            subject_token: Secret::new(federation.subject_token.expose().trim()),
            subject_token_type,
            service_account_email: service_account_email(&federation.service_account_email)?,
        }))
    } else {
        let account = credentials.require::<GcpSccServiceAccount>()?;
        let raw = unwrap_key(&account.service_account_key)?;
        let kind: KeyKind = serde_json::from_str(raw.expose())
            .map_err(|_| OperationError::config("serviceAccountKey is not a JSON key file"))?;
        if kind.kind.as_deref() != Some("service_account") {
            return Err(OperationError::config(
                "serviceAccountKey must be a service account's key (\"type\": \"service_account\"); \
                 for an external_account configuration use workload identity federation",
            ));
        }
        let mut key = ServiceAccountKey::from_json(&raw)?;
        // The assertion is addressed to the token endpoint we post it to; a pasted key's own
        // `token_uri` is not followed.
        key.token_uri = endpoints.token_url.clone();
        key.signer()?;
        let token_client = OAuthClient::new(&stack, key.client_email.clone(), endpoints.token_url);
        Minter::Key(Box::new(KeyMinter { key, token_client }))
    };
    Ok(GcpSccApi {
        http,
        tokens: TokenCache::new(MINT_MARGIN),
        minter,
        parent,
        location,
        filter,
    })
}

/// The service account the credential acts as (for metadata).
pub(super) fn acting_account(
    credentials: &CredentialBindings,
) -> Result<Option<String>, OperationError> {
    if let Some(federation) = credentials.get::<GcpSccWorkloadIdentity>()? {
        return Ok(Some(federation.service_account_email.trim().to_owned()));
    }
    if let Some(account) = credentials.get::<GcpSccServiceAccount>()? {
        let raw = unwrap_key(&account.service_account_key)?;
        return Ok(ServiceAccountKey::from_json(&raw)
            .ok()
            .map(|key| key.client_email));
    }
    Ok(None)
}
