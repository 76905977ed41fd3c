//! The setup flow: one path for direct credentials, OAuth exchanges and app installs.
//!
//! - Steps 1-3: resolve or create the integration, validate and persist its user input, resolve
//!   the connection mode. A new integration whose first connection with typed credentials fails
//!   is removed again; a browser flow keeps it (the callback needs it).
//! - Step 4: a browser flow hands over to the keymaker; its callback resumes at step 5.
//! - Steps 5, 6 and the provider half of 9: validate each credential against its slot's schema,
//!   run the validation operation, resolve metadata. These call the provider, so they run before
//!   the transaction rather than inside it.
//! - Steps 7-10 commit in one transaction: the credentials (dropping other modes'), the active
//!   connection, the metadata, then webhook endpoints and reconcile schedules where missing. A
//!   failure anywhere leaves nothing of them behind, and the error names the step.

pub(crate) mod connection_change;
pub(crate) mod credentials;
pub(crate) mod disconnect;
pub(crate) mod keymaker;
pub(crate) mod refresh_locks;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;
use tributary_core::{
    ConnectionRegistration, CredentialBindings, MetadataRequest, RefreshRequest, Secret,
    WebhookRoute, registry::RegisteredDefinition,
};
use tributary_store::{
    SecretBytes, StoreError,
    credentials::Expect,
    integrations::{Document, Integration, IntegrationStatus},
    now_ms,
};

use crate::{
    Runtime, RuntimeError, SetupStep,
    runs::execute::Execution,
    runs::mappers::INTEGRATION_FILTER_FIELD,
    runtime::{integration_context, with_active_connection},
    setup::credentials::credential_expiry_ms,
};

/// A request to connect an integration (new or existing) in one connection mode.
/// The definition's connection mode `name`; `missing` says why it is refused when there is none.
pub(crate) fn connection_mode(
    definition: &RegisteredDefinition,
    name: &str,
    missing: impl FnOnce() -> String,
) -> Result<ConnectionRegistration, RuntimeError> {
    definition
        .definition
        .connection_for(name)
        .cloned()
        .ok_or_else(|| RuntimeError::setup(SetupStep::ResolveConnection, missing()))
}

#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    pub tenant_id: String,
    /// An existing integration to (re)connect; `None` creates one.
    pub integration_id: Option<String>,
    pub definition_id: String,
    /// Display name of a new integration (default: the definition's).
    pub name: Option<String>,
    /// New user input; `None` keeps what is stored.
    pub user_input: Option<Value>,
    /// The slot selecting the connection mode.
    pub connection: String,
    /// Form credentials by slot (none for OAuth and app-install modes).
    pub credentials: BTreeMap<String, Value>,
}

/// A webhook endpoint created by the first successful connection. Its secret is shown this once.
#[derive(Clone, Serialize)]
pub struct CreatedWebhookEndpoint {
    pub id: String,
    pub name: String,
    pub url: String,
    pub secret: Secret,
}

impl std::fmt::Debug for CreatedWebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhookEndpoint")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A finished connection.
#[derive(Debug, Clone, Serialize)]
pub struct Connected {
    pub integration: Integration,
    /// Endpoints created now (empty on a reconnect that already had them).
    pub webhook_endpoints: Vec<CreatedWebhookEndpoint>,
    /// Reconcile-eligible operations scheduled now.
    pub scheduled: Vec<String>,
}

/// A browser flow to follow: send the user to `url`.
#[derive(Debug, Clone, Serialize)]
pub struct AuthRedirect {
    pub integration_id: String,
    pub url: String,
    /// Unix ms after which the callback is refused.
    pub expires_at: i64,
}

/// What [`Runtime::connect`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ConnectOutcome {
    Connected(Box<Connected>),
    Redirect(AuthRedirect),
}

