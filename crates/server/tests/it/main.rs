//! The server's integration tests, one module per area, in one test binary (so the workspace is
//! linked once for all of them rather than once per area).

mod api;
mod scim_api;
mod support;
mod ui;
mod ui_browser;
mod webhook_http;
