//! Okta: users, groups and group memberships from the Users and Groups APIs, with an API token
//! (`SSWS`) or an OAuth 2.0 service app (client credentials with a `private_key_jwt` assertion;
//! the access token is re-minted before it expires). `docs/providers/okta.md` is the user's guide.

mod client;
mod event_hooks;
mod mappings;
mod operations;

use schemars::JsonSchema;
use serde::Deserialize;
use tributary_core::{
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, Operation, Secret, StableName,
};
use tributary_providerkit::DIRECTORY_SCHEMAS;

pub use client::{OKTA_API, OKTA_DOMAINS, OktaApi, OrgHost, SERVICE_APP_SCOPES, check_org_url};
pub use operations::{DirectorySync, HealthCheck};

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, ConnectionModes, metadata_with, provider_definition},
};

pub const OKTA: DefinitionId = DefinitionId::new("okta");

/// An Okta API token, created by an administrator under Security > API > Tokens.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OktaApiToken {
    /// The API token (sent as `Authorization: SSWS <token>`). Create it with a read-only
    /// administrator so the token can read users and groups and nothing more.
    pub api_token: Secret,
}

/// An OAuth 2.0 service app (Applications > Create App Integration > API Services) that
/// authenticates with a public/private key pair. Tributary signs a client assertion with the key
/// and exchanges it for an access token with the client credentials grant; the token is renewed
/// before it expires.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OktaServiceApp {
    /// The app's Client ID (General tab, Client Credentials), e.g. `0oa1b2c3d4e5f6g7h8i9`.
    pub client_id: String,
    /// The key id (`kid`) of the app's public key, shown under Public Keys. May be left empty
    /// when the pasted key is a JWK that carries its `kid`.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The private key of the app's key pair: the JWK Okta generated, or a PEM RSA private key.
    pub private_key: Secret,
}

/// What a tenant enters when connecting Okta.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OktaUserInput {
    /// Your Okta org URL, e.g. `https://acme.okta.com` (an okta.com, oktapreview.com,
    /// okta-emea.com, okta-gov.com or okta.mil org, or your org's custom domain). Not the Admin Console URL
    /// (`acme-admin.okta.com`).
    pub org_url: String,
    /// An Okta search expression selecting the users to sync, e.g.
    /// `profile.department eq "Engineering"`. Default: every user, deprovisioned ones included
    /// (`status pr`), so that deactivations are seen.
    #[serde(default)]
    pub search: Option<String>,
    /// Also sync groups and memberships (default: yes).
    #[serde(default)]
    pub sync_groups: Option<bool>,
    /// A CEL filter every mapped record must pass (see docs/cel.md), e.g.
    /// `payload.profile.department != "Contractors"`.
    #[serde(default)]
    pub filter_expr: Option<String>,
}

/// Process-wide settings of the Okta definition (`[definitions.okta]`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OktaOperatorConfig {
    /// Accept `http://127.0.0.1` org URLs. Only for tests and the demo, which run a fake Okta on
    /// loopback; never enable it in production.
    #[serde(default)]
    pub allow_loopback_org_urls: bool,
}

/// The Okta definition, built with its operator config.
pub fn definition(config: &CatalogConfig) -> Definition {
    let operator: OktaOperatorConfig = config.operator_settings(OKTA);
    let allow_loopback = operator.allow_loopback_org_urls;
    let spec = DefinitionSpec::new(OKTA, "Okta")
        .listed("okta", "identity", &["directory-sync", "identity"])
        .documented(
            "Sync Okta users, groups and group memberships into the directory model.",
            "https://developer.okta.com/docs/reference/core-okta-api/",
        )
        .with_logo();

    let modes = ConnectionModes::new(OKTA_API, HealthCheck::NAME)
        .resolving(metadata_with(allow_loopback, operations::resolve_metadata));
    provider_definition::<OktaOperatorConfig, OktaUserInput>(spec, client::BUDGET)
        .credential(CredentialRegistration::form::<OktaApiToken>(
            "Okta API token",
            "An API token of a read-only administrator.",
        ))
        .credential(CredentialRegistration::form::<OktaServiceApp>(
            "Okta service app",
            "The client id and private key of an API Services app granted okta.users.read and okta.groups.read.",
        ))
        .client(client::registration(allow_loopback))
        .connection(modes.forgetting::<OktaApiToken>(
            "API token",
            "Connect with an Okta API token (SSWS).",
            "Tributary forgets the token; revoke it in Okta under Security > API > Tokens.",
        ))
        .connection(
            modes
                .forgetting::<OktaServiceApp>(
                    "Service app (OAuth 2.0)",
                    "Connect with an Okta API Services app and its private key; access tokens are minted with the client credentials grant and renewed before they expire.",
                    "Tributary forgets the key and its token; deactivate the app or remove its public key in Okta.",
                )
                .token_refresh(OktaServiceApp::NAME, move |request| {
                    client::mint_service_app_token(request, allow_loopback)
                }),
        )
        .operation(
            Operation::<HealthCheck>::new(
                "Checks that the credential can read the org's users (and groups, when synced)",
            )
                .client(OKTA_API)
                .inline()
                .raw(operations::health_check),
        )
        .operation(
            Operation::<DirectorySync>::new("Syncs users, groups and memberships")
                .client(OKTA_API)
                .reconcile()
                .ingests(DIRECTORY_SCHEMAS)
                .ingest(operations::directory_sync),
        )
        .webhook(event_hooks::registration())
        .mapping(mappings::account())
        .mapping(mappings::group())
        .mapping(mappings::membership())
}
