//! Okta event hooks: Okta pushes directory events (a user created, deactivated, added to a group,
//! ...) to the integration's endpoint, and each delivery that touches the directory queues a
//! DirectorySync, so changes arrive in minutes instead of at the next reconcile.
//!
//! Okta authenticates a delivery with a header whose name and value the admin types when creating
//! the hook: we ask for `Authorization` and the endpoint's secret. The one-time verification is a
//! GET with `X-Okta-Verification-Challenge`, answered with `{"verification": ...}`.

use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    ResolvedEvent, StableName, VerifyError, WebhookEvent, WebhookOutcome, WebhookRegistration,
};
use tributary_webhooks::{okta_verification_challenge, shared_secret_header};

use super::DirectorySync;

/// The header Okta is told to send the endpoint secret in.
pub const AUTH_HEADER: &str = "authorization";

/// One event hook delivery: a batch of System Log events.
#[derive(Debug, StableName, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaEventHookDelivery {
    #[serde(default)]
    pub data: OktaEventBatch,
}

#[derive(Debug, Default, Deserialize)]
pub struct OktaEventBatch {
    #[serde(default)]
    pub events: Vec<OktaEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaEvent {
    #[serde(default)]
    pub event_type: String,
}

/// Event types that change what a DirectorySync reads: user lifecycle and profile, group
/// lifecycle and membership.
fn touches_directory(event_type: &str) -> bool {
    event_type.starts_with("user.lifecycle.")
        || event_type == "user.account.update_profile"
        || event_type.starts_with("group.user_membership.")
        || event_type.starts_with("group.lifecycle.")
        || event_type == "group.profile.updated"
}

fn resolve(request: &tributary_core::InboundWebhook) -> Result<ResolvedEvent, VerifyError> {
    let payload: Value = serde_json::from_slice(&request.body)
        .map_err(|_| VerifyError("the Okta event hook body is not JSON".into()))?;
    let first_event = payload
        .pointer("/data/events/0/eventType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let is_delivery =
        payload.get("eventType").and_then(Value::as_str) == Some("com.okta.event_hook");
    Ok(ResolvedEvent {
        name: is_delivery.then(|| OktaEventHookDelivery::NAME.to_owned()),
        delivery_id: payload
            .get("eventId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        provider_event: first_event,
        action: String::new(),
        payload,
    })
}

pub(super) fn registration() -> WebhookRegistration {
    WebhookRegistration::new("event_hooks")
        .verify(|request, secret| shared_secret_header(request, AUTH_HEADER, secret))
        .handshake(okta_verification_challenge)
        .resolve_event(resolve)
        .event(
            WebhookEvent::<OktaEventHookDelivery>::new(
                "System Log events; directory changes queue a DirectorySync",
            )
            .handle(|_request, delivery| async move {
                let changed = delivery
                    .data
                    .events
                    .iter()
                    .any(|event| touches_directory(&event.event_type));
                Ok(WebhookOutcome {
                    dispatch: if changed {
                        vec![(DirectorySync::NAME, json!({}))]
                    } else {
                        Vec::new()
                    },
                    ..WebhookOutcome::default()
                })
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::touches_directory;

    #[test]
    fn directory_events_are_recognised() {
        assert!(touches_directory("user.lifecycle.deactivate"));
        assert!(touches_directory("group.user_membership.add"));
        assert!(!touches_directory("user.session.start"));
        assert!(!touches_directory("policy.lifecycle.update"));
    }
}
