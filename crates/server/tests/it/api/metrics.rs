//! `/metrics` after real traffic (API calls, a connect whose first provider call is throttled, a
//! queued sync run, an unmatched path, a job waiting in the queue): valid Prometheus text, every
//! family the runtime promises, and no tenant, integration, run or record id or secret in any
//! label. On SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::json;
use tributary_runtime::metrics::exposition::{self, Sample};
use tributary_store::{
    jobs::NewJob,
    now_ms,
    testing::{TestDb, each_backend},
};

use super::{Api, CF_TOKEN};

#[each_backend]
async fn metrics_after_traffic(backend: TestDb) {
    let api = Api::start(backend).await;
    let (tenant_id, token) = api.tenant("metrics").await;
    // The connect's validation call is answered 429 once, then waited out (Retry-After: 1).
    api.fake.throttle([1]);
    let ids = api.connected_integration(&token).await;
    api.call_expecting(
        404,
        Method::GET,
        &format!("/no/such/{}", ids.integration),
        None,
        None,
    )
    .await;
    // A job due in an hour: the backlog shows it, no worker takes it during the test.
    let runtime = &api.server.runtime;
    runtime
        .db()
        .jobs()
        .enqueue(
            &NewJob::new(
                &runtime.config().queue,
                tributary_runtime::RUN_JOB_KIND,
                &json!({}),
            )
            .run_at(now_ms() + 3_600_000),
        )
        .await
        .unwrap();

    let response = reqwest::get(format!("{}/metrics", api.server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
    );
    let text = response.text().await.unwrap();
    let samples = exposition::parse(&text).unwrap_or_else(|why| panic!("{why}\n{text}"));
    let value = |name: &str, labels: &[(&str, &str)]| exposition::sum(&samples, name, labels);
    let at_least_one = |name: &str, labels: &[(&str, &str)]| {
        assert!(value(name, labels) >= 1.0, "{name} {labels:?}\n{text}");
    };

    // HTTP requests by route template: the ids in the paths never become labels.
    let routes: Vec<&str> = samples
        .iter()
        .filter(|s| s.name == "tributary_http_requests_total")
        .filter_map(|s| s.label("route"))
        .collect();
    assert!(
        routes
            .iter()
            .any(|r| r.starts_with("/v1/integrations/{") && r.ends_with("/runs")),
        "{routes:?}"
    );
    at_least_one(
        "tributary_http_requests_total",
        &[("route", "unmatched"), ("status", "404"), ("method", "GET")],
    );
    at_least_one(
        "tributary_http_request_duration_seconds_count",
        &[("route", "/v1/tenants"), ("method", "POST")],
    );

    at_least_one(
        "tributary_connects_total",
        &[("definition", "cloudflare"), ("outcome", "connected")],
    );
    at_least_one(
        "tributary_runs_total",
        &[
            ("definition", "cloudflare"),
            ("operation", "DirectorySync"),
            ("status", "succeeded"),
        ],
    );
    at_least_one(
        "tributary_run_duration_seconds_count",
        &[("definition", "cloudflare")],
    );
    at_least_one(
        "tributary_ingested_records_total",
        &[("definition", "cloudflare"), ("outcome", "created")],
    );
    at_least_one(
        "tributary_jobs_total",
        &[("kind", "operation_run"), ("outcome", "succeeded")],
    );
    at_least_one(
        "tributary_job_duration_seconds_count",
        &[("kind", "operation_run")],
    );
    at_least_one(
        "tributary_provider_requests_total",
        &[("definition", "cloudflare"), ("status", "2xx")],
    );
    at_least_one(
        "tributary_provider_requests_total",
        &[("definition", "cloudflare"), ("status", "4xx")],
    );
    at_least_one(
        "tributary_provider_request_duration_seconds_count",
        &[("definition", "cloudflare")],
    );
    at_least_one(
        "tributary_provider_throttled_total",
        &[("definition", "cloudflare")],
    );
    assert!(
        value(
            "tributary_provider_rate_limit_wait_seconds_total",
            &[("definition", "cloudflare")]
        ) >= 0.5,
        "the 429's Retry-After was waited out\n{text}"
    );
    assert_eq!(
        value(
            "tributary_queue_jobs",
            &[("kind", "operation_run"), ("state", "queued")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            "tributary_queue_oldest_ready_age_seconds",
            &[("kind", "operation_run")]
        ),
        0.0,
        "the queued job is not due yet\n{text}"
    );

    let forbidden = [
        tenant_id.as_str(),
        ids.integration.as_str(),
        ids.run.as_str(),
        ids.record.as_str(),
        token.as_str(),
        api.operator.as_str(),
        CF_TOKEN,
    ];
    for Sample { name, labels, .. } in &samples {
        for (key, value) in labels {
            for id in forbidden {
                assert!(!value.contains(id), "{name}{{{key}={value:?}}} holds {id}");
            }
        }
    }
    assert!(
        forbidden.iter().all(|id| !text.contains(id)),
        "an id or secret in /metrics"
    );
}
