//! Security and compliance models: findings from posture tools, vulnerabilities from scanners,
//! risks from risk registers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tributary_derive::IngestModel;

use crate::{FindingStatus, Level, RiskStatus, Severity, VulnerabilityStatus};

/// A control or posture check result (a failed CIS check, a misconfigured bucket, an audit
/// assessment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IngestModel)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Finding {
    #[serde(rename = "tenantID")]
    #[ingest(context = "tenant", upsert)]
    pub tenant_id: String,
    #[serde(rename = "integrationID")]
    #[ingest(context = "integration", upsert)]
    pub integration_id: String,
    #[serde(rename = "runID")]
    #[ingest(context = "run")]
    pub run_id: Option<String>,
    /// The provider's stable id of the finding.
    #[serde(rename = "externalID")]
    #[ingest(lookup)]
    pub external_id: String,
    /// The tool that reported it (`aws_security_hub`, `gcp_scc`).
    pub source: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    /// The kind of check (`compliance_assessment`, `misconfiguration`).
    pub finding_class: Option<String>,
    pub severity: Option<Severity>,
    /// The provider's own severity label or score, unnormalised.
    pub source_severity: Option<String>,
    pub status: Option<FindingStatus>,
    /// The provider's own status label, unnormalised.
    pub source_status: Option<String>,
    /// The account, project or subscription the finding belongs to at the provider.
    #[serde(rename = "externalOwnerID")]
    pub external_owner_id: Option<String>,
    /// The external id of the affected resource.
    #[serde(rename = "resourceExternalID")]
    pub resource_external_id: Option<String>,
    pub resource_name: Option<String>,
    pub resource_type: Option<String>,
    /// Compliance standards and controls it relates to (`CIS 1.4`, `SOC2 CC6.1`).
    pub controls: Option<Vec<String>>,
    pub remediation: Option<String>,
    #[serde(rename = "remediationURL")]
    pub remediation_url: Option<String>,
    pub reported_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub tags: Option<Vec<String>>,
    pub properties: Option<Map<String, Value>>,
}

/// A known weakness in software or infrastructure (a CVE in a dependency, an exposed service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IngestModel)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Vulnerability {
    #[serde(rename = "tenantID")]
    #[ingest(context = "tenant", upsert)]
    pub tenant_id: String,
    #[serde(rename = "integrationID")]
    #[ingest(context = "integration", upsert)]
    pub integration_id: String,
    #[serde(rename = "runID")]
    #[ingest(context = "run")]
    pub run_id: Option<String>,
    /// The provider's stable id of this occurrence (an alert number, a scanner result id).
    #[serde(rename = "externalID")]
    #[ingest(lookup)]
    pub external_id: String,
    #[serde(rename = "cveID")]
    pub cve_id: Option<String>,
    /// Other advisory ids (`GHSA-...`).
    pub advisory_ids: Option<Vec<String>>,
    pub source: Option<String>,
    pub display_name: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub severity: Option<Severity>,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<String>,
    pub status: Option<VulnerabilityStatus>,
    pub package_name: Option<String>,
    pub package_ecosystem: Option<String>,
    pub vulnerable_version_range: Option<String>,
    pub patched_version: Option<String>,
    #[serde(rename = "resourceExternalID")]
    pub resource_external_id: Option<String>,
    pub resource_name: Option<String>,
    #[serde(rename = "referenceURL")]
    pub reference_url: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub discovered_at: Option<DateTime<Utc>>,
    pub fixed_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub properties: Option<Map<String, Value>>,
}

/// An entry of a risk register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IngestModel)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Risk {
    #[serde(rename = "tenantID")]
    #[ingest(context = "tenant", upsert)]
    pub tenant_id: String,
    #[serde(rename = "integrationID")]
    #[ingest(context = "integration", upsert)]
    pub integration_id: String,
    #[serde(rename = "runID")]
    #[ingest(context = "run")]
    pub run_id: Option<String>,
    #[serde(rename = "externalID")]
    #[ingest(lookup)]
    pub external_id: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub status: Option<RiskStatus>,
    pub likelihood: Option<Level>,
    pub impact: Option<Level>,
    pub score: Option<f64>,
    /// Email of the person accountable for the risk.
    pub owner_email: Option<String>,
    pub mitigation: Option<String>,
    pub source: Option<String>,
    pub identified_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub properties: Option<Map<String, Value>>,
}
