//! CEL mappings from Microsoft Graph directory objects (camelCase, as Graph returns them) to the
//! directory models. Every optional field is guarded: `$select` returns nulls for unset fields,
//! and fixtures or webhooks may leave them out entirely.

use tributary_core::MappingRegistration;
use tributary_model::{DirectoryAccount, DirectoryGroup, DirectoryMembership, IngestModel};

/// A `user` (the `$select` of `operations::USER_FIELDS`).
///
/// - `accountType`: `userType` Guest (any casing) → GUEST, else USER. The original dropped or
///   mislabelled guests depending on a flag.
/// - `status`: `accountEnabled` false (sign-in blocked) → SUSPENDED; a guest whose invitation is
///   not accepted yet (`externalUserState` PendingAcceptance) → PENDING; else ACTIVE. The
///   original read `accountEnabled` without selecting it, so every user looked inactive.
/// - The e-mail is `mail`, else the first of `otherMails`, else the UPN when it is an address
///   (a guest's UPN is `alice_contoso.com#EXT#@tenant.onmicrosoft.com`, not an address to use).
pub fn account() -> MappingRegistration {
    MappingRegistration::new(DirectoryAccount::METADATA.schema).map(
        r##"cel.bind(guest, payload.?userType.orValue(null) != null && payload.userType.lowerAscii() == "guest",
cel.bind(upn, payload.?userPrincipalName.orValue(null) != null ? payload.userPrincipalName : "",
cel.bind(others, payload.?otherMails.orValue(null) != null ? payload.otherMails : [],
cel.bind(email, payload.?mail.orValue(null) != null && payload.mail != "" ? payload.mail
    : others.size() > 0 ? others[0]
    : (upn.contains("@") && !upn.contains("#EXT#") ? upn : ""),
{
  "externalID": payload.id,
  "canonicalEmail": email != "" ? email.lowerAscii() : null,
  "username": upn != "" ? upn : null,
  "displayName": payload.?displayName.orValue(null) != null && payload.displayName != "" ? payload.displayName : (upn != "" ? upn : null),
  "givenName": payload.?givenName.orValue(null),
  "familyName": payload.?surname.orValue(null),
  "jobTitle": payload.?jobTitle.orValue(null),
  "department": payload.?department.orValue(null),
  "accountType": guest ? "GUEST" : "USER",
  "status": payload.?accountEnabled.orValue(null) == false ? "SUSPENDED"
      : payload.?externalUserState.orValue(null) == "PendingAcceptance" ? "PENDING"
      : "ACTIVE",
  "mfaState": "UNKNOWN",
  "sourceCreatedAt": payload.?createdDateTime.orValue(null),
  "profile": {
    "userType": payload.?userType.orValue(null),
    "accountEnabled": payload.?accountEnabled.orValue(null),
    "externalUserState": payload.?externalUserState.orValue(null),
    "companyName": payload.?companyName.orValue(null),
    "employeeId": payload.?employeeId.orValue(null),
    "officeLocation": payload.?officeLocation.orValue(null),
    "otherMails": others,
    "onPremisesSyncEnabled": payload.?onPremisesSyncEnabled.orValue(null),
    "onPremisesSamAccountName": payload.?onPremisesSamAccountName.orValue(null)
  }
}))))"##,
    )
}

/// A `group`. Microsoft 365 groups (`groupTypes` has `Unified`) are TEAM; groups with dynamic
/// membership rules are DYNAMIC; security-enabled groups SECURITY; mail-enabled distribution
/// lists DISTRIBUTION.
pub fn group() -> MappingRegistration {
    MappingRegistration::new(DirectoryGroup::METADATA.schema).map(
        r#"cel.bind(types, payload.?groupTypes.orValue(null) != null ? payload.groupTypes : [],
cel.bind(mail, payload.?mail.orValue(null) != null && payload.mail != "" ? payload.mail.lowerAscii() : null,
{
  "externalID": payload.id,
  "displayName": payload.?displayName.orValue(null) != null && payload.displayName != "" ? payload.displayName : mail,
  "email": mail,
  "description": payload.?description.orValue(null) != null && payload.description != "" ? payload.description : null,
  "classification": types.exists(t, t == "DynamicMembership") ? "DYNAMIC"
      : types.exists(t, t == "Unified") ? "TEAM"
      : payload.?securityEnabled.orValue(false) == true ? "SECURITY"
      : payload.?mailEnabled.orValue(false) == true ? "DISTRIBUTION"
      : "UNKNOWN",
  "status": "ACTIVE",
  "sourceCreatedAt": payload.?createdDateTime.orValue(null),
  "profile": {
    "groupTypes": types,
    "securityEnabled": payload.?securityEnabled.orValue(null),
    "mailEnabled": payload.?mailEnabled.orValue(null),
    "membershipRule": payload.?membershipRule.orValue(null),
    "visibility": payload.?visibility.orValue(null),
    "onPremisesSyncEnabled": payload.?onPremisesSyncEnabled.orValue(null)
  }
}))"#,
    )
}

/// `{group: {id, mail}, member: <user>}` from `/groups/{id}/members/microsoft.graph.user`.
pub fn membership() -> MappingRegistration {
    MappingRegistration::new(DirectoryMembership::METADATA.schema)
        .filter(r#"payload.?member.id.orValue("") != "" && payload.?group.id.orValue("") != """#)
        .map(
            r#"{
  "accountExternalID": payload.member.id,
  "groupExternalID": payload.group.id,
  "role": "MEMBER",
  "profile": {
    "memberUserType": payload.?member.userType.orValue(null),
    "memberEmail": payload.?member.mail.orValue(null),
    "groupEmail": payload.?group.mail.orValue(null)
  }
}"#,
        )
}
