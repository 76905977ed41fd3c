//! The AWS client of one integration: which credentials sign (a role's temporary credentials,
//! renewed before they expire, or access keys), the regional endpoints of STS, Security Hub and
//! Audit Manager (overridable by the operator, validated), and the scope the tenant chose.
//!
//! A request refused as unauthenticated while signed with the role's temporary credentials
//! (AWS can drop a session before its stated expiry: `ExpiredTokenException`) clears them and is
//! sent once more with a freshly assumed session.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use tributary_core::{
    ClientRef, ClientRegistration, CredentialBindings, ErrorKind, IntegrationContext,
    OperationError, StableName,
};
use tributary_providerkit::{
    AssumeRoleRequest, AwsCredentialCache, AwsCredentials, HostPolicy, HttpProfile, Method,
    ProviderHttp, ProviderRequest, ProviderResponse, RateLimit, RateLimitScope, ScopeKey, SigV4,
    assume_role, aws_endpoint, is_aws_region, operator_config_url,
};

use super::{
    AwsAccessKeys, AwsAssumeRole, AwsSecurityHubOperatorConfig, AwsSecurityHubUserInput,
    SeverityFloor,
};
use crate::registration::client_built_with;

pub const DEFAULT_EXTERNAL_ID_PREFIX: &str = "tributary-";
const DEFAULT_SESSION_NAME: &str = "tributary";
const DEFAULT_SESSION_SECONDS: u32 = 3600;

/// Security Hub allows GetFindings 3 requests a second (burst 6) per account and region; the
/// budget keeps one integration under it. Throttles (`TooManyRequestsException`,
/// `ThrottlingException`) are retried with backoff.
pub(super) const BUDGET: RateLimit = RateLimit::per_second(3)
    .burst(6)
    .scope(RateLimitScope::Integration);

/// Temporary credentials are renewed this long before they expire.
const RENEW_MARGIN: Duration = Duration::from_secs(300);

pub const AWS_SECURITY_HUB_API: ClientRef<AwsSecurityHubApi> = ClientRef::new("aws_security_hub");

/// The AWS services the client calls, with their signing names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Service {
    SecurityHub,
    AuditManager,
    Sts,
}

impl Service {
    fn signing_name(self) -> &'static str {
        match self {
            Service::SecurityHub => "securityhub",
            Service::AuditManager => "auditmanager",
            Service::Sts => "sts",
        }
    }
}

/// A client for one integration's AWS scope.
pub struct AwsSecurityHubApi {
    http: ProviderHttp,
    signer: Signer,
    endpoints: Endpoints,
    pub(super) scope: Scope,
}

/// What the tenant chose to collect.
#[derive(Debug, Clone)]
pub(super) struct Scope {
    pub home_region: String,
    /// The home region first, then the linked regions, without repeats.
    pub regions: Vec<String>,
    pub account_ids: Vec<String>,
    pub severity_floor: SeverityFloor,
}

enum Signer {
    Keys(Arc<AwsCredentials>),
    Role(Box<RoleSigner>),
}

struct RoleSigner {
    source: Arc<AwsCredentials>,
    request: AssumeRoleRequest,
    cache: AwsCredentialCache,
}

impl AwsSecurityHubApi {
    async fn credentials(&self) -> Result<Arc<AwsCredentials>, OperationError> {
        match &self.signer {
            Signer::Keys(keys) => Ok(Arc::clone(keys)),
            Signer::Role(role) => {
                let sts_url = self.endpoints.url(Service::Sts, &self.scope.home_region);
                role.cache
                    .get_or_mint(|| {
                        assume_role(
                            &self.http,
                            &sts_url,
                            &self.scope.home_region,
                            Arc::clone(&role.source),
                            &role.request,
                        )
                    })
                    .await
            }
        }
    }

