//! The HTTP client against a loopback server: retries, throttling headers, error kinds and the
//! promise that no secret ends up in an error or a Debug output.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_core::{ErrorKind, Secret};
use tributary_providerkit::{
    AuthHeader, HttpProfile, ProviderHttp, RateLimit, RateLimiters, RetryPolicy, ScopeKey, Url,
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param},
};

use crate::support::{http, http_with, now_secs, profile};

#[tokio::test]
async fn retries_a_429_after_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/things"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/things"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let body: Value = http(&server).get("/things").send_json().await.unwrap();
    assert_eq!(body, json!({"ok": true}));
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After was not honoured"
    );
}

#[tokio::test]
async fn a_429_storm_exhausts_retries_into_a_rate_limit_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"errorSummary": "API call exceeded rate limit due to too many requests."})),
        )
        .expect(4)
        .mount(&server)
        .await;
    let err = http(&server).get("/api/v1/users").send().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimit);
    assert_eq!(err.retry_after, Some(Duration::ZERO));
    assert!(err.message.contains("429"), "{err}");
    assert!(err.message.contains("after 3 retries"), "{err}");
    assert!(err.message.contains("/api/v1/users"), "{err}");
}

#[tokio::test]
async fn storm_without_retry_after_uses_backoff_and_reports_a_wait() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429))
        .expect(2)
        .mount(&server)
        .await;
    let mut profile = profile();
    profile.retry = RetryPolicy {
        max_retries: 1,
        base_delay: Duration::from_millis(20),
        max_wait: Duration::from_secs(1),
    };
    let err = http_with(profile, &server)
        .get("/x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimit);
    let wait = err.retry_after.expect("a wait is reported");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(40),
        "{wait:?}"
    );
}

#[tokio::test]
async fn okta_reset_beyond_the_cap_fails_at_once_with_the_reset_wait() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-rate-limit-limit", "600")
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header(
                    "x-rate-limit-reset",
                    (now_secs() + 120).to_string().as_str(),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = http(&server).get("/api/v1/users").send().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimit);
    let wait = err.retry_after.unwrap().as_secs();
    assert!((115..=120).contains(&wait), "{wait}");
}

#[tokio::test]
async fn okta_reset_in_the_past_is_retried_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-rate-limit-reset", (now_secs() - 5).to_string().as_str()),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    http(&server).get("/api/v1/users").send().await.unwrap();
}

#[tokio::test]
async fn exhausted_remaining_budget_pauses_until_the_reset() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/first"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", (now_secs() + 2).to_string().as_str()),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/second"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let client = http(&server);
    client.get("/first").send().await.unwrap();
    let started = Instant::now();
    client.get("/second").send().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_503_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"done": 1})))
        .expect(1)
        .mount(&server)
        .await;
    // Even a non-idempotent POST: a 503 means the request was not processed.
    let body: Value = http(&server)
        .post("/send")
        .json(&json!({}))
        .send_json()
        .await
        .unwrap();
    assert_eq!(body["done"], 1);
}

#[tokio::test]
async fn a_500_is_retried_for_get_but_not_for_post() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    let client = http(&server);
    client.get("/x").send().await.unwrap();
    let err = client.post("/x").send().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Provider);
    assert!(err.message.contains("502"), "{err}");
}

#[tokio::test]
async fn error_statuses_are_classified() {
    let server = MockServer::start().await;
    let cases = [
        (
            401,
            json!({"errorCode": "E0000011", "errorSummary": "Invalid token provided"}),
            ErrorKind::Auth,
        ),
        (
            403,
            json!({"message": "Resource not accessible by integration"}),
            ErrorKind::Auth,
        ),
        (
            404,
            json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource does not exist"}}),
            ErrorKind::Config,
        ),
        (
            400,
            json!({"error": "invalid_grant", "error_description": "Bad Request"}),
            ErrorKind::Auth,
        ),
        (409, json!({"message": "conflict"}), ErrorKind::Provider),
    ];
    for (status, body, _) in &cases {
        Mock::given(path(format!("/status/{status}")))
            .respond_with(ResponseTemplate::new(*status).set_body_json(body.clone()))
            .mount(&server)
            .await;
    }
    let client = http(&server);
    for (status, _, kind) in cases {
        let err = client
            .get(&format!("/status/{status}"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "{status}: {err}");
        assert!(
            err.message.starts_with(&format!(
                "GET {}/status/{status} returned {status}",
                server.uri()
            )),
            "{err}"
        );
        assert_eq!(err.retry_after, None);
    }
}

#[tokio::test]
async fn github_secondary_limit_403_is_retried_as_a_throttle() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).insert_header("retry-after", "0").set_body_json(
            json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}),
        ))
        .expect(4)
        .mount(&server)
        .await;
    let err = http(&server).get("/repos").send().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimit);
    assert!(err.message.contains("secondary rate limit"), "{err}");
}

