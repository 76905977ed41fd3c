//! App-level webhook events that arrive before their installation is connected.
//!
//! A provider may deliver an installation's first events while the install callback is still
//! running (GitHub sends `installation.created` at once; the integration's metadata names the
//! installation only when the callback has finished). An app route that declares
//! `hold_unrouted(window)` does not drop an event whose installation no integration knows (in
//! any status; one a disconnected integration knows is acknowledged and dropped as before): it
//! is stored as a job before the request is acknowledged, and the job routes it again
//! with growing waits (1 s, 2 s, ... at most 15 s apart) until an integration with the
//! installation is connected or the window ends. Routed, it becomes an ordinary delivery of that
//! integration (deduplicated on the delivery id like any other). A job whose window ended
//! without a connection is dead with a message saying so, visible among the queue's jobs.

use std::time::Duration;

use serde_json::{Value, json};
use tributary_core::{ResolvedEvent, WebhookRegistration, WebhookRoute};
use tributary_store::jobs::{Job, JobError, NewJob};

use crate::{Runtime, WebhookAck, WebhookRejection, webhooks::delivery_key};

/// The job kind of a held app-level event.
pub const HELD_EVENT_JOB_KIND: &str = "held_app_webhook_event";

/// The longest wait between two routing attempts.
const MAX_WAIT: Duration = Duration::from_secs(15);

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The wait after failed routing attempt `attempt` (1-based).
fn wait_after(attempt: i64) -> Duration {
    Duration::from_secs(u64::try_from(attempt.max(1)).unwrap_or(1)).min(MAX_WAIT)
}

impl Runtime {
    /// Stores an event of `webhook` whose routing key `key` no connected integration has yet.
    pub(crate) async fn hold_app_event(
        &self,
        definition_id: &str,
        webhook: &WebhookRegistration,
        key: &str,
        resolved: &ResolvedEvent,
        body: &[u8],
    ) -> Result<WebhookAck, WebhookRejection> {
        let window = webhook.hold_unrouted.unwrap_or_default();
        let until = now_seconds().saturating_add(i64::try_from(window.as_secs()).unwrap_or(0));
        let body_sha256 = crate::webhooks::body_digest(body);
        let delivery = delivery_key(resolved, &body_sha256);
        let payload = json!({
            "definitionId": definition_id,
            "webhook": webhook.name,
            "routingKey": key,
            "until": until,
            "event": {
                "name": resolved.name,
                "deliveryId": delivery,
                "bodySha256": body_sha256,
                "providerEvent": resolved.provider_event,
                "action": resolved.action,
                "payload": resolved.payload,
            },
        });
        // Enough attempts for the window at the longest wait, plus the first.
        let attempts = i64::try_from(window.as_secs() / MAX_WAIT.as_secs()).unwrap_or(0) + 20;
        let idempotency = format!("held:{definition_id}:{}:{delivery}", webhook.name);
        let mut tx = self.inner.db.begin().await?;
        let job = tx
            .jobs()
            .enqueue(
                &NewJob::new(&self.inner.config.queue, HELD_EVENT_JOB_KIND, &payload)
                    .max_attempts(attempts)
                    .idempotency_key(&idempotency),
            )
            .await?;
        tx.commit().await?;
        tracing::info!(
            job = %job.id(),
            routing_key = %key,
            "app webhook event held until its installation is connected"
        );
        Ok(WebhookAck::Held {
            job: job.id().to_owned(),
            until,
        })
    }

    /// The job handler of held events: routes the event if its installation is connected now.
    pub(crate) async fn process_held_event_job(&self, job: Job) -> Result<(), JobError> {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let definition_id = text(&job.payload["definitionId"]);
        let webhook_name = text(&job.payload["webhook"]);
        let key = text(&job.payload["routingKey"]);
        let until = job.payload["until"].as_i64().unwrap_or(0);
        let event = &job.payload["event"];
        let Some(definition) = self.registry().definition(&definition_id).cloned() else {
            return Err(JobError::permanent("the held event's definition is gone"));
        };
        let Some(webhook) = definition.definition.webhook_named(&webhook_name) else {
            return Err(JobError::permanent("the held event's webhook is gone"));
        };
        let WebhookRoute::Definition { attribute, .. } = &webhook.route else {
            return Err(JobError::permanent(
                "the held event's webhook is not an app route",
            ));
        };
        let resolved = ResolvedEvent {
            name: event["name"].as_str().map(str::to_owned),
            delivery_id: event["deliveryId"].as_str().map(str::to_owned),
            provider_event: text(&event["providerEvent"]),
            action: text(&event["action"]),
            payload: event["payload"].clone(),
        };
        let integrations = self
            .inner
            .db
            .integrations()
            .find_by_attribute(&definition_id, attribute, &key)
            .await
            .map_err(|e| JobError::retry(format!("finding the installation: {e}")))?;
        let mut routed = 0;
        for integration in integrations.iter().filter(|i| i.status.takes_deliveries()) {
            let endpoints = self
                .inner
                .db
                .webhooks(&self.inner.ring)
                .list_endpoints(&integration.tenant_id, &integration.id)
                .await
                .map_err(|e| JobError::retry(format!("listing endpoints: {e}")))?;
            let Some(endpoint) = endpoints.into_iter().find(|e| e.name == webhook.name) else {
                continue;
            };
            // The original body's digest, so that the provider's own redelivery of the event
            // is a copy, not a conflict (events held before it was kept have none).
            let body_sha256 = event["bodySha256"].as_str().map(str::to_owned);
            self.accept_delivery(&endpoint, webhook, &resolved, body_sha256)
                .await
                .map_err(|e| JobError::retry(format!("storing the routed event: {e}")))?;
            routed += 1;
        }
        if routed > 0 {
            tracing::info!(routing_key = %key, routed, "held app webhook event routed");
            return Ok(());
        }
        if now_seconds() >= until {
            return Err(JobError::permanent(format!(
                "no integration connected installation {key} while the event was held"
            )));
        }
        Err(
            JobError::retry(format!("installation {key} is not connected yet"))
                .retry_after(wait_after(job.attempts)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_cap() {
        assert_eq!(wait_after(1), Duration::from_secs(1));
        assert_eq!(wait_after(3), Duration::from_secs(3));
        assert_eq!(wait_after(400), MAX_WAIT);
    }
}
