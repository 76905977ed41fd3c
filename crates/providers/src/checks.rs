//! The registry checks that need the CEL and model crates.

use tributary_cel::CelEngine;
use tributary_core::DefinitionChecks;

/// Mapping expressions are checked by the CEL engine (syntax, limits, only the five variables and
/// known functions); ingest contracts and mappings must name a model of `tributary_model`.
#[derive(Clone, Default)]
pub struct StandardChecks {
    cel: CelEngine,
}

impl StandardChecks {
    pub fn new(cel: CelEngine) -> Self {
        Self { cel }
    }
}

impl DefinitionChecks for StandardChecks {
    fn known_models(&self) -> Option<Vec<&'static str>> {
        Some(tributary_model::schema_names().collect())
    }

    fn check_expression(&self, expr: &str) -> Result<(), String> {
        self.cel.check(expr).map_err(|err| err.to_string())
    }
}
