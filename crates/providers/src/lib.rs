//! The built-in provider definitions and the catalog that lists them.
//!
//! The catalog is one explicit list ([`catalog`]), not linker magic: a definition is compiled in
//! when its Cargo feature is on, and [`registry`] validates the whole list with the real CEL and
//! model checks, so a broken definition stops the process at startup.

#[cfg(feature = "aws_security_hub")]
pub mod aws_security_hub;
#[cfg(feature = "azure_entra_id")]
pub mod azure_entra_id;
#[cfg(feature = "azure_security_center")]
pub mod azure_security_center;
mod checks;
#[cfg(feature = "cloudflare")]
pub mod cloudflare;
mod config;
#[cfg(feature = "gcp_scc")]
pub mod gcp_scc;
#[cfg(feature = "github_app")]
pub mod github_app;
#[cfg(feature = "google_workspace")]
pub mod google_workspace;
#[cfg(any(
    feature = "microsoft_teams",
    feature = "azure_entra_id",
    feature = "azure_security_center"
))]
mod microsoft;
#[cfg(feature = "microsoft_teams")]
pub mod microsoft_teams;
#[cfg(feature = "okta")]
pub mod okta;
mod registration;
#[cfg(feature = "scim")]
pub mod scim;
#[cfg(feature = "slack")]
pub mod slack;

pub use checks::StandardChecks;
pub use config::{
    CatalogConfig, ConfigProblem, DEFINITIONS_ENV_PREFIX, apply_definition_overrides,
    check_definitions, redact_definitions,
};

use tributary_core::{Definition, Registry, registry::RegistryErrors};

/// Every built-in definition enabled by Cargo features, built with the operator config.
///
/// Provider packages are added here, one line each, behind `#[cfg(feature = "<id>")]`.
pub fn catalog(config: &CatalogConfig) -> Vec<Definition> {
    let builders: &[fn(&CatalogConfig) -> Definition] = &[
        #[cfg(feature = "okta")]
        okta::definition,
        #[cfg(feature = "cloudflare")]
        cloudflare::definition,
        #[cfg(feature = "google_workspace")]
        google_workspace::definition,
        #[cfg(feature = "azure_entra_id")]
        azure_entra_id::definition,
        #[cfg(feature = "slack")]
        slack::definition,
        #[cfg(feature = "microsoft_teams")]
        microsoft_teams::definition,
        #[cfg(feature = "azure_security_center")]
        azure_security_center::definition,
        #[cfg(feature = "scim")]
        scim::definition,
        #[cfg(feature = "github_app")]
        github_app::definition,
        #[cfg(feature = "gcp_scc")]
        gcp_scc::definition,
        #[cfg(feature = "aws_security_hub")]
        aws_security_hub::definition,
    ];
    builders.iter().map(|build| build(config)).collect()
}

/// Validates and indexes the built-in catalog.
pub fn registry(config: &CatalogConfig) -> Result<Registry, RegistryErrors> {
    registry_of(catalog(config))
}

/// Validates and indexes `definitions` with the standard checks (CEL expressions, known models).
pub fn registry_of(definitions: Vec<Definition>) -> Result<Registry, RegistryErrors> {
    Registry::build(definitions, &StandardChecks::default())
}
