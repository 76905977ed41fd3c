//! Security Command Center operations: the health check, the findings collect, and metadata.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    IntegrationMetadata, MetadataRequest, OperationContext, OperationError, StableName,
};
use tributary_providerkit::{
    CursorPage, Page, ResumableRun, next_cursor, vulnerabilities_and_findings,
};

use crate::registration::settingless_configs;

use super::{GcpSccApi, GcpSccOperatorConfig, GcpSccWorkloadIdentity, client};

/// SCC serves at most 1,000 findings a page (default 10).
const MAX_PAGE_SIZE: u32 = 1000;
const DEFAULT_PAGE_SIZE: u32 = 500;

settingless_configs! {
    /// Lists one finding at the parent with the filter: proves the token, the role at the scope and
    /// the filter's syntax.
    HealthCheck;
}

/// Lists every finding of every source at the parent that matches the filter.
#[derive(StableName, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FindingsCollect {
    /// Findings per request (default 500, at most 1000).
    #[serde(default)]
    pub page_size: Option<u32>,
}

pub async fn health_check(
    _ctx: OperationContext,
    api: &GcpSccApi,
) -> Result<Value, OperationError> {
    let path = api.findings_path();
    let answer = api
        .get_json(|http| {
            http.get(&path)
                .query("pageSize", "1")
                .query("filter", &api.filter)
        })
        .await?;
    Ok(json!({
        "parent": api.parent,
        "location": api.location,
        "filter": api.filter,
        "totalSize": answer.get("totalSize").cloned().unwrap_or(json!(0)),
    }))
}

/// The parent identifies the external account; the service account is what acts.
pub async fn resolve_metadata(
    request: MetadataRequest,
    operator: GcpSccOperatorConfig,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let api = client::build(&request.integration, &request.credentials, &operator)?;
    let connection = if request
        .credentials
        .get::<GcpSccWorkloadIdentity>()?
        .is_some()
    {
        "workloadIdentity"
    } else {
        "serviceAccountKey"
    };
    Ok(Some(IntegrationMetadata {
        external_id: api.parent.clone(),
        external_name: api.parent.clone(),
        attributes: json!({
            "parent": api.parent,
            "location": api.location,
            "filter": api.filter,
            "connection": connection,
            "serviceAccountEmail": client::acting_account(&request.credentials)?,
        }),
    }))
}

fn finding_class(result: &Value) -> &str {
    result
        .pointer("/finding/findingClass")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Emits each page as it arrives and saves the page token after it, so a throttled or
/// interrupted run resumes where it stopped. Results of class VULNERABILITY go to
/// `Vulnerability`, every other class (misconfiguration, threat, observation, ...) to `Finding`.
pub async fn findings_collect(
    ctx: OperationContext,
    config: FindingsCollect,
    api: &GcpSccApi,
) -> Result<(), OperationError> {
    let page_size = config
        .page_size
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE)
        .to_string();
    let (path, page_size) = (&api.findings_path(), &page_size);
    ResumableRun::load(&ctx)
        .cursor_phase("findings", |cursor| async move {
            let page = fetch_page(api, path, page_size, cursor).await?;
            let sets = vulnerabilities_and_findings(page.items, "/finding/name", |result| {
                finding_class(result) == "VULNERABILITY"
            });
            Ok(CursorPage {
                sets: sets.into(),
                next_cursor: page.next_cursor,
            })
        })
        .await
}

/// One page of findings, from `cursor` (`None`: the first page). Each request gets a current
/// token (and one retry with a fresh token on a 401).
async fn fetch_page(
    api: &GcpSccApi,
    path: &str,
    page_size: &str,
    cursor: Option<String>,
) -> Result<Page, OperationError> {
    let answer = api
        .get_json(|http| {
            let request = http
                .get(path)
                .query("pageSize", page_size)
                .query("filter", &api.filter);
            match &cursor {
                Some(token) => request.query("pageToken", token),
                None => request,
            }
        })
        .await?;
    // An empty listing leaves `listFindingsResults` out.
    let items = match answer.get("listFindingsResults") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            return Err(OperationError::provider(
                "an SCC findings page has no listFindingsResults list",
            ));
        }
    };
    Ok(Page {
        items,
        next_cursor: next_cursor(&answer, "/nextPageToken"),
        body: Value::Null,
    })
}
