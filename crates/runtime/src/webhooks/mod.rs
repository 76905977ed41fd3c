//! Webhook intake: verified, idempotent, never lost.
//!
//! A request to an endpoint is answered in this order: unknown or disabled endpoint (looked up
//! from the path alone, [`WebhookTarget`], so the server can refuse it before reading the body);
//! provider handshake (Slack `url_verification`, Graph `validationToken`, Okta's verification);
//! signature check, fail-closed; event resolution; payload nesting ([`MAX_PAYLOAD_DEPTH`]). Then the delivery is written durably, deduplicated on the
//! provider's delivery id (or a SHA-256 of the body when it sends none), together with the job
//! that will process it, and only then acknowledged. The job runs the event's handler and carries
//! out what it asked for (suspend or resume the connection, ingest payloads, queue operations,
//! tear the connection down); the delivery is marked done only when that succeeded. A suspended
//! integration's deliveries are taken and processed too (the provider resumes it by an event),
//! but queue no runs until it is resumed.
//!
//! A failing handler is retried with backoff while the delivery stays `received`; after the last
//! attempt it is `failed`, visible, and processed again by a provider redelivery or an operator's
//! replay. A redelivery of a done delivery is acknowledged and ignored, and one of a delivery in
//! flight is acknowledged without a second job: concurrent copies are processed once.

pub(crate) mod app_webhook_hold;
pub(crate) mod intake_commit;
pub(crate) mod webhook_access;

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument;
use tributary_core::{
    ConnectionChange, InboundWebhook, ResolvedEvent, Secret, WebhookEventRequest,
    WebhookRegistration, WebhookRoute, registry::RegisteredDefinition,
};
use tributary_store::{
    StoreError,
    integrations::IntegrationStatus,
    jobs::{Job, JobError, NewJob},
    webhooks::{DeliveryStatus, IntakeLookup, IntakeTarget, WebhookDelivery, WebhookEndpoint},
};

use crate::{
    Runtime, RuntimeError,
    runs::{RunRequest, push::Emitted},
    runtime::integration_context,
};

/// The job kind that processes a stored delivery.
pub const WEBHOOK_JOB_KIND: &str = "webhook_delivery";

/// Attempts of a delivery's handler before the delivery is marked failed.
const DELIVERY_ATTEMPTS: i64 = 5;

/// How intake answered a request the endpoint accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WebhookAck {
    /// A provider handshake, answered as the provider expects.
    Handshake {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// The delivery is stored (or was already).
    Accepted {
        /// The stored delivery's id (for replay and listing).
        delivery: String,
        /// A copy of a delivery seen before.
        duplicate: bool,
        /// Whether a job will process it now.
        queued: bool,
        /// The event name, `None` for an event the definition does not handle (recorded as done).
        event: Option<String>,
    },
    /// An app-level event stored for several integrations (the installation is connected by
    /// more than one tenant).
    Routed { acks: Vec<WebhookAck> },
    /// A verified app-level event that belongs to no connected integration: acknowledged, not
    /// stored.
    Ignored { reason: String },
    /// A verified app-level event for an installation that is not connected yet: stored and
    /// routed again until `until` (Unix seconds), so an event that beats the install callback is
    /// not lost.
    Held { job: String, until: i64 },
}

/// Why intake refused a request. The messages name what is wrong, never a secret or an expected
/// signature.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRejection {
    /// No such endpoint, or it is disabled (answered like an unknown one).
    #[error("unknown webhook endpoint")]
    UnknownEndpoint,
    /// The signature, secret or timestamp did not check out, or the body is not an event.
    #[error("webhook refused: {0}")]
    Unverified(String),
    /// The event's payload nests deeper than [`MAX_PAYLOAD_DEPTH`]: it could never be stored and
    /// processed, so it is refused (4xx) rather than retried.
    #[error("the event payload nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// The sender's budget of verified deliveries is spent (429 with `Retry-After`).
    #[error("too many deliveries for this integration; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: std::time::Duration },
    /// The provider's delivery id names a stored delivery with a different body: refused (409)
    /// and counted on the stored delivery, which is left as it was. Two different events must
    /// never be taken for copies of one.
    #[error(
        "this delivery id was used before for a different body (stored as delivery {delivery})"
    )]
    DeliveryIdReused { delivery: String },
    #[error(transparent)]
    Internal(#[from] RuntimeError),
}

