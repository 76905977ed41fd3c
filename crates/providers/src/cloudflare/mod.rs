//! Cloudflare: the members of an account (with their roles and 2FA state) as directory
//! accounts, with an API token. `docs/providers/cloudflare.md` is the user's guide.

mod client;
mod mappings;
mod operations;

use schemars::JsonSchema;
use serde::Deserialize;
use tributary_core::{
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, MetadataResolver, Operation,
    Secret, StableName,
};
use tributary_model::{DirectoryAccount, IngestModel};

pub use client::{CLOUDFLARE_API, CloudflareApi, DEFAULT_API_URL};
pub use operations::{DirectorySync, HealthCheck};

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, ConnectionModes, provider_definition},
};

pub const CLOUDFLARE: DefinitionId = DefinitionId::new("cloudflare");

/// A Cloudflare API token (My Profile > API Tokens, or the account's API Tokens page).
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudflareApiToken {
    /// An API token with the "Account Settings: Read" permission on the account. User-owned and
    /// account-owned tokens both work.
    pub api_token: Secret,
}

/// What a tenant enters when connecting Cloudflare.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudflareUserInput {
    /// The account id: 32 hexadecimal characters, shown on the account's overview page and in
    /// its dashboard URL.
    pub account_id: String,
    /// A CEL filter every mapped record must pass (see docs/cel.md), e.g.
    /// `payload.status == "accepted"`.
    #[serde(default)]
    pub filter_expr: Option<String>,
}

/// Process-wide settings of the Cloudflare definition (`[definitions.cloudflare]`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudflareOperatorConfig {
    /// The API base URL (default `https://api.cloudflare.com/client/v4`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Accept an `http://127.0.0.1` API URL. Only for tests and the demo, which run a fake
    /// Cloudflare on loopback; never enable it in production.
    #[serde(default)]
    pub allow_loopback_api_url: bool,
}

/// The Cloudflare definition, built with its operator config.
pub fn definition(config: &CatalogConfig) -> Definition {
    let operator: CloudflareOperatorConfig = config.operator_settings(CLOUDFLARE);
    let spec = DefinitionSpec::new(CLOUDFLARE, "Cloudflare")
        .listed("cloudflare", "security-posture", &["directory-sync"])
        .documented(
            "Sync the members of a Cloudflare account, with their roles and two-factor state.",
            "https://developers.cloudflare.com/api/",
        )
        .with_logo();

    let modes = ConnectionModes::new(CLOUDFLARE_API, HealthCheck::NAME)
        .resolving(MetadataResolver::new(operations::resolve_metadata));
    provider_definition::<CloudflareOperatorConfig, CloudflareUserInput>(spec, client::BUDGET)
        .credential(CredentialRegistration::form::<CloudflareApiToken>(
            "Cloudflare API token",
            "A token with Account Settings: Read on the account.",
        ))
        .client(client::registration(operator))
        .connection(modes.forgetting::<CloudflareApiToken>(
            "API token",
            "Connect with a Cloudflare API token.",
            "Tributary forgets the token; delete it in Cloudflare under API Tokens.",
        ))
        .operation(
            Operation::<HealthCheck>::new(
                "Checks that the token is active and can read the account",
            )
            .client(CLOUDFLARE_API)
            .inline()
            .raw(operations::health_check),
        )
        .operation(
            Operation::<DirectorySync>::new("Syncs the account's members")
                .client(CLOUDFLARE_API)
                .reconcile()
                .ingests([DirectoryAccount::METADATA.schema])
                .ingest(operations::directory_sync),
        )
        .mapping(mappings::account())
}
