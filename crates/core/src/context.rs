//! What provider code knows about the integration it runs for, and the hooks of the run it is part
//! of. The runtime builds these; provider code only reads them.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::{IngestPayloadSet, OperationError};

/// The integration an operation, client build, auth step or webhook handler works for.
#[derive(Debug, Clone)]
pub struct IntegrationContext {
    pub tenant_id: String,
    pub integration_id: String,
    pub definition_id: &'static str,
    /// The integration's non-secret user input, validated against the definition's schema.
    pub user_input: Value,
    /// What the connection resolved about the external account (workspace, org, tenant id).
    pub metadata: Value,
}

impl IntegrationContext {
    /// A context for code that runs outside any stored integration (a mapping playground, tests).
    pub fn detached(definition_id: &'static str) -> Self {
        Self {
            tenant_id: String::new(),
            integration_id: String::new(),
            definition_id,
            user_input: Value::Null,
            metadata: Value::Null,
        }
    }
}

/// Severity of a run log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Hooks into the run an operation executes in. Inline executions have no stored run; they use
/// [`DetachedRun`], which logs through `tracing` and keeps checkpoints in memory only.
pub trait RunHooks: Send + Sync {
    /// Appends a line to the run's log. Never pass a secret.
    fn log(&self, level: LogLevel, message: &str);

    /// The checkpoint saved by an earlier, interrupted attempt of this run.
    fn checkpoint(&self) -> Option<Value>;

    /// Saves a checkpoint (a cursor) so that an interrupted or throttled run resumes from it.
    fn save_checkpoint(&self, checkpoint: Value) -> BoxFuture<'_, Result<(), OperationError>>;

    /// Whether the run was cancelled; long operations check it between pages.
    fn is_cancelled(&self) -> bool;

    /// Hands a page of ingest payloads to the ingest path now, before the operation returns, so
    /// memory stays bounded by a page and a checkpoint saved after this call is safe to resume
    /// from. Payload sets an ingest handler returns are ingested after it returns.
    fn emit(&self, set: IngestPayloadSet) -> BoxFuture<'_, Result<(), OperationError>>;

    /// Says the listing this run hands over leaves records out on purpose (a repository cap, a
    /// feature switched off, a resource the credential may not read), so that finishing it
    /// tombstones nothing. The default only logs the reason.
    fn mark_incomplete(&self, reason: &str) {
        self.log(LogLevel::Warn, reason);
    }

    /// The integration's per-integration webhook endpoint named `webhook`, for an operation that
    /// registers it with the provider (a Graph subscription). Executions with no stored
    /// integration have none.
    fn webhook_endpoint(&self, _webhook: &str) -> Option<crate::WebhookEndpointAccess> {
        None
    }
}

/// Run hooks for executions with no stored run: checkpoints stay in memory and emitted payloads
/// are kept for the caller ([`DetachedRun::take_emitted`]).
#[derive(Debug, Default)]
pub struct DetachedRun {
    checkpoint: std::sync::Mutex<Option<Value>>,
    emitted: std::sync::Mutex<Vec<IngestPayloadSet>>,
}

impl DetachedRun {
    /// The payload sets emitted so far, in order, leaving none behind.
    pub fn take_emitted(&self) -> Vec<IngestPayloadSet> {
        std::mem::take(&mut *self.emitted.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl RunHooks for DetachedRun {
    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Debug => tracing::debug!(target: "tributary::run", "{message}"),
            LogLevel::Info => tracing::info!(target: "tributary::run", "{message}"),
            LogLevel::Warn => tracing::warn!(target: "tributary::run", "{message}"),
            LogLevel::Error => tracing::error!(target: "tributary::run", "{message}"),
        }
    }

    fn checkpoint(&self) -> Option<Value> {
        self.checkpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn save_checkpoint(&self, checkpoint: Value) -> BoxFuture<'_, Result<(), OperationError>> {
        *self.checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = Some(checkpoint);
        Box::pin(async { Ok(()) })
    }

    fn is_cancelled(&self) -> bool {
        false
    }

    fn emit(&self, set: IngestPayloadSet) -> BoxFuture<'_, Result<(), OperationError>> {
        self.emitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(set);
        Box::pin(async { Ok(()) })
    }
}

/// Everything an operation handler receives besides its config, client and credentials.
#[derive(Clone)]
pub struct OperationContext {
    pub integration: IntegrationContext,
    /// The stored run this execution belongs to, if it is queued.
    pub run_id: Option<String>,
    pub run: Arc<dyn RunHooks>,
}

impl OperationContext {
    pub fn detached(integration: IntegrationContext) -> Self {
        Self::with_hooks(integration, None, Arc::new(DetachedRun::default()))
    }

    pub fn with_hooks(
        integration: IntegrationContext,
        run_id: Option<String>,
        run: Arc<dyn RunHooks>,
    ) -> Self {
        Self {
            integration,
            run_id,
            run,
        }
    }

    /// See [`RunHooks::webhook_endpoint`].
    pub fn webhook_endpoint(&self, webhook: &str) -> Option<crate::WebhookEndpointAccess> {
        self.run.webhook_endpoint(webhook)
    }

    /// See [`RunHooks::emit`].
    pub async fn emit(&self, set: IngestPayloadSet) -> Result<(), OperationError> {
        self.run.emit(set).await
    }

    pub fn log(&self, level: LogLevel, message: &str) {
        self.run.log(level, message);
    }

    /// See [`RunHooks::mark_incomplete`].
    pub fn mark_incomplete(&self, reason: &str) {
        self.run.mark_incomplete(reason);
    }
}

debug_listed_fields!(OperationContext {
    integration,
    run_id
});