    /// Sends one signed request to `service` in `region`: `method` to `path`, completed by
    /// `build` (a JSON body for the REST-JSON APIs, a form for STS, query parameters). Read-only
    /// calls, so throttles and transient failures are retried even for POSTs.
    pub(super) async fn call(
        &self,
        service: Service,
        region: &str,
        method: Method,
        path: &str,
        build: impl Fn(ProviderRequest) -> ProviderRequest,
    ) -> Result<ProviderResponse, OperationError> {
        let url = format!("{}{path}", self.endpoints.url(service, region));
        let send = |credentials: Arc<AwsCredentials>| {
            build(
                self.http
                    .request(method.clone(), &url)
                    .without_auth()
                    .idempotent(true)
                    .sigv4(SigV4::new(credentials, region, service.signing_name())),
            )
            .send()
        };
        let answer = send(self.credentials().await?).await;
        match (&self.signer, answer) {
            (Signer::Role(role), Err(err)) if err.kind == ErrorKind::Auth => {
                role.cache.clear().await;
                send(self.credentials().await?).await
            }
            (_, answer) => answer,
        }
    }

    /// [`call`](Self::call) expecting a JSON answer.
    pub(super) async fn call_json(
        &self,
        service: Service,
        region: &str,
        method: Method,
        path: &str,
        build: impl Fn(ProviderRequest) -> ProviderRequest,
    ) -> Result<Value, OperationError> {
        self.call(service, region, method, path, build)
            .await?
            .json()
    }

    /// Whether the client assumes a role (rather than signing with access keys).
    pub(super) fn assumes_role(&self) -> Option<&str> {
        match &self.signer {
            Signer::Role(role) => Some(&role.request.role_arn),
            Signer::Keys(_) => None,
        }
    }
}

/// AWS's endpoints after validation; an override serves every region.
#[derive(Debug, Clone)]
struct Endpoints {
    sts: Option<String>,
    security_hub: Option<String>,
    audit_manager: Option<String>,
}

impl Endpoints {
    fn url(&self, service: Service, region: &str) -> String {
        let (configured, host) = match service {
            Service::SecurityHub => (&self.security_hub, "securityhub"),
            Service::AuditManager => (&self.audit_manager, "auditmanager"),
            Service::Sts => (&self.sts, "sts"),
        };
        match configured {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => aws_endpoint(host, region),
        }
    }
}

impl AwsSecurityHubOperatorConfig {
    fn endpoints(&self) -> Result<Endpoints, OperationError> {
        let policy = HostPolicy::operator(self.allow_loopback_urls);
        let checked = |value: &Option<String>, field: &str| {
            value
                .as_deref()
                .map(|url| {
                    operator_config_url("aws_security_hub", field, url, policy)
                        .map(|url| url.as_str().trim_end_matches('/').to_owned())
                })
                .transpose()
        };
        Ok(Endpoints {
            sts: checked(&self.sts_url, "stsUrl")?,
            security_hub: checked(&self.security_hub_url, "securityHubUrl")?,
            audit_manager: checked(&self.audit_manager_url, "auditManagerUrl")?,
        })
    }

    /// Tributary's own identity, if the operator gave one.
    fn platform_identity(&self) -> Result<Option<AwsCredentials>, OperationError> {
        match (&self.source_access_key_id, &self.source_secret_access_key) {
            (Some(id), Some(secret)) => {
                AwsCredentials::new(id, secret, None)
                    .map(Some)
                    .map_err(|err| {
                        OperationError::config(format!(
                            "aws_security_hub operator config source keys: {}",
                            err.message
                        ))
                    })
            }
            (None, None) if self.use_environment_credentials => Ok(AwsCredentials::from_env()),
            (None, None) => Ok(None),
            _ => Err(OperationError::config(
                "aws_security_hub operator config needs both sourceAccessKeyId and \
                 sourceSecretAccessKey, or neither",
            )),
        }
    }

    /// The external id Tributary's identity presents for `tenant_id`.
    pub(super) fn platform_external_id(&self, tenant_id: &str) -> String {
        let prefix = self
            .external_id_prefix
            .as_deref()
            .unwrap_or(DEFAULT_EXTERNAL_ID_PREFIX);
        format!("{prefix}{tenant_id}")
    }
}

