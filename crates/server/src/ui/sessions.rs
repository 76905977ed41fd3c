//! The tenant's signed-in browsers: which token each was opened with, when it was last used and
//! when it ends, and a button to end any of them (this one included: that signs it out).

use std::fmt::Write;

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};

use super::{
    html::{Page, csrf_field, esc, time, url_part},
    or_page,
    session::{CheckedForm, IDLE_TIMEOUT, UiSession},
};
use crate::{
    AppState,
    audit::{Audit, AuditBuilder, actions},
};

/// More live sessions than one tenant has in practice; the API pages through any number.
const SHOWN: i64 = 200;

pub async fn list(State(state): State<AppState>, session: UiSession) -> Response {
    let sessions = or_page!(
        session,
        state
            .runtime
            .db()
            .ui_sessions()
            .list(Some(&session.tenant_id), IDLE_TIMEOUT, None, SHOWN)
            .await
    );
    let mut html = String::from(
        "<p class=\"muted\">Browsers signed in to this tenant. A session ends on sign-out, after \
         12 hours unused, 7 days after sign-in, when its API token is revoked, or here.</p>\
         <div class=\"table\"><table><caption class=\"visually-hidden\">Sessions</caption><thead><tr><th scope=\"col\">Session</th>\
         <th scope=\"col\">Signed in with</th><th scope=\"col\">Since</th>\
         <th scope=\"col\">Last used</th><th scope=\"col\">Ends</th>\
         <th scope=\"col\"><span class=\"visually-hidden\">Action</span></th></tr></thead><tbody>",
    );
    for entry in &sessions {
        let this = entry.id == session.handle;
        let _ = write!(
            html,
            "<tr><td><code>{id}</code>{this}</td><td>{token}</td><td>{since}</td>\
             <td>{seen}</td><td>{ends}</td><td><form method=\"post\" \
             action=\"/sessions/{path}/revoke\">{csrf}<button type=\"submit\" \
             class=\"secondary\">{label}</button></form></td></tr>",
            id = esc(&entry.id),
            this = if this {
                " <span class=\"badge neutral\">this browser</span>"
            } else {
                ""
            },
            token = esc(&entry.session.token_name),
            since = time(entry.session.created_at),
            seen = time(entry.session.last_seen_at),
            ends = time(entry.session.expires_at),
            path = url_part(&entry.id),
            csrf = csrf_field(&session),
            label = if this { "Sign out" } else { "End session" },
        );
    }
    html.push_str("</tbody></table></div>");
    Page::signed_in("Sessions", &html, &session)
}

pub async fn revoke(
    State(state): State<AppState>,
    session: UiSession,
    Path(session_id): Path<String>,
    CheckedForm(_): CheckedForm,
) -> Response {
    let result = state
        .runtime
        .db()
        .ui_sessions()
        .revoke(Some(&session.tenant_id), &session_id)
        .await
        .map_err(crate::api::ApiError::from)
        .and_then(|ended| ended.ok_or_else(|| crate::api::ApiError::not_found("session")));
    Audit::ui(&session, actions::UI_SESSION_REVOKE, "ui_session")
        .target(&session_id)
        .record(&state, &result)
        .await;
    or_page!(session, result);
    // Ending this browser's own session signs it out.
    let back = if session_id == session.handle {
        "/login"
    } else {
        "/sessions"
    };
    Redirect::to(back).into_response()
}
