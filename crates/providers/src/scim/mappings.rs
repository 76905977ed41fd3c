//! CEL mappings of what the SCIM server ingests. It flattens each resource into a payload so the
//! mappings need no schema-URI keys:
//!
//! - account: `{id, userName, externalId, displayName, givenName, familyName, title, userType,
//!   active, email, department, employeeNumber, managerId, deleted, resource}` where `email` is
//!   the primary (else first) email, `managerId` the Enterprise User manager's id, `deleted` is
//!   true for a deleted user and `resource` the SCIM resource as stored;
//! - group: `{id, displayName, externalId, memberCount, deleted, resource}`;
//! - membership: `{userId, groupId}` (SCIM ids: the records' external ids).
//!
//! The SCIM `id` is the external id (stable across renames; the reference keyed on `externalId`
//! or `userName`, so a rename made a new account). `active: false` is INACTIVE, a deleted resource
//! DELETED (and its records are then tombstoned).

use tributary_core::MappingRegistration;
use tributary_model::{DirectoryAccount, DirectoryGroup, DirectoryMembership, IngestModel};

pub fn account() -> MappingRegistration {
    MappingRegistration::new(DirectoryAccount::METADATA.schema).map(
        r#"{
  "externalID": payload.id,
  "username": payload.userName,
  "canonicalEmail": payload.email != null ? payload.email.lowerAscii()
      : (payload.userName.contains("@") ? payload.userName.lowerAscii() : null),
  "displayName": payload.displayName != null && payload.displayName != "" ? payload.displayName
      : (payload.givenName != null && payload.familyName != null ? payload.givenName + " " + payload.familyName : payload.userName),
  "givenName": payload.givenName,
  "familyName": payload.familyName,
  "jobTitle": payload.title,
  "department": payload.department,
  "managerExternalID": payload.managerId,
  "status": payload.deleted ? "DELETED" : (payload.active == false ? "INACTIVE" : "ACTIVE"),
  "accountType": "USER",
  "mfaState": "UNKNOWN",
  "profile": {"scimExternalId": payload.externalId, "userType": payload.userType, "employeeNumber": payload.employeeNumber}
}"#,
    )
}

pub fn group() -> MappingRegistration {
    MappingRegistration::new(DirectoryGroup::METADATA.schema).map(
        r#"{
  "externalID": payload.id,
  "displayName": payload.displayName,
  "classification": "TEAM",
  "status": payload.deleted ? "DELETED" : "ACTIVE",
  "memberCount": payload.memberCount,
  "profile": {"scimExternalId": payload.externalId}
}"#,
    )
}

pub fn membership() -> MappingRegistration {
    MappingRegistration::new(DirectoryMembership::METADATA.schema).map(
        r#"{
  "accountExternalID": payload.userId,
  "groupExternalID": payload.groupId,
  "role": "MEMBER"
}"#,
    )
}
