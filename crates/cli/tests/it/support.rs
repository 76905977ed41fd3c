//! Helpers shared by several areas.

pub mod command;
pub mod fresh_database;
