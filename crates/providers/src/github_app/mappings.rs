//! The CEL mappings: repositories to assets, the three alert kinds to vulnerabilities (one
//! variant each), organisation members to directory accounts.
//!
//! Alerts arrive from the REST lists (a sync) and from webhooks; both use GitHub's REST alert
//! shape. States and severities are normalised whatever their casing (`open`, `OPEN`), which
//! the original did not do (webhook alerts were never open there), and every optional field is
//! guarded, so a payload without `rule.security_severity_level` or `most_recent_instance` maps
//! instead of failing the whole ingest.

use tributary_core::MappingRegistration;
use tributary_model::{Asset, DirectoryAccount, IngestModel, Vulnerability};

/// A repository from `GET /installation/repositories` (`id`, `full_name`, `private`,
/// `visibility`, `owner`, `html_url`, `description`, `archived`, `fork`, `topics`,
/// `default_branch`, `language`, `created_at`, `updated_at`, `pushed_at`).
///
/// The external id is the repository's numeric id (decimal), which survives renames and
/// transfers; `name` (which the Asset model requires, and the original left out) is the full
/// name `owner/repo`.
pub fn repository() -> MappingRegistration {
    MappingRegistration::new(Asset::METADATA.schema).variant("repository").map(
        r#"{
  "externalID": string(payload.id),
  "name": payload.?full_name.orValue(payload.?name.orValue(string(payload.id))),
  "assetType": "REPOSITORY",
  "resourceType": "github_repository",
  "source": "github",
  "description": payload.?description.orValue(null),
  "cloudAccountID": payload.?owner.login.orValue(null),
  "internetFacing": payload.?visibility.orValue(payload.?private.orValue(true) ? "private" : "public") == "public",
  "sourceCreatedAt": payload.?created_at.orValue(null),
  "sourceUpdatedAt": payload.?pushed_at.orValue(payload.?updated_at.orValue(null)),
  "tags": payload.?topics.orValue([]),
  "properties": {
    "visibility": payload.?visibility.orValue(payload.?private.orValue(true) ? "private" : "public"),
    "archived": payload.?archived.orValue(false),
    "fork": payload.?fork.orValue(false),
    "defaultBranch": payload.?default_branch.orValue(null),
    "language": payload.?language.orValue(null),
    "url": payload.?html_url.orValue(null),
    "ownerType": payload.?owner.type.orValue(null)
  }
}"#,
    )
}

/// `open` / `OPEN` -> OPEN; `fixed`, `resolved` -> FIXED; `dismissed`, `auto_dismissed`,
/// `closed` -> DISMISSED. An unknown state is left out rather than guessed.
const STATUS: &str = r#"cel.bind(s, payload.?state.orValue(null) == null ? "" : payload.state.lowerAscii(),
  s == "open" ? "OPEN"
  : s in ["fixed", "resolved"] ? "FIXED"
  : s in ["dismissed", "auto_dismissed", "closed"] ? "DISMISSED"
  : null)"#;

/// A secret scanning alert's status: `open` -> OPEN; `resolved` -> FIXED only when the
/// resolution is `revoked` (the secret no longer works); every other resolution
/// (`false_positive`, `wont_fix`, `used_in_tests`, and `pattern_deleted` / `pattern_edited` in
/// webhooks) leaves the secret as it was, so the alert is DISMISSED.
const SECRET_STATUS: &str = r#"cel.bind(s, payload.?state.orValue(null) == null ? "" : payload.state.lowerAscii(),
  s == "open" ? "OPEN"
  : s == "resolved" ? (payload.?resolution.orValue(null) == "revoked" ? "FIXED" : "DISMISSED")
  : null)"#;

/// A severity word in any casing (`critical`, `HIGH`, `moderate`) to the model's scale.
fn severity(expr: &str) -> String {
    format!(
        r#"cel.bind(raw, {expr}, cel.bind(v, raw == null ? "" : raw.lowerAscii(),
  v == "critical" ? "CRITICAL" : v == "high" ? "HIGH"
  : v in ["medium", "moderate"] ? "MEDIUM" : v == "low" ? "LOW"
  : "UNKNOWN"))"#
    )
}

