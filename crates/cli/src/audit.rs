//! Recording what the commands that work on the database directly (without `--api`) change, in
//! the same audit trail the API and the web UI write: the actor is the command line
//! ([`ActorKind::LocalCli`]) named by the operating-system user, the request id is a fresh
//! command id, and the action names are the server's for the same action.
//!
//! A command describes its action ([`CommandAudit`]), then runs it in a transaction that also
//! writes the event where the store offers one ([`CommandAudit::within`]), or records its result
//! right after it ([`CommandAudit::record`]), failures included. A failure is recorded by its
//! class (`not_found`, `setup_failed (auth at validate_credential)`), never by its message, which
//! may quote a provider or a secret. Metadata holds ids, names and counts only.

use tributary_runtime::{RuntimeError, execute::ExecuteError};
use tributary_scim::admin::AdminError;
use tributary_server::api::error::ErrorClass;
use tributary_store::{
    Db, StoreError, Tx,
    audit::{Actor, ActorKind, NewAuditEvent},
};

use crate::failure;

/// The action names, the same list as the server's; the builder that describes them, the
/// server's too.
pub use tributary_store::audit::{AuditBuilder, actions};

/// The operating-system user running this command: `USER`, else `LOGNAME`, else `unknown`.
pub fn os_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The recorded class of a command's failure: the same `code (kind at step)` the API records for
/// the runtime's and the store's errors, else (and instead of the API's `internal`) the command
/// line's failure kind (`not_found`, `config`, `unavailable`, ...). Never the error's message.
pub fn failure_reason(error: &anyhow::Error) -> String {
    error
        .chain()
        .find_map(|layer| {
            if let Some(error) = layer.downcast_ref::<RuntimeError>() {
                return Some(ErrorClass::of_runtime(error));
            }
            if let Some(error) = layer.downcast_ref::<ExecuteError>() {
                return Some(ErrorClass::of_execute(error));
            }
            if let Some(error) = layer.downcast_ref::<AdminError>() {
                return Some(ErrorClass::of_scim_admin(error));
            }
            layer.downcast_ref::<StoreError>().map(ErrorClass::of_store)
        })
        .filter(|class| class.code != "internal")
        .map_or_else(
            || failure::classify(error).kind().to_owned(),
            |class| class.reason(),
        )
}

/// One action of a direct command, described for the trail.
#[derive(Debug, Clone)]
pub struct CommandAudit {
    event: NewAuditEvent,
}

impl AuditBuilder for CommandAudit {
    fn event_mut(&mut self) -> &mut NewAuditEvent {
        &mut self.event
    }
}

impl CommandAudit {
    /// An action of the user running this command, with a fresh command id (UUID v7) as its
    /// request id.
    pub fn new(action: &'static str, target_type: &'static str) -> Self {
        let actor = Actor {
            kind: ActorKind::LocalCli,
            token_id: None,
            token_name: Some(os_user()),
        };
        Self {
            event: NewAuditEvent::new(actor, Some(tributary_store::new_id()), action, target_type),
        }
    }

    fn failed(self, error: &anyhow::Error) -> NewAuditEvent {
        self.event.failed(failure_reason(error))
    }

    /// Records how the action ended, right after it. A write that fails does not change the
    /// command's result (the action already happened): it is said on standard error.
    pub async fn record<T>(self, db: &Db, result: &anyhow::Result<T>) {
        let event = match result {
            Ok(_) => self.event,
            Err(error) => self.failed(error),
        };
        write(db, &event).await;
    }

    /// Records how the action ended, as [`record`](Self::record) does, naming on success the
    /// target `target_of` finds in its result; passes the result on.
    pub async fn record_targeting<T>(
        self,
        db: &Db,
        result: anyhow::Result<T>,
        target_of: impl FnOnce(&T) -> &str,
    ) -> anyhow::Result<T> {
        self.on_success(&result, |audit, value| audit.target(target_of(value)))
            .record(db, &result)
            .await;
        result
    }

    /// `result` of a step before the action (finding the tenant), passed on; its failure is
    /// recorded as the action's.
    pub async fn failing_before<T>(&self, db: &Db, result: anyhow::Result<T>) -> anyhow::Result<T> {
        if let Err(error) = &result {
            self.record_failure(db, error).await;
        }
        result
    }

    /// Records the action's failure, found before the action could start.
    pub async fn record_failure(&self, db: &Db, error: &anyhow::Error) {
        write(db, &self.clone().failed(error)).await;
    }

    /// Runs `action` in a transaction that also writes the success event, completed by
    /// `complete` with what the action returned ([`Db::audited`]). A failure is recorded after
    /// the rollback.
    pub async fn within<T>(
        self,
        db: &Db,
        action: impl AsyncFnOnce(&mut Tx) -> anyhow::Result<T>,
        complete: impl FnOnce(Self, &T) -> Self,
    ) -> anyhow::Result<T> {
        let result = db
            .audited(action, |value| complete(self.clone(), value).event)
            .await;
        if let Err(error) = &result {
            write(db, &self.failed(error)).await;
        }
        result
    }
}

async fn write(db: &Db, event: &NewAuditEvent) {
    if let Err(error) = db.audit().record(event).await {
        // The store's error names no secret: the event holds none.
        eprintln!(
            "warning: the audit event of `{}` (command {}) could not be written: {error}",
            event.action,
            event.request_id.as_deref().unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_recorded_by_its_class_never_its_message() {
        let setup = anyhow::Error::new(RuntimeError::NotFound("integration"))
            .context("the provider said: secret-123");
        assert_eq!(failure_reason(&setup), "not_found");
        let store = anyhow::Error::new(StoreError::AlreadyExists("tenant"));
        assert_eq!(failure_reason(&store), "already_exists");
        let tagged = failure::not_found("no tenant `secret-456`");
        assert_eq!(failure_reason(&tagged), "not_found");
        let plain = anyhow::anyhow!("token abc-secret refused");
        assert_eq!(failure_reason(&plain), "failed");
        let key_ring = anyhow::Error::new(StoreError::KeyRing("key k1 is missing".into()));
        assert_eq!(
            failure_reason(&key_ring),
            "config",
            "not the API's `internal`"
        );
    }

    #[test]
    fn the_actor_is_the_command_line_without_a_token() {
        let audit = CommandAudit::new(actions::RUN_CANCEL, "run").target("r1");
        let event = audit.event;
        assert_eq!(event.actor.kind, ActorKind::LocalCli);
        assert_eq!(event.actor.token_id, None);
        assert!(event.actor.token_name.is_some_and(|name| !name.is_empty()));
        let command_id = event.request_id.expect("a command id");
        assert_eq!(
            uuid_version(&command_id),
            Some('7'),
            "a UUID v7: {command_id}"
        );
        let other = CommandAudit::new(actions::RUN_CANCEL, "run").event;
        assert_ne!(other.request_id.as_deref(), Some(command_id.as_str()));
    }

    /// The version digit of a hyphenated UUID.
    fn uuid_version(id: &str) -> Option<char> {
        let groups: Vec<&str> = id.split('-').collect();
        (groups.len() == 5)
            .then(|| groups[2].chars().next())
            .flatten()
    }
}
