//! Microsoft Graph change notifications carry no signature: each notification in a delivery
//! repeats the `clientState` the subscription was created with, a secret only Graph and we know.
//! A delivery is genuine when every notification in it carries exactly the endpoint's secret.

use serde::Deserialize;
use subtle::ConstantTimeEq;
use tributary_core::{InboundWebhook, Secret, VerifyError};

use crate::{accept_if, refuse};

/// Notifications per delivery Graph may batch; more is not a Graph delivery.
const MAX_NOTIFICATIONS: usize = 1_000;

#[derive(Deserialize)]
struct Collection {
    value: Vec<Notification>,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "clientState")]
    client_state: Option<String>,
}

/// Verifies a Graph change or lifecycle notification collection (`{"value": [...]}`): it holds at
/// least one notification and every one's `clientState` equals `secret`, compared in constant
/// time.
pub fn graph_client_state(request: &InboundWebhook, secret: &Secret) -> Result<(), VerifyError> {
    if secret.is_empty() {
        return Err(refuse("no secret is configured for this endpoint"));
    }
    let collection: Collection = serde_json::from_slice(&request.body)
        .map_err(|_| refuse("the body is not a Graph notification collection"))?;
    if collection.value.is_empty() {
        return Err(refuse("the notification collection is empty"));
    }
    if collection.value.len() > MAX_NOTIFICATIONS {
        return Err(refuse(format!(
            "the collection holds more than {MAX_NOTIFICATIONS} notifications"
        )));
    }
    // Every notification is compared, so the time taken does not say which one differed.
    let mut all_match = true;
    for notification in &collection.value {
        let given = notification.client_state.as_deref().unwrap_or_default();
        all_match &= bool::from(given.as_bytes().ct_eq(secret.expose().as_bytes()));
    }
    accept_if(all_match, "a notification's clientState does not match")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(body: &str) -> InboundWebhook {
        InboundWebhook {
            method: "POST".into(),
            body: body.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn every_notification_must_carry_the_secret() {
        let secret = Secret::new("whsec_abc");
        let good = r#"{"value":[{"clientState":"whsec_abc","changeType":"updated"},{"clientState":"whsec_abc"}]}"#;
        assert!(graph_client_state(&delivery(good), &secret).is_ok());
        let one_off = r#"{"value":[{"clientState":"whsec_abc"},{"clientState":"whsec_abd"}]}"#;
        let err = graph_client_state(&delivery(one_off), &secret).unwrap_err();
        assert!(!err.0.contains("whsec_"), "never echoes a secret: {err}");
        let missing = r#"{"value":[{"changeType":"updated"}]}"#;
        assert!(graph_client_state(&delivery(missing), &secret).is_err());
    }

    #[test]
    fn empty_or_foreign_bodies_are_refused() {
        let secret = Secret::new("whsec_abc");
        for body in [r#"{"value":[]}"#, r#"{"events":[]}"#, "not json", ""] {
            assert!(
                graph_client_state(&delivery(body), &secret).is_err(),
                "{body}"
            );
        }
        let good = r#"{"value":[{"clientState":""}]}"#;
        assert!(graph_client_state(&delivery(good), &Secret::new("")).is_err());
    }
}
