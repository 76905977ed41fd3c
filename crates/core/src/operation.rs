//! Operations: the actions a definition can perform. A provider author writes a typed async
//! function; the erasure to JSON (config decoding, client cast, result encoding) happens once, here.

use std::{future::Future, marker::PhantomData, sync::Arc};

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    ClientHandler, ClientRef, CredentialBindings, ErasedClient, IngestContract, IngestOutput,
    IngestPayloadSet, OperationContext, OperationError, StableName, client::downcast_client,
    connection::AsyncFn, schema::schema_for,
};

/// How an operation may be run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExecutionPolicy {
    /// Direct API callers may run it synchronously and get its result in the response.
    pub inline: bool,
    /// Scheduled on the first successful connection and re-run adaptively after that.
    pub reconcile: bool,
}

/// What an operation handed back.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationOutput {
    /// A raw result returned to the caller (health check details, a sent message's id).
    Raw(Value),
    /// Provider payloads for the ingest path.
    Ingest(Vec<IngestPayloadSet>),
}

/// Whether an operation returns a raw result or ingest payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Raw,
    Ingest,
}

/// Everything the runtime hands an erased handler.
#[derive(Debug, Clone)]
pub struct OperationRequest {
    pub context: OperationContext,
    /// The operation's config as JSON, already validated against its schema (`null` = `{}`).
    pub config: Value,
    /// The pooled client, when the operation declares one.
    pub client: Option<ErasedClient>,
    pub credentials: CredentialBindings,
}

type HandlerFn = AsyncFn<OperationRequest, OperationOutput>;

/// An erased handler with the kind of output it produces.
#[derive(Clone)]
pub struct OperationHandler {
    pub kind: OutputKind,
    call: HandlerFn,
}

impl OperationHandler {
    pub fn call(
        &self,
        request: OperationRequest,
    ) -> BoxFuture<'static, Result<OperationOutput, OperationError>> {
        (self.call)(request)
    }
}

/// A declared operation.
#[derive(Clone)]
pub struct OperationRegistration {
    /// The persisted name (the config type's stable name).
    pub name: &'static str,
    pub description: String,
    pub client: Option<&'static str>,
    pub config_schema: Value,
    pub policy: ExecutionPolicy,
    pub ingest: Vec<IngestContract>,
    /// Exactly one execution path. `None` only in hand-built registrations, which the registry
    /// rejects.
    pub handler: Option<OperationHandler>,
}

debug_listed_fields!(
    OperationRegistration { name, client, policy, ingest },
    output => |o: &OperationRegistration| o.handler.as_ref().map(|h| h.kind),
);

/// Builds an [`OperationRegistration`] whose name and config schema come from `Cfg`.
///
/// ```ignore
/// Operation::<HealthCheck>::new("Checks that the token works")
///     .client(OKTA_API)
///     .inline()
///     .raw(health_check)
/// ```
pub struct Operation<Cfg> {
    description: String,
    policy: ExecutionPolicy,
    ingest: Vec<IngestContract>,
    _config: PhantomData<fn() -> Cfg>,
}

