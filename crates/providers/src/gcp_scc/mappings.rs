//! CEL mappings from SCC v2 `ListFindingsResult`s (`{finding, resource}`, camelCase as the REST
//! API returns them) to `Vulnerability` (findingClass VULNERABILITY) and `Finding` (every other
//! class). Optional blocks are guarded: SCC leaves out empty fields.
//!
//! Status: a muted finding is DISMISSED/SUPPRESSED, an INACTIVE one FIXED/RESOLVED (the scanner
//! no longer sees it), else OPEN. Severity SEVERITY_UNSPECIFIED is UNKNOWN (the original passed
//! an empty string through, which the model refuses).

use tributary_core::MappingRegistration;
use tributary_model::{Finding, IngestModel, Vulnerability};

/// `Vulnerability` from a result whose finding has class VULNERABILITY. The CVE, its CVSS v3
/// base score and references, and the offending and fixed packages come from
/// `finding.vulnerability` when present.
pub fn vulnerability() -> MappingRegistration {
    MappingRegistration::new(Vulnerability::METADATA.schema)
        .filter(r#"payload.?finding.findingClass.orValue("") == "VULNERABILITY""#)
        .map(
            r#"cel.bind(f, payload.finding,
cel.bind(sev, f.?severity.orValue(""),
{
  "externalID": f.name,
  "cveID": f.?vulnerability.cve.id.orValue("") != "" ? f.vulnerability.cve.id : null,
  "source": "gcp_scc",
  "displayName": f.?category.orValue("") != "" ? f.category : f.?canonicalName.orValue(f.name),
  "summary": f.?description.orValue("") != "" ? f.description.split("\n")[0]
      : (f.?category.orValue("") != "" ? f.category : null),
  "description": f.?description.orValue(null),
  "severity": sev in ["CRITICAL", "HIGH", "MEDIUM", "LOW"] ? sev : "UNKNOWN",
  "cvssScore": f.?vulnerability.cve.cvssv3.baseScore.orValue(null) != null
      ? double(f.vulnerability.cve.cvssv3.baseScore) : null,
  "status": f.?mute.orValue("") == "MUTED" ? "DISMISSED"
      : f.?state.orValue("") == "INACTIVE" ? "FIXED" : "OPEN",
  "packageName": f.?vulnerability.offendingPackage.packageName.orValue(null),
  "packageEcosystem": f.?vulnerability.offendingPackage.packageType.orValue(null),
  "vulnerableVersionRange": f.?vulnerability.offendingPackage.packageVersion.orValue(null),
  "patchedVersion": f.?vulnerability.fixedPackage.packageVersion.orValue(null),
  "resourceExternalID": f.?resourceName.orValue(null),
  "resourceName": payload.?resource.displayName.orValue("") != "" ? payload.resource.displayName
      : f.?resourceName.orValue(null),
  "referenceURL": f.?externalUri.orValue("") != "" ? f.externalUri
      : (f.?vulnerability.cve.references.orValue([]).size() > 0
          ? f.vulnerability.cve.references[0].?uri.orValue(null) : null),
  "discoveredAt": f.?createTime.orValue(null),
  "sourceUpdatedAt": f.?eventTime.orValue("") != "" ? f.eventTime : f.?createTime.orValue(null),
  "properties": {
    "findingClass": "VULNERABILITY",
    "category": f.?category.orValue(null),
    "state": f.?state.orValue(null),
    "mute": f.?mute.orValue(null),
    "sourceSeverity": f.?severity.orValue(null),
    "canonicalName": f.?canonicalName.orValue(null),
    "sourceDisplayName": f.?parentDisplayName.orValue(null),
    "resourceType": payload.?resource.type.orValue(null),
    "project": payload.?resource.gcpMetadata.project.orValue(null),
    "upstreamFixAvailable": f.?vulnerability.cve.upstreamFixAvailable.orValue(null),
    "exploitationActivity": f.?vulnerability.cve.exploitationActivity.orValue(null),
    "nextSteps": f.?nextSteps.orValue(null)
  }
}))"#,
        )
}

/// `Finding` from a result of any other class (MISCONFIGURATION, THREAT, OBSERVATION,
/// POSTURE_VIOLATION, SCC_ERROR, ...). Controls are `<standard> <version> <id>` for each id of
/// each compliance entry.
pub fn finding() -> MappingRegistration {
    MappingRegistration::new(Finding::METADATA.schema)
        .filter(r#"payload.?finding.findingClass.orValue("") != "VULNERABILITY""#)
        .map(
            r#"cel.bind(f, payload.finding,
cel.bind(sev, f.?severity.orValue(""),
{
  "externalID": f.name,
  "source": "gcp_scc",
  "displayName": f.?category.orValue("") != "" ? f.category : f.?canonicalName.orValue(f.name),
  "description": f.?description.orValue(null),
  "category": f.?category.orValue(null),
  "findingClass": f.?findingClass.orValue("") != "" ? f.findingClass.lowerAscii() : null,
  "severity": sev in ["CRITICAL", "HIGH", "MEDIUM", "LOW"] ? sev : "UNKNOWN",
  "sourceSeverity": sev != "" ? sev : null,
  "status": f.?mute.orValue("") == "MUTED" ? "SUPPRESSED"
      : f.?state.orValue("") == "INACTIVE" ? "RESOLVED" : "OPEN",
  "sourceStatus": f.?state.orValue(null),
  "externalOwnerID": payload.?resource.gcpMetadata.project.orValue("") != ""
      ? payload.resource.gcpMetadata.project
      : payload.?resource.gcpMetadata.organization.orValue(null),
  "resourceExternalID": f.?resourceName.orValue(null),
  "resourceName": payload.?resource.displayName.orValue("") != "" ? payload.resource.displayName
      : f.?resourceName.orValue(null),
  "resourceType": payload.?resource.type.orValue(null),
  "controls": f.?compliances.orValue([]).map(c,
      c.?ids.orValue([]).map(i,
        c.?standard.orValue("").upperAscii()
          + (c.?version.orValue("") != "" ? " " + c.version : "") + " " + i)).flatten(),
  "remediation": f.?nextSteps.orValue(null),
  "remediationURL": f.?externalUri.orValue(null),
  "reportedAt": f.?createTime.orValue(null),
  "sourceUpdatedAt": f.?eventTime.orValue("") != "" ? f.eventTime : f.?createTime.orValue(null),
  "properties": {
    "state": f.?state.orValue(null),
    "mute": f.?mute.orValue(null),
    "canonicalName": f.?canonicalName.orValue(null),
    "sourceDisplayName": f.?parentDisplayName.orValue(null),
    "project": payload.?resource.gcpMetadata.project.orValue(null),
    "projectDisplayName": payload.?resource.gcpMetadata.projectDisplayName.orValue(null),
    "service": payload.?resource.service.orValue(null),
    "location": payload.?resource.location.orValue(null),
    "sourceProperties": f.?sourceProperties.orValue(null)
  }
}))"#,
        )
}
