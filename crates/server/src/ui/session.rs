//! Signing in to the web UI with a tenant API token.
//!
//! The token is kept in an HttpOnly cookie (SameSite=Lax so the OAuth callback, a top-level
//! navigation from the provider, still carries it back; Secure when the public URL is https) and
//! checked against the store on every request, so revoking the token signs the browser out.
//! Every form carries a CSRF token derived from the session token: another site can make the
//! browser send the cookie but cannot read it, so it cannot produce the matching form value.

use axum::{
    extract::{FromRequestParts, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use sha2::{Digest, Sha256};

use super::{
    form::FormData,
    html::{Page, esc},
};
use crate::AppState;

const COOKIE: &str = "tributary_session";
/// How long a browser stays signed in without signing in again.
const SESSION_SECONDS: u32 = 12 * 60 * 60;

/// A signed-in tenant.
#[derive(Debug, Clone)]
pub struct UiSession {
    pub tenant_id: String,
    /// The value every form of this session must send back.
    pub csrf: String,
}

impl UiSession {
    /// Refuses a form whose CSRF value is not this session's.
    pub fn check_csrf(&self, form: &FormData) -> Result<(), Response> {
        let sent = form.get("csrf").unwrap_or_default();
        if constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
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

fn csrf_for(token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"tributary-ui-csrf\0")
        .chain_update(token.as_bytes())
        .finalize();
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// The session of a request, if its cookie holds a valid tenant token.
pub async fn current(headers: &HeaderMap, state: &AppState) -> Option<UiSession> {
    let token = session_token(headers)?;
    let record = state
        .runtime
        .db()
        .tenants()
        .authenticate(token.as_bytes())
        .await
        .ok()??;
    Some(UiSession {
        tenant_id: record.tenant_id?,
        csrf: csrf_for(&token),
    })
}

impl FromRequestParts<AppState> for UiSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match current(&parts.headers, state).await {
            Some(session) => Ok(session),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Err(
                    Redirect::to(&format!("/login?next={}", super::html::url_part(next)))
                        .into_response(),
                )
            }
        }
    }
}

/// Only same-site paths are followed after signing in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/integrations".to_owned(),
    }
}

fn login_page(next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let error_html = error
        .map(|message| {
            format!(
                "<p class=\"field-error\" id=\"token-error\" role=\"alert\">{}</p>",
                esc(message)
            )
        })
        .unwrap_or_default();
    let described = if error.is_some() {
        " aria-describedby=\"token-error\" aria-invalid=\"true\""
    } else {
        ""
    };
    Page::new("Sign in")
        .status(status)
        .with_body(&format!(
            "<form method=\"post\" action=\"/login\" class=\"card narrow\">\
             <input type=\"hidden\" name=\"next\" value=\"{}\">\
             <div class=\"field\"><label for=\"token\">Tenant API token</label>\
             <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" \
             required{described}>{error_html}\
             <small>Your platform operator issues it (<code>tributary tenants token</code> or \
             <code>POST /v1/tenants/{{id}}/tokens</code>).</small></div>\
             <button type=\"submit\">Sign in</button></form>",
            esc(next)
        ))
        .render(None)
}

pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let pairs = crate::query_pairs(query.as_deref());
    let next = safe_next(
        pairs
            .iter()
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v.as_str()),
    );
    if current(&headers, &state).await.is_some() {
        return Redirect::to(&next).into_response();
    }
    login_page(&next, None, StatusCode::OK)
}

pub async fn login(State(state): State<AppState>, form: FormData) -> Response {
    let next = safe_next(form.get("next"));
    let token = form.get("token").unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        return login_page(
            &next,
            Some("Enter your API token."),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let record = match state
        .runtime
        .db()
        .tenants()
        .authenticate(token.as_bytes())
        .await
    {
        Ok(record) => record,
        Err(err) => {
            tracing::error!(error = %err, "the UI could not check a token");
            return login_page(
                &next,
                Some("The token could not be checked right now; try again."),
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    match record {
        None => login_page(
            &next,
            Some("This token is unknown, revoked or expired."),
            StatusCode::UNAUTHORIZED,
        ),
        Some(record) if record.tenant_id.is_none() => login_page(
            &next,
            Some("This is the operator token; sign in with a tenant's API token."),
            StatusCode::FORBIDDEN,
        ),
        Some(_) => {
            let secure = state.runtime.config().public_url.starts_with("https://");
            let cookie = format!(
                "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_SECONDS}{}",
                if secure { "; Secure" } else { "" }
            );
            let mut response = Redirect::to(&next).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
    }
}

pub async fn logout(session: UiSession, form: FormData) -> Response {
    if let Err(refused) = session.check_csrf(&form) {
        return refused;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tributary_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/runs?x=1")), "/runs?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/integrations");
        assert_eq!(safe_next(Some("https://evil.example")), "/integrations");
        assert_eq!(safe_next(Some("/\\evil")), "/integrations");
        assert_eq!(safe_next(None), "/integrations");
    }

    #[test]
    fn the_csrf_value_depends_on_the_token_and_does_not_reveal_it() {
        let a = csrf_for("tok-a");
        assert_ne!(a, csrf_for("tok-b"));
        assert!(!a.contains("tok-a"));
        assert!(constant_time_eq(a.as_bytes(), csrf_for("tok-a").as_bytes()));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tributary_session=tok; b=2"),
        );
        assert_eq!(session_token(&headers).as_deref(), Some("tok"));
    }
}
