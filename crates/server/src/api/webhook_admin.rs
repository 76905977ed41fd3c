//! Webhook endpoints (list, rotate the secret) and their deliveries (list, replay).

use tributary_store::webhooks::{DeliveryCursor, WebhookDelivery};

use super::prelude::*;
use crate::audit::{Audit, AuditBuilder, actions};

list_query! {
    pub struct ListDeliveries {}
}

list_query! {
    pub struct ListTenantDeliveries {
        /// Only the deliveries of this integration (also after it was disconnected or deleted).
        pub integration_id: Option<String>,
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayDelivery {
    /// Also replay a delivery that was processed already (its handler runs again, with the
    /// same delivery id as its idempotency key). Without it only a failed delivery is replayed.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Deserialize)]
struct IntegrationPath {
    integration_id: String,
}

#[derive(Debug, Deserialize)]
struct EndpointPath {
    integration_id: String,
    endpoint_id: String,
}

#[derive(Debug, Deserialize)]
struct DeliveryPath {
    delivery_id: String,
}

pub(super) fn endpoints() -> Vec<Endpoint> {
    let tag = "webhooks";
    vec![
        Endpoint::new(
            Method::GET,
            "/v1/integrations/{integration_id}/webhook-endpoints",
            "listWebhookEndpoints",
            "List an integration's webhook endpoints",
            list_endpoints,
        )
        .tag(tag)
        .answers::<Vec<EndpointView>>(200, "The endpoints"),
        Endpoint::new(
            Method::POST,
            "/v1/integrations/{integration_id}/webhook-endpoints/{endpoint_id}/rotate-secret",
            "rotateWebhookSecret",
            "Rotate an endpoint's signing secret (the new one is shown once)",
            rotate,
        )
        .tag(tag)
        .answers::<WebhookSecretView>(200, "The endpoint with its new secret"),
        Endpoint::new(
            Method::GET,
            "/v1/integrations/{integration_id}/webhook-endpoints/{endpoint_id}/deliveries",
            "listWebhookDeliveries",
            "List an endpoint's deliveries, newest first",
            list_deliveries,
        )
        .tag(tag)
        .query::<ListDeliveries>()
        .answers::<Page<DeliveryView>>(200, "A page of deliveries, newest first"),
        Endpoint::new(
            Method::GET,
            "/v1/webhook-deliveries",
            "listTenantWebhookDeliveries",
            "List the tenant's webhook deliveries, newest first, also those of disconnected or \
             deleted integrations (kept for the retention period)",
            list_tenant_deliveries,
        )
        .tag(tag)
        .query::<ListTenantDeliveries>()
        .answers::<Page<DeliveryView>>(200, "A page of deliveries, newest first"),
        Endpoint::new(
            Method::POST,
            "/v1/webhook-deliveries/{delivery_id}/replay",
            "replayWebhookDelivery",
            "Process a stored delivery again",
            replay,
        )
        .tag(tag)
        .query::<ReplayDelivery>()
        .answers::<DeliveryView>(200, "The delivery, queued again"),
    ]
}

async fn list_endpoints(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<IntegrationPath>,
) -> ApiResult<Vec<EndpointView>> {
    let tenant = caller.tenant()?;
    let endpoints = state
        .runtime
        .list_webhook_endpoints(tenant, &path.integration_id)
        .await?;
    Ok(Json(endpoints.into_iter().map(Into::into).collect()))
}

async fn rotate(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<EndpointPath>,
) -> ApiResult<WebhookSecretView> {
    let tenant = caller.tenant()?;
    let result = state
        .runtime
        .rotate_webhook_secret(tenant, &path.integration_id, &path.endpoint_id)
        .await;
    // The new secret is in the answer only, never in the trail.
    Audit::api(&caller, actions::WEBHOOK_SECRET_ROTATE, "webhook_endpoint")
        .target(&path.endpoint_id)
        .meta("integrationId", path.integration_id.as_str())
        .record(&state, &result)
        .await;
    Ok(Json(result?.into()))
}

async fn list_deliveries(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<EndpointPath>,
    QueryParams(query): QueryParams<ListDeliveries>,
) -> ApiResult<Page<DeliveryView>> {
    let tenant = caller.tenant()?;
    // The endpoint must be one of this integration's (and so this tenant's).
    let known = state
        .runtime
        .list_webhook_endpoints(tenant, &path.integration_id)
        .await?
        .iter()
        .any(|endpoint| endpoint.id == path.endpoint_id);
    if !known {
        return Err(ApiError::not_found("webhook endpoint"));
    }
    let before = delivery_cursor(query.cursor.as_deref())?;
    let limit = page_limit(query.limit);
    let deliveries = state
        .runtime
        .db()
        .webhooks(state.runtime.key_ring())
        .list_deliveries_page(tenant, &path.endpoint_id, before.as_ref(), limit as i64 + 1)
        .await?;
    Ok(Json(delivery_page(deliveries, limit)))
}

async fn list_tenant_deliveries(
    State(state): State<ApiState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListTenantDeliveries>,
) -> ApiResult<Page<DeliveryView>> {
    let tenant = caller.tenant()?;
    let before = delivery_cursor(query.cursor.as_deref())?;
    let limit = page_limit(query.limit);
    let deliveries = state
        .runtime
        .db()
        .webhooks(state.runtime.key_ring())
        .list_tenant_deliveries(
            tenant,
            query.integration_id.as_deref(),
            before.as_ref(),
            limit as i64 + 1,
        )
        .await?;
    Ok(Json(delivery_page(deliveries, limit)))
}

/// The cursor of a delivery list, refused (400) if it is not one a list gave.
fn delivery_cursor(cursor: Option<&str>) -> Result<Option<DeliveryCursor>, ApiError> {
    cursor
        .map(|text| {
            DeliveryCursor::parse(text).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    "`cursor` is not a cursor this list gave: pass its `nextCursor` unchanged",
                )
            })
        })
        .transpose()
}

/// A page of at most `limit` of `deliveries` (fetched with one more, to know whether more follow).
fn delivery_page(deliveries: Vec<WebhookDelivery>, limit: usize) -> Page<DeliveryView> {
    Page::of_rows(deliveries, limit, |view: &DeliveryView| {
        DeliveryCursor {
            received_at: view.received_at,
            id: view.id.clone(),
        }
        .to_string()
    })
}

async fn replay(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<DeliveryPath>,
    QueryParams(query): QueryParams<ReplayDelivery>,
) -> ApiResult<DeliveryView> {
    let tenant = caller.tenant()?;
    let result = state
        .runtime
        .replay_delivery(tenant, &path.delivery_id, query.force)
        .await;
    Audit::api(&caller, actions::DELIVERY_REPLAY, "webhook_delivery")
        .target(&path.delivery_id)
        .meta("force", query.force)
        .on_success(&result, |audit, delivery| {
            audit.meta("integrationId", delivery.integration_id.clone())
        })
        .record(&state, &result)
        .await;
    Ok(Json(result?.into()))
}
