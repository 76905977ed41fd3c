//! Slack: the members of a workspace (admins, owners, guests, bots, deactivated accounts) as
//! directory accounts, and messages posted to channels or people. Two connection modes, either
//! of which can replace the other on the same integration: installing a Slack app with OAuth v2,
//! or pasting the bot token of a Slack app the workspace made itself. In the OAuth mode the
//! operator's app also pushes member changes through the Events API (`events.rs`).
//! `docs/providers/slack.md` is the user's guide.

mod auth;
mod client;
mod events;
mod mappings;
mod messages;
mod operations;

use schemars::JsonSchema;
use serde::Deserialize;
use tributary_core::{
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, DisconnectRegistration,
    MetadataResolver, Operation, Secret, StableName,
};
use tributary_model::{DirectoryAccount, IngestModel};

pub use auth::{AUTHORIZE_PATH, BOT_SCOPES, TOKEN_METHOD};
pub use client::{DEFAULT_BASE_URL, SLACK_API, SlackApi, error_kind};
pub use events::{
    AppUninstalled, EVENTS_TEAM_ATTRIBUTE, EVENTS_WEBHOOK, TeamJoin, TokensRevoked, UserChange,
};
pub use messages::{Delivery, MessageSend};
pub use operations::{DirectorySync, HealthCheck};

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, ConnectionModes, provider_definition},
};

pub const SLACK: DefinitionId = DefinitionId::new("slack");

/// The tokens of an app installed through OAuth v2 (a serialised `TokenSet`: the bot token and,
/// when the app has token rotation on, its refresh token and expiry).
#[derive(StableName)]
pub struct SlackOAuth;

/// The bot token of a Slack app the workspace created itself (OAuth & Permissions > Bot User
/// OAuth Token).
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackBotToken {
    /// The Bot User OAuth Token, starting with `xoxb-`. The app needs the bot scopes
    /// `users:read`, `users:read.email` and `team:read` (and `chat:write` to send messages).
    pub bot_token: Secret,
}

/// What a tenant enters when connecting Slack.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackUserInput {
    /// A CEL filter every mapped record must pass (see docs/cel.md), e.g.
    /// `!payload.?is_bot.orValue(false)` to leave bots out.
    #[serde(default)]
    pub filter_expr: Option<String>,
}

/// Process-wide settings of the Slack definition (`[definitions.slack]`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackOperatorConfig {
    /// The Client ID of your Slack app (Basic Information > App Credentials). Needed for the
    /// OAuth mode only.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The Client Secret of your Slack app. Needed for the OAuth mode only.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The Signing Secret of your Slack app (Basic Information > App Credentials), which signs
    /// its Events API deliveries. Without it every delivery is refused.
    #[serde(default)]
    pub signing_secret: Option<Secret>,
    /// Slack's base URL (default `https://slack.com`; GovSlack is `https://slack-gov.com`). The
    /// Web API is under `/api`, the OAuth authorize page at `/oauth/v2/authorize`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Accept an `http://127.0.0.1` base URL. Only for tests and the demo, which run a fake
    /// Slack on loopback; never enable it in production.
    #[serde(default)]
    pub allow_loopback_base_url: bool,
}

/// The Slack definition, built with its operator config.
pub fn definition(config: &CatalogConfig) -> Definition {
    let operator: SlackOperatorConfig = config.operator_settings(SLACK);
    let spec = DefinitionSpec::new(SLACK, "Slack")
        .listed("slack", "collaboration", &["directory-sync", "messaging"])
        .documented(
            "Sync the members of a Slack workspace (admins, guests, bots, two-factor state) and \
             send messages to channels or people.",
            "https://docs.slack.dev/reference/methods",
        )
        .with_logo();

    let oauth_disconnect_operator = operator.clone();
    let modes = ConnectionModes::new(SLACK_API, HealthCheck::NAME);
    provider_definition::<SlackOperatorConfig, SlackUserInput>(spec, client::TIER_2)
        .credential(CredentialRegistration::auth_managed::<SlackOAuth>(
            "Slack app (OAuth)",
            "Installs the operator's Slack app in the workspace.",
        ))
        .credential(CredentialRegistration::form::<SlackBotToken>(
            "Slack bot token",
            "The Bot User OAuth Token (xoxb-...) of a Slack app created for this workspace.",
        ))
        .client(client::registration(operator.clone()))
        .connection(
            modes
                .mode::<SlackOAuth>(
                    "Add to Slack (OAuth)",
                    "Install the Slack app in the workspace through Slack's consent page.",
                )
                .metadata(metadata_resolver(&operator, true))
                .auth(auth::registration(operator.clone()))
                .disconnect(DisconnectRegistration::new(
                    SlackOAuth::NAME,
                    "Revokes the app's token (auth.revoke), which removes the installation's \
                     access; the app itself stays listed under Manage apps.",
                    move |request| auth::revoke(request, oauth_disconnect_operator.clone()),
                )),
        )
        .connection(
            modes
                .forgetting::<SlackBotToken>(
                    "Bot token",
                    "Connect with the bot token of a Slack app made for this workspace.",
                    "Tributary forgets the token; the app keeps working in Slack. Regenerate or \
                     revoke the token under OAuth & Permissions.",
                )
                .metadata(metadata_resolver(&operator, false)),
        )
        .operation(
            Operation::<HealthCheck>::new(
                "Checks the token (auth.test) and reads the workspace (team.info)",
            )
            .client(SLACK_API)
            .inline()
            .raw(operations::health_check),
        )
        .operation(
            Operation::<DirectorySync>::new("Syncs the workspace's members (users.list)")
                .client(SLACK_API)
                .reconcile()
                .ingests([DirectoryAccount::METADATA.schema])
                .ingest(operations::directory_sync),
        )
        .operation(
            Operation::<MessageSend>::new(
                "Posts a message to channels or people (chat.postMessage), each destination once",
            )
            .client(SLACK_API)
            .raw(messages::message_send),
        )
        .webhook(events::registration(&operator))
        .mapping(mappings::account())
}

/// `takes_events`: the connection's app is the operator's, whose Events API deliveries are
/// routed to the integration by its workspace.
fn metadata_resolver(operator: &SlackOperatorConfig, takes_events: bool) -> MetadataResolver {
    let operator = operator.clone();
    MetadataResolver::new(move |request| {
        operations::resolve_metadata(request, operator.clone(), takes_events)
    })
}