/// What `NotFound` names when a stored delivery's endpoint was removed.
const ENDPOINT_GONE: &str = "webhook endpoint of the delivery";
/// The error kept on a delivery whose endpoint was removed before it was processed.
const ENDPOINT_GONE_REASON: &str = "not processed: its webhook endpoint was removed (the \
     integration was disconnected or deleted); the delivery is kept for the retention period";

/// What a verified delivery spends before it is stored: `Err(wait)` when the budget of `key`
/// is spent.
pub type DeliveryBudget<'a> = &'a (dyn Fn(&str) -> Result<(), std::time::Duration> + Send + Sync);

fn spend(budget: DeliveryBudget<'_>, key: &str) -> Result<(), WebhookRejection> {
    budget(key).map_err(|retry_after| WebhookRejection::RateLimited { retry_after })
}

/// The metric label of how intake answered.
fn intake_outcome(result: &Result<WebhookAck, WebhookRejection>) -> &'static str {
    match result {
        Ok(WebhookAck::Handshake { .. }) => "handshake",
        Ok(WebhookAck::Accepted {
            duplicate: true, ..
        }) => "duplicate",
        Ok(WebhookAck::Accepted { .. }) => "accepted",
        Ok(WebhookAck::Routed { .. }) => "routed",
        Ok(WebhookAck::Ignored { .. }) => "ignored",
        Ok(WebhookAck::Held { .. }) => "held",
        Err(WebhookRejection::UnknownEndpoint) => "unknown_endpoint",
        Err(WebhookRejection::Unverified(_)) => "unverified",
        Err(WebhookRejection::TooDeep { .. }) => "too_deep",
        Err(WebhookRejection::RateLimited { .. }) => "rate_limited",
        Err(WebhookRejection::DeliveryIdReused { .. }) => "delivery_id_reused",
        Err(WebhookRejection::Internal(_)) => "error",
    }
}

impl From<StoreError> for WebhookRejection {
    fn from(err: StoreError) -> Self {
        WebhookRejection::Internal(err.into())
    }
}

/// A webhook endpoint as shown to its tenant (never with its secret).
#[derive(Debug, Clone, Serialize)]
pub struct WebhookEndpointView {
    pub id: String,
    pub name: String,
    /// Where the provider must send events.
    pub url: String,
    pub enabled: bool,
    pub allowed_events: Vec<String>,
    pub created_at: i64,
}

/// The path of a definition-level (app) webhook: one URL for every installation.
pub fn app_webhook_path(definition_id: &str, webhook: &str) -> String {
    format!("/v1/webhooks/apps/{definition_id}/{webhook}")
}

/// What a stored delivery keeps of the resolved event besides its name.
fn stored_event(resolved: &ResolvedEvent) -> Value {
    json!({
        "payload": resolved.payload,
        "action": resolved.action,
        "providerEvent": resolved.provider_event,
    })
}

pub(crate) fn delivery_key(resolved: &ResolvedEvent, body_sha256: &str) -> String {
    match resolved.delivery_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => id.to_owned(),
        None => format!("sha256:{body_sha256}"),
    }
}