impl Runtime {
    /// Runs the setup flow. Direct credentials finish here; an OAuth or app-install mode returns
    /// the provider URL, and [`Runtime::complete_auth`] finishes on the callback.
    pub async fn connect(&self, request: ConnectRequest) -> Result<ConnectOutcome, RuntimeError> {
        let span = tracing::info_span!(
            "tributary.connect",
            tenant_id = %request.tenant_id,
            definition_id = %request.definition_id,
            integration_id = tracing::field::Empty,
        );
        let definition_id = request.definition_id.clone();
        let result = self
            .observed(self.connect_inner(request))
            .instrument(span)
            .await;
        let outcome = match &result {
            Ok(ConnectOutcome::Connected(_)) => "connected",
            Ok(ConnectOutcome::Redirect(_)) => "redirected",
            Err(_) => "failed",
        };
        self.inner.metrics.connect(&definition_id, outcome);
        result
    }

    async fn connect_inner(&self, request: ConnectRequest) -> Result<ConnectOutcome, RuntimeError> {
        // 1. resolve or create the integration
        let definition = self
            .definition(&request.definition_id)
            .map_err(|e| RuntimeError::setup(SetupStep::ResolveIntegration, e.to_string()))?
            .clone();
        if !definition.definition.spec.active {
            return Err(RuntimeError::setup(
                SetupStep::ResolveIntegration,
                format!(
                    "definition `{}` takes no new connections",
                    request.definition_id
                ),
            ));
        }
        // 2. validate the user input (given or stored) before anything is written
        let existing = match &request.integration_id {
            Some(id) => {
                let integration = self.integration(&request.tenant_id, id).await?;
                if integration.definition_id != request.definition_id {
                    return Err(RuntimeError::setup(
                        SetupStep::ResolveIntegration,
                        format!(
                            "integration {id} belongs to definition `{}`",
                            integration.definition_id
                        ),
                    ));
                }
                Some(integration)
            }
            None => None,
        };
        let user_input = request
            .user_input
            .clone()
            .or_else(|| existing.as_ref().map(|i| i.user_input.clone()))
            .unwrap_or_else(|| json!({}));
        self.validate_user_input(&definition, &user_input)?;
        // 3. resolve the connection mode (before persisting anything, so a typo writes nothing)
        let connection = connection_mode(&definition, &request.connection, || {
            format!(
                "definition `{}` has no connection mode `{}`",
                request.definition_id, request.connection
            )
        })?;
        check_form_slots(&connection, &request.credentials)?;
        let created = existing.is_none();
        let integration = match existing {
            Some(integration) => {
                if request.user_input.is_some() {
                    self.inner
                        .db
                        .integrations()
                        .set_document(
                            &integration.tenant_id,
                            &integration.id,
                            Document::UserInput,
                            &user_input,
                        )
                        .await?;
                }
                Integration {
                    user_input,
                    ..integration
                }
            }
            None => {
                if self
                    .inner
                    .db
                    .tenants()
                    .get(&request.tenant_id)
                    .await?
                    .is_none()
                {
                    return Err(RuntimeError::NotFound("tenant"));
                }
                let name = request
                    .name
                    .clone()
                    .unwrap_or_else(|| definition.definition.spec.display_name.clone());
                self.inner
                    .db
                    .integrations()
                    .create(
                        &request.tenant_id,
                        &request.definition_id,
                        &name,
                        &user_input,
                    )
                    .await?
            }
        };
        tracing::Span::current().record("integration_id", integration.id.as_str());
        // 4. browser flows continue at the callback
        if connection.auth.is_some() {
            return match self
                .begin_auth(&definition, &integration, &connection)
                .await
            {
                Ok(redirect) => Ok(ConnectOutcome::Redirect(redirect)),
                Err(err) => {
                    if created {
                        self.remove_failed_integration(&integration).await;
                    }
                    Err(err)
                }
            };
        }
        let mut bindings = CredentialBindings::new();
        for (slot, value) in &request.credentials {
            bindings.insert(slot.clone(), value.clone());
        }
        let snapshot = created.then(|| integration.clone());
        match self
            .commit_connection(&definition, integration, &connection, bindings, Value::Null)
            .await
        {
            Ok(connected) => Ok(ConnectOutcome::Connected(Box::new(connected))),
            Err(err) => {
                // A first connection that failed leaves no integration behind: the caller
                // retries from scratch. (An existing one keeps its state: steps 5-10 wrote
                // nothing.)
                if let Some(integration) = snapshot {
                    self.remove_failed_integration(&integration).await;
                }
                Err(err)
            }
        }
    }

