//! Recording tenant and operator actions in the audit trail, from one place for the API and the
//! web UI: a handler describes its action ([`Audit`]: who, what, on which target, non-secret
//! details), then either runs the action in a transaction that also writes the event
//! ([`Audit::within`]: both commit or neither does) or records the action's result right after it
//! ([`Audit::record`]), failures included.
//!
//! A failure is recorded by its class (`setup_failed (auth at validate_credential)`), never by its
//! message, which may quote a provider. Metadata is what the handler chose to put there: ids,
//! names, field names, flags; never a credential, token, secret or hash.

use tributary_runtime::RuntimeError;
use tributary_scim::admin::AdminError;
use tributary_store::{
    StoreError, Tx,
    audit::{Actor, ActorKind, NewAuditEvent},
    runs::Run,
};

use crate::{
    AppState,
    api::{ApiError, error::ErrorClass, extract::Caller, request_id},
    ui::session::UiSession,
};

/// An error whose class the trail records.
pub(crate) trait Failure {
    fn class(&self) -> ErrorClass;
}

/// [`Failure`] for error types whose class a function of [`ErrorClass`] (or the error) gives.
macro_rules! failure_classed_by {
    ($($error:ty => $classify:path),* $(,)?) => {
        $(impl Failure for $error {
            fn class(&self) -> ErrorClass {
                $classify(self)
            }
        })*
    };
}

failure_classed_by! {
    ApiError => ApiError::class,
    RuntimeError => ErrorClass::of_runtime,
    StoreError => ErrorClass::of_store,
    AdminError => ErrorClass::of_scim_admin,
}

/// One action, described for the trail.
#[derive(Debug, Clone)]
pub(crate) struct Audit {
    event: NewAuditEvent,
}

impl AuditBuilder for Audit {
    fn event_mut(&mut self) -> &mut NewAuditEvent {
        &mut self.event
    }
}

impl Audit {
    /// An action of `actor`, concerning `tenant_id`.
    pub fn new(
        actor: Actor,
        tenant_id: Option<&str>,
        action: &'static str,
        target_type: &'static str,
    ) -> Self {
        let request_id = request_id::current();
        let mut event = NewAuditEvent::new(
            actor,
            (!request_id.is_empty()).then_some(request_id),
            action,
            target_type,
        );
        event.tenant_id = tenant_id.map(str::to_owned);
        Self { event }
    }

    /// An action through the API, concerning the calling tenant (none for the operator: name the
    /// tenant acted on with [`AuditBuilder::tenant`]).
    pub fn api(caller: &Caller, action: &'static str, target_type: &'static str) -> Self {
        let kind = if caller.tenant_id().is_some() {
            ActorKind::TenantToken
        } else {
            ActorKind::OperatorToken
        };
        let actor = Actor {
            kind,
            token_id: Some(caller.token_id.clone()),
            token_name: Some(caller.token_name.clone()),
        };
        Self::new(actor, caller.tenant_id(), action, target_type)
    }

    /// An action in the web UI: the session's token, via the UI session.
    pub fn ui(session: &UiSession, action: &'static str, target_type: &'static str) -> Self {
        Self::new(
            ui_actor(session),
            Some(&session.tenant_id),
            action,
            target_type,
        )
    }

    /// The event of the action's failure.
    fn failed(self, error: &impl Failure) -> NewAuditEvent {
        self.event.failed(error.class().reason())
    }

    /// Records how the action ended, right after it. A write that fails does not change the
    /// action's answer (it already happened): it is logged and counted.
    pub async fn record<T, E: Failure>(self, state: &AppState, result: &Result<T, E>) {
        let event = match result {
            Ok(_) => self.event,
            Err(error) => self.failed(error),
        };
        write(state, &event).await;
    }

    /// Records the action's success, right after it.
    pub async fn record_success(self, state: &AppState) {
        write(state, &self.event).await;
    }

    /// Records the action's failure, found before the action could start.
    pub async fn record_failure(self, state: &AppState, error: &impl Failure) {
        write(state, &self.failed(error)).await;
    }

    /// Runs `action` in a transaction that also writes the success event, completed by
    /// `complete` with what the action returned ([`tributary_store::Db::audited`]). A failure is
    /// recorded after the rollback.
    pub async fn within<T>(
        self,
        state: &AppState,
        action: impl AsyncFnOnce(&mut Tx) -> Result<T, ApiError>,
        complete: impl FnOnce(Self, &T) -> Self,
    ) -> Result<T, ApiError> {
        let result = state
            .runtime
            .db()
            .audited(action, |value| complete(self.clone(), value).event)
            .await;
        if let Err(error) = &result {
            write(state, &self.failed(error)).await;
        }
        result
    }
}

/// What the trail notes of a run cancelled (from the API or the UI): where it ran, and the
/// status it ended in (a run that had already finished keeps its own).
pub(crate) fn cancelled_run_details(audit: Audit, run: &Run) -> Audit {
    audit
        .meta("integrationId", run.integration_id.as_str())
        .meta("operation", run.operation.as_str())
        .meta("status", run.status.as_str())
}

/// The actor of a web UI session.
pub(crate) fn ui_actor(session: &UiSession) -> Actor {
    Actor {
        kind: ActorKind::UiSession,
        token_id: Some(session.token_id.clone()),
        token_name: Some(session.token_name.clone()),
    }
}

async fn write(state: &AppState, event: &NewAuditEvent) {
    if let Err(error) = state.runtime.db().audit().record(event).await {
        tracing::error!(
            request_id = %request_id::current(),
            action = %event.action,
            %error,
            "an audit event could not be written"
        );
        state.runtime.metrics().audit_write_failed(&event.action);
    }
}

/// The actions the trail names, one list for the API, the UI and the command line; the builder
/// that describes them.
pub(crate) use tributary_store::audit::{AuditBuilder, actions};
