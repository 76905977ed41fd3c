//! The integration's per-integration webhook endpoints with their public URLs and secrets, for the
//! code that registers them with the provider: an operation that creates a subscription (Graph
//! change notifications) and the disconnect hook that removes it.

use tributary_core::{Secret, WebhookEndpointAccess, WebhookRoute, registry::RegisteredDefinition};

use crate::{Runtime, RuntimeError};

impl Runtime {
    /// Opens the secrets of the integration's per-integration endpoints (app routes are verified
    /// with the operator's secret, so theirs are never handed out). Definitions without such a
    /// webhook cost no query.
    pub(crate) async fn webhook_access(
        &self,
        definition: &RegisteredDefinition,
        tenant_id: &str,
        integration_id: &str,
    ) -> Result<Vec<WebhookEndpointAccess>, RuntimeError> {
        let per_integration = |name: &str| {
            definition
                .definition
                .webhook_named(name)
                .filter(|webhook| matches!(webhook.route, WebhookRoute::PerIntegration))
        };
        if !definition
            .definition
            .webhooks
            .iter()
            .any(|webhook| matches!(webhook.route, WebhookRoute::PerIntegration))
        {
            return Ok(Vec::new());
        }
        let endpoints = self
            .inner
            .db
            .webhooks(&self.inner.ring)
            .list_endpoints_with_secrets(tenant_id, integration_id)
            .await?;
        let mut access = Vec::new();
        for (endpoint, secret) in endpoints {
            let Some(webhook) = per_integration(&endpoint.name) else {
                continue;
            };
            access.push(WebhookEndpointAccess {
                url: self
                    .inner
                    .config
                    .public_link(&webhook.endpoint_path(&endpoint.id)),
                name: endpoint.name,
                secret: Secret::new(secret.expose_str().unwrap_or_default()),
            });
        }
        Ok(access)
    }
}
