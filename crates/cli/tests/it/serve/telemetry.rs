//! `tributary serve`'s logs and traces, seen from outside: JSON log lines that name the request,
//! tenant and integration they concern, and spans exported over OTLP/HTTP to a local receiver
//! that decodes them with the OpenTelemetry project's own protobuf definitions.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value, trace::v1::Span,
};
use prost::Message;
use serde_json::{Value, json};

use crate::support::{command::spawn_serving, http::exchange};

/// An OTLP/HTTP receiver on loopback: every `POST /v1/traces` body, decoded.
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let received = Arc::clone(&received);
                std::thread::spawn(move || serve_connection(stream, &received));
            }
        });
        Self { url, requests }
    }

    /// The spans received so far, with the `service.name` of their resource.
    fn spans(&self) -> Vec<(String, Span)> {
        let mut spans = Vec::new();
        for request in self.requests.lock().unwrap().iter() {
            for resource in &request.resource_spans {
                let service = resource
                    .resource
                    .as_ref()
                    .and_then(|resource| text_attribute(&resource.attributes, "service.name"))
                    .unwrap_or_default();
                for scope in &resource.scope_spans {
                    for span in &scope.spans {
                        spans.push((service.clone(), span.clone()));
                    }
                }
            }
        }
        spans
    }
}

/// Reads HTTP/1.1 requests off one connection (the exporter keeps it open) and answers each
/// with an empty OTLP success.
fn serve_connection(stream: TcpStream, received: &Mutex<Vec<ExportTraceServiceRequest>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let status = if request_line.starts_with("POST /v1/traces ") {
            let request = ExportTraceServiceRequest::decode(body.as_slice())
                .expect("the body is an OTLP ExportTraceServiceRequest");
            received.lock().unwrap().push(request);
            "200 OK"
        } else {
            "404 Not Found"
        };
        write!(
            writer,
            "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
    }
}

fn text_attribute(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref()?.value.as_ref())
        .map(|value| match value {
            any_value::Value::StringValue(text) => text.clone(),
            any_value::Value::IntValue(number) => number.to_string(),
            other => format!("{other:?}"),
        })
}

/// One HTTP/1.1 request over a fresh connection; the answer's status and JSON body.
fn call(
    base: &str,
    method: &str,
    path: &str,
    token: &str,
    request_id: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let host = base.strip_prefix("http://").unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let (status, answer) = exchange(
        host,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
             x-request-id: {request_id}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

/// A `POST` that must answer 201 Created: the created resource.
fn created(url: &str, path: &str, token: &str, request_id: &str, body: &Value) -> Value {
    let (status, resource) = call(url, "POST", path, token, request_id, Some(body));
    assert_eq!(status, 201, "{resource}");
    resource
}

fn stop(mut child: Child) -> String {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

#[test]
fn json_logs_and_otlp_spans_name_the_request_tenant_and_integration() {
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            "log = \"info,tributary_server=debug\"\n\
             [telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"tributary-under-test\"\n",
            receiver.url
        ),
    )
    .unwrap();
    let (child, started) = spawn_serving(
        Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["serve", "--listen", "127.0.0.1:0", "--json", "--log-format"])
            .arg("json")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env_remove("TRIBUTARY_DATABASE_URL")
            .env_remove("TRIBUTARY_PUBLIC_URL")
            .env_remove("TRIBUTARY_LOG")
            .env_remove("RUST_LOG"),
        Stdio::piped(),
    );
    let url = started["url"].as_str().unwrap().to_owned();
    let operator = started["operatorToken"].as_str().unwrap().to_owned();

    let tenant = created(
        &url,
        "/v1/tenants",
        &operator,
        "telemetry-create-tenant",
        &json!({"name": "acme"}),
    );
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let issued = created(
        &url,
        &format!("/v1/tenants/{tenant_id}/tokens"),
        &operator,
        "telemetry-issue-token",
        &json!({"name": "telemetry"}),
    );
    let token = issued["token"].as_str().unwrap().to_owned();
    let (status, missing) = call(
        &url,
        "GET",
        "/v1/integrations/int_telemetry_missing",
        &token,
        "telemetry-read-integration",
        None,
    );
    assert_eq!(status, 404, "{missing}");

    let stderr = stop(child);

    // Every line is one JSON object; the access line of the tenant's request names the
    // request, the tenant and the integration of its path.
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"))
        })
        .collect();
    let answered = lines
        .iter()
        .find(|line| {
            line["message"] == "answered"
                && line["spans"][0]["request_id"] == "telemetry-read-integration"
        })
        .unwrap_or_else(|| panic!("no access line for the request in {stderr}"));
    let request_span = &answered["spans"][0];
    assert_eq!(request_span["name"], "http.request", "{answered}");
    assert_eq!(request_span["tenant_id"], tenant_id.as_str(), "{answered}");
    assert_eq!(
        request_span["integration_id"], "int_telemetry_missing",
        "{answered}"
    );
    assert_eq!(answered["status"], 404, "{answered}");
    assert!(
        !stderr.contains(&token) && !stderr.contains(&operator),
        "a token was logged: {stderr}"
    );

    // The spans reached the receiver, flushed on SIGTERM at the latest.
    let spans = receiver.spans();
    let (service, span) = spans
        .iter()
        .find(|(_, span)| {
            text_attribute(&span.attributes, "request_id").as_deref()
                == Some("telemetry-read-integration")
        })
        .unwrap_or_else(|| panic!("no span of the request among {spans:#?}"));
    assert_eq!(service, "tributary-under-test");
    assert_eq!(span.name, "GET /v1/integrations/{integration_id}");
    assert_eq!(
        text_attribute(&span.attributes, "tenant_id").as_deref(),
        Some(tenant_id.as_str())
    );
    assert_eq!(
        text_attribute(&span.attributes, "http.response.status_code").as_deref(),
        Some("404")
    );
    let created = spans
        .iter()
        .find(|(_, span)| {
            text_attribute(&span.attributes, "request_id").as_deref()
                == Some("telemetry-create-tenant")
        })
        .expect("the tenant creation's span");
    assert_eq!(created.1.name, "POST /v1/tenants");
    assert_ne!(
        created.1.trace_id, span.trace_id,
        "two requests are two traces"
    );
}

#[test]
fn a_wrong_log_filter_or_format_stops_serve_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(args)
            .env_remove("TRIBUTARY_LOG")
            .env_remove("RUST_LOG")
            .env_remove("TRIBUTARY_LOG_FORMAT")
            .env_remove("TRIBUTARY_DATABASE_URL");
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = serve(&[("RUST_LOG", "tributary=loud")], &[]);
    assert_eq!(code, Some(6), "{stderr}");
    assert!(stderr.contains("RUST_LOG"), "{stderr}");
    let (code, stderr) = serve(&[("TRIBUTARY_LOG_FORMAT", "xml")], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("xml"), "{stderr}");
}
