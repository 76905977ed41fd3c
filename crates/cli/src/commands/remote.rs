//! The tenant verbs over a running server's REST API (`--api URL --token TOKEN`), for operators
//! and scripts that do not reach the database: the answers of `/v1`, parsed into the server's
//! own view types, which the database side returns too (`super::target`).

use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context, bail};
use clap::Args;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tributary_server::api::views::{
    ConnectView, DisconnectView, IntegrationView, Page, RunDetailView, RunStartedView,
    RunStatusName, RunView,
};

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

    /// `GET path`, answered with its JSON body.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with the JSON `body`, answered with its JSON body.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body)).await
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

    /// Calls the API and parses its answer as `T`, one of the server's view types.
    async fn call_for<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<T> {
        let answer = self.call(method.clone(), path, body).await?;
        serde_json::from_value(answer)
            .with_context(|| format!("{method} {path} answered what this CLI does not read"))
    }

    pub async fn list_integrations(&self) -> anyhow::Result<Vec<IntegrationView>> {
        self.list_all("/v1/integrations")
            .await?
            .into_iter()
            .map(|item| {
                serde_json::from_value(item)
                    .context("GET /v1/integrations answered what this CLI does not read")
            })
            .collect()
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
    ) -> anyhow::Result<IntegrationView> {
        let mut body = json!({"definitionId": definition, "userInput": input});
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        self.call_for(Method::POST, "/v1/integrations", Some(body))
            .await
    }

    pub async fn connect(
        &self,
        integration: &str,
        connection: &str,
        credentials: BTreeMap<String, Value>,
    ) -> anyhow::Result<ConnectView> {
        if credentials.is_empty() {
            // An OAuth or app-install mode answers with the URL to open; a form mode with no
            // credentials is refused by the server with its reason.
            let begun = self
                .call_for(
                    Method::POST,
                    &format!("/v1/integrations/{integration}/auth"),
                    Some(json!({"connection": connection})),
                )
                .await;
            if begun.is_ok() {
                return begun;
            }
        }
        self.call_for(
            Method::POST,
            &format!("/v1/integrations/{integration}/connect"),
            Some(json!({"connection": connection, "credentials": credentials})),
        )
        .await
    }

    pub async fn delete_integration(&self, integration: &str) -> anyhow::Result<DisconnectView> {
        self.call_for(
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
        mut on_progress: impl FnMut(&RunView),
    ) -> anyhow::Result<RunView> {
        let started: RunStartedView = self
            .call_for(
                Method::POST,
                &format!("/v1/integrations/{integration}/operations/{operation}/runs"),
                Some(json!({"config": config, "mode": "queued"})),
            )
            .await?;
        loop {
            let details = self.run_details(&started.run.id).await?;
            on_progress(&details.run);
            if !matches!(
                details.run.status,
                RunStatusName::Pending | RunStatusName::Running
            ) {
                return Ok(details.run);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn list_runs(&self, integration: &str, limit: i64) -> anyhow::Result<Vec<RunView>> {
        let page: Page<RunView> = self
            .call_for(
                Method::GET,
                &format!("/v1/runs?integrationId={integration}&limit={limit}"),
                None,
            )
            .await?;
        Ok(page.items)
    }

    pub async fn run_details(&self, run: &str) -> anyhow::Result<RunDetailView> {
        self.call_for(Method::GET, &format!("/v1/runs/{run}"), None)
            .await
    }

    pub async fn cancel_run(&self, run: &str) -> anyhow::Result<RunView> {
        self.call_for(Method::POST, &format!("/v1/runs/{run}/cancel"), None)
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

#[cfg(test)]
mod tests {
    use serde::{Serialize, de::DeserializeOwned};
    use serde_json::{Value, json};
    use tributary_server::api::views::{ConnectView, DisconnectView, RunDetailView};

    /// `answer`, written as the server writes it, read back as `T` and written again.
    fn read_back<T: Serialize + DeserializeOwned>(answer: &Value) -> Value {
        let read: T = serde_json::from_value(answer.clone()).expect("the CLI reads the answer");
        serde_json::to_value(read).unwrap()
    }

    #[test]
    fn the_server_s_answers_read_back_unchanged() {
        let integration = json!({
            "id": "int_1", "definitionId": "cloudflare", "name": "Cloudflare",
            "status": "needs_reauth", "statusReason": null, "connection": "api_token",
            "userInput": {"accountId": "a1"}, "metadata": {}, "createdAt": 1, "updatedAt": 2,
        });
        let redirect = json!({
            "outcome": "redirect", "integration": integration, "webhookEndpoints": [],
            "scheduled": [], "authorizeUrl": "https://id.example/authorize", "expiresAt": 9,
        });
        assert_eq!(read_back::<ConnectView>(&redirect), redirect);
        let connected = json!({
            "outcome": "connected", "integration": integration, "scheduled": ["DirectorySync"],
            "webhookEndpoints": [{"id": "we_1", "name": "events", "url": "https://x/y", "secret": "s"}],
        });
        assert_eq!(read_back::<ConnectView>(&connected), connected);
        let details = json!({
            "run": {
                "id": "run_1", "integrationId": "int_1", "operation": "DirectorySync",
                "runType": "queued", "status": "partial", "attempt": 2, "config": {},
                "counters": {"written": 3}, "errorKind": "provider", "errorMessage": "boom",
                "result": null, "workflow": null, "createdAt": 1, "startedAt": 2,
                "finishedAt": 3, "durationMs": 1,
            },
            "logs": [{"at": 2, "level": "warn", "message": "slow", "fields": {"page": 1}}],
        });
        assert_eq!(read_back::<RunDetailView>(&details), details);
        let deleted = json!({
            "remote": null, "remoteError": "revoke failed", "cleanedUp": true,
            "credentialsDeleted": 1, "webhookEndpointsDeleted": 2, "schedulesDeleted": 3,
            "runsCancelled": 4,
        });
        assert_eq!(read_back::<DisconnectView>(&deleted), deleted);
    }
}
