//! The integration lifecycle of Tributary: the setup flow, auth flows, credential refresh, the
//! client pool, dispatch of operations inline or as queued runs, and the reconcile schedule.
//!
//! Work in progress: the pieces that do not need the store are here first.

pub mod client_pool;
pub mod execute;
pub mod schedule;
