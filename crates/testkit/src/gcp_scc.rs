//! A fake Google Cloud for Security Command Center: Google's OAuth token endpoint (the shared
//! [`FakeAuthorization`], verifying service-account JWT assertions against the account's public
//! key), the Security Token Service and the IAM credentials API for workload identity
//! federation, and the SCC v2 findings list.
//!
//! - `POST /token`: the JWT-bearer grant (RS256 assertion, `aud` = this endpoint).
//! - `POST /v1/token` (STS, RFC 8693): `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`,
//!   `audience` (the pool provider), `subject_token` (must be the external token the pool
//!   trusts), `subject_token_type`, `requested_token_type`, `scope`. Answers
//!   `{access_token, issued_token_type, token_type, expires_in}` or an OAuth error
//!   (`invalid_grant`, `invalid_request`, `invalid_target`).
//! - `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken` with a federated token
//!   whose principal may impersonate the account: `{accessToken, expireTime}`.
//! - `GET /v2/{organizations|folders|projects}/{id}/sources/-/locations/{location}/findings?
//!   filter=&pageSize=&pageToken=`: `{listFindingsResults: [{finding, resource}],
//!   nextPageToken, totalSize}` (the list left out when empty). `pageSize` defaults to 10, at most
//!   1000. The filter accepts `field="value"` terms joined by `AND` (fields `state`,
//!   `findingClass`, `severity`, `category`, `mute`); anything else is 400 INVALID_ARGUMENT. A
//!   page token is only valid with the filter it was issued for.
//! - Errors use Google's body `{"error": {"code", "message", "status"}}`: 401 UNAUTHENTICATED for
//!   a missing, unknown or expired token, 403 PERMISSION_DENIED for a parent the service account
//!   has no role at, 400 INVALID_ARGUMENT, 429 RESOURCE_EXHAUSTED with `Retry-After`.

#![allow(clippy::result_large_err)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    FakeServer,
    authorization::{AuthorizationPaths, BearerRefusal, CLIENT_PUBLIC_KEY_PEM, FakeAuthorization},
    controls::{Controls, retry_after},
    demo::DemoConnection,
    google::{self, ServiceAccount},
};

/// The service account the key and the federation impersonate.
pub const SERVICE_ACCOUNT_EMAIL: &str = "scc-reader@acme-security.iam.gserviceaccount.com";
pub const PROJECT_NUMBER: &str = "481516234200";
/// The workload identity pool provider trusting the external token.
pub const POOL_AUDIENCE: &str = "//iam.googleapis.com/projects/481516234200/locations/global/workloadIdentityPools/tributary/providers/tributary-oidc";
/// An external OIDC token the pool provider accepts (opaque to the fake, compared verbatim).
pub const SUBJECT_TOKEN: &str =
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0cmlidXRhcnktd29ya2xvYWQifQ.ZmFrZS1leHRlcm5hbC1zaWduYXR1cmU";
const PRINCIPAL: &str = "principal://iam.googleapis.com/projects/481516234200/locations/global/workloadIdentityPools/tributary/subject/tributary-workload";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const PAGE_DEFAULT: usize = 10;
const PAGE_MAX: usize = 1000;
const FILTER_FIELDS: [&str; 5] = ["state", "findingClass", "severity", "category", "mute"];

/// The findings of the fake organization.
#[derive(Debug, Clone)]
pub struct SccData {
    pub organization_id: String,
    pub project_id: String,
    /// `ListFindingsResult`s (`{finding, resource}`) in listing order.
    pub results: Vec<Value>,
}

impl SccData {
    /// An organization with `count` findings in project `acme-prod`: every 3rd a VULNERABILITY
    /// with a CVE (`i % 3 == 0`), then MISCONFIGURATION, then THREAT; every 10th INACTIVE, every
    /// 7th muted; severities cycle CRITICAL, HIGH, MEDIUM, LOW.
    pub fn sample(count: usize) -> Self {
        let organization_id = "123456789012".to_owned();
        let project_id = "acme-prod".to_owned();
        let results = (0..count)
            .map(|i| sample_result(i, &organization_id, &project_id))
            .collect();
        Self {
            organization_id,
            project_id,
            results,
        }
    }

