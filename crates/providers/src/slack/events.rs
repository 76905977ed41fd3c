//! Slack's Events API for the operator's app: one Request URL for every workspace that installed
//! it (`/v1/webhooks/apps/slack/events`), signed with the app's signing secret (`v0`), routed by
//! the payload's `team_id` to the integrations connected to that workspace in the OAuth mode.
//!
//! - `url_verification`: Slack checks the Request URL; the challenge is echoed once the request's
//!   signature checks out.
//! - `user_change`, `team_join`: the event's `user` is the same object `users.list` lists, so it
//!   is ingested as its DirectoryAccount at once through the definition's account mapping.
//! - `app_uninstalled`, and `tokens_revoked` naming the integration's bot user: the app lost its
//!   access to the workspace, so the integration is disconnected.
//!
//! Other events are acknowledged and recorded without a handler. A bot-token integration is never
//! routed to: its events would come from the workspace's own app, signed with that app's secret.

use serde::Deserialize;
use serde_json::Value;
use tributary_core::{
    IngestPayloadSet, MappingEnvelope, OperationError, ResolvedEvent, Secret, StableName,
    VerifyError, WebhookEvent, WebhookEventRequest, WebhookOutcome, WebhookRegistration,
};
use tributary_model::{DirectoryAccount, IngestModel};
use tributary_webhooks::{DEFAULT_TOLERANCE_SECS, slack_url_verification, slack_v0};

use super::SlackOperatorConfig;

/// The explicit, persisted name of the Events API webhook.
pub const EVENTS_WEBHOOK: &str = "events";

/// The metadata attribute deliveries are routed by: the workspace's team id, set only by the
/// OAuth mode, the one connection mode whose app is the operator's.
pub const EVENTS_TEAM_ATTRIBUTE: &str = "eventsTeamId";

/// Slack team ids are short and alphanumeric (`T0ACMEHQ1`); anything else routes nowhere.
const MAX_TEAM_ID_LEN: usize = 32;

/// `user_change`: a member's profile or account changed (deactivated, made admin, renamed...).
#[derive(StableName, Deserialize)]
pub struct UserChange {
    #[serde(default)]
    event: MemberEvent,
}

/// `team_join`: a member joined the workspace.
#[derive(StableName, Deserialize)]
pub struct TeamJoin {
    #[serde(default)]
    event: MemberEvent,
}

/// `app_uninstalled`: the app was removed from the workspace.
#[derive(StableName, Deserialize)]
pub struct AppUninstalled {}

/// `tokens_revoked`: some of the app's tokens in the workspace were revoked.
#[derive(StableName, Deserialize)]
pub struct TokensRevoked {
    #[serde(default)]
    event: RevokedEvent,
}

#[derive(Default, Deserialize)]
struct MemberEvent {
    #[serde(default)]
    user: Value,
}

#[derive(Default, Deserialize)]
struct RevokedEvent {
    #[serde(default)]
    tokens: RevokedTokens,
}

/// Slack lists the owners of the revoked tokens by user id, never the tokens themselves.
#[derive(Default, Deserialize)]
struct RevokedTokens {
    #[serde(default)]
    bot: Vec<String>,
}

/// The handled event of an `event_callback`'s inner `event.type`.
fn event_name(inner_type: &str) -> Option<&'static str> {
    Some(match inner_type {
        "user_change" => UserChange::NAME,
        "team_join" => TeamJoin::NAME,
        "app_uninstalled" => AppUninstalled::NAME,
        "tokens_revoked" => TokensRevoked::NAME,
        _ => return None,
    })
}

fn resolve(request: &tributary_core::InboundWebhook) -> Result<ResolvedEvent, VerifyError> {
    let mut payload: Value = serde_json::from_slice(&request.body)
        .map_err(|_| VerifyError("the body is not JSON".into()))?;
    let envelope = payload
        .as_object_mut()
        .ok_or_else(|| VerifyError("the body is not an Events API payload".into()))?;
    // The legacy verification token authenticates requests to apps that still check it: the
    // delivery is stored as resolved here, so it must not be among it.
    envelope.remove("token");
    let kind = text(&payload, "/type");
    let (provider_event, name) = if kind == "event_callback" {
        let inner = text(&payload, "/event/type");
        let name = event_name(&inner);
        (inner, name)
    } else {
        (kind, None)
    };
    Ok(ResolvedEvent {
        name: name.map(str::to_owned),
        // Slack retries (`X-Slack-Retry-Num`) carry the same event_id: they deduplicate on it.
        delivery_id: Some(text(&payload, "/event_id")).filter(|id| !id.is_empty()),
        provider_event,
        action: String::new(),
        payload,
    })
}

