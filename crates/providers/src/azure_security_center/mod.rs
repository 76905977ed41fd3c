//! Microsoft Defender for Cloud (formerly Azure Security Center): security assessments and
//! sub-assessments of Azure subscriptions, read from the Azure Resource Manager REST API with a
//! service principal. The principal signs in with the Microsoft identity platform's client
//! credentials grant, with a client secret or with a certificate (a `private_key_jwt` client
//! assertion carrying the certificate's `x5t` thumbprint); the ARM token is cached in the
//! credential and re-minted before it expires. `docs/providers/azure_security_center.md` is the
//! user's guide.

mod client;
mod identity;
mod mappings;
mod operations;

use schemars::JsonSchema;
use serde::Deserialize;
use tributary_core::{
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, MetadataResolver, Operation,
    Secret, StableName,
};
use tributary_model::{Finding, IngestModel, Vulnerability};

pub use crate::microsoft::{check_guid, check_tenant};
pub use client::{ARM_API, ArmApi};
pub use identity::{CertificateKey, classify_token_error};
pub use operations::{DefenderCollect, HealthCheck};

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, ConnectionModes, provider_definition},
};

pub const AZURE_SECURITY_CENTER: DefinitionId = DefinitionId::new("azure_security_center");

/// The public cloud's sign-in and Resource Manager hosts.
pub const LOGIN_URL: &str = crate::microsoft::DEFAULT_LOGIN_URL;
pub const ARM_URL: &str = "https://management.azure.com";
/// The resource a token is requested for: Azure Resource Manager, with the app's own (static)
/// role assignments.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// An app registration's client secret (Certificates & secrets > Client secrets).
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureClientSecret {
    /// The Directory (tenant) ID shown on the app registration's Overview page: a GUID, or the
    /// tenant's primary domain (`contoso.onmicrosoft.com`).
    pub tenant_id: String,
    /// The Application (client) ID shown on the app registration's Overview page (a GUID).
    pub client_id: String,
    /// The secret's Value (shown once, when the secret is created), not its Secret ID.
    pub client_secret: Secret,
}

/// An app registration that authenticates with a certificate (Certificates & secrets >
/// Certificates). Tributary signs each token request with the certificate's private key.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureClientCertificate {
    /// The Directory (tenant) ID shown on the app registration's Overview page.
    pub tenant_id: String,
    /// The Application (client) ID shown on the app registration's Overview page.
    pub client_id: String,
    /// The certificate and its RSA private key in PEM (`-----BEGIN CERTIFICATE-----` and
    /// `-----BEGIN PRIVATE KEY-----` blocks), as `az ad sp create-for-rbac --create-cert` writes
    /// them. The certificate's public part must be uploaded to the app registration.
    pub certificate: Secret,
    /// The RSA private key in PEM, when it is not in the certificate field.
    #[serde(default)]
    pub private_key: Option<Secret>,
}

/// What a tenant enters when connecting Defender for Cloud.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureSecurityCenterUserInput {
    /// The subscription IDs to collect from. Empty: every subscription the service principal
    /// can see (those where it was granted the Security Reader role).
    #[serde(default)]
    pub subscription_ids: Vec<String>,
    /// Also collect sub-assessments (vulnerability scan results of VMs, container images and SQL
    /// servers). Default: yes.
    #[serde(default)]
    pub collect_sub_assessments: Option<bool>,
    /// Collect healthy and not-applicable assessments too, not only unhealthy ones (default: no).
    #[serde(default)]
    pub include_healthy: Option<bool>,
    /// A CEL filter every mapped record must pass (see docs/cel.md), e.g.
    /// `payload.properties.status.severity == "High"`.
    #[serde(default)]
    pub filter_expr: Option<String>,
}

