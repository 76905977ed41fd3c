//! The integration lifecycle of Tributary: the setup flow, browser authorization flows (the
//! keymaker), credential refresh, the client pool, operation runs inline or queued, the reconcile
//! schedule, disconnect, the retention sweep, and the metrics of all of it.
//!
//! Every entry point (API, CLI, scheduler, webhooks, workflow callers) goes through [`Runtime`].

mod app_webhook_hold;
pub mod client_pool;
mod config;
mod connection_change;
mod credentials;
mod disconnect;
mod error;
pub mod execute;
mod intake_commit;
mod keymaker;
mod mappers;
pub mod metrics;
mod push;
mod reconcile;
mod refresh_locks;
mod retention;
mod run_hooks;
mod runs;
mod runtime;
pub mod schedule;
mod setup;
mod webhook_access;
mod webhooks;

pub use app_webhook_hold::HELD_EVENT_JOB_KIND;
pub use config::{
    DEFAULT_INTAKE_BATCH, DEFAULT_MAX_OPEN_AUTH_SESSIONS, DEFAULT_RETENTION_INTERVAL, RuntimeConfig,
};
pub use credentials::{EXPIRES_AT_FIELD, REFRESH_TOKEN_FIELD};
pub use disconnect::DisconnectReport;
pub use error::{RuntimeError, SetupStep};
pub use execute::{ExecuteError, Execution, Executor};
pub use keymaker::AuthCallbackTarget;
pub use mappers::INTEGRATION_FILTER_FIELD;
pub use metrics::Metrics;
pub use runs::{
    InlineResult, RUN_JOB_KIND, RUN_TYPE_INLINE, RUN_TYPE_QUEUED, RUN_TYPE_RECONCILE, RunDetails,
    RunRequest,
};
pub use runtime::Runtime;
pub use setup::{AuthRedirect, ConnectOutcome, ConnectRequest, Connected, CreatedWebhookEndpoint};
pub use webhooks::{
    DeliveryBudget, MAX_PAYLOAD_DEPTH, WEBHOOK_JOB_KIND, WebhookAck, WebhookEndpointView,
    WebhookRejection, WebhookTarget, app_webhook_path, payload_depth,
};
