//! Steps 1 to 5 of the ingest path for one payload: declared schema, mapping resolution,
//! integration filter then definition filter, map expression, decoding against the model.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};
use tributary_cel::{Activation, CelEngine, Program};
use tributary_core::{IngestContract, MappingEnvelope, MappingRegistration};
use tributary_model::ModelMetadata;

use crate::decode::decode;
use crate::error::{ConfigError, FilterStage, RecordError, RecordFailure, RecordRef};

/// A payload that fitted its model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappedRecord {
    pub schema: &'static str,
    pub variant: String,
    /// The record's identity within its integration (see `Decoded::lookup_key`).
    pub lookup_key: String,
    /// The decoded, type-checked fields.
    pub fields: Map<String, Value>,
}

/// What became of one payload.
#[derive(Debug, Clone, PartialEq)]
pub enum MapOutcome {
    Mapped(MappedRecord),
    /// A filter returned `false`: the payload is not for this integration or this model.
    Filtered(FilterStage),
}

struct CompiledMapping {
    model: &'static ModelMetadata,
    label: String,
    filter: Program,
    map: Program,
}

/// The mappings and contracts of one emitter (an operation or a webhook event), compiled once and
/// applied to many payloads. Cheap to share across tasks by reference.
pub struct Mapper {
    definition_id: String,
    /// The declared schemas with the variants the emitter writes (`None`: every variant).
    declared: BTreeMap<String, Option<Vec<String>>>,
    mappings: HashMap<(String, String), CompiledMapping>,
    integration_filter: Option<Program>,
}

impl std::fmt::Debug for Mapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapper")
            .field("definition_id", &self.definition_id)
            .field("declared", &self.declared)
            .field("mappings", &self.mappings.len())
            .finish_non_exhaustive()
    }
}

