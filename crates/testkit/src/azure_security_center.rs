//! A fake Azure for Microsoft Defender for Cloud: the Microsoft identity platform's token
//! endpoint and the Azure Resource Manager endpoints Defender's collect reads, as Microsoft
//! documents them.
//!
//! - `POST /{tenant}/oauth2/v2.0/token`: the shared [`FakeAuthorization`] (client credentials
//!   with `client_secret` or a `private_key_jwt` assertion verified against the registered
//!   certificate's public key), behind Entra's own checks and error shape: an unknown tenant is
//!   `AADSTS90002`; an assertion whose `x5t` (SHA-1 thumbprint) or `x5t#S256` does not name the
//!   registered certificate is `AADSTS700027`; an expired secret is `AADSTS7000222`; a wrong
//!   secret `AADSTS7000215`; an unknown client `AADSTS700016`. Errors carry `error`,
//!   `error_description` (`AADSTSnnnn: ... Trace ID: ... Correlation ID: ... Timestamp: ...`),
//!   `error_codes`, `timestamp`, `trace_id`, `correlation_id` and `error_uri`.
//! - `GET /subscriptions?api-version=2022-12-01`: the subscriptions the principal has a role on.
//! - `GET /subscriptions/{id}/providers/Microsoft.Security/assessments?api-version=2021-06-01`
//!   and `.../subAssessments?api-version=2019-01-01-preview`: pages of `{"value": [...],
//!   "nextLink": "<absolute URL with $skipToken>"}`. Like ARM's list (and its official example
//!   `ListAssessments_example.json`), an assessment comes without `properties.metadata` and
//!   `properties.links`: only a single-assessment GET can `$expand` them.
//! - `GET /subscriptions/{id}/providers/Microsoft.Security/assessmentMetadata?api-version=2021-06-01`:
//!   the metadata (display name, description, severity, categories, remediation, policy) of the
//!   assessment types, by assessment name, paged the same way.
//! - ARM's error body `{"error": {"code", "message"}}`: 400 `MissingApiVersionParameter`, 401
//!   `InvalidAuthenticationToken` / `ExpiredAuthenticationToken` (with `WWW-Authenticate`), 403
//!   `AuthorizationFailed` on a subscription without a role assignment, 404
//!   `SubscriptionNotFound`, 429 `TooManyRequests` with `Retry-After`.
//! - `x-ms-ratelimit-remaining-subscription-reads` and `x-ms-request-id` on every ARM answer.

