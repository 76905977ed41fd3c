//! The integration tests of `tributary-core`, one module per area, all in one test binary: each
//! binary links most of the workspace, so one per crate keeps CI time and `target/` small.

mod erasure;
mod registry_rules;
mod support;
