//! Webhook intake over HTTP: Standard Webhooks signatures on a per-integration endpoint, and the
//! limits that stop a bad request before any handler (body and header size, rate per endpoint),
//! plus health, readiness, metrics and the callback page.

use std::{collections::BTreeMap, time::Duration};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    ConnectionRegistration, CredentialRegistration, Definition, DefinitionId, DefinitionSpec,
    Registry, ResolvedEvent, Secret, StableName, VerifyError, WebhookEvent, WebhookOutcome,
    WebhookRegistration, registry::CoreChecksOnly,
};
use tributary_runtime::{ConnectOutcome, ConnectRequest};
use tributary_server::{RateLimitConfig, ServerConfig};
use tributary_store::webhooks::DeliveryStatus;
use tributary_webhooks::{StandardWebhooks, sign_standard};

use crate::support::{TestServer, json_of};
use tributary_store::testing::{TestDb, each_backend};

mod graph_notifications;

#[derive(StableName, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HooksToken {
    #[allow(dead_code)]
    token: Secret,
}

#[derive(StableName, Deserialize)]
struct Pinged {}

fn definition() -> Definition {
    Definition::new(DefinitionSpec::new(DefinitionId::new("hooks"), "Hooks"))
        .credential(CredentialRegistration::form::<HooksToken>("Token", ""))
        .connection(ConnectionRegistration::new(HooksToken::NAME, "Token"))
        .webhook(
            WebhookRegistration::new("events")
                .verify(|request, secret| StandardWebhooks::default().verify(request, secret))
                .handshake(tributary_webhooks::graph_validation_token)
                .resolve_event(|request| {
                    let payload: Value = serde_json::from_slice(&request.body)
                        .map_err(|_| VerifyError("the body is not JSON".into()))?;
                    Ok(ResolvedEvent {
                        name: (payload["type"] == "ping").then(|| Pinged::NAME.to_owned()),
                        delivery_id: request.header("webhook-id").map(str::to_owned),
                        provider_event: payload["type"].as_str().unwrap_or_default().to_owned(),
                        action: String::new(),
                        payload,
                    })
                })
                .event(
                    WebhookEvent::<Pinged>::new("A ping")
                        .handle(|_request, _event| async { Ok(WebhookOutcome::default()) }),
                ),
        )
}

/// The server with one `hooks` integration connected, and its webhook endpoint.
struct Server {
    running: TestServer,
    endpoint: String,
    secret: Secret,
    tenant: String,
    /// An operator API token.
    operator: String,
}

/// The server's address, runtime and store, as `server.base` and so on.
impl std::ops::Deref for Server {
    type Target = TestServer;

    fn deref(&self) -> &TestServer {
        &self.running
    }
}

/// A server on SQLite (for the tests of HTTP-only behaviour).
async fn start(config: ServerConfig) -> Server {
    start_on(tributary_store::testing::sqlite().await, config).await
}

async fn start_on(backend: TestDb, config: ServerConfig) -> Server {
    let registry = Registry::build(vec![definition()], &CoreChecksOnly).unwrap();
    let running = TestServer::start(backend, registry, config).await;
    let runtime = &running.runtime;
    let tenant = runtime.db().tenants().create("t").await.unwrap();
    let ConnectOutcome::Connected(done) = runtime
        .connect(ConnectRequest {
            tenant_id: tenant.id.clone(),
            definition_id: "hooks".into(),
            connection: "HooksToken".into(),
            credentials: BTreeMap::from([("HooksToken".to_owned(), json!({"token": "t0k"}))]),
            ..Default::default()
        })
        .await
        .unwrap()
    else {
        panic!("redirected")
    };
    let endpoint = done.webhook_endpoints[0].clone();
    assert_eq!(
        endpoint.url,
        format!("{}/v1/webhooks/{}", running.base, endpoint.id)
    );
    Server {
        endpoint: endpoint.id,
        secret: endpoint.secret,
        tenant: tenant.id,
        operator: running.operator_token().await,
        running,
    }
}

impl Server {
    fn signed(&self, id: &str, body: &[u8]) -> reqwest::RequestBuilder {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        reqwest::Client::new()
            .post(format!("{}/v1/webhooks/{}", self.base, self.endpoint))
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header(
                "webhook-signature",
                sign_standard(&self.secret, id, now, body).unwrap(),
            )
            .body(body.to_vec())
    }

