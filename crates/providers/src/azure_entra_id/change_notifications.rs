//! Microsoft Graph change notifications for users and groups, so directory changes arrive in
//! minutes instead of at the next reconcile.
//!
//! - The integration's `change_notifications` endpoint is the subscriptions' `notificationUrl`
//!   and `lifecycleNotificationUrl`; its secret is their `clientState`. Graph signs nothing: each
//!   notification repeats the `clientState`, which is checked in constant time.
//! - [`ChangeNotificationSubscriptions`] is a reconcile operation, so it runs right after connect
//!   and then at least daily. It finds this endpoint's subscriptions (`GET /subscriptions`),
//!   creates the missing ones (Graph first POSTs `?validationToken=` to the URL, answered by the
//!   handshake), renews those expiring within [`RENEW_WITHIN_DAYS`], and recreates any made with
//!   a rotated secret.
//! - A change notification queues a DirectorySync (one queued run reads every change so far). A
//!   lifecycle notification: `reauthorizationRequired` renews the subscriptions,
//!   `subscriptionRemoved` recreates them and syncs, `missed` syncs.
//! - Disconnecting deletes this endpoint's subscriptions.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    DisconnectRequest, DisconnectResult, InboundWebhook, IntegrationContext, OperationContext,
    OperationError, ResolvedEvent, Secret, StableName, VerifyError, WebhookEndpointAccess,
    WebhookEvent, WebhookOutcome, WebhookRegistration,
};
use tributary_providerkit::{Pagination, Paginator, ProviderHttp};
use tributary_webhooks::{graph_client_state, graph_validation_token};

use super::{DirectorySync, EntraGraph, EntraOperatorConfig, EntraUserInput, client};

/// The persisted name of the webhook (and of its endpoints).
pub const CHANGE_NOTIFICATIONS: &str = "change_notifications";

/// How long a subscription is asked for: Graph allows users and groups at most 41,760 minutes
/// (29 days); a day less leaves room for clock skew.
const LIFETIME_DAYS: i64 = 28;
/// Subscriptions expiring sooner than this are renewed. The reconcile runs at least daily, so
/// a subscription is renewed about two weeks before it would lapse.
const RENEW_WITHIN_DAYS: i64 = 14;
/// Users and groups support `updated` (created, changed, soft-deleted) and `deleted`
/// (permanently deleted); Graph refuses `created` for them.
const CHANGE_TYPES: &str = "updated,deleted";

/// Keeps this integration's Graph subscriptions for users and groups alive: creates the missing
/// ones, renews those close to expiry.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeNotificationSubscriptions {
    /// Renew every subscription now, however far its expiry (Graph's `reauthorizationRequired`).
    #[serde(default)]
    pub renew: bool,
}

/// A delivery of change notifications (`changeType` on a user or group).
#[derive(Debug, StableName, Deserialize)]
pub struct GraphChangeNotifications {}

/// A delivery of lifecycle notifications (`lifecycleEvent`).
#[derive(Debug, StableName, Deserialize)]
pub struct GraphLifecycleNotifications {
    value: Vec<LifecycleNotification>,
}

#[derive(Debug, Deserialize)]
struct LifecycleNotification {
    #[serde(rename = "lifecycleEvent", default)]
    lifecycle_event: String,
}

/// One subscription as Graph lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    id: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    notification_url: String,
    #[serde(default)]
    expiration_date_time: Option<String>,
    #[serde(default)]
    client_state: Option<String>,
}

impl Subscription {
    fn is_for(&self, endpoint: &WebhookEndpointAccess) -> bool {
        self.notification_url == endpoint.url
    }

    fn watches(&self, resource: &str) -> bool {
        self.resource
            .trim_start_matches('/')
            .eq_ignore_ascii_case(resource)
    }

    fn expires_before(&self, deadline: DateTime<Utc>) -> bool {
        self.expiration_date_time
            .as_deref()
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .is_none_or(|at| at < deadline)
    }

    /// Made with another secret (the endpoint's was rotated): its notifications would be
    /// refused, so it is replaced. Graph may leave `clientState` out of listings; then it is
    /// trusted.
    fn has_stale_secret(&self, endpoint: &WebhookEndpointAccess) -> bool {
        self.client_state
            .as_deref()
            .is_some_and(|state| state != endpoint.secret.expose())
    }
}

