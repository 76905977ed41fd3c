//! The integration tests of `tributary-runtime`, one module per area, all in one test binary: each
//! binary links most of the workspace, so one per crate keeps CI time and `target/` small.

mod execute;
mod oauth_flows;
mod runs;
mod secrets;
mod setup_flow;
mod support;
mod webhook_intake;
