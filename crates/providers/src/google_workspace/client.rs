//! The Admin SDK Directory API client: Google's endpoints (overridable by the operator, validated),
//! the bearer token of whichever connection is bound, and the Directory API's budget.
//!
//! - OAuth: the stored access token. The runtime refreshes it through the connection's refresh
//!   hook before it expires; a refreshed credential has a new version, so a new client is built.
//! - Service account: the stored credential is the key, so the client mints its own token with
//!   the JWT-bearer grant (`sub` = the impersonated admin) and re-mints it before it expires,
//!   however long the pooled client lives.

use std::time::Duration;

use serde::Deserialize;
use tributary_core::{
    ClientRef, ClientRegistration, CredentialBindings, IntegrationContext, OperationError, Secret,
    StableName,
};
use tributary_providerkit::{
    AuthHeader, ClientAuth, HostPolicy, HttpProfile, OAuthClient, ProviderHttp, RateLimit,
    RateLimitScope, ScopeKey, ServiceAccountKey, TokenCache, TokenSet, Url, decode_stored,
    google_service_account_assertion, operator_config_url, required_secret, required_text,
    unix_now,
};

use super::{GoogleWorkspaceOAuth, GoogleWorkspaceOperatorConfig, GoogleWorkspaceServiceAccount};
use crate::registration::client_built_with;

pub const DEFAULT_API_URL: &str = "https://admin.googleapis.com";
pub const DEFAULT_AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// Read-only scopes: users, groups, group members, and the customer (for the health check and
/// metadata: `customers.get` accepts no narrower scope).
pub const SCOPES: [&str; 4] = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
    "https://www.googleapis.com/auth/admin.directory.customer.readonly",
];

/// The Directory API's default quota is 2,400 queries per minute per user per project; stay well
/// under it so other tools of the same project keep working. Retries honour `Retry-After`.
pub(super) const BUDGET: RateLimit = RateLimit::per_minute(1200)
    .burst(40)
    .scope(RateLimitScope::Integration);

/// Service-account tokens are re-minted this long before they expire (as the runtime does for
/// stored tokens).
const MINT_MARGIN: Duration = Duration::from_secs(300);

pub const GOOGLE_DIRECTORY: ClientRef<GoogleDirectoryApi> = ClientRef::new("google_directory");

/// A client for one customer's directory, shared by every operation of an integration.
pub struct GoogleDirectoryApi {
    http: ProviderHttp,
    bearer: Bearer,
}

enum Bearer {
    /// The access token of the OAuth credential.
    Stored(Secret),
    /// Minted from a service-account key for the impersonated admin.
    Delegated(Box<Delegation>),
}

struct Delegation {
    tokens: TokenCache,
    token_client: OAuthClient,
    key: ServiceAccountKey,
    subject: String,
}

impl GoogleDirectoryApi {
    /// The HTTP client with a current bearer token. Call it per page: a service-account token is
    /// re-minted when it nears expiry.
    pub(super) async fn http(&self) -> Result<ProviderHttp, OperationError> {
        let token = match &self.bearer {
            Bearer::Stored(token) => token.clone(),
            Bearer::Delegated(delegation) => {
                let Delegation {
                    tokens,
                    token_client,
                    key,
                    subject,
                } = delegation.as_ref();
                tokens
                    .get_or_mint(|| async {
                        let assertion = google_service_account_assertion(
                            key,
                            &SCOPES,
                            Some(subject),
                            unix_now(),
                        )?;
                        token_client.jwt_bearer(&assertion).await
                    })
                    .await?
            }
        };
        Ok(self.http.with_auth(AuthHeader::bearer(token)))
    }
}

/// Google's endpoints after validation.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    pub api_url: Url,
    pub authorize_url: String,
    pub token_url: String,
}

impl GoogleWorkspaceOperatorConfig {
    pub(super) fn endpoints(&self) -> Result<Endpoints, OperationError> {
        let policy = HostPolicy::operator(self.allow_loopback_urls);
        let checked = |value: &Option<String>, default: &str, field: &str| {
            operator_config_url(
                "google_workspace",
                field,
                value.as_deref().unwrap_or(default),
                policy,
            )
        };
        Ok(Endpoints {
            api_url: checked(&self.api_url, DEFAULT_API_URL, "apiUrl")?,
            authorize_url: checked(&self.authorize_url, DEFAULT_AUTHORIZE_URL, "authorizeUrl")?
                .into(),
            token_url: checked(&self.token_url, DEFAULT_TOKEN_URL, "tokenUrl")?.into(),
        })
    }
}

