//! The CEL mapping from Slack users (`users.list` members, as Slack documents the user object)
//! to directory accounts.

use tributary_core::MappingRegistration;
use tributary_model::{DirectoryAccount, IngestModel};

/// A member is `{id, team_id, name, deleted, real_name, tz, tz_offset, profile: {email,
/// display_name, real_name, first_name, last_name, title, image_192, bot_id, api_app_id},
/// is_admin, is_owner, is_primary_owner, is_restricted, is_ultra_restricted, is_bot,
/// is_app_user, is_invited_user, has_2fa, two_factor_type, updated, enterprise_user}`.
///
/// - Deactivated members (`deleted: true`) stay listed by Slack and are `INACTIVE`; members
///   removed from the list altogether are tombstoned by the next complete sync.
/// - Bots, app users and Slackbot (`USLACKBOT`, which Slack does not flag as a bot) are `BOT`
///   accounts; they have no email and no 2FA state. The original skipped them, hiding apps
///   that can act in the workspace.
/// - Guests (`is_restricted`, `is_ultra_restricted`) are `GUEST` accounts.
/// - Slack shows `has_2fa` only to admins' tokens; when it is absent the state is `UNKNOWN`.
///   The original reported `DISABLED`, a false finding.
/// - Every field except `id` is guarded: deactivated users and bots lack many of them.
pub fn account() -> MappingRegistration {
    MappingRegistration::new(DirectoryAccount::METADATA.schema).map(
        r#"cel.bind(p, payload.?profile.orValue({}),
cel.bind(bot, payload.?is_bot.orValue(false) || payload.?is_app_user.orValue(false) || payload.id == "USLACKBOT",
cel.bind(guest, payload.?is_restricted.orValue(false) || payload.?is_ultra_restricted.orValue(false),
{
  "externalID": payload.id,
  "canonicalEmail": p.?email.orValue("") != "" ? p.email.lowerAscii() : null,
  "username": payload.?name.orValue(null),
  "displayName": p.?display_name.orValue("") != "" ? p.display_name
      : p.?real_name.orValue("") != "" ? p.real_name
      : payload.?real_name.orValue("") != "" ? payload.real_name
      : payload.?name.orValue(null),
  "givenName": p.?first_name.orValue("") != "" ? p.first_name : null,
  "familyName": p.?last_name.orValue("") != "" ? p.last_name : null,
  "jobTitle": p.?title.orValue("") != "" ? p.title : null,
  "accountType": bot ? "BOT" : guest ? "GUEST" : "USER",
  "status": payload.?deleted.orValue(false) ? "INACTIVE"
      : payload.?is_invited_user.orValue(false) ? "PENDING" : "ACTIVE",
  "mfaState": payload.?has_2fa.orValue(null) == null ? "UNKNOWN"
      : payload.has_2fa ? "ENABLED" : "DISABLED",
  "isAdmin": payload.?is_admin.orValue(false) || payload.?is_owner.orValue(false)
      || payload.?is_primary_owner.orValue(false),
  "roles": (payload.?is_primary_owner.orValue(false) ? ["primary_owner"] : [])
      + (payload.?is_owner.orValue(false) ? ["owner"] : [])
      + (payload.?is_admin.orValue(false) ? ["admin"] : [])
      + (payload.?is_ultra_restricted.orValue(false) ? ["single_channel_guest"]
          : payload.?is_restricted.orValue(false) ? ["multi_channel_guest"] : [])
      + (bot ? ["bot"] : []),
  "directoryName": payload.?team_id.orValue(null),
  "avatarURL": p.?image_192.orValue("") != "" ? p.image_192 : null,
  "sourceUpdatedAt": payload.?updated.orValue(0) > 0
      ? timestamp("1970-01-01T00:00:00Z") + duration(string(payload.updated) + "s") : null,
  "profile": {
    "teamId": payload.?team_id.orValue(null),
    "enterpriseId": payload.?enterprise_user.enterprise_id.orValue(null),
    "tz": payload.?tz.orValue(null),
    "tzOffset": payload.?tz_offset.orValue(null),
    "isRestricted": payload.?is_restricted.orValue(false),
    "isUltraRestricted": payload.?is_ultra_restricted.orValue(false),
    "isBot": payload.?is_bot.orValue(false),
    "isAppUser": payload.?is_app_user.orValue(false),
    "botId": p.?bot_id.orValue(null),
    "appId": p.?api_app_id.orValue(null),
    "twoFactorType": payload.?two_factor_type.orValue(null)
  }
})))"#,
    )
}
