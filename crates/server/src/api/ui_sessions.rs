//! Web UI sessions: who is signed in, and ending a session. A tenant token sees and ends its
//! own tenant's sessions; the operator token every tenant's. The cookie's value is never shown
//! (it is not stored): a session is named by a handle derived from what is stored.

use tributary_store::ui_sessions::UiSessionEntry;

use super::prelude::*;
use crate::audit::{Audit, AuditBuilder, actions};
use crate::ui::session::IDLE_TIMEOUT;

list_query! {
    pub struct ListUiSessions {}
}

/// A signed-in browser.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UiSessionView {
    /// The session's handle (`uis_...`): not the cookie, which cannot be derived from it.
    pub id: String,
    pub tenant_id: String,
    /// The API token it was opened with: revoking that token ends the session too.
    pub token_id: String,
    pub token_name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last use (to the minute).
    pub last_seen_at: i64,
    /// Unix ms: the session ends then (7 days after sign-in), or after 12 hours without use,
    /// whichever comes first.
    pub expires_at: i64,
}

impl From<UiSessionEntry> for UiSessionView {
    fn from(entry: UiSessionEntry) -> Self {
        let session = entry.session;
        Self {
            id: entry.id,
            tenant_id: session.tenant_id,
            token_id: session.token_id,
            token_name: session.token_name,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
        }
    }
}

#[derive(Debug, Deserialize)]
struct SessionPath {
    session_id: String,
}

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/v1/ui-sessions",
            "listUiSessions",
            "List the live web UI sessions (a tenant token: its tenant's; the operator token: \
             every tenant's)",
            list,
        )
        .tag("tenants")
        .access(Access::AnyToken)
        .query::<ListUiSessions>()
        .answers::<Page<UiSessionView>>(200, "A page of sessions"),
        Endpoint::new(
            Method::DELETE,
            "/v1/ui-sessions/{session_id}",
            "revokeUiSession",
            "End a web UI session: its cookie stops working at once",
            revoke,
        )
        .tag("tenants")
        .access(Access::AnyToken)
        .answers_empty(204, "Ended"),
    ]
}

async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListUiSessions>,
) -> ApiResult<Page<UiSessionView>> {
    let limit = page_limit(query.limit);
    let sessions = state
        .runtime
        .db()
        .ui_sessions()
        .list(
            caller.tenant_id(),
            IDLE_TIMEOUT,
            query.cursor.as_deref(),
            limit as i64 + 1,
        )
        .await?;
    Ok(Json(Page::by_id(sessions, limit)))
}

async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<SessionPath>,
) -> Result<StatusCode, ApiError> {
    Audit::api(&caller, actions::UI_SESSION_REVOKE, "ui_session")
        .target(&path.session_id)
        .within(
            &state,
            async |tx| {
                tx.ui_sessions()
                    .revoke(caller.tenant_id(), &path.session_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("UI session"))
            },
            |audit, tenant| audit.tenant(tenant.as_str()),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
