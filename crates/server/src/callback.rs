//! The OAuth and app-install callback: the provider sends the user's browser here; the runtime
//! finishes the setup flow and the user sees a short page saying how it went.

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};
use tributary_core::CallbackParams;

use crate::AppState;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{0}</title></head>\
         <body><h1>{0}</h1><p>{1}</p></body></html>",
        escape(title),
        escape(message)
    );
    (status, Html(body)).into_response()
}

pub(crate) async fn complete(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = crate::query_pairs(query.as_deref());
    let result = state
        .runtime
        .complete_auth(CallbackParams::new(params))
        .await;
    // A flow started from the web UI comes back to the integration's page there.
    if let Ok(connected) = &result
        && let Some(session) = crate::ui::session::current(&headers, &state).await
        && session.tenant_id == connected.integration.tenant_id
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
