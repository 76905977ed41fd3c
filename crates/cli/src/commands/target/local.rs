//! The tenant verbs on the database, with the runtime the server uses. What they change is
//! recorded in the audit trail as the API records it (run by the command line); what they answer
//! is converted to the server's view types, as the API converts it.

use std::collections::BTreeMap;

use serde_json::Value;
use tributary_runtime::{ConnectOutcome, ConnectRequest, RunRequest, Runtime};
use tributary_server::api::views::{
    ConnectView, DisconnectView, IntegrationView, RunDetailView, RunView,
};

use crate::{
    audit::{AuditBuilder, CommandAudit, actions},
    commands::storage::resolve_tenant,
};

/// The runtime over the database, acting for one tenant (by id or name, looked up per verb so
/// that an unknown tenant is recorded as the verb's failure).
pub struct LocalTarget {
    runtime: Runtime,
    tenant: String,
}

impl LocalTarget {
    pub fn new(runtime: Runtime, tenant: String) -> Self {
        Self { runtime, tenant }
    }

    async fn tenant_id(&self) -> anyhow::Result<String> {
        resolve_tenant(self.runtime.db(), &self.tenant).await
    }

    pub async fn list_integrations(&self) -> anyhow::Result<Vec<IntegrationView>> {
        let tenant = self.tenant_id().await?;
        let integrations = self.runtime.db().integrations().list(&tenant, None).await?;
        Ok(integrations.into_iter().map(Into::into).collect())
    }

    pub async fn create_integration(
        &self,
        definition: &str,
        name: Option<&str>,
        input: &Value,
    ) -> anyhow::Result<IntegrationView> {
        let mut audit = CommandAudit::new(actions::INTEGRATION_CREATE, "integration")
            .meta("definitionId", definition)
            .meta("fields", tributary_store::audit::field_names(input));
        let result: anyhow::Result<_> = async {
            let tenant = self.tenant_id().await?;
            audit.set_tenant(&tenant);
            Ok(self
                .runtime
                .create_integration(&tenant, definition, name, input)
                .await?)
        }
        .await;
        let integration = audit
            .record_targeting(self.runtime.db(), result, |integration| &integration.id)
            .await?;
        Ok(integration.into())
    }

    pub async fn connect(
        &self,
        integration: &str,
        connection: String,
        credentials: BTreeMap<String, Value>,
    ) -> anyhow::Result<ConnectView> {
        // Slot names only: the credentials themselves never reach the trail.
        let mut audit = CommandAudit::new(actions::INTEGRATION_CONNECT, "integration")
            .target(integration)
            .meta("connection", connection.as_str())
            .meta("slots", credentials.keys().cloned().collect::<Vec<_>>());
        let result: anyhow::Result<_> = async {
            let tenant = self.tenant_id().await?;
            audit.set_tenant(&tenant);
            let existing = self.runtime.integration(&tenant, integration).await?;
            audit.set_action(actions::connect_action(&existing));
            let outcome = self
                .runtime
                .connect(ConnectRequest {
                    tenant_id: tenant,
                    integration_id: Some(existing.id.clone()),
                    definition_id: existing.definition_id.clone(),
                    connection,
                    credentials,
                    ..Default::default()
                })
                .await?;
            Ok((existing, outcome))
        }
        .await;
        if let Ok((_, ConnectOutcome::Redirect(_))) = &result {
            // The connection completes at the callback, which records it again.
            audit.note("authorization", "started");
        }
        audit.record(self.runtime.db(), &result).await;
        let (existing, outcome) = result?;
        Ok(ConnectView::of(existing, outcome))
    }

    pub async fn run_to_end(
        &self,
        integration: &str,
        operation: &str,
        config: Value,
        mut on_progress: impl FnMut(&RunView) + Send,
    ) -> anyhow::Result<RunView> {
        let db = self.runtime.db();
        let mut audit = CommandAudit::new(actions::RUN_START, "run")
            .meta("integrationId", integration)
            .meta("operation", operation)
            .meta("mode", "queued");
        let result: anyhow::Result<_> = async {
            let tenant = self.tenant_id().await?;
            audit.set_tenant(&tenant);
            let run = self
                .runtime
                .queue_run(RunRequest {
                    tenant_id: tenant.clone(),
                    integration_id: integration.to_owned(),
                    operation: operation.to_owned(),
                    config,
                    workflow: None,
                })
                .await?;
            Ok((tenant, run))
        }
        .await;
        // The start is recorded when the run is queued; how it ends is the run's own record.
        let (tenant, run) = audit
            .record_targeting(db, result, |(_, run)| &run.id)
            .await?;
        // A worker in this process takes the run (and whatever else is queued) until it ends.
        let finished = self
            .runtime
            .drive_run(&tenant, &run.id, None, |current| {
                on_progress(&current.clone().into());
            })
            .await?;
        Ok(finished.into())
    }

    pub async fn delete_integration(&self, integration: &str) -> anyhow::Result<DisconnectView> {
        let mut audit =
            CommandAudit::new(actions::INTEGRATION_DELETE, "integration").target(integration);
        let result: anyhow::Result<_> = async {
            let tenant = self.tenant_id().await?;
            audit.set_tenant(&tenant);
            Ok(self
                .runtime
                .delete_integration(&tenant, integration)
                .await?)
        }
        .await;
        audit
            .on_success(&result, |audit, report| {
                audit
                    .meta("remoteTeardownFailed", report.remote_error.is_some())
                    .meta("credentialsDeleted", report.credentials_deleted)
                    .meta("runsCancelled", report.runs_cancelled)
            })
            .record(self.runtime.db(), &result)
            .await;
        Ok(result?.into())
    }

    pub async fn list_runs(&self, integration: &str, limit: i64) -> anyhow::Result<Vec<RunView>> {
        let tenant = self.tenant_id().await?;
        let runs = self.runtime.list_runs(&tenant, integration, limit).await?;
        Ok(runs.into_iter().map(Into::into).collect())
    }

    pub async fn run_details(&self, run: &str) -> anyhow::Result<RunDetailView> {
        let tenant = self.tenant_id().await?;
        let details = self.runtime.run_details(&tenant, run).await?;
        Ok(RunDetailView {
            run: details.run.into(),
            logs: details.logs.into_iter().map(Into::into).collect(),
        })
    }

    pub async fn cancel_run(&self, run: &str) -> anyhow::Result<RunView> {
        let mut audit = CommandAudit::new(actions::RUN_CANCEL, "run").target(run);
        let result: anyhow::Result<_> = async {
            let tenant = self.tenant_id().await?;
            audit.set_tenant(&tenant);
            Ok(self.runtime.cancel_run(&tenant, run).await?)
        }
        .await;
        audit
            .on_success(&result, |audit, run| {
                audit
                    .meta("integrationId", run.integration_id.as_str())
                    .meta("operation", run.operation.as_str())
                    .meta("status", run.status.as_str())
            })
            .record(self.runtime.db(), &result)
            .await;
        Ok(result?.into())
    }
}
