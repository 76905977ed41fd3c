//! The web UI for tenant administrators, served by `tributary serve` at `/`: the catalog, the
//! connect flow (forms generated from each definition's JSON Schemas, OAuth and app installs
//! through the keymaker), integration pages with their operations and webhook endpoints, runs,
//! records, the audit log and a mapping playground. Server-rendered HTML with one small script,
//! no build step.

// Helpers answer early with a whole page as their error value (`Result<_, Response>`); it is
// returned to axum at once, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod audit;
mod catalog;
mod connect;
pub(crate) mod form;
pub(crate) mod html;
mod identity;
mod integrations;
mod login;
mod paging;
mod playground;
mod records;
mod runs;
pub(crate) mod session;
mod sessions;

use axum::{
    Router,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};

use crate::{AppState, api::ApiError};
use html::{Page, esc, secure_headers};
use session::UiSession;

/// The UI's routes (merged into the server's router).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login::login_form).post(login::login))
        .route("/logout", post(session::logout))
        .route("/ui/app.css", get(stylesheet))
        .route("/ui/app.js", get(script))
        .route("/ui/logos/{file}", get(logo))
        .route("/catalog", get(catalog::list))
        .route(
            "/catalog/{definition_id}/connect",
            get(connect::new_form).post(connect::submit_new),
        )
        .route("/integrations", get(integrations::list))
        .route("/integrations/{integration_id}", get(integrations::show))
        .route(
            "/integrations/{integration_id}/connect",
            get(connect::existing_form).post(connect::submit_existing),
        )
        .route(
            "/integrations/{integration_id}/operations/{operation}",
            post(integrations::run_operation),
        )
        .route(
            "/integrations/{integration_id}/webhooks/{endpoint_id}/rotate",
            post(integrations::rotate_secret),
        )
        .route(
            "/integrations/{integration_id}/disconnect",
            post(integrations::disconnect),
        )
        .route("/runs", get(runs::list))
        .route("/runs/{run_id}", get(runs::show))
        .route("/runs/{run_id}/cancel", post(runs::cancel))
        .route("/records", get(records::list))
        .route("/records/{record_id}", get(records::show))
        .route("/audit", get(audit::list))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{session_id}/revoke", post(sessions::revoke))
        .route(
            "/playground",
            get(playground::form).post(playground::evaluate),
        )
}

async fn home(session: Option<UiSession>) -> Redirect {
    match session {
        Some(_) => Redirect::to("/integrations"),
        None => Redirect::to("/login"),
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for UiSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(session::current(&parts.headers, state).await)
    }
}

async fn stylesheet() -> Response {
    let mut response = include_str!("assets/app.css").into_response();
    secure_headers(&mut response, "text/css; charset=utf-8");
    response
}

async fn script() -> Response {
    let mut response = include_str!("assets/app.js").into_response();
    secure_headers(&mut response, "text/javascript; charset=utf-8");
    response
}

/// A definition's logo (`/ui/logos/<definition>.svg`, the built-in definitions' `logo_url`): a
/// monogram in a colour derived from the id. Provider brand marks are not shipped in the binary.
async fn logo(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let definition = file
        .strip_suffix(".svg")
        .and_then(|id| state.runtime.registry().definition(id));
    let Some(definition) = definition else {
        return (StatusCode::NOT_FOUND, "no such logo").into_response();
    };
    let name = &definition.definition.spec.display_name;
    let letters: String = name
        .split_whitespace()
        .filter_map(|word| word.chars().next())
        .filter(|c| c.is_alphanumeric())
        .take(2)
        .collect::<String>()
        .to_uppercase();
    let hue = definition.id().bytes().fold(7u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    }) % 360;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 40 40\" role=\"img\" aria-label=\"{}\">\
         <rect width=\"40\" height=\"40\" rx=\"8\" fill=\"hsl({hue} 55% 38%)\"/>\
         <text x=\"20\" y=\"26\" font-family=\"system-ui, sans-serif\" font-size=\"16\" font-weight=\"700\" \
         fill=\"#fff\" text-anchor=\"middle\">{}</text></svg>",
        esc(name),
        esc(&letters)
    );
    let mut response = svg.into_response();
    secure_headers(&mut response, "image/svg+xml");
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

/// A runtime or store failure as a page: the same status and safe message the API would give
/// (internal errors are logged and answered generically there).
pub(crate) fn error_page(session: &UiSession, error: impl Into<ApiError>) -> Response {
    let error: ApiError = error.into();
    let title = if error.status == StatusCode::NOT_FOUND {
        "Not found"
    } else {
        "Something went wrong"
    };
    Page::new(title)
        .status(error.status)
        .with_body(&format!(
            "<p role=\"alert\" class=\"alert\">{}</p><p><a href=\"/integrations\">Back to integrations</a></p>",
            esc(&error.message)
        ))
        .render(Some(session))
}

/// Unwraps a result or answers with its error page.
macro_rules! or_page {
    ($session:expr, $result:expr) => {
        match $result {
            Ok(value) => value,
            Err(err) => return $crate::ui::error_page(&$session, err),
        }
    };
}
pub(crate) use or_page;