/// A Dependabot alert (`GET /repos/{owner}/{repo}/dependabot/alerts`, or the `alert` of a
/// `dependabot_alert` event): `number`, `state`, `dependency.package`, `security_advisory`
/// (`ghsa_id`, `cve_id`, `summary`, `description`, `severity`, `cvss`, `identifiers`,
/// `published_at`), `security_vulnerability` (`vulnerable_version_range`,
/// `first_patched_version`, null while no patched version exists), `html_url`, `created_at`,
/// `updated_at`, `fixed_at`, `dismissed_reason`. An advisory without a CVSS vector has GitHub's
/// placeholder `cvss` `{"vector_string": null, "score": 0.0}`: it has no score.
pub fn dependabot() -> MappingRegistration {
    let severity = severity(
        r#"payload.?security_advisory.severity.orValue(payload.?security_vulnerability.severity.orValue(""))"#,
    );
    MappingRegistration::new(Vulnerability::METADATA.schema)
        .variant("dependabot")
        .map(format!(
            r#"cel.bind(adv, payload.?security_advisory.orValue(null) == null ? {{}} : payload.security_advisory,
cel.bind(vuln, payload.?security_vulnerability.orValue(null) == null ? {{}} : payload.security_vulnerability,
cel.bind(dep, payload.?dependency.orValue(null) == null ? {{}} : payload.dependency,
cel.bind(pkg, dep.?package.orValue(null) != null ? dep.package
    : vuln.?package.orValue(null) != null ? vuln.package : {{}},
{{
  "externalID": "github:" + resource + ":dependabot:" + (payload.?number.orValue(0) != 0
      ? string(payload.number) : adv.?ghsa_id.orValue("unknown")),
  "cveID": adv.?cve_id.orValue(null),
  "advisoryIds": adv.?ghsa_id.orValue("") != "" ? [adv.ghsa_id] : [],
  "source": "github",
  "displayName": adv.?summary.orValue(null) != null ? adv.summary : adv.?ghsa_id.orValue(null),
  "summary": adv.?summary.orValue(null),
  "description": adv.?description.orValue(null),
  "severity": {severity},
  "cvssScore": adv.?cvss.vector_string.orValue(null) == null ? null : adv.?cvss.score.orValue(null),
  "cvssVector": adv.?cvss.vector_string.orValue(null),
  "status": {STATUS},
  "packageName": pkg.?name.orValue(null),
  "packageEcosystem": pkg.?ecosystem.orValue(null),
  "vulnerableVersionRange": vuln.?vulnerable_version_range.orValue(null),
  "patchedVersion": vuln.?first_patched_version.orValue(null) == null ? null
      : vuln.first_patched_version.?identifier.orValue(null),
  "resourceExternalID": resource,
  "resourceName": dep.?manifest_path.orValue(null) != null ? dep.manifest_path : resource,
  "referenceURL": payload.?html_url.orValue(null),
  "publishedAt": adv.?published_at.orValue(null),
  "discoveredAt": payload.?created_at.orValue(null),
  "fixedAt": payload.?fixed_at.orValue(null),
  "sourceUpdatedAt": payload.?updated_at.orValue(null),
  "properties": {{
    "kind": "dependabot",
    "number": payload.?number.orValue(null),
    "state": payload.?state.orValue(null),
    "dismissedReason": payload.?dismissed_reason.orValue(null),
    "manifestPath": dep.?manifest_path.orValue(null),
    "scope": dep.?scope.orValue(null)
  }}
}}))))"#
        ))
}

/// A code scanning alert (`GET /repos/{owner}/{repo}/code-scanning/alerts`, or the `alert` of
/// a `code_scanning_alert` event): `number`, `state`, `rule` (`id`, `name`, `description`,
/// `severity`, `security_severity_level`, `tags`), `tool`, `most_recent_instance` (`ref`,
/// `message.text`, `location.path`), `html_url`, `created_at`, `updated_at`, `fixed_at`,
/// `dismissed_at`.
///
/// The severity is the rule's security severity when it has one, else its plain severity
/// (`error` HIGH, `warning` MEDIUM, `note` LOW, `none` INFORMATIONAL).
pub fn code_scanning() -> MappingRegistration {
    let security = severity(r#"rule.?security_severity_level.orValue("")"#);
    MappingRegistration::new(Vulnerability::METADATA.schema)
        .variant("code_scanning")
        .map(format!(
            r#"cel.bind(rule, payload.?rule.orValue(null) == null ? {{}} : payload.rule,
cel.bind(instance, payload.?most_recent_instance.orValue(null) == null ? {{}} : payload.most_recent_instance,
cel.bind(plain, rule.?severity.orValue(null) == null ? "" : rule.severity.lowerAscii(),
{{
  "externalID": "github:" + resource + ":code_scanning:" + (payload.?number.orValue(0) != 0
      ? string(payload.number) : "unknown"),
  "source": "github",
  "displayName": rule.?description.orValue(null) != null && rule.description != "" ? rule.description
      : rule.?name.orValue(rule.?id.orValue(null)),
  "summary": rule.?description.orValue(null) != null && rule.description != "" ? rule.description
      : rule.?name.orValue(null),
  "description": instance.?message.text.orValue(rule.?full_description.orValue(null)),
  "severity": rule.?security_severity_level.orValue(null) != null && rule.security_severity_level != "" ? {security}
      : plain == "error" ? "HIGH" : plain == "warning" ? "MEDIUM" : plain == "note" ? "LOW"
      : plain == "none" ? "INFORMATIONAL" : "UNKNOWN",
  "status": {STATUS},
  "resourceExternalID": resource,
  "resourceName": instance.?location.path.orValue(null) != null ? instance.location.path : resource,
  "referenceURL": payload.?html_url.orValue(null),
  "discoveredAt": payload.?created_at.orValue(null),
  "fixedAt": payload.?fixed_at.orValue(null),
  "sourceUpdatedAt": payload.?updated_at.orValue(null),
  "properties": {{
    "kind": "code_scanning",
    "number": payload.?number.orValue(null),
    "state": payload.?state.orValue(null),
    "ruleId": rule.?id.orValue(null),
    "tool": payload.?tool.name.orValue(null),
    "ref": instance.?ref.orValue(null),
    "dismissedReason": payload.?dismissed_reason.orValue(null)
  }}
}})))"#
        ))
}

