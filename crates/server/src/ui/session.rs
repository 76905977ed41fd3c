//! Who is signed in to the web UI: a server-side session per browser.
//!
//! Signing in with a tenant API token opens a session in the store ([`login`](super::login)); the
//! browser's HttpOnly cookie holds only the session's random id (SameSite=Lax so the OAuth
//! callback, a top-level navigation back from the provider, still carries it; Secure when the
//! public URL is https). The id is no API token: `/v1` refuses it. A session ends when the browser
//! signs out (the row is deleted), after [`IDLE_TIMEOUT`] without use, [`LIFETIME`] after sign-in,
//! or as soon as the API token it was opened with is revoked or expires.
//!
//! Every form carries a CSRF value derived from the session id: another site can make the browser
//! send the cookie but cannot read it, so it cannot produce the matching form value.

use std::time::Duration;

use axum::{
    extract::{FromRequest, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use sha2::{Digest, Sha256};

use super::{form::FormData, html::Page};
use crate::{
    AppState,
    audit::{Audit, actions},
};

const COOKIE: &str = "tributary_session";
/// A session unused for this long ends.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);
/// A session ends this long after sign-in, however much it is used.
pub(crate) const LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The longest path kept to return to after signing in (a longer one returns to the start page).
pub(crate) const MAX_NEXT_BYTES: usize = 2048;

pub use super::identity::UiSession;

impl UiSession {
    /// Refuses a form whose CSRF value is not this session's.
    pub fn check_csrf(&self, form: &FormData) -> Result<(), Response> {
        if csrf_matches(form, &self.csrf) {
            Ok(())
        } else {
            Err(Page::new("Form expired")
                .status(StatusCode::FORBIDDEN)
                .with_body(
                    "<p role=\"alert\">This form was not sent from this session (or the session \
                     changed). Go back, reload the page and try again.</p>",
                )
                .render(Some(self)))
        }
    }
}

/// A submitted form whose CSRF value is the signed-in session's, else the "Form expired" page.
/// Handlers take it last, after their [`UiSession`] (whose extraction leaves the session on the
/// request for this check), so no form handler can forget the check.
pub struct CheckedForm(pub FormData);

impl FromRequest<AppState> for CheckedForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = match parts.extensions.get::<UiSession>() {
            Some(session) => session.clone(),
            None => UiSession::from_request_parts(&mut parts, state).await?,
        };
        let form = FormData::from_request(Request::from_parts(parts, body), state).await?;
        session.check_csrf(&form)?;
        Ok(Self(form))
    }
}

/// Whether the form's `csrf` field is `expected`.
pub(crate) fn csrf_matches(form: &FormData, expected: &str) -> bool {
    let sent = form.get("csrf").unwrap_or_default();
    constant_time_eq(sent.as_bytes(), expected.as_bytes())
}

/// The CSRF value of a secret only the browser's cookie holds (a session id, a sign-in nonce).
pub(crate) fn csrf_for(secret: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"tributary-ui-csrf\0")
        .chain_update(secret.as_bytes())
        .finalize();
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of the cookie `name`, if the request sent a non-empty one.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A `Set-Cookie` value with the attributes every UI cookie has.
pub(crate) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: Duration,
) -> Option<HeaderValue> {
    let secure = if state.runtime.config().public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={}{secure}",
        max_age.as_secs()
    ))
    .ok()
}

/// The session of a request, if its cookie names a live one.
pub async fn current(headers: &HeaderMap, state: &AppState) -> Option<UiSession> {
    let id = cookie_value(headers, COOKIE)?;
    let found = state
        .runtime
        .db()
        .ui_sessions()
        .find(id.as_bytes(), IDLE_TIMEOUT)
        .await;
    match found {
        Ok(session) => {
            let session = session?;
            tracing::Span::current().record("tenant_id", session.tenant_id.as_str());
            Some(UiSession {
                tenant_id: session.tenant_id,
                token_id: session.token_id,
                token_name: session.token_name,
                handle: tributary_store::ui_sessions::ui_session_handle(id.as_bytes()),
                csrf: csrf_for(&id),
            })
        }
        Err(err) => {
            tracing::error!(error = %err, "the UI could not look up a session");
            None
        }
    }
}

/// The cookie that carries a newly opened session.
pub(crate) fn session_cookie(state: &AppState, id: &str) -> Option<HeaderValue> {
    set_cookie(state, COOKIE, id, "/", "Lax", LIFETIME)
}

impl FromRequestParts<AppState> for UiSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match current(&parts.headers, state).await {
            Some(session) => {
                // For a [`CheckedForm`] of the same request, which checks its CSRF value.
                parts.extensions.insert(session.clone());
                Ok(session)
            }
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .filter(|next| next.len() <= MAX_NEXT_BYTES)
                    .unwrap_or("/");
                Err(
                    Redirect::to(&format!("/login?next={}", super::html::url_part(next)))
                        .into_response(),
                )
            }
        }
    }
}

/// Signing out ends the session in the store, so its cookie is worthless even if kept.
pub async fn logout(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    CheckedForm(_): CheckedForm,
) -> Response {
    if let Some(id) = cookie_value(&headers, COOKIE) {
        let result = state.runtime.db().ui_sessions().delete(id.as_bytes()).await;
        Audit::ui(&session, actions::UI_SIGN_OUT, "ui_session")
            .record(&state, &result)
            .await;
        if let Err(err) = result {
            return super::error_page(&session, err);
        }
    }
    let mut response = Redirect::to("/login").into_response();
    if let Some(cleared) = set_cookie(&state, COOKIE, "", "/", "Lax", Duration::ZERO) {
        response.headers_mut().insert(header::SET_COOKIE, cleared);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_value_depends_on_the_secret_and_does_not_reveal_it() {
        let a = csrf_for("id-a");
        assert_ne!(a, csrf_for("id-b"));
        assert!(!a.contains("id-a"));
        assert!(constant_time_eq(a.as_bytes(), csrf_for("id-a").as_bytes()));
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tributary_session=id; b=2"),
        );
        assert_eq!(cookie_value(&headers, COOKIE).as_deref(), Some("id"));
        assert_eq!(cookie_value(&headers, "tributary_login"), None);
    }
}
