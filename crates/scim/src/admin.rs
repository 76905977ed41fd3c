//! Creating an integration's SCIM endpoint (which connects the integration) and rotating its
//! bearer secret; the REST API and the CLI call these.

use tributary_runtime::Runtime;
use tributary_store::integrations::IntegrationStatus;
use tributary_store::scim::{ROTATION_GRACE_MS, ScimEndpoint};
use tributary_store::{SecretBytes, StoreError};

/// The definition whose integrations have a SCIM endpoint.
pub const DEFINITION_ID: &str = "scim";

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("integration {0} is not a SCIM integration")]
    NotScim(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The SCIM base URL of an endpoint (what the identity provider is given).
pub fn base_url(runtime: &Runtime, endpoint_id: &str) -> String {
    format!(
        "{}/scim/v2/{endpoint_id}",
        runtime.config().public_url.trim_end_matches('/')
    )
}

async fn check_scim(
    runtime: &Runtime,
    tenant_id: &str,
    integration_id: &str,
) -> Result<(), AdminError> {
    let integration = runtime
        .db()
        .integrations()
        .get(tenant_id, integration_id)
        .await?
        .ok_or(StoreError::NotFound("integration"))?;
    if integration.definition_id != DEFINITION_ID {
        return Err(AdminError::NotScim(integration_id.to_owned()));
    }
    Ok(())
}

/// Creates the integration's endpoint and marks the integration connected, in one transaction.
/// The secret is returned to show once. `AlreadyExists` if it has one (rotate instead).
pub async fn create_endpoint(
    runtime: &Runtime,
    tenant_id: &str,
    integration_id: &str,
) -> Result<(ScimEndpoint, SecretBytes), AdminError> {
    check_scim(runtime, tenant_id, integration_id).await?;
    let mut tx = runtime.db().begin().await?;
    let created = tx.scim().create_endpoint(tenant_id, integration_id).await?;
    tx.integrations()
        .set_status(
            tenant_id,
            integration_id,
            IntegrationStatus::Connected,
            None,
        )
        .await?;
    tx.commit().await?;
    Ok(created)
}

/// The integration's endpoint, if created.
pub async fn endpoint(
    runtime: &Runtime,
    tenant_id: &str,
    integration_id: &str,
) -> Result<Option<ScimEndpoint>, AdminError> {
    check_scim(runtime, tenant_id, integration_id).await?;
    Ok(runtime
        .db()
        .scim()
        .endpoint(tenant_id, integration_id)
        .await?)
}

/// Replaces the secret; the previous one keeps working for [`ROTATION_GRACE_MS`] (24 hours).
pub async fn rotate_secret(
    runtime: &Runtime,
    tenant_id: &str,
    integration_id: &str,
) -> Result<(ScimEndpoint, SecretBytes), AdminError> {
    check_scim(runtime, tenant_id, integration_id).await?;
    Ok(runtime
        .db()
        .scim()
        .rotate_secret(tenant_id, integration_id, ROTATION_GRACE_MS)
        .await?)
}
