//! What the API answers, as types: they are the contract, and `/openapi.json` is generated from
//! them. Store and runtime types are converted here, so a column added to a table does not leak
//! into the API by accident (provider state, content hashes and checkpoints stay inside).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_runtime::{ConnectOutcome, CreatedWebhookEndpoint, WebhookEndpointView};
use tributary_store::{
    integrations::{Integration, IntegrationStatus},
    records::StoredRecord,
    runs::{Run, RunLog, RunStatus},
    tenants::{ApiToken, Tenant},
    webhooks::{DeliveryStatus, WebhookDelivery},
};

/// A page of a list: `nextCursor` is passed as `cursor` for the next page, absent on the last.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page of at most `limit` items from `items` (fetched with one extra to know whether
    /// more follow); the cursor is the last item's key.
    pub fn of(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more { items.last().map(key) } else { None };
        Self { items, next_cursor }
    }

    /// [`Page::of`] the views of `rows` (store rows, fetched with one extra).
    pub fn of_rows<R>(rows: Vec<R>, limit: usize, key: impl Fn(&T) -> String) -> Self
    where
        T: From<R>,
    {
        Self::of(rows.into_iter().map(T::from).collect(), limit, key)
    }

    /// [`Page::of_rows`] for a list in id order: the last view's id is the cursor.
    pub fn by_id<R>(rows: Vec<R>, limit: usize) -> Self
    where
        T: From<R> + ListedById,
    {
        Self::of_rows(rows, limit, |view| view.id().to_owned())
    }
}

/// A view of a list that pages by id.
pub trait ListedById {
    fn id(&self) -> &str;
}

macro_rules! listed_by_id {
    ($($view:ty),* $(,)?) => {
        $(impl ListedById for $view {
            fn id(&self) -> &str {
                &self.id
            }
        })*
    };
}

listed_by_id!(
    IntegrationView,
    RunView,
    RecordView,
    super::audit::AuditEventView,
    super::ui_sessions::UiSessionView,
);

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    pub id: String,
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// An API token's record; the token itself is shown once, when issued.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; null never expires.
    pub expires_at: Option<i64>,
    /// Unix ms; null while valid.
    pub revoked_at: Option<i64>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id,
            tenant_id: t.tenant_id,
            name: t.name,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A newly issued API token: `token` is not stored and cannot be shown again.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    pub token: String,
    pub record: TokenView,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationStatusName {
    Pending,
    Connected,
    Errored,
    Disabled,
    NeedsReauth,
    Disconnected,
    Suspended,
}

