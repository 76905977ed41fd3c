//! Turning a provider's HTTP answer into an [`OperationError`] of the right kind, with a message
//! that helps a user and never carries a secret.
//!
//! The rule, by status:
//! - 401: `Auth` (the credential was rejected, expired or revoked).
//! - 403: `RateLimit` when the answer says it is a throttle (GitHub's secondary limits answer 403
//!   with "rate limit" in the message, or with `X-RateLimit-Remaining: 0`, or with
//!   `Retry-After`), otherwise `Auth` (the credential lacks a permission or scope).
//! - 429: `RateLimit`.
//! - 400, 404, 422: `Config`, because the provider refused what the integration's settings
//!   asked for (a wrong org, tenant, customer id or group, a malformed search expression) and
//!   only a change of settings fixes it. An OAuth error body overrides this: `invalid_grant` and
//!   `access_denied` are `Auth`; `invalid_client`, `unauthorized_client` and `invalid_scope` are
//!   `Config` (the operator's client registration is wrong), except `invalid_scope` answering a
//!   refresh, which the OAuth client makes `Auth` (the grant no longer covers the scopes).
//! - Other 4xx: `Provider`.
//! - 5xx: `Provider` (a 503 that is still throttled after the retries becomes `RateLimit`).
//! - Transport failures (timeouts, refused connections, bad TLS): `Provider`.
//!
//! AWS names its errors by code rather than status (a throttle is often a 400
//! `ThrottlingException`), so an AWS error code overrides the status: the throttling codes are
//! `RateLimit`, the credential codes (`ExpiredToken`, `InvalidClientTokenId`,
//! `SignatureDoesNotMatch`, `AccessDenied`, ...) are `Auth`.

use reqwest::{Method, StatusCode, Url, header::HeaderMap};
use serde_json::Value;
use tributary_core::{ErrorKind, OperationError};

/// The longest excerpt of a provider's error message kept in our error messages.
const EXCERPT_CHARS: usize = 200;

/// `scheme://host[:port]/path` of `url`: no user info, query or fragment, which may carry secrets.
pub fn redacted_url(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

/// What an error message says about the request that failed: method and redacted URL.
pub fn request_label(method: &Method, url: &Url) -> String {
    format!("{method} {}", redacted_url(url))
}

/// The OAuth 2.0 `error` code of a token endpoint answer (`invalid_grant`), if the body has one.
pub fn oauth_error_code(body: &Value) -> Option<&str> {
    body.get("error").and_then(Value::as_str)
}

/// Whether a 403 answer is really a throttle.
pub fn is_throttling_403(headers: &HeaderMap, body: &Value) -> bool {
    let remaining_zero = ["x-ratelimit-remaining", "x-rate-limit-remaining"]
        .iter()
        .any(|name| header_str(headers, name).is_some_and(|v| v.trim() == "0"));
    let says_rate_limit = provider_message(body)
        .is_some_and(|message| message.to_ascii_lowercase().contains("rate limit"));
    remaining_zero || says_rate_limit || headers.contains_key(reqwest::header::RETRY_AFTER)
}

/// AWS error codes that mean "slow down".
const AWS_THROTTLING_CODES: [&str; 10] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
];

/// AWS error codes that mean the credentials are expired, unknown, mis-signed or not allowed.
const AWS_AUTH_CODES: [&str; 12] = [
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidSignatureException",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidAccessException",
    "AuthFailure",
];

/// The error code of an AWS answer: the `x-amzn-ErrorType` header, or the body's `__type`
/// (JSON protocols, possibly `namespace#Code`) or `Code` (REST-JSON and the XML of Query APIs,
/// read by [`error_body`]).
pub fn aws_error_code(headers: &HeaderMap, body: &Value) -> Option<String> {
    let code = header_str(headers, "x-amzn-errortype")
        .map(|value| value.split(':').next().unwrap_or(value).to_owned())
        .or_else(|| {
            body.get("__type")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| body.get("Code").and_then(Value::as_str).map(str::to_owned))?;
    let code = code.rsplit('#').next().unwrap_or(&code).trim().to_owned();
    (!code.is_empty()).then_some(code)
}

/// The JSON of an error answer's body; an XML error document (AWS Query APIs such as STS:
/// `<ErrorResponse><Error><Code>…</Code><Message>…</Message>`) becomes `{"Code", "Message"}`;
/// anything else `Null`. An AWS error code given only in the `x-amzn-ErrorType` header is added
/// as `Code`, so the message names it.
pub fn error_body(headers: &HeaderMap, body: &[u8]) -> Value {
    let mut json = parse_error_body(body);
    if let Some(code) = aws_error_code(headers, &json)
        && let Some(fields) = json.as_object_mut()
        && !fields.contains_key("__type")
        && !fields.contains_key("Code")
    {
        fields.insert("Code".to_owned(), Value::String(code));
    }
    json
}

fn parse_error_body(body: &[u8]) -> Value {
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        return json;
    }
    let text = String::from_utf8_lossy(body);
    if !text.trim_start().starts_with('<') {
        return Value::Null;
    }
    let mut fields = serde_json::Map::new();
    for tag in ["Code", "Message"] {
        if let Some(value) = crate::aws::xml_text(&text, tag) {
            fields.insert(tag.to_owned(), Value::String(value));
        }
    }
    if fields.is_empty() {
        Value::Null
    } else {
        Value::Object(fields)
    }
}

