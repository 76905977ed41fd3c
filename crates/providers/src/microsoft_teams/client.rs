//! Microsoft Graph with the signed-in user's token: the endpoints (overridable by the operator for
//! national clouds and tests, validated), Graph's error bodies, and the budget.
//!
//! The runtime refreshes the stored token before it expires; a refreshed credential has a new
//! version, so the pooled client is rebuilt with the new token.

use serde::Deserialize;
use tributary_core::{
    ClientBuildRequest, ClientRef, ClientRegistration, CredentialBindings, IntegrationContext,
    OperationError, StableName,
};
use tributary_providerkit::{
    AuthHeader, ClientAuth, HostPolicy, HttpProfile, OAuthClient, ProviderHttp, RateLimit,
    RateLimitScope, ScopeKey, TokenSet, Url, validate_base_url,
};

use super::{MicrosoftTeamsOAuth, MicrosoftTeamsOperatorConfig};

pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
/// Work or school accounts of any tenant.
pub const DEFAULT_AUTHORITY: &str = "organizations";

/// Teams allows 30 requests per second per app per tenant for most calls; one integration is one
/// user of one tenant, so it keeps well under that. Throttles (429) are waited out by the kit
/// within its retry policy, honouring `Retry-After`.
pub(super) const BUDGET: RateLimit = RateLimit::per_second(10)
    .burst(20)
    .scope(RateLimitScope::Integration);

/// Posting to one channel or chat is paced on its own: Teams throttles bursts into one thread
/// harder than the tenant-wide limit.
pub(super) const POST_MESSAGE: RateLimit = RateLimit::per_second(1).burst(3);

pub const MICROSOFT_GRAPH: ClientRef<MicrosoftGraph> = ClientRef::new("microsoft_graph");

/// Graph (`<graph>/v1.0`) as the signed-in user.
pub struct MicrosoftGraph {
    pub(super) http: ProviderHttp,
    pub(super) integration: IntegrationContext,
}

impl MicrosoftGraph {
    /// The client for posts to one destination, paced by that destination's own budget.
    pub(super) fn for_destination(&self, key: &str) -> ProviderHttp {
        let scope = ScopeKey::integration(&self.integration).class(&format!("messages/{key}"));
        self.http.limited(&scope, POST_MESSAGE)
    }
}

/// The endpoints after validation.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    /// `<login>/<authority>`, the base of the authorize, token and keys endpoints.
    pub authority_url: String,
    /// `<login>`, for the issuer `<login>/<tenant id>/v2.0`.
    pub login_url: String,
    /// A single-tenant app's tenant id (lower case), when the authority is one.
    pub tenant: Option<String>,
    /// `<graph>/v1.0`.
    pub graph_api: Url,
    pub public_only: bool,
}

/// Whether `value` is a GUID (`8-4-4-4-12` hex digits).
pub(super) fn is_guid(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(part, len)| part.len() == len && part.chars().all(|c| c.is_ascii_hexdigit()))
}

impl MicrosoftTeamsOperatorConfig {
    pub(super) fn endpoints(&self) -> Result<Endpoints, OperationError> {
        let policy = if self.allow_loopback_urls {
            HostPolicy::loopback_for_tests()
        } else {
            HostPolicy::public_https()
        };
        let checked = |value: &Option<String>, default: &str, field: &str| {
            validate_base_url(value.as_deref().unwrap_or(default), policy).map_err(|err| {
                OperationError::config(format!(
                    "microsoft_teams operator config `{field}`: {}",
                    err.message
                ))
            })
        };
        let login = checked(&self.login_url, DEFAULT_LOGIN_URL, "loginUrl")?;
        let graph = checked(&self.graph_url, DEFAULT_GRAPH_URL, "graphUrl")?;
        let authority = self
            .authority
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .unwrap_or(DEFAULT_AUTHORITY)
            .to_ascii_lowercase();
        let tenant = match authority.as_str() {
            "organizations" => None,
            guid if is_guid(guid) => Some(guid.to_owned()),
            "common" | "consumers" => {
                return Err(OperationError::config(
                    "microsoft_teams operator config `authority`: personal Microsoft accounts \
                     cannot use Teams through Graph; use `organizations` or your tenant id",
                ));
            }
            _ => {
                return Err(OperationError::config(
                    "microsoft_teams operator config `authority` must be `organizations` or a \
                     Directory (tenant) ID",
                ));
            }
        };
        let login_url = login.as_str().trim_end_matches('/').to_owned();
        let graph_api = Url::parse(&format!("{}/v1.0", graph.as_str().trim_end_matches('/')))
            .map_err(|_| OperationError::config("the Microsoft Graph URL is not valid"))?;
        Ok(Endpoints {
            authority_url: format!("{login_url}/{authority}"),
            login_url,
            tenant,
            graph_api,
            public_only: !self.allow_loopback_urls,
        })
    }
}