pub(super) fn http_stack() -> Result<ProviderHttp, OperationError> {
    ProviderHttp::new(HttpProfile::operator_hosts("google_workspace", BUDGET))
}

/// The operator's OAuth client at Google's token endpoint (`client_secret_post`).
pub(super) fn oauth_client(
    operator: &GoogleWorkspaceOperatorConfig,
) -> Result<OAuthClient, OperationError> {
    let client_id = required_text(
        operator.client_id.as_deref(),
        "the google_workspace operator config has no `clientId`; the OAuth connection needs an \
         OAuth client (or connect with a service account)",
    )?;
    let secret = required_secret(
        operator.client_secret.as_ref(),
        "the google_workspace operator config has no `clientSecret`",
    )?;
    let endpoints = operator.endpoints()?;
    Ok(
        OAuthClient::new(&http_stack()?, client_id, endpoints.token_url)
            .authorize_url(endpoints.authorize_url)
            .client_auth(ClientAuth::Post(secret)),
    )
}

/// The `client_id` of a service-account key: the numeric id an admin authorises for domain-wide
/// delegation.
#[derive(Deserialize)]
struct KeyClientId {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// Checks the impersonated admin's email: it goes into a signed assertion, not a URL, but a typo
/// is better reported here than as Google's `invalid_grant`.
fn admin_email(value: &str) -> Result<String, OperationError> {
    let email = value.trim();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !email.contains(char::is_whitespace) =>
        {
            Ok(email.to_owned())
        }
        _ => Err(OperationError::config(
            "adminEmail must be the email address of a Workspace administrator",
        )),
    }
}

pub(super) fn registration(operator: GoogleWorkspaceOperatorConfig) -> ClientRegistration {
    client_built_with(
        GOOGLE_DIRECTORY,
        "Admin SDK Directory API",
        [
            GoogleWorkspaceOAuth::NAME,
            GoogleWorkspaceServiceAccount::NAME,
        ],
        operator,
        build,
    )
}

/// Builds the client from whichever connection's credential is bound.
pub(super) fn build(
    integration: &IntegrationContext,
    credentials: &CredentialBindings,
    operator: &GoogleWorkspaceOperatorConfig,
) -> Result<GoogleDirectoryApi, OperationError> {
    let endpoints = operator.endpoints()?;
    let stack = http_stack()?.scoped(&ScopeKey::integration(integration));
    let http = stack.with_base_url(endpoints.api_url.clone());
    if let Some(raw) = credentials.raw(GoogleWorkspaceOAuth::NAME) {
        let tokens: TokenSet = decode_stored(raw, "Google sign-in")?;
        return Ok(GoogleDirectoryApi {
            http,
            bearer: Bearer::Stored(tokens.access_token),
        });
    }
    let account = credentials.require::<GoogleWorkspaceServiceAccount>()?;
    let subject = admin_email(&account.admin_email)?;
    let mut key = ServiceAccountKey::from_json(&account.service_account_key)?;
    let ids: KeyClientId = serde_json::from_str(account.service_account_key.expose())
        .map_err(|_| OperationError::config("serviceAccountKey is not a JSON key file"))?;
    if ids
        .kind
        .as_deref()
        .is_some_and(|kind| kind != "service_account")
    {
        return Err(OperationError::config(
            "serviceAccountKey must be a service account's key (\"type\": \"service_account\")",
        ));
    }
    // The assertion is addressed to the token endpoint we post it to. A pasted key's own
    // `token_uri` is not followed: it would let a key file send our request anywhere.
    key.token_uri = endpoints.token_url.clone();
    key.signer()?;
    let token_client = OAuthClient::new(
        &stack,
        ids.client_id.unwrap_or_else(|| key.client_email.clone()),
        endpoints.token_url,
    );
    Ok(GoogleDirectoryApi {
        http,
        bearer: Bearer::Delegated(Box::new(Delegation {
            tokens: TokenCache::new(MINT_MARGIN),
            token_client,
            key,
            subject,
        })),
    })
}
