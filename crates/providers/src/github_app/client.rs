//! The GitHub API client: REST and GraphQL with the installation token, GitHub's rate-limit
//! headers, and the app-level client that signs the app JWT.

use std::time::Duration;

use tributary_core::{
    ClientBuildRequest, ClientRef, ClientRegistration, IntegrationContext, OperationError,
    RateLimit, Secret, StableName,
};
use tributary_providerkit::{
    AuthHeader, HostPolicy, HttpProfile, JwtSigner, ProviderHttp, ResetHeader, Url,
    required_secret, required_text, validate_base_url,
};

use super::{GithubAppOperatorConfig, StoredInstallation};

pub const DEFAULT_API_URL: &str = "https://api.github.com";
pub const DEFAULT_WEB_URL: &str = "https://github.com";

/// An installation gets at least 5,000 REST requests an hour (more for large organisations);
/// GitHub also asks integrators not to make requests concurrently. One request a second with a
/// short burst stays well inside both and inside the secondary limits.
pub(super) const BUDGET: RateLimit = RateLimit::new(5_000, Duration::from_secs(3_600)).burst(10);

/// The clients of one installation.
pub struct GithubApi {
    /// REST, with the installation token.
    pub(super) rest: ProviderHttp,
    /// GraphQL endpoint URL.
    pub(super) graphql: String,
    pub(super) installation_id: u64,
}

pub const GITHUB_API: ClientRef<GithubApi> = ClientRef::new("github_api");

pub(super) fn registration(operator: GithubAppOperatorConfig) -> ClientRegistration {
    ClientRegistration::new(
        GITHUB_API,
        "GitHub REST and GraphQL APIs (installation token)",
        [super::GithubAppInstallation::NAME],
        move |request| build(request, operator.clone()),
    )
}

fn policy(operator: &GithubAppOperatorConfig) -> HostPolicy {
    HostPolicy::operator(operator.allow_loopback_urls)
}

/// The REST API root, checked: https (a private host is allowed: GitHub Enterprise Server on
/// premises), or loopback when allowed for tests.
pub(super) fn api_url(operator: &GithubAppOperatorConfig) -> Result<Url, OperationError> {
    validate_base_url(
        operator.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
        policy(operator),
    )
}

/// GitHub's web root (the install page).
pub(super) fn web_url(operator: &GithubAppOperatorConfig) -> Result<Url, OperationError> {
    validate_base_url(
        operator.web_url.as_deref().unwrap_or(DEFAULT_WEB_URL),
        policy(operator),
    )
}

/// `https://api.github.com/graphql`; on GitHub Enterprise Server `https://HOST/api/graphql`.
pub(super) fn graphql_url(api: &Url) -> String {
    let root = api.as_str().trim_end_matches('/');
    match root.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => format!("{root}/graphql"),
    }
}

/// The HTTP client every GitHub call goes through.
pub(super) fn base_http() -> Result<ProviderHttp, OperationError> {
    ProviderHttp::new(
        HttpProfile::operator_hosts("github", BUDGET)
            .user_agent("tributary-github-app")
            .reset_header(ResetHeader::GITHUB)
            .remaining_header("x-ratelimit-remaining"),
    )
}

/// The app's id and signing key from the operator config.
pub(super) fn app_signer(
    operator: &GithubAppOperatorConfig,
) -> Result<(String, JwtSigner), OperationError> {
    let app_id = required_text(
        operator.app_id.as_deref(),
        "the GitHub App needs appId in the operator config ([definitions.github_app])",
    )?;
    let key = required_secret(
        operator.private_key.as_ref(),
        "the GitHub App needs privateKey in the operator config ([definitions.github_app])",
    )?;
    let signer = JwtSigner::from_rsa_pem(&key).map_err(|_| {
        OperationError::config(
            "the GitHub App privateKey is not an RSA private key in PEM form (PKCS#1 or PKCS#8)",
        )
    })?;
    Ok((app_id.to_owned(), signer))
}

/// A client of the REST API without credentials (the app JWT is added per request).
pub(super) fn app_http(operator: &GithubAppOperatorConfig) -> Result<ProviderHttp, OperationError> {
    Ok(base_http()?.with_base_url(api_url(operator)?))
}

/// The installation's REST client with `token`.
pub(super) fn installation_http(
    operator: &GithubAppOperatorConfig,
    integration: &IntegrationContext,
    token: Secret,
) -> Result<ProviderHttp, OperationError> {
    Ok(base_http()?
        .scoped_for(integration, &token)
        .with_base_url(api_url(operator)?)
        .with_auth(AuthHeader::bearer(token)))
}

async fn build(
    request: ClientBuildRequest,
    operator: GithubAppOperatorConfig,
) -> Result<GithubApi, OperationError> {
    let installation: StoredInstallation = StoredInstallation::from_bindings(&request.credentials)?;
    let api = api_url(&operator)?;
    Ok(GithubApi {
        rest: installation_http(
            &operator,
            &request.integration,
            installation.token.access_token.clone(),
        )?,
        graphql: graphql_url(&api),
        installation_id: installation.installation_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_lives_next_to_the_rest_root() {
        let dotcom = Url::parse("https://api.github.com").unwrap();
        assert_eq!(graphql_url(&dotcom), "https://api.github.com/graphql");
        let ghes = Url::parse("https://git.example.com/api/v3").unwrap();
        assert_eq!(graphql_url(&ghes), "https://git.example.com/api/graphql");
    }
}