/// The error kind of a non-success answer, by the rule in the module documentation.
pub fn classify_status(status: StatusCode, headers: &HeaderMap, body: &Value) -> ErrorKind {
    if let Some(code) = aws_error_code(headers, body) {
        if AWS_THROTTLING_CODES.contains(&code.as_str()) {
            return ErrorKind::RateLimit;
        }
        if AWS_AUTH_CODES.contains(&code.as_str()) {
            return ErrorKind::Auth;
        }
    }
    if let Some(code) = oauth_error_code(body) {
        match code {
            "invalid_grant" | "access_denied" => return ErrorKind::Auth,
            "invalid_client" | "unauthorized_client" | "invalid_scope" => {
                return ErrorKind::Config;
            }
            _ => {}
        }
    }
    match status.as_u16() {
        401 => ErrorKind::Auth,
        403 if is_throttling_403(headers, body) => ErrorKind::RateLimit,
        403 => ErrorKind::Auth,
        429 => ErrorKind::RateLimit,
        400 | 404 | 422 => ErrorKind::Config,
        _ => ErrorKind::Provider,
    }
}

/// The error for a non-success answer: `"GET https://host/path returned 404 Not Found: <provider
/// message>"`. `secrets` are values the request carried (tokens); they are cut out of the
/// provider's message in case it echoes them.
pub fn status_error(
    label: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &Value,
    secrets: &[&str],
) -> OperationError {
    let kind = classify_status(status, headers, body);
    OperationError::new(kind, status_message(label, status, body, secrets))
}

/// The message part of [`status_error`], for callers that choose the kind themselves.
pub fn status_message(label: &str, status: StatusCode, body: &Value, secrets: &[&str]) -> String {
    let mut message = format!("{label} returned {status}");
    if let Some(excerpt) = provider_message(body).map(|m| excerpt(&m, secrets))
        && !excerpt.is_empty()
    {
        message.push_str(": ");
        message.push_str(&excerpt);
    }
    message
}

/// The error for a request that got no answer. reqwest's own message names the URL with its
/// query, so only the failure's nature is kept.
pub fn transport_error(label: &str, err: &reqwest::Error) -> OperationError {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_redirect() {
        "was redirected too often"
    } else if err.is_body() || err.is_decode() {
        "failed while reading the response body"
    } else if err.is_builder() {
        return OperationError::internal(format!("{label} could not be built"));
    } else {
        "failed"
    };
    match root_cause(err) {
        Some(cause) => OperationError::provider(format!("{label} {what}: {cause}")),
        None => OperationError::provider(format!("{label} {what}")),
    }
}

/// The innermost cause of a transport failure ("Connection refused (os error 111)", "`x`
/// resolves to no public address", "invalid peer certificate: UnknownIssuer"), so a refused
/// connection says why. Only the sources are read: reqwest's own message names the URL with
/// its query, the causes below it do not.
fn root_cause(err: &reqwest::Error) -> Option<String> {
    let mut cause: &dyn std::error::Error = std::error::Error::source(err)?;
    // Bounded: error chains are a handful of links deep.
    for _ in 0..16 {
        match cause.source() {
            Some(deeper) => cause = deeper,
            None => break,
        }
    }
    let text: String = cause.to_string().chars().take(200).collect();
    (!text.trim().is_empty()).then_some(text)
}

/// The human-readable message a provider put in its error body, by the shapes our providers use:
/// OAuth `error_description`, Okta `errorSummary`, GitHub/AWS `message`/`Message`, Graph and
/// Google `error.message`, Slack and OAuth `error`, Cloudflare and GraphQL `errors[0].message`.
pub fn provider_message(body: &Value) -> Option<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    // AWS: the code says more than the message ("ExpiredTokenException: The security token
    // included in the request is expired").
    if let Some(code) = aws_error_code(&HeaderMap::new(), body) {
        let message = text(body.get("message")).or_else(|| text(body.get("Message")));
        return Some(match message {
            Some(message) if !message.trim().is_empty() => format!("{code}: {message}"),
            _ => code,
        });
    }
    text(body.get("error_description"))
        .or_else(|| text(body.get("errorSummary")))
        .or_else(|| text(body.get("message")))
        .or_else(|| text(body.get("Message")))
        .or_else(|| text(body.pointer("/error/message")))
        .or_else(|| text(body.get("error")))
        .or_else(|| text(body.pointer("/errors/0/message")))
        .filter(|message| !message.trim().is_empty())
}

