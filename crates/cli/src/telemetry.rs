//! Logs and traces of a serving process.
//!
//! Log lines go to standard error as text or JSON, filtered like `RUST_LOG`. Each line written
//! while a request, a run or a webhook delivery is handled carries that work's spans: the
//! request id, tenant, integration and run. With the `otlp` feature and `[telemetry]
//! otlp_endpoint` set, the same spans are exported to an OpenTelemetry collector over OTLP/HTTP.

use clap::ValueEnum;
use serde::Deserialize;
use tracing_subscriber::{
    EnvFilter, Layer, Registry, layer::Layered, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::commands::config::FileConfig;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, the spans before the message.
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, `message`, the event's fields,
    /// and `spans` (outermost first) with their fields.
    Json,
}

/// Where the log filter came from, to name it when it is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOrigin {
    TributaryLog,
    RustLog,
    File,
    Default,
}

impl FilterOrigin {
    fn describe(self) -> &'static str {
        match self {
            FilterOrigin::TributaryLog => "TRIBUTARY_LOG",
            FilterOrigin::RustLog => "RUST_LOG",
            FilterOrigin::File => "the configuration's `log`",
            FilterOrigin::Default => "the default",
        }
    }
}

/// The log filter: `TRIBUTARY_LOG`, else `RUST_LOG`, else the file's `log`, else `info`.
pub fn log_filter(file: &FileConfig) -> String {
    choose_filter(
        std::env::var("TRIBUTARY_LOG").ok(),
        std::env::var("RUST_LOG").ok(),
        file.log.as_deref(),
    )
    .0
}

fn choose_filter(
    tributary_log: Option<String>,
    rust_log: Option<String>,
    file: Option<&str>,
) -> (String, FilterOrigin) {
    let set = |value: Option<String>| value.filter(|text| !text.trim().is_empty());
    if let Some(filter) = set(tributary_log) {
        (filter, FilterOrigin::TributaryLog)
    } else if let Some(filter) = set(rust_log) {
        (filter, FilterOrigin::RustLog)
    } else if let Some(filter) = set(file.map(str::to_owned)) {
        (filter, FilterOrigin::File)
    } else {
        ("info".to_owned(), FilterOrigin::Default)
    }
}

/// The format: the flag (or `TRIBUTARY_LOG_FORMAT`), else the file's `log_format`, else text.
pub fn log_format(flag: Option<LogFormat>, file: &FileConfig) -> LogFormat {
    flag.or(file.log_format).unwrap_or_default()
}

/// A filter that does not parse stops start-up, naming where it came from: a typo must not
/// silently turn the logs off.
fn parse_filter(filter: &str, origin: FilterOrigin) -> anyhow::Result<EnvFilter> {
    EnvFilter::try_new(filter).map_err(|error| {
        crate::failure::config(format!(
            "the log filter `{filter}` ({}) is invalid: {error}",
            origin.describe()
        ))
    })
}

/// What the subscriber's layers are stacked on: the registry behind the filter.
type Filtered = Layered<EnvFilter, Registry>;
type BoxedLayer = Box<dyn Layer<Filtered> + Send + Sync>;

fn log_lines(format: LogFormat) -> BoxedLayer {
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .boxed(),
    }
}

/// The logging (and tracing) of a running process; [`Telemetry::stop`] sends what is left.
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    traces: Option<otlp::Traces>,
}

impl Telemetry {
    /// Sends the spans not yet exported; call it before the process ends.
    pub async fn stop(self) {
        #[cfg(feature = "otlp")]
        if let Some(traces) = self.traces {
            traces.stop().await;
        }
    }
}

/// Installs the process's logging (and tracing, when configured). Fails on a wrong filter, or
/// an OTLP endpoint this build cannot honour or that is not a URL.
pub fn start(file: &FileConfig, format_flag: Option<LogFormat>) -> anyhow::Result<Telemetry> {
    let (filter, origin) = choose_filter(
        std::env::var("TRIBUTARY_LOG").ok(),
        std::env::var("RUST_LOG").ok(),
        file.log.as_deref(),
    );
    let filter = parse_filter(&filter, origin)?;
    let lines = log_lines(log_format(format_flag, file));
    #[cfg(feature = "otlp")]
    let traces = match &file.telemetry.otlp_endpoint {
        Some(endpoint) => {
            let service = file
                .telemetry
                .service_name
                .as_deref()
                .unwrap_or("tributary");
            Some(otlp::Traces::start(endpoint, service)?)
        }
        None => None,
    };
    #[cfg(feature = "otlp")]
    let layers: Vec<BoxedLayer> = std::iter::once(lines)
        .chain(traces.as_ref().map(otlp::Traces::layer))
        .collect();
    #[cfg(not(feature = "otlp"))]
    let layers = vec![lines];
    #[cfg(not(feature = "otlp"))]
    if file.telemetry.otlp_endpoint.is_some() {
        return Err(crate::failure::config(
            "[telemetry] otlp_endpoint is set, but this build of tributary has no OTLP export \
             (build it with the `otlp` feature)",
        ));
    }
    // Another subscriber already installed (a test harness) keeps its place.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init();
    Ok(Telemetry {
        #[cfg(feature = "otlp")]
        traces,
    })
}

#[cfg(feature = "otlp")]
mod otlp;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_comes_from_tributary_log_then_rust_log_then_the_file() {
        let some = |text: &str| Some(text.to_owned());
        assert_eq!(
            choose_filter(some("debug"), some("warn"), Some("error")),
            ("debug".to_owned(), FilterOrigin::TributaryLog)
        );
        assert_eq!(
            choose_filter(None, some("warn"), Some("error")),
            ("warn".to_owned(), FilterOrigin::RustLog)
        );
        assert_eq!(
            choose_filter(some(" "), None, Some("error")),
            ("error".to_owned(), FilterOrigin::File)
        );
        assert_eq!(
            choose_filter(None, None, None),
            ("info".to_owned(), FilterOrigin::Default)
        );
    }

    #[test]
    fn a_filter_that_does_not_parse_is_refused_with_its_origin() {
        let error = parse_filter("tributary=loud", FilterOrigin::RustLog).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("RUST_LOG"), "{message}");
        assert!(message.contains("tributary=loud"), "{message}");
        assert!(parse_filter("info,tributary_server=debug", FilterOrigin::File).is_ok());
    }

    #[test]
    fn the_flag_wins_over_the_file() {
        let file: FileConfig = toml::from_str("log_format = \"json\"").unwrap();
        assert_eq!(log_format(None, &file), LogFormat::Json);
        assert_eq!(log_format(Some(LogFormat::Text), &file), LogFormat::Text);
        assert_eq!(log_format(None, &FileConfig::default()), LogFormat::Text);
        let wrong = toml::from_str::<FileConfig>("log_format = \"xml\"").unwrap_err();
        assert!(wrong.to_string().contains("xml"), "{wrong}");
    }
}