/// Reads and checks the connect form.
pub(super) fn scope(value: &Value) -> Result<Scope, OperationError> {
    let input: AwsSecurityHubUserInput = serde_json::from_value(value.clone()).map_err(|err| {
        OperationError::config(format!(
            "the aws_security_hub connect form is invalid: {err}"
        ))
    })?;
    let region = |value: &str| {
        let region = value.trim().to_ascii_lowercase();
        if is_aws_region(&region) {
            Ok(region)
        } else {
            Err(OperationError::config(format!(
                "`{}` is not an AWS region code such as us-east-1",
                value.trim()
            )))
        }
    };
    let home_region = region(&input.home_region)?;
    let mut regions = vec![home_region.clone()];
    for linked in &input.linked_regions {
        let linked = region(linked)?;
        if !regions.contains(&linked) {
            regions.push(linked);
        }
    }
    let mut account_ids = Vec::new();
    for account in &input.account_ids {
        let account = account.trim();
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OperationError::config(format!(
                "`{account}` is not an AWS account id (12 digits)"
            )));
        }
        if !account_ids.iter().any(|a| a == account) {
            account_ids.push(account.to_owned());
        }
    }
    Ok(Scope {
        home_region,
        regions,
        account_ids,
        severity_floor: input.severity_floor.unwrap_or_default(),
    })
}

pub(super) fn registration(operator: AwsSecurityHubOperatorConfig) -> ClientRegistration {
    client_built_with(
        AWS_SECURITY_HUB_API,
        "AWS Security Hub, Audit Manager and STS",
        [AwsAssumeRole::NAME, AwsAccessKeys::NAME],
        operator,
        build,
    )
}

/// `arn:<partition>:iam::<12 digits>:role/<path/name>`, and the account id in it.
pub(super) fn role_account(role_arn: &str) -> Result<String, OperationError> {
    let invalid = || {
        OperationError::config(
            "roleArn must be an IAM role ARN: arn:aws:iam::<12-digit account id>:role/<name>",
        )
    };
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(invalid());
    };
    let partition_ok = matches!(*partition, "aws" | "aws-cn" | "aws-us-gov");
    let resource_ok = resource.strip_prefix("role/").is_some_and(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
    });
    if *arn != "arn"
        || !partition_ok
        || *service != "iam"
        || !region.is_empty()
        || account.len() != 12
        || !account.bytes().all(|b| b.is_ascii_digit())
        || !resource_ok
    {
        return Err(invalid());
    }
    Ok((*account).to_owned())
}

/// STS: 2 to 1224 characters of letters, digits and `+=,.@:/-`.
fn external_id(value: &str) -> Result<String, OperationError> {
    let value = value.trim();
    if value.len() < 2
        || value.len() > 1224
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b))
    {
        return Err(OperationError::config(
            "externalId must be 2 to 1224 letters, digits or +=,.@:/_-",
        ));
    }
    Ok(value.to_owned())
}

fn session_name(value: Option<&str>) -> Result<String, OperationError> {
    let name = value
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or(DEFAULT_SESSION_NAME);
    if name.len() < 2
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    {
        return Err(OperationError::config(
            "sessionName must be 2 to 64 letters, digits or +=,.@_-",
        ));
    }
    Ok(name.to_owned())
}

