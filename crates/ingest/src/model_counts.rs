//! The counters of an ingest run split by model, for metrics labelled by model. The names are
//! the model crate's schema names, a fixed set, plus [`OTHER_MODEL`] for a payload set whose
//! schema is none of them: a name an emitter made up never becomes a label of its own.

use std::collections::BTreeMap;

use serde::Serialize;
use tributary_store::records::Counters;

/// Where payloads of a schema that is not an internal model are counted.
pub const OTHER_MODEL: &str = "other";

/// The bounded name counts of `schema` go under: the model's schema name, else [`OTHER_MODEL`].
pub fn model_name(schema: &str) -> &'static str {
    tributary_model::metadata_for(schema).map_or(OTHER_MODEL, |model| model.schema)
}

/// Counters per model; a model the run never met is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ModelCounters(BTreeMap<&'static str, Counters>);

impl ModelCounters {
    /// The counters of `schema`'s model (see [`model_name`]), created at zero.
    pub fn of(&mut self, schema: &str) -> &mut Counters {
        self.0.entry(model_name(schema)).or_default()
    }

    /// The counters of a model, by its name.
    pub fn get(&self, model: &str) -> Option<&Counters> {
        self.0.get(model)
    }

    /// Each model met with its counters, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Counters)> {
        self.0.iter().map(|(model, counters)| (*model, counters))
    }

    /// The sum over the models: what the run's own counters say.
    pub fn total(&self) -> Counters {
        let mut total = Counters::default();
        for counters in self.0.values() {
            total.add(counters);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_schemas_share_one_name() {
        let mut counts = ModelCounters::default();
        counts.of("DirectoryGroup").created += 2;
        counts.of("Widget").failed += 1;
        counts.of("Gadget").failed += 1;
        let names: Vec<_> = counts.iter().map(|(model, _)| model).collect();
        assert_eq!(names, ["DirectoryGroup", OTHER_MODEL]);
        assert_eq!(counts.get(OTHER_MODEL).map(|c| c.failed), Some(2));
        assert_eq!(
            counts.total(),
            Counters {
                created: 2,
                failed: 2,
                ..Default::default()
            }
        );
    }
}