    /// Removes the finding `name` (as if SCC no longer reported it).
    pub fn remove(&mut self, name: &str) {
        self.results.retain(|r| r["finding"]["name"] != name);
    }

    /// Sets a finding's state (`ACTIVE` or `INACTIVE`).
    pub fn set_state(&mut self, name: &str, state: &str) {
        for result in &mut self.results {
            if result["finding"]["name"] == name {
                result["finding"]["state"] = json!(state);
            }
        }
    }
}

/// The finding name of sample finding `i`.
pub fn finding_name(organization_id: &str, i: usize) -> String {
    let source = 5_000_000 + (i % 3) as u64;
    format!(
        "organizations/{organization_id}/sources/{source}/locations/global/findings/f{i:06}a1b2c3d4e5f60718293a4b5c6d"
    )
}

/// Sample finding `i` as the v2 API lists it.
pub fn sample_result(i: usize, organization_id: &str, project_id: &str) -> Value {
    let severity = ["CRITICAL", "HIGH", "MEDIUM", "LOW"][i % 4];
    let state = if i % 10 == 9 { "INACTIVE" } else { "ACTIVE" };
    let mute = if i % 7 == 6 { "MUTED" } else { "UNMUTED" };
    let instance = format!("web-{i:04}");
    let resource_name = format!(
        "//compute.googleapis.com/projects/{project_id}/zones/us-central1-a/instances/{instance}"
    );
    let name = finding_name(organization_id, i);
    let source_parent = name.split("/findings/").next().unwrap().to_owned();
    let create_time = format!("2026-10-{:02}T08:{:02}:11.482Z", 1 + i % 28, i % 60);
    let event_time = format!("2026-11-{:02}T12:{:02}:45.031Z", 1 + i % 27, i % 60);
    let mut finding = json!({
        "name": name,
        "canonicalName": name.replace(&format!("organizations/{organization_id}"), &format!("projects/{PROJECT_NUMBER}")),
        "parent": source_parent,
        "resourceName": resource_name,
        "state": state,
        "severity": severity,
        "mute": mute,
        "eventTime": event_time,
        "createTime": create_time,
        "securityMarks": {"name": format!("{name}/securityMarks")},
        "parentDisplayName": "",
    });
    match i % 3 {
        0 => {
            let cve = format!("CVE-2026-{:05}", 20000 + i);
            let base_score = [9.8, 7.5, 5.3, 3.1][i % 4];
            finding["findingClass"] = json!("VULNERABILITY");
            finding["category"] = json!("OS_VULNERABILITY");
            finding["parentDisplayName"] = json!("VM Manager");
            finding["description"] = json!(format!(
                "{cve}: a heap overflow in libexample allows remote code execution.\nUpgrade libexample."
            ));
            finding["externalUri"] = json!(format!(
                "https://console.cloud.google.com/compute/instancesDetail/zones/us-central1-a/instances/{instance}?project={project_id}"
            ));
            finding["vulnerability"] = json!({
                "cve": {
                    "id": cve,
                    "references": [{"source": "NVD", "uri": format!("https://nvd.nist.gov/vuln/detail/{cve}")}],
                    "cvssv3": {
                        "baseScore": base_score,
                        "attackVector": "ATTACK_VECTOR_NETWORK",
                        "attackComplexity": "ATTACK_COMPLEXITY_LOW",
                        "privilegesRequired": "PRIVILEGES_REQUIRED_NONE",
                        "userInteraction": "USER_INTERACTION_NONE",
                        "scope": "SCOPE_UNCHANGED",
                        "confidentialityImpact": "IMPACT_HIGH",
                        "integrityImpact": "IMPACT_HIGH",
                        "availabilityImpact": "IMPACT_HIGH"
                    },
                    "upstreamFixAvailable": true,
                    "impact": "HIGH",
                    "exploitationActivity": "NO_KNOWN"
                },
                "offendingPackage": {"packageName": "libexample", "cpeUri": "cpe:/o:debian:debian_linux:12", "packageType": "OS", "packageVersion": "1.2.3-1"},
                "fixedPackage": {"packageName": "libexample", "cpeUri": "cpe:/o:debian:debian_linux:12", "packageType": "OS", "packageVersion": "1.2.3-2+deb12u1"}
            });
        }
        1 => {
            finding["findingClass"] = json!("MISCONFIGURATION");
            finding["category"] = json!("PUBLIC_IP_ADDRESS");
            finding["parentDisplayName"] = json!("Security Health Analytics");
            finding["description"] = json!(
                "To reduce the attack surface, avoid assigning public IP addresses to your VMs."
            );
            finding["nextSteps"] = json!(
                "Remove the external IP address of the instance, or restrict it with the constraints/compute.vmExternalIpAccess organization policy."
            );
            finding["externalUri"] = json!(format!(
                "https://console.cloud.google.com/compute/instancesDetail/zones/us-central1-a/instances/{instance}?project={project_id}"
            ));
            finding["sourceProperties"] = json!({"Recommendation": "Remove the external IP address", "ExceptionInstructions": "Add the security mark \"allow_public_ip_address\" to the asset with a value of \"true\" to prevent this finding from being activated again."});
            finding["compliances"] = json!([
                {"standard": "cis", "version": "2.0", "ids": ["4.9"]},
                {"standard": "nist", "version": "800-53 R5", "ids": ["CA-9", "SC-7"]}
            ]);
        }
        _ => {
            finding["findingClass"] = json!("THREAT");
            finding["category"] = json!("Persistence: IAM Anomalous Grant");
            finding["parentDisplayName"] = json!("Event Threat Detection");
            finding["description"] =
                json!("A principal outside the organization was granted the Owner role.");
            finding["sourceProperties"] = json!({"detectionCategory": {"ruleName": "iam_anomalous_grant"}, "evidence": [{"sourceLogId": {"insertId": format!("1x{i:08}")}}]});
        }
    }
    json!({
        "finding": finding,
        "resource": {
            "name": resource_name,
            "displayName": instance,
            "type": "google.compute.Instance",
            "cloudProvider": "GOOGLE_CLOUD_PLATFORM",
            "service": "compute.googleapis.com",
            "location": "us-central1-a",
            "gcpMetadata": {
                "project": format!("//cloudresourcemanager.googleapis.com/projects/{PROJECT_NUMBER}"),
                "projectDisplayName": project_id,
                "parent": format!("//cloudresourcemanager.googleapis.com/projects/{PROJECT_NUMBER}"),
                "parentDisplayName": project_id,
                "folders": [],
                "organization": format!("//cloudresourcemanager.googleapis.com/organizations/{organization_id}")
            },
            "resourcePath": {"nodes": [
                {"nodeType": "GCP_PROJECT", "id": format!("projects/{PROJECT_NUMBER}"), "displayName": project_id},
                {"nodeType": "GCP_ORGANIZATION", "id": format!("organizations/{organization_id}"), "displayName": "acme.example"}
            ]}
        }
    })
}

