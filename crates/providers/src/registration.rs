//! What the built-in definitions register alike, written once: their catalog facts, clients
//! built from the operator config, connection modes that share a client, a health check and a
//! metadata resolver, browser sign-ins, and the operation configs that take no settings.
//!
//! Only the parts every definition declares the same way are here; a definition still spells
//! out what is its own (an auth flow, a remote disconnect, its operations).

use std::future::Future;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tributary_core::{
    AuthCompleteRequest, AuthCompleteResult, AuthRegistration, AuthStartRequest, AuthStartResult,
    ClientBuildRequest, ClientRef, ClientRegistration, ConnectionRegistration, CredentialBindings,
    Definition, DefinitionSpec, DisconnectRegistration, IntegrationContext, IntegrationMetadata,
    MetadataRequest, MetadataResolver, OperationError, RateLimit, RefreshRequest, StableName,
};

/// Declares operation configs that take no settings (`{}` and nothing else), each with the
/// doc comment that describes its operation.
macro_rules! settingless_configs {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(::tributary_core::StableName, ::serde::Deserialize, ::schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {}
    )+};
}
pub(crate) use settingless_configs;

/// The catalog facts of a built-in definition, set on its [`DefinitionSpec`].
pub(crate) trait CatalogFacts {
    /// Where the catalog lists it: its family, its category and its tags.
    fn listed(self, family: &str, category: &str, tags: &[&str]) -> Self;
    /// What it does, and the provider's reference it is built on.
    fn documented(self, description: &str, docs_url: &str) -> Self;
    /// The logo the UI serves for the definition's id.
    fn with_logo(self) -> Self;
}

impl CatalogFacts for DefinitionSpec {
    fn listed(mut self, family: &str, category: &str, tags: &[&str]) -> Self {
        self.family = family.into();
        self.category = category.into();
        self.tags = tags.iter().map(|tag| (*tag).to_owned()).collect();
        self
    }

    fn documented(mut self, description: &str, docs_url: &str) -> Self {
        self.description = description.into();
        self.docs_url = docs_url.into();
        self
    }

    fn with_logo(mut self) -> Self {
        self.logo_url = format!("/ui/logos/{}.svg", self.id);
        self
    }
}

/// A definition paced by the provider's request `budget`, configured by the operator with
/// `Operator` and by a tenant, when connecting, with `Input`.
pub(crate) fn provider_definition<Operator, Input>(
    spec: DefinitionSpec,
    budget: RateLimit,
) -> Definition
where
    Operator: JsonSchema + DeserializeOwned,
    Input: JsonSchema,
{
    Definition::new(spec)
        .rate_limit(budget)
        .operator_config::<Operator>()
        .user_input::<Input>()
}

/// A client whose factory builds it at once from the integration, the bound credentials of
/// `credential_slots` and the definition's `settings` (usually its operator config).
pub(crate) fn client_built_with<C, S>(
    client: ClientRef<C>,
    description: &str,
    credential_slots: impl IntoIterator<Item = &'static str>,
    settings: S,
    build: fn(&IntegrationContext, &CredentialBindings, &S) -> Result<C, OperationError>,
) -> ClientRegistration
where
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    ClientRegistration::new(
        client,
        description,
        credential_slots,
        move |request: ClientBuildRequest| {
            std::future::ready(build(&request.integration, &request.credentials, &settings))
        },
    )
}

/// What the connection modes of a definition share: the pooled client they use, the operation
/// that validates a new credential, and (usually) how integration metadata is resolved.
#[derive(Clone)]
pub(crate) struct ConnectionModes {
    client: &'static str,
    validation_operation: &'static str,
    metadata: Option<MetadataResolver>,
}

impl ConnectionModes {
    pub(crate) fn new<C>(client: ClientRef<C>, validation_operation: &'static str) -> Self {
        Self {
            client: client.id(),
            validation_operation,
            metadata: None,
        }
    }

    /// Every mode resolves metadata with `resolver`.
    pub(crate) fn resolving(mut self, resolver: MetadataResolver) -> Self {
        self.metadata = Some(resolver);
        self
    }

    /// The mode selected by the credential `Cred`.
    pub(crate) fn mode<Cred: StableName>(
        &self,
        name: &str,
        description: &str,
    ) -> ConnectionRegistration {
        let mode = ConnectionRegistration::new(Cred::NAME, name)
            .description(description)
            .clients([self.client])
            .validation_operation(self.validation_operation);
        match &self.metadata {
            Some(resolver) => mode.metadata(resolver.clone()),
            None => mode,
        }
    }

    /// A [`mode`](Self::mode) whose disconnect only forgets the credential; `revoke_hint` tells
    /// the tenant how to cut the access at the provider as well.
    pub(crate) fn forgetting<Cred: StableName>(
        &self,
        name: &str,
        description: &str,
        revoke_hint: &str,
    ) -> ConnectionRegistration {
        self.mode::<Cred>(name, description)
            .disconnect(DisconnectRegistration::local_only(Cred::NAME, revoke_hint))
    }
}

/// A metadata resolver that hands each request `resolve` with its own copy of `settings`
/// (usually the definition's operator config).
pub(crate) fn metadata_with<S, F, Fut>(settings: S, resolve: F) -> MetadataResolver
where
    S: Clone + Send + Sync + 'static,
    F: Fn(MetadataRequest, S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<IntegrationMetadata>, OperationError>> + Send + 'static,
{
    MetadataResolver::new(move |request| resolve(request, settings.clone()))
}

/// A browser sign-in that fills `credential_ref` and refreshes it, each step handed its own
/// copy of `settings` (usually the operator config).
pub(crate) fn auth_flow<S, Start, StartFut, Complete, CompleteFut, Refresh, RefreshFut>(
    credential_ref: &'static str,
    settings: S,
    start: Start,
    complete: Complete,
    refresh: Refresh,
) -> AuthRegistration
where
    S: Clone + Send + Sync + 'static,
    Start: Fn(AuthStartRequest, S) -> StartFut + Send + Sync + 'static,
    StartFut: Future<Output = Result<AuthStartResult, OperationError>> + Send + 'static,
    Complete: Fn(AuthCompleteRequest, S) -> CompleteFut + Send + Sync + 'static,
    CompleteFut: Future<Output = Result<AuthCompleteResult, OperationError>> + Send + 'static,
    Refresh: Fn(RefreshRequest, S) -> RefreshFut + Send + Sync + 'static,
    RefreshFut: Future<Output = Result<Value, OperationError>> + Send + 'static,
{
    let (start_settings, complete_settings) = (settings.clone(), settings.clone());
    AuthRegistration::new(
        credential_ref,
        move |request| start(request, start_settings.clone()),
        move |request| complete(request, complete_settings.clone()),
    )
    .with_refresh(move |request| refresh(request, settings.clone()))
}