// `admit` returns a ready refusal as its error; its size does not matter in a fake.
#![allow(clippy::result_large_err)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    body::{Body, to_bytes},
    extract::{Path, Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::{
    FakeServer,
    authorization::{
        AuthorizationPaths, BearerRefusal, CLIENT_PRIVATE_KEY_PEM, CLIENT_PUBLIC_KEY_PEM,
        ClientApp, FakeAuthorization,
    },
    controls::Controls,
    demo::DemoConnection,
    microsoft,
};

/// The fake directory (tenant) id.
pub const TENANT_ID: &str = "9a3b5c7d-1e2f-4a6b-8c9d-0e1f2a3b4c5d";
/// The tenant's primary domain, also accepted in the token URL.
pub const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
/// The app registration that signs in with a client secret.
pub const SECRET_CLIENT_ID: &str = "3f2a1b4c-5d6e-4f70-8a91-b2c3d4e5f607";
pub const CLIENT_SECRET: &str = "Qx8~fakeSecretValue.abcDEFghiJKLmnoPQRstuVWXyz012";
/// The app registration that signs in with a certificate ([`CERTIFICATE_PEM`]).
pub const CERT_CLIENT_ID: &str = "7c6b5a49-3827-4165-9f8e-7d6c5b4a3928";
/// The certificate uploaded to [`CERT_CLIENT_ID`]: self-signed over the testkit client key
/// ([`CLIENT_PRIVATE_KEY_PEM`]).
pub const CERTIFICATE_PEM: &str = include_str!("../keys/azure-client-cert.pem");
/// A certificate over another key, registered nowhere.
pub const UNREGISTERED_CERTIFICATE_PEM: &str = include_str!("../keys/azure-unregistered-cert.pem");
/// The scope ARM tokens are requested for.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// Subscription ids of [`DefenderData::sample`].
pub const SUBSCRIPTION_A: &str = "00000000-aaaa-4000-8000-000000000001";
pub const SUBSCRIPTION_B: &str = "00000000-bbbb-4000-8000-000000000002";
/// A subscription in the tenant on which the principal has no role.
pub const SUBSCRIPTION_HIDDEN: &str = "00000000-cccc-4000-8000-000000000003";

const READS_PER_HOUR: u32 = 12_000;

/// What a tenant pastes for the certificate mode: certificate and key in one PEM.
pub fn certificate_bundle() -> String {
    format!("{CERTIFICATE_PEM}{CLIENT_PRIVATE_KEY_PEM}")
}

/// Base64url SHA-1 and SHA-256 thumbprints of a PEM certificate's DER.
pub fn thumbprints(certificate_pem: &str) -> (String, String) {
    let body: String = certificate_pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = STANDARD.decode(body).expect("the certificate is base64");
    (
        URL_SAFE_NO_PAD.encode(Sha1::digest(&der)),
        URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
    )
}

/// One subscription's Defender data.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionData {
    pub display_name: String,
    /// Whether the principal has a role on it (it is listed and readable).
    pub visible: bool,
    /// ARM id -> assessment, in id order.
    pub assessments: BTreeMap<String, Value>,
    /// ARM id -> sub-assessment, in id order.
    pub sub_assessments: BTreeMap<String, Value>,
}

/// The fake tenant's subscriptions.
#[derive(Debug, Clone, Default)]
pub struct DefenderData {
    pub subscriptions: BTreeMap<String, SubscriptionData>,
}

impl DefenderData {
    /// Subscription A with `assessments` assessments (every third healthy, every seventh not
    /// applicable, the rest unhealthy) and `sub_assessments` sub-assessments (every fourth a SQL
    /// rule without CVE, every fifth healthy); subscription B with a tenth of each; and a hidden
    /// subscription the principal has no role on.
    pub fn sample(assessments: usize, sub_assessments: usize) -> Self {
        let mut data = Self::default();
        for (sub, name, scale, visible) in [
            (SUBSCRIPTION_A, "Production", 1, true),
            (SUBSCRIPTION_B, "Development", 10, true),
            (SUBSCRIPTION_HIDDEN, "Finance", 10, false),
        ] {
            let mut subscription = SubscriptionData {
                display_name: name.into(),
                visible,
                ..SubscriptionData::default()
            };
            for i in 0..assessments / scale {
                let status = if i % 7 == 6 {
                    "NotApplicable"
                } else if i % 3 == 2 {
                    "Healthy"
                } else {
                    "Unhealthy"
                };
                let item = assessment_json(sub, i, status);
                subscription
                    .assessments
                    .insert(item["id"].as_str().unwrap().to_owned(), item);
            }
            for i in 0..sub_assessments / scale {
                let status = if i % 5 == 4 { "Healthy" } else { "Unhealthy" };
                let item = sub_assessment_json(sub, i, status, i % 4 == 3);
                subscription
                    .sub_assessments
                    .insert(item["id"].as_str().unwrap().to_owned(), item);
            }
            data.subscriptions.insert(sub.into(), subscription);
        }
        data
    }
}