struct Shared {
    data: Mutex<SccData>,
    /// Requests as path and query; throttles carry the `Retry-After` seconds.
    control: Mutex<Controls>,
    auth: FakeAuthorization,
}

/// The running fake.
pub struct FakeGcpScc {
    shared: Arc<Shared>,
    server: FakeServer,
}

impl FakeGcpScc {
    pub async fn start(data: SccData) -> std::io::Result<Self> {
        let auth = FakeAuthorization::new();
        auth.register_service_account(SERVICE_ACCOUNT_EMAIL, CLIENT_PUBLIC_KEY_PEM);
        let shared = Arc::new(Shared {
            data: Mutex::new(data),
            control: Mutex::new(Controls::default()),
            auth: auth.clone(),
        });
        let router = Router::new()
            .route("/v1/token", post(sts_exchange))
            .route(
                "/v1/projects/{project}/serviceAccounts/{action}",
                post(generate_access_token),
            )
            .route(
                "/v2/{kind}/{id}/sources/{source}/locations/{location}/findings",
                get(list_findings),
            )
            .with_state(Arc::clone(&shared));
        let server = auth
            .serve_beside("gcp_scc", router, &AuthorizationPaths::google())
            .await?;
        Ok(Self { shared, server })
    }

    /// Stands for `https://securitycenter.googleapis.com`, `https://sts.googleapis.com` and
    /// `https://iamcredentials.googleapis.com`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.server.base_url())
    }

    pub fn sts_url(&self) -> String {
        format!("{}/v1/token", self.server.base_url())
    }

    pub fn auth(&self) -> &FakeAuthorization {
        &self.shared.auth
    }

    pub fn organization_id(&self) -> String {
        self.shared.data.lock().unwrap().organization_id.clone()
    }

    /// The operator config pointing `gcp_scc` at this fake.
    pub fn operator_config(&self) -> Value {
        json!({
            "tokenUrl": self.token_url(),
            "stsUrl": self.sts_url(),
            "iamCredentialsUrl": self.base_url(),
            "apiUrl": self.base_url(),
            "allowLoopbackUrls": true,
        })
    }

    /// The service account's JSON key as Google Cloud downloads it, with the testkit's key.
    pub fn service_account_key_json(&self) -> String {
        google::service_account_key_json(&ServiceAccount {
            project_id: "acme-security",
            email: SERVICE_ACCOUNT_EMAIL,
            client_id: "117263548901234567890",
            key_id: "0f9e8d7c6b5a49382716aabbccddeeff00112233",
        })
    }

    /// The next request for page `page` (1-based) answers 429 with `Retry-After: wait`.
    pub fn throttle_page(&self, page: usize, wait: u64) {
        self.shared
            .control
            .lock()
            .unwrap()
            .throttle_page(page, wait);
    }

    pub fn with_data<T>(&self, change: impl FnOnce(&mut SccData) -> T) -> T {
        change(&mut self.shared.data.lock().unwrap())
    }

    /// Paths with query of the findings requests so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.control.lock().unwrap().requests()
    }

    /// What `tributary demo` needs to connect `gcp_scc` to this fake: the service-account key
    /// connection at the organization.
    pub fn demo_connection(&self) -> DemoConnection {
        DemoConnection {
            definition: "gcp_scc",
            operator_config: self.operator_config(),
            connection: "GcpSccServiceAccount".into(),
            user_input: json!({"parent": format!("organizations/{}", self.organization_id())}),
            credentials: BTreeMap::from([(
                "GcpSccServiceAccount".to_owned(),
                json!({"serviceAccountKey": self.service_account_key_json()}),
            )]),
        }
    }
}

