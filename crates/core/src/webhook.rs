//! Webhooks: inbound contracts. A webhook declares how a request is verified, how its event is
//! resolved, and for each event what happens (ingest payloads, dispatched operations, teardown).

use std::{future::Future, marker::PhantomData, sync::Arc};

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    IngestContract, IngestPayloadSet, IntegrationContext, OperationError, Secret, StableName,
    connection::AsyncFn,
};

/// An inbound HTTP request, as the verifier and resolver see it. Header names are lowercase.
#[derive(Debug, Clone, Default)]
pub struct InboundWebhook {
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Unix seconds at receipt, for timestamp tolerance checks.
    pub received_at: i64,
}

impl InboundWebhook {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A per-integration webhook endpoint as code that registers it with the provider sees it: the
/// public URL the provider is to call and the endpoint's secret (Microsoft Graph's
/// `clientState`). Handed to operations through [`RunHooks::webhook_endpoint`](crate::RunHooks)
/// and to disconnect hooks, never serialised.
#[derive(Clone)]
pub struct WebhookEndpointAccess {
    /// The webhook's persisted name (`WebhookRegistration::name`).
    pub name: String,
    pub url: String,
    pub secret: Secret,
}

debug_listed_fields!(WebhookEndpointAccess { name, url });

/// Why a request was refused. The message is returned to the sender, so it names what is wrong
/// (missing header, bad signature, stale timestamp), never a secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VerifyError(pub String);

/// A provider handshake answered without a handler (Slack `url_verification`, Graph
/// `validationToken`, Okta's one-time verification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// The event a request carries.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedEvent {
    /// One of the webhook's event names, or `None` for an event we do not handle (acknowledged
    /// and recorded, not an error).
    pub name: Option<String>,
    /// The provider's delivery id, the idempotency key when present.
    pub delivery_id: Option<String>,
    /// The provider's own event type, kept for the delivery record (`dependabot_alert`).
    pub provider_event: String,
    pub action: String,
    pub payload: Value,
}

/// What handling an event produced; the runtime carries it out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookOutcome {
    pub ingest: Vec<IngestPayloadSet>,
    /// Operations to queue for the integration: (operation name, config).
    pub dispatch: Vec<(&'static str, Value)>,
    /// The event means the connection is gone (GitHub `installation.deleted`): run disconnect.
    pub teardown: bool,
    /// The event changes whether the connection works (GitHub `installation.suspend`,
    /// `unsuspend`). The runtime applies it before the rest of the outcome; a change that does
    /// not apply (a resume of a connection that is not suspended) ends the outcome there, so a
    /// stale or repeated event queues nothing.
    pub connection: Option<ConnectionChange>,
}

/// A change of the connection's standing that the provider announces in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionChange {
    /// The provider suspended the connection (an organisation suspended a GitHub App
    /// installation): its credentials are refused until it is resumed, so the integration is
    /// `suspended` and its schedules stop. `reason` becomes the status reason the tenant sees;
    /// it names who suspended it and when, never a credential.
    Suspended { reason: String },
    /// The provider lifted its suspension: a `suspended` integration is `connected` again and
    /// its schedules resume. Any other integration is left as it is.
    Resumed,
}

/// Input to an event handler.
#[derive(Debug, Clone)]
pub struct WebhookEventRequest {
    pub integration: IntegrationContext,
    pub event: ResolvedEvent,
}

type VerifyFn = Arc<dyn Fn(&InboundWebhook, &Secret) -> Result<(), VerifyError> + Send + Sync>;
type ResolveFn = Arc<dyn Fn(&InboundWebhook) -> Result<ResolvedEvent, VerifyError> + Send + Sync>;
type HandshakeFn = Arc<dyn Fn(&InboundWebhook) -> Option<HandshakeResponse> + Send + Sync>;
type RoutingFn = Arc<dyn Fn(&ResolvedEvent) -> Option<String> + Send + Sync>;
type EventHandlerFn = AsyncFn<WebhookEventRequest, WebhookOutcome>;

