//! Persistence for Tributary on SQLite (embedded default) or PostgreSQL (shared by several
//! processes): the database handle and migrations ([`db`]), tenants and API tokens, integrations,
//! encrypted credentials ([`keystore`], [`credentials`]), keymaker auth sessions, web UI sessions
//! ([`ui_sessions`]), webhook endpoints and deliveries, runs and their logs, reconcile schedules
//! and the durable job queue ([`jobs`]), the [`audit`] trail of tenant and operator actions, and the [`retention`]
//! sweep that deletes what is old enough.
//!
//! Start with [`Db::open`]; repositories hang off the handle (`db.integrations()`) or off a
//! transaction (`tx.integrations()`), so several writes can commit together:
//!
//! ```ignore
//! let mut tx = db.begin().await?;
//! let integration = tx.integrations().create(tenant, "okta", "Okta", &input).await?;
//! tx.credentials(&ring).save(tenant, &integration.id, "OktaToken", &secret, Expect::Absent, None).await?;
//! tx.commit().await?;
//! ```

pub mod audit;
pub mod credentials;
pub mod db;
pub mod error;
pub mod intake_cache;
pub mod integrations;
pub mod jobs;
pub mod key_rotation;
pub mod keystore;
mod placeholders;
pub mod records;
pub mod retention;
pub mod runs;
pub mod schedules;
pub mod scim;
mod sealed_rows;
pub mod secret;
pub mod sessions;
mod statement;
pub mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ui_sessions;
pub mod webhooks;

pub use db::{Backend, Conn, Db, Durability, Exec, Handle, OpenOptions, Scope, Tx, new_id, now_ms};
pub use error::{Result, StoreError};
pub use secret::SecretBytes;
