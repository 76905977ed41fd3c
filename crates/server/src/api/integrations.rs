//! Integrations: create with user input, read, update, delete, disconnect; credentials per slot
//! (write only), connect with several slots, the start of an auth flow, and running operations.

use std::collections::BTreeMap;

use tributary_runtime::{ConnectOutcome, ConnectRequest, DisconnectReport, RunRequest};
use tributary_store::integrations::Integration;

use super::prelude::*;
use crate::audit::{Audit, AuditBuilder, actions};

list_query! {
    pub struct ListIntegrations {
        /// Only integrations of this definition.
        pub definition_id: Option<String>,
    }
}

/// A new integration, not yet connected.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateIntegration {
    /// The definition to instantiate (`okta`).
    pub definition_id: String,
    /// A display name (default: the definition's).
    #[serde(default)]
    #[schemars(length(min = 1, max = 200))]
    pub name: Option<String>,
    /// What the definition's user input schema asks for.
    #[serde(default)]
    pub user_input: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateIntegration {
    /// The new user input, validated against the definition's schema.
    pub user_input: serde_json::Map<String, Value>,
}

/// Credentials for a connection mode, one object per slot.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectIntegration {
    /// The connection mode (its credential slot name).
    pub connection: String,
    /// Credentials by slot, each matching the slot's schema.
    #[serde(default)]
    pub credentials: BTreeMap<String, serde_json::Map<String, Value>>,
}

/// The start of a browser flow (OAuth or app install).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BeginAuth {
    /// The connection mode (a `redirect` connection of the definition).
    pub connection: String,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Run now and answer with the result (operations that allow it).
    Inline,
    /// Queue it for a worker; follow it at `/v1/runs/{id}`.
    Queued,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRun {
    /// The run config, validated against the operation's config schema.
    #[serde(default)]
    pub config: Option<serde_json::Map<String, Value>>,
    /// Default: inline for operations that allow it, queued otherwise.
    #[serde(default)]
    pub mode: Option<RunMode>,
    /// Metadata of a calling workflow, kept on the run.
    #[serde(default)]
    pub workflow: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
struct IntegrationPath {
    integration_id: String,
}

#[derive(Debug, Deserialize)]
struct SlotPath {
    integration_id: String,
    slot: String,
}

#[derive(Debug, Deserialize)]
struct OperationPath {
    integration_id: String,
    operation: String,
}

pub(super) fn endpoints() -> Vec<Endpoint> {
    let tag = "integrations";
    vec![
        Endpoint::new(
            Method::GET,
            "/v1/integrations",
            "listIntegrations",
            "List the tenant's integrations",
            list,
        )
        .tag(tag)
        .query::<ListIntegrations>()
        .answers::<Page<IntegrationView>>(200, "A page of integrations, in id order"),
        Endpoint::new(
            Method::POST,
            "/v1/integrations",
            "createIntegration",
            "Create an integration from its user input (connect it next)",
            create,
        )
        .tag(tag)
        .body::<CreateIntegration>()
        .answers::<IntegrationView>(201, "The integration, status `pending`"),
        Endpoint::new(
            Method::GET,
            "/v1/integrations/{integration_id}",
            "getIntegration",
            "Read an integration",
            get,
        )
        .tag(tag)
        .answers::<IntegrationView>(200, "The integration"),
        Endpoint::new(
            Method::PATCH,
            "/v1/integrations/{integration_id}",
            "updateIntegration",
            "Update an integration's user input (metadata and credentials are kept)",
            update,
        )
        .tag(tag)
        .body::<UpdateIntegration>()
        .answers::<IntegrationView>(200, "The integration"),
        Endpoint::new(
            Method::DELETE,
            "/v1/integrations/{integration_id}",
            "deleteIntegration",
            "Disconnect and delete an integration (its records are kept, marked disconnected)",
            delete,
        )
        .tag(tag)
        .answers::<DisconnectView>(200, "What was cleaned up"),
        Endpoint::new(
            Method::POST,
            "/v1/integrations/{integration_id}/disconnect",
            "disconnectIntegration",
            "Disconnect an integration: revoke at the provider, forget credentials, stop schedules",
            disconnect,
        )
        .tag(tag)
        .answers::<DisconnectView>(200, "What was cleaned up"),
        Endpoint::new(
            Method::PUT,
            "/v1/integrations/{integration_id}/credentials/{slot}",
            "putCredential",
            "Write the credential of a one-slot connection mode and connect with it (write only)",
            put_credential,
        )
        .tag(tag)
        .body::<serde_json::Map<String, Value>>()
        .answers::<ConnectView>(200, "Connected"),
        Endpoint::new(
            Method::POST,
            "/v1/integrations/{integration_id}/connect",
            "connectIntegration",
            "Connect with the credentials of every slot of a connection mode",
            connect,
        )
        .tag(tag)
        .body::<ConnectIntegration>()
        .answers::<ConnectView>(200, "Connected, or where to send the user"),
        Endpoint::new(
            Method::POST,
            "/v1/integrations/{integration_id}/auth",
            "beginAuth",
            "Start an OAuth or app-install flow; send the user to `authorizeUrl`",
            begin_auth,
        )
        .tag(tag)
        .body::<BeginAuth>()
        .answers::<ConnectView>(200, "Where to send the user"),
        Endpoint::new(
            Method::POST,
            "/v1/integrations/{integration_id}/operations/{operation}/runs",
            "runOperation",
            "Run an operation inline or queue it",
            run_operation,
        )
        .tag("runs")
        .body::<StartRun>()
        .answers::<RunStartedView>(200, "The finished inline run with its output")
        .also::<RunStartedView>(202, "The queued run"),
    ]
}

async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListIntegrations>,
) -> ApiResult<Page<IntegrationView>> {
    let tenant = caller.tenant()?;
    let limit = page_limit(query.limit);
    let integrations = state
        .runtime
        .db()
        .integrations()
        .list_page(
            tenant,
            query.definition_id.as_deref(),
            query.cursor.as_deref(),
            limit + 1,
        )
        .await?;
    Ok(Json(Page::by_id(integrations, limit)))
}

