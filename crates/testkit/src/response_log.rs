//! The response log: when [`RESPONSE_LOG_ENV`] names a directory, every response a provider fake
//! sends is appended there as one JSON line. `scripts/fake-conformance` then checks each logged
//! response against the provider's official machine-readable description, so a fake cannot
//! drift from what the real service sends while every test that relies on it still passes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

/// The environment variable naming the directory the responses are logged to.
pub const RESPONSE_LOG_ENV: &str = "TRIBUTARY_FAKE_RESPONSE_LOG";

/// A response header by which a fake marks a response that leaves its provider's description on
/// purpose (a malformed page a robustness test asks for, say), with the reason as its value. The
/// log records the reason and the conformance check reports the response instead of failing.
pub const DEVIATION_HEADER: &str = "x-tributary-fake-deviation";

/// A fake's body larger than this is not logged whole; no fake sends one this large.
const MAX_LOGGED_BODY: usize = 16 * 1024 * 1024;

/// The directory responses are logged to, read once per process.
pub(crate) fn log_dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::var_os(RESPONSE_LOG_ENV)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
    })
    .as_ref()
}

/// Logs the response to `request`, as sent by the fake of `service`, then hands it on unchanged.
pub(crate) async fn log_response(service: &'static str, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let response = next.run(request).await;
    let Some(dir) = log_dir() else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, MAX_LOGGED_BODY).await {
        Ok(bytes) => bytes,
        Err(error) => {
            panic!("the {service} fake's response to {method} {path} could not be read: {error}")
        }
    };
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let deviation = parts
        .headers
        .get(DEVIATION_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let logged_body = if bytes.is_empty() {
        Value::Null
    } else if content_type
        .as_deref()
        .is_some_and(|ct| ct.contains("json"))
    {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    } else {
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    };
    let line = json!({
        "service": service,
        "method": method,
        "path": path,
        "query": query,
        "status": parts.status.as_u16(),
        "contentType": content_type,
        "body": logged_body,
        "deviation": deviation,
    });
    append(dir, service, &line);
    Response::from_parts(parts, Body::from(bytes))
}

/// Appends one line to this process's log of `service`; a test process runs many fakes of one
/// service at once, so the writes are serialised.
fn append(dir: &PathBuf, service: &str, line: &Value) {
    static FILES: Mutex<Vec<(String, File)>> = Mutex::new(Vec::new());
    let mut files = FILES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let index = match files.iter().position(|(name, _)| name == service) {
        Some(index) => index,
        None => {
            std::fs::create_dir_all(dir).expect("the fake response log directory can be created");
            let path = dir.join(format!("{service}.{}.jsonl", std::process::id()));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|error| panic!("{} cannot be opened: {error}", path.display()));
            files.push((service.to_owned(), file));
            files.len() - 1
        }
    };
    let mut text = line.to_string();
    text.push('\n');
    files[index]
        .1
        .write_all(text.as_bytes())
        .expect("the fake response log can be written");
}
