//! AWS Security Hub: findings (ASFF) from the configured regions and accounts, and AWS Audit
//! Manager assessments, read only. Two ways to connect: a cross-account IAM role assumed through
//! STS with an external id (the recommended way), or an IAM user's access keys. Every request is
//! signed with Signature Version 4; there is no AWS SDK. `docs/providers/aws_security_hub.md` is
//! the user's guide.

mod client;
mod mappings;
mod operations;

use schemars::JsonSchema;
use serde::Deserialize;
use tributary_core::{
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, Operation, Secret, StableName,
};
use tributary_model::{Finding, IngestModel, Vulnerability};

pub use client::{AWS_SECURITY_HUB_API, AwsSecurityHubApi, DEFAULT_EXTERNAL_ID_PREFIX};
pub use operations::{AssessmentsCollect, FindingsCollect, HealthCheck};

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, ConnectionModes, metadata_with, provider_definition},
};

pub const AWS_SECURITY_HUB: DefinitionId = DefinitionId::new("aws_security_hub");

/// A cross-account IAM role in the tenant's account, assumed through STS. Its trust policy
/// names the identity that assumes it and requires the external id.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsAssumeRole {
    /// The role to assume: `arn:aws:iam::<account id>:role/<name>`. It needs
    /// `securityhub:DescribeHub`, `securityhub:GetFindings` and, for assessments,
    /// `auditmanager:ListAssessments` (the AWS managed policy `AWSSecurityHubReadOnlyAccess`
    /// covers Security Hub).
    pub role_arn: String,
    /// The `sts:ExternalId` the role's trust policy requires. When Tributary's own identity
    /// assumes the role, the external id is Tributary's (`<prefix><tenant id>`, see the guide)
    /// and may be left out; with source keys of your own, it is the value you chose.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The session name CloudTrail records (default `tributary`).
    #[serde(default)]
    pub session_name: Option<String>,
    /// The session length in seconds, 900 to the role's maximum (default 3600).
    #[serde(default)]
    pub session_duration_seconds: Option<u32>,
    /// An access key id of the identity that assumes the role, when it is yours rather than
    /// Tributary's.
    #[serde(default)]
    pub source_access_key_id: Option<String>,
    /// Its secret access key.
    #[serde(default)]
    pub source_secret_access_key: Option<Secret>,
    /// Its session token, when the source keys are themselves temporary.
    #[serde(default)]
    pub source_session_token: Option<Secret>,
}

/// An IAM user's access keys (or temporary keys with their session token) used directly.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsAccessKeys {
    /// The access key id (`AKIA…`, or `ASIA…` for temporary keys).
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// The session token of temporary keys; they stop working when it expires.
    #[serde(default)]
    pub session_token: Option<Secret>,
}

/// The lowest severity label collected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeverityFloor {
    /// Everything, passed control checks included.
    Informational,
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

/// What a tenant enters when connecting Security Hub.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsSecurityHubUserInput {
    /// The region STS, Audit Manager and the health check use, and the first region collected
    /// (e.g. `us-east-1`).
    pub home_region: String,
    /// Further regions whose findings are collected (each region's Security Hub is read
    /// directly, so cross-region aggregation is not needed).
    #[serde(default)]
    pub linked_regions: Vec<String>,
    /// Only findings of these accounts (12 digits each); empty: every account the hub reports
    /// (an administrator account sees its members').
    #[serde(default)]
    pub account_ids: Vec<String>,
    /// The lowest severity collected (default LOW, which leaves out INFORMATIONAL findings such
    /// as passed control checks).
    #[serde(default)]
    pub severity_floor: Option<SeverityFloor>,
    /// A CEL filter every mapped record must pass (see docs/cel.md).
    #[serde(default)]
    pub filter_expr: Option<String>,
}

