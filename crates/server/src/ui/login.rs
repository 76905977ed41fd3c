//! The sign-in page: a tenant API token opens a UI session ([`session`](super::session)).
//!
//! - Login CSRF (another site signing the victim's browser in to the attacker's tenant, so the
//!   victim connects providers there): the page sets a random nonce in a `SameSite=Strict`,
//!   HttpOnly cookie scoped to `/login` and puts a value derived from it in the form; a POST
//!   without both matching is refused with 403, as is one whose `Origin` (or `Referer`) is another
//!   site.
//! - `next`, where to go afterwards, must be a path of this site; anything a browser could resolve
//!   elsewhere is refused with 400 rather than ignored, so a crafted link shows as one.
//! - Failed sign-ins count toward the per-address throttle shared with the API and SCIM.

use std::time::Duration;

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};

use super::{
    form::FormData,
    html::{Page, esc},
    session::{self, MAX_NEXT_BYTES, csrf_for, csrf_matches},
};
use tributary_store::audit::{Actor, ActorKind};

use crate::{
    AppState,
    audit::{Audit, actions},
    auth_failures::{PeerSource, throttled_message, with_retry_after},
};

/// The sign-in nonce's cookie.
const NONCE_COOKIE: &str = "tributary_login";
/// How long a sign-in page stays usable.
const NONCE_LIFETIME: Duration = Duration::from_secs(60 * 60);
const START_PAGE: &str = "/integrations";

/// Where to go after signing in: a path of this site (the start page when none is asked), or
/// `None` when `next` is anything else.
///
/// A browser strips tabs and newlines from a URL and reads `\` as `/`, so `/\t/evil.example` and
/// `/\evil.example` both mean `//evil.example`, another host; control characters, spaces and
/// non-ASCII cannot be in a `Location` header at all. A genuine `next` is the path and query of a
/// request URI, which never holds any of them: only printable ASCII is taken, starting with one
/// `/` and without `\`.
fn safe_next(next: Option<&str>) -> Option<String> {
    let Some(path) = next.filter(|path| !path.is_empty()) else {
        return Some(START_PAGE.to_owned());
    };
    let local = path.len() <= MAX_NEXT_BYTES
        && path.starts_with('/')
        && !path.starts_with("//")
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    local.then(|| path.to_owned())
}

fn refused_next() -> Response {
    Page::new("Sign-in link refused")
        .status(StatusCode::BAD_REQUEST)
        .with_body(
            "<p role=\"alert\" class=\"alert\">This sign-in link would continue to an address \
             outside Tributary, so it was refused. Someone may have sent you a crafted link.</p>\
             <p><a href=\"/login\">Sign in</a></p>",
        )
        .render(None)
}

fn refused_cross_site() -> Response {
    Page::new("Sign-in refused")
        .status(StatusCode::FORBIDDEN)
        .with_body(
            "<p role=\"alert\" class=\"alert\">This sign-in was not sent from Tributary's own \
             sign-in page (or the page expired).</p><p><a href=\"/login\">Sign in again</a></p>",
        )
        .render(None)
}

fn throttled(wait: Duration) -> Response {
    let page = Page::new("Too many attempts")
        .status(StatusCode::TOO_MANY_REQUESTS)
        .with_body(&format!(
            "<p role=\"alert\" class=\"alert\">{}.</p>",
            esc(&throttled_message(wait))
        ))
        .render(None);
    with_retry_after(page, wait)
}

/// `scheme://host[:port]` of an absolute URL, lower-cased.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!scheme.is_empty() && !authority.is_empty())
        .then(|| format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether the browser says the request comes from this site (`Origin`, else `Referer`). A
/// request that says nothing passes: the nonce decides then.
fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let header_text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let claimed = match header_text(header::ORIGIN) {
        Some(origin) => origin.trim().to_ascii_lowercase(),
        None => match header_text(header::REFERER) {
            Some(referer) => match origin_of(referer) {
                Some(origin) => origin,
                None => return false,
            },
            None => return true,
        },
    };
    let by_host = header_text(header::HOST).is_some_and(|host| {
        claimed
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
    });
    by_host || origin_of(public_url).is_some_and(|public| public == claimed)
}

/// A sign-in nonce is 32 lower-case hex digits (a UUID v4 without dashes).
fn valid_nonce(nonce: &str) -> bool {
    nonce.len() == 32
        && nonce
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn login_page(next: &str, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
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
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <input type=\"hidden\" name=\"next\" value=\"{}\">\
             <div class=\"field\"><label for=\"token\">Tenant API token</label>\
             <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" \
             required{described}>{error_html}\
             <small>Your platform operator issues it (<code>tributary tenants token</code> or \
             <code>POST /v1/tenants/{{id}}/tokens</code>).</small></div>\
             <button type=\"submit\">Sign in</button></form>",
            esc(csrf),
            esc(next)
        ))
        .render(None)
}

pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = crate::query_pairs(query.as_deref());
    let Some(next) = safe_next(
        pairs
            .iter()
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v.as_str()),
    ) else {
        return refused_next();
    };
    if session::current(&headers, &state).await.is_some() {
        return Redirect::to(&next).into_response();
    }
    // Another tab's nonce is kept, so either tab's form works.
    let nonce = cookie_nonce(&headers).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let mut response = login_page(&next, &csrf_for(&nonce), None, StatusCode::OK);
    if let Some(cookie) = session::set_cookie(
        &state,
        NONCE_COOKIE,
        &nonce,
        "/login",
        "Strict",
        NONCE_LIFETIME,
    ) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn cookie_nonce(headers: &HeaderMap) -> Option<String> {
    session::cookie_value(headers, NONCE_COOKIE).filter(|nonce| valid_nonce(nonce))
}