/// Where a provider sends events.
#[derive(Clone)]
pub enum WebhookRoute {
    /// Each integration gets its own endpoint id and secret.
    PerIntegration,
    /// One URL for the whole definition (an app's webhook); the function finds the routing key
    /// (an installation id) in the event, which is matched against integration metadata attribute
    /// `attribute`. The secret comes from operator config.
    Definition {
        attribute: &'static str,
        routing_key: RoutingFn,
        /// The app's webhook secret (operator config), verifying every installation's events.
        secret: Secret,
    },
}

impl std::fmt::Debug for WebhookRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PerIntegration => f.write_str("PerIntegration"),
            Self::Definition { attribute, .. } => write!(f, "Definition({attribute})"),
        }
    }
}

/// One event a webhook handles.
#[derive(Clone)]
pub struct WebhookEventRegistration {
    /// The persisted event name (the payload type's stable name).
    pub name: &'static str,
    pub description: String,
    pub ingest: Vec<IngestContract>,
    pub handler: Option<EventHandlerFn>,
}

impl WebhookEventRegistration {
    pub fn handle(
        &self,
        request: WebhookEventRequest,
    ) -> Option<BoxFuture<'static, Result<WebhookOutcome, OperationError>>> {
        self.handler.as_ref().map(|handler| handler(request))
    }
}

debug_listed_fields!(WebhookEventRegistration { name, ingest });

/// Builds a [`WebhookEventRegistration`] named after `P`, whose handler receives the payload
/// decoded as `P`.
pub struct WebhookEvent<P> {
    description: String,
    ingest: Vec<IngestContract>,
    _payload: PhantomData<fn() -> P>,
}

impl<P: StableName + DeserializeOwned + Send + 'static> WebhookEvent<P> {
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            ingest: Vec::new(),
            _payload: PhantomData,
        }
    }

    pub fn ingests<S: Into<String>>(mut self, schemas: impl IntoIterator<Item = S>) -> Self {
        self.ingest
            .extend(schemas.into_iter().map(IngestContract::new));
        self
    }

    /// `async fn(WebhookEventRequest, P) -> Result<WebhookOutcome, OperationError>`.
    pub fn handle<F, Fut>(self, handler: F) -> WebhookEventRegistration
    where
        F: Fn(WebhookEventRequest, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<WebhookOutcome, OperationError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        WebhookEventRegistration {
            name: P::NAME,
            description: self.description,
            ingest: self.ingest,
            handler: Some(Arc::new(move |request: WebhookEventRequest| {
                let handler = Arc::clone(&handler);
                Box::pin(async move {
                    let payload = P::deserialize(&request.event.payload).map_err(|err| {
                        OperationError::provider(format!(
                            "webhook event `{}` payload does not decode: {err}",
                            P::NAME
                        ))
                    })?;
                    handler(request, payload).await
                })
            })),
        }
    }
}

/// Where the endpoint id goes in an endpoint template.
pub const ENDPOINT_ID_PLACEHOLDER: &str = "{endpointID}";

/// The path of a per-integration endpoint unless the webhook declares its own.
pub const DEFAULT_ENDPOINT_TEMPLATE: &str = "/v1/webhooks/{endpointID}";

/// An inbound contract.
#[derive(Clone)]
pub struct WebhookRegistration {
    /// The explicit, persisted webhook name.
    pub name: &'static str,
    pub route: WebhookRoute,
    /// Path of a per-integration endpoint, with `{endpointID}` where the endpoint id goes
    /// (SCIM: `/scim/v2/{endpointID}`); `None` means [`DEFAULT_ENDPOINT_TEMPLATE`].
    pub endpoint_template: Option<&'static str>,
    /// Fail-closed verification; the registry refuses a webhook without one.
    pub verify: Option<VerifyFn>,
    pub handshake: Option<HandshakeFn>,
    pub resolve_event: Option<ResolveFn>,
    pub events: Vec<WebhookEventRegistration>,
    /// For an app route: how long a verified event that names an installation no connected
    /// integration has yet is held (durably) and routed again, because the provider may send
    /// it before the install callback has finished (GitHub's `installation.created`). `None`:
    /// such events are acknowledged and dropped.
    pub hold_unrouted: Option<std::time::Duration>,
}