fn google_error(status: StatusCode, message: &str, state: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": status.as_u16(), "message": message, "status": state}})),
    )
        .into_response()
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

#[derive(Deserialize)]
struct StsForm {
    grant_type: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
    requested_token_type: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
}

async fn sts_exchange(State(shared): State<Arc<Shared>>, Form(form): Form<StsForm>) -> Response {
    if form.grant_type.as_deref() != Some("urn:ietf:params:oauth:grant-type:token-exchange") {
        return oauth_error(
            "unsupported_grant_type",
            "Invalid value for \"grant_type\".",
        );
    }
    if form.requested_token_type.as_deref() != Some("urn:ietf:params:oauth:token-type:access_token")
    {
        return oauth_error(
            "invalid_request",
            "Invalid value for \"requested_token_type\".",
        );
    }
    if !matches!(
        form.subject_token_type.as_deref(),
        Some("urn:ietf:params:oauth:token-type:jwt" | "urn:ietf:params:oauth:token-type:id_token")
    ) {
        return oauth_error(
            "invalid_request",
            "Invalid value for \"subject_token_type\".",
        );
    }
    if form.audience.as_deref() != Some(POOL_AUDIENCE) {
        return oauth_error(
            "invalid_target",
            "The target service indicated by the \"audience\" parameters is invalid.",
        );
    }
    if form.subject_token.as_deref() != Some(SUBJECT_TOKEN) {
        return oauth_error(
            "invalid_grant",
            "The audience in ID Token does not match the expected audience.",
        );
    }
    let scope = form.scope.unwrap_or_default();
    let token = shared
        .auth
        .mint_access_token("sts.googleapis.com", Some(PRINCIPAL), &scope);
    Json(json!({
        "access_token": token,
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "token_type": "Bearer",
        "expires_in": 3600,
    }))
    .into_response()
}

