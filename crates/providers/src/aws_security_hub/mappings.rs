//! CEL mappings from AWS Security Finding Format (ASFF, PascalCase as GetFindings returns it)
//! to `Vulnerability` (findings with `Vulnerabilities`) and `Finding` (every other finding), and
//! from Audit Manager assessment metadata to `Finding` variant `assessment`. Every optional
//! block is guarded: ASFF leaves out what a product does not fill.
//!
//! Status comes from `Workflow.Status`: RESOLVED is FIXED/RESOLVED, SUPPRESSED is
//! DISMISSED/SUPPRESSED, NOTIFIED is IN_PROGRESS, NEW (or none) is OPEN. A control check whose
//! `Compliance.Status` is PASSED is RESOLVED whatever its workflow says.

use tributary_core::MappingRegistration;
use tributary_model::{Finding, IngestModel, Vulnerability};

/// `Vulnerability` from a finding with a `Vulnerabilities` entry (Amazon Inspector and partner
/// scanners): the first entry's CVE (or other advisory id), CVSS, package and fix.
///
/// ASFF lists CVSS scores in no particular order (Inspector sends 2.0 and 3.1 side by side): the
/// score of the newest CVSS version is the one recorded, with its version in the properties.
/// The package's `Version` is the version installed, not a range: the vulnerable range is what
/// comes before `FixedInVersion` when a fix exists (`NotAvailable` means none).
pub fn vulnerability() -> MappingRegistration {
    MappingRegistration::new(Vulnerability::METADATA.schema)
        .filter(r#"payload.?Vulnerabilities.orValue([]).size() > 0"#)
        .map(
            r#"cel.bind(v, payload.Vulnerabilities[0],
cel.bind(sev, payload.?Severity.Label.orValue(""),
cel.bind(wf, payload.?Workflow.Status.orValue(""),
cel.bind(pkg, v.?VulnerablePackages.orValue([]).size() > 0 ? v.VulnerablePackages[0] : {},
cel.bind(scores, v.?Cvss.orValue([]),
cel.bind(newest, scores.filter(c,
    !scores.exists(o, o.?Version.orValue("") > c.?Version.orValue(""))),
cel.bind(cvss, newest.size() > 0 ? newest[0] : {},
cel.bind(fix, pkg.?FixedInVersion.orValue(""),
cel.bind(res, payload.?Resources.orValue([]).size() > 0 ? payload.Resources[0] : {},
{
  "externalID": payload.Id,
  "cveID": v.?Id.orValue("").startsWith("CVE-") ? v.Id : null,
  "advisoryIds": v.?Id.orValue("") != "" && !v.Id.startsWith("CVE-") ? [v.Id]
      : (v.?RelatedVulnerabilities.orValue([]).size() > 0 ? v.RelatedVulnerabilities : null),
  "source": "aws_security_hub",
  "displayName": payload.?Title.orValue("") != "" ? payload.Title : payload.Id,
  "summary": payload.?Title.orValue(null),
  "description": payload.?Description.orValue(null),
  "severity": sev in ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"] ? sev : "UNKNOWN",
  "cvssScore": cvss.?BaseScore.orValue(null) != null ? double(cvss.BaseScore) : null,
  "cvssVector": cvss.?BaseVector.orValue(null),
  "status": wf == "RESOLVED" ? "FIXED" : wf == "SUPPRESSED" ? "DISMISSED"
      : wf == "NOTIFIED" ? "IN_PROGRESS" : "OPEN",
  "packageName": pkg.?Name.orValue(null),
  "packageEcosystem": pkg.?PackageManager.orValue(null),
  "vulnerableVersionRange": fix != "" && fix != "NotAvailable" ? "< " + fix : null,
  "patchedVersion": fix != "" && fix != "NotAvailable" ? fix : null,
  "resourceExternalID": res.?Id.orValue(null),
  "resourceName": res.?Id.orValue(null),
  "referenceURL": v.?ReferenceUrls.orValue([]).size() > 0 ? v.ReferenceUrls[0]
      : v.?Vendor.Url.orValue(null),
  "publishedAt": v.?Vendor.VendorCreatedAt.orValue(null),
  "discoveredAt": payload.?FirstObservedAt.orValue("") != "" ? payload.FirstObservedAt
      : payload.?CreatedAt.orValue(null),
  "sourceUpdatedAt": payload.?UpdatedAt.orValue(null),
  "properties": {
    "awsAccountId": payload.?AwsAccountId.orValue(null),
    "region": payload.?Region.orValue(null),
    "productName": payload.?ProductName.orValue(null),
    "productArn": payload.?ProductArn.orValue(null),
    "generatorId": payload.?GeneratorId.orValue(null),
    "resourceType": res.?Type.orValue(null),
    "types": payload.?Types.orValue([]),
    "sourceSeverity": payload.?Severity.Original.orValue(null),
    "workflowStatus": wf != "" ? wf : null,
    "fixAvailable": v.?FixAvailable.orValue(null),
    "exploitAvailable": v.?ExploitAvailable.orValue(null),
    "vendor": v.?Vendor.Name.orValue(null),
    "installedVersion": pkg.?Version.orValue(null),
    "cvssVersion": cvss.?Version.orValue(null)
  }
})))))))))"#,
        )
}