async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateIntegration>,
) -> Result<(StatusCode, Json<IntegrationView>), ApiError> {
    let tenant = caller.tenant()?;
    let user_input = Value::Object(body.user_input.unwrap_or_default());
    let audit = Audit::api(&caller, actions::INTEGRATION_CREATE, "integration")
        .meta("definitionId", body.definition_id.as_str())
        .meta("fields", tributary_store::audit::field_names(&user_input));
    let result = create_integration(
        &state,
        tenant,
        &body.definition_id,
        body.name.as_deref(),
        &user_input,
    )
    .await;
    audit
        .on_success(&result, |audit, integration| audit.target(&integration.id))
        .record(&state, &result)
        .await;
    Ok((StatusCode::CREATED, Json(result?.into())))
}

async fn create_integration(
    state: &ApiState,
    tenant: &str,
    definition_id: &str,
    name: Option<&str>,
    user_input: &Value,
) -> Result<Integration, ApiError> {
    if state.runtime.registry().definition(definition_id).is_none() {
        return Err(ApiError::unprocessable(
            "unknown_definition",
            format!("there is no definition `{definition_id}`; GET /v1/definitions lists them"),
        ));
    }
    let name = name.map(str::trim);
    if let Some(name) = name {
        ApiError::check_name(name, 200)?;
    }
    Ok(state
        .runtime
        .create_integration(tenant, definition_id, name, user_input)
        .await?)
}

async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<IntegrationPath>,
) -> ApiResult<IntegrationView> {
    let tenant = caller.tenant()?;
    let integration = state
        .runtime
        .integration(tenant, &path.integration_id)
        .await?;
    Ok(Json(integration.into()))
}

async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<IntegrationPath>,
    JsonBody(body): JsonBody<UpdateIntegration>,
) -> ApiResult<IntegrationView> {
    let tenant = caller.tenant()?;
    let mut audit = Audit::api(&caller, actions::INTEGRATION_UPDATE, "integration")
        .target(&path.integration_id);
    let user_input = Value::Object(body.user_input);
    let result = async {
        let before = state
            .runtime
            .integration(tenant, &path.integration_id)
            .await?;
        // Which settings changed (the integration's filter is one of them), by name only.
        audit.note(
            "changedFields",
            changed_fields(&before.user_input, &user_input),
        );
        state
            .runtime
            .update_user_input(tenant, &path.integration_id, &user_input)
            .await
    }
    .await;
    audit.record(&state, &result).await;
    Ok(Json(result?.into()))
}

