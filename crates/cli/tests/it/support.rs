//! Helpers shared by several areas.

pub mod fresh_database;
