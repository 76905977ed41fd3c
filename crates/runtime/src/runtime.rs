//! The runtime handle: the registry, the database, the key ring and the shared caches (client
//! pool, compiled mappers, refresh locks), cheap to clone into every task.

use std::sync::Arc;

use serde_json::Value;
use tributary_cel::CelEngine;
use tributary_core::{
    ConnectionRegistration, IntegrationContext, Registry, registry::RegisteredDefinition,
};
use tributary_store::{Db, integrations::Integration, keystore::KeyRing};

use crate::{
    RuntimeConfig, RuntimeError, metrics::Metrics, runs::client_pool::ClientPool,
    runs::execute::Executor, runs::mappers::Mappers, setup::refresh_locks::RefreshLocks,
};

/// Everything the lifecycle needs; clone it freely (it is an `Arc`).
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) ring: KeyRing,
    pub(crate) executor: Executor,
    pub(crate) mappers: Mappers,
    pub(crate) config: RuntimeConfig,
    /// Shared with the executor, which hands it to provider code as its HTTP observer.
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) refresh_locks: RefreshLocks,
    pub(crate) intake: crate::webhooks::intake_commit::IntakeCommitter,
}

impl Runtime {
    /// A runtime over `db`, sealing credentials with `ring`.
    pub fn new(registry: Registry, db: Db, ring: KeyRing, config: RuntimeConfig) -> Self {
        let pool = Arc::new(ClientPool::default());
        let metrics = Arc::new(Metrics::new());
        Self {
            inner: Arc::new(Inner {
                db,
                ring,
                executor: Executor::new(registry, pool).observed_by(metrics.clone()),
                mappers: Mappers::new(CelEngine::default()),
                config,
                metrics,
                refresh_locks: RefreshLocks::default(),
                intake: Default::default(),
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn registry(&self) -> &Registry {
        self.inner.executor.registry()
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Everything `/metrics` serves: the process's series and the queue backlog read from the
    /// database now (left out, with a warning, when the database does not answer: a scrape
    /// still shows the rest).
    pub async fn render_metrics(&self) -> String {
        let now = tributary_store::now_ms();
        match self
            .inner
            .db
            .jobs()
            .backlog(&self.inner.config.queue, now)
            .await
        {
            Ok(backlog) => self.inner.metrics.render_with_backlog(&backlog, now),
            Err(err) => {
                tracing::warn!(error = %err, "the queue backlog could not be read for /metrics");
                self.inner.metrics.render()
            }
        }
    }

    /// Runs provider code (`work`) with its HTTP calls counted in this runtime's metrics.
    pub(crate) async fn observed<F: Future>(&self, work: F) -> F::Output {
        tributary_providerkit::observed(self.inner.metrics.clone(), work).await
    }

    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    /// The CEL engine runs compile mappings and integration filters with (its limits, its cache).
    pub fn cel_engine(&self) -> &CelEngine {
        self.inner.mappers.engine()
    }

    /// The compiled mapper of `model` of a definition, without an integration's filter, shared
    /// by every call (see [`tributary_ingest::map_one`]).
    pub fn model_mapper(
        &self,
        definition: &tributary_core::registry::RegisteredDefinition,
        model: &str,
    ) -> Result<Arc<tributary_ingest::Mapper>, tributary_ingest::ConfigError> {
        self.inner.mappers.for_model(definition, model)
    }

    pub fn key_ring(&self) -> &KeyRing {
        &self.inner.ring
    }

    pub(crate) fn definition(&self, id: &str) -> Result<&Arc<RegisteredDefinition>, RuntimeError> {
        self.registry()
            .definition(id)
            .ok_or_else(|| RuntimeError::Invalid(format!("no definition `{id}`")))
    }

    /// The tenant's integration, or `NotFound`.
    pub async fn integration(
        &self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<Integration, RuntimeError> {
        self.inner
            .db
            .integrations()
            .get(tenant_id, integration_id)
            .await?
            .ok_or(RuntimeError::NotFound("integration"))
    }
}

/// What provider code sees of an integration.
pub(crate) fn integration_context(
    definition: &RegisteredDefinition,
    integration: &Integration,
) -> IntegrationContext {
    IntegrationContext {
        tenant_id: integration.tenant_id.clone(),
        integration_id: integration.id.clone(),
        definition_id: definition.definition.id(),
        user_input: integration.user_input.clone(),
        metadata: integration.metadata.clone(),
    }
}

/// The key under which provider state names the active connection mode.
pub(crate) const ACTIVE_CONNECTION: &str = "connection";

/// The active connection mode of a connected integration.
pub(crate) fn active_connection<'a>(
    definition: &'a RegisteredDefinition,
    integration: &Integration,
) -> Option<&'a ConnectionRegistration> {
    let slot = integration
        .provider_state
        .get(ACTIVE_CONNECTION)?
        .as_str()?;
    definition.definition.connection_for(slot)
}

/// Provider state with the active connection set, keeping anything else stored there.
pub(crate) fn with_active_connection(provider_state: &Value, slot: &str) -> Value {
    let mut state = match provider_state {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    state.insert(ACTIVE_CONNECTION.into(), Value::String(slot.to_owned()));
    Value::Object(state)
}