/// `Finding` from every finding without `Vulnerabilities`: failed (or passed) control checks,
/// threat detections (GuardDuty), exposures. Controls are the security control id followed by
/// the related requirements (`PCI DSS v3.2.1/2.2`).
pub fn finding() -> MappingRegistration {
    MappingRegistration::new(Finding::METADATA.schema)
        .filter(r#"payload.?Vulnerabilities.orValue([]).size() == 0"#)
        .map(
            r#"cel.bind(sev, payload.?Severity.Label.orValue(""),
cel.bind(wf, payload.?Workflow.Status.orValue(""),
cel.bind(compliance, payload.?Compliance.Status.orValue(""),
cel.bind(kind, payload.?Types.orValue([]).size() > 0 ? payload.Types[0] : "",
cel.bind(res, payload.?Resources.orValue([]).size() > 0 ? payload.Resources[0] : {},
cel.bind(control, payload.?Compliance.SecurityControlId.orValue(""),
{
  "externalID": payload.Id,
  "source": "aws_security_hub",
  "displayName": payload.?Title.orValue("") != "" ? payload.Title : payload.Id,
  "description": payload.?Description.orValue(null),
  "category": kind != "" ? kind : null,
  "findingClass": compliance != "" ? "compliance"
      : (kind.startsWith("TTPs") || kind.startsWith("Effects")
          || kind.startsWith("Unusual Behaviors")) ? "threat"
      : kind.startsWith("Sensitive Data Identifications") ? "sensitive_data"
      : "misconfiguration",
  "severity": sev in ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"] ? sev : "UNKNOWN",
  "sourceSeverity": payload.?Severity.Original.orValue("") != "" ? payload.Severity.Original
      : (sev != "" ? sev : null),
  "status": compliance == "PASSED" || wf == "RESOLVED" ? "RESOLVED"
      : wf == "SUPPRESSED" ? "SUPPRESSED" : wf == "NOTIFIED" ? "IN_PROGRESS" : "OPEN",
  "sourceStatus": wf != "" ? wf : payload.?WorkflowState.orValue(null),
  "externalOwnerID": payload.?AwsAccountId.orValue(null),
  "resourceExternalID": res.?Id.orValue(null),
  "resourceName": res.?Id.orValue(null),
  "resourceType": res.?Type.orValue(null),
  "controls": (control != "" ? [control] : [])
      + payload.?Compliance.RelatedRequirements.orValue([]),
  "remediation": payload.?Remediation.Recommendation.Text.orValue(null),
  "remediationURL": payload.?Remediation.Recommendation.Url.orValue(null),
  "reportedAt": payload.?FirstObservedAt.orValue("") != "" ? payload.FirstObservedAt
      : payload.?CreatedAt.orValue(null),
  "sourceUpdatedAt": payload.?UpdatedAt.orValue(null),
  "properties": {
    "awsAccountId": payload.?AwsAccountId.orValue(null),
    "region": payload.?Region.orValue(null),
    "productName": payload.?ProductName.orValue(null),
    "productArn": payload.?ProductArn.orValue(null),
    "generatorId": payload.?GeneratorId.orValue(null),
    "types": payload.?Types.orValue([]),
    "complianceStatus": compliance != "" ? compliance : null,
    "standards": payload.?Compliance.AssociatedStandards.orValue([]).map(s, s.?StandardsId.orValue("")),
    "recordState": payload.?RecordState.orValue(null)
  }
}))))))"#,
        )
}

/// `Finding` variant `assessment` from an Audit Manager assessment (the collect adds the
/// account and region, and turns the times into RFC 3339). An inactive assessment is RESOLVED.
pub fn assessment() -> MappingRegistration {
    MappingRegistration::new(Finding::METADATA.schema)
        .variant("assessment")
        .map(
            r#"{
  "externalID": payload.id,
  "source": "aws_audit_manager",
  "displayName": payload.?name.orValue("") != "" ? payload.name : payload.id,
  "description": payload.?name.orValue("") != "" && payload.?complianceType.orValue("") != ""
      ? payload.name + " (" + payload.complianceType + ")" : payload.?name.orValue(null),
  "category": payload.?complianceType.orValue(null),
  "findingClass": "compliance_assessment",
  "status": payload.?status.orValue("") == "INACTIVE" ? "RESOLVED" : "OPEN",
  "sourceStatus": payload.?status.orValue(null),
  "externalOwnerID": payload.?awsAccountId.orValue(null),
  "resourceExternalID": payload.id,
  "resourceName": payload.?name.orValue(null),
  "resourceType": "AWS::AuditManager::Assessment",
  "reportedAt": payload.?creationTime.orValue(null),
  "sourceUpdatedAt": payload.?lastUpdated.orValue(null),
  "properties": {
    "region": payload.?region.orValue(null),
    "roles": payload.?roles.orValue([]).map(r, r.?roleArn.orValue("")),
    "delegationCount": payload.?delegations.orValue([]).size()
  }
}"#,
        )
}
