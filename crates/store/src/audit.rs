//! The audit trail: one row per tenant or operator action (tenants and tokens, integrations and
//! their credentials, secret rotations, runs, replays, sign-ins), saying who acted, when, in which
//! request, on what, and how it ended.
//!
//! An event is appended inside the action's own transaction where the caller has one (so the
//! action and its record commit together), otherwise right after the action, failures included.
//! Events are never updated; the retention sweep deletes them once they are older than
//! [`RetentionPolicy::audit_events`](crate::retention::RetentionPolicy::audit_events).
//!
//! Nothing secret belongs here: callers record ids, names and error kinds, never a credential,
//! token, secret or hash, nor an error's message. The rows have no foreign key to `tenants`: a
//! deleted tenant's trail, its deletion included, stays for the operator until retention.

use serde::Serialize;
use serde_json::Value;

use crate::db::{Db, Scope, Tx, new_id, now_ms, on_backend, push_filters};
use crate::error::{Result, StoreError};

/// The longest target id kept (ids come from request paths; a longer one is cut).
pub const MAX_TARGET_ID_CHARS: usize = 200;

/// The longest failure reason kept.
pub const MAX_REASON_CHARS: usize = 200;

/// The most events one [`AuditEvents::list`] returns.
pub const MAX_LIST: i64 = 1001;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// The operator token (`/v1`, tenant administration).
    OperatorToken,
    /// A tenant API token (`/v1`).
    TenantToken,
    /// A web UI session, acting through the tenant token it was opened with.
    UiSession,
    /// A provider's redirect back to the authorization callback, finishing a flow someone started.
    AuthCallback,
    /// A `tributary` command working on the database directly (not through `--api`): no token,
    /// the name is the operating-system user who ran it.
    LocalCli,
}

impl ActorKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::OperatorToken => "operator_token",
            ActorKind::TenantToken => "tenant_token",
            ActorKind::UiSession => "ui_session",
            ActorKind::AuthCallback => "auth_callback",
            ActorKind::LocalCli => "local_cli",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "operator_token" => ActorKind::OperatorToken,
            "tenant_token" => ActorKind::TenantToken,
            "ui_session" => ActorKind::UiSession,
            "auth_callback" => ActorKind::AuthCallback,
            "local_cli" => ActorKind::LocalCli,
            other => return Err(StoreError::Corrupt(format!("audit actor {other:?}"))),
        })
    }
}

/// Who acted: the kind, and the API token behind it (none for an authorization callback without
/// a UI session, nor for the command line, whose name is the operating-system user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// How they came in.
    pub kind: ActorKind,
    /// The API token's id.
    pub token_id: Option<String>,
    /// The API token's name when the event was recorded; for [`ActorKind::LocalCli`], the
    /// operating-system user who ran the command.
    pub token_name: Option<String>,
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "reason")]
pub enum Outcome {
    /// It did what was asked.
    Succeeded,
    /// It did not; the reason is an error's code and kind, never its message.
    Failed(String),
}

impl Outcome {
    /// The stored spelling (`succeeded`, `failed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed(_) => "failed",
        }
    }

    /// The failure reason.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Succeeded => None,
            Outcome::Failed(reason) => Some(reason),
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    /// The tenant it concerns (the acting tenant, or the tenant an operator acted on); `None`
    /// for operator actions on no tenant.
    pub tenant_id: Option<String>,
    pub actor: Actor,
    /// The request it happened in.
    pub request_id: Option<String>,
    /// What was done: `integration.connect`, `token.revoke`, ...
    pub action: String,
    /// What it was done to: `integration`, `tenant`, `run`, ...
    pub target_type: String,
    /// Its id, when known (a failed create has none).
    pub target_id: Option<String>,
    pub outcome: Outcome,
    /// Non-secret details (which fields changed, the operation run); an object.
    pub metadata: Value,
}