    /// Removes a just-created integration whose first connection failed.
    async fn remove_failed_integration(&self, integration: &Integration) {
        if let Err(err) = self
            .inner
            .db
            .integrations()
            .delete(&integration.tenant_id, &integration.id)
            .await
        {
            tracing::warn!(error = %err, "removing the integration of a failed first connection failed");
        }
    }

    /// Creates an integration from its user input, not yet connected (status `pending`): the
    /// tenant then adds credentials or starts the auth flow with [`Runtime::connect`] naming it.
    pub async fn create_integration(
        &self,
        tenant_id: &str,
        definition_id: &str,
        name: Option<&str>,
        user_input: &Value,
    ) -> Result<Integration, RuntimeError> {
        let definition = self.definition(definition_id)?;
        if !definition.definition.spec.active {
            return Err(RuntimeError::Invalid(format!(
                "definition `{definition_id}` takes no new connections"
            )));
        }
        self.validate_user_input(definition, user_input)?;
        if self.inner.db.tenants().get(tenant_id).await?.is_none() {
            return Err(RuntimeError::NotFound("tenant"));
        }
        let name = name.unwrap_or(&definition.definition.spec.display_name);
        Ok(self
            .inner
            .db
            .integrations()
            .create(tenant_id, definition_id, name, user_input)
            .await?)
    }

    /// Updates an integration's user input alone; metadata, credentials and status are kept.
    pub async fn update_user_input(
        &self,
        tenant_id: &str,
        integration_id: &str,
        user_input: &Value,
    ) -> Result<Integration, RuntimeError> {
        let integration = self.integration(tenant_id, integration_id).await?;
        let definition = self.definition(&integration.definition_id)?;
        self.validate_user_input(definition, user_input)?;
        self.inner
            .db
            .integrations()
            .set_document(tenant_id, integration_id, Document::UserInput, user_input)
            .await?;
        self.inner.executor.pool().invalidate(integration_id);
        self.integration(tenant_id, integration_id).await
    }

