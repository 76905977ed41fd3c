//! The `tributary` binary's integration tests, one module per area, in one test binary (so the
//! workspace is linked once for all of them rather than once per area).

mod definitions;
mod demo;
mod integrations;
mod keys;
mod mappings;
mod providers;
mod runs_and_webhooks;
mod serve;
mod support;