impl NewAuditEvent {
    /// A successful action of `actor` on a target of `target_type`, with no tenant, target id nor
    /// details yet: the [`AuditBuilder`] adds them.
    pub fn new(actor: Actor, request_id: Option<String>, action: &str, target_type: &str) -> Self {
        NewAuditEvent {
            tenant_id: None,
            actor,
            request_id,
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id: None,
            outcome: Outcome::Succeeded,
            metadata: Value::Object(serde_json::Map::new()),
        }
    }

    /// This event, ended by a failure of class `reason`.
    pub fn failed(mut self, reason: String) -> Self {
        self.outcome = Outcome::Failed(reason);
        self
    }
}

/// Describing an action for the trail: one builder for the event itself and for what wraps it to
/// write it (the server's handlers and the command line's direct commands), so that both
/// describe their actions alike.
pub trait AuditBuilder: Sized {
    /// The event being described.
    fn event_mut(&mut self) -> &mut NewAuditEvent;

    /// The tenant the event concerns (an operator's action on a tenant).
    fn tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.set_tenant(tenant_id);
        self
    }

    /// [`AuditBuilder::tenant`] once the caller has resolved it.
    fn set_tenant(&mut self, tenant_id: impl Into<String>) {
        self.event_mut().tenant_id = Some(tenant_id.into());
    }

    /// The target's id.
    fn target(mut self, id: impl Into<String>) -> Self {
        self.event_mut().target_id = Some(id.into());
        self
    }

    /// A non-secret detail.
    fn meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.note(key, value);
        self
    }

    /// [`AuditBuilder::meta`] on a borrowed description (a caller that learns details as it
    /// goes).
    fn note(&mut self, key: &str, value: impl Into<Value>) {
        if let Value::Object(map) = &mut self.event_mut().metadata {
            map.insert(key.to_owned(), value.into());
        }
    }

    /// Names the action once the caller knows which it is (a connect that changes the
    /// credentials of a connected integration).
    fn set_action(&mut self, action: &str) {
        self.event_mut().action = action.to_owned();
    }

    /// What a successful result adds (a create learns its target's id only then).
    fn on_success<T, E>(self, result: &Result<T, E>, add: impl FnOnce(Self, &T) -> Self) -> Self {
        match result {
            Ok(value) => add(self, value),
            Err(_) => self,
        }
    }
}

impl AuditBuilder for NewAuditEvent {
    fn event_mut(&mut self) -> &mut NewAuditEvent {
        self
    }
}

impl Db {
    /// Runs `action` in a transaction that also records the event `success` makes of what the
    /// action returned: the action and its record commit together or not at all. Recording a
    /// failure (after the rollback) is the caller's.
    pub async fn audited<T, E: From<StoreError>>(
        &self,
        action: impl AsyncFnOnce(&mut Tx) -> std::result::Result<T, E>,
        success: impl FnOnce(&T) -> NewAuditEvent,
    ) -> std::result::Result<T, E> {
        let mut tx = self.begin().await?;
        let value = action(&mut tx).await?;
        tx.audit().record(&success(&value)).await?;
        tx.commit().await?;
        Ok(value)
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Id (UUID v7: sorts by time).
    pub id: String,
    pub tenant_id: Option<String>,
    /// Unix ms.
    pub occurred_at: i64,
    pub actor: Actor,
    pub request_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub outcome: Outcome,
    pub metadata: Value,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    tenant_id: Option<String>,
    occurred_at: i64,
    actor_kind: String,
    actor_token_id: Option<String>,
    actor_token_name: Option<String>,
    request_id: Option<String>,
    action: String,
    target_type: String,
    target_id: Option<String>,
    outcome: String,
    reason: Option<String>,
    metadata: String,
}

impl TryFrom<Row> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<Self> {
        let outcome = match row.outcome.as_str() {
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed(row.reason.unwrap_or_default()),
            other => return Err(StoreError::Corrupt(format!("audit outcome {other:?}"))),
        };
        Ok(AuditEvent {
            id: row.id,
            tenant_id: row.tenant_id,
            occurred_at: row.occurred_at,
            actor: Actor {
                kind: ActorKind::parse(&row.actor_kind)?,
                token_id: row.actor_token_id,
                token_name: row.actor_token_name,
            },
            request_id: row.request_id,
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            outcome,
            metadata: serde_json::from_str(&row.metadata)?,
        })
    }
}

