//! The one execution path every entry point converges on (inline API calls, the validation
//! operation during setup, queued runs, reconcile, webhooks): find the operation, validate its
//! config, build or reuse the pooled client, call the handler.

use std::sync::Arc;

use serde_json::Value;
use tributary_core::{
    ClientBuildRequest, CredentialBindings, DetachedRun, ErrorKind, IntegrationContext,
    OperationContext, OperationError, OperationOutput, OperationRequest, Registry,
    schema::Violation,
};

use tributary_providerkit::{HttpObserver, observed};

use crate::runs::client_pool::{ClientKey, ClientPool};

/// Why an execution did not produce output.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExecuteError {
    #[error("no definition `{0}`")]
    UnknownDefinition(String),
    #[error("definition `{definition}` has no operation `{operation}`")]
    UnknownOperation {
        definition: String,
        operation: String,
    },
    #[error("invalid config for operation `{operation}`: {}", .violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidConfig {
        operation: String,
        violations: Vec<Violation>,
    },
    #[error("{0}")]
    Operation(#[from] OperationError),
}

impl ExecuteError {
    /// The error kind recorded on runs.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownDefinition(_)
            | Self::UnknownOperation { .. }
            | Self::InvalidConfig { .. } => ErrorKind::Config,
            Self::Operation(err) => err.kind,
        }
    }
}

/// What to execute, for which integration, with which credentials.
pub struct Execution {
    pub context: OperationContext,
    pub operation: String,
    pub config: Value,
    pub credentials: CredentialBindings,
    /// Identifies the credentials' stored versions, so a rotated credential gets a new client.
    pub credential_version: i64,
    /// For executions with no stored run: where pages the handler emitted are kept, to be
    /// returned with its output.
    detached: Option<Arc<DetachedRun>>,
    /// Whether the client comes from (and stays in) the pool. Setup validation builds a
    /// throwaway client: its credentials are not saved yet.
    pooled: bool,
}

impl Execution {
    /// An execution with no stored run (inline calls, setup validation).
    pub fn detached(
        integration: IntegrationContext,
        operation: impl Into<String>,
        config: Value,
        credentials: CredentialBindings,
        credential_version: i64,
    ) -> Self {
        let run = Arc::new(DetachedRun::default());
        Self {
            context: OperationContext::with_hooks(integration, None, Arc::clone(&run) as _),
            operation: operation.into(),
            config,
            credentials,
            credential_version,
            detached: Some(run),
            pooled: true,
        }
    }

    /// An execution belonging to a stored run whose hooks persist logs, checkpoints and emitted
    /// pages.
    pub fn in_run(
        context: OperationContext,
        operation: impl Into<String>,
        config: Value,
        credentials: CredentialBindings,
        credential_version: i64,
    ) -> Self {
        Self {
            context,
            operation: operation.into(),
            config,
            credentials,
            credential_version,
            detached: None,
            pooled: true,
        }
    }

    /// Builds the client for this execution alone instead of taking it from the pool.
    pub fn unpooled(mut self) -> Self {
        self.pooled = false;
        self
    }
}

/// Runs operations with pooled clients.
#[derive(Clone)]
pub struct Executor {
    registry: Registry,
    pool: Arc<ClientPool>,
    observer: Option<Arc<dyn HttpObserver>>,
}

impl Executor {
    pub fn new(registry: Registry, pool: Arc<ClientPool>) -> Self {
        Self {
            registry,
            pool,
            observer: None,
        }
    }

    /// Provider requests made by the operations (and client builds) this executor runs are
    /// reported to `observer` (the runtime's metrics).
    pub fn observed_by(mut self, observer: Arc<dyn HttpObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn pool(&self) -> &Arc<ClientPool> {
        &self.pool
    }

    /// Validates `config` against the operation's schema without running anything.
    pub fn validate_config(
        &self,
        definition: &str,
        operation: &str,
        config: &Value,
    ) -> Result<(), ExecuteError> {
        let registered = self
            .registry
            .definition(definition)
            .ok_or_else(|| ExecuteError::UnknownDefinition(definition.to_owned()))?;
        let schema = registered.operation_schema(operation).ok_or_else(|| {
            ExecuteError::UnknownOperation {
                definition: definition.to_owned(),
                operation: operation.to_owned(),
            }
        })?;
        schema
            .validate(config)
            .map_err(|violations| ExecuteError::InvalidConfig {
                operation: operation.to_owned(),
                violations,
            })
    }

    /// Runs one operation.
    pub async fn execute(&self, execution: Execution) -> Result<OperationOutput, ExecuteError> {
        match &self.observer {
            Some(observer) => observed(Arc::clone(observer), self.execute_here(execution)).await,
            None => self.execute_here(execution).await,
        }
    }

    async fn execute_here(&self, execution: Execution) -> Result<OperationOutput, ExecuteError> {
        let definition_id = execution.context.integration.definition_id;
        self.validate_config(definition_id, &execution.operation, &execution.config)?;
        let registered = self
            .registry
            .definition(definition_id)
            .ok_or_else(|| ExecuteError::UnknownDefinition(definition_id.to_owned()))?;
        let definition = &registered.definition;
        let operation = definition
            .operation_named(&execution.operation)
            .ok_or_else(|| ExecuteError::UnknownOperation {
                definition: definition_id.to_owned(),
                operation: execution.operation.clone(),
            })?;
        let handler = operation.handler.as_ref().ok_or_else(|| {
            OperationError::internal(format!("operation `{}` has no handler", operation.name))
        })?;

        let client = match operation.client {
            None => None,
            Some(client_id) => {
                let registration = definition.client_registration(client_id).ok_or_else(|| {
                    OperationError::internal(format!("client `{client_id}` is not declared"))
                })?;
                let mut credentials = CredentialBindings::new();
                for slot in &registration.credential_slots {
                    if let Some(value) = execution.credentials.raw(slot) {
                        credentials.insert(*slot, value.clone());
                    }
                }
                let key = ClientKey {
                    integration_id: execution.context.integration.integration_id.clone(),
                    client_id,
                    credential_version: execution.credential_version,
                };
                let request = ClientBuildRequest {
                    integration: execution.context.integration.clone(),
                    credentials,
                };
                Some(if execution.pooled {
                    self.pool
                        .get_or_build(key, || registration.build(request))
                        .await?
                } else {
                    registration.build(request).await?
                })
            }
        };

        let output = handler
            .call(OperationRequest {
                context: execution.context,
                config: execution.config,
                client,
                credentials: execution.credentials,
            })
            .await?;
        // With no stored run, pages emitted along the way come back with the output, in order.
        Ok(match (output, execution.detached) {
            (OperationOutput::Ingest(returned), Some(run)) => {
                let mut sets = run.take_emitted();
                sets.extend(returned);
                OperationOutput::Ingest(sets)
            }
            (output, _) => output,
        })
    }
}
