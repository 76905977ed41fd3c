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
use tributary_runtime::{ConnectOutcome, ConnectRequest, Runtime, RuntimeConfig};
use tributary_server::{RateLimitConfig, ServerConfig};
use tributary_store::keystore::KeyRing;
use tributary_webhooks::{StandardWebhooks, sign_standard};

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

struct Server {
    base: String,
    endpoint: String,
    secret: Secret,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _db: tributary_store::testing::TestDb,
}

async fn start(config: ServerConfig) -> Server {
    tributary_providerkit::install_crypto_provider();
    let backend = tributary_store::testing::sqlite().await;
    let registry = Registry::build(vec![definition()], &CoreChecksOnly).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let runtime = Runtime::new(
        registry,
        backend.db.clone(),
        KeyRing::generate(),
        RuntimeConfig::new(base.clone()),
    );
    let tenant = runtime.db().tenants().create("t").await.unwrap();
    let ConnectOutcome::Connected(done) = runtime
        .connect(ConnectRequest {
            tenant_id: tenant.id,
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
    assert_eq!(endpoint.url, format!("{base}/v1/webhooks/{}", endpoint.id));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tributary_server::serve(runtime, config, listener, async {
        let _ = stopped.await;
    }));
    Server {
        base,
        endpoint: endpoint.id,
        secret: endpoint.secret,
        stop: Some(stop),
        task,
        _db: backend,
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

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn signed_deliveries_are_accepted_once_and_bad_ones_refused() {
    let server = start(ServerConfig::default()).await;
    let body = br#"{"type":"ping"}"#;
    let response = server.signed("msg_1", body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let ack: Value = response.json().await.unwrap();
    assert_eq!(ack["outcome"], "accepted");
    assert_eq!(ack["duplicate"], false);
    let again: Value = server
        .signed("msg_1", body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["duplicate"], true);

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
    let unsigned = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/{}", server.base, server.endpoint))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let unknown = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/whe_nope", server.base))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
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
    let response = server.signed("msg_big", &big).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let response = server
        .signed("msg_headers", b"{}")
        .header("x-padding", "a".repeat(4096))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    // The burst is used up (two requests above count), then 429 with a Retry-After.
    let ok = server
        .signed("msg_ok", br#"{"type":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let limited = server
        .signed("msg_more", br#"{"type":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after));
    // Another endpoint (here: an unknown one) has its own budget.
    let other = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/whe_other", server.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    tokio::time::sleep(Duration::from_millis(10)).await;
    server.stop().await;
}