const COLUMNS: &str = "id, tenant_id, occurred_at, actor_kind, actor_token_id, actor_token_name, \
                       request_id, action, target_type, target_id, outcome, reason, metadata";

/// Which events to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// One tenant's events; `None` lists every tenant's and the operator's (the operator view).
    pub tenant_id: Option<String>,
    /// Only this action (`integration.connect`).
    pub action: Option<String>,
    /// Only events on targets of this type.
    pub target_type: Option<String>,
    /// Only events on this target id.
    pub target_id: Option<String>,
    /// Only events at or after this time (unix ms).
    pub since: Option<i64>,
    /// Only events older than this event id (the cursor of the previous page).
    pub before: Option<String>,
    /// At most this many (1 to [`MAX_LIST`]).
    pub limit: i64,
}

/// Repository of the audit trail.
#[derive(Debug)]
pub struct AuditEvents<'a> {
    scope: Scope<'a>,
}

impl Db {
    /// The audit trail.
    pub fn audit(&self) -> AuditEvents<'_> {
        AuditEvents {
            scope: Scope::Db(self),
        }
    }
}

impl Tx {
    /// The audit trail, inside this transaction (the event commits with the action).
    pub fn audit(&mut self) -> AuditEvents<'_> {
        AuditEvents {
            scope: Scope::Tx(self),
        }
    }
}

/// `text` cut to `max` characters.
fn bounded(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

enum Bind<'q> {
    Text(&'q str),
    Int(i64),
}

impl AuditEvents<'_> {
    /// Appends an event, timed now. A target id or reason longer than its bound is cut.
    pub async fn record(&mut self, event: &NewAuditEvent) -> Result<AuditEvent> {
        if !event.metadata.is_object() {
            return Err(StoreError::Corrupt(
                "audit metadata must be a JSON object".into(),
            ));
        }
        let metadata = serde_json::to_string(&event.metadata)?;
        let target_id = event
            .target_id
            .as_deref()
            .map(|id| bounded(id, MAX_TARGET_ID_CHARS));
        let reason = event
            .outcome
            .reason()
            .map(|reason| bounded(reason, MAX_REASON_CHARS));
        let sql = format!(
            "INSERT INTO audit_events ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             RETURNING {COLUMNS}"
        );
        let params = (
            new_id(),
            event.tenant_id.as_deref(),
            now_ms(),
            event.actor.kind.as_str(),
            event.actor.token_id.as_deref(),
            event.actor.token_name.as_deref(),
            event.request_id.as_deref(),
            &event.action,
            &event.target_type,
            target_id.as_deref(),
            event.outcome.as_str(),
            reason.as_deref(),
            &metadata,
        );
        let row: Row = self
            .scope
            .write_one(sqlx::AssertSqlSafe(sql), params)
            .await?;
        row.try_into()
    }

    /// The events `query` asks for, newest first.
    pub async fn list(&mut self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let mut sql = format!("SELECT {COLUMNS} FROM audit_events WHERE 1 = 1");
        let mut binds: Vec<Bind<'_>> = Vec::new();
        let conditions = [
            ("tenant_id = ", query.tenant_id.as_deref().map(Bind::Text)),
            ("action = ", query.action.as_deref().map(Bind::Text)),
            (
                "target_type = ",
                query.target_type.as_deref().map(Bind::Text),
            ),
            ("target_id = ", query.target_id.as_deref().map(Bind::Text)),
            ("occurred_at >= ", query.since.map(Bind::Int)),
            ("id < ", query.before.as_deref().map(Bind::Text)),
        ];
        push_filters(&mut sql, &mut binds, conditions);
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            query.limit.clamp(1, MAX_LIST)
        ));
        let mut conn = self.scope.read().await?;
        let rows: Vec<Row> = on_backend!(conn.exec(), |c| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for value in &binds {
                q = match value {
                    Bind::Text(text) => q.bind(*text),
                    Bind::Int(number) => q.bind(*number),
                };
            }
            q.fetch_all(&mut *c).await?
        });
        rows.into_iter().map(AuditEvent::try_from).collect()
    }
}