const RECOMMENDATIONS: [(&str, &str, &str, &str); 4] = [
    (
        "Machines should have a vulnerability assessment solution",
        "Compute",
        "Medium",
        "Deploy the integrated vulnerability scanner to the machines.",
    ),
    (
        "Storage account public access should be disallowed",
        "Data",
        "Medium",
        "Set allowBlobPublicAccess to false on the storage account.",
    ),
    (
        "Management ports of virtual machines should be protected with just-in-time network access control",
        "Networking",
        "High",
        "Enable just-in-time VM access for the machine.",
    ),
    (
        "Diagnostic logs in Key Vault should be enabled",
        "Data",
        "Low",
        "Create a diagnostic setting that sends Key Vault logs to a Log Analytics workspace.",
    ),
];

/// A stable GUID-shaped name from a seed.
fn guid(seed: &str) -> String {
    let hash = Sha256::digest(seed.as_bytes());
    let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    microsoft::guid_from_hex(&hex)
}

/// An assessment as `Microsoft.Security/assessments` lists it (API 2021-06-01), with its
/// metadata.
pub fn assessment_json(subscription: &str, n: usize, status: &str) -> Value {
    let (name, category, severity, remediation) = RECOMMENDATIONS[n % RECOMMENDATIONS.len()];
    let resource = format!(
        "/subscriptions/{subscription}/resourceGroups/rg-{}/providers/Microsoft.Compute/virtualMachines/vm-{n:04}",
        n % 3
    );
    let key = guid(&format!("recommendation-{}", n % RECOMMENDATIONS.len()));
    let mut status_json = json!({
        "code": status,
        "firstEvaluationDate": "2026-09-14T12:13:41.5366498Z",
        "statusChangeDate": "2026-11-20T08:01:02.1234567Z",
    });
    if status == "NotApplicable" {
        status_json["cause"] = json!("OffByPolicy");
        status_json["description"] = json!("The recommendation is disabled by a policy exemption.");
    }
    json!({
        "id": format!("{resource}/providers/Microsoft.Security/assessments/{key}"),
        "name": key,
        "type": "Microsoft.Security/assessments",
        "properties": {
            "resourceDetails": { "source": "Azure", "id": resource },
            "displayName": name,
            "status": status_json,
            // A map of strings: an assessment without a linked workspace leaves the key out.
            "additionalData": {
                "linkedWorkspaceId": "/subscriptions/00000000-aaaa-4000-8000-000000000001/resourcegroups/security/providers/microsoft.operationalinsights/workspaces/defender-workspace"
            },
            "metadata": {
                "displayName": name,
                "assessmentType": "BuiltIn",
                "policyDefinitionId": format!("/providers/Microsoft.Authorization/policyDefinitions/{}", guid(&format!("policy-{}", n % RECOMMENDATIONS.len()))),
                "description": format!("{name}. Defender for Cloud checks this for every resource of the type."),
                "remediationDescription": remediation,
                "categories": [category],
                "severity": severity,
                "userImpact": "Low",
                "implementationEffort": "Low",
                "threats": ["dataExfiltration", "maliciousInsider"],
            },
            "links": {
                "azurePortalUri": format!("https://portal.azure.com/#blade/Microsoft_Azure_Security/RecommendationsBlade/assessmentKey/{key}"),
            },
        },
    })
}