impl WebhookRegistration {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            route: WebhookRoute::PerIntegration,
            endpoint_template: None,
            verify: None,
            handshake: None,
            resolve_event: None,
            events: Vec::new(),
            hold_unrouted: None,
        }
    }

    /// Holds app-route events for installations not connected yet for up to `window` (see
    /// [`hold_unrouted`](Self::hold_unrouted)), routing them once the integration connects.
    pub fn hold_unrouted(mut self, window: std::time::Duration) -> Self {
        self.hold_unrouted = Some(window);
        self
    }

    /// One URL for every integration of the definition (a GitHub App's webhook): requests are
    /// verified with the app's `secret` and routed to the integration whose metadata attribute
    /// `attribute` equals `routing_key` of the event (the installation id).
    pub fn app_route(
        mut self,
        attribute: &'static str,
        secret: Secret,
        routing_key: impl Fn(&ResolvedEvent) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.route = WebhookRoute::Definition {
            attribute,
            routing_key: Arc::new(routing_key),
            secret,
        };
        self
    }

    /// Serves the endpoint at `template` instead of the default path.
    pub fn endpoint_template(mut self, template: &'static str) -> Self {
        self.endpoint_template = Some(template);
        self
    }

    /// The path of the endpoint `endpoint_id` of this webhook.
    pub fn endpoint_path(&self, endpoint_id: &str) -> String {
        self.endpoint_template
            .unwrap_or(DEFAULT_ENDPOINT_TEMPLATE)
            .replace(ENDPOINT_ID_PLACEHOLDER, endpoint_id)
    }

    pub fn verify(
        mut self,
        verify: impl Fn(&InboundWebhook, &Secret) -> Result<(), VerifyError> + Send + Sync + 'static,
    ) -> Self {
        self.verify = Some(Arc::new(verify));
        self
    }

    pub fn handshake(
        mut self,
        handshake: impl Fn(&InboundWebhook) -> Option<HandshakeResponse> + Send + Sync + 'static,
    ) -> Self {
        self.handshake = Some(Arc::new(handshake));
        self
    }

    pub fn resolve_event(
        mut self,
        resolve: impl Fn(&InboundWebhook) -> Result<ResolvedEvent, VerifyError> + Send + Sync + 'static,
    ) -> Self {
        self.resolve_event = Some(Arc::new(resolve));
        self
    }

    pub fn event(mut self, event: WebhookEventRegistration) -> Self {
        self.events.push(event);
        self
    }

    pub fn verify_request(
        &self,
        request: &InboundWebhook,
        secret: &Secret,
    ) -> Result<(), VerifyError> {
        match &self.verify {
            Some(verify) => verify(request, secret),
            None => Err(VerifyError("this webhook has no verification".into())),
        }
    }

    pub fn answer_handshake(&self, request: &InboundWebhook) -> Option<HandshakeResponse> {
        self.handshake
            .as_ref()
            .and_then(|handshake| handshake(request))
    }

    pub fn resolve(&self, request: &InboundWebhook) -> Result<ResolvedEvent, VerifyError> {
        match &self.resolve_event {
            Some(resolve) => resolve(request),
            None => Err(VerifyError("this webhook resolves no events".into())),
        }
    }

    pub fn event_named(&self, name: &str) -> Option<&WebhookEventRegistration> {
        self.events.iter().find(|event| event.name == name)
    }
}

debug_listed_fields!(WebhookRegistration {
    name,
    route,
    events
});
