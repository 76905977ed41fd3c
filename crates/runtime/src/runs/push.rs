//! Records pushed to us (the SCIM server): ingested through the definition's mappings and the
//! integration's filter exactly like the output of one of its operations, but never as a complete
//! listing (a push is one change; deletions arrive as explicit tombstones).

use tributary_core::{IngestContract, IngestPayloadSet, registry::RegisteredDefinition};
use tributary_ingest::{Completeness, IngestContext, IngestReport, ingest_payload_sets};

use tributary_store::integrations::Integration;

use crate::{Runtime, RuntimeError};

impl Runtime {
    /// Ingests `sets` for the tenant's integration as output of its operation `emitter` (whose
    /// ingest contracts declare the schemas).
    pub async fn ingest_pushed(
        &self,
        tenant_id: &str,
        integration_id: &str,
        emitter: &str,
        sets: &[IngestPayloadSet],
    ) -> Result<IngestReport, RuntimeError> {
        let integration = self.integration(tenant_id, integration_id).await?;
        let definition = self.definition(&integration.definition_id)?.clone();
        let operation = definition
            .definition
            .operation_named(emitter)
            .ok_or_else(|| RuntimeError::Invalid(format!("no operation `{emitter}`")))?;
        let emitted = Emitted {
            topic: &definition.definition.operation_topic(emitter),
            contracts: &operation.ingest,
            run_id: None,
        };
        self.ingest_partial(&definition, &integration, emitted, sets.to_vec())
            .await
    }

    /// Ingests `sets` emitted outside a full listing (a push, a webhook event): mapped by the
    /// integration's mapper for the emitter, and nothing is tombstoned because of them.
    pub(crate) async fn ingest_partial(
        &self,
        definition: &RegisteredDefinition,
        integration: &Integration,
        emitted: Emitted<'_>,
        sets: Vec<IngestPayloadSet>,
    ) -> Result<IngestReport, RuntimeError> {
        let mapper = self
            .inner
            .mappers
            .get(
                definition,
                emitted.topic,
                emitted.contracts,
                &integration.user_input,
            )
            .map_err(|e| RuntimeError::Ingest(e.to_string()))?;
        let report = ingest_payload_sets(
            &self.inner.db,
            mapper,
            &IngestContext {
                tenant_id: integration.tenant_id.clone(),
                integration_id: integration.id.clone(),
                run_id: emitted.run_id,
            },
            sets,
            Completeness::Partial,
            self.inner.config.ingest_options(false),
        )
        .await
        .map_err(|e| RuntimeError::Ingest(e.to_string()))?;
        self.inner
            .metrics
            .ingest_finished(definition.definition.id(), &report.by_model);
        Ok(report)
    }
}

/// What emitted a set of payloads: its topic, the ingest contracts declaring their schemas, and
/// the ingest run they belong to, if any.
pub(crate) struct Emitted<'a> {
    pub(crate) topic: &'a str,
    pub(crate) contracts: &'a [IngestContract],
    pub(crate) run_id: Option<String>,
}
