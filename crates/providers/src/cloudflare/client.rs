//! The Cloudflare API v4 client: bearer token, the account from user input, Cloudflare's global
//! budget.

use std::time::Duration;

use serde::Deserialize;
use tributary_core::{
    ClientBuildRequest, ClientRef, ClientRegistration, OperationError, StableName,
};
use tributary_providerkit::{
    AuthHeader, HostPolicy, HttpProfile, ProviderHttp, RateLimit, RateLimitScope, validate_base_url,
};

use super::{CloudflareApiToken, CloudflareOperatorConfig, CloudflareUserInput};

pub const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";

/// Cloudflare allows 1,200 requests per five minutes per user (a token acts as its user), so
/// integrations sharing a token share the budget.
pub(super) const BUDGET: RateLimit = RateLimit::new(1200, Duration::from_secs(300))
    .burst(50)
    .scope(RateLimitScope::Credential);

pub struct CloudflareApi {
    pub(super) http: ProviderHttp,
    pub(super) account_id: String,
}

pub const CLOUDFLARE_API: ClientRef<CloudflareApi> = ClientRef::new("cloudflare_api");

pub(super) fn registration(operator: CloudflareOperatorConfig) -> ClientRegistration {
    ClientRegistration::new(
        CLOUDFLARE_API,
        "Cloudflare API v4",
        [CloudflareApiToken::NAME],
        move |request| build(request, operator.clone()),
    )
}

/// Account ids are 32 hexadecimal characters; anything else would end up in a URL path.
pub(super) fn account_id(input: &CloudflareUserInput) -> Result<String, OperationError> {
    let id = input.account_id.trim().to_ascii_lowercase();
    if id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(OperationError::config(
            "the Cloudflare account id must be 32 hexadecimal characters",
        ))
    }
}

pub(super) fn user_input(value: &serde_json::Value) -> Result<CloudflareUserInput, OperationError> {
    CloudflareUserInput::deserialize(value)
        .map_err(|_| OperationError::config("invalid Cloudflare settings: accountId is required"))
}

async fn build(
    request: ClientBuildRequest,
    operator: CloudflareOperatorConfig,
) -> Result<CloudflareApi, OperationError> {
    let input = user_input(&request.integration.user_input)?;
    let account_id = account_id(&input)?;
    let token = request.credentials.require::<CloudflareApiToken>()?;
    let policy = HostPolicy::operator(operator.allow_loopback_api_url);
    let api_url = validate_base_url(
        operator.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
        policy,
    )?;
    let http = ProviderHttp::new(HttpProfile::operator_hosts("cloudflare", BUDGET))?
        .scoped_for(&request.integration, &token.api_token)
        .with_base_url(api_url)
        .with_auth(AuthHeader::bearer(token.api_token));
    Ok(CloudflareApi { http, account_id })
}