    /// Steps 5-10 for credentials in hand (typed by a user or produced by an auth flow).
    pub(crate) async fn commit_connection(
        &self,
        definition: &RegisteredDefinition,
        integration: Integration,
        connection: &ConnectionRegistration,
        credentials: CredentialBindings,
        auth_input: Value,
    ) -> Result<Connected, RuntimeError> {
        // 5. validate each credential against its slot's schema
        if !credentials.contains(connection.credential_ref) {
            return Err(RuntimeError::setup(
                SetupStep::ValidateCredential,
                format!(
                    "credential `{}` is required for this connection mode",
                    connection.credential_ref
                ),
            ));
        }
        for slot in credentials.slots() {
            if let Some(schema) = definition.credential_schema(slot) {
                let value = credentials.raw(slot).expect("listed slot");
                schema.validate(value).map_err(|violations| {
                    RuntimeError::setup(
                        SetupStep::ValidateCredential,
                        format!(
                            "credential `{slot}`: {}",
                            violations
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    )
                })?;
            }
        }
        // A typed credential the connection exchanges for a short-lived token (a service app's
        // key) is exchanged now: the validation operation needs the token, and the saved
        // credential carries its expiry so the runtime renews it in time.
        let mut credentials = credentials;
        if let Some(exchange) = &connection.token_refresh
            && let Some(typed) = credentials.raw(exchange.credential_ref).cloned()
        {
            let minted = (exchange.refresh)(RefreshRequest {
                integration: integration_context(definition, &integration),
                credential: typed,
            })
            .await
            .map_err(|e| RuntimeError::setup(SetupStep::ValidateCredential, e))?;
            credentials.insert(exchange.credential_ref, minted);
        }
        // Participating slots the request left out keep their stored values (a reconnect that
        // replaces only the token of a mode with several slots).
        let mut bindings = credentials.clone();
        for slot in &connection.credential_refs {
            if !bindings.contains(slot)
                && let Some(stored) = self
                    .inner
                    .db
                    .credentials(&self.inner.ring)
                    .load(&integration.tenant_id, &integration.id, slot)
                    .await?
                && let Ok(value) = stored.secret.expose_json()
            {
                bindings.insert(*slot, value);
            }
        }
        let context = integration_context(definition, &integration);
        // 6. the validation operation, with a throwaway client
        if let Some(operation) = connection.validation_operation {
            self.inner
                .executor
                .execute(
                    Execution::detached(context.clone(), operation, json!({}), bindings.clone(), 0)
                        .unpooled(),
                )
                .await
                .map_err(|e| RuntimeError::setup(SetupStep::ValidationOperation, e))?;
        }
        // 9 (provider part). metadata of the external account
        let metadata = match &connection.metadata {
            Some(resolver) => resolver
                .resolve(MetadataRequest {
                    integration: context,
                    credentials: bindings.clone(),
                    auth_input,
                })
                .await
                .map_err(|e| RuntimeError::setup(SetupStep::ResolveMetadata, e))?,
            None => None,
        };
        // 7-10 in one transaction
        let save = |e: StoreError| RuntimeError::setup(SetupStep::Save, e);
        let tenant_id = integration.tenant_id.as_str();
        let integration_id = integration.id.as_str();
        let mut tx = self.inner.db.begin().await.map_err(save)?;
        for slot in credentials.slots() {
            let value = credentials.raw(slot).expect("listed slot");
            let bytes = serde_json::to_vec(value)
                .map_err(|_| RuntimeError::setup(SetupStep::Save, "credential is not JSON"))?;
            tx.credentials(&self.inner.ring)
                .save(
                    tenant_id,
                    integration_id,
                    slot,
                    &SecretBytes::new(bytes),
                    Expect::Any,
                    credential_expiry_ms(value),
                )
                .await
                .map_err(save)?;
        }
        // Switching mode: the old mode's credentials go.
        tx.credentials(&self.inner.ring)
            .delete_all_except(tenant_id, integration_id, &connection.credential_refs)
            .await
            .map_err(save)?;
        let provider_state =
            with_active_connection(&integration.provider_state, connection.credential_ref);
        tx.integrations()
            .set_document(
                tenant_id,
                integration_id,
                Document::ProviderState,
                &provider_state,
            )
            .await
            .map_err(save)?;
        if let Some(metadata) = &metadata {
            let value = serde_json::to_value(metadata)
                .map_err(|_| RuntimeError::setup(SetupStep::Save, "metadata is not JSON"))?;
            tx.integrations()
                .set_document(tenant_id, integration_id, Document::Metadata, &value)
                .await
                .map_err(save)?;
        }
        tx.integrations()
            .set_status(
                tenant_id,
                integration_id,
                IntegrationStatus::Connected,
                None,
            )
            .await
            .map_err(save)?;
        // 10. webhook endpoints and reconcile schedules, where missing
        let mut created = Vec::new();
        let existing_endpoints = tx
            .webhooks(&self.inner.ring)
            .list_endpoints(tenant_id, integration_id)
            .await
            .map_err(save)?;
        for webhook in &definition.definition.webhooks {
            if existing_endpoints.iter().any(|e| e.name == webhook.name) {
                continue;
            }
            let events: Vec<String> = webhook.events.iter().map(|e| e.name.to_owned()).collect();
            // App-level webhooks get an endpoint too: it holds the integration's deliveries
            // (the app's own secret verifies them, so this one is never shown).
            let (endpoint, secret) = tx
                .webhooks(&self.inner.ring)
                .create_endpoint(tenant_id, integration_id, webhook.name, &events)
                .await
                .map_err(save)?;
            if matches!(webhook.route, WebhookRoute::PerIntegration) {
                created.push(CreatedWebhookEndpoint {
                    url: self
                        .inner
                        .config
                        .public_link(&webhook.endpoint_path(&endpoint.id)),
                    id: endpoint.id,
                    name: endpoint.name,
                    secret: Secret::new(secret.expose_str().unwrap_or_default()),
                });
            }
        }
        let existing_schedules = tx
            .schedules()
            .list(tenant_id, integration_id)
            .await
            .map_err(save)?;
        let mut scheduled = Vec::new();
        let first_interval =
            i64::try_from(self.inner.config.schedule_policy.min.as_millis()).unwrap_or(i64::MAX);
        for operation in &definition.definition.operations {
            if !operation.policy.reconcile
                || existing_schedules
                    .iter()
                    .any(|s| s.operation == operation.name)
            {
                continue;
            }
            // The first reconcile runs right away: a fresh connection wants its data now.
            tx.schedules()
                .upsert(
                    tenant_id,
                    integration_id,
                    operation.name,
                    first_interval,
                    now_ms(),
                )
                .await
                .map_err(save)?;
            scheduled.push(operation.name.to_owned());
        }
        // A reconnect after `needs_reauth` resumes the stopped schedules.
        tx.schedules()
            .set_enabled(tenant_id, integration_id, true)
            .await
            .map_err(save)?;
        let integration = tx
            .integrations()
            .get(tenant_id, integration_id)
            .await
            .map_err(save)?
            .ok_or(RuntimeError::NotFound("integration"))?;
        tx.commit().await.map_err(save)?;
        self.inner.executor.pool().invalidate(integration_id);
        tracing::info!(
            connection = connection.credential_ref,
            endpoints = created.len(),
            scheduled = scheduled.len(),
            "integration connected"
        );
        Ok(Connected {
            integration,
            webhook_endpoints: created,
            scheduled,
        })
    }
}

/// Form credentials must belong to the chosen mode, and a browser-flow mode takes none for the
/// slot its flow fills.
fn check_form_slots(
    connection: &ConnectionRegistration,
    credentials: &BTreeMap<String, Value>,
) -> Result<(), RuntimeError> {
    for slot in credentials.keys() {
        if !connection.credential_refs.contains(&slot.as_str()) {
            return Err(RuntimeError::setup(
                SetupStep::ResolveConnection,
                format!(
                    "credential `{slot}` is not part of connection mode `{}`",
                    connection.credential_ref
                ),
            ));
        }
        if let Some(auth) = &connection.auth
            && auth.credential_ref == slot
        {
            return Err(RuntimeError::setup(
                SetupStep::ResolveConnection,
                format!("credential `{slot}` is produced by the provider's authorization flow"),
            ));
        }
    }
    if connection.auth.is_some() && !credentials.is_empty() {
        return Err(RuntimeError::setup(
            SetupStep::ResolveConnection,
            "connection modes with an authorization flow take no form credentials",
        ));
    }
    Ok(())
}

impl Runtime {
    /// Step 2: the user input against the definition's schema, every violation named, then the
    /// integration's CEL filter compiled as its runs will compile it. Every path that saves user
    /// input (API, CLI, UI) comes through here.
    fn validate_user_input(
        &self,
        definition: &RegisteredDefinition,
        user_input: &Value,
    ) -> Result<(), RuntimeError> {
        if let Some(schema) = definition.user_input_schema() {
            schema.validate(user_input).map_err(|violations| {
                RuntimeError::setup(
                    SetupStep::ValidateUserInput,
                    violations
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        }
        self.inner
            .mappers
            .check_integration_filter(user_input)
            .map_err(|error| {
                RuntimeError::setup(
                    SetupStep::ValidateUserInput,
                    format!("`{INTEGRATION_FILTER_FIELD}` is not a valid CEL filter: {error}"),
                )
            })
    }
}
