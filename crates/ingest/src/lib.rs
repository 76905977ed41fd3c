//! The shared ingest path: provider-shaped payloads in, records of the internal model out.
//!
//! For each payload, in order:
//! 1. the emitted schema (and variant, when the contract lists variants) must be declared by the
//!    operation or webhook event ([`Mapper::declares`], [`Mapper::declares_variant`]);
//! 2. the mapping is resolved by exact (schema, variant), with no fallback from a variant to the
//!    default mapping;
//! 3. the integration's own CEL filter, then the mapping's filter (`false` counts as filtered out);
//! 4. the map expression (empty: the payload as it is);
//! 5. decoding against the model's metadata ([`decode::decode`]): unknown, context, missing and
//!    wrongly typed keys and bad enum values are errors naming the key, model, mapping and payload;
//! 6. batched transactional upserts ([`IngestRun`]); a complete run that reconciles tombstones the
//!    records of its declared models (and variants) it did not see.
//!
//! Steps 2 to 5 of a whole batch run off the async runtime, in one hop to the blocking pool under
//! a wall-clock limit ([`offload`]): a slow expression never stalls the tasks that hold database
//! connections.
//!
//! A payload that fails is counted, logged with its reason and stored in the failed-records table;
//! the others go on. docs/ingest.md is the guide for provider authors and operators.

pub mod canonical;
pub mod decode;
mod error;
pub mod kit;
mod mapper;
mod model_counts;
pub mod offload;
mod run;

pub use error::{ConfigError, FilterStage, IngestError, RecordError, RecordFailure, RecordRef};
pub use kit::{eval_mapping, eval_mapping_with, map_one};
pub use mapper::{MapOutcome, MappedRecord, Mapper};
pub use model_counts::{ModelCounters, OTHER_MODEL, model_name};
pub use offload::{OffloadError, StopFlag, evaluate_off_runtime};
pub use run::{
    Completeness, IngestContext, IngestOptions, IngestReport, IngestRun, ingest_payload_sets,
};
pub use tributary_store::records::{Counters, IngestRunStatus, TombstoneScope};
