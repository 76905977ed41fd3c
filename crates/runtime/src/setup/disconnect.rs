//! Disconnect: the connection's teardown hook (revoke the token, uninstall the app), then local
//! cleanup: credentials, webhook endpoints and schedules are deleted, unfinished runs cancelled,
//! the pooled clients dropped. Ingested records stay, marked as coming from a disconnected
//! integration. A remote teardown that fails is reported, and local cleanup still happens: a
//! tenant must always be able to cut an integration off.

use serde::Serialize;
use serde_json::json;
use tracing::Instrument;
use tributary_core::{CredentialBindings, DisconnectRequest};
use tributary_store::{
    integrations::{Document, IntegrationStatus},
    records::mark_disconnected,
};

use crate::{
    Runtime, RuntimeError,
    runtime::{active_connection, integration_context},
};

/// What a disconnect did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DisconnectReport {
    /// What the remote teardown said, if the connection has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Why the remote teardown failed (local cleanup happened anyway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_error: Option<String>,
    /// False when the teardown asked to keep local state until an authoritative event.
    pub cleaned_up: bool,
    pub credentials_deleted: u64,
    pub webhook_endpoints_deleted: u64,
    pub schedules_deleted: u64,
    pub runs_cancelled: u64,
    pub records_marked: u64,
}

impl Runtime {
    /// Disconnects the tenant's integration.
    pub async fn disconnect(
        &self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<DisconnectReport, RuntimeError> {
        let integration = self.integration(tenant_id, integration_id).await?;
        let span = tracing::info_span!(
            "tributary.disconnect",
            tenant_id = %tenant_id,
            definition_id = %integration.definition_id,
            integration_id = %integration_id,
        );
        self.disconnect_inner(integration).instrument(span).await
    }

    /// Disconnects, then deletes the integration itself (its runs go with it; records stay).
    pub async fn delete_integration(
        &self,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<DisconnectReport, RuntimeError> {
        let report = self.disconnect(tenant_id, integration_id).await?;
        self.inner
            .db
            .integrations()
            .delete(tenant_id, integration_id)
            .await?;
        Ok(report)
    }

    async fn disconnect_inner(
        &self,
        integration: tributary_store::integrations::Integration,
    ) -> Result<DisconnectReport, RuntimeError> {
        let definition = self.definition(&integration.definition_id)?.clone();
        let mut report = DisconnectReport::default();
        let tenant_id = integration.tenant_id.as_str();
        let integration_id = integration.id.as_str();
        if let Some(connection) = active_connection(&definition, &integration)
            && let Some(teardown) = connection
                .disconnect
                .as_ref()
                .and_then(|d| d.disconnect.clone())
        {
            let mut credentials = CredentialBindings::new();
            for slot in &connection.credential_refs {
                if let Some(stored) = self
                    .inner
                    .db
                    .credentials(&self.inner.ring)
                    .load(tenant_id, integration_id, slot)
                    .await?
                    && let Ok(value) = stored.secret.expose_json()
                {
                    credentials.insert(*slot, value);
                }
            }
            let request = DisconnectRequest {
                integration: integration_context(&definition, &integration),
                credentials,
                webhook_endpoints: self
                    .webhook_access(&definition, tenant_id, integration_id)
                    .await?,
            };
            let teardown = self.observed(teardown(request));
            match tokio::time::timeout(self.inner.config.disconnect_timeout, teardown).await {
                Ok(Ok(result)) => {
                    report.remote = Some(result.message).filter(|m| !m.is_empty());
                    if result.skip_local_cleanup {
                        return Ok(report);
                    }
                }
                Ok(Err(err)) => report.remote_error = Some(err.message),
                Err(_) => report.remote_error = Some("the provider did not answer in time".into()),
            }
        }
        let outcome = if report.remote_error.is_some() {
            "remote_failed"
        } else {
            "ok"
        };
        // Unfinished runs are cancelled first so no worker starts one mid-cleanup.
        let active = self
            .inner
            .db
            .runs()
            .active_ids(tenant_id, integration_id)
            .await?;
        for run_id in &active {
            let cancelled = self
                .record_cancelled(
                    tenant_id,
                    run_id,
                    &json!({}),
                    "the integration was disconnected",
                )
                .await;
            if cancelled.is_ok() {
                report.runs_cancelled += 1;
            }
            self.cancel_run_job(run_id).await?;
        }
        let mut tx = self.inner.db.begin().await?;
        report.credentials_deleted = tx
            .credentials(&self.inner.ring)
            .delete_all_except(tenant_id, integration_id, &[])
            .await?;
        let endpoints = tx
            .webhooks(&self.inner.ring)
            .list_endpoints(tenant_id, integration_id)
            .await?;
        for endpoint in endpoints {
            if tx
                .webhooks(&self.inner.ring)
                .delete_endpoint(tenant_id, &endpoint.id)
                .await?
            {
                report.webhook_endpoints_deleted += 1;
            }
        }
        let schedules = tx.schedules().list(tenant_id, integration_id).await?;
        for schedule in schedules {
            if tx
                .schedules()
                .delete(tenant_id, integration_id, &schedule.operation)
                .await?
            {
                report.schedules_deleted += 1;
            }
        }
        tx.integrations()
            .set_document(
                tenant_id,
                integration_id,
                Document::ProviderState,
                &json!({}),
            )
            .await?;
        tx.integrations()
            .set_status(
                tenant_id,
                integration_id,
                IntegrationStatus::Disconnected,
                Some("disconnected"),
            )
            .await?;
        tx.commit().await?;
        report.records_marked = mark_disconnected(&self.inner.db, tenant_id, integration_id)
            .await
            .map_err(|e| RuntimeError::Ingest(e.to_string()))?;
        self.inner.executor.pool().invalidate(integration_id);
        report.cleaned_up = true;
        self.inner
            .metrics
            .disconnect(definition.definition.id(), outcome);
        tracing::info!(
            credentials = report.credentials_deleted,
            endpoints = report.webhook_endpoints_deleted,
            schedules = report.schedules_deleted,
            "integration disconnected"
        );
        Ok(report)
    }
}
