//! Defender for Cloud operations: the health check (the subscriptions the principal can read),
//! the collect of assessments and sub-assessments, and metadata resolution.

use std::collections::HashMap;

use serde_json::{Value, json};
use tributary_core::{
    ErrorKind, IngestPayloadSet, IntegrationMetadata, MappingEnvelope, MetadataRequest,
    OperationContext, OperationError, StableName,
};
use tributary_model::{Finding, IngestModel, Vulnerability};
use tributary_providerkit::{Pagination, Paginator, ResumableRun};

use crate::registration::settingless_configs;

use super::{ArmApi, AzureClientCertificate, AzureClientSecret, client};

pub(super) const SUBSCRIPTIONS_API: &str = "2022-12-01";
pub(super) const ASSESSMENTS_API: &str = "2021-06-01";
pub(super) const SUB_ASSESSMENTS_API: &str = "2019-01-01-preview";

/// ARM collections: `value` and an absolute `nextLink` on the same host.
const ARM_PAGES: Pagination = Pagination::NextLink {
    link: "/nextLink",
    items: "/value",
};

settingless_configs! {
    /// Lists the subscriptions the service principal can see, checks the configured ones are among
    /// them, and reads the first page of assessments of the first one (proving the Microsoft.Security
    /// read permission).
    HealthCheck;

    /// Collects every assessment (unhealthy ones unless `includeHealthy`) and sub-assessment of the
    /// subscriptions: a complete listing, so what disappeared is tombstoned.
    DefenderCollect;
}

/// A subscription as `GET /subscriptions` lists it.
#[derive(Debug, Clone)]
pub(super) struct Subscription {
    pub id: String,
    pub display_name: Option<String>,
    pub state: Option<String>,
}

async fn visible_subscriptions(api: &ArmApi) -> Result<Vec<Subscription>, OperationError> {
    let request = api
        .http
        .get("/subscriptions")
        .query("api-version", SUBSCRIPTIONS_API);
    let items = Paginator::new(request, ARM_PAGES).collect_all().await?;
    Ok(items
        .into_iter()
        .filter_map(|item| {
            let id = item
                .get("subscriptionId")
                .and_then(Value::as_str)?
                .to_ascii_lowercase();
            Some(Subscription {
                id,
                display_name: item
                    .get("displayName")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                state: item.get("state").and_then(Value::as_str).map(str::to_owned),
            })
        })
        .collect())
}

