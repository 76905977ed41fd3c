//! Persistence for Tributary on SQLite (embedded default) or PostgreSQL (shared by several
//! processes): the database handle and migrations ([`db`]), tenants and API tokens, integrations,
//! encrypted credentials ([`keystore`]), keymaker auth sessions, webhook endpoints and deliveries,
//! runs and their logs, reconcile schedules and the durable job queue ([`jobs`]).
//!
//! Start with [`Db::open`]; repositories hang off the handle (`db.integrations()`) or off a
//! transaction (`tx.integrations()`), so several writes can commit together.

pub mod db;
pub mod error;
pub mod records;

pub use db::{Backend, Conn, Db, Exec, Handle, OpenOptions, Scope, Tx, new_id, now_ms};
pub use error::{Result, StoreError};
