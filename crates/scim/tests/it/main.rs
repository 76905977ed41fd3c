//! The SCIM server's integration tests, one binary with a module per area.

mod http;
