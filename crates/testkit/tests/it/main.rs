//! The integration tests of `testkit`, one module per area, in one test binary.

mod authorization;
mod azure_security_center;
mod fixtures;
mod github_app;
mod oauth_server;
mod okta;
mod support;