pub async fn login(
    State(state): State<AppState>,
    PeerSource(source): PeerSource,
    headers: HeaderMap,
    form: FormData,
) -> Response {
    if let Err(wait) = state.auth_failures.check(source) {
        return throttled(wait);
    }
    let nonce = cookie_nonce(&headers);
    let csrf = match &nonce {
        Some(nonce)
            if same_origin(&headers, &state.runtime.config().public_url)
                && csrf_matches(&form, &csrf_for(nonce)) =>
        {
            csrf_for(nonce)
        }
        _ => return refused_cross_site(),
    };
    let Some(next) = safe_next(form.get("next")) else {
        return refused_next();
    };
    let again = |message: &str, status| login_page(&next, &csrf, Some(message), status);
    let token = form.get("token").unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        return again("Enter your API token.", StatusCode::UNPROCESSABLE_ENTITY);
    }
    let db = state.runtime.db();
    let record = match db.tenants().authenticate(token.as_bytes()).await {
        Ok(record) => record,
        Err(err) => {
            tracing::error!(error = %err, "the UI could not check a token");
            return again(
                "The token could not be checked right now; try again.",
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    let Some(record) = record else {
        state.auth_failures.record_failure(source);
        return again(
            "This token is unknown, revoked or expired.",
            StatusCode::UNAUTHORIZED,
        );
    };
    let Some(tenant_id) = record.tenant_id.as_deref() else {
        return again(
            "This is the operator token; sign in with a tenant's API token.",
            StatusCode::FORBIDDEN,
        );
    };
    // Sessions nobody can use any more go as new ones come.
    if let Err(err) = db.ui_sessions().purge_expired(session::IDLE_TIMEOUT).await {
        tracing::warn!(error = %err, "the UI could not purge ended sessions");
    }
    let id = match db
        .ui_sessions()
        .create(tenant_id, &record.id, session::LIFETIME)
        .await
    {
        Ok(id) => id,
        Err(err) => {
            tracing::error!(error = %err, "the UI could not open a session");
            return again(
                "Signing in failed right now; try again.",
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    // Failed sign-ins name no tenant: they are counted by the throttle above, not recorded.
    Audit::new(
        Actor {
            kind: ActorKind::UiSession,
            token_id: Some(record.id.clone()),
            token_name: Some(record.name.clone()),
        },
        Some(tenant_id),
        actions::UI_SIGN_IN,
        "ui_session",
    )
    .record_success(&state)
    .await;
    let mut response = Redirect::to(&next).into_response();
    let cookies = [
        session::session_cookie(&state, id.expose_str().unwrap_or_default()),
        session::set_cookie(&state, NONCE_COOKIE, "", "/login", "Strict", Duration::ZERO),
    ];
    for cookie in cookies.into_iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/runs?x=1")).as_deref(), Some("/runs?x=1"));
        assert_eq!(safe_next(None).as_deref(), Some(START_PAGE));
        assert_eq!(safe_next(Some("")).as_deref(), Some(START_PAGE));
        for refused in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/x",
            "/\0",
            " /x",
            "/x y",
            "/é",
            "evil.example",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(refused)), None, "{refused:?}");
        }
        assert_eq!(
            safe_next(Some(&format!("/{}", "a".repeat(MAX_NEXT_BYTES)))),
            None
        );
    }

    /// Resolves `location` against a page of the site as a browser would (WHATWG URL parsing).
    fn resolves_home(location: &str) -> bool {
        let page = url::Url::parse("https://tributary.example/login?next=x").unwrap();
        page.join(location)
            .is_ok_and(|target| target.origin() == page.origin())
    }

    proptest! {
        #[test]
        fn no_accepted_next_leaves_the_site(
            next in prop_oneof![
                any::<String>(),
                "[/\\\\\t\r\n a-z.:%0-9@?#]{0,12}",
                "/[/\\\\\t\r\n\u{0}\u{b}\u{c} ]{0,3}[a-z.:@]{0,10}",
            ]
        ) {
            if let Some(location) = safe_next(Some(&next)) {
                prop_assert!(HeaderValue::from_str(&location).is_ok(), "{location:?}");
                prop_assert!(resolves_home(&location), "{location:?}");
            }
        }
    }

    #[test]
    fn the_check_of_the_property_catches_an_off_site_location() {
        assert!(!resolves_home("/\t/evil.example"));
        assert!(!resolves_home("/\\evil.example"));
        assert!(resolves_home("/runs?x=1"));
    }

    #[test]
    fn origins_are_compared_by_scheme_host_and_port() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("ui.example:8443"));
        assert!(same_origin(&headers, "https://ui.example:8443"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&headers, "https://ui.example:8443"));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&headers, "https://ui.example:8443"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://ui.example:8443"),
        );
        assert!(same_origin(&headers, "https://elsewhere.example"));
        headers.remove(header::HOST);
        assert!(same_origin(&headers, "https://UI.example:8443/base/"));
        headers.remove(header::ORIGIN);
        headers.insert(
            header::REFERER,
            HeaderValue::from_static("https://evil.example/ui.example:8443"),
        );
        assert!(!same_origin(&headers, "https://ui.example:8443"));
    }
}