/// Process-wide settings (`[definitions.azure_security_center]`). The defaults are Azure's
/// public cloud; a sovereign cloud sets its own hosts (e.g. `https://login.microsoftonline.us`,
/// `https://management.usgovcloudapi.net` and its `.default` scope).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureSecurityCenterOperatorConfig {
    /// The Microsoft identity platform host (default `https://login.microsoftonline.com`).
    #[serde(default)]
    pub login_url: Option<String>,
    /// The Azure Resource Manager host (default `https://management.azure.com`).
    #[serde(default)]
    pub arm_url: Option<String>,
    /// The token scope (default `https://management.azure.com/.default`).
    #[serde(default)]
    pub arm_scope: Option<String>,
    /// Accept `http://127.0.0.1` hosts. Only for tests and the demo, which run a fake Azure on
    /// loopback; never enable it in production.
    #[serde(default)]
    pub allow_loopback_urls: bool,
}

/// The Defender for Cloud definition, built with its operator config.
pub fn definition(config: &CatalogConfig) -> Definition {
    let operator: AzureSecurityCenterOperatorConfig =
        config.operator_settings(AZURE_SECURITY_CENTER);
    let endpoints = client::Endpoints::from_operator(&operator);
    let spec = DefinitionSpec::new(AZURE_SECURITY_CENTER, "Microsoft Defender for Cloud")
        .listed("azure", "security-posture", &["vulnerabilities", "assets"])
        .documented(
            "Collect security assessment findings and vulnerability data from Microsoft Defender for Cloud across Azure subscriptions.",
            "https://learn.microsoft.com/en-us/rest/api/defenderforcloud/assessments/list",
        )
        .with_logo();

    let (secret_endpoints, cert_endpoints, client_endpoints) =
        (endpoints.clone(), endpoints.clone(), endpoints);
    let modes = ConnectionModes::new(ARM_API, HealthCheck::NAME)
        .resolving(MetadataResolver::new(operations::resolve_metadata));
    provider_definition::<AzureSecurityCenterOperatorConfig, AzureSecurityCenterUserInput>(spec, client::BUDGET)
        .credential(CredentialRegistration::form::<AzureClientSecret>(
            "Azure service principal (client secret)",
            "The tenant id, client id and a client secret of an app registration granted Security Reader on the subscriptions.",
        ))
        .credential(CredentialRegistration::form::<AzureClientCertificate>(
            "Azure service principal (certificate)",
            "The tenant id, client id and certificate with private key of an app registration granted Security Reader on the subscriptions.",
        ))
        .client(client::registration(client_endpoints))
        .connection(
            modes
                .forgetting::<AzureClientSecret>(
                    "Service principal (client secret)",
                    "Connect with an app registration's client secret; ARM tokens are minted with the client credentials grant and renewed before they expire.",
                    "Tributary forgets the secret and its token; delete the secret in the app registration and remove the role assignments.",
                )
                .token_refresh(AzureClientSecret::NAME, move |request| {
                    identity::mint(request, secret_endpoints.clone())
                }),
        )
        .connection(
            modes
                .forgetting::<AzureClientCertificate>(
                    "Service principal (certificate)",
                    "Connect with an app registration's certificate: each token request carries a client assertion signed with its private key; tokens are renewed before they expire.",
                    "Tributary forgets the certificate and its token; remove the certificate from the app registration and the role assignments.",
                )
                .token_refresh(AzureClientCertificate::NAME, move |request| {
                    identity::mint(request, cert_endpoints.clone())
                }),
        )
        .operation(
            Operation::<HealthCheck>::new(
                "Lists the subscriptions the service principal can read and checks the configured ones are among them",
            )
            .client(ARM_API)
            .inline()
            .raw(operations::health_check),
        )
        .operation(
            Operation::<DefenderCollect>::new(
                "Collects Defender for Cloud assessments and sub-assessments of the subscriptions",
            )
            .client(ARM_API)
            .reconcile()
            .ingests([Finding::METADATA.schema, Vulnerability::METADATA.schema])
            .ingest(operations::collect),
        )
        .mapping(mappings::assessment())
        .mapping(mappings::subassessment_finding())
        .mapping(mappings::subassessment_vulnerability())
}