/// The subscriptions to collect from: the configured ones (each must be visible), or every
/// visible one that is not deleted.
async fn target_subscriptions(api: &ArmApi) -> Result<Vec<Subscription>, OperationError> {
    let visible = visible_subscriptions(api).await?;
    if api.input.subscription_ids.is_empty() {
        let targets: Vec<Subscription> = visible
            .into_iter()
            .filter(|s| s.state.as_deref() != Some("Deleted"))
            .collect();
        if targets.is_empty() {
            return Err(OperationError::config(format!(
                "the service principal {} sees no subscription: assign it the Security Reader role on the subscriptions to collect",
                api.client_id
            )));
        }
        return Ok(targets);
    }
    let mut targets = Vec::new();
    let mut missing = Vec::new();
    for id in &api.input.subscription_ids {
        match visible.iter().find(|s| &s.id == id) {
            Some(found) => targets.push(found.clone()),
            None => missing.push(id.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(OperationError::config(format!(
            "subscriptionIds: the service principal {} cannot see {}: assign it the Security Reader role there, or remove the id",
            api.client_id,
            missing.join(", ")
        )));
    }
    Ok(targets)
}

/// ARM's 403 `AuthorizationFailed` names the missing action; say which role grants it.
fn permission_hint(subscription: &str, err: OperationError) -> OperationError {
    if err.kind == ErrorKind::Auth && err.message.contains("403") {
        OperationError::auth(format!(
            "subscription {subscription}: the service principal may not read Microsoft.Security (assign the Security Reader role): {}",
            err.message
        ))
    } else {
        err
    }
}

pub async fn health_check(_ctx: OperationContext, api: &ArmApi) -> Result<Value, OperationError> {
    let targets = target_subscriptions(api).await?;
    let first = &targets[0];
    let page = Paginator::new(assessments_request(api, &first.id), ARM_PAGES)
        .next_page()
        .await
        .map_err(|err| permission_hint(&first.id, err))?;
    Ok(json!({
        "tenantId": api.tenant_id,
        "clientId": api.client_id,
        "subscriptions": targets.iter().map(|s| json!({
            "subscriptionId": s.id, "displayName": s.display_name, "state": s.state,
        })).collect::<Vec<_>>(),
        "count": targets.len(),
        "assessmentsOnFirstPage": page.map(|p| p.items.len()).unwrap_or(0),
    }))
}

fn assessments_request(api: &ArmApi, subscription: &str) -> tributary_providerkit::ProviderRequest {
    api.http
        .get(&format!(
            "/subscriptions/{subscription}/providers/Microsoft.Security/assessments"
        ))
        .query("api-version", ASSESSMENTS_API)
}

fn assessment_metadata_request(
    api: &ArmApi,
    subscription: &str,
) -> tributary_providerkit::ProviderRequest {
    api.http
        .get(&format!(
            "/subscriptions/{subscription}/providers/Microsoft.Security/assessmentMetadata"
        ))
        .query("api-version", ASSESSMENTS_API)
}

/// The metadata of every assessment type visible in the subscription (built-in and custom), by
/// assessment name in lower case. A few hundred entries, read once per collect of the
/// subscription.
async fn assessment_metadata(
    api: &ArmApi,
    subscription: &str,
) -> Result<HashMap<String, Value>, OperationError> {
    let items = Paginator::new(assessment_metadata_request(api, subscription), ARM_PAGES)
        .collect_all()
        .await?;
    Ok(items
        .into_iter()
        .filter_map(|mut item| {
            let name = item.get("name")?.as_str()?.to_ascii_lowercase();
            Some((name, item.get_mut("properties")?.take()))
        })
        .collect())
}

/// The assessment with its type's metadata as `properties.metadata`, where the assessment
/// carries none (as a single-assessment GET with `$expand=metadata` would show it).
fn with_metadata(mut assessment: Value, metadata: &HashMap<String, Value>) -> Value {
    let name = assessment
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    if let (Some(found), Some(properties)) = (
        name.and_then(|name| metadata.get(&name)),
        assessment
            .get_mut("properties")
            .and_then(Value::as_object_mut),
    ) && !properties.contains_key("metadata")
    {
        properties.insert("metadata".into(), found.clone());
    }
    assessment
}

fn sub_assessments_request(
    api: &ArmApi,
    subscription: &str,
) -> tributary_providerkit::ProviderRequest {
    api.http
        .get(&format!(
            "/subscriptions/{subscription}/providers/Microsoft.Security/subAssessments"
        ))
        .query("api-version", SUB_ASSESSMENTS_API)
}

fn status_code(item: &Value) -> &str {
    item.pointer("/properties/status/code")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn arm_id(item: &Value) -> Option<String> {
    item.get("id")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

/// Whether a sub-assessment names at least one CVE (then it is a vulnerability).
fn has_cve(item: &Value) -> bool {
    item.pointer("/properties/additionalData/cve")
        .and_then(Value::as_array)
        .is_some_and(|cves| {
            cves.iter().any(|cve| {
                cve.get("title")
                    .and_then(Value::as_str)
                    .is_some_and(|title| title.to_ascii_uppercase().starts_with("CVE-"))
            })
        })
}

/// Emits each page as it arrives and saves the page cursor after it, per subscription and
/// listing, so a throttled or interrupted run resumes where it stopped.
pub async fn collect(ctx: OperationContext, api: &ArmApi) -> Result<(), OperationError> {
    let mut run = ResumableRun::load(&ctx);
    let include_healthy = api.input.include_healthy == Some(true);
    let keep = |item: &Value| include_healthy || status_code(item) == "Unhealthy";
    for subscription in target_subscriptions(api).await? {
        let sub = subscription.id.as_str();
        let phase = format!("assessments:{sub}");
        if let Some(mut assessments) = run.phase(&phase, ARM_PAGES) {
            // ARM's assessment list carries no metadata (it cannot `$expand`): severity,
            // category, description, remediation and policy come from the metadata listing,
            // joined by assessment name.
            let metadata = assessment_metadata(api, sub)
                .await
                .map_err(|err| permission_hint(sub, err))?;
            let request = assessments_request(api, sub);
            while let Some(page) = assessments
                .next_page(request.clone())
                .await
                .map_err(|err| permission_hint(sub, err))?
            {
                let envelopes: Vec<MappingEnvelope> = page
                    .items
                    .into_iter()
                    .filter(|item| keep(item))
                    .filter_map(|item| {
                        let id = arm_id(&item)?;
                        Some(
                            MappingEnvelope::new(with_metadata(item, &metadata))
                                .variant("assessment")
                                .resource(id),
                        )
                    })
                    .collect();
                let findings = IngestPayloadSet::new(Finding::METADATA.schema, envelopes);
                run.page_done(&phase, &assessments, [findings]).await?;
            }
        }
        if api.input.collect_sub_assessments == Some(false) {
            continue;
        }
        let phase = format!("subassessments:{sub}");
        if let Some(mut sub_assessments) = run.phase(&phase, ARM_PAGES) {
            let request = sub_assessments_request(api, sub);
            while let Some(page) = sub_assessments
                .next_page(request.clone())
                .await
                .map_err(|err| permission_hint(sub, err))?
            {
                let mut findings = Vec::new();
                let mut vulnerabilities = Vec::new();
                for item in page.items.into_iter().filter(|item| keep(item)) {
                    let Some(id) = arm_id(&item) else { continue };
                    let envelope = MappingEnvelope::new(item.clone())
                        .variant("subassessment")
                        .resource(id);
                    if has_cve(&item) {
                        vulnerabilities.push(envelope);
                    } else {
                        findings.push(envelope);
                    }
                }
                let sets = [
                    IngestPayloadSet::new(Finding::METADATA.schema, findings),
                    IngestPayloadSet::new(Vulnerability::METADATA.schema, vulnerabilities),
                ];
                run.page_done(&phase, &sub_assessments, sets).await?;
            }
        }
    }
    Ok(())
}

/// The tenant identifies the external account; the client id and subscriptions describe it.
/// Nothing secret goes into metadata.
pub async fn resolve_metadata(
    request: MetadataRequest,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let input = client::user_input(&request.integration.user_input)?;
    let raw = request
        .credentials
        .raw(AzureClientSecret::NAME)
        .or_else(|| request.credentials.raw(AzureClientCertificate::NAME));
    let Some(raw) = raw else { return Ok(None) };
    let text = |name: &str| {
        raw.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (tenant_id, client_id) = (text("tenantId"), text("clientId"));
    if tenant_id.is_empty() && client_id.is_empty() && input.subscription_ids.is_empty() {
        return Ok(None);
    }
    let mode = if raw.get("certificate").is_some() {
        "certificate"
    } else {
        "clientSecret"
    };
    Ok(Some(IntegrationMetadata {
        external_id: tenant_id.clone(),
        external_name: format!("Azure tenant {tenant_id}"),
        attributes: json!({
            "tenantId": tenant_id,
            "clientId": client_id,
            "subscriptionIds": input.subscription_ids,
            "mode": mode,
        }),
    }))
}