fn unauthenticated() -> Response {
    google_error(
        StatusCode::UNAUTHORIZED,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        "UNAUTHENTICATED",
    )
}

async fn generate_access_token(
    State(shared): State<Arc<Shared>>,
    Path((project, action)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some(email) = action.strip_suffix(":generateAccessToken") else {
        return google_error(StatusCode::NOT_FOUND, "Not found", "NOT_FOUND");
    };
    let grant = match shared.auth.bearer(&headers) {
        Ok(grant) => grant,
        Err(BearerRefusal::Missing | BearerRefusal::Unknown | BearerRefusal::Expired) => {
            return unauthenticated();
        }
    };
    if project != "-" {
        return google_error(
            StatusCode::BAD_REQUEST,
            "The project must be the wildcard \"-\".",
            "INVALID_ARGUMENT",
        );
    }
    if email != SERVICE_ACCOUNT_EMAIL || grant.subject.as_deref() != Some(PRINCIPAL) {
        return google_error(
            StatusCode::FORBIDDEN,
            "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
            "PERMISSION_DENIED",
        );
    }
    let scopes: Vec<&str> = body["scope"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if scopes.is_empty() {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Scope required.",
            "INVALID_ARGUMENT",
        );
    }
    let token = shared
        .auth
        .mint_access_token(SERVICE_ACCOUNT_EMAIL, None, &scopes.join(" "));
    Json(json!({"accessToken": token, "expireTime": "2099-01-01T00:00:00Z"})).into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    filter: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
    #[serde(rename = "pageToken")]
    page_token: Option<String>,
}

/// Parses `field="value" AND field = "value"` into terms.
fn parse_filter(filter: &str) -> Result<Vec<(String, String)>, String> {
    let filter = filter.trim();
    if filter.is_empty() {
        return Ok(Vec::new());
    }
    filter
        .split(" AND ")
        .map(|term| {
            let (field, value) = term
                .split_once('=')
                .ok_or_else(|| format!("Invalid filter term: {term}"))?;
            let field = field.trim();
            let value = value.trim();
            if !FILTER_FIELDS.contains(&field) {
                return Err(format!("Invalid filter field: {field}"));
            }
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| format!("Invalid filter value for {field}: {value}"))?;
            Ok((field.to_owned(), value.to_owned()))
        })
        .collect()
}

fn page_token(offset: usize, filter: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}|{filter}"))
}

fn read_page_token(token: &str, filter: &str) -> Option<usize> {
    let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (offset, issued_for) = decoded.split_once('|')?;
    (issued_for == filter)
        .then(|| offset.parse().ok())
        .flatten()
}

