//! The runtime's metrics, served at `/metrics` in the Prometheus text format: typed families of
//! the `prometheus-client` crate, one [`Metrics`] per runtime.
//!
//! Label sets are bounded on purpose: definition ids (the built-in catalog), operation names,
//! job kinds, route templates, status codes or classes, and fixed outcome words. Never a tenant,
//! integration, run, record or endpoint id, and never a credential or payload value: those
//! would make the series unbounded and leak data to whoever scrapes.

pub mod exposition;

use std::time::Duration;

use prometheus_client::{
    encoding::{EncodeLabelSet, prometheus_text},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use tributary_providerkit::HttpObserver;
use tributary_store::jobs::KindBacklog;

/// Latencies of answers we give (HTTP requests, webhook intake): 5 ms to 10 s.
const REQUEST_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Calls to a provider's API: 25 ms to a minute.
const PROVIDER_BUCKETS: [f64; 11] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Runs and jobs: 50 ms (a health check) to an hour (a large directory sync).
const WORK_BUCKETS: [f64; 13] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn histograms<L: Clone + std::hash::Hash + Eq>(buckets: fn() -> Histogram) -> Histograms<L> {
    Family::new_with_constructor(buckets)
}

/// A definition and what came of something it did.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DefinitionOutcome {
    pub(crate) definition: String,
    pub(crate) outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    definition: String,
    operation: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    definition: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestLabels {
    definition: String,
    /// A model's schema name, or `other` ([`tributary_ingest::model_name`]): a fixed set.
    model: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    kind: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DefinitionLabels {
    definition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    definition: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderDefinition {
    definition: &'static str,
}

/// The runtime's metrics registry.
pub struct Metrics {
    registry: Registry,
    connects: Family<DefinitionOutcome, Counter>,
    credential_refreshes: Family<DefinitionOutcome, Counter>,
    runs: Family<RunLabels, Counter>,
    run_duration: Histograms<OperationLabels>,
    ingested_records: Family<IngestLabels, Counter>,
    disconnects: Family<DefinitionOutcome, Counter>,
    retention_purged_rows: Family<TableLabels, Counter>,
    audit_write_failures: Family<ActionLabels, Counter>,
    intake_commits: Counter,
    intake_deliveries: Counter,
    webhook_requests: Family<DefinitionOutcome, Counter>,
    webhook_duration: Histograms<DefinitionLabels>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    jobs: Family<JobLabels, Counter>,
    job_duration: Histograms<KindLabels>,
    provider_requests: Family<ProviderLabels, Counter>,
    provider_duration: Histograms<ProviderDefinition>,
    provider_throttled: Family<ProviderDefinition, Counter>,
    provider_rate_limit_wait: Family<ProviderDefinition, Counter<f64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let metrics = Self {
            connects: Family::default(),
            credential_refreshes: Family::default(),
            runs: Family::default(),
            run_duration: histograms(|| Histogram::new(WORK_BUCKETS)),
            ingested_records: Family::default(),
            disconnects: Family::default(),
            retention_purged_rows: Family::default(),
            audit_write_failures: Family::default(),
            intake_commits: Counter::default(),
            intake_deliveries: Counter::default(),
            webhook_requests: Family::default(),
            webhook_duration: histograms(|| Histogram::new(REQUEST_BUCKETS)),
            http_requests: Family::default(),
            http_duration: histograms(|| Histogram::new(REQUEST_BUCKETS)),
            jobs: Family::default(),
            job_duration: histograms(|| Histogram::new(WORK_BUCKETS)),
            provider_requests: Family::default(),
            provider_duration: histograms(|| Histogram::new(PROVIDER_BUCKETS)),
            provider_throttled: Family::default(),
            provider_rate_limit_wait: Family::default(),
            registry: Registry::default(),
        };
        // Counters are registered without `_total`: the encoder appends it.
        let r = &mut registry;
        r.register(
            "tributary_http_requests",
            "HTTP requests answered, by method, route template and status code",
            metrics.http_requests.clone(),
        );
        r.register(
            "tributary_http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template",
            metrics.http_duration.clone(),
        );
        r.register(
            "tributary_connects",
            "Setup flows finished, by definition and outcome",
            metrics.connects.clone(),
        );
        r.register(
            "tributary_credential_refreshes",
            "Credential refreshes, by definition and outcome",
            metrics.credential_refreshes.clone(),
        );
        r.register(
            "tributary_runs",
            "Operation runs finished, by definition, operation and status",
            metrics.runs.clone(),
        );
        r.register(
            "tributary_run_duration_seconds",
            "Wall time of finished operation runs, by definition and operation",
            metrics.run_duration.clone(),
        );
        r.register(
            "tributary_ingested_records",
            "Payloads through the ingest path (runs, webhook events, pushed records), by definition, model and outcome",
            metrics.ingested_records.clone(),
        );
        r.register(
            "tributary_disconnects",
            "Integrations disconnected, by definition and outcome of the remote teardown",
            metrics.disconnects.clone(),
        );
        r.register(
            "tributary_retention_purged_rows",
            "Rows deleted by the retention sweep, by table",
            metrics.retention_purged_rows.clone(),
        );
        r.register(
            "tributary_audit_write_failures",
            "Audit events that could not be written after their action, by action",
            metrics.audit_write_failures.clone(),
        );
        r.register(
            "tributary_webhook_intake_commits",
            "Fsync'd webhook intake transactions committed (one per group of deliveries)",
            metrics.intake_commits.clone(),
        );
        r.register(
            "tributary_webhook_intake_deliveries",
            "Webhook deliveries stored by the intake's fsync'd commits",
            metrics.intake_deliveries.clone(),
        );
        r.register(
            "tributary_webhook_requests",
            "Webhook requests taken by intake, by definition and outcome",
            metrics.webhook_requests.clone(),
        );
        r.register(
            "tributary_webhook_request_duration_seconds",
            "Time webhook intake took to answer, by definition",
            metrics.webhook_duration.clone(),
        );
        r.register(
            "tributary_jobs",
            "Jobs a worker of this process finished an attempt of, by kind and outcome",
            metrics.jobs.clone(),
        );
        r.register(
            "tributary_job_duration_seconds",
            "Time of one job attempt, by kind",
            metrics.job_duration.clone(),
        );
        r.register(
            "tributary_provider_requests",
            "Provider API exchanges (each attempt), by definition and status class",
            metrics.provider_requests.clone(),
        );
        r.register(
            "tributary_provider_request_duration_seconds",
            "Time of one provider API exchange, by definition",
            metrics.provider_duration.clone(),
        );
        r.register(
            "tributary_provider_throttled",
            "Provider answers asking us to slow down (429 and the like), by definition",
            metrics.provider_throttled.clone(),
        );
        r.register(
            "tributary_provider_rate_limit_wait_seconds",
            "Time provider requests waited for their rate-limit budget, by definition",
            metrics.provider_rate_limit_wait.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Every series, in the Prometheus text exposition format (version 0.0.4). The queue
    /// backlog, which is read from the database, is added by
    /// [`Runtime::render_metrics`](crate::Runtime::render_metrics).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, and every label value is escaped by the encoder.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// The sum of the samples named `name` whose labels include `labels` (tests, the demo's
    /// summary). Reads the rendered text, so it sees exactly what a scrape sees.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        exposition::parse(&self.render())
            .map(|samples| exposition::sum(&samples, name, labels))
            .unwrap_or_default()
    }

    pub(crate) fn connect(&self, definition: &str, outcome: &'static str) {
        self.connects
            .get_or_create(&outcome_of(definition, outcome))
            .inc();
    }

    pub(crate) fn credential_refresh(&self, definition: &str, outcome: &'static str) {
        self.credential_refreshes
            .get_or_create(&outcome_of(definition, outcome))
            .inc();
    }

    pub(crate) fn disconnect(&self, definition: &str, outcome: &'static str) {
        self.disconnects
            .get_or_create(&outcome_of(definition, outcome))
            .inc();
    }

    pub(crate) fn run_finished(
        &self,
        definition: &str,
        operation: &str,
        status: &'static str,
        elapsed: Duration,
    ) {
        self.runs
            .get_or_create(&RunLabels {
                definition: definition.to_owned(),
                operation: operation.to_owned(),
                status,
            })
            .inc();
        self.run_duration
            .get_or_create(&OperationLabels {
                definition: definition.to_owned(),
                operation: operation.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// `records` payloads of `model` had `outcome` in an ingest of `definition`.
    pub(crate) fn ingested(
        &self,
        definition: &str,
        model: &'static str,
        outcome: &'static str,
        records: u64,
    ) {
        self.ingested_records
            .get_or_create(&IngestLabels {
                definition: definition.to_owned(),
                model,
                outcome,
            })
            .inc_by(records);
    }

    /// Counts a finished ingest of `definition` from its per-model counters. Outcomes no
    /// payload had add no series. (`seen` is their sum, so it is not an outcome.)
    pub(crate) fn ingest_finished(
        &self,
        definition: &str,
        by_model: &tributary_ingest::ModelCounters,
    ) {
        for (model, counters) in by_model.iter() {
            let outcomes = [
                ("created", counters.created),
                ("updated", counters.updated),
                ("unchanged", counters.unchanged),
                ("filtered", counters.filtered),
                ("failed", counters.failed),
                ("tombstoned", counters.tombstoned),
            ];
            for (outcome, records) in outcomes {
                if records > 0 {
                    self.ingested(definition, model, outcome, records);
                }
            }
        }
    }

    pub(crate) fn retention_purged(&self, table: &'static str, rows: u64) {
        // Adding zero too makes every table's series appear after the first sweep.
        self.retention_purged_rows
            .get_or_create(&TableLabels { table })
            .inc_by(rows);
    }

    /// An audit event that could not be written; `action` is one of the trail's fixed names.
    pub fn audit_write_failed(&self, action: &str) {
        self.audit_write_failures
            .get_or_create(&ActionLabels {
                action: action.to_owned(),
            })
            .inc();
    }

    pub(crate) fn intake_committed(&self, deliveries: usize) {
        self.intake_commits.inc();
        self.intake_deliveries.inc_by(deliveries as u64);
    }

    /// A webhook request at a route of `definition` (`unknown` when the route names none that
    /// exists) ended with `outcome` after `elapsed`.
    pub(crate) fn webhook_request(
        &self,
        definition: &str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        self.webhook_requests
            .get_or_create(&outcome_of(definition, outcome))
            .inc();
        self.webhook_duration
            .get_or_create(&DefinitionLabels {
                definition: definition.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn job_attempt(&self, kind: &str, outcome: &'static str, elapsed: Duration) {
        let kind = bounded_job_kind(kind);
        self.jobs.get_or_create(&JobLabels { kind, outcome }).inc();
        self.job_duration
            .get_or_create(&KindLabels { kind })
            .observe(elapsed.as_secs_f64());
    }

    /// Records one HTTP request answered by the server. `route` is the matched route template
    /// (`/v1/integrations/{id}`), never the raw path; `unmatched` for requests no route took.
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = bounded_method(method);
        self.http_requests
            .get_or_create(&HttpLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Renders the queue backlog as gauges, after the process's own series. The gauges live in a
    /// registry of this scrape alone, so a kind whose jobs are all gone leaves no stale series.
    pub(crate) fn render_with_backlog(&self, backlog: &[KindBacklog], now_ms: i64) -> String {
        let mut out = self.render();
        let mut registry = Registry::default();
        let jobs = Family::<QueueLabels, Gauge>::default();
        let oldest = Family::<KindLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "tributary_queue_jobs",
            "Unfinished jobs in the queue, by kind and state (queued or running)",
            jobs.clone(),
        );
        registry.register(
            "tributary_queue_oldest_ready_age_seconds",
            "How long the oldest runnable queued job has waited for a worker, by kind",
            oldest.clone(),
        );
        for entry in backlog {
            let kind = bounded_job_kind(&entry.kind);
            // Two unknown kinds share the `other` series: add, not overwrite.
            for (state, count) in [("queued", entry.queued), ("running", entry.running)] {
                jobs.get_or_create(&QueueLabels { kind, state })
                    .inc_by(count);
            }
            let age = entry
                .oldest_ready_at
                .map_or(0.0, |ready| (now_ms - ready).max(0) as f64 / 1000.0);
            let gauge = oldest.get_or_create(&KindLabels { kind });
            if age > gauge.get() {
                gauge.set(age);
            }
        }
        let _ = prometheus_text::encode(&mut out, &registry);
        out
    }
}

impl HttpObserver for Metrics {
    fn answered(&self, definition: &'static str, status: u16, elapsed: Duration) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.provider_requests
            .get_or_create(&ProviderLabels { definition, status })
            .inc();
        self.provider_duration
            .get_or_create(&ProviderDefinition { definition })
            .observe(elapsed.as_secs_f64());
    }

    fn failed(&self, definition: &'static str, elapsed: Duration) {
        self.provider_requests
            .get_or_create(&ProviderLabels {
                definition,
                status: "no_answer",
            })
            .inc();
        self.provider_duration
            .get_or_create(&ProviderDefinition { definition })
            .observe(elapsed.as_secs_f64());
    }

    fn throttled(&self, definition: &'static str) {
        self.provider_throttled
            .get_or_create(&ProviderDefinition { definition })
            .inc();
    }

    fn waited(&self, definition: &'static str, waited: Duration) {
        // Every request reports, so the series exists from the first call; most waits are zero.
        self.provider_rate_limit_wait
            .get_or_create(&ProviderDefinition { definition })
            .inc_by(waited.as_secs_f64());
    }
}

fn outcome_of(definition: &str, outcome: &'static str) -> DefinitionOutcome {
    DefinitionOutcome {
        definition: definition.to_owned(),
        outcome,
    }
}

/// The job kinds the runtime enqueues; anything else (a host's own jobs in a shared queue) is
/// `other`, so a stray kind cannot grow the label set.
fn bounded_job_kind(kind: &str) -> &'static str {
    [
        crate::RUN_JOB_KIND,
        crate::WEBHOOK_JOB_KIND,
        crate::HELD_EVENT_JOB_KIND,
    ]
    .into_iter()
    .find(|known| *known == kind)
    .unwrap_or("other")
}

/// Request methods as labels: the standard ones, `other` for anything a client made up.
fn bounded_method(method: &str) -> &'static str {
    [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ]
    .into_iter()
    .find(|known| *known == method)
    .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let metrics = Metrics::new();
        for _ in 0..2 {
            metrics.run_finished(
                "okta",
                "DirectorySync",
                "succeeded",
                Duration::from_millis(1500),
            );
        }
        let text = metrics.render();
        assert!(
            text.contains(
                "tributary_runs_total{definition=\"okta\",operation=\"DirectorySync\",status=\"succeeded\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE tributary_run_duration_seconds histogram"));
        assert!(text.contains(
            "tributary_run_duration_seconds_bucket{le=\"2.5\",definition=\"okta\",operation=\"DirectorySync\"} 2"
        ) || text.contains(
            "tributary_run_duration_seconds_bucket{definition=\"okta\",operation=\"DirectorySync\",le=\"2.5\"} 2"
        ), "{text}");
        assert!(text.contains(
            "tributary_run_duration_seconds_sum{definition=\"okta\",operation=\"DirectorySync\"} 3"
        ));
        assert_eq!(
            metrics.counter("tributary_runs_total", &[("status", "succeeded")]),
            2.0
        );
        exposition::parse(&text).unwrap();
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        metrics.connect("a\"b", "connected");
        assert!(metrics.render().contains("definition=\"a\\\"b\""));
    }

    #[test]
    fn unknown_methods_and_kinds_share_one_label() {
        let metrics = Metrics::new();
        metrics.http_request("BREW", "unmatched", 404, Duration::from_millis(1));
        metrics.job_attempt("host_job", "succeeded", Duration::from_millis(1));
        let text = metrics.render();
        assert!(text.contains("method=\"other\""), "{text}");
        assert!(text.contains("kind=\"other\""), "{text}");
    }

    /// Every `tributary_*` series the Grafana dashboard and the metrics docs name is one the
    /// runtime serves: a renamed family shows up here, not as an empty panel.
    #[test]
    fn the_dashboard_and_the_docs_name_only_served_families() {
        // Families with no series render nothing: give each one.
        let metrics = Metrics::new();
        let tick = Duration::from_millis(1);
        metrics.connect("d", "connected");
        metrics.credential_refresh("d", "refreshed");
        metrics.disconnect("d", "ok");
        metrics.run_finished("d", "Op", "succeeded", tick);
        metrics.ingested("d", "DirectoryAccount", "created", 1);
        metrics.retention_purged("jobs", 0);
        metrics.audit_write_failed("tenant.create");
        metrics.intake_committed(1);
        metrics.webhook_request("d", "accepted", tick);
        metrics.job_attempt(crate::RUN_JOB_KIND, "succeeded", tick);
        metrics.http_request("GET", "/metrics", 200, tick);
        metrics.answered("d", 200, tick);
        metrics.throttled("d");
        metrics.waited("d", tick);
        let backlog = [KindBacklog {
            kind: crate::RUN_JOB_KIND.into(),
            queued: 1,
            running: 0,
            oldest_ready_at: None,
        }];
        let rendered = metrics.render_with_backlog(&backlog, 0);
        let families: Vec<&str> = rendered
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|line| line.split(' ').next())
            .collect();
        assert!(families.len() >= 20, "{rendered}");
        let served = |name: &str| {
            families.contains(&name)
                || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                    name.strip_suffix(suffix)
                        .is_some_and(|base| families.contains(&base))
                })
        };
        for (file, text) in [
            (
                "docs/grafana/tributary.json",
                include_str!("../../../docs/grafana/tributary.json"),
            ),
            ("docs/metrics.md", include_str!("../../../docs/metrics.md")),
        ] {
            let mut named = 0;
            for (at, _) in text.match_indices("tributary_") {
                let name: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // Crate names (`tributary_providerkit::observed`) are not series.
                if text[at + name.len()..].starts_with("::") {
                    continue;
                }
                named += 1;
                assert!(served(&name), "{file} names {name}, which is not served");
            }
            assert!(named > 10, "{file}");
        }
    }

    #[test]
    fn backlog_gauges_are_rendered_per_kind() {
        let metrics = Metrics::new();
        let backlog = [
            KindBacklog {
                kind: crate::RUN_JOB_KIND.into(),
                queued: 3,
                running: 1,
                oldest_ready_at: Some(10_000),
            },
            KindBacklog {
                kind: "host_a".into(),
                queued: 1,
                running: 0,
                oldest_ready_at: None,
            },
            KindBacklog {
                kind: "host_b".into(),
                queued: 2,
                running: 0,
                oldest_ready_at: Some(13_000),
            },
        ];
        let text = metrics.render_with_backlog(&backlog, 14_500);
        let samples = exposition::parse(&text).unwrap();
        let value = |name, labels: &[(&str, &str)]| exposition::sum(&samples, name, labels);
        assert_eq!(
            value(
                "tributary_queue_jobs",
                &[("kind", "operation_run"), ("state", "queued")]
            ),
            3.0
        );
        assert_eq!(
            value(
                "tributary_queue_jobs",
                &[("kind", "other"), ("state", "queued")]
            ),
            3.0
        );
        assert_eq!(
            value(
                "tributary_queue_oldest_ready_age_seconds",
                &[("kind", "operation_run")]
            ),
            4.5
        );
        assert_eq!(
            value(
                "tributary_queue_oldest_ready_age_seconds",
                &[("kind", "other")]
            ),
            1.5
        );
    }
}