/// Process-wide settings of the definition (`[definitions.aws_security_hub]`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsSecurityHubOperatorConfig {
    /// Tributary's own identity, which assumes tenants' roles when they give no source keys of
    /// their own: an access key id allowed `sts:AssumeRole`.
    #[serde(default)]
    pub source_access_key_id: Option<String>,
    #[serde(default)]
    pub source_secret_access_key: Option<Secret>,
    /// Use the process's `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` as
    /// Tributary's identity when no source keys are configured here.
    #[serde(default)]
    pub use_environment_credentials: bool,
    /// The external id Tributary's identity presents is this prefix followed by the tenant id
    /// (default `tributary-`), so one tenant can never have another tenant's role assumed.
    #[serde(default)]
    pub external_id_prefix: Option<String>,
    /// Endpoint overrides for tests and VPC endpoints; each, when set, serves every region.
    #[serde(default)]
    pub sts_url: Option<String>,
    #[serde(default)]
    pub security_hub_url: Option<String>,
    #[serde(default)]
    pub audit_manager_url: Option<String>,
    /// Accept `http://127.0.0.1` URLs above. Only for tests and the demo.
    #[serde(default)]
    pub allow_loopback_urls: bool,
}

/// The Security Hub definition, built with its operator config.
pub fn definition(config: &CatalogConfig) -> Definition {
    let operator: AwsSecurityHubOperatorConfig = config.operator_settings(AWS_SECURITY_HUB);
    let spec = DefinitionSpec::new(AWS_SECURITY_HUB, "AWS Security Hub")
        .listed(
            "aws",
            "security-posture",
            &["vulnerabilities", "findings", "compliance"],
        )
        .documented(
            "Collect AWS Security Hub findings (vulnerabilities, failed controls, threats) across \
             regions and accounts, and AWS Audit Manager assessments, read only.",
            "https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_GetFindings.html",
        )
        .with_logo();

    let modes = ConnectionModes::new(AWS_SECURITY_HUB_API, HealthCheck::NAME).resolving(
        metadata_with(operator.clone(), operations::resolve_metadata),
    );
    provider_definition::<AwsSecurityHubOperatorConfig, AwsSecurityHubUserInput>(
        spec,
        client::BUDGET,
    )
    .credential(CredentialRegistration::form::<AwsAssumeRole>(
        "Cross-account role",
        "An IAM role in your account that Tributary assumes with an external id.",
    ))
    .credential(CredentialRegistration::form::<AwsAccessKeys>(
        "Access keys",
        "An IAM user's access keys with read access to Security Hub.",
    ))
    .client(client::registration(operator.clone()))
    .connection(modes.forgetting::<AwsAssumeRole>(
        "Cross-account role",
        "Tributary assumes a read-only role in your account; no long-term key of yours is \
             stored unless you give source keys.",
        "Tributary forgets the role. Delete the role (or its trust policy statement) in IAM \
             to cut access.",
    ))
    .connection(modes.forgetting::<AwsAccessKeys>(
        "Access keys",
        "An IAM user's keys sign every request directly.",
        "Tributary forgets the keys. Deactivate and delete them in IAM (Users > Security \
             credentials) to revoke them.",
    ))
    .operation(
        Operation::<HealthCheck>::new(
            "Describes the hub in every configured region (proves the credentials, the \
                 role and that Security Hub is enabled)",
        )
        .client(AWS_SECURITY_HUB_API)
        .inline()
        .raw(operations::health_check),
    )
    .operation(
        Operation::<FindingsCollect>::new(
            "Collects the active findings of the configured regions, accounts and \
                 severities: vulnerabilities and other findings",
        )
        .client(AWS_SECURITY_HUB_API)
        .reconcile()
        // The default Finding variant only: assessments, listed by the other collect, are
        // not this listing's to tombstone.
        .ingests([Vulnerability::METADATA.schema])
        .ingests_variants(Finding::METADATA.schema, [""])
        .ingest(operations::findings_collect),
    )
    .operation(
        Operation::<AssessmentsCollect>::new(
            "Collects the AWS Audit Manager assessments of the home region as findings",
        )
        .client(AWS_SECURITY_HUB_API)
        .reconcile()
        .ingests_variants(Finding::METADATA.schema, ["assessment"])
        .ingest(operations::assessments_collect),
    )
    .mapping(mappings::vulnerability())
    .mapping(mappings::finding())
    .mapping(mappings::assessment())
}