/// A sub-assessment (API 2019-01-01-preview): a server vulnerability with CVEs, or (with
/// `sql_rule`) a SQL vulnerability-assessment rule without one.
pub fn sub_assessment_json(subscription: &str, n: usize, status: &str, sql_rule: bool) -> Value {
    let parent = guid("recommendation-0");
    let name = guid(&format!("sub-{subscription}-{n}"));
    if sql_rule {
        let server = format!(
            "/subscriptions/{subscription}/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-{n:04}"
        );
        return json!({
            "id": format!("{server}/providers/Microsoft.Security/assessments/{}/subAssessments/{name}", guid("recommendation-sql")),
            "name": name,
            "type": "Microsoft.Security/assessments/subAssessments",
            "properties": {
                "id": format!("VA{}", 1000 + n),
                "displayName": "Database owners should be as expected",
                "status": { "code": status, "severity": "High", "cause": "", "description": "" },
                "remediation": "Remove members who should not have the db_owner role.",
                "impact": "Members of db_owner can perform any configuration and maintenance activity on the database.",
                "category": "AuthenticationAndAuthorization",
                "description": "Members of the db_owner role can do anything in the database.",
                "timeGenerated": "2026-11-21T03:04:05.123Z",
                "resourceDetails": { "source": "Azure", "id": server },
                "additionalData": {
                    "assessedResourceType": "SqlServerVulnerability",
                    "type": "BinaryResult",
                    "query": "SELECT name FROM sys.database_principals WHERE is_fixed_role = 0",
                },
            },
        });
    }
    let machine = format!(
        "/subscriptions/{subscription}/resourceGroups/rg-{}/providers/Microsoft.Compute/virtualMachines/vm-{:04}",
        n % 3,
        n % 40
    );
    let cve = format!("CVE-2026-{:04}", 1000 + n);
    let severity = ["High", "Medium", "Low"][n % 3];
    json!({
        "id": format!("{machine}/providers/Microsoft.Security/assessments/{parent}/subAssessments/{name}"),
        "name": name,
        "type": "Microsoft.Security/assessments/subAssessments",
        "properties": {
            "id": format!("{}", 370_000 + n),
            "displayName": format!("OpenSSL security update for {cve}"),
            "status": { "code": status, "severity": severity, "cause": "", "description": "" },
            "remediation": "Install the vendor's update for OpenSSL and restart the affected services.",
            "impact": "A remote attacker can cause a denial of service or read memory.",
            "category": "Ubuntu",
            "description": format!("OpenSSL is prone to a vulnerability ({cve})."),
            "timeGenerated": "2026-11-22T10:11:12.1234567Z",
            "resourceDetails": { "source": "Azure", "id": machine },
            "additionalData": {
                "assessedResourceType": "ServerVulnerabilityAssessment",
                "type": "Vulnerability",
                "cvss": { "2.0": { "base": 7.5 }, "3.0": { "base": 9.8 - (n % 3) as f64 } },
                "patchable": true,
                "cve": [ { "title": cve, "link": format!("https://nvd.nist.gov/vuln/detail/{cve}") } ],
                "threat": "Remote code execution",
                "publishedTime": "2026-10-01T00:00:00Z",
                "vendorReferences": [ { "title": "USN-7000-1", "link": "https://ubuntu.com/security/notices/USN-7000-1" } ],
            },
        },
    })
}

#[derive(Default)]
struct AzureState {
    data: DefenderData,
    base_url: String,
    page_size: usize,
    /// ARM requests as path and query; throttles carry the `Retry-After` seconds; a page is
    /// (listing, 1-based page).
    controls: Controls<u64, (String, usize)>,
    reads_remaining: u32,
    expired_secret: bool,
    /// Client id -> registered certificate thumbprints (x5t, x5t#S256).
    certificates: BTreeMap<String, (String, String)>,
    request_seq: u64,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<AzureState>>,
    auth: FakeAuthorization,
}

fn lock(state: &Mutex<AzureState>) -> MutexGuard<'_, AzureState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running fake Azure.
pub struct FakeAzureSecurityCenter {
    server: FakeServer,
    state: Arc<Mutex<AzureState>>,
    auth: FakeAuthorization,
}

