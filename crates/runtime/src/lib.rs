//! The integration lifecycle of Tributary: the setup flow, browser authorization flows (the
//! keymaker), credential refresh, the client pool, operation runs inline or queued, the reconcile
//! schedule, disconnect, the retention sweep, and the metrics of all of it.
//!
//! Every entry point (API, CLI, scheduler, webhooks, workflow callers) goes through [`Runtime`].

// Grouped by flow: connecting and credentials, running operations, the reconcile schedule and
// retention, webhook intake. The runtime's state, its configuration, errors and metrics serve
// all of them.
mod config;
mod error;
pub mod metrics;
mod reconcile;
mod runs;
mod runtime;
mod setup;
mod webhooks;

pub use config::{
    DEFAULT_INTAKE_BATCH, DEFAULT_MAX_OPEN_AUTH_SESSIONS, DEFAULT_RETENTION_INTERVAL, RuntimeConfig,
};
pub use error::{RuntimeError, SetupStep};
pub use execute::{ExecuteError, Execution, Executor};
pub use metrics::Metrics;
pub use reconcile::schedule;
pub use runs::mappers::INTEGRATION_FILTER_FIELD;
pub use runs::{
    InlineResult, RUN_JOB_KIND, RUN_TYPE_INLINE, RUN_TYPE_QUEUED, RUN_TYPE_RECONCILE, RunDetails,
    RunRequest,
};
pub use runs::{client_pool, execute};
pub use runtime::Runtime;
pub use setup::credentials::{EXPIRES_AT_FIELD, REFRESH_TOKEN_FIELD};
pub use setup::disconnect::DisconnectReport;
pub use setup::keymaker::AuthCallbackTarget;
pub use setup::{AuthRedirect, ConnectOutcome, ConnectRequest, Connected, CreatedWebhookEndpoint};
pub use webhooks::app_webhook_hold::HELD_EVENT_JOB_KIND;
pub use webhooks::{
    DeliveryBudget, MAX_PAYLOAD_DEPTH, WEBHOOK_JOB_KIND, WebhookAck, WebhookEndpointView,
    WebhookRejection, WebhookTarget, app_webhook_path, payload_depth,
};
