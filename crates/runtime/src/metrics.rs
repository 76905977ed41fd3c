//! Counters and timings of the lifecycle (connects, refreshes, runs, ingested records,
//! disconnects) and of the retention sweep, labelled by definition, operation or table, rendered
//! in the Prometheus text format for `/metrics`. Labels are ids, outcomes and table names only,
//! never a credential or payload value.

use std::{collections::BTreeMap, fmt::Write as _, sync::Mutex, time::Duration};

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Series {
    counters: BTreeMap<(&'static str, Labels), f64>,
    /// name → labels → (sum of seconds, count)
    timings: BTreeMap<(&'static str, Labels), (f64, u64)>,
}

/// The runtime's metrics registry.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<Series>,
}

const HELP: &[(&str, &str)] = &[
    (
        "tributary_connects_total",
        "Setup flows finished, by outcome.",
    ),
    (
        "tributary_credential_refreshes_total",
        "Credential refreshes, by outcome.",
    ),
    (
        "tributary_runs_total",
        "Operation runs finished, by status.",
    ),
    (
        "tributary_run_duration_seconds",
        "Wall time of finished operation runs.",
    ),
    (
        "tributary_ingested_records_total",
        "Records through the ingest path, by outcome.",
    ),
    (
        "tributary_disconnects_total",
        "Integrations disconnected, by outcome of the remote teardown.",
    ),
    (
        "tributary_retention_purged_rows_total",
        "Rows deleted by the retention sweep, by table.",
    ),
    (
        "tributary_audit_write_failures_total",
        "Audit events that could not be written after their action, by action.",
    ),
    (
        "tributary_webhook_intake_commits_total",
        "Fsync'd webhook intake transactions committed (one per group of deliveries).",
    ),
    (
        "tributary_webhook_intake_deliveries_total",
        "Webhook deliveries stored by the intake's fsync'd commits.",
    ),
];

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Series> {
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add(&self, name: &'static str, labels: &[(&'static str, &str)], by: f64) {
        let labels = labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        *self.lock().counters.entry((name, labels)).or_default() += by;
    }

    /// Adds one to a counter (the HTTP surface counts its own failures here too).
    pub fn incr(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1.0);
    }

    pub(crate) fn observe(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        elapsed: Duration,
    ) {
        let labels = labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let mut series = self.lock();
        let entry = series.timings.entry((name, labels)).or_default();
        entry.0 += elapsed.as_secs_f64();
        entry.1 += 1;
    }

    /// The value of a counter (tests, the demo's summary).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.lock()
            .counters
            .iter()
            .filter(|((n, l), _)| {
                *n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, value)| value)
            .sum()
    }

    /// Every series in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let series = self.lock();
        let mut out = String::new();
        for (name, help) in HELP {
            let counters: Vec<_> = series
                .counters
                .iter()
                .filter(|((n, _), _)| n == name)
                .collect();
            let timings: Vec<_> = series
                .timings
                .iter()
                .filter(|((n, _), _)| n == name)
                .collect();
            if counters.is_empty() && timings.is_empty() {
                continue;
            }
            let kind = if timings.is_empty() {
                "counter"
            } else {
                "summary"
            };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((_, labels), value) in counters {
                let _ = writeln!(out, "{name}{} {value}", render_labels(labels));
            }
            for ((_, labels), (sum, count)) in timings {
                let labels = render_labels(labels);
                let _ = writeln!(
                    out,
                    "{name}_sum{labels} {sum}\n{name}_count{labels} {count}"
                );
            }
        }
        out
    }
}

fn render_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let body: Vec<String> = labels
        .iter()
        .map(|(key, value)| {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{key}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_summaries() {
        let metrics = Metrics::new();
        metrics.incr(
            "tributary_runs_total",
            &[("definition", "okta"), ("status", "succeeded")],
        );
        metrics.incr(
            "tributary_runs_total",
            &[("definition", "okta"), ("status", "succeeded")],
        );
        metrics.observe(
            "tributary_run_duration_seconds",
            &[("definition", "okta")],
            Duration::from_millis(1500),
        );
        let text = metrics.render();
        assert!(
            text.contains("tributary_runs_total{definition=\"okta\",status=\"succeeded\"} 2"),
            "{text}"
        );
        assert!(text.contains("tributary_run_duration_seconds_sum{definition=\"okta\"} 1.5"));
        assert!(text.contains("tributary_run_duration_seconds_count{definition=\"okta\"} 1"));
        assert_eq!(
            metrics.counter("tributary_runs_total", &[("status", "succeeded")]),
            2.0
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        metrics.incr("tributary_connects_total", &[("definition", "a\"b")]);
        assert!(metrics.render().contains("definition=\"a\\\"b\""));
    }
}
