//! Microsoft Graph with the signed-in user's token: the endpoints (overridable by the operator for
//! national clouds and tests, validated), Graph's error bodies, and the budget.
//!
//! The runtime refreshes the stored token before it expires; a refreshed credential has a new
//! version, so the pooled client is rebuilt with the new token.

use tributary_core::{
    ClientRef, ClientRegistration, CredentialBindings, IntegrationContext, OperationError,
    StableName,
};
use tributary_providerkit::{
    OAuthClient, ProviderHttp, RateLimit, RateLimitScope, ScopeKey, TokenSet, decode_stored,
};

use super::{MicrosoftTeamsOAuth, MicrosoftTeamsOperatorConfig};
use crate::microsoft::{GraphEndpoints, Site, is_guid};
use crate::registration::client_built_with;

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
    pub graph: GraphEndpoints,
    /// `organizations` or the single-tenant app's tenant id (lower case): the path segment
    /// of the authorize, token and keys endpoints.
    pub authority: String,
    /// A single-tenant app's tenant id (lower case), when the authority is one.
    pub tenant: Option<String>,
}

impl MicrosoftTeamsOperatorConfig {
    pub(super) fn endpoints(&self) -> Result<Endpoints, OperationError> {
        let site = Site {
            definition: "microsoft_teams",
            budget: BUDGET,
            allow_loopback: self.allow_loopback_urls,
        };
        let graph =
            GraphEndpoints::new(site, self.login_url.as_deref(), self.graph_url.as_deref())?;
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
        Ok(Endpoints {
            authority,
            tenant,
            graph,
        })
    }
}

/// The operator's app registration at the Microsoft identity platform (`client_secret_post`).
pub(super) fn oauth_client(
    operator: &MicrosoftTeamsOperatorConfig,
) -> Result<OAuthClient, OperationError> {
    let endpoints = operator.endpoints()?;
    endpoints.graph.app_client(
        &endpoints.authority,
        operator.client_id.as_deref(),
        operator.client_secret.as_ref(),
    )
}

/// The stored tokens of the sign-in.
pub(super) fn tokens(credentials: &CredentialBindings) -> Result<TokenSet, OperationError> {
    let raw = credentials
        .raw(MicrosoftTeamsOAuth::NAME)
        .ok_or_else(|| OperationError::config("no Microsoft sign-in is connected"))?;
    decode_stored(raw, "Microsoft sign-in")
}

pub(super) fn registration(operator: MicrosoftTeamsOperatorConfig) -> ClientRegistration {
    client_built_with(
        MICROSOFT_GRAPH,
        "Microsoft Graph (delegated)",
        [MicrosoftTeamsOAuth::NAME],
        operator,
        build,
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
    let http = endpoints.graph.graph_http(integration, token)?;
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
        assert_eq!(default.authority, "organizations");
        assert_eq!(default.tenant, None);
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
    }
}
