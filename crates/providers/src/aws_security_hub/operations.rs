//! Security Hub operations: the health check, the findings collect, the Audit Manager
//! assessments collect, and metadata.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tributary_core::{
    IngestPayloadSet, IntegrationMetadata, MappingEnvelope, MetadataRequest, OperationContext,
    OperationError, StableName,
};
use tributary_model::{Finding, IngestModel};
use tributary_providerkit::{
    CursorPage, Method, ResumableRun, next_cursor, vulnerabilities_and_findings, xml_text,
};

use crate::registration::settingless_configs;

use super::{
    AwsSecurityHubApi, AwsSecurityHubOperatorConfig, SeverityFloor,
    client::{self, Service},
};

/// GetFindings returns at most 100 findings a page.
const MAX_FINDINGS_PAGE: u32 = 100;
/// ListAssessments returns at most 1,000 a page.
const MAX_ASSESSMENTS_PAGE: u32 = 1000;
const DEFAULT_ASSESSMENTS_PAGE: u32 = 100;

settingless_configs! {
    /// Describes the hub of every configured region.
    HealthCheck;
}

/// Lists the active findings of every configured region, filtered server-side by account and
/// severity.
#[derive(StableName, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FindingsCollect {
    /// Findings per request (default and maximum 100).
    #[serde(default)]
    pub page_size: Option<u32>,
}

/// Which assessments to list.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssessmentStatus {
    Active,
    Inactive,
}

/// Lists the Audit Manager assessments of the home region.
#[derive(StableName, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssessmentsCollect {
    /// Only assessments in this status (default: both).
    #[serde(default)]
    pub status: Option<AssessmentStatus>,
    /// Assessments per request (default 100, at most 1000).
    #[serde(default)]
    pub page_size: Option<u32>,
}

/// Every configured region must have Security Hub enabled: a region that is not would fail
/// every collect, so it fails the connection instead, naming the region.
pub async fn health_check(
    _ctx: OperationContext,
    api: &AwsSecurityHubApi,
) -> Result<Value, OperationError> {
    let mut hubs = Vec::new();
    for region in &api.scope.regions {
        let hub = api
            .call_json(
                Service::SecurityHub,
                region,
                Method::GET,
                "/accounts",
                |r| r,
            )
            .await
            .map_err(|err| OperationError {
                message: format!("Security Hub in {region}: {}", err.message),
                ..err
            })?;
        hubs.push(json!({
            "region": region,
            "hubArn": hub.get("HubArn").cloned().unwrap_or(Value::Null),
            "subscribedAt": hub.get("SubscribedAt").cloned().unwrap_or(Value::Null),
        }));
    }
    Ok(json!({
        "homeRegion": api.scope.home_region,
        "regions": api.scope.regions,
        "accountIds": api.scope.account_ids,
        "hubs": hubs,
    }))
}

/// The account and identity the credentials act as (STS GetCallerIdentity), which also proves
/// them before anything else is stored.
pub async fn resolve_metadata(
    request: MetadataRequest,
    operator: AwsSecurityHubOperatorConfig,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let api = client::build(&request.integration, &request.credentials, &operator)?;
    let answer = api
        .call(
            Service::Sts,
            &api.scope.home_region,
            Method::POST,
            "/",
            |r| r.form([("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]),
        )
        .await?;
    let xml = answer.text();
    let account = xml_text(&xml, "Account")
        .ok_or_else(|| OperationError::provider("GetCallerIdentity returned no Account"))?;
    let arn = xml_text(&xml, "Arn").unwrap_or_default();
    Ok(Some(IntegrationMetadata {
        external_id: account.clone(),
        external_name: format!("AWS account {account}"),
        attributes: json!({
            "accountId": account,
            "callerArn": arn,
            "roleArn": api.assumes_role(),
            "connection": if api.assumes_role().is_some() { "assumeRole" } else { "accessKeys" },
            "homeRegion": api.scope.home_region,
            "regions": api.scope.regions,
            "accountIds": api.scope.account_ids,
        }),
    }))
}

/// The severity labels at or above the floor.
fn severity_labels(floor: SeverityFloor) -> Vec<&'static str> {
    [
        (SeverityFloor::Informational, "INFORMATIONAL"),
        (SeverityFloor::Low, "LOW"),
        (SeverityFloor::Medium, "MEDIUM"),
        (SeverityFloor::High, "HIGH"),
        (SeverityFloor::Critical, "CRITICAL"),
    ]
    .into_iter()
    .filter(|(level, _)| *level >= floor)
    .map(|(_, label)| label)
    .collect()
}

/// The GetFindings filters of one region: active records of the region, of the chosen
/// accounts, at or above the severity floor. Several values of one filter are ORed by
/// Security Hub; different filters are ANDed.
pub(super) fn findings_filters(api: &AwsSecurityHubApi, region: &str) -> Value {
    let equals = |value: &str| json!({"Value": value, "Comparison": "EQUALS"});
    let mut filters = Map::new();
    filters.insert("RecordState".into(), json!([equals("ACTIVE")]));
    filters.insert("Region".into(), json!([equals(region)]));
    if !api.scope.account_ids.is_empty() {
        let accounts: Vec<Value> = api.scope.account_ids.iter().map(|a| equals(a)).collect();
        filters.insert("AwsAccountId".into(), Value::Array(accounts));
    }
    if api.scope.severity_floor != SeverityFloor::Informational {
        let labels: Vec<Value> = severity_labels(api.scope.severity_floor)
            .into_iter()
            .map(equals)
            .collect();
        filters.insert("SeverityLabel".into(), Value::Array(labels));
    }
    Value::Object(filters)
}

/// Whether an ASFF finding is about a software vulnerability (Inspector and partner scanners
/// fill `Vulnerabilities`); every other finding (failed controls, threats, exposures) is a
/// `Finding`.
fn is_vulnerability(finding: &Value) -> bool {
    finding
        .get("Vulnerabilities")
        .and_then(Value::as_array)
        .is_some_and(|list| !list.is_empty())
}

/// Region by region, emits each page as it arrives and saves that region's token after it, so a
/// throttled or interrupted run resumes where it stopped.
pub async fn findings_collect(
    ctx: OperationContext,
    config: FindingsCollect,
    api: &AwsSecurityHubApi,
) -> Result<(), OperationError> {
    let page_size = config
        .page_size
        .unwrap_or(MAX_FINDINGS_PAGE)
        .clamp(1, MAX_FINDINGS_PAGE);
    let mut run = ResumableRun::load(&ctx);
    for region in &api.scope.regions {
        let filters = &findings_filters(api, region);
        run.cursor_phase(&format!("findings:{region}"), |token| async move {
            let mut body = json!({"Filters": filters, "MaxResults": page_size});
            if let Some(token) = &token {
                body["NextToken"] = json!(token);
            }
            let page = api
                .call_json(
                    Service::SecurityHub,
                    region,
                    Method::POST,
                    "/findings",
                    |r| r.json(&body),
                )
                .await?;
            let findings = match page.get("Findings") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(findings)) => findings.clone(),
                Some(_) => {
                    return Err(OperationError::provider(
                        "a GetFindings page has no Findings list",
                    ));
                }
            };
            Ok(CursorPage {
                sets: vulnerabilities_and_findings(findings, "/Id", is_vulnerability).into(),
                next_cursor: next_cursor(&page, "/NextToken"),
            })
        })
        .await?;
    }
    Ok(())
}

