//! The Azure Resource Manager client: a bearer token minted for the service principal (see
//! `identity.rs`), the ARM host from the operator config, ARM's read budget and its throttling
//! answers (429 with `Retry-After`, `x-ms-ratelimit-remaining-subscription-reads`).

use serde::Deserialize;
use serde_json::Value;
use tributary_core::{
    ClientBuildRequest, ClientRef, ClientRegistration, OperationError, Secret, StableName,
};
use tributary_providerkit::{AuthHeader, HttpProfile, ProviderHttp, RateLimit, Url};

use super::{
    ARM_SCOPE, ARM_URL, AzureClientCertificate, AzureClientSecret,
    AzureSecurityCenterOperatorConfig, AzureSecurityCenterUserInput, LOGIN_URL,
};
use crate::microsoft::{Site, check_guid};

pub const ARM_API: ClientRef<ArmApi> = ClientRef::new("azure_resource_manager");

/// ARM's token-bucket limits subscription reads to 250 at once, refilled at 25 a second, per
/// principal and subscription; stay well inside it and let `Retry-After` pace the rest.
pub(super) const BUDGET: RateLimit = RateLimit::per_second(10).burst(40);

/// Where the definition signs in and reads, from the operator config.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    pub login: Url,
    pub arm: Url,
    pub scope: String,
    site: Site,
    /// A refused operator URL, reported when the definition is used: the catalog still lists
    /// the definition, and its runs say what the operator must fix.
    invalid: Option<OperationError>,
}

impl Endpoints {
    pub fn from_operator(config: &AzureSecurityCenterOperatorConfig) -> Self {
        let site = Site {
            definition: "azure_security_center",
            budget: BUDGET,
            allow_loopback: config.allow_loopback_urls,
        };
        let mut invalid = None;
        let mut check = |field: &str, value: Option<&str>, default: &str| {
            site.url(field, value, default).unwrap_or_else(|err| {
                invalid.get_or_insert(err);
                Url::parse(default).expect("the default URL parses")
            })
        };
        let login = check("loginUrl", config.login_url.as_deref(), LOGIN_URL);
        let arm = check("armUrl", config.arm_url.as_deref(), ARM_URL);
        Self {
            login,
            arm,
            scope: config
                .arm_scope
                .clone()
                .filter(|scope| !scope.trim().is_empty())
                .unwrap_or_else(|| ARM_SCOPE.to_owned()),
            site,
            invalid,
        }
    }

    fn checked(&self) -> Result<(), OperationError> {
        match &self.invalid {
            Some(err) => Err(err.clone()),
            None => Ok(()),
        }
    }

    /// A client for the token endpoint (no auth header, no limiter scope).
    pub fn login_http(&self) -> Result<ProviderHttp, OperationError> {
        self.checked()?;
        Ok(ProviderHttp::new(self.profile())?.with_base_url(self.login.clone()))
    }

    fn arm_http(&self) -> Result<ProviderHttp, OperationError> {
        self.checked()?;
        Ok(ProviderHttp::new(self.profile())?.with_base_url(self.arm.clone()))
    }

    fn profile(&self) -> HttpProfile {
        self.site
            .profile()
            .remaining_header("x-ms-ratelimit-remaining-subscription-reads")
    }
}

/// The user input with its subscription ids checked.
pub(super) fn user_input(value: &Value) -> Result<AzureSecurityCenterUserInput, OperationError> {
    let mut input = if value.is_null() {
        AzureSecurityCenterUserInput::default()
    } else {
        AzureSecurityCenterUserInput::deserialize(value).map_err(|err| {
            OperationError::config(format!("invalid Defender for Cloud settings: {err}"))
        })?
    };
    let mut ids = Vec::new();
    for id in &input.subscription_ids {
        let id = id.trim().trim_start_matches("/subscriptions/");
        if id.is_empty() {
            continue;
        }
        let id = check_guid("subscriptionIds", id)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    input.subscription_ids = ids;
    Ok(input)
}

/// An ARM client for one integration.
#[derive(Clone)]
pub struct ArmApi {
    pub(super) http: ProviderHttp,
    pub(super) input: AzureSecurityCenterUserInput,
    pub(super) tenant_id: String,
    pub(super) client_id: String,
}

pub(super) fn registration(endpoints: Endpoints) -> ClientRegistration {
    ClientRegistration::new(
        ARM_API,
        "Azure Resource Manager (Microsoft.Security)",
        [AzureClientSecret::NAME, AzureClientCertificate::NAME],
        move |request| build(request, endpoints.clone()),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Minted {
    tenant_id: String,
    client_id: String,
    #[serde(rename = "access_token")]
    access_token: Option<Secret>,
}

async fn build(
    request: ClientBuildRequest,
    endpoints: Endpoints,
) -> Result<ArmApi, OperationError> {
    let input = user_input(&request.integration.user_input)?;
    let raw = request
        .credentials
        .raw(AzureClientSecret::NAME)
        .or_else(|| request.credentials.raw(AzureClientCertificate::NAME))
        .ok_or_else(|| OperationError::auth("no Azure service principal is connected"))?;
    let minted = Minted::deserialize(raw)
        .map_err(|_| OperationError::config("the service principal credential is incomplete"))?;
    let token = minted.access_token.ok_or_else(|| {
        OperationError::auth(
            "the service principal has no access token yet; connect the integration again",
        )
    })?;
    // The limiter follows the principal, not each short-lived token.
    let scope_key = Secret::new(format!("{}/{}", minted.tenant_id, minted.client_id));
    let http = endpoints
        .arm_http()?
        .scoped_for(&request.integration, &scope_key)
        .with_auth(AuthHeader::bearer(token));
    Ok(ArmApi {
        http,
        input,
        tenant_id: minted.tenant_id,
        client_id: minted.client_id,
    })
}
