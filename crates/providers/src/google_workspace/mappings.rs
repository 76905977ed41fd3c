//! CEL mappings from Admin SDK Directory resources (camelCase, as the API returns them) to the
//! directory models. Every optional field is guarded: Google leaves out false booleans and empty
//! lists in some projections.

use tributary_core::MappingRegistration;
use tributary_model::{DirectoryAccount, DirectoryGroup, DirectoryMembership, IngestModel};

/// A `User` resource (`projection=full`).
///
/// - `status`: suspended → SUSPENDED, archived (an Archived User licence: no sign-in) → INACTIVE,
///   deleted (only listed with `showDeleted`) → DELETED, else ACTIVE.
/// - `mfaState` is enrolment in 2-Step Verification; whether it is enforced is kept in `profile`
///   (a user can be under enforcement and not enrolled yet, which is DISABLED).
/// - `lastLoginTime` is `1970-01-01T00:00:00.000Z` for a user who never signed in: no login.
/// - Job title and department come from the primary organisation entry, else the first.
pub fn account() -> MappingRegistration {
    MappingRegistration::new(DirectoryAccount::METADATA.schema).map(
        r#"cel.bind(orgs, payload.?organizations.orValue([]),
cel.bind(org, orgs.exists(o, o.?primary.orValue(false) == true)
    ? orgs.filter(o, o.?primary.orValue(false) == true)[0]
    : (orgs.size() > 0 ? orgs[0] : {}),
{
  "externalID": payload.id,
  "canonicalEmail": payload.?primaryEmail.orValue(null) != null ? payload.primaryEmail.lowerAscii() : null,
  "displayName": payload.?name.fullName.orValue("") != "" ? payload.name.fullName : payload.?primaryEmail.orValue(null),
  "givenName": payload.?name.givenName.orValue(null),
  "familyName": payload.?name.familyName.orValue(null),
  "jobTitle": org.?title.orValue("") != "" ? org.title : null,
  "department": org.?department.orValue("") != "" ? org.department : null,
  "accountType": "USER",
  "status": payload.?deletionTime.orValue("") != "" ? "DELETED"
      : payload.?suspended.orValue(false) == true ? "SUSPENDED"
      : payload.?archived.orValue(false) == true ? "INACTIVE"
      : "ACTIVE",
  "mfaState": payload.?isEnrolledIn2Sv.orValue(null) == null ? "UNKNOWN"
      : payload.isEnrolledIn2Sv == true ? "ENABLED" : "DISABLED",
  "isAdmin": payload.?isAdmin.orValue(false) == true || payload.?isDelegatedAdmin.orValue(false) == true,
  "roles": (payload.?isAdmin.orValue(false) == true ? ["Super Admin"] : [])
      + (payload.?isDelegatedAdmin.orValue(false) == true ? ["Delegated Admin"] : []),
  "directoryName": payload.?customerId.orValue(null),
  "avatarURL": payload.?thumbnailPhotoUrl.orValue(null),
  "lastLoginAt": payload.?lastLoginTime.orValue("") == "" || payload.lastLoginTime.startsWith("1970-01-01")
      ? null : payload.lastLoginTime,
  "sourceCreatedAt": payload.?creationTime.orValue(null),
  "profile": {
    "orgUnitPath": payload.?orgUnitPath.orValue(null),
    "emails": payload.?emails.orValue([]).filter(e, e.?address.orValue("") != "").map(e, e.address),
    "aliases": payload.?aliases.orValue([]),
    "isEnrolledIn2Sv": payload.?isEnrolledIn2Sv.orValue(null),
    "isEnforcedIn2Sv": payload.?isEnforcedIn2Sv.orValue(null),
    "suspensionReason": payload.?suspensionReason.orValue(null),
    "archived": payload.?archived.orValue(false),
    "isMailboxSetup": payload.?isMailboxSetup.orValue(null),
    "agreedToTerms": payload.?agreedToTerms.orValue(null),
    "changePasswordAtNextLogin": payload.?changePasswordAtNextLogin.orValue(null),
    "includeInGlobalAddressList": payload.?includeInGlobalAddressList.orValue(null)
  }
}))"#,
    )
}

/// A `Group` resource. Every Directory API group is an email group (security labels live in the
/// Cloud Identity API), so the classification is DISTRIBUTION; whether an administrator created
/// it is kept in `profile`. `directMembersCount` is an int64, which Google sends as a string.
pub fn group() -> MappingRegistration {
    MappingRegistration::new(DirectoryGroup::METADATA.schema).map(
        r#"{
  "externalID": payload.id,
  "displayName": payload.?name.orValue("") != "" ? payload.name : payload.?email.orValue(null),
  "email": payload.?email.orValue(null) != null ? payload.email.lowerAscii() : null,
  "description": payload.?description.orValue("") != "" ? payload.description : null,
  "classification": "DISTRIBUTION",
  "status": "ACTIVE",
  "memberCount": payload.?directMembersCount.orValue(null) != null ? int(payload.directMembersCount) : null,
  "profile": {
    "adminCreated": payload.?adminCreated.orValue(null),
    "aliases": payload.?aliases.orValue([]),
    "nonEditableAliases": payload.?nonEditableAliases.orValue([])
  }
}"#,
    )
}

/// `{group: {id, email}, member: <Member resource>}`. Only members of type USER are accounts;
/// nested groups (GROUP), the whole organisation (CUSTOMER) and anything without an id are left
/// out here even if an operation emitted them.
pub fn membership() -> MappingRegistration {
    MappingRegistration::new(DirectoryMembership::METADATA.schema)
        .filter(
            r#"payload.?member.type.orValue("") == "USER" && payload.?member.id.orValue("") != "" && payload.?group.id.orValue("") != """#,
        )
        .map(
            r#"{
  "accountExternalID": payload.member.id,
  "groupExternalID": payload.group.id,
  "role": payload.?member.role.orValue("") == "OWNER" ? "OWNER"
      : payload.?member.role.orValue("") == "MANAGER" ? "MANAGER"
      : "MEMBER",
  "profile": {
    "memberStatus": payload.?member.status.orValue(null),
    "email": payload.?member.email.orValue(null),
    "deliverySettings": payload.?member.delivery_settings.orValue(null),
    "groupEmail": payload.?group.email.orValue(null)
  }
}"#,
        )
}
