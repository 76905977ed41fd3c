//! CEL mappings from ARM's `Microsoft.Security/assessments` (API 2021-06-01) and
//! `Microsoft.Security/assessments/subAssessments` (API 2019-01-01-preview) resources.
//!
//! - An assessment is a `Finding` (variant `assessment`).
//! - A sub-assessment that names a CVE is a `Vulnerability` (variant `subassessment`); one
//!   without (a SQL vulnerability-assessment rule, a configuration check) is a `Finding` of the
//!   same variant.
//!
//! Every optional field is guarded: ARM leaves out what does not apply. An assessment's
//! `properties.metadata` is the assessment type's metadata, which the collect joins in from the
//! `assessmentMetadata` listing (ARM's assessment list carries none); `properties.links` comes
//! only from a single-assessment GET with `$expand=links`, so `remediationURL` is usually empty.
//! Sub-assessment `additionalData` (API 2019-01-01-preview) is one of the server, SQL server or
//! container registry shapes; none has `softwareName` or `benchmarks`.

use tributary_core::MappingRegistration;
use tributary_model::{Finding, IngestModel, Vulnerability};

/// Defender's severities are `High`, `Medium` and `Low`.
const SEVERITY: &str = r#"cel.bind(s, SEVERITY_PATH.orValue("").lowerAscii(),
      s == "high" ? "HIGH" : s == "medium" ? "MEDIUM" : s == "low" ? "LOW" : "UNKNOWN")"#;

/// `Unhealthy`: open; `Healthy`: resolved; `NotApplicable`: suppressed (does not apply).
const FINDING_STATUS: &str = r#"cel.bind(c, payload.?properties.status.code.orValue(""),
      c == "Unhealthy" ? "OPEN" : c == "Healthy" ? "RESOLVED" : c == "NotApplicable" ? "SUPPRESSED" : null)"#;

/// The subscription (`/subscriptions/<id>`) from the resource's ARM id.
const OWNER: &str = r#"payload.id.lowerAscii().startsWith("/subscriptions/") ? "/subscriptions/" + payload.id.lowerAscii().split("/")[2] : null"#;

pub fn assessment() -> MappingRegistration {
    let map = r#"{
  "externalID": payload.id.lowerAscii(),
  "source": "azure_security_center",
  "displayName": payload.?properties.displayName.orValue(payload.?properties.metadata.displayName.orValue(payload.?name.orValue(null))),
  "description": payload.?properties.metadata.description.orValue(payload.?properties.status.description.orValue(null)),
  "category": payload.?properties.metadata.categories.orValue([]).size() > 0 ? payload.properties.metadata.categories[0] : null,
  "findingClass": "security_assessment",
  "severity": SEVERITY,
  "sourceSeverity": payload.?properties.metadata.severity.orValue(null),
  "status": FINDING_STATUS,
  "sourceStatus": payload.?properties.status.code.orValue(null),
  "externalOwnerID": OWNER,
  "resourceExternalID": payload.?properties.resourceDetails.id.orValue(payload.?properties.resourceDetails.sourceComputerId.orValue(null)),
  "resourceName": payload.?properties.resourceDetails.id.hasValue() ? payload.properties.resourceDetails.id.split("/").reverse()[0] : payload.?properties.resourceDetails.machineName.orValue(null),
  "resourceType": payload.?properties.resourceDetails.id.hasValue() && payload.properties.resourceDetails.id.split("/").size() >= 8
      ? payload.properties.resourceDetails.id.split("/")[6] + "/" + payload.properties.resourceDetails.id.split("/")[7]
      : payload.?properties.resourceDetails.source.orValue(null),
  "controls": payload.?properties.metadata.policyDefinitionId.hasValue() ? [payload.properties.metadata.policyDefinitionId] : null,
  "remediation": payload.?properties.metadata.remediationDescription.orValue(null),
  "remediationURL": payload.?properties.links.azurePortalUri.orValue(null),
  "reportedAt": payload.?properties.status.firstEvaluationDate.orValue(null),
  "sourceUpdatedAt": payload.?properties.status.statusChangeDate.orValue(null),
  "tags": payload.?properties.metadata.threats.orValue([]) + payload.?properties.metadata.categories.orValue([]).map(c, "category:" + c),
  "properties": {
    "assessmentName": payload.?name.orValue(null),
    "assessmentType": payload.?properties.metadata.assessmentType.orValue(null),
    "statusCause": payload.?properties.status.cause.orValue(null),
    "userImpact": payload.?properties.metadata.userImpact.orValue(null),
    "implementationEffort": payload.?properties.metadata.implementationEffort.orValue(null),
    "resourceSource": payload.?properties.resourceDetails.source.orValue(null)
  }
}"#
    .replace("SEVERITY", &SEVERITY.replace("SEVERITY_PATH", "payload.?properties.metadata.severity"))
    .replace("FINDING_STATUS", FINDING_STATUS)
    .replace("OWNER", OWNER);
    MappingRegistration::new(Finding::METADATA.schema)
        .variant("assessment")
        .map(map)
}

/// The parent assessment's key from a sub-assessment id
/// (`.../assessments/<assessment>/subAssessments/<id>`).
const PARENT: &str = r#"payload.id.lowerAscii().split("/subassessments/")[0]"#;

