//! Azure Entra ID (formerly Azure AD): users, groups and group memberships from Microsoft Graph,
//! read with the operator's app registration in each tenant that granted admin consent.
//!
//! Connecting is an admin consent: a tenant administrator signs in at the Microsoft identity
//! platform and consents to the app's application permissions for the whole tenant. The tenant id
//! comes from the verified id token of that sign-in (the original asked an OAuth-only client for
//! id-token claims, so it never found one). Graph is then read with app-only tokens from the
//! client-credentials grant in that tenant, minted at connect and re-minted by the runtime before
//! they expire. `docs/providers/azure_entra_id.md` is the user's guide.

mod auth;
mod change_notifications;
mod client;
mod mappings;
mod operations;

use schemars::JsonSchema;
use serde::Deserialize;
use tributary_core::{
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, DisconnectRegistration,
    Operation, Secret, StableName,
};
use tributary_providerkit::DIRECTORY_SCHEMAS;

pub use crate::microsoft::{DEFAULT_GRAPH_URL, DEFAULT_LOGIN_URL};
pub use change_notifications::{
    CHANGE_NOTIFICATIONS, ChangeNotificationSubscriptions, GraphChangeNotifications,
    GraphLifecycleNotifications,
};
pub use client::{ENTRA_GRAPH, EntraGraph, classify_aadsts};
pub use operations::{DirectorySync, HealthCheck};

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, ConnectionModes, metadata_with, provider_definition},
};

pub const AZURE_ENTRA_ID: DefinitionId = DefinitionId::new("azure_entra_id");

/// The consented tenant and the app-only Graph token for it (`{tenantId, token}`), filled by the
/// admin consent flow and re-minted with the client-credentials grant; never typed in.
#[derive(StableName)]
pub struct EntraAdminConsent;

/// What a tenant chooses when connecting Azure Entra ID.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntraUserInput {
    /// Also sync guest accounts (B2B users invited from other organisations); they are
    /// classified as guests (default: yes).
    #[serde(default)]
    pub include_guests: Option<bool>,
    /// Also sync groups and their user members (default: yes).
    #[serde(default)]
    pub sync_groups: Option<bool>,
    /// A CEL filter every mapped record must pass (see docs/cel.md), e.g.
    /// `payload.?department.orValue("") != "Contractors"`.
    #[serde(default)]
    pub filter_expr: Option<String>,
}

/// Process-wide settings of the Azure Entra ID definition (`[definitions.azure_entra_id]`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntraOperatorConfig {
    /// The Application (client) ID of the multitenant app registration (Microsoft Entra admin
    /// center > App registrations > your app > Overview).
    #[serde(default)]
    pub client_id: Option<String>,
    /// A client secret of the app registration (Certificates & secrets > Client secrets: the
    /// secret's Value, not its ID).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The Microsoft identity platform (default `https://login.microsoftonline.com`; Azure US
    /// Government is `https://login.microsoftonline.us`).
    #[serde(default)]
    pub login_url: Option<String>,
    /// Microsoft Graph (default `https://graph.microsoft.com`; US Government L4 is
    /// `https://graph.microsoft.us`). The API version `v1.0` is appended.
    #[serde(default)]
    pub graph_url: Option<String>,
    /// Accept `http://127.0.0.1` URLs above. Only for tests and the demo, which run a fake
    /// Microsoft on loopback; never enable it in production.
    #[serde(default)]
    pub allow_loopback_urls: bool,
    /// Subscribe to Graph change notifications for users and groups, so changes arrive in
    /// minutes (default: yes). Graph must reach the server's public URL over HTTPS; switch this
    /// off for a deployment it cannot reach, which then relies on the reconcile alone.
    #[serde(default)]
    pub change_notifications: Option<bool>,
}

/// The Azure Entra ID definition, built with its operator config.
pub fn definition(config: &CatalogConfig) -> Definition {
    let operator: EntraOperatorConfig = config.operator_settings(AZURE_ENTRA_ID);
    let spec = DefinitionSpec::new(AZURE_ENTRA_ID, "Azure Entra ID")
        .listed("microsoft", "identity", &["directory-sync", "identity"])
        .documented(
            "Sync Microsoft Entra ID users (guests classified), groups and group memberships into \
             the directory model.",
            "https://learn.microsoft.com/graph/api/resources/user",
        )
        .with_logo();

    let delete_subscriptions_operator = operator.clone();
    let modes = ConnectionModes::new(ENTRA_GRAPH, HealthCheck::NAME).resolving(metadata_with(
        operator.clone(),
        operations::resolve_metadata,
    ));
    let mut definition =
        provider_definition::<EntraOperatorConfig, EntraUserInput>(spec, client::BUDGET)
            .credential(CredentialRegistration::auth_managed::<EntraAdminConsent>(
                "Admin consent",
                "The consented tenant and an app-only Microsoft Graph token for it.",
            ))
            .client(client::registration(operator.clone()))
            .connection(
                modes
                    .mode::<EntraAdminConsent>(
                        "Admin consent",
                        "A tenant administrator signs in and consents to the app's read-only \
                     directory permissions for the whole tenant.",
                    )
                    .auth(auth::registration(operator.clone()))
                    .disconnect(DisconnectRegistration::new(
                        EntraAdminConsent::NAME,
                        "Deletes the integration's Graph change-notification subscriptions and \
                     forgets the token. To withdraw the consent as well, delete the app under \
                     Microsoft Entra admin center > Enterprise applications.",
                        move |request| {
                            change_notifications::delete_subscriptions(
                                request,
                                delete_subscriptions_operator.clone(),
                            )
                        },
                    )),
            )
            .operation(
                Operation::<HealthCheck>::new(
                    "Reads the organisation (GET /organization) with the app-only token",
                )
                .client(ENTRA_GRAPH)
                .inline()
                .raw(operations::health_check),
            )
            .operation(
                Operation::<DirectorySync>::new("Syncs users, groups and group memberships")
                    .client(ENTRA_GRAPH)
                    .reconcile()
                    .ingests(DIRECTORY_SCHEMAS)
                    .ingest(operations::directory_sync),
            )
            .mapping(mappings::account())
            .mapping(mappings::group())
            .mapping(mappings::membership());
    if operator.change_notifications.unwrap_or(true) {
        definition = definition
            .operation(
                Operation::<ChangeNotificationSubscriptions>::new(
                    "Creates and renews the Graph change-notification subscriptions for users \
                     and groups (POST/PATCH /subscriptions)",
                )
                .client(ENTRA_GRAPH)
                .reconcile()
                .raw(change_notifications::keep_subscriptions),
            )
            .webhook(change_notifications::registration());
    }
    definition
}
