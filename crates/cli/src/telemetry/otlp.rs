//! Spans exported over OTLP/HTTP (protobuf) to an OpenTelemetry collector.
//!
//! The SDK's batch processor exports from a thread of its own, outside the async runtime; its
//! HTTP requests are handed to the process's runtime and sent with the workspace's reqwest
//! client, so that one HTTP stack serves providers and telemetry alike.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_subscriber::Layer;

use super::BoxedLayer;

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest collector answer read (an OTLP answer is a few bytes, or a short error).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The exporting half of the process's tracing.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Starts exporting to the collector at `base` (`http://collector:4318`); spans go to
    /// `<base>/v1/traces`. Call it on the async runtime that will send the exports.
    pub fn start(base: &str, service_name: &str) -> anyhow::Result<Self> {
        let endpoint = traces_url(base)?;
        tributary_providerkit::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .context("cannot build the HTTP client of the OTLP export")?;
        let runtime = tokio::runtime::Handle::try_current()
            .context("the OTLP export starts on the async runtime")?;
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(OnRuntime { client, runtime })
            .build()
            .context("cannot set up the OTLP export")?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(service_name.to_owned())
                    .build(),
            )
            .build();
        Ok(Self { provider })
    }

    /// The layer that turns the process's spans into exported ones.
    pub fn layer(&self) -> BoxedLayer {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("tributary"))
            .boxed()
    }

    /// Exports what is left and stops. The SDK blocks while it flushes, and the flush's
    /// requests run on this runtime: so it waits on a thread of its own.
    pub async fn stop(self) {
        let provider = self.provider;
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = stopped {
            eprintln!("the last spans could not be exported: {error}");
        }
    }
}

/// `<base>/v1/traces`; `base` must be an http(s) URL.
fn traces_url(base: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(base).map_err(|error| {
        crate::failure::config(format!(
            "[telemetry] otlp_endpoint `{base}` is not a URL: {error}"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(crate::failure::config(format!(
            "[telemetry] otlp_endpoint `{base}` must be an http or https URL"
        )));
    }
    Ok(format!("{}/v1/traces", base.trim_end_matches('/')))
}

/// Sends the exporter's requests on the process's runtime with reqwest.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let mut response = client.execute(request).await?;
            let mut answer = http::Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = response.headers().clone();
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err::<_, HttpError>("the collector's answer is too large".into());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(answer.body(Bytes::from(body))?)
        });
        sent.await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_follows_the_base_url() {
        assert_eq!(
            traces_url("http://collector:4318").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://otel.example.com/").unwrap(),
            "https://otel.example.com/v1/traces"
        );
        assert!(traces_url("collector:4318").is_err());
        assert!(traces_url("not a url").is_err());
    }
}
