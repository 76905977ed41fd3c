//! Compiled mappers, one per (definition, emitter, integration filter): CEL programs are compiled
//! once and shared by every run of the same emitter.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use serde_json::Value;
use tributary_cel::{CelEngine, CelError};
use tributary_core::{IngestContract, registry::RegisteredDefinition};
use tributary_ingest::Mapper;

/// The user-input field holding an integration's own CEL filter (tenant scoping).
pub const INTEGRATION_FILTER_FIELD: &str = "filterExpr";

type Key = (String, String, String);

/// The cache of compiled mappers.
pub(crate) struct Mappers {
    engine: CelEngine,
    compiled: Mutex<HashMap<Key, Arc<Mapper>>>,
}

/// Bound on cached mappers; distinct integration filters are the only thing that grows it.
const CAPACITY: usize = 4096;

impl Mappers {
    pub(crate) fn new(engine: CelEngine) -> Self {
        Self {
            engine,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The engine every mapping and integration filter of this runtime is compiled with.
    pub(crate) fn engine(&self) -> &CelEngine {
        &self.engine
    }

    /// The mapper of `emitter` (an operation or webhook event name) with the integration's filter.
    pub(crate) fn get(
        &self,
        definition: &RegisteredDefinition,
        emitter: &str,
        contracts: &[IngestContract],
        user_input: &Value,
    ) -> Result<Arc<Mapper>, tributary_ingest::ConfigError> {
        let filter = integration_filter(user_input).to_owned();
        let key = (
            definition.definition.id().to_owned(),
            emitter.to_owned(),
            filter,
        );
        if let Some(mapper) = self.lock().get(&key) {
            return Ok(Arc::clone(mapper));
        }
        let mapper = Mapper::new(
            &self.engine,
            definition.definition.id(),
            &definition.definition.mappings,
            contracts,
        )?
        .with_integration_filter(&self.engine, &key.2)?;
        let mapper = Arc::new(mapper);
        let mut compiled = self.lock();
        if compiled.len() >= CAPACITY {
            compiled.clear();
        }
        compiled.insert(key, Arc::clone(&mapper));
        Ok(mapper)
    }

    /// The mapper of `model` with no integration filter, for trying a definition's mappings
    /// on a payload (`POST /v1/mappings/evaluate`, the UI's playground): compiled once per
    /// (definition, model) and reused. `model` must be one the definition maps, so the cache
    /// stays bounded by the catalog.
    pub(crate) fn for_model(
        &self,
        definition: &RegisteredDefinition,
        model: &str,
    ) -> Result<Arc<Mapper>, tributary_ingest::ConfigError> {
        // `playground:` cannot clash with an emitter: operation and event names have no `:`.
        self.get(
            definition,
            &format!("playground:{model}"),
            &[IngestContract::new(model)],
            &Value::Null,
        )
    }

    /// Compiles the integration's filter in `user_input` as its runs will (same engine, limits
    /// and variables), so that a broken filter is refused when it is saved rather than failing
    /// every run.
    pub(crate) fn check_integration_filter(&self, user_input: &Value) -> Result<(), CelError> {
        match integration_filter(user_input) {
            filter if filter.trim().is_empty() => Ok(()),
            filter => self.engine.check(filter),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Mapper>>> {
        self.compiled.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The integration's own filter expression; empty when there is none.
fn integration_filter(user_input: &Value) -> &str {
    user_input
        .get(INTEGRATION_FILTER_FIELD)
        .and_then(Value::as_str)
        .unwrap_or_default()
}