pub fn subassessment_finding() -> MappingRegistration {
    let map = r#"{
  "externalID": payload.id.lowerAscii(),
  "source": "azure_security_center",
  "displayName": payload.?properties.displayName.orValue(payload.?name.orValue(null)),
  "description": payload.?properties.description.orValue(null),
  "category": payload.?properties.category.orValue(null),
  "findingClass": "vulnerability_assessment",
  "severity": SEVERITY,
  "sourceSeverity": payload.?properties.status.severity.orValue(null),
  "status": FINDING_STATUS,
  "sourceStatus": payload.?properties.status.code.orValue(null),
  "externalOwnerID": OWNER,
  "resourceExternalID": payload.?properties.resourceDetails.id.orValue(payload.?properties.resourceDetails.sourceComputerId.orValue(null)),
  "resourceName": payload.?properties.resourceDetails.id.hasValue() ? payload.properties.resourceDetails.id.split("/").reverse()[0] : null,
  "resourceType": payload.?properties.additionalData.assessedResourceType.orValue(null),
  "remediation": payload.?properties.remediation.orValue(null),
  "reportedAt": payload.?properties.additionalData.publishedTime.orValue(null),
  "sourceUpdatedAt": payload.?properties.timeGenerated.orValue(null),
  "properties": {
    "vulnerabilityID": payload.?properties.id.orValue(null),
    "impact": payload.?properties.impact.orValue(null),
    "parentAssessment": PARENT,
    "query": payload.?properties.additionalData.query.orValue(null)
  }
}"#
    .replace("SEVERITY", &SEVERITY.replace("SEVERITY_PATH", "payload.?properties.status.severity"))
    .replace("FINDING_STATUS", FINDING_STATUS)
    .replace("OWNER", OWNER)
    .replace("PARENT", PARENT);
    MappingRegistration::new(Finding::METADATA.schema)
        .variant("subassessment")
        .filter(r#"!payload.?properties.additionalData.cve.orValue([]).exists(c, c.?title.orValue("").upperAscii().startsWith("CVE-"))"#)
        .map(map)
}

pub fn subassessment_vulnerability() -> MappingRegistration {
    let map = r#"cel.bind(cves, payload.?properties.additionalData.cve.orValue([]).filter(c, c.?title.orValue("").upperAscii().startsWith("CVE-")).map(c, c.title.upperAscii()),
cel.bind(scores, payload.?properties.additionalData.cvss.orValue({}).transformList(k, v, has(v.base), double(v.base)),
cel.bind(code, payload.?properties.status.code.orValue(""), {
  "externalID": payload.id.lowerAscii(),
  "cveID": cves[0],
  "advisoryIds": cves.size() > 1 ? cves.slice(1, cves.size()) : null,
  "source": "azure_security_center",
  "displayName": payload.?properties.displayName.orValue(payload.?name.orValue(null)),
  "summary": payload.?properties.displayName.orValue(null),
  "description": payload.?properties.description.orValue(null),
  "severity": SEVERITY,
  "cvssScore": scores.size() > 0 && math.greatest(scores) > 0.0 ? math.greatest(scores) : null,
  "status": code == "Unhealthy" ? "OPEN" : code == "Healthy" ? "FIXED" : code == "NotApplicable" ? "DISMISSED" : null,
  "packageName": payload.?properties.additionalData.repositoryName.orValue(null),
  "resourceExternalID": payload.?properties.resourceDetails.id.orValue(payload.?properties.resourceDetails.sourceComputerId.orValue(null)),
  "resourceName": payload.?properties.resourceDetails.id.hasValue() ? payload.properties.resourceDetails.id.split("/").reverse()[0] : null,
  "referenceURL": cel.bind(links, payload.properties.additionalData.cve.filter(c, c.?title.orValue("").upperAscii() == cves[0] && c.?link.hasValue()).map(c, c.link), links.size() > 0 ? links[0] : null),
  "publishedAt": payload.?properties.additionalData.publishedTime.orValue(null),
  "sourceUpdatedAt": payload.?properties.timeGenerated.orValue(null),
  "properties": {
    "vulnerabilityID": payload.?properties.id.orValue(null),
    "sourceSeverity": payload.?properties.status.severity.orValue(null),
    "sourceStatus": code,
    "category": payload.?properties.category.orValue(null),
    "impact": payload.?properties.impact.orValue(null),
    "remediation": payload.?properties.remediation.orValue(null),
    "patchable": payload.?properties.additionalData.patchable.orValue(null),
    "assessedResourceType": payload.?properties.additionalData.assessedResourceType.orValue(null),
    "imageDigest": payload.?properties.additionalData.imageDigest.orValue(null),
    "subscription": OWNER,
    "parentAssessment": PARENT
  }
})))"#
    .replace("SEVERITY", &SEVERITY.replace("SEVERITY_PATH", "payload.?properties.status.severity"))
    .replace("OWNER", OWNER)
    .replace("PARENT", PARENT);
    MappingRegistration::new(Vulnerability::METADATA.schema)
        .variant("subassessment")
        .filter(r#"payload.?properties.additionalData.cve.orValue([]).exists(c, c.?title.orValue("").upperAscii().startsWith("CVE-"))"#)
        .map(map)
}