impl FakeAzureSecurityCenter {
    /// Starts a fake tenant serving `data`, with the secret app ([`SECRET_CLIENT_ID`] /
    /// [`CLIENT_SECRET`]) and the certificate app ([`CERT_CLIENT_ID`] / [`CERTIFICATE_PEM`])
    /// registered, and pages of 100 items.
    pub async fn start(data: DefenderData) -> std::io::Result<Self> {
        let auth = FakeAuthorization::new();
        auth.register_client(ClientApp::confidential(SECRET_CLIENT_ID, CLIENT_SECRET));
        auth.register_client(ClientApp::with_key(CERT_CLIENT_ID, CLIENT_PUBLIC_KEY_PEM));
        let state = Arc::new(Mutex::new(AzureState {
            data,
            page_size: 100,
            reads_remaining: READS_PER_HOUR,
            certificates: [(CERT_CLIENT_ID.to_owned(), thumbprints(CERTIFICATE_PEM))].into(),
            ..AzureState::default()
        }));
        let shared = Shared {
            state: Arc::clone(&state),
            auth: auth.clone(),
        };
        let token_routes = auth
            .routes(&AuthorizationPaths::microsoft())
            .layer(middleware::from_fn_with_state(shared.clone(), entra_token));
        let router = Router::new()
            .route("/subscriptions", get(list_subscriptions))
            .route(
                "/subscriptions/{sub}/providers/Microsoft.Security/{kind}",
                get(list_security_resources),
            )
            .with_state(shared)
            .merge(token_routes);
        let server = FakeServer::start_provider("azure_arm", router).await?;
        lock(&state).base_url = server.base_url();
        auth.set_issuer(format!("{}/{TENANT_ID}/v2.0", server.base_url()));
        Ok(Self {
            server,
            state,
            auth,
        })
    }

    /// `http://127.0.0.1:<port>`: both the login host and the ARM host.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The operator config that points the definition at this fake.
    pub fn operator_config(&self) -> Value {
        json!({ "loginUrl": self.base_url(), "armUrl": self.base_url(), "allowLoopbackUrls": true })
    }

    /// The token endpoint's authorization server: expire or revoke tokens, change the apps.
    pub fn authorization(&self) -> &FakeAuthorization {
        &self.auth
    }

    /// The client secret credential a tenant enters.
    pub fn secret_credential(&self) -> Value {
        json!({ "tenantId": TENANT_ID, "clientId": SECRET_CLIENT_ID, "clientSecret": CLIENT_SECRET })
    }

    /// The certificate credential a tenant enters (certificate and key in one PEM).
    pub fn certificate_credential(&self) -> Value {
        json!({ "tenantId": TENANT_ID, "clientId": CERT_CLIENT_ID, "certificate": certificate_bundle() })
    }

    /// Items per page of the Microsoft.Security listings.
    pub fn set_page_size(&self, size: usize) {
        lock(&self.state).page_size = size.max(1);
    }

    /// The next request for page `page` (1-based) of `listing` (`assessments`,
    /// `subAssessments` or `subscriptions`, any subscription) answers 429 with `Retry-After`.
    pub fn throttle_page(&self, listing: &str, page: usize, retry_after: u64) {
        lock(&self.state)
            .controls
            .throttle_page((listing.to_owned(), page), retry_after);
    }

    /// The app's client secret expires (AADSTS7000222 from then on).
    pub fn expire_client_secret(&self) {
        lock(&self.state).expired_secret = true;
    }

    /// Registers another certificate for the certificate app (a rotation), replacing the old.
    pub fn register_certificate(&self, certificate_pem: &str, public_key_pem: &str) {
        lock(&self.state)
            .certificates
            .insert(CERT_CLIENT_ID.to_owned(), thumbprints(certificate_pem));
        self.auth
            .register_client(ClientApp::with_key(CERT_CLIENT_ID, public_key_pem));
    }

    /// Changes the tenant's data.
    pub fn with_data<R>(&self, change: impl FnOnce(&mut DefenderData) -> R) -> R {
        change(&mut lock(&self.state).data)
    }

    /// Removes the role assignment on `subscription`: it is no longer listed and reads answer
    /// 403 `AuthorizationFailed`.
    pub fn revoke_role(&self, subscription: &str) {
        if let Some(sub) = lock(&self.state).data.subscriptions.get_mut(subscription) {
            sub.visible = false;
        }
    }

