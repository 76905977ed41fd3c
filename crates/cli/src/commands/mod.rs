//! One module per command group.

pub mod definitions;
pub mod init;
pub mod keys;
pub mod mappings;
pub mod runs;
mod storage;
pub mod webhooks;