async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<IntegrationPath>,
) -> ApiResult<DisconnectView> {
    let tenant = caller.tenant()?;
    let result = state
        .runtime
        .delete_integration(tenant, &path.integration_id)
        .await;
    Audit::api(&caller, actions::INTEGRATION_DELETE, "integration")
        .target(&path.integration_id)
        .on_success(&result, teardown_details)
        .record(&state, &result)
        .await;
    Ok(Json(result?.into()))
}

async fn disconnect(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<IntegrationPath>,
) -> ApiResult<DisconnectView> {
    let tenant = caller.tenant()?;
    let result = state.runtime.disconnect(tenant, &path.integration_id).await;
    Audit::api(&caller, actions::INTEGRATION_DISCONNECT, "integration")
        .target(&path.integration_id)
        .on_success(&result, teardown_details)
        .record(&state, &result)
        .await;
    Ok(Json(result?.into()))
}

/// Runs the setup flow for an existing integration of the caller's tenant, noting in `audit`
/// whether it connected it or changed the credentials of a connected one.
async fn connect_existing(
    state: &ApiState,
    audit: &mut Audit,
    tenant: &str,
    integration_id: &str,
    connection: String,
    credentials: BTreeMap<String, Value>,
) -> Result<ConnectView, ApiError> {
    audit.note("connection", connection.as_str());
    // Slot names only: the credentials themselves never reach the trail.
    audit.note("slots", credentials.keys().cloned().collect::<Vec<_>>());
    let integration = state.runtime.integration(tenant, integration_id).await?;
    audit.set_action(actions::connect_action(&integration));
    let outcome = state
        .runtime
        .connect(ConnectRequest {
            tenant_id: tenant.to_owned(),
            integration_id: Some(integration.id.clone()),
            definition_id: integration.definition_id.clone(),
            name: None,
            user_input: None,
            connection,
            credentials,
        })
        .await?;
    if matches!(outcome, ConnectOutcome::Redirect(_)) {
        // The connection completes at the callback, which records it again.
        audit.note("authorization", "started");
    }
    Ok(ConnectView::of(integration, outcome))
}

/// [`connect_existing`] for a handler: the attempt is recorded, whatever its outcome.
async fn connect_recorded(
    state: &ApiState,
    caller: &Caller,
    integration_id: &str,
    connection: String,
    credentials: BTreeMap<String, Value>,
) -> ApiResult<ConnectView> {
    let tenant = caller.tenant()?;
    let mut audit =
        Audit::api(caller, actions::INTEGRATION_CONNECT, "integration").target(integration_id);
    let result = connect_existing(
        state,
        &mut audit,
        tenant,
        integration_id,
        connection,
        credentials,
    )
    .await;
    audit.record(state, &result).await;
    result.map(Json)
}

