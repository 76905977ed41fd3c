//! The integration tests of `providerkit`, one module per area, in one test binary.

mod host;
mod http_client;
mod jwk;
mod oauth;
mod oidc;
mod pagination;
mod provider_shape;
mod support;
mod tenant_credential;
