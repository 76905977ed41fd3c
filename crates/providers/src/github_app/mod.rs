//! GitHub App: the repositories an installation of the operator's GitHub App can see (as
//! assets), their Dependabot, code scanning and secret scanning alerts (as vulnerabilities), and
//! the members of the organisation it is installed in (as directory accounts). The tenant
//! installs the app from GitHub's install page; the callback carries the installation id, and
//! the app's JWT (RS256, signed with the app's private key) is exchanged for installation
//! tokens, re-minted by the runtime before they expire. Alert and installation events arrive on
//! the app-level webhook route. `docs/providers/github_app.md` is the user's guide.

mod auth;
mod client;
mod mappings;
mod operations;
mod webhooks;

use schemars::JsonSchema;
use serde::Deserialize;
use tributary_core::{
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, Operation, Secret, StableName,
};
use tributary_model::{Asset, DirectoryAccount, IngestModel, Vulnerability};

pub use auth::{INSTALLATION_ATTRIBUTE, StoredInstallation};
pub use client::{DEFAULT_API_URL, DEFAULT_WEB_URL, GITHUB_API, GithubApi};
pub use operations::{DirectorySync, HealthCheck, RepositorySync, VulnerabilityCollect};
pub use webhooks::{
    APP_WEBHOOK, CodeScanningAlert, DependabotAlert, InstallationCreated, InstallationDeleted,
    Ping, SecretScanningAlert,
};

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, ConnectionModes, metadata_with, provider_definition},
};

pub const GITHUB_APP: DefinitionId = DefinitionId::new("github_app");

/// An installation of the operator's GitHub App: its installation id and the current
/// installation token (one hour), re-minted with the app JWT before it expires.
#[derive(StableName)]
pub struct GithubAppInstallation;

/// What a tenant enters when connecting the GitHub App.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GithubAppUserInput {
    /// A CEL filter every mapped record must pass (see docs/cel.md), e.g.
    /// `payload.?visibility.orValue("") != "public"` to leave public repositories out.
    #[serde(default)]
    pub filter_expr: Option<String>,
}

/// Process-wide settings of the GitHub App definition (`[definitions.github_app]`): the app the
/// operator registered on GitHub.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GithubAppOperatorConfig {
    /// The App ID shown on the app's settings page (General > About).
    #[serde(default)]
    pub app_id: Option<String>,
    /// The app's private key (General > Private keys > Generate a private key), the PEM file
    /// GitHub downloads (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8).
    #[serde(default)]
    pub private_key: Option<Secret>,
    /// The webhook secret set on the app (General > Webhook secret); every delivery's
    /// `X-Hub-Signature-256` is checked against it.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// The app's URL name (`https://github.com/apps/<slug>`), for the install page.
    #[serde(default)]
    pub app_slug: Option<String>,
    /// The REST API root (default `https://api.github.com`; GitHub Enterprise Server:
    /// `https://HOST/api/v3`). GraphQL is at `<root>/graphql`, or `https://HOST/api/graphql`.
    #[serde(default)]
    pub api_url: Option<String>,
    /// GitHub's web root, where the install page is (default `https://github.com`).
    #[serde(default)]
    pub web_url: Option<String>,
    /// Accept `http://127.0.0.1` URLs. Only for tests and the demo, which run a fake GitHub on
    /// loopback; never enable it in production.
    #[serde(default)]
    pub allow_loopback_urls: bool,
}

/// The GitHub App definition, built with its operator config.
pub fn definition(config: &CatalogConfig) -> Definition {
    let operator: GithubAppOperatorConfig = config.operator_settings(GITHUB_APP);
    let spec = DefinitionSpec::new(GITHUB_APP, "GitHub App")
        .listed(
            "github",
            "source-control",
            &["vulnerabilities", "assets", "directory-sync"],
        )
        .documented(
            "Install a GitHub App to collect repositories, Dependabot, code scanning and secret \
             scanning alerts, and the organisation's members.",
            "https://docs.github.com/en/apps",
        )
        .with_logo();

    let modes = ConnectionModes::new(GITHUB_API, HealthCheck::NAME)
        .resolving(metadata_with(operator.clone(), auth::resolve_metadata));
    provider_definition::<GithubAppOperatorConfig, GithubAppUserInput>(spec, client::BUDGET)
        .credential(
            CredentialRegistration::auth_managed::<GithubAppInstallation>(
                "GitHub App installation",
                "Filled by installing the operator's GitHub App; the installation token is \
             re-minted before it expires.",
            ),
        )
        .client(client::registration(operator.clone()))
        .connection(
            modes
                .forgetting::<GithubAppInstallation>(
                    "Install the GitHub App",
                    "Install the GitHub App on an organisation (or account) and choose the \
                     repositories it may read.",
                    "Tributary forgets the installation token. To remove the app's access, \
                     uninstall it on GitHub (Settings > GitHub Apps > Configure > Uninstall); \
                     the installation.deleted event then disconnects any integration still \
                     using it.",
                )
                .auth(auth::registration(operator.clone())),
        )
        .operation(
            Operation::<HealthCheck>::new(
                "Mints an installation token and reads the installation's repositories",
            )
            .client(GITHUB_API)
            .inline()
            .raw(operations::health_check),
        )
        .operation(
            Operation::<RepositorySync>::new(
                "Syncs the repositories the installation can see (GET /installation/repositories)",
            )
            .client(GITHUB_API)
            .reconcile()
            .ingests([Asset::METADATA.schema])
            .ingest(operations::repository_sync),
        )
        .operation(
            Operation::<VulnerabilityCollect>::new(
                "Collects Dependabot, code scanning and secret scanning alerts of each repository",
            )
            .client(GITHUB_API)
            .reconcile()
            .ingests([Vulnerability::METADATA.schema])
            .ingest(operations::vulnerability_collect),
        )
        .operation(
            Operation::<DirectorySync>::new(
                "Syncs the organisation's members with their role (GraphQL membersWithRole)",
            )
            .client(GITHUB_API)
            .reconcile()
            .ingests([DirectoryAccount::METADATA.schema])
            .ingest(operations::directory_sync),
        )
        .mapping(mappings::repository())
        .mapping(mappings::dependabot())
        .mapping(mappings::code_scanning())
        .mapping(mappings::secret_scanning())
        .mapping(mappings::member())
        .webhook(webhooks::registration(&operator))
}
