//! The integration tests of `providers`, one module per area, in one test binary.

mod aws_security_hub;
mod azure_entra_id;
mod azure_security_center;
mod cloudflare;
mod each_backend;
mod gcp_scc;
mod github_app;
mod google_workspace;
mod harness;
mod microsoft_teams;
mod okta;
mod okta_event_hooks;
mod scim;
mod slack;
mod stable_names;
mod standard_checks;
