//! Microsoft Graph with the operator's app registration (Teams, Entra ID): the validated
//! endpoints, the OAuth client at an authority, the id-token verifier and the Graph client.

use serde_json::Value;
use tributary_core::{IntegrationContext, OperationError, Secret};
use tributary_providerkit::{
    AuthHeader, ClientAuth, IdTokenVerifier, IssuerCheck, OAuthClient, ProviderHttp, Url,
    required_secret, required_text,
};

use super::{DEFAULT_LOGIN_URL, Site};

/// The tenant a sign-in's verified id token names (the `tenantId` its auth flow put in the
/// auth input), if any.
pub fn signed_in_tenant(auth_input: &Value) -> Option<&str> {
    auth_input
        .get("tenantId")
        .and_then(Value::as_str)
        .filter(|tid| !tid.is_empty())
}

/// The public cloud's Graph host.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";

/// The identity platform and Graph hosts of an operator's app registration, validated.
#[derive(Debug, Clone)]
pub struct GraphEndpoints {
    site: Site,
    /// `<login>` without a trailing slash: authorities are `<login>/<authority>`, issuers
    /// `<login>/<tenant id>/v2.0`.
    pub login_url: String,
    /// `<graph>/v1.0`.
    pub graph_api: Url,
    /// The Graph resource tokens are asked for: the Graph URL's origin
    /// (`https://graph.microsoft.com`, or a national cloud's such as `https://graph.microsoft.us`,
    /// `https://dod-graph.microsoft.us`, `https://microsoftgraph.chinacloudapi.cn`). A token for
    /// the public cloud's resource is refused by a national cloud's Graph, and the other way.
    pub resource: String,
}

impl GraphEndpoints {
    /// From the operator's `loginUrl` and `graphUrl`.
    pub fn new(
        site: Site,
        login: Option<&str>,
        graph: Option<&str>,
    ) -> Result<Self, OperationError> {
        let login = site.url("loginUrl", login, DEFAULT_LOGIN_URL)?;
        let graph = site.url("graphUrl", graph, DEFAULT_GRAPH_URL)?;
        let graph_api = Url::parse(&format!("{}/v1.0", graph.as_str().trim_end_matches('/')))
            .map_err(|_| OperationError::config("the Microsoft Graph URL is not valid"))?;
        let resource = graph.origin().ascii_serialization();
        Ok(Self {
            site,
            login_url: login.as_str().trim_end_matches('/').to_owned(),
            graph_api,
            resource,
        })
    }

    /// The app-only scope: every application permission granted to the app on this Graph
    /// (`<resource>/.default`).
    pub fn default_scope(&self) -> String {
        self.delegated_scope(".default")
    }

    /// A permission on this Graph as a scope (`User.Read` -> `<resource>/User.Read`).
    pub fn delegated_scope(&self, permission: &str) -> String {
        format!("{}/{permission}", self.resource)
    }

    pub fn http(&self) -> Result<ProviderHttp, OperationError> {
        ProviderHttp::new(self.site.profile())
    }

    /// Graph with `token`, paced per integration.
    pub fn graph_http(
        &self,
        integration: &IntegrationContext,
        token: Secret,
    ) -> Result<ProviderHttp, OperationError> {
        Ok(self
            .http()?
            .scoped_for(integration, &token)
            .with_base_url(self.graph_api.clone())
            .with_auth(AuthHeader::bearer(token)))
    }

    /// The operator's app registration at `authority` (`organizations`, `common` or a tenant
    /// id), authenticating with `client_secret_post`. Missing settings are named.
    pub fn app_client(
        &self,
        authority: &str,
        client_id: Option<&str>,
        client_secret: Option<&Secret>,
    ) -> Result<OAuthClient, OperationError> {
        let definition = self.site.definition;
        let client_id = required_text(
            client_id,
            format!(
                "the {definition} operator config has no `clientId` (the app registration's \
                 Application (client) ID)"
            ),
        )?;
        let secret = required_secret(
            client_secret,
            format!("the {definition} operator config has no `clientSecret`"),
        )?;
        let base = format!("{}/{authority}/oauth2/v2.0", self.login_url);
        Ok(
            OAuthClient::new(&self.http()?, client_id, format!("{base}/token"))
                .authorize_url(format!("{base}/authorize"))
                .client_auth(ClientAuth::Post(secret)),
        )
    }

    /// A verifier of id tokens signed with `authority`'s keys, issued for `client_id` by
    /// whichever tenant the token's `tid` names (checked against the v2.0 issuer template).
    pub fn id_token_verifier(
        &self,
        authority: &str,
        client_id: &str,
    ) -> Result<IdTokenVerifier, OperationError> {
        Ok(IdTokenVerifier::new(
            &self.http()?,
            format!("{}/{authority}/discovery/v2.0/keys", self.login_url),
            IssuerCheck::TenantTemplate(format!("{}/{{tenantid}}/v2.0", self.login_url)),
            client_id,
        ))
    }
}

#[cfg(test)]
mod tests {
    use tributary_providerkit::RateLimit;

    use super::*;

    const SITE: Site = Site {
        definition: "azure_entra_id",
        budget: RateLimit::per_second(1),
        allow_loopback: false,
    };

    #[test]
    fn endpoints_default_to_the_public_cloud_and_refuse_plain_http() {
        let default = GraphEndpoints::new(SITE, None, None).unwrap();
        assert_eq!(default.login_url, "https://login.microsoftonline.com");
        assert_eq!(
            default.graph_api.as_str(),
            "https://graph.microsoft.com/v1.0"
        );
        assert!(GraphEndpoints::new(SITE, None, Some("http://127.0.0.1:8080")).is_err());
    }

    #[test]
    fn a_missing_client_id_or_secret_is_named() {
        let endpoints = GraphEndpoints::new(SITE, None, None).unwrap();
        let secret = Secret::new("s3cr3t".to_owned());
        let err = endpoints
            .app_client("organizations", Some(" "), Some(&secret))
            .unwrap_err();
        assert!(err.message.contains("`clientId`"), "{}", err.message);
        let err = endpoints
            .app_client("organizations", Some("app"), None)
            .unwrap_err();
        assert!(err.message.contains("`clientSecret`"), "{}", err.message);
        let client = endpoints
            .app_client("organizations", Some("app"), Some(&secret))
            .unwrap();
        assert_eq!(
            client.token_url(),
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
        );
    }
}