    /// Posts `body` unsigned to `path` of the server.
    async fn post_unsigned(&self, path: &str, body: &[u8]) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Sends a delivery signed with the endpoint's secret.
    async fn deliver(&self, id: &str, body: &[u8]) -> reqwest::Response {
        self.signed(id, body).send().await.unwrap()
    }

    async fn stop(self) {
        self.running.stop().await;
    }
}

#[tokio::test]
async fn signed_deliveries_are_accepted_once_and_bad_ones_refused() {
    let server = start(ServerConfig::default()).await;
    let body = br#"{"type":"ping"}"#;
    let response = server.deliver("msg_1", body).await;
    assert_eq!(response.status(), 200);
    let ack: Value = response.json().await.unwrap();
    assert_eq!(ack["outcome"], "accepted");
    assert_eq!(ack["duplicate"], false);
    let again = json_of(server.signed("msg_1", body)).await;
    assert_eq!(again["duplicate"], true);
    // The same id with another (correctly signed) body is refused, not taken for a copy.
    let reused = server.deliver("msg_1", br#"{"type":"pong"}"#).await;
    assert_eq!(reused.status(), 409);
    let text = reused.text().await.unwrap();
    assert!(text.contains("delivery_id_reused"), "{text}");

    // Tampered body, wrong signature, missing headers: 401, and nothing about the secret.
    let tampered = server
        .signed("msg_2", body)
        .body(r#"{"type":"pong"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);
    let text = tampered.text().await.unwrap();
    assert!(text.contains("unverified"), "{text}");
    assert!(!text.contains(server.secret.expose()));
    // A delivery id that is not UTF-8 is refused, not decoded lossily into another's.
    let not_utf8 = server
        .signed("msg_3", body)
        .header(
            "webhook-id",
            reqwest::header::HeaderValue::from_bytes(b"msg_\xff").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(not_utf8.status(), 400);
    let text = not_utf8.text().await.unwrap();
    assert!(
        text.contains("invalid_header") && text.contains("webhook-id"),
        "{text}"
    );
    let unsigned = server
        .post_unsigned(&format!("/v1/webhooks/{}", server.endpoint), body)
        .await;
    assert_eq!(unsigned.status(), 401);
    let unknown = server.post_unsigned("/v1/webhooks/whe_nope", body).await;
    assert_eq!(unknown.status(), 404);

    // A Graph-style validation handshake is answered as plain text.
    let handshake = reqwest::Client::new()
        .post(format!(
            "{}/v1/webhooks/{}?validationToken=abc%20123",
            server.base, server.endpoint
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), 200);
    assert_eq!(handshake.text().await.unwrap(), "abc 123");

    // Health, readiness and metrics.
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let r = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let metrics = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("tributary_connects_total"), "{metrics}");

    // A callback without a session is refused with a page that says why.
    let callback = client
        .get(format!("{}/v1/auth/callback?code=x", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 400);
    assert!(callback.text().await.unwrap().contains("no state"));
    server.stop().await;
}

#[tokio::test]
async fn oversized_and_too_frequent_requests_stop_before_any_handler() {
    let server = start(ServerConfig {
        max_body_bytes: 1024,
        max_header_bytes: 2048,
        webhook_rate: RateLimitConfig {
            per_second: 0.5,
            burst: 3.0,
        },
        ..ServerConfig::default()
    })
    .await;
    let big = vec![b' '; 2048];
    let response = server.deliver("msg_big", &big).await;
    assert_eq!(response.status(), 413);
    let response = server
        .signed("msg_headers", b"{}")
        .header("x-padding", "a".repeat(4096))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    // Refused requests do not spend the integration's budget of verified deliveries: its
    // burst of three is all there, then 429 with a Retry-After.
    for n in 0..3 {
        let ok = server
            .deliver(&format!("msg_ok_{n}"), br#"{"type":"ping"}"#)
            .await;
        assert_eq!(ok.status(), 200, "delivery {n}");
    }
    let limited = server.deliver("msg_more", br#"{"type":"ping"}"#).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after));
    tokio::time::sleep(Duration::from_millis(10)).await;
    server.stop().await;
}

/// A client whose connections come from `source` (any 127.0.0.0/8 address reaches the server).
fn client_from(source: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(source))
        .build()
        .unwrap()
}

/// An unsigned flood from one address spends that address's budget of refused requests, never
/// the integration's budget of verified deliveries: every correctly signed delivery from
/// another address is accepted, while the flooding address ends up refused at the door.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unsigned_flood_never_gets_a_signed_delivery_refused() {
    let server = start(ServerConfig {
        // As tight as the defaults are generous: a flood of 400 would have spent it ten times.
        webhook_rate: RateLimitConfig {
            per_second: 5.0,
            burst: 40.0,
        },
        ..ServerConfig::default()
    })
    .await;
    let server = std::sync::Arc::new(server);
    let flooder = client_from([127, 0, 0, 2]);
    let flood = {
        let server = std::sync::Arc::clone(&server);
        tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            for n in 0..400 {
                let status = flooder
                    .post(format!("{}/v1/webhooks/{}", server.base, server.endpoint))
                    .header("webhook-id", format!("forged_{n}"))
                    .header("webhook-timestamp", "1")
                    .header("webhook-signature", "v1,Zm9yZ2Vk")
                    .body(r#"{"type":"ping"}"#)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                *statuses.entry(status).or_default() += 1;
            }
            statuses
        })
    };
    let sender = client_from([127, 0, 0, 3]);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let mut refused = Vec::new();
    for n in 0..20 {
        let id = format!("signed_{n}");
        let body = br#"{"type":"ping"}"#;
        let at = now();
        let status = sender
            .post(format!("{}/v1/webhooks/{}", server.base, server.endpoint))
            .header("webhook-id", &id)
            .header("webhook-timestamp", at.to_string())
            .header(
                "webhook-signature",
                sign_standard(&server.secret, &id, at, body).unwrap(),
            )
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status();
        if status != 200 {
            refused.push((n, status));
        }
    }
    let flood = flood.await.unwrap();
    assert!(refused.is_empty(), "signed deliveries refused: {refused:?}");
    assert!(
        flood.get(&429).copied().unwrap_or(0) > 200,
        "the flooding address is refused at the door once its budget is spent: {flood:?}"
    );
    assert_eq!(flood.get(&200), None, "{flood:?}");
    let server = std::sync::Arc::into_inner(server).expect("the flood task is done");
    server.stop().await;
}

/// A `ping` whose payload nests `depth` levels: the outer object, then arrays.
fn nested_ping(depth: usize) -> Vec<u8> {
    let arrays = depth - 1;
    format!(
        r#"{{"type":"ping","nested":{}{}}}"#,
        "[".repeat(arrays),
        "]".repeat(arrays)
    )
    .into_bytes()
}

#[each_backend]
async fn a_payload_too_deep_to_store_gets_a_4xx_and_one_at_the_limit_is_processed(backend: TestDb) {
    let server = start_on(backend, ServerConfig::default()).await;
    // 127 levels parse (serde_json reads at most 127), but the stored delivery wraps the
    // payload one level deeper: this was a 503 on every provider retry, forever.
    for _ in 0..2 {
        let response = server.deliver("msg_deep", &nested_ping(127)).await;
        assert_eq!(response.status(), 422);
        let refusal: Value = response.json().await.unwrap();
        assert_eq!(refusal["error"]["code"], "payload_too_deep", "{refusal}");
    }
    let stored = server
        .db
        .db
        .webhooks(&server.ring)
        .list_deliveries(&server.tenant, &server.endpoint, 10)
        .await
        .unwrap();
    assert!(stored.is_empty(), "refused before storage: {stored:?}");

    // At the limit: acknowledged, stored and processed by the worker.
    let response = server
        .deliver(
            "msg_at_limit",
            &nested_ping(tributary_runtime::MAX_PAYLOAD_DEPTH),
        )
        .await;
    assert_eq!(response.status(), 200);
    let ack: Value = response.json().await.unwrap();
    assert_eq!(ack["queued"], true, "{ack}");
    let delivery = ack["delivery"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = server
            .db
            .db
            .webhooks(&server.ring)
            .get_delivery(&server.tenant, delivery)
            .await
            .unwrap()
            .unwrap()
            .status;
        if status == DeliveryStatus::Done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the delivery was not processed: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

/// How a raw request sends its body.
#[derive(Clone, Copy)]
enum Upload {
    /// Chunked, this many bytes made as they are sent (64 KiB at a time, never held whole).
    Chunked(usize),
    /// Chunked, one chunk and then nothing more, never ending.
    ChunkedStalled,
    /// `Content-Length: n` declared and no byte of the body sent.
    DeclaredOnly(usize),
}

/// Stops the sending half of a raw request however the request ends (also when a caller's
/// timeout drops it), so no connection outlives its test.
struct AbortOnDrop(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends `POST path` over HTTP/1.1 and returns the status code of the answer, whether it came
/// before the body ended or after. Gives up after 20 seconds.
async fn raw_post(addr: &str, path: &str, headers: &[(&str, &str)], upload: Upload) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&match upload {
        Upload::DeclaredOnly(length) => format!("content-length: {length}\r\n\r\n"),
        _ => "transfer-encoding: chunked\r\n\r\n".to_owned(),
    });
    let sending = AbortOnDrop(tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        match upload {
            Upload::Chunked(total) => {
                for _ in 0..total.div_ceil(chunk.len()) {
                    writer.write_all(&framed).await?;
                }
                writer.write_all(b"0\r\n\r\n").await?;
            }
            Upload::ChunkedStalled => writer.write_all(&framed).await?,
            Upload::DeclaredOnly(_) => {}
        }
        // Keep the connection open: the body is still "coming".
        std::future::pending::<()>().await;
        std::io::Result::Ok(())
    }));
    let answered = tokio::time::timeout(Duration::from_secs(20), async {
        let mut received = Vec::new();
        let mut buffer = [0u8; 1024];
        while !received.windows(2).any(|w| w == b"\r\n") {
            let n = reader.read(&mut buffer).await.expect("the answer");
            assert!(n > 0, "the connection closed without an answer");
            received.extend_from_slice(&buffer[..n]);
        }
        let line = String::from_utf8_lossy(&received);
        line.split(' ').nth(1).unwrap().parse::<u16>().unwrap()
    })
    .await;
    drop(sending);
    answered.unwrap_or_else(|_| panic!("no answer to POST {path} within 20 s"))
}

/// Names, in a child process started by [`measured_alone`], the one test it runs.
const MEASURED_ALONE: &str = "TRIBUTARY_TEST_MEASURED_ALONE";

/// The resident set belongs to the whole process, and this test binary runs the tests of every
/// area at once, so a test that measures it runs again in a process of its own: this binary,
/// filtered to that one test. Returns `true` in that process, where the test goes on to measure;
/// in the test's first process it waits for the child, fails when the child failed or ran no
/// test, and returns `false`.
fn measured_alone(test: &str) -> bool {
    if std::env::var(MEASURED_ALONE).as_deref() == Ok(test) {
        return true;
    }
    // `it::webhook_http` -> `webhook_http`: the test harness names tests without the crate.
    let module = module_path!()
        .split_once("::")
        .map_or("", |(_, module)| module);
    let path = format!("{module}::{test}");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([path.as_str(), "--exact", "--test-threads=1"])
        .env(MEASURED_ALONE, test)
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{path} in a process of its own:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    false
}

/// This process's resident set now (`VmRSS`) in KiB.
fn resident_kib() -> u64 {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// The highest resident set of this process while `work` runs, in KiB: the kernel's peak
/// (`VmHWM`, reset first) when it can be reset, and samples every 2 ms either way.
async fn peak_resident_kib<T>(work: impl std::future::Future<Output = T>) -> (T, u64) {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    };
    let peak_resets = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let done = Arc::new(AtomicBool::new(false));
    let sampled = Arc::new(AtomicU64::new(resident_kib()));
    let sampler = {
        let (done, sampled) = (done.clone(), sampled.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                sampled.fetch_max(resident_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let output = work.await;
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let mut peak = sampled.load(Ordering::Relaxed).max(resident_kib());
    if peak_resets {
        peak = peak.max(status_kib("VmHWM:"));
    }
    (output, peak)
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_oversized_uploads_are_cut_off_while_they_stream(backend: TestDb) {
    // The test to run again is the one generated for this backend.
    let test = format!(
        "concurrent_oversized_uploads_are_cut_off_while_they_stream_{}",
        backend.name
    );
    if !measured_alone(&test) {
        return;
    }
    const UPLOAD: usize = 50 * 1024 * 1024;
    const UPLOADS: usize = 8;

    let server = start_on(backend, ServerConfig::default()).await;
    let path = format!("/v1/webhooks/{}", server.endpoint);
    // A warm-up request, so the connection pool and the router's first allocations are not
    // counted as growth.
    assert_eq!(
        raw_post(&server.addr, &path, &[], Upload::Chunked(UPLOAD)).await,
        413
    );
    let before = resident_kib();
    let (statuses, peak) = peak_resident_kib(async {
        let uploads: Vec<_> = (0..UPLOADS)
            .map(|_| {
                let (addr, path) = (server.addr.clone(), path.clone());
                tokio::spawn(
                    async move { raw_post(&addr, &path, &[], Upload::Chunked(UPLOAD)).await },
                )
            })
            .collect();
        let mut statuses = Vec::new();
        for upload in uploads {
            statuses.push(upload.await.unwrap());
        }
        statuses
    })
    .await;
    assert_eq!(statuses, [413; UPLOADS]);
    let grown_mib = peak.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 64,
        "{UPLOADS} uploads of 50 MiB grew the resident set by {grown_mib} MiB"
    );
    // A declared length above the limit is refused before any of the body is sent.
    assert_eq!(
        raw_post(&server.addr, &path, &[], Upload::DeclaredOnly(UPLOAD)).await,
        413
    );
    server.stop().await;
}

#[each_backend]
async fn an_unknown_endpoint_is_refused_without_reading_the_body(backend: TestDb) {
    let server = start_on(backend, ServerConfig::default()).await;
    // The body never ends: only an answer that does not wait for it arrives.
    for path in [
        "/v1/webhooks/whe_nope".to_owned(),
        "/v1/webhooks/apps/hooks/nope".to_owned(),
        "/v1/webhooks/apps/nope/events".to_owned(),
    ] {
        let status = raw_post(&server.addr, &path, &[], Upload::ChunkedStalled).await;
        assert_eq!(status, 404, "{path}");
    }
    // A known endpoint waits for the body, so the answer above is not the server giving up.
    let path = format!("/v1/webhooks/{}", server.endpoint);
    let waiting = tokio::time::timeout(
        Duration::from_millis(500),
        raw_post(&server.addr, &path, &[], Upload::ChunkedStalled),
    )
    .await;
    assert!(waiting.is_err(), "answered before the body ended");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_group_cuts_an_oversized_body_off_while_it_streams() {
    if !measured_alone("every_route_group_cuts_an_oversized_body_off_while_it_streams") {
        return;
    }
    const UPLOAD: usize = 50 * 1024 * 1024;
    let server = start(ServerConfig::default()).await;
    let operator = format!("Bearer {}", server.operator);
    let webhook = format!("/v1/webhooks/{}", server.endpoint);
    let routes: [(&str, Vec<(&str, &str)>); 4] = [
        // The REST API's JSON bodies (`server.max_body_bytes`).
        (
            "/v1/tenants",
            vec![
                ("authorization", operator.as_str()),
                ("content-type", "application/json"),
            ],
        ),
        // The web UI's forms (256 KiB).
        (
            "/login",
            vec![("content-type", "application/x-www-form-urlencoded")],
        ),
        // SCIM (axum's default body limit, 2 MB).
        (
            "/scim/v2/nope/Users",
            vec![("content-type", "application/scim+json")],
        ),
        // Webhook intake (`server.max_body_bytes`).
        (webhook.as_str(), vec![("content-type", "application/json")]),
    ];
    // Warm-up, so first-use allocations are not counted as growth.
    for (path, headers) in &routes {
        assert_eq!(
            raw_post(&server.addr, path, headers, Upload::Chunked(UPLOAD)).await,
            413,
            "{path}"
        );
    }
    let before = resident_kib();
    let (statuses, peak) = peak_resident_kib(async {
        let mut statuses = Vec::new();
        for (path, headers) in &routes {
            let status = raw_post(&server.addr, path, headers, Upload::Chunked(UPLOAD)).await;
            statuses.push((*path, status));
        }
        statuses
    })
    .await;
    for (path, status) in statuses {
        assert_eq!(status, 413, "{path}");
    }
    let grown_mib = peak.saturating_sub(before) / 1024;
    assert!(grown_mib < 64, "the resident set grew by {grown_mib} MiB");
    server.stop().await;
}