/// Builds the client from whichever connection's credential is bound.
pub(super) fn build(
    integration: &IntegrationContext,
    credentials: &CredentialBindings,
    operator: &AwsSecurityHubOperatorConfig,
) -> Result<AwsSecurityHubApi, OperationError> {
    let endpoints = operator.endpoints()?;
    let scope = scope(&integration.user_input)?;
    let http = ProviderHttp::new(HttpProfile::operator_hosts("aws_security_hub", BUDGET))?
        .scoped(&ScopeKey::integration(integration));
    let signer = if let Some(role) = credentials.get::<AwsAssumeRole>()? {
        role_account(role.role_arn.trim())?;
        let own_source = match (&role.source_access_key_id, &role.source_secret_access_key) {
            (Some(id), Some(secret)) if !id.trim().is_empty() => Some(AwsCredentials::new(
                id,
                secret,
                role.source_session_token.as_ref(),
            )?),
            (None, None) => None,
            (Some(id), None) if id.trim().is_empty() => None,
            _ => {
                return Err(OperationError::config(
                    "give both sourceAccessKeyId and sourceSecretAccessKey, or neither",
                ));
            }
        };
        let (source, external) = match own_source {
            Some(source) => (
                source,
                role.external_id
                    .as_deref()
                    .filter(|id| !id.trim().is_empty())
                    .map(external_id)
                    .transpose()?,
            ),
            None => {
                let Some(platform) = operator.platform_identity()? else {
                    return Err(OperationError::config(
                        "no identity can assume the role: give source access keys with the \
                         role, or have the operator configure Tributary's AWS identity",
                    ));
                };
                // Tributary's identity serves every tenant, so the external id is bound to the
                // tenant: naming another tenant's role cannot pass its trust policy.
                let expected = operator.platform_external_id(&integration.tenant_id);
                if let Some(given) = role.external_id.as_deref().map(str::trim)
                    && !given.is_empty()
                    && given != expected
                {
                    return Err(OperationError::config(format!(
                        "with Tributary's identity the external id is `{expected}`; set the \
                         role's trust policy to require it and leave externalId empty"
                    )));
                }
                (platform, Some(expected))
            }
        };
        let duration = role
            .session_duration_seconds
            .unwrap_or(DEFAULT_SESSION_SECONDS);
        if !(900..=43_200).contains(&duration) {
            return Err(OperationError::config(
                "sessionDurationSeconds must be between 900 and 43200",
            ));
        }
        Signer::Role(Box::new(RoleSigner {
            source: Arc::new(source),
            request: AssumeRoleRequest {
                role_arn: role.role_arn.trim().to_owned(),
                external_id: external,
                session_name: session_name(role.session_name.as_deref())?,
                duration_seconds: duration,
            },
            cache: AwsCredentialCache::new(RENEW_MARGIN),
        }))
    } else {
        let keys = credentials.require::<AwsAccessKeys>()?;
        Signer::Keys(Arc::new(AwsCredentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
            keys.session_token.as_ref(),
        )?))
    };
    Ok(AwsSecurityHubApi {
        http,
        signer,
        endpoints,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn role_arns_are_checked() {
        assert_eq!(
            role_account("arn:aws:iam::123456789012:role/Security/TributaryAudit").unwrap(),
            "123456789012"
        );
        assert!(role_account("arn:aws-us-gov:iam::123456789012:role/R").is_ok());
        for bad in [
            "",
            "arn:aws:iam::12345678901:role/R",
            "arn:aws:iam::123456789012:user/R",
            "arn:aws:sts::123456789012:role/R",
            "arn:aws:iam:us-east-1:123456789012:role/R",
            "arn:aws:iam::123456789012:role/",
            "arn:other:iam::123456789012:role/R",
        ] {
            assert!(role_account(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_scope_puts_the_home_region_first_and_drops_repeats() {
        let scope = scope(&json!({
            "homeRegion": "eu-west-1",
            "linkedRegions": ["us-east-1", "eu-west-1", "US-EAST-1"],
            "accountIds": ["111122223333", "111122223333"],
            "severityFloor": "HIGH",
        }))
        .unwrap();
        assert_eq!(scope.regions, ["eu-west-1", "us-east-1"]);
        assert_eq!(scope.account_ids, ["111122223333"]);
        assert_eq!(scope.severity_floor, SeverityFloor::High);
        assert!(super::scope(&json!({"homeRegion": "mars-1"})).is_err());
        assert!(super::scope(&json!({"homeRegion": "us-east-1", "accountIds": ["12"]})).is_err());
    }

    #[test]
    fn external_ids_and_session_names_follow_sts_rules() {
        assert!(external_id("tributary-t_01").is_ok());
        assert!(external_id("x").is_err());
        assert!(external_id("has space").is_err());
        assert_eq!(session_name(None).unwrap(), "tributary");
        assert!(session_name(Some("a b")).is_err());
    }
}
