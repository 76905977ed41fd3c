//! The CEL mapping from Cloudflare account members to directory accounts.

use tributary_core::MappingRegistration;
use tributary_model::{DirectoryAccount, IngestModel};

/// A member is `{id, status, user: {id, email, first_name, last_name,
/// two_factor_authentication_enabled}, roles: [{id, name}], policies}`.
///
/// - The member id is the external id. It stays the same when an invitation is accepted; the
///   user id is absent until then. The original keyed on the user id, so an accepted invitation
///   became a different account.
/// - Invitations not yet accepted are `PENDING`. The original mapped them to INACTIVE, as if
///   they had been removed.
/// - Names may be null on pending invitations.
pub fn account() -> MappingRegistration {
    MappingRegistration::new(DirectoryAccount::METADATA.schema).map(
        r#"{
  "externalID": payload.id,
  "canonicalEmail": payload.?user.email.orValue(null) != null ? payload.user.email.lowerAscii() : null,
  "displayName": payload.?user.first_name.orValue(null) != null && payload.user.first_name != ""
      ? payload.user.first_name + (payload.?user.last_name.orValue(null) != null && payload.user.last_name != "" ? " " + payload.user.last_name : "")
      : payload.?user.email.orValue(null),
  "givenName": payload.?user.first_name.orValue(null),
  "familyName": payload.?user.last_name.orValue(null),
  "status": payload.status == "accepted" ? "ACTIVE" : payload.status == "pending" ? "PENDING" : "INACTIVE",
  "mfaState": payload.?user.two_factor_authentication_enabled.orValue(null) == null ? "UNKNOWN"
      : payload.user.two_factor_authentication_enabled ? "ENABLED" : "DISABLED",
  "accountType": "USER",
  "roles": payload.?roles.orValue([]).map(r, r.name),
  "isAdmin": payload.?roles.orValue([]).exists(r, r.name.startsWith("Super Administrator") || r.name == "Administrator"),
  "profile": {"userId": payload.?user.id.orValue(null), "memberStatus": payload.status}
}"#,
    )
}
