//! The OAuth and app-install callback: the provider sends the user's browser here; the runtime
//! finishes the setup flow and the user sees a short page saying how it went.

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use tributary_core::CallbackParams;
use tributary_store::audit::{Actor, ActorKind};

use crate::{
    AppState,
    audit::{self, Audit, AuditBuilder, actions},
    ui::html::{Page, esc},
};

/// The callback's answer: a page of the UI's frame, with the UI's security headers (it shows
/// provider text and must not be framed, sniffed or cached either).
fn page(status: StatusCode, title: &str, message: &str) -> Response {
    Page::new(title)
        .status(status)
        .with_body(&format!("<p>{}</p>", esc(message)))
        .render(None)
}

pub(crate) async fn complete(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = crate::query_pairs(query.as_deref());
    let (flow, result) = state
        .runtime
        .complete_auth_for(CallbackParams::new(params))
        .await;
    let session = crate::ui::session::current(&headers, &state)
        .await
        .filter(|session| {
            flow.as_ref()
                .is_some_and(|flow| flow.tenant_id == session.tenant_id)
        });
    // A callback that matched no flow names no tenant (anyone can send one): not recorded.
    if let Some(flow) = &flow {
        let actor = match &session {
            Some(session) => audit::ui_actor(session),
            None => Actor {
                kind: ActorKind::AuthCallback,
                token_id: None,
                token_name: None,
            },
        };
        Audit::new(
            actor,
            Some(&flow.tenant_id),
            actions::INTEGRATION_CONNECT,
            "integration",
        )
        .target(&flow.integration_id)
        .meta("connection", flow.connection.as_str())
        .meta("authorization", "completed")
        .record(&state, &result)
        .await;
    }
    // A flow started from the web UI comes back to the integration's page there.
    if let Ok(connected) = &result
        && session.is_some()
    {
        return Redirect::to(&format!(
            "/integrations/{}",
            crate::ui::html::url_part(&connected.integration.id)
        ))
        .into_response();
    }
    match result {
        Ok(connected) => page(
            StatusCode::OK,
            "Connected",
            &format!(
                "{} is connected. You can close this window.",
                connected.integration.name
            ),
        ),
        Err(err) => page(
            StatusCode::BAD_REQUEST,
            "Connection failed",
            &err.to_string(),
        ),
    }
}
