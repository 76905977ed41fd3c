//! CEL mappings from Okta's user, group and group-member payloads to the directory models.

use tributary_core::MappingRegistration;
use tributary_model::{DirectoryAccount, DirectoryGroup, DirectoryMembership, IngestModel};

/// Okta user statuses: ACTIVE, RECOVERY, PASSWORD_EXPIRED and LOCKED_OUT are active accounts
/// with a pending action; STAGED and PROVISIONED have never signed in; SUSPENDED; DEPROVISIONED is
/// a deactivated user.
pub fn account() -> MappingRegistration {
    MappingRegistration::new(DirectoryAccount::METADATA.schema).map(
        r#"{
  "externalID": payload.id,
  "canonicalEmail": has(payload.profile.email) && payload.profile.email != null ? payload.profile.email.lowerAscii() : null,
  "username": payload.?profile.login.orValue(null),
  "displayName": has(payload.profile.displayName) && payload.profile.displayName != null && payload.profile.displayName != ""
      ? payload.profile.displayName
      : (has(payload.profile.firstName) && payload.profile.firstName != null
          ? payload.profile.firstName + (has(payload.profile.lastName) && payload.profile.lastName != null ? " " + payload.profile.lastName : "")
          : payload.?profile.login.orValue(null)),
  "givenName": payload.?profile.firstName.orValue(null),
  "familyName": payload.?profile.lastName.orValue(null),
  "department": payload.?profile.department.orValue(null),
  "jobTitle": payload.?profile.title.orValue(null),
  "status": payload.status == "DEPROVISIONED" ? "DELETED"
      : payload.status == "SUSPENDED" ? "SUSPENDED"
      : payload.status in ["STAGED", "PROVISIONED"] ? "PENDING"
      : "ACTIVE",
  "accountType": "USER",
  "lastLoginAt": payload.?lastLogin.orValue(null),
  "sourceCreatedAt": payload.?created.orValue(null),
  "sourceUpdatedAt": payload.?lastUpdated.orValue(null),
  "profile": {"oktaStatus": payload.status, "userType": payload.?type.id.orValue(null)}
}"#,
    )
}

pub fn group() -> MappingRegistration {
    MappingRegistration::new(DirectoryGroup::METADATA.schema).map(
        r#"{
  "externalID": payload.id,
  "displayName": payload.?profile.name.orValue(payload.id),
  "description": payload.?profile.description.orValue(null),
  "classification": payload.?type.orValue("") == "OKTA_GROUP" ? "TEAM"
      : payload.?type.orValue("") == "APP_GROUP" ? "SECURITY"
      : payload.?type.orValue("") == "BUILT_IN" ? "SECURITY"
      : "UNKNOWN",
  "status": "ACTIVE",
  "sourceCreatedAt": payload.?created.orValue(null),
  "sourceUpdatedAt": payload.?lastUpdated.orValue(null),
  "profile": {"oktaType": payload.?type.orValue(null)}
}"#,
    )
}

pub fn membership() -> MappingRegistration {
    MappingRegistration::new(DirectoryMembership::METADATA.schema)
        .filter("has(payload.member.id) && has(payload.group.id)")
        .map(
            r#"{
  "accountExternalID": payload.member.id,
  "groupExternalID": payload.group.id,
  "role": "MEMBER"
}"#,
        )
}