/// The resources watched: users, and groups unless the tenant switched group sync off.
fn watched_resources(integration: &IntegrationContext) -> Vec<&'static str> {
    let input: EntraUserInput =
        serde_json::from_value(integration.user_input.clone()).unwrap_or_default();
    if input.sync_groups.unwrap_or(true) {
        vec!["users", "groups"]
    } else {
        vec!["users"]
    }
}

fn expiry_from_now() -> String {
    (Utc::now() + Duration::days(LIFETIME_DAYS)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// This endpoint's subscriptions among those the app holds in the tenant.
async fn subscriptions_of(
    http: &ProviderHttp,
    endpoint: &WebhookEndpointAccess,
) -> Result<Vec<Subscription>, OperationError> {
    let listed = Paginator::new(http.get("subscriptions"), Pagination::odata())
        .collect_all()
        .await?;
    Ok(listed
        .into_iter()
        .filter_map(|item| Subscription::deserialize(item).ok())
        .filter(|subscription| subscription.is_for(endpoint))
        .collect())
}

async fn create(
    http: &ProviderHttp,
    endpoint: &WebhookEndpointAccess,
    resource: &str,
) -> Result<String, OperationError> {
    let created: Value = http
        .post("subscriptions")
        .json(&json!({
            "changeType": CHANGE_TYPES,
            "notificationUrl": endpoint.url,
            "lifecycleNotificationUrl": endpoint.url,
            "resource": resource,
            "expirationDateTime": expiry_from_now(),
            "clientState": endpoint.secret.expose(),
        }))
        .redact(&endpoint.secret)
        .send_json()
        .await
        .map_err(|err| explain_create_error(err, endpoint))?;
    Ok(created["id"].as_str().unwrap_or_default().to_owned())
}

/// Graph refuses a subscription whose URL did not answer its validation request; say where to
/// look.
fn explain_create_error(err: OperationError, endpoint: &WebhookEndpointAccess) -> OperationError {
    if err.message.contains("validation") {
        let hint = format!(
            "; Graph could not validate the notification URL {}: it must be reachable from the \
             internet over HTTPS (set the server's public URL)",
            endpoint.url
        );
        OperationError {
            message: format!("{}{hint}", err.message),
            ..err
        }
    } else {
        err
    }
}

/// Renews a subscription; `false` when Graph no longer has it.
async fn renew(http: &ProviderHttp, id: &str) -> Result<bool, OperationError> {
    let response = http
        .patch(&format!("subscriptions/{id}"))
        .json(&json!({ "expirationDateTime": expiry_from_now() }))
        .accept_status(404)
        .send()
        .await?;
    Ok(response.status() != 404)
}

async fn delete(http: &ProviderHttp, id: &str) -> Result<(), OperationError> {
    // Already gone is as good as deleted.
    http.delete(&format!("subscriptions/{id}"))
        .accept_status(404)
        .send()
        .await?;
    Ok(())
}

fn endpoint_of(ctx: &OperationContext) -> Result<WebhookEndpointAccess, OperationError> {
    ctx.webhook_endpoint(CHANGE_NOTIFICATIONS).ok_or_else(|| {
        OperationError::config(
            "the integration has no change_notifications webhook endpoint; connect it again",
        )
    })
}

/// See [`ChangeNotificationSubscriptions`].
pub async fn keep_subscriptions(
    ctx: OperationContext,
    config: ChangeNotificationSubscriptions,
    api: &EntraGraph,
) -> Result<Value, OperationError> {
    let endpoint = endpoint_of(&ctx)?;
    let wanted = watched_resources(&ctx.integration);
    let existing = subscriptions_of(&api.http, &endpoint).await?;
    let renew_before = if config.renew {
        DateTime::<Utc>::MAX_UTC
    } else {
        Utc::now() + Duration::days(RENEW_WITHIN_DAYS)
    };
    let (mut created, mut renewed, mut kept, mut removed) = (vec![], vec![], vec![], vec![]);
    for subscription in &existing {
        let unwanted = !wanted.iter().any(|r| subscription.watches(r));
        // Two subscriptions for one resource would double every notification: keep the first.
        let duplicate = existing
            .iter()
            .take_while(|other| other.id != subscription.id)
            .any(|other| other.resource.eq_ignore_ascii_case(&subscription.resource));
        if unwanted || duplicate || subscription.has_stale_secret(&endpoint) {
            delete(&api.http, &subscription.id).await?;
            removed.push(subscription.id.clone());
        }
    }
    for resource in wanted {
        let current = existing
            .iter()
            .find(|s| s.watches(resource) && !removed.contains(&s.id));
        let renewed_now = match current {
            Some(subscription) if !subscription.expires_before(renew_before) => {
                kept.push(resource);
                continue;
            }
            // Graph may have dropped it since it was listed: then it is created again.
            Some(subscription) => renew(&api.http, &subscription.id).await?,
            None => false,
        };
        if renewed_now {
            renewed.push(resource);
        } else {
            create(&api.http, &endpoint, resource).await?;
            created.push(resource);
        }
    }
    Ok(json!({
        "created": created,
        "renewed": renewed,
        "kept": kept,
        "removed": removed.len(),
    }))
}

/// The disconnect hook: deletes this integration's subscriptions with a fresh app-only token,
/// so Graph stops calling an endpoint that is about to be removed.
pub async fn delete_subscriptions(
    request: DisconnectRequest,
    operator: EntraOperatorConfig,
) -> Result<DisconnectResult, OperationError> {
    let endpoints: Vec<_> = request
        .webhook_endpoints
        .iter()
        .filter(|endpoint| endpoint.name == CHANGE_NOTIFICATIONS)
        .collect();
    if endpoints.is_empty() {
        return Ok(DisconnectResult::default());
    }
    let tenant_id = client::stored(&request.credentials)?.tenant_id;
    let token = client::app_token(&operator, &tenant_id).await?;
    let http = operator
        .endpoints()?
        .graph_http(&request.integration, token.access_token)?;
    let mut deleted = 0;
    for endpoint in endpoints {
        for subscription in subscriptions_of(&http, endpoint).await? {
            delete(&http, &subscription.id).await?;
            deleted += 1;
        }
    }
    Ok(DisconnectResult {
        message: format!("deleted {deleted} Microsoft Graph change-notification subscriptions"),
        ..DisconnectResult::default()
    })
}

fn resolve(request: &InboundWebhook) -> Result<ResolvedEvent, VerifyError> {
    let mut payload: Value = serde_json::from_slice(&request.body)
        .map_err(|_| VerifyError("the body is not a Graph notification collection".into()))?;
    // The delivery is stored as resolved here: the endpoint's secret, which every notification
    // repeats as its `clientState`, must not be stored with it.
    if let Some(notifications) = payload.get_mut("value").and_then(Value::as_array_mut) {
        for notification in notifications.iter_mut().filter_map(Value::as_object_mut) {
            notification.remove("clientState");
        }
    }
    let notifications = payload["value"].as_array().cloned().unwrap_or_default();
    let lifecycle = notifications
        .iter()
        .find_map(|n| n["lifecycleEvent"].as_str())
        .map(str::to_owned);
    let (name, provider_event, action) = match lifecycle {
        Some(event) => (GraphLifecycleNotifications::NAME, "lifecycle", event),
        None => (
            GraphChangeNotifications::NAME,
            "change",
            notifications
                .first()
                .and_then(|n| n["changeType"].as_str())
                .unwrap_or_default()
                .to_owned(),
        ),
    };
    Ok(ResolvedEvent {
        name: Some(name.to_owned()),
        // Graph sends no delivery id: a redelivery is recognised by its body's hash.
        delivery_id: None,
        provider_event: provider_event.to_owned(),
        action,
        payload,
    })
}

/// The Graph subscriptions' endpoint: notifications verified by `clientState`, the validation
/// handshake answered, changes and lifecycle events turned into runs.
pub(super) fn registration() -> WebhookRegistration {
    WebhookRegistration::new(CHANGE_NOTIFICATIONS)
        .verify(|request, secret: &Secret| graph_client_state(request, secret))
        .handshake(graph_validation_token)
        .resolve_event(resolve)
        .event(
            WebhookEvent::<GraphChangeNotifications>::new(
                "Users or groups changed: a DirectorySync is queued",
            )
            .handle(|_request, _delivery| async {
                Ok(WebhookOutcome {
                    dispatch: vec![(DirectorySync::NAME, json!({}))],
                    ..WebhookOutcome::default()
                })
            }),
        )
        .event(
            WebhookEvent::<GraphLifecycleNotifications>::new(
                "A subscription needs renewing, was removed, or notifications were missed",
            )
            .handle(|_request, delivery| async move { Ok(lifecycle_outcome(&delivery)) }),
        )
}

fn lifecycle_outcome(delivery: &GraphLifecycleNotifications) -> WebhookOutcome {
    let has = |event: &str| {
        delivery
            .value
            .iter()
            .any(|n| n.lifecycle_event.eq_ignore_ascii_case(event))
    };
    let mut dispatch = Vec::new();
    if has("reauthorizationRequired") {
        dispatch.push((
            ChangeNotificationSubscriptions::NAME,
            json!({ "renew": true }),
        ));
    }
    if has("subscriptionRemoved") {
        dispatch.push((ChangeNotificationSubscriptions::NAME, json!({})));
    }
    // Changes may have gone unnotified: read the directory again.
    if has("subscriptionRemoved") || has("missed") {
        dispatch.push((DirectorySync::NAME, json!({})));
    }
    WebhookOutcome {
        dispatch,
        ..WebhookOutcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifecycle(events: &[&str]) -> GraphLifecycleNotifications {
        GraphLifecycleNotifications {
            value: events
                .iter()
                .map(|e| LifecycleNotification {
                    lifecycle_event: (*e).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn lifecycle_events_renew_recreate_or_sync() {
        let names = |outcome: WebhookOutcome| -> Vec<(String, Value)> {
            outcome
                .dispatch
                .into_iter()
                .map(|(name, config)| (name.to_owned(), config))
                .collect()
        };
        assert_eq!(
            names(lifecycle_outcome(&lifecycle(&["reauthorizationRequired"]))),
            vec![(
                "ChangeNotificationSubscriptions".to_owned(),
                json!({"renew": true})
            )]
        );
        assert_eq!(
            names(lifecycle_outcome(&lifecycle(&["subscriptionRemoved"]))),
            vec![
                ("ChangeNotificationSubscriptions".to_owned(), json!({})),
                ("DirectorySync".to_owned(), json!({}))
            ]
        );
        assert_eq!(
            names(lifecycle_outcome(&lifecycle(&["missed"]))),
            vec![("DirectorySync".to_owned(), json!({}))]
        );
        assert!(
            lifecycle_outcome(&lifecycle(&["somethingNew"]))
                .dispatch
                .is_empty()
        );
    }

    #[test]
    fn deliveries_resolve_to_change_or_lifecycle() {
        let request = |body: Value| InboundWebhook {
            method: "POST".into(),
            body: serde_json::to_vec(&body).unwrap(),
            ..Default::default()
        };
        let change = resolve(&request(json!({"value": [
            {"changeType": "updated", "resource": "Users/1", "clientState": "s"}
        ]})))
        .unwrap();
        assert_eq!(change.name.as_deref(), Some("GraphChangeNotifications"));
        assert_eq!(change.action, "updated");
        assert_eq!(
            change.payload["value"][0].get("clientState"),
            None,
            "the secret is not stored with the delivery"
        );
        let lifecycle = resolve(&request(json!({"value": [
            {"lifecycleEvent": "missed", "clientState": "s"}
        ]})))
        .unwrap();
        assert_eq!(
            lifecycle.name.as_deref(),
            Some("GraphLifecycleNotifications")
        );
        assert_eq!(lifecycle.action, "missed");
    }

    #[test]
    fn expiry_and_staleness_are_read_from_the_listing() {
        let endpoint = WebhookEndpointAccess {
            name: CHANGE_NOTIFICATIONS.into(),
            url: "https://tributary.example/v1/webhooks/whe_1".into(),
            secret: Secret::new("whsec_now"),
        };
        let subscription = Subscription {
            id: "s".into(),
            resource: "/Users".into(),
            notification_url: endpoint.url.clone(),
            expiration_date_time: Some("2026-12-10T18:23:45.9356913Z".into()),
            client_state: Some("whsec_before".into()),
        };
        assert!(subscription.is_for(&endpoint));
        assert!(subscription.watches("users"));
        assert!(subscription.has_stale_secret(&endpoint));
        let soon: DateTime<Utc> = "2026-12-20T00:00:00Z".parse().unwrap();
        let late: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        assert!(subscription.expires_before(soon));
        assert!(!subscription.expires_before(late));
    }
}