impl Mapper {
    /// Compiles `mappings` (all of a definition's) for an emitter whose ingest contracts are
    /// `contracts`. Fails when a contract or mapping names a schema that is not an internal model,
    /// when a (schema, variant) is mapped twice, or when an expression does not compile.
    pub fn new(
        engine: &CelEngine,
        definition_id: &str,
        mappings: &[MappingRegistration],
        contracts: &[IngestContract],
    ) -> Result<Self, ConfigError> {
        let mut declared: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
        for contract in contracts {
            if tributary_model::metadata_for(&contract.schema).is_none() {
                return Err(ConfigError::UnknownContractSchema {
                    definition_id: definition_id.to_owned(),
                    schema: contract.schema.clone(),
                });
            }
            // Two contracts of one schema add up; one covering every variant covers them all.
            match declared.entry(contract.schema.clone()) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(contract.variants.clone());
                }
                std::collections::btree_map::Entry::Occupied(mut slot) => {
                    match (slot.get_mut(), &contract.variants) {
                        (Some(listed), Some(more)) => {
                            for variant in more {
                                if !listed.contains(variant) {
                                    listed.push(variant.clone());
                                }
                            }
                        }
                        (listed, _) => *listed = None,
                    }
                }
            }
        }
        let mut compiled = HashMap::new();
        for mapping in mappings {
            let label = mapping.label();
            let Some(model) = tributary_model::metadata_for(&mapping.schema) else {
                return Err(ConfigError::UnknownMappingSchema {
                    definition_id: definition_id.to_owned(),
                    schema: mapping.schema.clone(),
                    mapping: label,
                });
            };
            let expression = |text: &str| {
                engine.compile(text).map_err(|e| {
                    ConfigError::Expression(Box::new(e.with_mapping(
                        definition_id,
                        &mapping.schema,
                        &mapping.variant,
                    )))
                })
            };
            let entry = CompiledMapping {
                model,
                filter: expression(&mapping.filter)?,
                map: expression(&mapping.map)?,
                label: label.clone(),
            };
            let slot = (mapping.schema.clone(), mapping.variant.clone());
            if compiled.insert(slot, entry).is_some() {
                return Err(ConfigError::DuplicateMapping {
                    definition_id: definition_id.to_owned(),
                    mapping: label,
                });
            }
        }
        Ok(Self {
            definition_id: definition_id.to_owned(),
            declared,
            mappings: compiled,
            integration_filter: None,
        })
    }

    /// Adds the integration's own filter (from its user input), applied before each mapping's.
    /// An empty expression means no filter.
    pub fn with_integration_filter(
        mut self,
        engine: &CelEngine,
        expression: &str,
    ) -> Result<Self, ConfigError> {
        if expression.trim().is_empty() {
            self.integration_filter = None;
            return Ok(self);
        }
        let program = engine.compile(expression).map_err(|e| {
            ConfigError::Expression(Box::new(e.with_mapping(
                &self.definition_id,
                "integration filter",
                "",
            )))
        })?;
        self.integration_filter = Some(program);
        Ok(self)
    }

    pub fn definition_id(&self) -> &str {
        &self.definition_id
    }

    /// Whether the emitter declared `schema` (any variant of it).
    pub fn declares(&self, schema: &str) -> bool {
        self.declared.contains_key(schema)
    }

    /// Whether the emitter declared `variant` of `schema`.
    pub fn declares_variant(&self, schema: &str, variant: &str) -> bool {
        match self.declared.get(schema) {
            Some(None) => true,
            Some(Some(variants)) => variants.iter().any(|v| v == variant),
            None => false,
        }
    }

    /// The emitter's contracts, one per schema (ordered by schema), the variants of contracts of
    /// one schema merged: what a complete run of the emitter reconciles.
    pub fn contracts(&self) -> Vec<IngestContract> {
        self.declared
            .iter()
            .map(|(schema, variants)| IngestContract {
                schema: schema.clone(),
                variants: variants.clone(),
            })
            .collect()
    }

    /// Runs one payload through the path. `index` is its position in its payload set, for
    /// messages.
    pub fn map(
        &self,
        schema: &str,
        envelope: &MappingEnvelope,
        index: usize,
    ) -> Result<MapOutcome, Box<RecordError>> {
        let fail = |mapping: String, lookup_key: Option<String>, failure: RecordFailure| {
            Box::new(RecordError {
                definition_id: self.definition_id.clone(),
                schema: schema.to_owned(),
                variant: envelope.variant.clone(),
                mapping,
                record: RecordRef {
                    index,
                    resource: envelope.resource.clone(),
                    lookup_key,
                },
                failure,
            })
        };
        let wanted_label = || {
            if envelope.variant.is_empty() {
                schema.to_owned()
            } else {
                format!("{schema}/{}", envelope.variant)
            }
        };
        if !self.declares(schema) {
            return Err(fail(
                wanted_label(),
                None,
                RecordFailure::SchemaNotDeclared(schema.to_owned()),
            ));
        }
        if !self.declares_variant(schema, &envelope.variant) {
            return Err(fail(
                wanted_label(),
                None,
                RecordFailure::VariantNotDeclared {
                    schema: schema.to_owned(),
                    variant: envelope.variant.clone(),
                },
            ));
        }
        let Some(mapping) = self
            .mappings
            .get(&(schema.to_owned(), envelope.variant.clone()))
        else {
            return Err(fail(
                wanted_label(),
                None,
                RecordFailure::MappingNotFound {
                    schema: schema.to_owned(),
                    variant: envelope.variant.clone(),
                },
            ));
        };
        let activation = Activation::new(
            &envelope.variant,
            &envelope.resource,
            &envelope.action,
            &envelope.payload,
        );
        let filters = [
            (FilterStage::Integration, self.integration_filter.as_ref()),
            (FilterStage::Definition, Some(&mapping.filter)),
        ];
        for (stage, program) in filters {
            let Some(program) = program else { continue };
            match program.filter(&activation) {
                Ok(true) => {}
                Ok(false) => return Ok(MapOutcome::Filtered(stage)),
                Err(error) => {
                    let error = error.with_mapping(&self.definition_id, schema, &envelope.variant);
                    return Err(fail(
                        mapping.label.clone(),
                        None,
                        RecordFailure::Filter { stage, error },
                    ));
                }
            }
        }
        let mapped = mapping.map.map(&activation).map_err(|error| {
            let error = error.with_mapping(&self.definition_id, schema, &envelope.variant);
            fail(mapping.label.clone(), None, RecordFailure::Map(error))
        })?;
        let decoded = decode(mapping.model, mapped)
            .map_err(|error| fail(mapping.label.clone(), None, RecordFailure::Decode(error)))?;
        Ok(MapOutcome::Mapped(MappedRecord {
            schema: mapping.model.schema,
            variant: envelope.variant.clone(),
            lookup_key: decoded.lookup_key,
            fields: decoded.fields,
        }))
    }
}
