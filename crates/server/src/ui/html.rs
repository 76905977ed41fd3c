//! HTML building blocks of the web UI: escaping, the page frame, and the security headers every
//! page carries. Pages are plain server-rendered HTML; the only script is `app.js`, served by the
//! binary itself.

use std::fmt::Write;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::identity::UiSession;

/// Escapes text for an HTML text node or a double-quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query or path component.
pub fn url_part(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A value pretty-printed as JSON inside a `<pre>`.
pub fn json_block(value: &serde_json::Value, label: &str) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    format!(
        "<pre class=\"json\" tabindex=\"0\" aria-label=\"{}\">{}</pre>",
        esc(label),
        esc(&text)
    )
}

/// A Unix millisecond time as UTC text.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The hidden field that carries the session's CSRF token in every form.
pub fn csrf_field(session: &UiSession) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&session.csrf)
    )
}

/// A status badge (`connected`, `needs_reauth`, `succeeded`, ...).
pub fn badge(status: &str) -> String {
    let tone = match status {
        "connected" | "succeeded" => "ok",
        "failed" | "needs_reauth" | "error" | "disabled" | "suspended" => "bad",
        "running" | "pending" => "busy",
        _ => "neutral",
    };
    format!(
        "<span class=\"badge {tone}\">{}</span>",
        esc(&status.replace('_', " "))
    )
}

/// A whole page: the frame (navigation for a signed-in tenant, a sign-out form) around `body`.
pub struct Page {
    title: String,
    body: String,
    status: StatusCode,
    refresh_seconds: Option<u32>,
}

impl Page {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            body: String::new(),
            status: StatusCode::OK,
            refresh_seconds: None,
        }
    }

    /// A page of just `title` and `html` for the signed-in `session` (most pages are no more).
    pub fn signed_in(title: impl Into<String>, html: &str, session: &UiSession) -> Response {
        Self::new(title).with_body(html).render(Some(session))
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Reloads the page every few seconds (a run that is still going).
    pub fn refresh_every(mut self, seconds: u32) -> Self {
        self.refresh_seconds = Some(seconds);
        self
    }

    pub fn with_body(mut self, html: &str) -> Self {
        self.body.push_str(html);
        self
    }

    pub fn render(self, session: Option<&UiSession>) -> Response {
        let mut html = String::with_capacity(self.body.len() + 2048);
        let _ = write!(
            html,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{} · Tributary</title>\
             <link rel=\"icon\" href=\"data:,\">\
             <link rel=\"stylesheet\" href=\"/ui/app.css\">\
             <script src=\"/ui/app.js\" defer></script>",
            esc(&self.title)
        );
        if let Some(seconds) = self.refresh_seconds {
            let _ = write!(html, "<meta http-equiv=\"refresh\" content=\"{seconds}\">");
        }
        html.push_str("</head><body><a class=\"skip\" href=\"#main\">Skip to content</a><header>");
        html.push_str("<a class=\"brand\" href=\"/\">Tributary</a>");
        if let Some(session) = session {
            let _ = write!(
                html,
                "<nav aria-label=\"Main\"><a href=\"/integrations\">Integrations</a>\
                 <a href=\"/catalog\">Catalog</a><a href=\"/runs\">Runs</a>\
                 <a href=\"/records\">Records</a><a href=\"/audit\">Audit log</a>\
                 <a href=\"/playground\">Mapping playground</a>\
                 <a href=\"/sessions\">Sessions</a></nav>\
                 <form method=\"post\" action=\"/logout\" class=\"signout\">{}\
                 <button type=\"submit\" class=\"link\">Sign out</button></form>",
                csrf_field(session)
            );
        }
        let _ = write!(
            html,
            "</header><main id=\"main\"><h1>{}</h1>{}</main></body></html>",
            esc(&self.title),
            self.body
        );
        let mut response = (self.status, html).into_response();
        secure_headers(&mut response, "text/html; charset=utf-8");
        response
    }
}

/// The headers of every UI answer: no framing, no sniffing, scripts and styles from the binary
/// only, nothing cached (pages show tenant data).
pub fn secure_headers(response: &mut Response, content_type: &'static str) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' https: data:; script-src 'self'; \
             style-src 'self'; form-action 'self' https: http:; frame-ancestors 'none'; \
             base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_part("a b&c/d"), "a+b%26c%2Fd");
    }
}
