//! Microsoft Graph with an app-only token of the consented tenant: the endpoints (overridable by
//! the operator for national clouds and tests, validated), the app registration's OAuth client,
//! the AADSTS error codes in words a user can act on, and the budget.

use serde::Deserialize;
use serde_json::Value;
use tributary_core::{
    ClientRef, ClientRegistration, CredentialBindings, IntegrationContext, OperationError,
    StableName,
};
use tributary_providerkit::{
    OAuthClient, ProviderHttp, RateLimit, RateLimitScope, TokenSet, decode_stored,
};

use super::{EntraAdminConsent, EntraOperatorConfig};
use crate::microsoft::{self, GraphEndpoints, Registration, Site, is_guid};
use crate::registration::client_built_with;

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

impl EntraOperatorConfig {
    pub(super) fn endpoints(&self) -> Result<GraphEndpoints, OperationError> {
        let site = Site {
            definition: "azure_entra_id",
            budget: BUDGET,
            allow_loopback: self.allow_loopback_urls,
        };
        GraphEndpoints::new(site, self.login_url.as_deref(), self.graph_url.as_deref())
    }
}

/// The app registration at the Microsoft identity platform, for `authority` (`organizations`
/// for the consent sign-in, the tenant id for app-only tokens), authenticating with
/// `client_secret_post`.
pub(super) fn oauth_client(
    operator: &EntraOperatorConfig,
    authority: &str,
) -> Result<OAuthClient, OperationError> {
    operator.endpoints()?.app_client(
        authority,
        operator.client_id.as_deref(),
        operator.client_secret.as_ref(),
    )
}

/// An app-only Graph token for `tenant_id` (client-credentials grant), with the identity
/// platform's refusals explained.
pub(super) async fn app_token(
    operator: &EntraOperatorConfig,
    tenant_id: &str,
) -> Result<TokenSet, OperationError> {
    // The tenant id becomes a path segment of the token URL.
    if !is_guid(tenant_id) {
        return Err(OperationError::config(
            "the stored tenant id is not a GUID; connect the integration again",
        ));
    }
    // The scope names the Graph the app calls: a national cloud refuses the public one's.
    let scope = operator.endpoints()?.default_scope();
    oauth_client(operator, tenant_id)?
        .client_credentials(&[&scope])
        .await
        .map_err(classify_aadsts)
}

/// Microsoft's token errors carry an `AADSTS<code>` in their description; the app is the
/// operator's, so a refused secret is a config error for the operator.
pub fn classify_aadsts(error: OperationError) -> OperationError {
    microsoft::classify_aadsts(error, Registration::Operator)
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
    decode_stored(raw, "Azure Entra ID consent")
}

pub(super) fn registration(operator: EntraOperatorConfig) -> ClientRegistration {
    client_built_with(
        ENTRA_GRAPH,
        "Microsoft Graph (app-only)",
        [EntraAdminConsent::NAME],
        operator,
        build,
    )
}

/// Graph as the app, with the stored app-only token of the consented tenant.
pub(super) fn build(
    integration: &IntegrationContext,
    credentials: &CredentialBindings,
    operator: &EntraOperatorConfig,
) -> Result<EntraGraph, OperationError> {
    let token = stored(credentials)?.token.access_token;
    let http = operator.endpoints()?.graph_http(integration, token)?;
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
}
