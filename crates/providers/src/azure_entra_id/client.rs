//! Microsoft Graph with an app-only token of the consented tenant: the endpoints (overridable by
//! the operator for national clouds and tests, validated), the app registration's OAuth client,
//! the AADSTS error codes in words a user can act on, and the budget.

use serde::Deserialize;
use serde_json::Value;
use tributary_core::{
    ClientBuildRequest, ClientRef, ClientRegistration, CredentialBindings, ErrorKind,
    IntegrationContext, OperationError, StableName,
};
use tributary_providerkit::{
    AuthHeader, ClientAuth, HostPolicy, HttpProfile, OAuthClient, ProviderHttp, RateLimit,
    RateLimitScope, TokenSet, Url, validate_base_url,
};

use super::{EntraAdminConsent, EntraOperatorConfig};

pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
/// The app-only scope: every application permission the tenant consented to.
pub(super) const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Graph's directory reads are limited per app and tenant (thousands of requests per 10 seconds
/// for large tenants); one integration is one tenant, and 429s are waited out by the kit with
/// `Retry-After`.
pub(super) const BUDGET: RateLimit = RateLimit::per_second(20)
    .burst(40)
    .scope(RateLimitScope::Integration);

pub const ENTRA_GRAPH: ClientRef<EntraGraph> = ClientRef::new("entra_graph");

/// Graph (`<graph>/v1.0`) as the app in the consented tenant.
pub struct EntraGraph {
    pub(super) http: ProviderHttp,
}

/// The endpoints after validation.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    /// `<login>`, for the authority `<login>/<tenant>` and the issuer `<login>/<tid>/v2.0`.
    pub login_url: String,
    /// `<graph>/v1.0`.
    pub graph_api: Url,
    pub public_only: bool,
}

/// Whether `value` is a GUID (`8-4-4-4-12` hex digits), as tenant ids are.
pub(super) fn is_guid(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(part, len)| part.len() == len && part.chars().all(|c| c.is_ascii_hexdigit()))
}

impl EntraOperatorConfig {
    pub(super) fn endpoints(&self) -> Result<Endpoints, OperationError> {
        let policy = if self.allow_loopback_urls {
            HostPolicy::loopback_for_tests()
        } else {
            HostPolicy::public_https()
        };
        let checked = |value: &Option<String>, default: &str, field: &str| {
            validate_base_url(value.as_deref().unwrap_or(default), policy).map_err(|err| {
                OperationError::config(format!(
                    "azure_entra_id operator config `{field}`: {}",
                    err.message
                ))
            })
        };
        let login = checked(&self.login_url, DEFAULT_LOGIN_URL, "loginUrl")?;
        let graph = checked(&self.graph_url, DEFAULT_GRAPH_URL, "graphUrl")?;
        let graph_api = Url::parse(&format!("{}/v1.0", graph.as_str().trim_end_matches('/')))
            .map_err(|_| OperationError::config("the Microsoft Graph URL is not valid"))?;
        Ok(Endpoints {
            login_url: login.as_str().trim_end_matches('/').to_owned(),
            graph_api,
            public_only: !self.allow_loopback_urls,
        })
    }

    /// The app registration's id, or a config error naming the missing setting.
    pub(super) fn client_id(&self) -> Result<&str, OperationError> {
        self.client_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                OperationError::config(
                    "the azure_entra_id operator config has no `clientId` (the app \
                     registration's Application (client) ID)",
                )
            })
    }
}

pub(super) fn http_stack(endpoints: &Endpoints) -> Result<ProviderHttp, OperationError> {
    ProviderHttp::new(
        HttpProfile::new("azure_entra_id")
            .rate_limit(BUDGET)
            .public_addresses_only(endpoints.public_only),
    )
}

/// The app registration at the Microsoft identity platform, for `authority` (`organizations`
/// for the consent sign-in, the tenant id for app-only tokens), authenticating with
/// `client_secret_post`.
pub(super) fn oauth_client(
    operator: &EntraOperatorConfig,
    authority: &str,
) -> Result<OAuthClient, OperationError> {
    let client_id = operator.client_id()?;
    let secret = operator
        .client_secret
        .clone()
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| {
            OperationError::config("the azure_entra_id operator config has no `clientSecret`")
        })?;
    let endpoints = operator.endpoints()?;
    let base = format!("{}/{authority}/oauth2/v2.0", endpoints.login_url);
    Ok(
        OAuthClient::new(&http_stack(&endpoints)?, client_id, format!("{base}/token"))
            .authorize_url(format!("{base}/authorize"))
            .client_auth(ClientAuth::Post(secret)),
    )
}

/// An app-only Graph token for `tenant_id` (client-credentials grant), with the identity
/// platform's refusals explained.
pub(super) async fn app_token(
    operator: &EntraOperatorConfig,
    tenant_id: &str,
) -> Result<TokenSet, OperationError> {
    if !is_guid(tenant_id) {
        return Err(OperationError::config(
            "the stored tenant id is not a GUID; connect the integration again",
        ));
    }
    oauth_client(operator, tenant_id)?
        .client_credentials(&[GRAPH_DEFAULT_SCOPE])
        .await
        .map_err(classify_aadsts)
}

