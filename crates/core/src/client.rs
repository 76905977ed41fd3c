//! Client registrations: factories that build an API client from an integration's credentials.
//! The runtime pools the built clients per integration and credential version.

use std::{any::Any, future::Future, marker::PhantomData, sync::Arc};

use crate::{CredentialBindings, IntegrationContext, OperationError, connection::AsyncFn};
use futures::future::BoxFuture;

/// A built client, type-erased for the pool. Operations get it back as `&C`.
pub type ErasedClient = Arc<dyn Any + Send + Sync>;

/// A typed handle on a client registration. Client ids live in-process only (they are never
/// persisted), so they are plain constants.
pub struct ClientRef<C> {
    id: &'static str,
    _client: PhantomData<fn() -> C>,
}

impl<C> ClientRef<C> {
    pub const fn new(id: &'static str) -> Self {
        Self {
            id,
            _client: PhantomData,
        }
    }

    pub const fn id(&self) -> &'static str {
        self.id
    }
}

impl<C> Clone for ClientRef<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for ClientRef<C> {}

/// What a client factory receives.
#[derive(Debug, Clone)]
pub struct ClientBuildRequest {
    pub integration: IntegrationContext,
    /// The credentials of the slots the client declared, as bound for this integration.
    pub credentials: CredentialBindings,
}

pub(crate) type BuildFn = AsyncFn<ClientBuildRequest, ErasedClient>;

/// A declared client.
#[derive(Clone)]
pub struct ClientRegistration {
    pub id: &'static str,
    pub description: String,
    /// The slots loaded for a build. A client used by several connection modes lists each mode's
    /// slot and its factory picks the bound one deterministically.
    pub credential_slots: Vec<&'static str>,
    /// The Rust type the factory builds, for error messages.
    pub client_type: &'static str,
    pub(crate) build: BuildFn,
}

impl ClientRegistration {
    /// Registers `build` as the factory of `client`.
    pub fn new<C, F, Fut>(
        client: ClientRef<C>,
        description: impl Into<String>,
        credential_slots: impl IntoIterator<Item = &'static str>,
        build: F,
    ) -> Self
    where
        C: Send + Sync + 'static,
        F: Fn(ClientBuildRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C, OperationError>> + Send + 'static,
    {
        let build = Arc::new(build);
        Self {
            id: client.id(),
            description: description.into(),
            credential_slots: credential_slots.into_iter().collect(),
            client_type: std::any::type_name::<C>(),
            build: Arc::new(move |request| {
                let build = Arc::clone(&build);
                Box::pin(async move {
                    let client = build(request).await?;
                    Ok(Arc::new(client) as ErasedClient)
                })
            }),
        }
    }

    /// Builds a client. The runtime calls this through its pool, not per operation.
    pub fn build(
        &self,
        request: ClientBuildRequest,
    ) -> BoxFuture<'static, Result<ErasedClient, OperationError>> {
        (self.build)(request)
    }
}

debug_listed_fields!(ClientRegistration {
    id,
    credential_slots,
    client_type
});

/// Casts an erased client back to `C`, failing with an internal error naming both types.
pub fn downcast_client<C: Send + Sync + 'static>(
    client: &ErasedClient,
    client_id: &str,
) -> Result<Arc<C>, OperationError> {
    Arc::clone(client).downcast::<C>().map_err(|_| {
        OperationError::internal(format!(
            "client `{client_id}` is not a {}",
            std::any::type_name::<C>()
        ))
    })
}