impl<Cfg> Operation<Cfg>
where
    Cfg: StableName + JsonSchema + DeserializeOwned + Send + 'static,
{
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            policy: ExecutionPolicy::default(),
            ingest: Vec::new(),
            _config: PhantomData,
        }
    }

    /// Direct callers may run it synchronously.
    pub fn inline(mut self) -> Self {
        self.policy.inline = true;
        self
    }

    /// Scheduled on first connection and re-run adaptively.
    pub fn reconcile(mut self) -> Self {
        self.policy.reconcile = true;
        self
    }

    /// Declares the internal models the operation may emit, every variant of each. A complete
    /// run of the operation tombstones the records of these models it did not see.
    pub fn ingests<S: Into<String>>(mut self, schemas: impl IntoIterator<Item = S>) -> Self {
        self.ingest.extend(
            schemas
                .into_iter()
                .map(|schema| IngestContract::new(schema)),
        );
        self
    }

    /// Declares that the operation emits only the listed variants of `schema` (`""` is the
    /// default variant). Use it when another operation of the definition writes other variants
    /// of the same model: a complete run tombstones only unseen records of its own variants, and
    /// a payload of another variant fails mapping as not declared.
    ///
    /// ```ignore
    /// Operation::<FindingsCollect>::new("Collects findings")
    ///     .ingests(["Vulnerability"])
    ///     .ingests_variants("Finding", [""])
    /// ```
    pub fn ingests_variants<V: Into<String>>(
        mut self,
        schema: impl Into<String>,
        variants: impl IntoIterator<Item = V>,
    ) -> Self {
        self.ingest
            .push(IngestContract::with_variants(schema, variants));
        self
    }

    /// Uses the pooled client `client`; the handler receives it as `&C`.
    pub fn client<C: Send + Sync + 'static>(self, client: ClientRef<C>) -> ClientOperation<Cfg, C> {
        ClientOperation {
            operation: self,
            client,
        }
    }

    /// A clientless operation returning a raw result:
    /// `async fn(OperationContext, Cfg, CredentialBindings) -> Result<Out, OperationError>`.
    pub fn raw<F, Fut, Out>(self, handler: F) -> OperationRegistration
    where
        F: Fn(OperationContext, Cfg, CredentialBindings) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, OperationError>> + Send + 'static,
        Out: Serialize + 'static,
    {
        self.clientless(OutputKind::Raw, handler, encode_raw)
    }

    /// A clientless operation producing ingest payloads:
    /// `async fn(OperationContext, Cfg, CredentialBindings) -> Result<(), OperationError>`
    /// (or returning its payload sets, see [`IngestOutput`]).
    pub fn ingest<F, Fut, Out>(self, handler: F) -> OperationRegistration
    where
        F: Fn(OperationContext, Cfg, CredentialBindings) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, OperationError>> + Send + 'static,
        Out: IngestOutput + 'static,
    {
        self.clientless(OutputKind::Ingest, handler, encode_ingest)
    }

    fn clientless<F, Fut, Out: 'static>(
        self,
        kind: OutputKind,
        handler: F,
        encode: Encode<Out>,
    ) -> OperationRegistration
    where
        F: Fn(OperationContext, Cfg, CredentialBindings) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, OperationError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.register(None, kind, move |request, config| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let out = handler(request.context, config, request.credentials).await?;
                encode(Cfg::NAME, out)
            })
        })
    }

    fn register(
        self,
        client: Option<&'static str>,
        kind: OutputKind,
        run: impl Fn(
            OperationRequest,
            Cfg,
        ) -> BoxFuture<'static, Result<OperationOutput, OperationError>>
        + Send
        + Sync
        + 'static,
    ) -> OperationRegistration {
        let call: HandlerFn = Arc::new(move |request: OperationRequest| {
            match decode_config::<Cfg>(&request.config) {
                Ok(config) => run(request, config),
                Err(err) => Box::pin(async move { Err(err) }),
            }
        });
        OperationRegistration {
            name: Cfg::NAME,
            description: self.description,
            client,
            config_schema: schema_for::<Cfg>(),
            policy: self.policy,
            ingest: self.ingest,
            handler: Some(OperationHandler { kind, call }),
        }
    }
}

/// An [`Operation`] that uses a pooled client.
pub struct ClientOperation<Cfg, C> {
    operation: Operation<Cfg>,
    client: ClientRef<C>,
}