    /// The ARM requests answered so far: path and query, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).controls.requests()
    }

    /// The demo's connection: the definition pointed at this fake, client secret mode.
    pub fn demo_connection(&self) -> DemoConnection {
        DemoConnection {
            definition: "azure_security_center",
            operator_config: self.operator_config(),
            connection: "AzureClientSecret".into(),
            user_input: json!({}),
            credentials: [("AzureClientSecret".to_owned(), self.secret_credential())].into(),
        }
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Entra's error body for a refused token request.
fn aadsts(status: StatusCode, error: &str, code: u64, text: &str) -> Response {
    let trace = guid(&format!("trace-{code}-{}", now()));
    let timestamp = "2026-11-28 12:00:00Z";
    Json(json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {trace} Timestamp: {timestamp}"),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace,
        "correlation_id": trace,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    }))
    .into_response()
    .with_status(status)
}

trait WithStatus {
    fn with_status(self, status: StatusCode) -> Response;
}

impl WithStatus for Response {
    fn with_status(mut self, status: StatusCode) -> Response {
        *self.status_mut() = status;
        self
    }
}

#[derive(Deserialize, Default)]
struct TokenFields {
    client_id: Option<String>,
    client_assertion: Option<String>,
}

/// Entra's checks in front of the shared token endpoint, and its error shape on the way out.
async fn entra_token(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let tenant = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if tenant != TENANT_ID && tenant != TENANT_DOMAIN {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    };
    let fields: TokenFields = serde_urlencoded_fields(&bytes);
    let client_id = fields.client_id.clone().unwrap_or_default();
    if let Some(assertion) = &fields.client_assertion {
        let registered = lock(&shared.state).certificates.get(&client_id).cloned();
        let header = jsonwebtoken::decode_header(assertion).ok();
        let (x5t, x5t_s256) = header.map(|h| (h.x5t, h.x5t_s256)).unwrap_or_default();
        let matches = registered.as_ref().is_some_and(|(sha1, sha256)| {
            x5t.as_deref() == Some(sha1.as_str()) || x5t_s256.as_deref() == Some(sha256.as_str())
        });
        if registered.is_some() && !matches {
            return aadsts(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700027,
                &format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}']",
                    x5t.unwrap_or_default()
                ),
            );
        }
    } else if lock(&shared.state).expired_secret && client_id == SECRET_CLIENT_ID {
        return aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            &format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app."
            ),
        );
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if response.status().is_success() {
        return response;
    }
    let status = response.status();
    let body = to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let refusal: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let description = refusal["error_description"].as_str().unwrap_or_default();
    if description.contains("unknown client") {
        aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        )
    } else if description.contains("assertion") {
        aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature.",
        )
    } else if description.contains("client authentication failed") {
        aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
        )
    } else {
        let error = refusal["error"]
            .as_str()
            .unwrap_or("invalid_request")
            .to_owned();
        aadsts(status, &error, 50000, description)
    }
}

fn serde_urlencoded_fields(bytes: &[u8]) -> TokenFields {
    let mut fields = TokenFields::default();
    for (name, value) in url::form_urlencoded::parse(bytes) {
        match name.as_ref() {
            "client_id" => fields.client_id = Some(value.into_owned()),
            "client_assertion" => fields.client_assertion = Some(value.into_owned()),
            _ => {}
        }
    }
    fields
}

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    Json(json!({ "error": { "code": code, "message": message } }))
        .into_response()
        .with_status(status)
}

#[derive(Deserialize)]
struct ArmQuery {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
    #[serde(rename = "$skipToken")]
    skip_token: Option<String>,
}

