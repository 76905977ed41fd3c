//! The definition model of Tributary, its stable names and the registry that validates and indexes
//! definitions at startup. This crate performs no I/O.
//!
//! A provider package is a [`Definition`]: catalog facts, schemas of operator config and user input,
//! credential slots, clients, connections (modes of connecting), operations, CEL mappings and
//! webhooks. Provider authors write typed functions; the erasure to JSON happens here, once.

extern crate self as tributary_core;

#[macro_use]
mod builder;
#[macro_use]
mod debug;

mod client;
mod connection;
mod context;
mod credentials;
mod definition;
mod error;
mod handler;
mod ingest;
pub mod json;
mod names;
mod operation;
mod rate_limit;
pub mod registry;
pub mod schema;
mod secret;
pub mod suggest;
mod webhook;

pub use client::{
    ClientBuildRequest, ClientRef, ClientRegistration, ErasedClient, downcast_client,
};
pub use connection::{
    AuthCompleteRequest, AuthCompleteResult, AuthRegistration, AuthStartRequest, AuthStartResult,
    CallbackParams, ConnectionRegistration, DisconnectRegistration, DisconnectRequest,
    DisconnectResult, IntegrationMetadata, MetadataRequest, MetadataResolver, RefreshFn,
    RefreshRequest, TokenRefreshRegistration,
};
pub use context::{DetachedRun, IntegrationContext, LogLevel, OperationContext, RunHooks};
pub use credentials::{CredentialBindings, CredentialRef, CredentialRegistration};
pub use definition::{Definition, DefinitionSpec, OperatorConfigDecoder, PersistedNames};
pub use error::{ErrorKind, OperationError};
pub use handler::{ClientHandler, IngestOutput, inputs};
pub use ingest::{IngestContract, IngestPayloadSet, MappingEnvelope, MappingRegistration};
pub use names::{
    DefinitionId, StableName, is_valid_definition_id, is_valid_name, operation_topic,
    webhook_event_topic,
};
pub use operation::{
    ClientOperation, ExecutionPolicy, Operation, OperationHandler, OperationOutput,
    OperationRegistration, OperationRequest, OutputKind, decode_config,
};
pub use rate_limit::{RateLimit, RateLimitScope};
pub use registry::{DefinitionChecks, Registry, RegistryError, Rule};
pub use secret::Secret;
pub use webhook::{
    ConnectionChange, DEFAULT_ENDPOINT_TEMPLATE, ENDPOINT_ID_PLACEHOLDER, HandshakeResponse,
    InboundWebhook, ResolvedEvent, VerifyError, WebhookEndpointAccess, WebhookEvent,
    WebhookEventRegistration, WebhookEventRequest, WebhookOutcome, WebhookRegistration,
    WebhookRoute,
};

/// `#[derive(StableName)]`: the persisted name of a type is its identifier.
pub use tributary_derive::StableName;