#[tokio::test]
async fn accepted_statuses_are_returned() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let response = http(&server)
        .get("/gone")
        .accept_status(404)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn declared_budget_paces_requests() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(4)
        .mount(&server)
        .await;
    let registry = RateLimiters::new();
    let client = http_with(
        profile().rate_limit(RateLimit::per_second(20).burst(1)),
        &server,
    )
    .scoped_in(&registry, &ScopeKey::named("pacing-test"));
    // A second client of the same scope shares the bucket.
    let sibling = http_with(
        profile().rate_limit(RateLimit::per_second(20).burst(1)),
        &server,
    )
    .scoped_in(&registry, &ScopeKey::named("pacing-test"));
    let started = Instant::now();
    client.get("/a").send().await.unwrap();
    sibling.get("/b").send().await.unwrap();
    client.get("/c").send().await.unwrap();
    sibling.get("/d").send().await.unwrap();
    // Burst 1 at 20/s: the last three wait 50 ms each.
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(registry.len(), 1);
}

#[tokio::test]
async fn timeouts_are_retried_then_provider_errors() {
    // A listener that accepts connections into its backlog but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut profile =
        HttpProfile::new("test").timeouts(Duration::from_secs(1), Duration::from_millis(200));
    profile.retry = RetryPolicy {
        max_retries: 1,
        base_delay: Duration::from_millis(1),
        max_wait: Duration::from_secs(1),
    };
    let client = ProviderHttp::new(profile).unwrap();
    let started = Instant::now();
    let err = client
        .get(&format!(
            "http://127.0.0.1:{port}/x?api_key=query-secret-123"
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Provider);
    assert!(
        err.message.contains("timed out") && err.message.contains("after 1 retry"),
        "{err}"
    );
    assert!(!err.message.contains("query-secret-123"), "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "both attempts waited for the timeout"
    );
    drop(silent);
}

#[tokio::test]
async fn no_secret_reaches_errors_or_debug_output() {
    const HEADER_TOKEN: &str = "00aHeaderTokenThatMustNotLeak";
    const QUERY_TOKEN: &str = "qQueryTokenThatMustNotLeak";
    const PLAIN_QUERY_TOKEN: &str = "pPlainQueryTokenThatMustNotLeak";
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header(
            "authorization",
            format!("SSWS {HEADER_TOKEN}").as_str(),
        ))
        .and(query_param("api_key", QUERY_TOKEN))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "errorSummary": format!("Invalid token provided: {HEADER_TOKEN} / {QUERY_TOKEN}")
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/boom"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"message": format!("bad {HEADER_TOKEN}")})),
        )
        .mount(&server)
        .await;
    let client = http(&server).with_auth(AuthHeader::scheme("SSWS", Secret::new(HEADER_TOKEN)));
    let request = client
        .get("/api/v1/users")
        .secret_query("api_key", &Secret::new(QUERY_TOKEN))
        .query("token", PLAIN_QUERY_TOKEN);
    let shown = [format!("{client:?}"), format!("{request:?}")];
    let err = request.send().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(err.message.contains("Invalid token provided"), "{err}");
    let err_500 = client
        .get("/boom")
        .query("token", PLAIN_QUERY_TOKEN)
        .send()
        .await
        .unwrap_err();
    for text in shown.iter().cloned().chain([
        err.to_string(),
        format!("{err:?}"),
        err_500.to_string(),
        format!("{err_500:?}"),
    ]) {
        for secret in [HEADER_TOKEN, QUERY_TOKEN, PLAIN_QUERY_TOKEN] {
            assert!(!text.contains(secret), "`{secret}` leaked into: {text}");
        }
    }
}

