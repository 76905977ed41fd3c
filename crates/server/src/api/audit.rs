//! The audit trail: who did what, when, in which request, to which target, and how it ended. A
//! tenant token lists its own tenant's events; the operator token lists every tenant's (and its
//! own actions on no tenant), optionally one tenant's.

use tributary_store::audit::{ActorKind, AuditEvent, AuditQuery, Outcome};

use super::prelude::*;

list_query! {
    pub struct ListAuditEvents {
        /// Operator token: only this tenant's events. A tenant token may name only its own tenant.
        pub tenant_id: Option<String>,
        /// Only this action (`integration.connect`, `token.revoke`, ...).
        pub action: Option<String>,
        /// Only events on targets of this type (`integration`, `run`, ...).
        pub target_type: Option<String>,
        /// Only events on this target.
        pub target_id: Option<String>,
        /// Only events at or after this time (Unix ms).
        pub since: Option<i64>,
    }
}

/// How the actor came in.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKindName {
    /// The operator token, through the API.
    OperatorToken,
    /// A tenant API token, through the API.
    TenantToken,
    /// The web UI, through the session opened with the token named.
    UiSession,
    /// The provider's redirect to the authorization callback (no token; a flow someone started).
    AuthCallback,
    /// A `tributary` command on the database directly, not through the API (no token; the name
    /// is the operating-system user who ran it).
    LocalCli,
}

/// Who acted.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditActorView {
    pub kind: ActorKindName,
    /// The API token's id (for a UI session: the token it was opened with; none for the command
    /// line).
    pub token_id: Option<String>,
    /// The API token's name when the event was recorded; for `local_cli`, the operating-system
    /// user who ran the command.
    pub token_name: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcomeName {
    Succeeded,
    Failed,
}

/// One recorded action.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    pub id: String,
    /// The tenant it concerns; null for an operator action on no tenant.
    pub tenant_id: Option<String>,
    /// Unix ms.
    pub occurred_at: i64,
    pub actor: AuditActorView,
    /// The request it happened in (the `x-request-id` of its answer).
    pub request_id: Option<String>,
    /// `tenant.create`, `integration.connect`, `webhook_endpoint.rotate_secret`, ...
    pub action: String,
    /// `tenant`, `api_token`, `integration`, `run`, `webhook_endpoint`, ...
    pub target_type: String,
    /// The target's id; null when a create failed before there was one.
    pub target_id: Option<String>,
    pub outcome: AuditOutcomeName,
    /// Why it failed: the error's code, with its kind and setup step where there are (never its
    /// message).
    pub reason: Option<String>,
    /// Non-secret details: which fields changed, the operation, the connection mode, ...
    pub metadata: Value,
}

impl From<AuditEvent> for AuditEventView {
    fn from(event: AuditEvent) -> Self {
        let (outcome, reason) = match event.outcome {
            Outcome::Succeeded => (AuditOutcomeName::Succeeded, None),
            Outcome::Failed(reason) => (AuditOutcomeName::Failed, Some(reason)),
        };
        Self {
            id: event.id,
            tenant_id: event.tenant_id,
            occurred_at: event.occurred_at,
            actor: AuditActorView {
                kind: match event.actor.kind {
                    ActorKind::OperatorToken => ActorKindName::OperatorToken,
                    ActorKind::TenantToken => ActorKindName::TenantToken,
                    ActorKind::UiSession => ActorKindName::UiSession,
                    ActorKind::AuthCallback => ActorKindName::AuthCallback,
                    ActorKind::LocalCli => ActorKindName::LocalCli,
                },
                token_id: event.actor.token_id,
                token_name: event.actor.token_name,
            },
            request_id: event.request_id,
            action: event.action,
            target_type: event.target_type,
            target_id: event.target_id,
            outcome,
            reason,
            metadata: event.metadata,
        }
    }
}

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/v1/audit-events",
            "listAuditEvents",
            "List audit events, newest first (a tenant token: its tenant's; the operator token: \
             every tenant's)",
            list,
        )
        .tag("audit")
        .access(Access::AnyToken)
        .query::<ListAuditEvents>()
        .answers::<Page<AuditEventView>>(200, "A page of audit events, newest first"),
    ]
}

/// The cursor of the list (an event id), refused (400) if it is not one the list gave.
pub(crate) fn event_cursor(cursor: Option<String>) -> Result<Option<String>, ApiError> {
    match cursor {
        Some(text) if uuid::Uuid::try_parse(&text).is_err() => Err(ApiError::bad_request(
            "invalid_query",
            "`cursor` is not a cursor this list gave: pass its `nextCursor` unchanged",
        )),
        cursor => Ok(cursor),
    }
}

async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListAuditEvents>,
) -> ApiResult<Page<AuditEventView>> {
    let tenant_id = match (caller.tenant_id(), query.tenant_id) {
        (None, asked) => asked,
        (Some(own), Some(asked)) if asked != own => {
            return Err(ApiError::forbidden(
                "a tenant token lists its own tenant's events only; `tenantId` is for the \
                 operator token",
            ));
        }
        (Some(own), _) => Some(own.to_owned()),
    };
    let limit = page_limit(query.limit);
    let events = state
        .runtime
        .db()
        .audit()
        .list(&AuditQuery {
            tenant_id,
            action: query.action,
            target_type: query.target_type,
            target_id: query.target_id,
            since: query.since,
            before: event_cursor(query.cursor)?,
            limit: limit as i64 + 1,
        })
        .await?;
    Ok(Json(Page::by_id(events, limit)))
}