async fn list_findings(
    State(shared): State<Arc<Shared>>,
    Path((kind, id, source, location)): Path<(String, String, String, String)>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    shared.control.lock().unwrap().record(
        uri.path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
    );
    let grant = match shared.auth.bearer(&headers) {
        Ok(grant) => grant,
        Err(_) => return unauthenticated(),
    };
    if !grant.scope.split(' ').any(|s| s == CLOUD_PLATFORM) {
        return google_error(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
            "PERMISSION_DENIED",
        );
    }
    let data = shared.data.lock().unwrap().clone();
    // The service account holds roles/securitycenter.findingsViewer at the organization, which
    // its folders and projects inherit.
    let parent = format!("{kind}/{id}");
    let covered = grant.client_id == SERVICE_ACCOUNT_EMAIL
        && match kind.as_str() {
            "organizations" => id == data.organization_id,
            "projects" => id == data.project_id || id == PROJECT_NUMBER,
            _ => false,
        };
    if !covered {
        return google_error(
            StatusCode::FORBIDDEN,
            &format!(
                "The caller does not have permission (securitycenter.findings.list on {parent})"
            ),
            "PERMISSION_DENIED",
        );
    }
    if source != "-" && !source.bytes().all(|b| b.is_ascii_digit()) {
        return google_error(
            StatusCode::BAD_REQUEST,
            "Invalid source id.",
            "INVALID_ARGUMENT",
        );
    }
    if location != "global" {
        return google_error(
            StatusCode::NOT_FOUND,
            &format!("Location {location} is not configured for {parent}."),
            "NOT_FOUND",
        );
    }
    let filter = query.filter.unwrap_or_default();
    let terms = match parse_filter(&filter) {
        Ok(terms) => terms,
        Err(why) => return google_error(StatusCode::BAD_REQUEST, &why, "INVALID_ARGUMENT"),
    };
    let per_page = match query.page_size.as_deref().map(str::parse::<usize>) {
        None => PAGE_DEFAULT,
        Some(Ok(size)) if (1..=PAGE_MAX).contains(&size) => size,
        Some(_) => {
            return google_error(
                StatusCode::BAD_REQUEST,
                "page_size must be between 1 and 1000.",
                "INVALID_ARGUMENT",
            );
        }
    };
    let offset = match query.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => match read_page_token(token, &filter) {
            Some(offset) => offset,
            None => {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "The page token is invalid or does not match the request's filter.",
                    "INVALID_ARGUMENT",
                );
            }
        },
    };
    let page_number = offset / per_page + 1;
    if let Some(wait) = shared
        .control
        .lock()
        .unwrap()
        .take_page_throttle(&page_number)
    {
        let response = google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Quota exceeded for quota metric 'List findings requests' and limit 'List findings requests per minute' of service 'securitycenter.googleapis.com'.",
            "RESOURCE_EXHAUSTED",
        );
        return retry_after(response, wait);
    }
    let matching: Vec<&Value> = data
        .results
        .iter()
        .filter(|result| {
            let in_project = kind == "organizations"
                || result["finding"]["resourceName"]
                    .as_str()
                    .is_some_and(|r| r.contains(&format!("/projects/{}/", data.project_id)));
            in_project
                && terms
                    .iter()
                    .all(|(field, value)| result["finding"][field].as_str() == Some(value))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(per_page)
        .map(|r| (*r).clone())
        .collect();
    let mut body = json!({"totalSize": matching.len()});
    if !page.is_empty() {
        body["listFindingsResults"] = json!(page);
    }
    if offset + per_page < matching.len() {
        body["nextPageToken"] = json!(page_token(offset + per_page, &filter));
    }
    Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_page_tokens_are_bound_to_their_filter() {
        assert_eq!(
            parse_filter(r#"state="ACTIVE" AND findingClass = "VULNERABILITY""#).unwrap(),
            vec![
                ("state".to_owned(), "ACTIVE".to_owned()),
                ("findingClass".to_owned(), "VULNERABILITY".to_owned())
            ]
        );
        assert!(parse_filter(r#"owner="x""#).is_err());
        assert!(parse_filter("state=ACTIVE").is_err());
        let token = page_token(20, r#"state="ACTIVE""#);
        assert_eq!(read_page_token(&token, r#"state="ACTIVE""#), Some(20));
        assert_eq!(read_page_token(&token, ""), None);
    }

    #[test]
    fn samples_follow_the_schema() {
        let data = SccData::sample(12);
        assert_eq!(data.results[0]["finding"]["findingClass"], "VULNERABILITY");
        assert!(data.results[0]["finding"]["vulnerability"]["cve"]["id"].is_string());
        assert_eq!(
            data.results[1]["finding"]["findingClass"],
            "MISCONFIGURATION"
        );
        assert_eq!(data.results[9]["finding"]["state"], "INACTIVE");
        assert_eq!(data.results[6]["finding"]["mute"], "MUTED");
    }
}