#[tokio::test]
async fn public_only_clients_refuse_private_addresses() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let port = Url::parse(&server.uri()).unwrap().port().unwrap();
    let client = ProviderHttp::new(profile().public_addresses_only(true)).unwrap();
    // A name that resolves to loopback is refused by the resolver...
    let err = client
        .get(&format!("http://localhost:{port}/api/v1/users"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Provider, "{err}");
    // ...and a private IP literal before any connection.
    let err = client
        .get(&format!("http://127.0.0.1:{port}/api/v1/users"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config, "{err}");
}

#[tokio::test]
async fn an_accepted_status_that_is_a_throttle_is_still_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("retry-after", "0"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({"message": "Must have admin rights"})),
        )
        .mount(&server)
        .await;
    let response = http(&server)
        .get("/x")
        .accept_status(403)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

/// Slack-style refusals inside HTTP 200 answers, read by the profile's answer check.
fn ok_false(body: &Value) -> Option<(ErrorKind, String)> {
    if body.get("ok") != Some(&Value::Bool(false)) {
        return None;
    }
    let code = body["error"].as_str().unwrap_or("unknown_error").to_owned();
    let kind = match code.as_str() {
        "invalid_auth" => ErrorKind::Auth,
        _ => ErrorKind::Provider,
    };
    Some((kind, code))
}

#[tokio::test]
async fn an_answer_check_turns_refusals_in_successful_answers_into_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/users.list"))
        .and(query_param("cursor", "page2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ok": false, "error": "invalid_auth", "echo": "xoxb-secret-token"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users.list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "members": [{"id": "U1"}],
            "response_metadata": {"next_cursor": "page2"}
        })))
        .mount(&server)
        .await;
    let http = http_with(profile().answer_check(ok_false), &server)
        .with_auth(AuthHeader::bearer(Secret::new("xoxb-secret-token")));
    let mut pages = tributary_providerkit::Paginator::new(
        http.get("/users.list"),
        tributary_providerkit::Pagination::slack("/members"),
    );
    let first = pages.next_page().await.unwrap().unwrap();
    assert_eq!(first.items.len(), 1);
    // Without the check, the refusal would read as an empty last page.
    let err = pages.next_page().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(err.message.ends_with("was refused: invalid_auth"), "{err}");
    assert!(!err.message.contains("xoxb-secret-token"));
    // Profiles without a check return the answer as it is.
    let plain: Value = http_with(profile(), &server)
        .get("/users.list")
        .query("cursor", "page2")
        .send_json()
        .await
        .unwrap();
    assert_eq!(plain["ok"], false);
}

/// A refused connection says why (the OS's reason), without the URL's query.
#[tokio::test]
async fn a_refused_connection_says_why() {
    // A port nothing listens on: bind, learn the port, close.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut profile = HttpProfile::new("test");
    profile.retry = RetryPolicy {
        max_retries: 0,
        base_delay: Duration::from_millis(1),
        max_wait: Duration::from_secs(1),
    };
    let err = ProviderHttp::new(profile)
        .unwrap()
        .get(&format!(
            "http://127.0.0.1:{port}/x?api_key=query-secret-456"
        ))
        .send()
        .await
        .unwrap_err();
    assert!(err.message.contains("could not connect: "), "{err}");
    assert!(err.message.to_lowercase().contains("refused"), "{err}");
    assert!(!err.message.contains("query-secret-456"), "{err}");
}

/// Who chose the address decides which hosts a base URL may name: a tenant's must be public,
/// the operator's may be private (GitHub Enterprise Server on premises, an AWS VPC interface
/// endpoint), and both must use https.
#[test]
fn operator_urls_may_name_private_hosts_and_tenant_urls_may_not() {
    use tributary_providerkit::{HostPolicy, validate_base_url};
    for url in [
        "https://10.0.0.8/api/v3",
        "https://github.corp.internal/api/v3",
        "https://vpce-0a1b2c3d-securityhub.us-east-1.vpce.amazonaws.com",
    ] {
        assert!(
            validate_base_url(url, HostPolicy::operator_https()).is_ok(),
            "{url}"
        );
    }
    assert!(validate_base_url("https://10.0.0.8", HostPolicy::public_https()).is_err());
    assert!(validate_base_url("https://github.corp.internal", HostPolicy::public_https()).is_err());
    assert!(validate_base_url("http://10.0.0.8", HostPolicy::operator_https()).is_err());
}