/// A secret scanning alert (`GET /repos/{owner}/{repo}/secret-scanning/alerts`, or the `alert`
/// of a `secret_scanning_alert` event): `number`, `state` (`open`, `resolved`), `secret_type`,
/// `secret_type_display_name`, `resolution`, `validity`, `html_url`, `created_at`,
/// `updated_at`, `resolved_at`, `push_protection_bypassed`. The secret itself (`secret`) is
/// never mapped: the raw payload is kept without it.
///
/// A leaked credential is HIGH; CRITICAL when GitHub checked it is still `active`.
pub fn secret_scanning() -> MappingRegistration {
    MappingRegistration::new(Vulnerability::METADATA.schema)
        .variant("secret_scanning")
        .map(format!(
            r#"cel.bind(status, {SECRET_STATUS},
cel.bind(name, payload.?secret_type_display_name.orValue(null) != null
      && payload.secret_type_display_name != "" ? payload.secret_type_display_name
      : payload.?secret_type.orValue(null), {{
  "externalID": "github:" + resource + ":secret_scanning:" + (payload.?number.orValue(0) != 0
      ? string(payload.number) : "unknown"),
  "source": "github",
  "displayName": name,
  "summary": name,
  "description": "Secret scanning found a " + (name != null ? name : "secret") + " in "
      + resource + ".",
  "severity": payload.?validity.orValue(null) != null && payload.validity.lowerAscii() == "active"
      ? "CRITICAL" : "HIGH",
  "status": status,
  "resourceExternalID": resource,
  "resourceName": resource,
  "referenceURL": payload.?html_url.orValue(null),
  "discoveredAt": payload.?created_at.orValue(null),
  "fixedAt": status == "FIXED" ? payload.?resolved_at.orValue(null) : null,
  "sourceUpdatedAt": payload.?updated_at.orValue(null),
  "properties": {{
    "kind": "secret_scanning",
    "resolvedAt": payload.?resolved_at.orValue(null),
    "number": payload.?number.orValue(null),
    "state": payload.?state.orValue(null),
    "secretType": payload.?secret_type.orValue(null),
    "validity": payload.?validity.orValue(null),
    "resolution": payload.?resolution.orValue(null),
    "pushProtectionBypassed": payload.?push_protection_bypassed.orValue(null)
  }}
}}))"#
        ))
}

/// An organisation member from GraphQL `membersWithRole` (`databaseId`, `login`, `name`,
/// `email` (the public one, often empty), `avatarUrl`, `url`, `createdAt`, `updatedAt`) with
/// the edge's `role` (`ADMIN`, `MEMBER`) and the `organization` login added by the sync.
///
/// The external id is the user's numeric id as a plain decimal integer (`string()` of a JSON
/// integer, never `1.2345678e+07`); logins can be renamed, ids cannot.
pub fn member() -> MappingRegistration {
    MappingRegistration::new(DirectoryAccount::METADATA.schema).map(
        r#"cel.bind(role, payload.?role.orValue(null) == null ? "" : payload.role.upperAscii(),
{
  "externalID": string(payload.databaseId),
  "canonicalEmail": payload.?email.orValue(null) != null && payload.email != ""
      ? payload.email.lowerAscii() : null,
  "username": payload.?login.orValue(null),
  "displayName": payload.?name.orValue(null) != null && payload.name != "" ? payload.name
      : payload.?login.orValue(null),
  "accountType": "USER",
  "status": "ACTIVE",
  "mfaState": "UNKNOWN",
  "isAdmin": role == "ADMIN",
  "roles": role != "" ? [role.lowerAscii()] : [],
  "directoryName": payload.?organization.orValue(null),
  "avatarURL": payload.?avatarUrl.orValue(null),
  "sourceCreatedAt": payload.?createdAt.orValue(null),
  "sourceUpdatedAt": payload.?updatedAt.orValue(null),
  "profile": {
    "login": payload.?login.orValue(null),
    "url": payload.?url.orValue(null),
    "role": payload.?role.orValue(null)
  }
})"#,
    )
}
