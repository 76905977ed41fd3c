//! GCP Security Command Center: findings from the SCC v2 API at an organization, folder or
//! project, read only. Two ways to connect: a service account's JSON key (a signed JWT assertion
//! exchanged for an access token, re-minted before expiry), or workload identity federation (an
//! external token exchanged at Google's STS, then the service account impersonated through
//! iamcredentials). `docs/providers/gcp_scc.md` is the user's guide.

mod client;
mod mappings;
mod operations;

use schemars::JsonSchema;
use serde::Deserialize;
use tributary_core::{
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, Operation, Secret, StableName,
};
use tributary_model::{Finding, IngestModel, Vulnerability};

pub use client::{
    DEFAULT_API_URL, DEFAULT_IAM_CREDENTIALS_URL, DEFAULT_STS_URL, DEFAULT_TOKEN_URL, GCP_SCC_API,
    GcpSccApi, SCOPE,
};
pub use operations::{FindingsCollect, HealthCheck};

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, ConnectionModes, metadata_with, provider_definition},
};

pub const GCP_SCC: DefinitionId = DefinitionId::new("gcp_scc");

/// A service account's JSON key with `roles/securitycenter.findingsViewer` at the chosen scope.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpSccServiceAccount {
    /// The service account's JSON key file, pasted whole (Google Cloud console > IAM & Admin >
    /// Service Accounts > Keys > Add key > JSON).
    pub service_account_key: Secret,
}

/// Workload identity federation: a token from an external identity provider, exchanged at
/// Google's Security Token Service, then used to impersonate a service account.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpSccWorkloadIdentity {
    /// The workload identity pool provider's audience:
    /// `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`.
    pub audience: String,
    /// The external identity provider's token (an OIDC id token or a SAML assertion) that the
    /// pool provider trusts.
    pub subject_token: Secret,
    /// The type of `subjectToken` (default `urn:ietf:params:oauth:token-type:jwt`; also
    /// `urn:ietf:params:oauth:token-type:id_token` or `urn:ietf:params:oauth:token-type:saml2`).
    #[serde(default)]
    pub subject_token_type: Option<String>,
    /// The service account the federated identity impersonates (it needs
    /// `roles/iam.workloadIdentityUser` for the pool's principal, and
    /// `roles/securitycenter.findingsViewer` at the chosen scope).
    pub service_account_email: String,
}

/// What a tenant enters when connecting Security Command Center.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpSccUserInput {
    /// Where findings are read: `organizations/<number>`, `folders/<number>` or
    /// `projects/<id or number>`.
    pub parent: String,
    /// The SCC location of the findings (default `global`; data-residency setups use e.g. `eu`).
    #[serde(default)]
    pub location: Option<String>,
    /// The SCC list filter (default `state="ACTIVE"`), e.g.
    /// `state="ACTIVE" AND severity="HIGH"` or `findingClass="VULNERABILITY"`. Findings outside
    /// the filter are removed at the next complete collect.
    #[serde(default)]
    pub finding_filter: Option<String>,
    /// A CEL filter every mapped record must pass (see docs/cel.md).
    #[serde(default)]
    pub filter_expr: Option<String>,
}

/// Process-wide settings of the definition (`[definitions.gcp_scc]`): Google's endpoints, for
/// tests and private service connect only.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpSccOperatorConfig {
    /// The OAuth token endpoint (default `https://oauth2.googleapis.com/token`). The `token_uri`
    /// of a pasted key is not used.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The Security Token Service endpoint (default `https://sts.googleapis.com/v1/token`).
    #[serde(default)]
    pub sts_url: Option<String>,
    /// The IAM credentials API (default `https://iamcredentials.googleapis.com`).
    #[serde(default)]
    pub iam_credentials_url: Option<String>,
    /// The Security Command Center API (default `https://securitycenter.googleapis.com`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Accept `http://127.0.0.1` URLs above. Only for tests and the demo.
    #[serde(default)]
    pub allow_loopback_urls: bool,
}

/// The Security Command Center definition, built with its operator config.
pub fn definition(config: &CatalogConfig) -> Definition {
    let operator: GcpSccOperatorConfig = config.operator_settings(GCP_SCC);
    let spec = DefinitionSpec::new(GCP_SCC, "GCP Security Command Center")
        .listed("gcp", "security-posture", &["vulnerabilities", "findings"])
        .documented(
            "Collect Google Cloud Security Command Center findings (vulnerabilities, \
             misconfigurations, threats) for security posture reporting, read only.",
            "https://cloud.google.com/security-command-center/docs/reference/rest/v2/organizations.sources.findings/list",
        )
        .with_logo();

    let modes = ConnectionModes::new(GCP_SCC_API, HealthCheck::NAME).resolving(metadata_with(
        operator.clone(),
        operations::resolve_metadata,
    ));
    provider_definition::<GcpSccOperatorConfig, GcpSccUserInput>(spec, client::BUDGET)
        .credential(CredentialRegistration::form::<GcpSccServiceAccount>(
            "Service account key",
            "A service account's JSON key with the Security Center Findings Viewer role.",
        ))
        .credential(CredentialRegistration::form::<GcpSccWorkloadIdentity>(
            "Workload identity federation",
            "An external token exchanged at Google's STS, then a service account impersonated.",
        ))
        .client(client::registration(operator.clone()))
        .connection(modes.forgetting::<GcpSccServiceAccount>(
            "Service account key",
            "A service account's JSON key signs its own token requests.",
            "Tributary forgets the key. Delete the key in Google Cloud (IAM & Admin > Service \
             Accounts > Keys) to revoke it.",
        ))
        .connection(modes.forgetting::<GcpSccWorkloadIdentity>(
            "Workload identity federation",
            "A keyless connection: an external identity, trusted by a workload identity pool, \
             impersonates a service account.",
            "Tributary forgets the subject token. Remove the pool principal's \
             roles/iam.workloadIdentityUser binding on the service account to cut access.",
        ))
        .operation(
            Operation::<HealthCheck>::new(
                "Reads one page of one finding at the parent (proves the role and the scope)",
            )
            .client(GCP_SCC_API)
            .inline()
            .raw(operations::health_check),
        )
        .operation(
            Operation::<FindingsCollect>::new(
                "Collects the findings matching the filter: vulnerabilities and other findings",
            )
            .client(GCP_SCC_API)
            .reconcile()
            .ingests([Vulnerability::METADATA.schema, Finding::METADATA.schema])
            .ingest(operations::findings_collect),
        )
        .mapping(mappings::vulnerability())
        .mapping(mappings::finding())
}