pub(super) fn http_stack(endpoints: &Endpoints) -> Result<ProviderHttp, OperationError> {
    ProviderHttp::new(
        HttpProfile::new("microsoft_teams")
            .rate_limit(BUDGET)
            .public_addresses_only(endpoints.public_only),
    )
}

/// The operator's app registration at the Microsoft identity platform (`client_secret_post`).
pub(super) fn oauth_client(
    operator: &MicrosoftTeamsOperatorConfig,
) -> Result<OAuthClient, OperationError> {
    let client_id = operator
        .client_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            OperationError::config(
                "the microsoft_teams operator config has no `clientId` (the app registration's \
                 Application (client) ID)",
            )
        })?;
    let secret = operator
        .client_secret
        .clone()
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| {
            OperationError::config("the microsoft_teams operator config has no `clientSecret`")
        })?;
    let endpoints = operator.endpoints()?;
    Ok(OAuthClient::new(
        &http_stack(&endpoints)?,
        client_id,
        format!("{}/oauth2/v2.0/token", endpoints.authority_url),
    )
    .authorize_url(format!("{}/oauth2/v2.0/authorize", endpoints.authority_url))
    .client_auth(ClientAuth::Post(secret)))
}

/// The stored tokens of the sign-in.
pub(super) fn tokens(credentials: &CredentialBindings) -> Result<TokenSet, OperationError> {
    let raw = credentials
        .raw(MicrosoftTeamsOAuth::NAME)
        .ok_or_else(|| OperationError::config("no Microsoft sign-in is connected"))?;
    TokenSet::deserialize(raw).map_err(|_| {
        OperationError::config(
            "the stored Microsoft sign-in has the wrong shape; connect the integration again",
        )
    })
}

pub(super) fn registration(operator: MicrosoftTeamsOperatorConfig) -> ClientRegistration {
    ClientRegistration::new(
        MICROSOFT_GRAPH,
        "Microsoft Graph (delegated)",
        [MicrosoftTeamsOAuth::NAME],
        move |request: ClientBuildRequest| {
            let operator = operator.clone();
            async move { build(&request.integration, &request.credentials, &operator) }
        },
    )
}

/// Graph as the user whose tokens are bound.
pub(super) fn build(
    integration: &IntegrationContext,
    credentials: &CredentialBindings,
    operator: &MicrosoftTeamsOperatorConfig,
) -> Result<MicrosoftGraph, OperationError> {
    let endpoints = operator.endpoints()?;
    let token = tokens(credentials)?.access_token;
    let http = http_stack(&endpoints)?
        .scoped_for(integration, &token)
        .with_base_url(endpoints.graph_api)
        .with_auth(AuthHeader::bearer(token));
    Ok(MicrosoftGraph {
        http,
        integration: integration.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(authority: Option<&str>) -> MicrosoftTeamsOperatorConfig {
        MicrosoftTeamsOperatorConfig {
            authority: authority.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn authorities() {
        let default = operator(None).endpoints().unwrap();
        assert_eq!(
            default.authority_url,
            "https://login.microsoftonline.com/organizations"
        );
        assert_eq!(default.tenant, None);
        assert_eq!(
            default.graph_api.as_str(),
            "https://graph.microsoft.com/v1.0"
        );
        let single = operator(Some("72F988BF-86F1-41AF-91AB-2D7CD011DB47"))
            .endpoints()
            .unwrap();
        assert_eq!(
            single.tenant.as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        for refused in ["common", "consumers", "contoso.onmicrosoft.com/../x"] {
            assert!(operator(Some(refused)).endpoints().is_err(), "{refused}");
        }
        let plain_http = MicrosoftTeamsOperatorConfig {
            graph_url: Some("http://127.0.0.1:8080".into()),
            ..Default::default()
        };
        assert!(plain_http.endpoints().is_err());
    }

    #[test]
    fn guids() {
        assert!(is_guid("19dd6c7e-9b5a-4f2e-8f7e-0123456789ab"));
        assert!(!is_guid("19dd6c7e9b5a4f2e8f7e0123456789ab"));
        assert!(!is_guid("19dd6c7e-9b5a-4f2e-8f7e-0123456789ag"));
    }
}