/// A short, single-line, secret-free excerpt of `message`: [`redact`](crate::redact::redact)
/// cuts out every piece and encoding of `secrets` before anything is shortened.
pub fn excerpt(message: &str, secrets: &[&str]) -> String {
    let cleaned: String = crate::redact::redact(message, secrets)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim();
    match cleaned.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &cleaned[..cut]),
        None => cleaned.to_owned(),
    }
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(status: u16, body: Value) -> ErrorKind {
        classify_status(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            &body,
        )
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(kind(401, Value::Null), ErrorKind::Auth);
        assert_eq!(
            kind(403, json!({"message": "Resource not accessible"})),
            ErrorKind::Auth
        );
        assert_eq!(
            kind(
                403,
                json!({"message": "You have exceeded a secondary rate limit."})
            ),
            ErrorKind::RateLimit
        );
        assert_eq!(kind(429, Value::Null), ErrorKind::RateLimit);
        assert_eq!(kind(400, Value::Null), ErrorKind::Config);
        assert_eq!(kind(404, Value::Null), ErrorKind::Config);
        assert_eq!(kind(422, Value::Null), ErrorKind::Config);
        assert_eq!(kind(409, Value::Null), ErrorKind::Provider);
        assert_eq!(kind(500, Value::Null), ErrorKind::Provider);
        assert_eq!(
            kind(400, json!({"error": "invalid_grant"})),
            ErrorKind::Auth
        );
        assert_eq!(
            kind(401, json!({"error": "invalid_client"})),
            ErrorKind::Config
        );
    }

    #[test]
    fn remaining_zero_makes_a_403_a_throttle() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        assert_eq!(
            classify_status(StatusCode::FORBIDDEN, &headers, &Value::Null),
            ErrorKind::RateLimit
        );
    }

    #[test]
    fn messages_come_from_the_provider_shapes() {
        let cases = [
            (
                json!({"errorSummary": "Not found: Resource not found: x (User)"}),
                "Not found",
            ),
            (
                json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}}),
                "Insufficient privileges",
            ),
            (
                json!({"ok": false, "error": "invalid_auth"}),
                "invalid_auth",
            ),
            (
                json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}]}),
                "Authentication error",
            ),
            (
                json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
                "expired or revoked",
            ),
        ];
        for (body, expected) in cases {
            let message = provider_message(&body).unwrap();
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn excerpts_are_short_single_line_and_redacted() {
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long, &[]).chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(
            excerpt("bad\ntoken abcd1234", &["abcd1234"]),
            "bad token [redacted]"
        );
    }

    #[test]
    fn a_quoted_prefix_of_a_token_is_redacted() {
        let token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
        let body = json!({"message": format!("Bad credentials for token {}...", &token[..12])});
        let message = status_message(
            "GET https://api.github.com/user",
            StatusCode::UNAUTHORIZED,
            &body,
            &[token],
        );
        assert_eq!(
            message,
            "GET https://api.github.com/user returned 401 Unauthorized: \
             Bad credentials for token [redacted]..."
        );
    }

    #[test]
    fn redacted_url_drops_query_and_user_info() {
        let url =
            Url::parse("https://user:pw@api.example.com:8443/v1/users?token=abc#frag").unwrap();
        assert_eq!(redacted_url(&url), "https://api.example.com:8443/v1/users");
    }

    #[test]
    fn aws_error_codes_decide_the_kind_whatever_the_status() {
        let none = HeaderMap::new();
        let throttled =
            json!({"__type": "com.amazonaws#ThrottlingException", "message": "Rate exceeded"});
        assert_eq!(
            classify_status(StatusCode::BAD_REQUEST, &none, &throttled),
            ErrorKind::RateLimit
        );
        assert_eq!(
            provider_message(&throttled).unwrap(),
            "ThrottlingException: Rate exceeded"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            "ExpiredTokenException:http://internal.amazon.com/"
                .parse()
                .unwrap(),
        );
        let body = error_body(
            &headers,
            br#"{"message": "The security token included in the request is expired"}"#,
        );
        assert_eq!(
            classify_status(StatusCode::FORBIDDEN, &headers, &body),
            ErrorKind::Auth
        );
        assert!(
            provider_message(&body)
                .unwrap()
                .starts_with("ExpiredTokenException: The security token")
        );
        // A 400 without an AWS code stays a settings problem.
        assert_eq!(
            classify_status(StatusCode::BAD_REQUEST, &none, &json!({"message": "bad"})),
            ErrorKind::Config
        );
    }

    #[test]
    fn xml_error_documents_are_read() {
        let xml = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                    <Message>Rate exceeded</Message></Error></ErrorResponse>";
        let body = error_body(&HeaderMap::new(), xml);
        assert_eq!(
            body,
            json!({"Code": "Throttling", "Message": "Rate exceeded"})
        );
        assert_eq!(
            classify_status(StatusCode::BAD_REQUEST, &HeaderMap::new(), &body),
            ErrorKind::RateLimit
        );
        assert_eq!(
            error_body(&HeaderMap::new(), b"<html>oops</html>"),
            Value::Null
        );
        assert_eq!(error_body(&HeaderMap::new(), b"plain"), Value::Null);
    }
}