impl From<IntegrationStatus> for IntegrationStatusName {
    fn from(status: IntegrationStatus) -> Self {
        match status {
            IntegrationStatus::Pending => Self::Pending,
            IntegrationStatus::Connected => Self::Connected,
            IntegrationStatus::Errored => Self::Errored,
            IntegrationStatus::Disabled => Self::Disabled,
            IntegrationStatus::NeedsReauth => Self::NeedsReauth,
            IntegrationStatus::Disconnected => Self::Disconnected,
            IntegrationStatus::Suspended => Self::Suspended,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    pub id: String,
    pub definition_id: String,
    pub name: String,
    pub status: IntegrationStatusName,
    /// Why the status is what it is (the last error, who disabled it).
    pub status_reason: Option<String>,
    /// The connection mode in use (a credential slot name), once connected.
    pub connection: Option<String>,
    pub user_input: Value,
    /// What setup learned about the provider account (tenant id, workspace, ...).
    pub metadata: Value,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl From<Integration> for IntegrationView {
    fn from(i: Integration) -> Self {
        Self {
            connection: i
                .provider_state
                .get("connection")
                .and_then(Value::as_str)
                .map(str::to_owned),
            id: i.id,
            definition_id: i.definition_id,
            name: i.name,
            status: i.status.into(),
            status_reason: i.status_reason,
            user_input: i.user_input,
            metadata: i.metadata,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// A webhook endpoint with its signing secret, shown once (at creation or rotation).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecretView {
    pub id: String,
    pub name: String,
    /// Where the provider must send events.
    pub url: String,
    /// The signing secret to enter on the provider's side.
    pub secret: String,
}

impl From<CreatedWebhookEndpoint> for WebhookSecretView {
    fn from(e: CreatedWebhookEndpoint) -> Self {
        Self {
            id: e.id,
            name: e.name,
            url: e.url,
            secret: e.secret.expose().to_owned(),
        }
    }
}

/// The result of connecting: `connected` (credentials validated and saved) or `redirect` (send
/// the user to `authorizeUrl`; the callback finishes the connection).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectView {
    pub outcome: ConnectOutcomeName,
    pub integration: IntegrationView,
    /// Webhook endpoints created by this connection, each secret shown this once.
    pub webhook_endpoints: Vec<WebhookSecretView>,
    /// Reconcile operations scheduled by this connection.
    pub scheduled: Vec<String>,
    /// Where to send the user's browser (`redirect` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// Unix ms after which the authorization session expires (`redirect` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl ConnectView {
    /// What a connect of `integration` (as it was before) answers: the connected integration,
    /// or where to send the browser.
    pub fn of(integration: Integration, outcome: ConnectOutcome) -> Self {
        match outcome {
            ConnectOutcome::Connected(connected) => ConnectView {
                outcome: ConnectOutcomeName::Connected,
                integration: connected.integration.into(),
                webhook_endpoints: connected
                    .webhook_endpoints
                    .into_iter()
                    .map(Into::into)
                    .collect(),
                scheduled: connected.scheduled,
                authorize_url: None,
                expires_at: None,
            },
            ConnectOutcome::Redirect(redirect) => ConnectView {
                outcome: ConnectOutcomeName::Redirect,
                integration: integration.into(),
                webhook_endpoints: Vec::new(),
                scheduled: Vec::new(),
                authorize_url: Some(redirect.url),
                expires_at: Some(redirect.expires_at),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectOutcomeName {
    Connected,
    Redirect,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatusName {
    Pending,
    Running,
    Succeeded,
    Failed,
    Partial,
    Cancelled,
}

impl From<RunStatus> for RunStatusName {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Pending => Self::Pending,
            RunStatus::Running => Self::Running,
            RunStatus::Succeeded => Self::Succeeded,
            RunStatus::Failed => Self::Failed,
            RunStatus::Partial => Self::Partial,
            RunStatus::Cancelled => Self::Cancelled,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: String,
    pub integration_id: String,
    pub operation: String,
    /// What started it: `inline`, `queued`, `reconcile` or `webhook`.
    pub run_type: String,
    pub status: RunStatusName,
    pub attempt: i64,
    pub config: Value,
    /// Records seen, written, unchanged, failed, deleted...
    pub counters: Value,
    /// `auth`, `config`, `provider`, `rate_limit`, `internal`.
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    /// What a raw operation returned.
    pub result: Option<Value>,
    /// Metadata of a calling workflow.
    pub workflow: Option<Value>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Unix ms.
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
}

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        Self {
            id: r.id,
            integration_id: r.integration_id,
            operation: r.operation,
            run_type: r.run_type,
            status: r.status.into(),
            attempt: r.attempt,
            config: r.config,
            counters: r.counters,
            error_kind: r.error_kind,
            error_message: r.error_message,
            result: r.result,
            workflow: r.workflow,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r.duration_ms,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct RunLogView {
    /// Unix ms.
    pub at: i64,
    /// `debug`, `info`, `warn`, `error`.
    pub level: String,
    pub message: String,
    pub fields: Value,
}

impl From<RunLog> for RunLogView {
    fn from(l: RunLog) -> Self {
        Self {
            at: l.at,
            level: l.level,
            message: l.message,
            fields: l.fields,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct RunDetailView {
    pub run: RunView,
    pub logs: Vec<RunLogView>,
}

/// An operation run: `output` is present when it ran inline (the raw result, or the ingest
/// report of an ingesting operation); a queued run is followed at `/v1/runs/{id}`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct RunStartedView {
    pub run: RunView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub enabled: bool,
    pub allowed_events: Vec<String>,
    /// Unix ms.
    pub created_at: i64,
}

impl From<WebhookEndpointView> for EndpointView {
    fn from(e: WebhookEndpointView) -> Self {
        Self {
            id: e.id,
            name: e.name,
            url: e.url,
            enabled: e.enabled,
            allowed_events: e.allowed_events,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusName {
    Received,
    Done,
    Failed,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: String,
    pub endpoint_id: String,
    /// The integration it came through (kept after the integration is disconnected or deleted).
    pub integration_id: Option<String>,
    /// The provider's delivery id (or a hash of the body).
    pub delivery_id: String,
    pub event: String,
    pub payload: Value,
    pub status: DeliveryStatusName,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// Unix ms.
    pub received_at: i64,
    /// Unix ms.
    pub processed_at: Option<i64>,
    /// Times this delivery id came again with a different body (each refused with 409).
    pub conflicts: i64,
    /// Unix ms of the last such conflict.
    pub last_conflict_at: Option<i64>,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            id: d.id,
            endpoint_id: d.endpoint_id,
            integration_id: d.integration_id,
            delivery_id: d.delivery_id,
            event: d.event,
            payload: d.payload,
            status: match d.status {
                DeliveryStatus::Received => DeliveryStatusName::Received,
                DeliveryStatus::Done => DeliveryStatusName::Done,
                DeliveryStatus::Failed => DeliveryStatusName::Failed,
            },
            attempts: d.attempts,
            last_error: d.last_error,
            received_at: d.received_at,
            processed_at: d.processed_at,
            conflicts: d.conflicts,
            last_conflict_at: d.last_conflict_at,
        }
    }
}

/// An ingested record: the mapped fields and the provider payload they came from.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    pub id: String,
    pub integration_id: String,
    pub model: String,
    pub variant: String,
    /// The record's identity within its integration and model (usually the external id).
    pub lookup_key: String,
    pub fields: Value,
    pub raw_payload: Value,
    /// Unix ms.
    pub first_seen_at: i64,
    /// Unix ms.
    pub last_seen_at: i64,
    /// Unix ms when the content last changed.
    pub changed_at: i64,
    /// Unix ms when the record was tombstoned (gone at the provider).
    pub deleted_at: Option<i64>,
    pub deleted_reason: Option<String>,
    /// Unix ms when its integration was disconnected.
    pub disconnected_at: Option<i64>,
}

impl From<StoredRecord> for RecordView {
    fn from(r: StoredRecord) -> Self {
        Self {
            id: r.id,
            integration_id: r.integration_id,
            model: r.model,
            variant: r.variant,
            lookup_key: r.lookup_key,
            fields: r.fields,
            raw_payload: r.raw_payload,
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
            changed_at: r.changed_at,
            deleted_at: r.deleted_at,
            deleted_reason: r.deleted_reason,
            disconnected_at: r.disconnected_at,
        }
    }
}

/// What disconnecting did.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectView {
    /// What the provider-side teardown (revoke, uninstall) said.
    pub remote: Option<String>,
    /// Why the provider-side teardown failed; local cleanup happened anyway.
    pub remote_error: Option<String>,
    pub cleaned_up: bool,
    pub credentials_deleted: u64,
    pub webhook_endpoints_deleted: u64,
    pub schedules_deleted: u64,
    pub runs_cancelled: u64,
}

impl From<tributary_runtime::DisconnectReport> for DisconnectView {
    fn from(r: tributary_runtime::DisconnectReport) -> Self {
        Self {
            remote: r.remote,
            remote_error: r.remote_error,
            cleaned_up: r.cleaned_up,
            credentials_deleted: r.credentials_deleted,
            webhook_endpoints_deleted: r.webhook_endpoints_deleted,
            schedules_deleted: r.schedules_deleted,
            runs_cancelled: r.runs_cancelled,
        }
    }
}

/// The output of a mapping over a payload.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MappingResultView {
    /// Whether the mapping's filter let the payload through; when false, nothing else is set.
    pub passed_filter: bool,
    /// The model the record belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The record's identity within its integration and model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup_key: Option<String>,
    /// The mapped, type-checked fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Value>,
}
