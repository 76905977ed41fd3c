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

use serde_json::{Map, Value};
use tributary_runtime::{RuntimeError, execute::ExecuteError};
use tributary_scim::admin::AdminError;
use tributary_server::api::error::ErrorClass;
use tributary_store::{
    Db, StoreError, Tx,
    audit::{Actor, ActorKind, NewAuditEvent, Outcome},
};

use crate::failure;

/// The action names, the same list as the server's.
pub use tributary_store::audit::actions;

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

impl CommandAudit {
    /// An action of the user running this command, with a fresh command id (UUID v7) as its
    /// request id.
    pub fn new(action: &'static str, target_type: &'static str) -> Self {
        Self {
            event: NewAuditEvent {
                tenant_id: None,
                actor: Actor {
                    kind: ActorKind::LocalCli,
                    token_id: None,
                    token_name: Some(os_user()),
                },
                request_id: Some(tributary_store::new_id()),
                action: action.to_owned(),
                target_type: target_type.to_owned(),
                target_id: None,
                outcome: Outcome::Succeeded,
                metadata: Value::Object(Map::new()),
            },
        }
    }

    /// The tenant the event concerns.
    pub fn tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.set_tenant(tenant_id);
        self
    }

    /// [`CommandAudit::tenant`] once the command has resolved it.
    pub fn set_tenant(&mut self, tenant_id: impl Into<String>) {
        self.event.tenant_id = Some(tenant_id.into());
    }

    /// The target's id.
    pub fn target(mut self, id: impl Into<String>) -> Self {
        self.event.target_id = Some(id.into());
        self
    }

    /// A non-secret detail.
    pub fn meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.note(key, value);
        self
    }

    /// [`CommandAudit::meta`] on a borrowed description (a command that learns details as it
    /// goes).
    pub fn note(&mut self, key: &str, value: impl Into<Value>) {
        if let Value::Object(map) = &mut self.event.metadata {
            map.insert(key.to_owned(), value.into());
        }
    }

    /// Names the action once the command knows which it is (a connect that changes the
    /// credentials of a connected integration).
    pub fn set_action(&mut self, action: &'static str) {
        self.event.action = action.to_owned();
    }

    /// What a successful result adds (a create learns its target's id only then).
    pub fn on_success<T, E>(
        self,
        result: &Result<T, E>,
        add: impl FnOnce(Self, &T) -> Self,
    ) -> Self {
        match result {
            Ok(value) => add(self, value),
            Err(_) => self,
        }
    }

    fn failed(mut self, error: &anyhow::Error) -> NewAuditEvent {
        self.event.outcome = Outcome::Failed(failure_reason(error));
        self.event
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
    /// `complete` with what the action returned: both commit or neither does. A failure is
    /// recorded after the rollback.
    pub async fn within<T>(
        self,
        db: &Db,
        action: impl AsyncFnOnce(&mut Tx) -> anyhow::Result<T>,
        complete: impl FnOnce(Self, &T) -> Self,
    ) -> anyhow::Result<T> {
        let result = async {
            let mut tx = db.begin().await?;
            let value = action(&mut tx).await?;
            let event = complete(self.clone(), &value).event;
            tx.audit().record(&event).await?;
            tx.commit().await?;
            Ok(value)
        }
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
