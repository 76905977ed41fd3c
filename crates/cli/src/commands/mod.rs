//! One module per command group.

pub mod definitions;
pub mod init;
pub mod keys;
mod storage;
