//! The integration tests of `tributary-store`, one module per area, all in one test binary: each
//! binary links most of the workspace, so one per crate keeps CI time and `target/` small.

mod jobs;
mod keystore;
mod records_repository;
mod repositories;
mod scim;
mod support;