/// Microsoft's token errors carry an `AADSTS<code>` in their description. The codes a user or
/// operator can act on get a kind and a hint; others keep the identity platform's words.
pub fn classify_aadsts(error: OperationError) -> OperationError {
    let message = error.message.clone();
    let hint = |code: &str| message.contains(&format!("AADSTS{code}"));
    let (kind, text) = if hint("7000215") || hint("7000222") {
        (
            ErrorKind::Config,
            "the app registration's client secret is wrong or expired (AADSTS7000215/7000222): \
             the operator must set a current one",
        )
    } else if hint("700016") {
        (
            ErrorKind::Auth,
            "the app is not known in this tenant (AADSTS700016): an administrator must grant \
             admin consent again",
        )
    } else if hint("65001") || hint("650056") {
        (
            ErrorKind::Auth,
            "the tenant has not consented to the app's permissions (AADSTS65001): an \
             administrator must grant admin consent",
        )
    } else if hint("90002") || hint("90072") {
        (
            ErrorKind::Config,
            "the tenant was not found (AADSTS90002): it may have been deleted or moved to \
             another cloud",
        )
    } else if hint("7000112") || hint("500014") {
        (
            ErrorKind::Auth,
            "the app is disabled in this tenant (AADSTS7000112): an administrator must enable it \
             under Enterprise applications",
        )
    } else {
        return error;
    };
    OperationError::new(kind, text)
}

/// The stored consent: the tenant and its current app-only token.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct StoredConsent {
    #[serde(rename = "tenantId")]
    pub tenant_id: String,
    #[serde(flatten)]
    pub token: TokenSet,
}

/// The stored credential: the app-only token's fields (its `expires_at` at the top, where the
/// runtime looks to refresh it in time) and the tenant it is for.
pub(super) fn stored_value(tenant_id: &str, token: &TokenSet) -> Result<Value, OperationError> {
    let mut value = serde_json::to_value(token)
        .map_err(|_| OperationError::internal("the Microsoft token did not serialise"))?;
    value["tenantId"] = Value::String(tenant_id.to_owned());
    Ok(value)
}

pub(super) fn stored(credentials: &CredentialBindings) -> Result<StoredConsent, OperationError> {
    let raw: &Value = credentials
        .raw(EntraAdminConsent::NAME)
        .ok_or_else(|| OperationError::config("no Azure Entra ID admin consent is connected"))?;
    StoredConsent::deserialize(raw).map_err(|_| {
        OperationError::config(
            "the stored Azure Entra ID consent has the wrong shape; connect the integration again",
        )
    })
}

pub(super) fn registration(operator: EntraOperatorConfig) -> ClientRegistration {
    ClientRegistration::new(
        ENTRA_GRAPH,
        "Microsoft Graph (app-only)",
        [EntraAdminConsent::NAME],
        move |request: ClientBuildRequest| {
            let operator = operator.clone();
            async move { build(&request.integration, &request.credentials, &operator) }
        },
    )
}

/// Graph as the app, with the stored app-only token of the consented tenant.
pub(super) fn build(
    integration: &IntegrationContext,
    credentials: &CredentialBindings,
    operator: &EntraOperatorConfig,
) -> Result<EntraGraph, OperationError> {
    let endpoints = operator.endpoints()?;
    let token = stored(credentials)?.token.access_token;
    let http = http_stack(&endpoints)?
        .scoped_for(integration, &token)
        .with_base_url(endpoints.graph_api)
        .with_auth(AuthHeader::bearer(token));
    Ok(EntraGraph { http })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_default_to_the_public_cloud_and_refuse_plain_http() {
        let default = EntraOperatorConfig::default().endpoints().unwrap();
        assert_eq!(default.login_url, "https://login.microsoftonline.com");
        assert_eq!(
            default.graph_api.as_str(),
            "https://graph.microsoft.com/v1.0"
        );
        let plain = EntraOperatorConfig {
            graph_url: Some("http://127.0.0.1:8080".into()),
            ..Default::default()
        };
        assert!(plain.endpoints().is_err());
    }

    #[test]
    fn aadsts_codes_are_explained_with_their_kind() {
        let wrong_secret = classify_aadsts(OperationError::auth(
            "token endpoint: invalid_client: AADSTS7000215: Invalid client secret provided.",
        ));
        assert_eq!(wrong_secret.kind, ErrorKind::Config);
        assert!(wrong_secret.message.contains("client secret"));
        let no_consent = classify_aadsts(OperationError::auth(
            "invalid_grant: AADSTS65001: The user or administrator has not consented",
        ));
        assert_eq!(no_consent.kind, ErrorKind::Auth);
        assert!(no_consent.message.contains("admin consent"));
        let other = classify_aadsts(OperationError::provider("boom"));
        assert_eq!(other.kind, ErrorKind::Provider);
        assert_eq!(other.message, "boom");
    }

    #[test]
    fn tenant_ids_are_guids() {
        assert!(is_guid("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        assert!(!is_guid("contoso.onmicrosoft.com"));
    }
}
