//! The tenant verbs over a running server's REST API (`--api URL --token TOKEN`), for operators
//! and scripts that do not reach the database: the same answers as `/v1`, printed like the
//! database verbs print theirs.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

/// Where a tenant verb acts: the database (default) or a server's API.
#[derive(Args, Debug, Clone, Default)]
pub struct ApiArgs {
    /// Call this server's REST API instead of opening the database (`http://127.0.0.1:8080`).
    #[arg(long = "api", env = "TRIBUTARY_API_URL", value_name = "URL")]
    pub url: Option<String>,
    /// The tenant API token for `--api` (better given as `TRIBUTARY_API_TOKEN`).
    #[arg(long = "token", env = "TRIBUTARY_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ApiArgs {
    /// A client when `--api` is given.
    pub fn client(&self) -> anyhow::Result<Option<ApiClient>> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let Some(token) = &self.token else {
            return Err(crate::failure::usage(
                "--api needs a tenant API token: --token or TRIBUTARY_API_TOKEN",
            ));
        };
        tributary_providerkit::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Some(ApiClient::new(http, url, token.clone())))
    }
}

/// The tenant to act for on the database; over the API the token names it.
pub fn tenant_for_db(tenant: Option<String>) -> anyhow::Result<String> {
    tenant.ok_or_else(|| {
        crate::failure::usage(
            "--tenant is required on the database (over --api the token names the tenant)",
        )
    })
}

/// An error answer of the API: its status and error class decide the exit code
/// (`crate::failure`), its message (with the request id) is shown.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    /// The error class of a provider or setup failure (`auth`, `config`, `provider`, ...).
    pub kind: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiFailure {}

pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// The token this client calls with (the demo shows its tenant's, to sign in to the UI).
    #[cfg(feature = "demo")]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A client of the API at `base` (`http://127.0.0.1:8080`) calling with `token`.
    pub fn new(http: reqwest::Client, base: &str, token: String) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        }
    }

    /// Calls the API; an error answer becomes an error with the server's message and request id.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("calling {method} {}{path}", self.base))?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let error = &value["error"];
        let message = match error["message"].as_str() {
            Some(message) => format!(
                "{message} ({status}, request {})",
                error["requestId"].as_str().unwrap_or("?")
            ),
            None => format!("{method} {path} answered {status}"),
        };
        Err(ApiFailure {
            status: status.as_u16(),
            kind: error["kind"].as_str().map(str::to_owned),
            message,
        }
        .into())
    }

    pub async fn list_integrations(&self) -> anyhow::Result<Value> {
        Ok(Value::Array(self.list_all("/v1/integrations").await?))
    }

    /// Every item of a paged list (`{"items", "nextCursor"}`), following the cursors, 500 at a
    /// time. `path` has no query of its own.
    pub async fn list_all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(cursor) => format!("{path}?limit=500&cursor={}", query_encoded(cursor)),
                None => format!("{path}?limit=500"),
            };
            let mut page = self.call(Method::GET, &page_path, None).await?;
            match page["items"].take() {
                Value::Array(page_items) => items.extend(page_items),
                _ => bail!("GET {path} did not answer a page of items"),
            }
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }

    pub async fn create_integration(
        &self,
        definition: &str,
        name: Option<&str>,
        input: Value,
    ) -> anyhow::Result<Value> {
        let mut body = json!({"definitionId": definition, "userInput": input});
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        self.call(Method::POST, "/v1/integrations", Some(body))
            .await
    }

    pub async fn connect(
        &self,
        integration: &str,
        connection: &str,
        credentials: Value,
    ) -> anyhow::Result<Value> {
        let redirect = credentials.as_object().is_none_or(|c| c.is_empty());
        if redirect {
            // An OAuth or app-install mode answers with the URL to open; a form mode with no
            // credentials is refused by the server with its reason.
            let begun = self
                .call(
                    Method::POST,
                    &format!("/v1/integrations/{integration}/auth"),
                    Some(json!({"connection": connection})),
                )
                .await;
            if begun.is_ok() {
                return begun;
            }
        }
        self.call(
            Method::POST,
            &format!("/v1/integrations/{integration}/connect"),
            Some(json!({"connection": connection, "credentials": credentials})),
        )
        .await
    }

    pub async fn delete_integration(&self, integration: &str) -> anyhow::Result<Value> {
        self.call(
            Method::DELETE,
            &format!("/v1/integrations/{integration}"),
            None,
        )
        .await
    }

    /// Queues an operation and follows the run until it ends, calling `on_progress` at each look.
    pub async fn run_to_end(
        &self,
        integration: &str,
        operation: &str,
        config: Value,
        mut on_progress: impl FnMut(&Value),
    ) -> anyhow::Result<Value> {
        let started = self
            .call(
                Method::POST,
                &format!("/v1/integrations/{integration}/operations/{operation}/runs"),
                Some(json!({"config": config, "mode": "queued"})),
            )
            .await?;
        let run_id = started["run"]["id"]
            .as_str()
            .context("the server did not say which run it queued")?
            .to_owned();
        loop {
            let details = self
                .call(Method::GET, &format!("/v1/runs/{run_id}"), None)
                .await?;
            on_progress(&details["run"]);
            if !matches!(
                details["run"]["status"].as_str(),
                Some("pending" | "running")
            ) {
                return Ok(details["run"].clone());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn list_runs(&self, integration: &str, limit: i64) -> anyhow::Result<Value> {
        self.call(
            Method::GET,
            &format!("/v1/runs?integrationId={integration}&limit={limit}"),
            None,
        )
        .await
    }

    pub async fn run_details(&self, run: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, &format!("/v1/runs/{run}"), None)
            .await
    }

    pub async fn cancel_run(&self, run: &str) -> anyhow::Result<Value> {
        self.call(Method::POST, &format!("/v1/runs/{run}/cancel"), None)
            .await
    }
}

/// `text` as a query component: unreserved characters as they are, every other byte
/// percent-encoded.
fn query_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
