//! Fake provider servers for tests and the demo. Each listens on loopback and follows its
//! provider's documented API: authentication and its error bodies, pagination, rate-limit headers
//! and 429s, deletions. Controls let a test revoke the credential, throttle the next requests or
//! change the data between syncs.

pub mod authorization;
pub mod aws_security_hub;
pub mod azure_entra_id;
pub mod azure_security_center;
pub mod browser;
mod clock;
pub mod cloudflare;
mod controls;
pub mod demo;
pub mod fixtures;
pub mod gcp_scc;
pub mod github_app;
mod google;
pub mod google_workspace;
pub mod graph_subscriptions;
pub mod keys;
mod microsoft;
pub mod microsoft_teams;
pub mod oauth;
pub mod okta;
pub mod okta_events;
pub mod response_log;
pub mod scim;
mod server;
pub mod slack;
pub mod slack_events;

pub use server::FakeServer;