/// SHA-256 of `body`, in lowercase hex.
pub(crate) fn body_digest(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deepest nesting of an event payload that intake accepts (an array or object is one level; a
/// scalar payload has depth 0). A delivery is stored and queued wrapped in further objects
/// (`{"payload": …}` in the delivery row, `{"event": {"payload": …}}` in a held event's job) and
/// read back with serde_json, which refuses more than 127 levels; handlers and ingest may wrap it
/// again. A payload that cannot make that trip is refused with a 4xx before anything is stored,
/// so a provider is never told to retry (5xx) a delivery that could never succeed. Real provider
/// payloads nest fewer than 20 levels.
pub const MAX_PAYLOAD_DEPTH: usize = 64;

/// How deeply `value` nests, counted without recursion (the input controls the depth).
pub fn payload_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1)];
    while let Some((value, depth)) = pending.pop() {
        match value {
            Value::Array(items) => {
                deepest = deepest.max(depth);
                pending.extend(items.iter().map(|item| (item, depth + 1)));
            }
            Value::Object(fields) => {
                deepest = deepest.max(depth);
                pending.extend(fields.values().map(|field| (field, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// Refuses a resolved event whose payload nests deeper than [`MAX_PAYLOAD_DEPTH`].
fn check_payload_depth(resolved: &ResolvedEvent) -> Result<(), WebhookRejection> {
    if payload_depth(&resolved.payload) > MAX_PAYLOAD_DEPTH {
        return Err(WebhookRejection::TooDeep {
            limit: MAX_PAYLOAD_DEPTH,
        });
    }
    Ok(())
}

/// Where an intake request goes, found from its path alone: the server looks it up before it reads
/// the body, so a request to an unknown endpoint is refused without its body being read.
pub struct WebhookTarget(Target);

enum Target {
    /// A per-integration endpoint, with its secret (possibly read from intake's cache).
    Endpoint {
        lookup: IntakeLookup,
        definition: Arc<RegisteredDefinition>,
    },
    /// A definition-level (app) route.
    App {
        definition: Arc<RegisteredDefinition>,
        webhook: String,
    },
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the endpoint's secret.
        match &self.0 {
            Target::Endpoint { lookup, .. } => f
                .debug_struct("WebhookTarget::Endpoint")
                .field("id", &lookup.target.endpoint.id)
                .finish_non_exhaustive(),
            Target::App {
                definition,
                webhook,
            } => f
                .debug_struct("WebhookTarget::App")
                .field("definition", &definition.definition.id())
                .field("webhook", webhook)
                .finish(),
        }
    }
}

impl Runtime {
    /// Finds the per-integration endpoint `endpoint_id`: `UnknownEndpoint` if there is none, it is
    /// disabled, or its integration, definition or webhook is gone.
    pub async fn webhook_endpoint_target(
        &self,
        endpoint_id: &str,
    ) -> Result<WebhookTarget, WebhookRejection> {
        self.endpoint_target(endpoint_id, false).await
    }

    /// [`webhook_endpoint_target`](Self::webhook_endpoint_target), from intake's cache (a burst to
    /// one endpoint reads it once) unless `fresh`.
    async fn endpoint_target(
        &self,
        endpoint_id: &str,
        fresh: bool,
    ) -> Result<WebhookTarget, WebhookRejection> {
        // At most one query per request: the endpoint, its secret and its integration's
        // definition.
        let Some(lookup) = self
            .inner
            .db
            .webhooks(&self.inner.ring)
            .cached_intake_target(endpoint_id, fresh)
            .await?
        else {
            return Err(WebhookRejection::UnknownEndpoint);
        };
        let IntakeTarget {
            endpoint,
            definition_id,
            ..
        } = lookup.target.as_ref();
        if !endpoint.enabled {
            return Err(WebhookRejection::UnknownEndpoint);
        }
        // A definition no longer registered takes no deliveries: answering 5xx would have the
        // provider retry forever.
        let definition = self.definition_routing(definition_id, &endpoint.name, |route| {
            matches!(route, WebhookRoute::PerIntegration)
        })?;
        Ok(WebhookTarget(Target::Endpoint { lookup, definition }))
    }

    /// The registered definition `definition_id` when it declares a webhook `webhook_name` whose
    /// route `fits`; an unknown endpoint otherwise.
    fn definition_routing(
        &self,
        definition_id: &str,
        webhook_name: &str,
        fits: impl Fn(&WebhookRoute) -> bool,
    ) -> Result<Arc<RegisteredDefinition>, WebhookRejection> {
        let definition = self
            .registry()
            .definition(definition_id)
            .ok_or(WebhookRejection::UnknownEndpoint)?
            .clone();
        definition
            .definition
            .webhook_named(webhook_name)
            .filter(|w| fits(&w.route))
            .ok_or(WebhookRejection::UnknownEndpoint)?;
        Ok(definition)
    }

    /// Finds the definition-level route `/v1/webhooks/apps/<definition>/<webhook>`.
    pub fn app_webhook_target(
        &self,
        definition_id: &str,
        webhook_name: &str,
    ) -> Result<WebhookTarget, WebhookRejection> {
        let definition = self.definition_routing(definition_id, webhook_name, |route| {
            matches!(route, WebhookRoute::Definition { .. })
        })?;
        Ok(WebhookTarget(Target::App {
            definition,
            webhook: webhook_name.to_owned(),
        }))
    }

    /// Takes a request to a target found by [`webhook_endpoint_target`](Self::webhook_endpoint_target)
    /// or [`app_webhook_target`](Self::app_webhook_target). `Ok` means: answer 2xx (the delivery
    /// is durable, or it was a handshake).
    pub async fn receive_at(
        &self,
        target: &WebhookTarget,
        request: &InboundWebhook,
    ) -> Result<WebhookAck, WebhookRejection> {
        self.receive_at_within(target, request, &|_| Ok(())).await
    }

    /// [`receive_at`](Self::receive_at), spending `budget` for each verified delivery before it
    /// is stored: under the key `integration:<id>` on an endpoint, `installation:<definition>/
    /// <webhook>/<routing key>` on an app route. Only a request that verified spends, so
    /// unsigned or forged traffic cannot use up a sender's budget.
    pub async fn receive_at_within(
        &self,
        target: &WebhookTarget,
        request: &InboundWebhook,
        budget: DeliveryBudget<'_>,
    ) -> Result<WebhookAck, WebhookRejection> {
        let started = std::time::Instant::now();
        let result = self.receive_at_target(target, request, budget).await;
        let definition = match &target.0 {
            Target::Endpoint { definition, .. } | Target::App { definition, .. } => {
                definition.definition.id()
            }
        };
        self.inner
            .metrics
            .webhook_request(definition, intake_outcome(&result), started.elapsed());
        result
    }

    async fn receive_at_target(
        &self,
        target: &WebhookTarget,
        request: &InboundWebhook,
        budget: DeliveryBudget<'_>,
    ) -> Result<WebhookAck, WebhookRejection> {
        match &target.0 {
            Target::Endpoint { lookup, definition } => {
                self.receive_at_endpoint(lookup, definition, request, budget)
                    .await
            }
            Target::App {
                definition,
                webhook,
            } => {
                self.receive_at_app(definition, webhook, request, budget)
                    .await
            }
        }
    }

    /// Takes a request to a per-integration endpoint. `Ok` means: answer 2xx (the delivery is
    /// durable, or it was a handshake).
    pub async fn receive_webhook(
        &self,
        endpoint_id: &str,
        request: &InboundWebhook,
    ) -> Result<WebhookAck, WebhookRejection> {
        let target = self.webhook_endpoint_target(endpoint_id).await?;
        self.receive_at(&target, request).await
    }

    async fn receive_at_endpoint(
        &self,
        lookup: &IntakeLookup,
        definition: &RegisteredDefinition,
        request: &InboundWebhook,
        budget: DeliveryBudget<'_>,
    ) -> Result<WebhookAck, WebhookRejection> {
        let endpoint = &lookup.target.endpoint;
        // The caller's span (the HTTP request's) names them too, for its own lines; a span
        // without these fields ignores them.
        let caller = tracing::Span::current();
        caller.record("tenant_id", endpoint.tenant_id.as_str());
        caller.record("integration_id", endpoint.integration_id.as_str());
        let span = tracing::info_span!(
            "tributary.webhook",
            tenant_id = %endpoint.tenant_id,
            integration_id = %endpoint.integration_id,
            endpoint_id = %endpoint.id,
            definition_id = %definition.definition.id(),
        );
        async {
            let webhook = definition
                .definition
                .webhook_named(&endpoint.name)
                .ok_or(WebhookRejection::UnknownEndpoint)?;
            if let Some(handshake) = webhook.answer_handshake(request) {
                return Ok(WebhookAck::Handshake {
                    status: handshake.status,
                    content_type: handshake.content_type,
                    body: handshake.body,
                });
            }
            self.verify_at_endpoint(lookup, webhook, request).await?;
            let resolved = webhook
                .resolve(request)
                .map_err(|e| WebhookRejection::Unverified(e.0))?;
            check_payload_depth(&resolved)?;
            spend(budget, &format!("integration:{}", endpoint.integration_id))?;
            self.accept_delivery(
                endpoint,
                webhook,
                &resolved,
                Some(body_digest(&request.body)),
            )
            .await
        }
        .instrument(span)
        .await
    }

    /// Verifies `request` with the endpoint's secret. A secret read from intake's cache may
    /// predate a rotation made by another process: when it does not verify, the endpoint is read
    /// again and, if its secret changed (or it is gone), the request is judged on that.
    async fn verify_at_endpoint(
        &self,
        lookup: &IntakeLookup,
        webhook: &WebhookRegistration,
        request: &InboundWebhook,
    ) -> Result<(), WebhookRejection> {
        let verify = |secret: &tributary_store::SecretBytes| {
            let secret = Secret::new(secret.expose_str().unwrap_or_default());
            webhook
                .verify_request(request, &secret)
                .map_err(|e| WebhookRejection::Unverified(e.0))
        };
        let refused = match verify(&lookup.target.secret) {
            Ok(()) => return Ok(()),
            Err(refused) if lookup.cached => refused,
            Err(refused) => return Err(refused),
        };
        let WebhookTarget(Target::Endpoint { lookup: fresh, .. }) = self
            .endpoint_target(&lookup.target.endpoint.id, true)
            .await?
        else {
            return Err(refused);
        };
        if fresh.target.secret == lookup.target.secret {
            return Err(refused);
        }
        verify(&fresh.target.secret)
    }

    /// Stores a verified event at `endpoint` (deduplicated) with the job that processes it, in one
    /// fsync'd transaction shared with the deliveries arriving at the same time (see
    /// [`crate::webhooks::intake_commit`]), and answers once it is on disk.
    pub(crate) async fn accept_delivery(
        &self,
        endpoint: &WebhookEndpoint,
        webhook: &WebhookRegistration,
        resolved: &ResolvedEvent,
        body_sha256: Option<String>,
    ) -> Result<WebhookAck, WebhookRejection> {
        let handled = resolved
            .name
            .as_deref()
            .filter(|name| webhook.event_named(name).is_some())
            .filter(|name| {
                endpoint.allowed_events.is_empty()
                    || endpoint.allowed_events.iter().any(|e| e == name)
            })
            .map(str::to_owned);
        let event_column = handled
            .clone()
            .unwrap_or_else(|| format!("unhandled:{}", resolved.provider_event));
        // A held event (no digest) always carries the key it was held under as its id.
        let key = match &body_sha256 {
            Some(digest) => delivery_key(resolved, digest),
            None => delivery_key(resolved, &body_digest(&[])),
        };
        let write = crate::webhooks::intake_commit::IntakeWrite {
            tenant_id: endpoint.tenant_id.clone(),
            endpoint_id: endpoint.id.clone(),
            key,
            event_column,
            stored: stored_event(resolved),
            handled,
            body_sha256,
        };
        self.commit_intake(write).await
    }

    /// Takes a request to a definition-level route (`/v1/webhooks/apps/<definition>/<webhook>`):
    /// one URL for every installation of an app. It is verified with the app's secret and stored
    /// at the endpoint of each connected (or suspended) integration whose metadata attribute
    /// matches the event's routing key (the installation id).
    pub async fn receive_app_webhook(
        &self,
        definition_id: &str,
        webhook_name: &str,
        request: &InboundWebhook,
    ) -> Result<WebhookAck, WebhookRejection> {
        let target = self.app_webhook_target(definition_id, webhook_name)?;
        self.receive_at(&target, request).await
    }

    async fn receive_at_app(
        &self,
        definition: &RegisteredDefinition,
        webhook_name: &str,
        request: &InboundWebhook,
        budget: DeliveryBudget<'_>,
    ) -> Result<WebhookAck, WebhookRejection> {
        let definition_id = definition.definition.id();
        let webhook = definition
            .definition
            .webhook_named(webhook_name)
            .ok_or(WebhookRejection::UnknownEndpoint)?;
        let WebhookRoute::Definition {
            attribute,
            routing_key,
            secret,
        } = &webhook.route
        else {
            return Err(WebhookRejection::UnknownEndpoint);
        };
        let span = tracing::info_span!(
            "tributary.webhook",
            definition_id = %definition_id,
            webhook = %webhook_name,
        );
        async {
            if let Some(handshake) = webhook.answer_handshake(request) {
                return Ok(WebhookAck::Handshake {
                    status: handshake.status,
                    content_type: handshake.content_type,
                    body: handshake.body,
                });
            }
            webhook
                .verify_request(request, secret)
                .map_err(|e| WebhookRejection::Unverified(e.0))?;
            let resolved = webhook
                .resolve(request)
                .map_err(|e| WebhookRejection::Unverified(e.0))?;
            check_payload_depth(&resolved)?;
            let Some(key) = routing_key(&resolved) else {
                return Ok(WebhookAck::Ignored {
                    reason: "the event belongs to no installation".into(),
                });
            };
            spend(
                budget,
                &format!("installation:{definition_id}/{webhook_name}/{key}"),
            )?;
            let integrations = self
                .inner
                .db
                .integrations()
                .find_by_attribute(definition_id, attribute, &key)
                .await?;
            let mut accepted = Vec::new();
            for integration in integrations.iter().filter(|i| i.status.takes_deliveries()) {
                let endpoints = self
                    .inner
                    .db
                    .webhooks(&self.inner.ring)
                    .list_endpoints(&integration.tenant_id, &integration.id)
                    .await?;
                let Some(endpoint) = endpoints.into_iter().find(|e| e.name == webhook.name) else {
                    tracing::warn!(integration_id = %integration.id, "a connected integration has no endpoint for this app webhook");
                    continue;
                };
                accepted.push(
                    self.accept_delivery(
                        &endpoint,
                        webhook,
                        &resolved,
                        Some(body_digest(&request.body)),
                    )
                    .await?,
                );
            }
            Ok(match accepted.len() {
                // An installation no integration knows yet may be one whose install callback
                // is still running; one that a disconnected integration knows is gone.
                0 if webhook.hold_unrouted.is_some() && integrations.is_empty() => {
                    self.hold_app_event(definition_id, webhook, &key, &resolved, &request.body)
                        .await?
                }
                0 => WebhookAck::Ignored {
                    reason: "no connected integration has this installation".into(),
                },
                1 => accepted.remove(0),
                _ => WebhookAck::Routed { acks: accepted },
            })
        }
        .instrument(span)
        .await
    }

    pub(crate) async fn enqueue_delivery(
        &self,
        tx: &mut tributary_store::Tx,
        tenant_id: &str,
        delivery_id: &str,
    ) -> Result<(), StoreError> {
        self.enqueue_deliveries(tx, &[(tenant_id, delivery_id)])
            .await
    }

    /// Queues the jobs that process these (tenant, delivery) pairs, in one statement and one
    /// wake-up however many there are: group commit queues a batch's jobs together.
    pub(crate) async fn enqueue_deliveries(
        &self,
        tx: &mut tributary_store::Tx,
        deliveries: &[(&str, &str)],
    ) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let payloads: Vec<Value> = deliveries
            .iter()
            .map(|(tenant_id, delivery_id)| json!({"tenantId": tenant_id, "deliveryId": delivery_id}))
            .collect();
        let jobs: Vec<NewJob<'_>> = deliveries
            .iter()
            .zip(&payloads)
            .map(|((tenant_id, _), payload)| {
                NewJob::new(&self.inner.config.queue, WEBHOOK_JOB_KIND, payload)
                    .tenant(tenant_id)
                    .max_attempts(DELIVERY_ATTEMPTS)
            })
            .collect();
        tx.jobs().enqueue_many(&jobs).await?;
        Ok(())
    }

    /// The integration's webhook endpoints with their public URLs.
    pub async fn list_webhook_endpoints(
        &self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<Vec<WebhookEndpointView>, RuntimeError> {
        let integration = self.integration(tenant_id, integration_id).await?;
        let definition = self.definition(&integration.definition_id)?;
        let endpoints = self
            .inner
            .db
            .webhooks(&self.inner.ring)
            .list_endpoints(tenant_id, integration_id)
            .await?;
        Ok(endpoints
            .into_iter()
            .map(|endpoint| {
                let path = match definition.definition.webhook_named(&endpoint.name) {
                    Some(w) if matches!(w.route, WebhookRoute::Definition { .. }) => {
                        app_webhook_path(definition.definition.id(), w.name)
                    }
                    Some(w) => w.endpoint_path(&endpoint.id),
                    None => format!("/v1/webhooks/{}", endpoint.id),
                };
                WebhookEndpointView {
                    url: self.inner.config.public_link(&path),
                    id: endpoint.id,
                    name: endpoint.name,
                    enabled: endpoint.enabled,
                    allowed_events: endpoint.allowed_events,
                    created_at: endpoint.created_at,
                }
            })
            .collect())
    }

    /// Gives an endpoint a new secret, returned this once; the old one stops verifying at once.
    pub async fn rotate_webhook_secret(
        &self,
        tenant_id: &str,
        integration_id: &str,
        endpoint_id: &str,
    ) -> Result<crate::CreatedWebhookEndpoint, RuntimeError> {
        let view = self
            .list_webhook_endpoints(tenant_id, integration_id)
            .await?
            .into_iter()
            .find(|e| e.id == endpoint_id)
            .ok_or(RuntimeError::NotFound("webhook endpoint"))?;
        let secret = self
            .inner
            .db
            .webhooks(&self.inner.ring)
            .rotate_secret(tenant_id, endpoint_id)
            .await?;
        Ok(crate::CreatedWebhookEndpoint {
            id: view.id,
            name: view.name,
            url: view.url,
            secret: Secret::new(secret.expose_str().unwrap_or_default()),
        })
    }

    /// Processes a stored delivery again (`tributary webhooks replay DELIVERY`): a failed one,
    /// or a done one when `force` (its handler runs twice, with the same delivery id). One being
    /// processed is refused.
    pub async fn replay_delivery(
        &self,
        tenant_id: &str,
        delivery_id: &str,
        force: bool,
    ) -> Result<WebhookDelivery, RuntimeError> {
        let delivery = self
            .inner
            .db
            .webhooks(&self.inner.ring)
            .get_delivery(tenant_id, delivery_id)
            .await?
            .ok_or(RuntimeError::NotFound("webhook delivery"))?;
        let endpoint = self
            .inner
            .db
            .webhooks(&self.inner.ring)
            .endpoint_for_intake(&delivery.endpoint_id)
            .await?;
        if endpoint.is_none() {
            return Err(RuntimeError::Invalid(format!(
                "delivery {delivery_id} cannot be replayed: its webhook endpoint was removed \
                 with its integration's disconnect or deletion (the delivery is kept as history)"
            )));
        }
        match delivery.status {
            DeliveryStatus::Done if !force => {
                return Err(RuntimeError::Invalid(format!(
                    "delivery {delivery_id} was processed already; replay it with force to \
                     process it again"
                )));
            }
            DeliveryStatus::Done => {}
            DeliveryStatus::Received => {
                return Err(RuntimeError::Invalid(format!(
                    "delivery {delivery_id} is being processed"
                )));
            }
            DeliveryStatus::Failed => {}
        }
        let mut tx = self.inner.db.begin().await?;
        if !tx
            .webhooks(&self.inner.ring)
            .requeue_delivery(tenant_id, delivery_id, force)
            .await?
        {
            return Err(RuntimeError::Invalid(format!(
                "delivery {delivery_id} is being processed"
            )));
        }
        self.enqueue_delivery(&mut tx, tenant_id, delivery_id)
            .await?;
        tx.commit().await?;
        Ok(delivery)
    }

    /// The job handler of stored deliveries.
    pub(crate) async fn process_delivery_job(&self, job: Job) -> Result<(), JobError> {
        let (Some(tenant_id), Some(delivery_id)) = (
            job.payload.get("tenantId").and_then(Value::as_str),
            job.payload.get("deliveryId").and_then(Value::as_str),
        ) else {
            return Err(JobError::permanent(
                "a delivery job without tenantId and deliveryId",
            ));
        };
        let final_attempt = job.attempts >= job.max_attempts;
        let webhooks = || self.inner.db.webhooks(&self.inner.ring);
        let delivery = match webhooks().get_delivery(tenant_id, delivery_id).await {
            Ok(Some(delivery)) if delivery.status != DeliveryStatus::Done => delivery,
            // Done already, or gone with its endpoint.
            Ok(_) => return Ok(()),
            Err(err) => return Err(JobError::retry(format!("loading the delivery: {err}"))),
        };
        // A later attempt may follow one that got as far as changing the connection.
        let retried = job.attempts > 1;
        match self.handle_delivery(&delivery, retried).await {
            Ok(()) => match webhooks()
                .finish_delivery(tenant_id, delivery_id, None)
                .await
            {
                Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
                Err(err) => Err(JobError::retry(format!("recording the delivery: {err}"))),
            },
            // Its endpoint went with a disconnect or a delete: the delivery is kept (history),
            // not processed, and no retry can change that.
            Err(RuntimeError::NotFound(ENDPOINT_GONE)) => {
                let _ = webhooks()
                    .finish_delivery(tenant_id, delivery_id, Some(ENDPOINT_GONE_REASON))
                    .await;
                Err(JobError::permanent(ENDPOINT_GONE_REASON))
            }
            Err(err) => {
                let message = err.to_string();
                tracing::warn!(delivery = %delivery_id, attempt = job.attempts, error = %message, "webhook handler failed");
                if final_attempt {
                    let _ = webhooks()
                        .finish_delivery(tenant_id, delivery_id, Some(&message))
                        .await;
                    Err(JobError::permanent(message))
                } else {
                    let _ = webhooks()
                        .note_delivery_error(tenant_id, delivery_id, &message)
                        .await;
                    Err(JobError::retry(message))
                }
            }
        }
    }

    /// Runs the event's handler and carries out its outcome. `retried`: an earlier attempt of
    /// this delivery's job did not finish.
    async fn handle_delivery(
        &self,
        delivery: &WebhookDelivery,
        retried: bool,
    ) -> Result<(), RuntimeError> {
        let (endpoint, _) = self
            .inner
            .db
            .webhooks(&self.inner.ring)
            .endpoint_for_intake(&delivery.endpoint_id)
            .await?
            .ok_or(RuntimeError::NotFound(ENDPOINT_GONE))?;
        let integration = self
            .integration(&endpoint.tenant_id, &endpoint.integration_id)
            .await?;
        if !integration.status.takes_deliveries() {
            return Err(RuntimeError::Invalid(format!(
                "the integration is {}",
                integration.status.as_str()
            )));
        }
        let definition = self.definition(&integration.definition_id)?.clone();
        let webhook = definition
            .definition
            .webhook_named(&endpoint.name)
            .ok_or(RuntimeError::NotFound("webhook"))?;
        let event = webhook
            .event_named(&delivery.event)
            .ok_or_else(|| RuntimeError::Invalid(format!("no event `{}`", delivery.event)))?;
        let context = integration_context(&definition, &integration);
        let request = WebhookEventRequest {
            integration: context,
            event: ResolvedEvent {
                name: Some(delivery.event.clone()),
                delivery_id: Some(delivery.delivery_id.clone()),
                provider_event: delivery.payload["providerEvent"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                action: delivery.payload["action"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                payload: delivery.payload["payload"].clone(),
            },
        };
        let mut outcome = event
            .handle(request)
            .ok_or_else(|| RuntimeError::Invalid(format!("event `{}` has no handler", event.name)))?
            .await
            .map_err(|e| RuntimeError::Execute(e.into()))?;
        let mut status = integration.status;
        if let Some(change) = &outcome.connection {
            let target = match change {
                ConnectionChange::Suspended { .. } => IntegrationStatus::Suspended,
                ConnectionChange::Resumed => IntegrationStatus::Connected,
            };
            // An earlier attempt that made the change and failed after it (queueing the resume's
            // syncs) leaves the integration where the change leads: the rest is carried out.
            let made_before = retried && status == target;
            if !self.change_connection(&integration, change).await? && !made_before {
                // A resume of an integration that is not suspended, a second suspend: the event
                // is stale or repeated and what it asked for is not wanted.
                tracing::info!(integration_id = %integration.id, status = status.as_str(), ?change, "the connection change does not apply; the event changes nothing");
                return Ok(());
            }
            status = target;
        }
        if !outcome.ingest.is_empty() {
            let emitted = Emitted {
                topic: &definition.definition.webhook_event_topic(event.name),
                contracts: &event.ingest,
                // Ties the ingest run to the delivery: the attempt that processes it again
                // after a crash closes the one the stopped worker left running.
                run_id: Some(format!("delivery:{}", delivery.id)),
            };
            // An event is never a full listing: nothing is tombstoned because of it.
            self.ingest_partial(
                &definition,
                &integration,
                emitted,
                std::mem::take(&mut outcome.ingest),
            )
            .await?;
        }
        if status == IntegrationStatus::Suspended && !outcome.dispatch.is_empty() {
            // Runs are refused while suspended; the resume queues every sync anyway.
            tracing::info!(integration_id = %integration.id, "the integration is suspended; the event's runs are not queued");
            outcome.dispatch.clear();
        }
        for (operation, config) in &outcome.dispatch {
            // A burst of events needs one run, not one each: a run of the operation that has not
            // started yet will read every change so far. (A running one may have read too early,
            // so it does not count.)
            let waiting = self
                .inner
                .db
                .runs()
                .query(&tributary_store::runs::RunQuery {
                    tenant_id: integration.tenant_id.clone(),
                    integration_id: Some(integration.id.clone()),
                    operation: Some((*operation).to_owned()),
                    status: Some(tributary_store::runs::RunStatus::Pending),
                    before: None,
                    limit: 1,
                })
                .await?;
            if waiting.iter().any(|run| run.config == *config) {
                continue;
            }
            self.queue_run_as(
                RunRequest {
                    tenant_id: integration.tenant_id.clone(),
                    integration_id: integration.id.clone(),
                    operation: (*operation).to_owned(),
                    config: config.clone(),
                    workflow: Some(json!({"webhookDelivery": delivery.id})),
                },
                crate::runs::RUN_TYPE_WEBHOOK,
            )
            .await?;
        }
        if outcome.teardown {
            self.disconnect(&integration.tenant_id, &integration.id)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_depth_counts_arrays_and_objects() {
        assert_eq!(payload_depth(&json!("text")), 0);
        assert_eq!(payload_depth(&json!({})), 1);
        assert_eq!(payload_depth(&json!([1, {"a": [[]]}, {"b": 2}])), 4);
        let mut deep = json!(null);
        for _ in 0..100 {
            deep = json!([deep]);
        }
        assert_eq!(payload_depth(&deep), 100);
    }
}