async fn put_credential(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<SlotPath>,
    JsonBody(body): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<ConnectView> {
    let credentials = BTreeMap::from([(path.slot.clone(), Value::Object(body))]);
    connect_recorded(
        &state,
        &caller,
        &path.integration_id,
        path.slot,
        credentials,
    )
    .await
}

async fn connect(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<IntegrationPath>,
    JsonBody(body): JsonBody<ConnectIntegration>,
) -> ApiResult<ConnectView> {
    let credentials = body
        .credentials
        .into_iter()
        .map(|(slot, value)| (slot, Value::Object(value)))
        .collect();
    connect_recorded(
        &state,
        &caller,
        &path.integration_id,
        body.connection,
        credentials,
    )
    .await
}

async fn begin_auth(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<IntegrationPath>,
    JsonBody(body): JsonBody<BeginAuth>,
) -> ApiResult<ConnectView> {
    let tenant = caller.tenant()?;
    let integration = state
        .runtime
        .integration(tenant, &path.integration_id)
        .await;
    let is_redirect = integration.as_ref().ok().map(|integration| {
        state
            .runtime
            .registry()
            .definition(&integration.definition_id)
            .and_then(|definition| definition.definition.connection_for(&body.connection))
            .map(|connection| connection.auth.is_some())
    });
    let refused = match (integration, is_redirect) {
        (Err(err), _) => ApiError::from(err),
        (Ok(_), Some(Some(true))) => {
            return connect_recorded(
                &state,
                &caller,
                &path.integration_id,
                body.connection,
                BTreeMap::new(),
            )
            .await;
        }
        (Ok(integration), Some(Some(false))) => ApiError::unprocessable(
            "not_a_redirect_connection",
            format!(
                "connection mode `{}` takes typed credentials: PUT them to /v1/integrations/{}/credentials/{}",
                body.connection, integration.id, body.connection
            ),
        ),
        (Ok(integration), _) => ApiError::unprocessable(
            "unknown_connection",
            format!(
                "definition `{}` has no connection mode `{}`",
                integration.definition_id, body.connection
            ),
        ),
    };
    Audit::api(&caller, actions::INTEGRATION_CONNECT, "integration")
        .target(&path.integration_id)
        .meta("connection", body.connection.as_str())
        .record_failure(&state, &refused)
        .await;
    Err(refused)
}

async fn run_operation(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<OperationPath>,
    JsonBody(body): JsonBody<StartRun>,
) -> Result<(StatusCode, Json<RunStartedView>), ApiError> {
    let tenant = caller.tenant()?;
    let mut audit = Audit::api(&caller, actions::RUN_START, "run")
        .meta("integrationId", path.integration_id.as_str())
        .meta("operation", path.operation.as_str());
    let result = start_run(&state, &mut audit, tenant, path, body).await;
    audit
        .on_success(&result, |audit, (_, started)| audit.target(&started.run.id))
        .record(&state, &result)
        .await;
    result.map(|(status, started)| (status, Json(started)))
}

async fn start_run(
    state: &ApiState,
    audit: &mut Audit,
    tenant: &str,
    path: OperationPath,
    body: StartRun,
) -> Result<(StatusCode, RunStartedView), ApiError> {
    let integration = state
        .runtime
        .integration(tenant, &path.integration_id)
        .await?;
    let inline_allowed = state
        .runtime
        .registry()
        .definition(&integration.definition_id)
        .and_then(|definition| definition.definition.operation_named(&path.operation))
        .map(|operation| operation.policy.inline)
        .ok_or_else(|| {
            ApiError::not_found(&format!(
                "operation `{}` of definition `{}`",
                path.operation, integration.definition_id
            ))
        })?;
    let request = RunRequest {
        tenant_id: tenant.to_owned(),
        integration_id: integration.id,
        operation: path.operation,
        config: Value::Object(body.config.unwrap_or_default()),
        workflow: body.workflow.map(Value::Object),
    };
    let mode = body.mode.unwrap_or(if inline_allowed {
        RunMode::Inline
    } else {
        RunMode::Queued
    });
    match mode {
        RunMode::Inline if !inline_allowed => Err(ApiError::unprocessable(
            "inline_not_allowed",
            "this operation cannot run inline; queue it (mode `queued`)",
        )),
        RunMode::Inline => {
            audit.note("mode", "inline");
            // On a task of its own: a caller that hangs up, or a request past its time limit,
            // must not stop the run halfway and leave it `running` for good.
            let runtime = state.runtime.clone();
            let run = tokio::spawn(tracing::Instrument::in_current_span(async move {
                runtime.run_inline(request).await
            }));
            let result = run
                .await
                .map_err(|stopped| ApiError::internal(&stopped))??;
            Ok((
                StatusCode::OK,
                RunStartedView {
                    run: result.run.into(),
                    output: Some(result.output),
                },
            ))
        }
        RunMode::Queued => {
            audit.note("mode", "queued");
            let run = state.runtime.queue_run(request).await?;
            Ok((
                StatusCode::ACCEPTED,
                RunStartedView {
                    run: run.into(),
                    output: None,
                },
            ))
        }
    }
}

/// What a disconnect's trail notes: whether the provider-side teardown failed (never its text).
fn teardown_details(audit: Audit, report: &DisconnectReport) -> Audit {
    audit
        .meta("remoteTeardownFailed", report.remote_error.is_some())
        .meta("credentialsDeleted", report.credentials_deleted)
        .meta("runsCancelled", report.runs_cancelled)
}

/// The names of the fields whose values differ between `before` and `after` (added, removed or
/// changed).
fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect()
}
