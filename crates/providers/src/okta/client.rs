//! The Okta API client: the org URL from user input, validated; the token as `SSWS`; Okta's
//! per-minute budget and its `X-Rate-Limit-*` headers.

use serde::Deserialize;
use tributary_core::{
    ClientBuildRequest, ClientRef, ClientRegistration, OperationError, StableName,
};
use tributary_providerkit::{
    AuthHeader, HostPolicy, HttpProfile, ProviderHttp, RateLimit, ResetHeader, validate_base_url,
};

use super::{OktaApiToken, OktaUserInput};

pub const OKTA_API: ClientRef<OktaApi> = ClientRef::new("okta_api");

/// A client for one org, shared by every operation of an integration.
#[derive(Clone)]
pub struct OktaApi {
    pub(super) http: ProviderHttp,
    pub(super) input: OktaUserInput,
    pub(super) org_url: String,
}

/// Okta's default budget for /api/v1/users is 600 requests per minute per org; stay under it
/// and let the reset header pace us when other clients of the org use it up.
pub(super) const BUDGET: RateLimit = RateLimit::per_minute(500).burst(20);

fn profile(public_only: bool) -> HttpProfile {
    HttpProfile::new("okta")
        .rate_limit(BUDGET)
        .reset_header(ResetHeader::OKTA)
        .remaining_header("x-rate-limit-remaining")
        .public_addresses_only(public_only)
}

pub(super) fn registration(allow_loopback: bool) -> ClientRegistration {
    ClientRegistration::new(
        OKTA_API,
        "Okta Users and Groups APIs",
        [OktaApiToken::NAME],
        move |request| build(request, allow_loopback),
    )
}

async fn build(
    request: ClientBuildRequest,
    allow_loopback: bool,
) -> Result<OktaApi, OperationError> {
    let input = OktaUserInput::deserialize(&request.integration.user_input)
        .map_err(|err| OperationError::config(format!("invalid Okta settings: {err}")))?;
    let token = request.credentials.require::<OktaApiToken>()?;
    let policy = if allow_loopback {
        HostPolicy::loopback_for_tests()
    } else {
        HostPolicy::public_https()
    };
    let org_url = validate_base_url(input.org_url.trim(), policy)?;
    let http = ProviderHttp::new(profile(!allow_loopback))?
        .scoped_for(&request.integration, &token.api_token)
        .with_base_url(org_url.clone())
        .with_auth(AuthHeader::scheme("SSWS", token.api_token));
    Ok(OktaApi {
        http,
        org_url: org_url.as_str().trim_end_matches('/').to_owned(),
        input,
    })
}