impl<Cfg, C> ClientOperation<Cfg, C>
where
    Cfg: StableName + JsonSchema + DeserializeOwned + Send + 'static,
    C: Send + Sync + 'static,
{
    /// See [`Operation::inline`].
    pub fn inline(self) -> Self {
        self.map_operation(Operation::inline)
    }

    /// See [`Operation::reconcile`].
    pub fn reconcile(self) -> Self {
        self.map_operation(Operation::reconcile)
    }

    /// See [`Operation::ingests`].
    pub fn ingests<S: Into<String>>(self, schemas: impl IntoIterator<Item = S>) -> Self {
        self.map_operation(|operation| operation.ingests(schemas))
    }

    /// See [`Operation::ingests_variants`].
    pub fn ingests_variants<V: Into<String>>(
        self,
        schema: impl Into<String>,
        variants: impl IntoIterator<Item = V>,
    ) -> Self {
        self.map_operation(|operation| operation.ingests_variants(schema, variants))
    }

    /// The builder methods of the wrapped [`Operation`], applied without losing the client.
    fn map_operation(mut self, apply: impl FnOnce(Operation<Cfg>) -> Operation<Cfg>) -> Self {
        self.operation = apply(self.operation);
        self
    }

    /// Returns a raw result. The handler takes the inputs it uses (see [`crate::inputs`]):
    /// `async fn(OperationContext, &C) -> Result<Out, OperationError>`, or with the config
    /// after the context.
    pub fn raw<F, Out, Inputs>(self, handler: F) -> OperationRegistration
    where
        F: for<'a> ClientHandler<'a, C, Cfg, Out, Inputs>,
        Out: Serialize + 'static,
    {
        self.with_client(OutputKind::Raw, handler, encode_raw)
    }

    /// Produces ingest payloads, handed to `ctx.emit` page by page:
    /// `async fn(OperationContext, &C) -> Result<(), OperationError>`, or with the config after
    /// the context (see [`crate::inputs`] and [`IngestOutput`]).
    pub fn ingest<F, Out, Inputs>(self, handler: F) -> OperationRegistration
    where
        F: for<'a> ClientHandler<'a, C, Cfg, Out, Inputs>,
        Out: IngestOutput + 'static,
    {
        self.with_client(OutputKind::Ingest, handler, encode_ingest)
    }

    fn with_client<F, Out: 'static, Inputs>(
        self,
        kind: OutputKind,
        handler: F,
        encode: Encode<Out>,
    ) -> OperationRegistration
    where
        F: for<'a> ClientHandler<'a, C, Cfg, Out, Inputs>,
    {
        let handler = Arc::new(handler);
        let client_id = self.client.id();
        self.operation
            .register(Some(client_id), kind, move |request, config| {
                let handler = Arc::clone(&handler);
                Box::pin(async move {
                    let client = require_client::<C>(&request, client_id)?;
                    let out = handler
                        .call(request.context, config, &client, request.credentials)
                        .await?;
                    encode(Cfg::NAME, out)
                })
            })
    }
}

fn require_client<C: Send + Sync + 'static>(
    request: &OperationRequest,
    client_id: &str,
) -> Result<Arc<C>, OperationError> {
    let client = request.client.as_ref().ok_or_else(|| {
        OperationError::internal(format!(
            "client `{client_id}` was not built for this operation"
        ))
    })?;
    downcast_client::<C>(client, client_id)
}

/// Decodes an operation config; an omitted (`null`) config decodes as `{}`.
pub fn decode_config<Cfg: DeserializeOwned + StableName>(
    config: &Value,
) -> Result<Cfg, OperationError> {
    let empty = Value::Object(Default::default());
    let config = if config.is_null() { &empty } else { config };
    Cfg::deserialize(config).map_err(|err| {
        OperationError::config(format!(
            "invalid config for operation `{}`: {err}",
            Cfg::NAME
        ))
    })
}

/// Turns a handler's typed result into the erased output (the operation's name for errors).
type Encode<Out> = fn(&'static str, Out) -> Result<OperationOutput, OperationError>;

fn encode_ingest<Out: IngestOutput>(
    _operation: &'static str,
    out: Out,
) -> Result<OperationOutput, OperationError> {
    Ok(OperationOutput::Ingest(out.into_sets()))
}

fn encode_raw<Out: Serialize>(
    operation: &'static str,
    out: Out,
) -> Result<OperationOutput, OperationError> {
    serde_json::to_value(out)
        .map(OperationOutput::Raw)
        .map_err(|err| {
            OperationError::internal(format!(
                "operation `{operation}` result does not encode: {err}"
            ))
        })
}
