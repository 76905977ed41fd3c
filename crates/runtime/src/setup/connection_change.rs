//! A provider's word on whether a connection works, carried out: a webhook event that suspends
//! the connection (GitHub `installation.suspend`) stops the integration's schedules until one
//! that resumes it (`unsuspend`) starts them again.
//!
//! Each change moves the integration only from the status it expects (`connected` to
//! `suspended`, `suspended` to `connected`), in one transaction with its schedules, so a
//! repeated or late event never resurrects an integration that was disconnected, disabled or
//! marked `needs_reauth` in the meantime.

use tributary_core::ConnectionChange;
use tributary_store::integrations::{Integration, IntegrationStatus};

use crate::{Runtime, RuntimeError};

impl Runtime {
    /// Applies `change` to the integration; returns whether it changed anything.
    pub(crate) async fn change_connection(
        &self,
        integration: &Integration,
        change: &ConnectionChange,
    ) -> Result<bool, RuntimeError> {
        let (from, to, reason, schedules_run) = match change {
            ConnectionChange::Suspended { reason } => (
                IntegrationStatus::Connected,
                IntegrationStatus::Suspended,
                Some(reason.as_str()),
                false,
            ),
            ConnectionChange::Resumed => (
                IntegrationStatus::Suspended,
                IntegrationStatus::Connected,
                None,
                true,
            ),
        };
        let move_to = StatusMove {
            from,
            to,
            reason,
            schedules_run,
        };
        if !self.move_status(integration, move_to).await? {
            return Ok(false);
        }
        tracing::info!(
            tenant_id = %integration.tenant_id,
            integration_id = %integration.id,
            status = to.as_str(),
            "the provider changed the connection; schedules {}",
            if schedules_run { "resume" } else { "are stopped" }
        );
        Ok(true)
    }
}

/// An integration's move from one status to another, with whether its schedules run after it.
pub(crate) struct StatusMove<'a> {
    pub(crate) from: IntegrationStatus,
    pub(crate) to: IntegrationStatus,
    pub(crate) reason: Option<&'a str>,
    pub(crate) schedules_run: bool,
}

impl Runtime {
    /// Moves the integration to `to` only if it is still `from`, turning its schedules on or off
    /// in the same transaction; returns whether it moved.
    pub(crate) async fn move_status(
        &self,
        integration: &Integration,
        move_to: StatusMove<'_>,
    ) -> Result<bool, RuntimeError> {
        let mut tx = self.inner.db.begin().await?;
        let changed = tx
            .integrations()
            .change_status(
                &integration.tenant_id,
                &integration.id,
                move_to.from,
                move_to.to,
                move_to.reason,
            )
            .await?;
        if !changed {
            return Ok(false);
        }
        tx.schedules()
            .set_enabled(
                &integration.tenant_id,
                &integration.id,
                move_to.schedules_run,
            )
            .await?;
        tx.commit().await?;
        // Clients built for the connection hold tokens minted before the change.
        self.inner.executor.pool().invalidate(&integration.id);
        Ok(true)
    }
}