fn text(payload: &Value, pointer: &str) -> String {
    payload
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The workspace an event belongs to: the envelope's `team_id`, else (as Slack documents for
/// events whose envelope lacks it) the first authorization's, else the user's.
fn team_of(event: &ResolvedEvent) -> Option<String> {
    [
        "/team_id",
        "/authorizations/0/team_id",
        "/event/user/team_id",
    ]
    .iter()
    .filter_map(|pointer| event.payload.pointer(pointer).and_then(Value::as_str))
    .find(|team| !team.is_empty())
    .filter(|team| team.len() <= MAX_TEAM_ID_LEN && team.chars().all(|c| c.is_ascii_alphanumeric()))
    .map(str::to_owned)
}

/// Whether `user` is a member `users.list` lists for the integration's workspace: of the
/// workspace itself, or of its Enterprise Grid organisation. Someone of another organisation
/// (seen through a Slack Connect channel) is not: a sync would tombstone the account at once.
/// A user object without a team cannot be told apart and counts as a member.
fn is_member(user: &Value, integration_metadata: &Value) -> bool {
    let attribute = |name: &str| {
        integration_metadata
            .pointer(&format!("/attributes/{name}"))
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
    };
    let Some(team) = user["team_id"].as_str().filter(|team| !team.is_empty()) else {
        return true;
    };
    Some(team) == attribute("teamId")
        || attribute("enterpriseId").is_some_and(|enterprise| {
            user.pointer("/enterprise_user/enterprise_id")
                .and_then(Value::as_str)
                == Some(enterprise)
        })
}

/// The event's user as its DirectoryAccount, with the resource DirectorySync gives it.
fn member_outcome(
    request: &WebhookEventRequest,
    user: Value,
) -> Result<WebhookOutcome, OperationError> {
    let Some(id) = user["id"].as_str().filter(|id| !id.is_empty()) else {
        return Err(OperationError::provider(format!(
            "the {} event carries no user",
            request.event.provider_event
        )));
    };
    if !is_member(&user, &request.integration.metadata) {
        return Ok(WebhookOutcome::default());
    }
    let resource = format!("{}/{id}", user["team_id"].as_str().unwrap_or_default());
    Ok(WebhookOutcome {
        ingest: vec![IngestPayloadSet::new(
            DirectoryAccount::METADATA.schema,
            vec![
                MappingEnvelope::new(user)
                    .resource(resource)
                    .action(request.event.provider_event.clone()),
            ],
        )],
        ..WebhookOutcome::default()
    })
}

/// Whether revoking the bot tokens of `revoked` ends this integration's access: its bot user is
/// among them (an app has one bot user per workspace, so when the connection did not record it,
/// any revoked bot token is ours).
fn bot_revoked(integration_metadata: &Value, revoked: &[String]) -> bool {
    match integration_metadata
        .pointer("/attributes/botUserId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
    {
        Some(bot_user) => revoked.iter().any(|id| id == bot_user),
        None => !revoked.is_empty(),
    }
}

fn teardown(yes: bool) -> WebhookOutcome {
    WebhookOutcome {
        teardown: yes,
        ..WebhookOutcome::default()
    }
}

pub(super) fn registration(operator: &SlackOperatorConfig) -> WebhookRegistration {
    // Without a configured signing secret nothing verifies: the route is closed, not open.
    let secret = operator
        .signing_secret
        .clone()
        .unwrap_or_else(|| Secret::new(""));
    let handshake_secret = secret.clone();
    WebhookRegistration::new(EVENTS_WEBHOOK)
        .app_route(EVENTS_TEAM_ATTRIBUTE, secret, team_of)
        .verify(verify)
        // Slack signs the URL check too; an unsigned one gets no answer but a refusal.
        .handshake(move |request| {
            let answer = slack_url_verification(request)?;
            verify(request, &handshake_secret).ok()?;
            Some(answer)
        })
        .resolve_event(resolve)
        .event(
            WebhookEvent::<UserChange>::new(
                "A member's profile or account changed: their DirectoryAccount is updated",
            )
            .ingests([DirectoryAccount::METADATA.schema])
            .handle(|request, event| async move { member_outcome(&request, event.event.user) }),
        )
        .event(
            WebhookEvent::<TeamJoin>::new(
                "A member joined the workspace: their DirectoryAccount is added",
            )
            .ingests([DirectoryAccount::METADATA.schema])
            .handle(|request, event| async move { member_outcome(&request, event.event.user) }),
        )
        .event(
            WebhookEvent::<AppUninstalled>::new(
                "The app was uninstalled from the workspace: the integration is disconnected",
            )
            .handle(|_request, _event| async { Ok(teardown(true)) }),
        )
        .event(
            WebhookEvent::<TokensRevoked>::new(
                "Tokens of the app were revoked: the integration is disconnected when its bot \
                 token is among them",
            )
            .handle(|request, event| async move {
                Ok(teardown(bot_revoked(
                    &request.integration.metadata,
                    &event.event.tokens.bot,
                )))
            }),
        )
}

fn verify(request: &tributary_core::InboundWebhook, secret: &Secret) -> Result<(), VerifyError> {
    if secret.is_empty() {
        return Err(VerifyError(
            "the Slack app has no signing secret configured".into(),
        ));
    }
    slack_v0(request, secret, DEFAULT_TOLERANCE_SECS)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn resolved(payload: Value) -> ResolvedEvent {
        resolve(&tributary_core::InboundWebhook {
            body: serde_json::to_vec(&payload).unwrap(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn callbacks_resolve_by_their_inner_event_and_lose_the_verification_token() {
        let event = resolved(json!({
            "token": "XXYYZZ", "team_id": "T1", "type": "event_callback", "event_id": "Ev1",
            "event": {"type": "user_change", "user": {"id": "U1"}},
        }));
        assert_eq!(event.name.as_deref(), Some("UserChange"));
        assert_eq!(event.provider_event, "user_change");
        assert_eq!(event.delivery_id.as_deref(), Some("Ev1"));
        assert!(event.payload.get("token").is_none());
        assert_eq!(event_name("team_join"), Some("TeamJoin"));
        assert_eq!(event_name("tokens_revoked"), Some("TokensRevoked"));
        assert_eq!(event_name("app_uninstalled"), Some("AppUninstalled"));
        assert_eq!(event_name("message"), None);

        let other = resolved(json!({"type": "app_rate_limited", "team_id": "T1"}));
        assert_eq!(other.name, None);
        assert_eq!(other.provider_event, "app_rate_limited");
        assert_eq!(other.delivery_id, None);
        // An inner event type outside a callback is not one.
        let stray = resolved(json!({"type": "other", "event": {"type": "team_join"}}));
        assert_eq!(stray.name, None);
    }

    #[test]
    fn the_team_falls_back_to_the_authorization_then_the_user() {
        let team = |payload: Value| team_of(&resolved(payload));
        assert_eq!(team(json!({"team_id": "T1"})), Some("T1".into()));
        assert_eq!(
            team(json!({"team_id": "", "authorizations": [{"team_id": "T2"}]})),
            Some("T2".into())
        );
        assert_eq!(
            team(json!({"event": {"user": {"team_id": "T3"}}})),
            Some("T3".into())
        );
        assert_eq!(team(json!({"type": "event_callback"})), None);
        assert_eq!(team(json!({"team_id": "T1' OR 1=1"})), None);
        assert_eq!(team(json!({"team_id": "T".repeat(64)})), None);
    }

    #[test]
    fn members_of_the_workspace_or_its_organisation_are_ingested_others_not() {
        let workspace = json!({"attributes": {"teamId": "T1", "enterpriseId": null}});
        assert!(is_member(&json!({"id": "U1", "team_id": "T1"}), &workspace));
        assert!(!is_member(
            &json!({"id": "U2", "team_id": "T9"}),
            &workspace
        ));
        assert!(is_member(&json!({"id": "U3"}), &workspace));
        let grid = json!({"attributes": {"teamId": "T1", "enterpriseId": "E1"}});
        let colleague = json!({"id": "W1", "team_id": "T2",
            "enterprise_user": {"enterprise_id": "E1", "id": "W1"}});
        assert!(is_member(&colleague, &grid));
        assert!(!is_member(&colleague, &workspace));
        let stranger = json!({"id": "W2", "team_id": "T3",
            "enterprise_user": {"enterprise_id": "E2", "id": "W2"}});
        assert!(!is_member(&stranger, &grid));
    }

    #[test]
    fn only_the_integrations_bot_token_tears_it_down() {
        let metadata = json!({"attributes": {"botUserId": "U07TR1BUT0"}});
        assert!(bot_revoked(&metadata, &["U07TR1BUT0".into()]));
        assert!(!bot_revoked(&metadata, &["U0OTHERB0T".into()]));
        assert!(!bot_revoked(&metadata, &[]));
        assert!(bot_revoked(&json!({}), &["U0ANYB0T00".into()]));
        assert!(!bot_revoked(&json!({}), &[]));
    }
}
