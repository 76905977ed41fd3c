//! The Azure Resource Manager client: a bearer token minted for the service principal (see
//! `identity.rs`), the ARM host from the operator config, ARM's read budget and its throttling
//! answers (429 with `Retry-After`, `x-ms-ratelimit-remaining-subscription-reads`).

use serde::Deserialize;
use serde_json::Value;
use tributary_core::{
    ClientBuildRequest, ClientRef, ClientRegistration, OperationError, Secret, StableName,
};
use tributary_providerkit::{
    AuthHeader, HostPolicy, HttpProfile, ProviderHttp, RateLimit, Url, validate_base_url,
};

use super::{
    ARM_SCOPE, ARM_URL, AzureClientCertificate, AzureClientSecret,
    AzureSecurityCenterOperatorConfig, AzureSecurityCenterUserInput, LOGIN_URL,
};

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
    pub allow_loopback: bool,
    /// A refused operator URL, reported when the definition is used.
    pub invalid: Option<String>,
}

impl Endpoints {
    pub fn from_operator(config: &AzureSecurityCenterOperatorConfig) -> Self {
        let policy = if config.allow_loopback_urls {
            HostPolicy::loopback_for_tests()
        } else {
            HostPolicy::public_https()
        };
        let mut invalid = None;
        let mut check = |field: &str, value: Option<&str>, default: &str| {
            let value = value
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .unwrap_or(default);
            validate_base_url(value, policy).unwrap_or_else(|err| {
                if invalid.is_none() {
                    invalid = Some(format!("{field}: {}", err.message));
                }
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
            allow_loopback: config.allow_loopback_urls,
            invalid,
        }
    }

    fn checked(&self) -> Result<(), OperationError> {
        match &self.invalid {
            Some(message) => Err(OperationError::config(format!(
                "the operator config of azure_security_center is not valid: {message}"
            ))),
            None => Ok(()),
        }
    }

    /// A client for the token endpoint (no auth header, no limiter scope).
    pub fn login_http(&self) -> Result<ProviderHttp, OperationError> {
        self.checked()?;
        Ok(ProviderHttp::new(profile(!self.allow_loopback))?.with_base_url(self.login.clone()))
    }

    fn arm_http(&self) -> Result<ProviderHttp, OperationError> {
        self.checked()?;
        Ok(ProviderHttp::new(profile(!self.allow_loopback))?.with_base_url(self.arm.clone()))
    }
}

fn profile(public_only: bool) -> HttpProfile {
    HttpProfile::new("azure_security_center")
        .rate_limit(BUDGET)
        .remaining_header("x-ms-ratelimit-remaining-subscription-reads")
        .public_addresses_only(public_only)
}

/// A tenant id as Entra accepts it in the token URL: a GUID or a verified domain name.
pub fn check_tenant(value: &str) -> Result<String, OperationError> {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 253
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !value.starts_with(['.', '-'])
        && !matches!(value, "common" | "organizations" | "consumers");
    if valid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(OperationError::config(
            "tenantId: enter the Directory (tenant) ID, a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47, or the tenant's domain (contoso.onmicrosoft.com)",
        ))
    }
}

/// A GUID (`8-4-4-4-12` hex digits), lower-cased.
pub fn check_guid(field: &str, value: &str) -> Result<String, OperationError> {
    let value = value.trim();
    let groups: Vec<&str> = value.split('-').collect();
    let valid = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()));
    if valid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(OperationError::config(format!(
            "{field}: `{}` is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
            value.chars().take(40).collect::<String>()
        )))
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