/// The names of `input`'s fields: what the trail records of user input (never the values).
pub fn field_names(input: &Value) -> Vec<String> {
    input
        .as_object()
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

/// The actions the trail names (`docs/api.md` lists them with their targets), for the API, the
/// web UI and the command line alike.
pub mod actions {
    use crate::integrations::Integration;

    pub const TENANT_CREATE: &str = "tenant.create";
    pub const TENANT_DELETE: &str = "tenant.delete";
    pub const TOKEN_ISSUE: &str = "token.issue";
    pub const TOKEN_REVOKE: &str = "token.revoke";
    pub const INTEGRATION_CREATE: &str = "integration.create";
    /// User input changed (the integration's filter, `filterExpr`, is part of it).
    pub const INTEGRATION_UPDATE: &str = "integration.update";
    pub const INTEGRATION_CONNECT: &str = "integration.connect";
    /// A connect of an integration that already had an active connection.
    pub const INTEGRATION_CREDENTIAL_CHANGE: &str = "integration.credential_change";
    pub const INTEGRATION_DISCONNECT: &str = "integration.disconnect";
    pub const INTEGRATION_DELETE: &str = "integration.delete";
    pub const RUN_START: &str = "run.start";
    pub const RUN_CANCEL: &str = "run.cancel";
    pub const WEBHOOK_SECRET_ROTATE: &str = "webhook_endpoint.rotate_secret";
    pub const DELIVERY_REPLAY: &str = "webhook_delivery.replay";
    pub const SCIM_ENDPOINT_CREATE: &str = "scim_endpoint.create";
    pub const SCIM_SECRET_ROTATE: &str = "scim_endpoint.rotate_secret";
    pub const UI_SIGN_IN: &str = "ui.sign_in";
    pub const UI_SIGN_OUT: &str = "ui.sign_out";
    /// A web UI session ended by someone else than its browser (the API or the sessions page).
    pub const UI_SESSION_REVOKE: &str = "ui.session_revoke";
    /// `tributary keys rotate`: the key ring's primary key replaced (command line only).
    pub const KEY_RING_ROTATE: &str = "key_ring.rotate";
    /// `tributary storage purge`: rows past retention deleted (command line only).
    pub const STORAGE_PURGE: &str = "storage.purge";

    /// Every action, for filters.
    pub const ALL: [&str; 21] = [
        TENANT_CREATE,
        TENANT_DELETE,
        TOKEN_ISSUE,
        TOKEN_REVOKE,
        INTEGRATION_CREATE,
        INTEGRATION_UPDATE,
        INTEGRATION_CONNECT,
        INTEGRATION_CREDENTIAL_CHANGE,
        INTEGRATION_DISCONNECT,
        INTEGRATION_DELETE,
        RUN_START,
        RUN_CANCEL,
        WEBHOOK_SECRET_ROTATE,
        DELIVERY_REPLAY,
        SCIM_ENDPOINT_CREATE,
        SCIM_SECRET_ROTATE,
        UI_SIGN_IN,
        UI_SIGN_OUT,
        UI_SESSION_REVOKE,
        KEY_RING_ROTATE,
        STORAGE_PURGE,
    ];

    /// A connect of `integration` as it is before: a credential change when it already has an
    /// active connection, else a connect.
    pub fn connect_action(integration: &Integration) -> &'static str {
        if integration.provider_state.get("connection").is_some() {
            INTEGRATION_CREDENTIAL_CHANGE
        } else {
            INTEGRATION_CONNECT
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_actor_kind_reads_back_as_itself() {
        let every = [
            ActorKind::OperatorToken,
            ActorKind::TenantToken,
            ActorKind::UiSession,
            ActorKind::AuthCallback,
            ActorKind::LocalCli,
        ];
        for kind in every {
            assert_eq!(ActorKind::parse(kind.as_str()).unwrap(), kind);
        }
        assert_eq!(ActorKind::LocalCli.as_str(), "local_cli");
        assert!(ActorKind::parse("somebody").is_err());
    }
}
