//! Google Workspace: users, groups and group memberships from the Admin SDK Directory API, read
//! only. Two ways to connect: an administrator signs in with OAuth 2.0 (offline access, refreshed
//! before expiry), or a service account with domain-wide delegation impersonates an
//! administrator. `docs/providers/google_workspace.md` is the user's guide.

mod auth;
mod client;
mod mappings;
mod operations;

use schemars::JsonSchema;
use serde::Deserialize;
use tributary_core::{
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, Operation, Secret, StableName,
};
use tributary_providerkit::DIRECTORY_SCHEMAS;

pub use client::{
    DEFAULT_API_URL, DEFAULT_AUTHORIZE_URL, DEFAULT_TOKEN_URL, GOOGLE_DIRECTORY,
    GoogleDirectoryApi, SCOPES,
};
pub use operations::{DirectorySync, HealthCheck};

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, ConnectionModes, metadata_with, provider_definition},
};

pub const GOOGLE_WORKSPACE: DefinitionId = DefinitionId::new("google_workspace");

/// Tokens from an administrator's OAuth sign-in (a serialised `TokenSet`: access token, refresh
/// token, expiry, granted scopes). Filled by the OAuth flow, never typed in.
#[derive(StableName)]
pub struct GoogleWorkspaceOAuth;

/// A service account with domain-wide delegation, and the administrator it acts as.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GoogleWorkspaceServiceAccount {
    /// The service account's JSON key file, pasted whole (Google Cloud console > IAM & Admin >
    /// Service Accounts > Keys > Add key > JSON).
    pub service_account_key: Secret,
    /// The email of a Workspace administrator the service account impersonates (the `sub` of its
    /// token requests), e.g. `it-admin@example.com`. A super admin, or an admin whose role can
    /// read users and groups.
    pub admin_email: String,
}

/// What a tenant enters when connecting Google Workspace.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GoogleWorkspaceUserInput {
    /// A CEL filter every mapped record must pass (see docs/cel.md). It sees users, groups and
    /// memberships, so guard fields, e.g.
    /// `!has(payload.orgUnitPath) || !payload.orgUnitPath.startsWith("/Contractors")`.
    #[serde(default)]
    pub filter_expr: Option<String>,
}

/// Process-wide settings of the Google Workspace definition (`[definitions.google_workspace]`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GoogleWorkspaceOperatorConfig {
    /// The OAuth client id (Google Cloud console > APIs & Services > Credentials, a "Web
    /// application" client). Without it the OAuth connection is refused; the service-account
    /// connection does not need it.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The OAuth client's secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Google's authorization endpoint (default `https://accounts.google.com/o/oauth2/v2/auth`).
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// Google's token endpoint, for OAuth and service accounts alike (default
    /// `https://oauth2.googleapis.com/token`). The `token_uri` of a pasted key is not used.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The Admin SDK base URL (default `https://admin.googleapis.com`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Accept `http://127.0.0.1` URLs above. Only for tests and the demo, which run a fake
    /// Google on loopback; never enable it in production.
    #[serde(default)]
    pub allow_loopback_urls: bool,
}

/// The Google Workspace definition, built with its operator config.
pub fn definition(config: &CatalogConfig) -> Definition {
    let operator: GoogleWorkspaceOperatorConfig = config.operator_settings(GOOGLE_WORKSPACE);
    let spec = DefinitionSpec::new(GOOGLE_WORKSPACE, "Google Workspace")
        .listed("google", "identity", &["directory-sync", "identity"])
        .documented(
            "Sync Google Workspace users (status, admin rights, 2-Step Verification), groups and \
             group memberships from the Admin SDK Directory API, read only.",
            "https://developers.google.com/admin-sdk/directory/reference/rest",
        )
        .with_logo();

    let revoke_hint = "Tributary forgets the credential. To cut access at Google as well, remove \
                       the app under Admin console > Security > Access and data control > API \
                       controls.";
    let modes = ConnectionModes::new(GOOGLE_DIRECTORY, HealthCheck::NAME).resolving(metadata_with(
        operator.clone(),
        operations::resolve_metadata,
    ));
    provider_definition::<GoogleWorkspaceOperatorConfig, GoogleWorkspaceUserInput>(
        spec,
        client::BUDGET,
    )
    .credential(
        CredentialRegistration::auth_managed::<GoogleWorkspaceOAuth>(
            "Google sign-in",
            "Tokens from a Workspace administrator's consent (offline access, read-only scopes).",
        ),
    )
    .credential(
        CredentialRegistration::form::<GoogleWorkspaceServiceAccount>(
            "Service account",
            "A service account key with domain-wide delegation and the admin it acts as.",
        ),
    )
    .client(client::registration(operator.clone()))
    .connection(
        modes
            .forgetting::<GoogleWorkspaceOAuth>(
                "Sign in with Google",
                "An administrator signs in and consents to read-only directory access.",
                revoke_hint,
            )
            .auth(auth::oauth(operator.clone())),
    )
    .connection(modes.forgetting::<GoogleWorkspaceServiceAccount>(
        "Service account (domain-wide delegation)",
        "A service account authorised in the Admin console acts as an administrator.",
        "Tributary forgets the key. Delete the key in Google Cloud and remove the client id \
             under Admin console > Security > API controls > Domain-wide delegation.",
    ))
    .operation(
        Operation::<HealthCheck>::new("Reads the Workspace customer (id and primary domain)")
            .client(GOOGLE_DIRECTORY)
            .inline()
            .raw(operations::health_check),
    )
    .operation(
        Operation::<DirectorySync>::new("Syncs users, groups and group memberships")
            .client(GOOGLE_DIRECTORY)
            .reconcile()
            .ingests(DIRECTORY_SCHEMAS)
            .ingest(operations::directory_sync),
    )
    .mapping(mappings::account())
    .mapping(mappings::group())
    .mapping(mappings::membership())
}