/// Logs, checks the api-version, the token and the throttles; returns ARM's headers to add.
fn admit(
    shared: &Shared,
    headers: &HeaderMap,
    path: &str,
    listing: &str,
    query: &ArmQuery,
    expected_api: &str,
    page: usize,
) -> Result<(HeaderMap, String), Response> {
    let mut state = lock(&shared.state);
    let line = match &query.skip_token {
        Some(token) => format!("{path}?$skipToken={token}"),
        None => path.to_owned(),
    };
    state.controls.record(line);
    state.request_seq += 1;
    let mut out = HeaderMap::new();
    out.insert(
        "x-ms-request-id",
        HeaderValue::from_str(&guid(&format!("req-{}", state.request_seq))).unwrap(),
    );
    let with = |response: Response, out: &HeaderMap| {
        let mut response = response;
        response.headers_mut().extend(out.clone());
        response
    };
    match query.api_version.as_deref() {
        None => {
            return Err(with(
                arm_error(
                    StatusCode::BAD_REQUEST,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                ),
                &out,
            ));
        }
        Some(version) if version != expected_api => {
            return Err(with(
                arm_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidApiVersionParameter",
                    &format!(
                        "The api-version '{version}' is invalid. The supported versions are '{expected_api}'."
                    ),
                ),
                &out,
            ));
        }
        Some(_) => {}
    }
    let grant = match shared.auth.bearer(headers) {
        Ok(grant) => grant,
        Err(refusal) => {
            let (code, message) = match refusal {
                BearerRefusal::Expired => (
                    "ExpiredAuthenticationToken",
                    "The access token expiry UTC time is earlier than current UTC time.",
                ),
                BearerRefusal::Missing => (
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.",
                ),
                BearerRefusal::Unknown => {
                    ("InvalidAuthenticationToken", "The access token is invalid.")
                }
            };
            let mut response = with(arm_error(StatusCode::UNAUTHORIZED, code, message), &out);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&format!("Bearer authorization_uri=\"https://login.microsoftonline.com/{TENANT_ID}\", error=\"invalid_token\", error_description=\"{message}\"")).unwrap(),
            );
            return Err(response);
        }
    };
    if !grant.scope.split(' ').any(|scope| scope == ARM_SCOPE) {
        return Err(with(
            arm_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationTokenAudience",
                "The access token has been obtained for wrong audience or resource.",
            ),
            &out,
        ));
    }
    if let Some(retry_after) = state
        .controls
        .take_page_throttle(&(listing.to_owned(), page))
    {
        out.insert(
            "x-ms-ratelimit-remaining-subscription-reads",
            HeaderValue::from(0),
        );
        out.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        out.insert("x-ms-failure-cause", HeaderValue::from_static("gateway"));
        return Err(with(
            arm_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00. For more information, see https://aka.ms/srpthrottlinglimits",
            ),
            &out,
        ));
    }
    state.reads_remaining = state.reads_remaining.saturating_sub(1).max(1);
    out.insert(
        "x-ms-ratelimit-remaining-subscription-reads",
        HeaderValue::from(state.reads_remaining),
    );
    Ok((out, grant.client_id))
}