/// REST-JSON timestamps are epoch seconds (with a fraction); the mapping reads RFC 3339.
fn epoch_to_rfc3339(value: &Value) -> Value {
    let Some(seconds) = value.as_f64() else {
        return value.clone();
    };
    let millis = (seconds * 1000.0).round() as i64;
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|at| json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

/// An assessment as the mapping reads it: ListAssessments' metadata with its times in RFC 3339,
/// and the account and region it was read from (the listing itself does not say).
fn assessment_payload(mut metadata: Value, account_id: &str, region: &str) -> Value {
    if let Some(fields) = metadata.as_object_mut() {
        for key in ["creationTime", "lastUpdated"] {
            if let Some(value) = fields.get(key) {
                let converted = epoch_to_rfc3339(value);
                fields.insert(key.into(), converted);
            }
        }
        fields.insert("awsAccountId".into(), json!(account_id));
        fields.insert("region".into(), json!(region));
    }
    metadata
}

/// Lists the home region's Audit Manager assessments, page by page, to `Finding` variant
/// `assessment`.
pub async fn assessments_collect(
    ctx: OperationContext,
    config: AssessmentsCollect,
    api: &AwsSecurityHubApi,
) -> Result<(), OperationError> {
    let page_size = config
        .page_size
        .unwrap_or(DEFAULT_ASSESSMENTS_PAGE)
        .clamp(1, MAX_ASSESSMENTS_PAGE);
    let region = api.scope.home_region.clone();
    let account_id = ctx
        .integration
        .metadata
        .get("externalId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (region, account_id) = (&region, &account_id);
    ResumableRun::load(&ctx)
        .cursor_phase("assessments", |token| async move {
            let status = config.status.map(|status| match status {
                AssessmentStatus::Active => "ACTIVE",
                AssessmentStatus::Inactive => "INACTIVE",
            });
            let page = api
                .call_json(
                    Service::AuditManager,
                    region,
                    Method::GET,
                    "/assessments",
                    |request| {
                        let mut request = request.query("maxResults", &page_size.to_string());
                        if let Some(status) = status {
                            request = request.query("status", status);
                        }
                        if let Some(token) = &token {
                            request = request.query("nextToken", token);
                        }
                        request
                    },
                )
                .await?;
            let assessments: Vec<MappingEnvelope> = page
                .get("assessmentMetadata")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|metadata| {
                    let id = metadata.get("id")?.as_str()?.to_owned();
                    Some(
                        MappingEnvelope::new(assessment_payload(metadata, account_id, region))
                            .variant("assessment")
                            .resource(id),
                    )
                })
                .collect();
            Ok(CursorPage {
                sets: vec![IngestPayloadSet::new(Finding::METADATA.schema, assessments)],
                next_cursor: next_cursor(&page, "/nextToken"),
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_keeps_labels_at_or_above_it() {
        assert_eq!(
            severity_labels(SeverityFloor::Medium),
            ["MEDIUM", "HIGH", "CRITICAL"]
        );
        assert_eq!(severity_labels(SeverityFloor::Informational).len(), 5);
    }

    #[test]
    fn assessment_times_become_rfc3339() {
        let payload = assessment_payload(
            json!({"id": "a", "creationTime": 1_764_000_000.25, "lastUpdated": "x"}),
            "111122223333",
            "us-east-1",
        );
        assert_eq!(payload["creationTime"], "2025-11-24T16:00:00Z");
        assert_eq!(payload["lastUpdated"], "x");
        assert_eq!(payload["awsAccountId"], "111122223333");
    }
}
