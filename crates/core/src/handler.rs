//! The shapes a client-backed operation handler may take. A handler names only the inputs it
//! uses, so a health check is `async fn(OperationContext, &Api)` rather than a function with two
//! parameters it ignores; the registration adapts each shape to the one erased call.

use std::future::Future;

use crate::{CredentialBindings, IngestPayloadSet, OperationContext, OperationError};

/// Markers telling the handler shapes apart. They only steer type inference: an `async fn`
/// implements [`ClientHandler`] for exactly one of them, picked by its parameter count.
pub mod inputs {
    /// `async fn(OperationContext, &C)`: the operation's config is empty or unused.
    pub enum Client {}
    /// `async fn(OperationContext, Cfg, &C)`.
    pub enum ConfigAndClient {}
    /// `async fn(OperationContext, Cfg, &C, CredentialBindings)`: for the rare handler that
    /// reads the bound credentials itself rather than through its client.
    pub enum ConfigClientAndCredentials {}
}

/// A typed handler that borrows its client, in one of the shapes of [`inputs`].
///
/// The trait exists so the returned future may borrow the client (`for<'a>` over the borrow);
/// any `async fn` of one of those shapes implements it.
pub trait ClientHandler<'a, C: 'a, Cfg, Out, Inputs>: Send + Sync + 'static {
    type Future: Future<Output = Result<Out, OperationError>> + Send + 'a;

    /// Calls the handler with the inputs its shape takes; the others are dropped.
    fn call(
        &self,
        context: OperationContext,
        config: Cfg,
        client: &'a C,
        credentials: CredentialBindings,
    ) -> Self::Future;
}

/// Implements [`ClientHandler`] for the functions of one shape of [`inputs`]: `|...|` names the
/// four inputs of [`ClientHandler::call`] (`_` for those the shape drops), then come the
/// function's parameter types and the inputs passed to it.
macro_rules! client_handler_shape {
    (
        $shape:ty,
        |$context:tt, $config:tt, $client:tt, $credentials:tt|
        ($($param:ty),+) => ($($arg:ident),+)
    ) => {
        impl<'a, C: 'a, Cfg, Out, F, Fut> ClientHandler<'a, C, Cfg, Out, $shape> for F
        where
            F: Fn($($param),+) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<Out, OperationError>> + Send + 'a,
        {
            type Future = Fut;
            fn call(
                &self,
                $context: OperationContext,
                $config: Cfg,
                $client: &'a C,
                $credentials: CredentialBindings,
            ) -> Fut {
                self($($arg),+)
            }
        }
    };
}

client_handler_shape!(
    inputs::Client,
    |context, _, client, _| (OperationContext, &'a C) => (context, client)
);
client_handler_shape!(
    inputs::ConfigAndClient,
    |context, config, client, _| (OperationContext, Cfg, &'a C) => (context, config, client)
);
client_handler_shape!(
    inputs::ConfigClientAndCredentials,
    |context, config, client, credentials|
    (OperationContext, Cfg, &'a C, CredentialBindings) => (context, config, client, credentials)
);

/// What an ingest handler returns. A handler that hands its pages to `ctx.emit` as it lists
/// them returns `()`; one that builds a small listing in memory may return its payload sets,
/// which are ingested after it returns.
pub trait IngestOutput {
    fn into_sets(self) -> Vec<IngestPayloadSet>;
}

impl IngestOutput for () {
    fn into_sets(self) -> Vec<IngestPayloadSet> {
        Vec::new()
    }
}

impl IngestOutput for Vec<IngestPayloadSet> {
    fn into_sets(self) -> Vec<IngestPayloadSet> {
        self
    }
}
