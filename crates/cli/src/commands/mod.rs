//! One module per command group.

pub mod config;
pub mod definitions;
#[cfg(feature = "demo")]
pub mod demo;
pub mod init;
pub mod integrations;
pub mod keys;
pub mod mappings;
pub mod providers;
pub mod purge;
pub mod remote;
pub mod runs;
pub mod scim;
pub mod serve;
mod storage;
pub mod target;
pub mod tenants;
pub mod webhooks;
