//! One module per command group.

pub mod definitions;
pub mod init;
pub mod keys;
pub mod mappings;
pub mod providers;
pub mod runs;
pub mod serve;
mod storage;
pub mod webhooks;