fn skip(query: &ArmQuery) -> usize {
    query
        .skip_token
        .as_deref()
        .and_then(|token| URL_SAFE_NO_PAD.decode(token).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// A page of `items` from the skip token, with an absolute `nextLink` while more remain.
fn page_of(
    base_url: &str,
    path: &str,
    api: &str,
    items: Vec<Value>,
    start: usize,
    size: usize,
    headers: HeaderMap,
) -> Response {
    let end = (start + size).min(items.len());
    let value: Vec<Value> = items
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut body = json!({ "value": value });
    if end < items.len() {
        let token = URL_SAFE_NO_PAD.encode(format!("offset:{end}"));
        body["nextLink"] = json!(format!(
            "{base_url}{path}?api-version={api}&$skipToken={token}"
        ));
    }
    (StatusCode::OK, headers, Json(body)).into_response()
}

async fn list_subscriptions(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<ArmQuery>,
) -> Response {
    let headers = match admit(
        &shared,
        &headers,
        "/subscriptions",
        "subscriptions",
        &query,
        "2022-12-01",
        skip(&query) / 100 + 1,
    ) {
        Ok((headers, _)) => headers,
        Err(response) => return response,
    };
    let state = lock(&shared.state);
    let items: Vec<Value> = state
        .data
        .subscriptions
        .iter()
        .filter(|(_, sub)| sub.visible)
        .map(|(id, sub)| json!({
            "id": format!("/subscriptions/{id}"),
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": id,
            "tenantId": TENANT_ID,
            "displayName": sub.display_name,
            "state": "Enabled",
            "subscriptionPolicies": { "locationPlacementId": "Public_2014-09-01", "quotaId": "EnterpriseAgreement_2014-09-01", "spendingLimit": "Off" },
        }))
        .collect();
    page_of(
        &state.base_url,
        "/subscriptions",
        "2022-12-01",
        items,
        skip(&query),
        100,
        headers,
    )
}

/// The Microsoft.Security listings of a subscription, each at the api-version it serves.
async fn list_security_resources(
    State(shared): State<Shared>,
    Path((sub, kind)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<ArmQuery>,
) -> Response {
    let api = match kind.as_str() {
        "assessments" | "assessmentMetadata" => "2021-06-01",
        "subAssessments" => "2019-01-01-preview",
        // Not a route of the fake: answered as an unrouted path.
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    listing(shared, sub, headers, query, &kind, api).await
}

/// An assessment as ARM lists it: the list has no `$expand`, so neither the metadata nor the
/// links are in it (the fake keeps them with the assessment to serve the metadata listing).
fn as_listed(assessment: &Value) -> Value {
    let mut listed = assessment.clone();
    if let Some(properties) = listed.get_mut("properties").and_then(Value::as_object_mut) {
        properties.remove("metadata");
        properties.remove("links");
    }
    listed
}

/// The `Microsoft.Security/assessmentMetadata` resources of the assessment types in use, one per
/// assessment name.
fn metadata_of<'a>(assessments: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut by_name = BTreeMap::new();
    for assessment in assessments {
        let (Some(name), Some(metadata)) = (
            assessment.get("name").and_then(Value::as_str),
            assessment.pointer("/properties/metadata"),
        ) else {
            continue;
        };
        by_name.entry(name.to_owned()).or_insert_with(|| {
            json!({
                "id": format!("/providers/Microsoft.Security/assessmentMetadata/{name}"),
                "name": name,
                "type": "Microsoft.Security/assessmentMetadata",
                "properties": metadata,
            })
        });
    }
    by_name.into_values().collect()
}

async fn listing(
    shared: Shared,
    sub: String,
    headers: HeaderMap,
    query: ArmQuery,
    kind: &str,
    api: &str,
) -> Response {
    let path = format!("/subscriptions/{sub}/providers/Microsoft.Security/{kind}");
    let page_size = lock(&shared.state).page_size;
    let start = skip(&query);
    let (headers, client_id) = match admit(
        &shared,
        &headers,
        &path,
        kind,
        &query,
        api,
        start / page_size + 1,
    ) {
        Ok((headers, client_id)) => (headers, client_id),
        Err(response) => return response,
    };
    let state = lock(&shared.state);
    let Some(subscription) = state.data.subscriptions.get(&sub.to_ascii_lowercase()) else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        );
    };
    if !subscription.visible {
        return arm_error(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            &format!(
                "The client '{client_id}' with object id '{client_id}' does not have authorization to perform action 'Microsoft.Security/{kind}/read' over scope '/subscriptions/{sub}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        );
    }
    let items: Vec<Value> = match kind {
        "assessments" => subscription.assessments.values().map(as_listed).collect(),
        "assessmentMetadata" => metadata_of(subscription.assessments.values()),
        _ => subscription.sub_assessments.values().cloned().collect(),
    };
    page_of(
        &state.base_url,
        &path,
        api,
        items,
        start,
        page_size,
        headers,
    )
}
