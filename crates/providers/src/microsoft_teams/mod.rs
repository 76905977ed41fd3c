//! Microsoft Teams: messages posted to channels and chats through Microsoft Graph, as the user
//! who connected the integration (delegated permissions). The user signs in through the
//! Microsoft identity platform (authorization code with PKCE, offline access); the runtime
//! refreshes the token before it expires and stores the rotated refresh token. The tenant id
//! comes from the verified id token. `docs/providers/microsoft_teams.md` is the user's guide.

mod auth;
mod client;
mod messages;
mod operations;

use schemars::JsonSchema;
use serde::Deserialize;
use tributary_core::{
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, Operation, Secret, StableName,
};

pub use crate::microsoft::{DEFAULT_GRAPH_URL, DEFAULT_LOGIN_URL};

pub use client::{DEFAULT_AUTHORITY, MICROSOFT_GRAPH, MicrosoftGraph};
pub use messages::{BodyFormat, Delivery, Destination, MessageSend};
pub use operations::HealthCheck;

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, ConnectionModes, metadata_with, provider_definition},
};

pub const MICROSOFT_TEAMS: DefinitionId = DefinitionId::new("microsoft_teams");

/// The tokens of a user's sign-in (a serialised `TokenSet`: the access token, the refresh token
/// Microsoft rotates on every refresh, the expiry, the granted scopes and the id token). Filled
/// by the sign-in flow, never typed in.
#[derive(StableName)]
pub struct MicrosoftTeamsOAuth;

/// What a tenant enters when connecting Microsoft Teams: nothing is needed.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MicrosoftTeamsUserInput {}

/// Process-wide settings of the Microsoft Teams definition (`[definitions.microsoft_teams]`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MicrosoftTeamsOperatorConfig {
    /// The Application (client) ID of the app registration (Microsoft Entra admin center > App
    /// registrations > your app > Overview).
    #[serde(default)]
    pub client_id: Option<String>,
    /// A client secret of the app registration (Certificates & secrets > Client secrets: the
    /// secret's Value, not its ID).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Who may sign in: `organizations` (default: work or school accounts of any tenant, for a
    /// multitenant app), or the Directory (tenant) ID of your own tenant for a single-tenant app.
    /// Personal Microsoft accounts cannot use Teams through Graph, so `common` and `consumers`
    /// are refused.
    #[serde(default)]
    pub authority: Option<String>,
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
}

/// The Microsoft Teams definition, built with its operator config.
pub fn definition(config: &CatalogConfig) -> Definition {
    let operator: MicrosoftTeamsOperatorConfig = config.operator_settings(MICROSOFT_TEAMS);
    let spec = DefinitionSpec::new(MICROSOFT_TEAMS, "Microsoft Teams")
        .listed("microsoft", "collaboration", &["messaging"])
        .documented(
            "Send messages to Microsoft Teams channels and chats through Microsoft Graph, as the \
             user who connected the integration.",
            "https://learn.microsoft.com/graph/api/chatmessage-post",
        )
        .with_logo();

    let modes = ConnectionModes::new(MICROSOFT_GRAPH, HealthCheck::NAME).resolving(metadata_with(
        operator.clone(),
        operations::resolve_metadata,
    ));
    provider_definition::<MicrosoftTeamsOperatorConfig, MicrosoftTeamsUserInput>(
        spec,
        client::BUDGET,
    )
    .credential(CredentialRegistration::auth_managed::<MicrosoftTeamsOAuth>(
        "Microsoft sign-in",
        "Tokens from a user's sign-in with delegated Graph permissions (offline access).",
    ))
    .client(client::registration(operator.clone()))
    .connection(
        modes
            .forgetting::<MicrosoftTeamsOAuth>(
                "Sign in with Microsoft",
                "A user signs in and consents; messages are posted as that user.",
                "Tributary forgets the tokens. To cut access at Microsoft as well, remove the \
                     app under My Apps (myapps.microsoft.com) or, as an administrator, revoke \
                     its consent under Enterprise applications > Permissions.",
            )
            .auth(auth::registration(operator.clone())),
    )
    .operation(
        Operation::<HealthCheck>::new(
            "Reads the signed-in user (GET /me) and the teams they joined (GET /me/joinedTeams)",
        )
        .client(MICROSOFT_GRAPH)
        .inline()
        .raw(operations::health_check),
    )
    .operation(
        Operation::<MessageSend>::new(
            "Posts a message to Teams channels or chats, each destination once per run",
        )
        .client(MICROSOFT_GRAPH)
        .raw(messages::message_send),
    )
}
