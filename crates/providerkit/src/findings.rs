//! What the collects of security-posture providers share: a page of their results goes to
//! `Vulnerability` or to `Finding` by the provider's own classification.

use serde_json::Value;
use tributary_core::{IngestPayloadSet, MappingEnvelope};
use tributary_model::{Finding, IngestModel, Vulnerability};

/// A page of results split into vulnerabilities and other findings, in that order, each under
/// the resource id at `id_pointer`; a result without one is skipped.
pub fn vulnerabilities_and_findings(
    results: Vec<Value>,
    id_pointer: &str,
    is_vulnerability: impl Fn(&Value) -> bool,
) -> [IngestPayloadSet; 2] {
    let (mut vulnerabilities, mut findings) = (Vec::new(), Vec::new());
    for result in results {
        let Some(id) = result
            .pointer(id_pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            continue;
        };
        if is_vulnerability(&result) {
            vulnerabilities.push(MappingEnvelope::new(result).resource(id));
        } else {
            findings.push(MappingEnvelope::new(result).resource(id));
        }
    }
    [
        IngestPayloadSet::new(Vulnerability::METADATA.schema, vulnerabilities),
        IngestPayloadSet::new(Finding::METADATA.schema, findings),
    ]
}
