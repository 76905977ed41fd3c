//! SCIM 2.0 (push): identity providers (Okta, Entra ID, OneLogin, JumpCloud) provision users and
//! groups into a SCIM endpoint of the integration, served by the `tributary-scim` crate under
//! `/scim/v2/<endpoint id>`. There are no credentials to hold and nothing to poll: the endpoint's
//! bearer secret authenticates the identity provider to us. Every accepted write is ingested
//! through the mappings below as the output of `DirectorySync`, so the records land in the same
//! DirectoryAccount, DirectoryGroup and DirectoryMembership tables as a pulled directory's.
//! `docs/providers/scim.md` is the user's guide.

mod mappings;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{Definition, DefinitionId, DefinitionSpec, Operation, StableName};
use tributary_providerkit::DIRECTORY_SCHEMAS;

pub use mappings::{account, group, membership};

use crate::{
    CatalogConfig,
    registration::{CatalogFacts, settingless_configs},
};

pub const SCIM: DefinitionId = DefinitionId::new("scim");

/// The operation whose ingest contracts the SCIM server's writes are ingested under.
pub const INGEST_EMITTER: &str = DirectorySync::NAME;

/// What a tenant enters when creating a SCIM integration.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScimUserInput {
    /// A CEL filter every mapped record must pass (see docs/cel.md), e.g.
    /// `payload.userName.endsWith("@example.com")`. Resources that do not pass are still stored
    /// by the SCIM endpoint but do not become directory records.
    #[serde(default)]
    pub filter_expr: Option<String>,
}

settingless_configs! {
    /// Reports that the integration is push-based (there is no provider to call).
    HealthCheck;

    /// Declares the records the SCIM endpoint ingests. Running it does nothing: the identity
    /// provider pushes changes, nothing is polled.
    DirectorySync;
}

/// The SCIM definition.
pub fn definition(_config: &CatalogConfig) -> Definition {
    let spec = DefinitionSpec::new(SCIM, "SCIM 2.0")
        .listed("scim", "identity", &["directory-sync"])
        .documented(
            "Identity providers (Okta, Entra ID, OneLogin, JumpCloud) push users and groups to a SCIM 2.0 endpoint.",
            "https://www.rfc-editor.org/rfc/rfc7644",
        );

    Definition::new(spec)
        .user_input::<ScimUserInput>()
        .operation(
            Operation::<HealthCheck>::new("Reports that SCIM is push-based (nothing to call)")
                .inline()
                .raw(|_ctx, _config: HealthCheck, _credentials| async {
                    Ok::<Value, tributary_core::OperationError>(json!({
                        "message": "SCIM is push-based: the identity provider calls the SCIM endpoint"
                    }))
                }),
        )
        .operation(
            Operation::<DirectorySync>::new(
                "The records the SCIM endpoint ingests (pushed by the identity provider; never polled)",
            )
            .inline()
            .ingests(DIRECTORY_SCHEMAS)
            .raw(|_ctx, _config: DirectorySync, _credentials| async {
                Ok::<Value, tributary_core::OperationError>(json!({
                    "message": "SCIM is push-based: records arrive when the identity provider calls the SCIM endpoint"
                }))
            }),
        )
        .mapping(mappings::account())
        .mapping(mappings::group())
        .mapping(mappings::membership())
}
