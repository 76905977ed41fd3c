//! A fake AWS for Security Hub: STS, Security Hub and Audit Manager behind one loopback server.
//! Every request must carry a valid Signature Version 4, which the fake checks with its own
//! implementation of the algorithm (canonical request, string to sign, derived key), so a
//! client that signs wrongly fails here as it would at AWS. The service and region come from
//! the signature's credential scope, as AWS routes them by host.
//!
//! - STS (`POST /`, form, XML answers): `AssumeRole` (the role trusts [`PLATFORM_PRINCIPAL`]
//!   and, in the tenant's own setup, [`TENANT_SOURCE_PRINCIPAL`]; it requires
//!   `sts:ExternalId` = the fake's external id; `DurationSeconds` 900 to 3600) and
//!   `GetCallerIdentity`. Errors are `<ErrorResponse><Error><Code>`: `AccessDenied`,
//!   `InvalidClientTokenId`, `SignatureDoesNotMatch`, `ExpiredToken`, `ValidationError`.
//! - Security Hub (REST-JSON): `GET /accounts` (DescribeHub) and `POST /findings`
//!   (GetFindings with `Filters`, `MaxResults` 1 to 100, `NextToken`). The filters understood
//!   are `RecordState`, `Region`, `AwsAccountId`, `SeverityLabel`, `WorkflowStatus` and
//!   `ComplianceStatus`, with `EQUALS` / `NOT_EQUALS`; values of one filter are ORed, filters
//!   ANDed. A region's hub holds the findings whose `Region` is that region. A region where the
//!   hub is not enabled answers 401 `InvalidAccessException`. Errors carry `x-amzn-ErrorType`;
//!   Security Hub's own (`InvalidAccessException`, `InvalidInputException`, 429
//!   `LimitExceededException`) answer `{"Code", "Message"}` as its service model describes them,
//!   the front door's (signature, token, `ThrottlingException`) `{"message"}`.
//! - Audit Manager (REST-JSON): `GET /assessments?status=&maxResults=&nextToken=`
//!   (`assessmentMetadata`, times as epoch seconds).
//!
//! Credentials: Tributary's identity ([`PLATFORM_ACCESS_KEY_ID`]) may only call STS; a tenant's
//! own source identity ([`TENANT_SOURCE_ACCESS_KEY_ID`]) likewise; an IAM user in the audited
//! account ([`AUDITOR_ACCESS_KEY_ID`]) and assumed-role sessions may read Security Hub and
//! Audit Manager. Sessions expire at their stated time, or at once with
//! [`FakeAwsSecurityHub::expire_sessions`].

#![allow(clippy::result_large_err)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    FakeServer,
    clock::{now_secs, rfc3339},
    controls::{Controls, retry_after},
    demo::DemoConnection,
};

/// The audited account: the role lives here, and its hub is the administrator of
/// [`MEMBER_ACCOUNT_ID`].
pub const ACCOUNT_ID: &str = "111122223333";
pub const MEMBER_ACCOUNT_ID: &str = "444455556666";
pub const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/TributarySecurityAudit";
/// The tenant the demo and tests connect as; Tributary's identity presents
/// `tributary-<tenant>` as external id, which the role's trust policy is set up for with
/// [`FakeAwsSecurityHub::trust_external_id`].
pub const HOME_REGION: &str = "us-east-1";
pub const LINKED_REGION: &str = "eu-west-1";

/// Tributary's own identity (account 999988887777), allowed only `sts:AssumeRole`.
pub const PLATFORM_ACCESS_KEY_ID: &str = "AKIA5PLATFORMTRIBU01";
pub const PLATFORM_SECRET_ACCESS_KEY: &str = "pLaTfOrMsEcReT/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const PLATFORM_PRINCIPAL: &str = "arn:aws:iam::999988887777:user/tributary";
/// A tenant's own identity that may assume the role, with an external id of its choosing.
pub const TENANT_SOURCE_ACCESS_KEY_ID: &str = "AKIA5TENANTSOURCE001";
pub const TENANT_SOURCE_SECRET_ACCESS_KEY: &str = "tEnAnTsOuRcE/K7MDENG/bPxRfiCYEXAMPLEKEY1";
pub const TENANT_SOURCE_PRINCIPAL: &str = "arn:aws:iam::111122223333:user/ci-assumer";
/// The external id the role requires of the tenant's own source identity.
pub const TENANT_EXTERNAL_ID: &str = "acme-sechub-7f3c9a";
/// An IAM user of the audited account with read access (the access-keys connection).
pub const AUDITOR_ACCESS_KEY_ID: &str = "AKIA5AUDITORREAD0001";
pub const AUDITOR_SECRET_ACCESS_KEY: &str = "aUdItOrReAd/K7MDENG/bPxRfiCYEXAMPLEKEY12";
pub const AUDITOR_PRINCIPAL: &str = "arn:aws:iam::111122223333:user/security-auditor";

const MAX_FINDINGS_PAGE: u64 = 100;
/// Audit Manager's tokens are standard base64, with `+`, `/` and `=`: a client must encode them
/// in the query string, or the fake (like AWS) does not recognise them.
const QUERY_TOKEN_TAIL: &str = "+/==";
const MAX_ASSESSMENTS_PAGE: u64 = 1000;
/// AWS refuses signatures more than five minutes from its clock.
const MAX_CLOCK_SKEW: i64 = 300;
const FILTER_FIELDS: [(&str, &str); 6] = [
    ("RecordState", "/RecordState"),
    ("Region", "/Region"),
    ("AwsAccountId", "/AwsAccountId"),
    ("SeverityLabel", "/Severity/Label"),
    ("WorkflowStatus", "/Workflow/Status"),
    ("ComplianceStatus", "/Compliance/Status"),
];

/// The findings and assessments of the fake organisation.
#[derive(Debug, Clone)]
pub struct AwsData {
    /// ASFF findings, in listing order.
    pub findings: Vec<Value>,
    /// ListAssessments metadata, in listing order.
    pub assessments: Vec<Value>,
    /// The regions where Security Hub is enabled.
    pub enabled_regions: Vec<String>,
}

impl AwsData {
    /// `count` findings and three assessments, hubs enabled in [`HOME_REGION`] and
    /// [`LINKED_REGION`]. Finding `i`:
    /// - kind by `i % 3`: 0 an Inspector package vulnerability (CVE), 1 a failed control check,
    ///   2 a GuardDuty threat;
    /// - region [`LINKED_REGION`] when `i % 5 == 4`, else [`HOME_REGION`]; account
    ///   [`MEMBER_ACCOUNT_ID`] when `i % 4 == 3`, else [`ACCOUNT_ID`];
    /// - severity `[CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL][(i / 2) % 5]`;
    /// - `ARCHIVED` when `i % 10 == 9`; workflow SUPPRESSED when `i % 7 == 6`.
    pub fn sample(count: usize) -> Self {
        Self {
            findings: (0..count).map(sample_finding).collect(),
            assessments: (0..3).map(sample_assessment).collect(),
            enabled_regions: vec![HOME_REGION.into(), LINKED_REGION.into()],
        }
    }

    /// Removes finding `id` (as if its product deleted it).
    pub fn remove(&mut self, id: &str) {
        self.findings.retain(|f| f["Id"] != id);
    }

    /// Sets a finding's `RecordState` (`ACTIVE` or `ARCHIVED`).
    pub fn set_record_state(&mut self, id: &str, state: &str) {
        for finding in &mut self.findings {
            if finding["Id"] == id {
                finding["RecordState"] = json!(state);
            }
        }
    }
}

/// The `Id` of sample finding `i`.
pub fn finding_id(i: usize) -> String {
    let region = sample_region(i);
    let account = sample_account(i);
    match i % 3 {
        0 => format!("arn:aws:inspector2:{region}:{account}:finding/{i:04}c0ffee1234567890abcdef"),
        1 => format!(
            "arn:aws:securityhub:{region}:{account}:security-control/S3.8/finding/{i:04}aa-bb-cc"
        ),
        _ => {
            format!("arn:aws:guardduty:{region}:{account}:detector/12abc34d/finding/{i:04}f00dfeed")
        }
    }
}

fn sample_region(i: usize) -> &'static str {
    if i % 5 == 4 {
        LINKED_REGION
    } else {
        HOME_REGION
    }
}

fn sample_account(i: usize) -> &'static str {
    if i % 4 == 3 {
        MEMBER_ACCOUNT_ID
    } else {
        ACCOUNT_ID
    }
}

/// The severity label of sample finding `i`.
pub fn sample_severity(i: usize) -> &'static str {
    ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"][(i / 2) % 5]
}

/// Sample finding `i` in ASFF, as GetFindings returns it.
pub fn sample_finding(i: usize) -> Value {
    let region = sample_region(i);
    let account = sample_account(i);
    let severity = sample_severity(i);
    let normalized = match severity {
        "CRITICAL" => 90,
        "HIGH" => 70,
        "MEDIUM" => 40,
        "LOW" => 1,
        _ => 0,
    };
    let created = format!("2026-10-{:02}T08:{:02}:11.482Z", 1 + i % 28, i % 60);
    let updated = format!("2026-11-{:02}T12:{:02}:45.031Z", 1 + i % 27, i % 60);
    // The deprecated `WorkflowState` has its own values: a suppressed finding is DEFERRED.
    let (workflow, workflow_state) = if i % 7 == 6 {
        ("SUPPRESSED", "DEFERRED")
    } else {
        ("NEW", "NEW")
    };
    let record_state = if i % 10 == 9 { "ARCHIVED" } else { "ACTIVE" };
    let instance = format!("i-0{i:04}abcdef012345");
    let mut finding = json!({
        "SchemaVersion": "2018-10-08",
        "Id": finding_id(i),
        "AwsAccountId": account,
        "Region": region,
        "CreatedAt": created,
        "UpdatedAt": updated,
        "FirstObservedAt": created,
        "LastObservedAt": updated,
        "Severity": {"Label": severity, "Normalized": normalized},
        "Workflow": {"Status": workflow},
        "WorkflowState": workflow_state,
        "RecordState": record_state,
    });
    let fields = finding.as_object_mut().unwrap();
    match i % 3 {
        0 => {
            let cve = format!("CVE-2026-{:05}", 21000 + i);
            fields.extend(json!({
                "ProductArn": format!("arn:aws:securityhub:{region}::product/aws/inspector"),
                "ProductName": "Inspector",
                "CompanyName": "Amazon",
                "GeneratorId": "AWSInspector",
                "Types": ["Software and Configuration Checks/Vulnerabilities/CVE"],
                "Title": format!("{cve} - openssl"),
                "Description": format!("A flaw in OpenSSL allows a remote attacker to cause a denial of service ({cve})."),
                "Remediation": {"Recommendation": {"Text": "Update openssl to the fixed version."}},
                "Resources": [{
                    "Type": "AwsEc2Instance",
                    "Id": format!("arn:aws:ec2:{region}:{account}:instance/{instance}"),
                    "Partition": "aws",
                    "Region": region,
                }],
                "Vulnerabilities": [{
                    "Id": cve,
                    "VulnerablePackages": [{
                        "Name": "openssl",
                        "Version": "3.0.7",
                        "Epoch": "1",
                        "Release": "24.amzn2023",
                        "Architecture": "X86_64",
                        "PackageManager": "OS",
                        "FixedInVersion": "1:3.0.8-1.amzn2023",
                    }],
                    "Cvss": [{"Version": "3.1", "BaseScore": 7.5, "BaseVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "Source": "NVD"}],
                    "Vendor": {
                        "Name": "NVD",
                        "Url": format!("https://nvd.nist.gov/vuln/detail/{cve}"),
                        "VendorSeverity": severity,
                        "VendorCreatedAt": "2026-09-14T17:15:00Z",
                    },
                    "ReferenceUrls": [format!("https://nvd.nist.gov/vuln/detail/{cve}")],
                    "FixAvailable": "YES",
                    "ExploitAvailable": "NO",
                }],
            }).as_object().unwrap().clone());
        }
        1 => {
            let compliance = if severity == "INFORMATIONAL" {
                "PASSED"
            } else {
                "FAILED"
            };
            fields.extend(json!({
                "ProductArn": format!("arn:aws:securityhub:{region}::product/aws/securityhub"),
                "ProductName": "Security Hub",
                "CompanyName": "AWS",
                "GeneratorId": "security-control/S3.8",
                "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
                "Title": "S3 general purpose buckets should block public access",
                "Description": "This control checks whether an S3 general purpose bucket blocks public access at the bucket level.",
                "Remediation": {"Recommendation": {
                    "Text": "For information on how to correct this issue, consult the AWS Security Hub controls documentation.",
                    "Url": "https://docs.aws.amazon.com/console/securityhub/S3.8/remediation",
                }},
                "Resources": [{
                    "Type": "AwsS3Bucket",
                    "Id": format!("arn:aws:s3:::acme-logs-{i:04}"),
                    "Partition": "aws",
                    "Region": region,
                }],
                "Compliance": {
                    "Status": compliance,
                    "SecurityControlId": "S3.8",
                    "RelatedRequirements": ["NIST.800-53.r5 AC-21", "PCI DSS v4.0.1/1.4.4"],
                    "AssociatedStandards": [{"StandardsId": "standards/aws-foundational-security-best-practices/v/1.0.0"}],
                },
            }).as_object().unwrap().clone());
        }
        _ => {
            fields.extend(json!({
                "ProductArn": format!("arn:aws:securityhub:{region}::product/aws/guardduty"),
                "ProductName": "GuardDuty",
                "CompanyName": "Amazon",
                "GeneratorId": "arn:aws:guardduty:detector/12abc34d",
                "Types": ["TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"],
                "Title": format!("198.51.100.{} is performing SSH brute force attacks against {instance}.", i % 250),
                "Description": "An EC2 instance has been involved in SSH brute force attacks.",
                "Resources": [{
                    "Type": "AwsEc2Instance",
                    "Id": format!("arn:aws:ec2:{region}:{account}:instance/{instance}"),
                    "Partition": "aws",
                    "Region": region,
                }],
            }).as_object().unwrap().clone());
        }
    }
    finding
}

/// Sample assessment `i` as ListAssessments returns it; the third is INACTIVE.
pub fn sample_assessment(i: usize) -> Value {
    let (name, framework) = [
        ("PCI DSS 2026 audit", "PCI DSS"),
        ("SOC 2 readiness", "SOC 2"),
        ("HIPAA annual review", "HIPAA"),
    ][i % 3];
    json!({
        "id": format!("a1b2c3d4-0000-4000-8000-00000000000{i}"),
        "name": name,
        "complianceType": framework,
        "status": if i == 2 { "INACTIVE" } else { "ACTIVE" },
        "roles": [{"roleType": "PROCESS_OWNER", "roleArn": "arn:aws:iam::111122223333:role/AuditOwner"}],
        "delegations": (0..i).map(|d| json!({"id": format!("d{d}"), "status": "UNDER_REVIEW"})).collect::<Vec<_>>(),
        "creationTime": 1_790_000_000.0 + i as f64 * 86_400.0,
        "lastUpdated": 1_794_000_000.5 + i as f64 * 3_600.0,
    })
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub service: String,
    pub region: String,
    pub access_key_id: String,
    pub method: String,
    pub path_and_query: String,
    /// The JSON body, or the form as an object.
    pub body: Value,
}

struct Session {
    secret: String,
    token: String,
    expires_at: i64,
    session_name: String,
}

/// How a throttled GetFindings call is answered.
#[derive(Clone, Copy)]
enum FindingsThrottle {
    /// 400 `ThrottlingException`, without `Retry-After`.
    Throttling,
    /// 429 `LimitExceededException` with `Retry-After` seconds.
    LimitExceeded(u64),
}

#[derive(Default)]
struct Control {
    /// AssumeRole calls: the principal that asked and the external id it gave.
    assumed: Vec<(String, Option<String>)>,
    sessions: BTreeMap<String, Session>,
    /// The external ids the role's trust policy accepts from Tributary's identity.
    platform_external_ids: Vec<String>,
    /// Every request with a valid signature; the throttles of GetFindings calls, whose pages are
    /// (region, 1-based page number counted per region).
    controls: Controls<FindingsThrottle, (String, usize), SeenRequest>,
    /// After this many more GetFindings pages, every session expires.
    expire_after_pages: Option<usize>,
    /// Lifetime of new sessions, overriding the asked duration (to test renewal).
    session_lifetime: Option<i64>,
    /// The error code of every refusal, in order.
    refusals: Vec<String>,
}

struct Shared {
    data: Mutex<AwsData>,
    control: Mutex<Control>,
}

/// The running fake.
pub struct FakeAwsSecurityHub {
    shared: Arc<Shared>,
    server: FakeServer,
}

impl FakeAwsSecurityHub {
    pub async fn start(data: AwsData) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            data: Mutex::new(data),
            control: Mutex::new(Control::default()),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = FakeServer::start_provider("aws", router).await?;
        Ok(Self { shared, server })
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The operator config pointing every service at the fake, with Tributary's identity.
    pub fn operator_config(&self) -> Value {
        json!({
            "sourceAccessKeyId": PLATFORM_ACCESS_KEY_ID,
            "sourceSecretAccessKey": PLATFORM_SECRET_ACCESS_KEY,
            "stsUrl": self.base_url(),
            "securityHubUrl": self.base_url(),
            "auditManagerUrl": self.base_url(),
            "allowLoopbackUrls": true,
        })
    }

    /// The role's trust policy accepts `external_id` from Tributary's identity.
    pub fn trust_external_id(&self, external_id: &str) {
        self.control()
            .platform_external_ids
            .push(external_id.into());
    }

    /// Every session issued so far is expired (AWS answers `ExpiredToken`).
    pub fn expire_sessions(&self) {
        for session in self.control().sessions.values_mut() {
            session.expires_at = 0;
        }
    }

    /// Every session issued by then expires once `pages` more GetFindings pages are served
    /// (AWS dropping a session in the middle of a listing).
    pub fn expire_sessions_after_pages(&self, pages: usize) {
        self.control().expire_after_pages = Some(pages);
    }

    /// New sessions last `seconds`, whatever was asked.
    pub fn session_lifetime(&self, seconds: i64) {
        self.control().session_lifetime = Some(seconds);
    }

    /// The next request for GetFindings page `page` (1-based) of `region` answers 429
    /// `LimitExceededException` with `Retry-After: wait`.
    pub fn throttle_page(&self, region: &str, page: usize, wait: u64) {
        self.control().controls.throttle_page(
            (region.to_owned(), page),
            FindingsThrottle::LimitExceeded(wait),
        );
    }

    /// The next `count` GetFindings calls answer 400 `ThrottlingException` (no Retry-After).
    pub fn throttle_next(&self, count: usize) {
        self.control()
            .controls
            .throttle_next(count, FindingsThrottle::Throttling);
    }

    /// `(principal, external id)` of each AssumeRole call that succeeded.
    pub fn assumed(&self) -> Vec<(String, Option<String>)> {
        self.control().assumed.clone()
    }

    pub fn with_data<T>(&self, change: impl FnOnce(&mut AwsData) -> T) -> T {
        change(&mut self.shared.data.lock().unwrap())
    }

    /// The error code of every refused request, in order (`ExpiredTokenException`,
    /// `ThrottlingException`, `AccessDenied`, ...).
    pub fn refusals(&self) -> Vec<String> {
        self.control().refusals.clone()
    }

    /// Every request with a valid signature, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.control().controls.requests()
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.shared.control.lock().unwrap()
    }

    /// What `tributary demo` needs: the cross-account role assumed by Tributary's identity.
    /// The role must also be told to trust the tenant's external id
    /// ([`trust_external_id`](Self::trust_external_id) with `tributary-<tenant id>`) once the
    /// tenant exists.
    pub fn demo_connection(&self) -> DemoConnection {
        DemoConnection {
            definition: "aws_security_hub",
            operator_config: self.operator_config(),
            connection: "AwsAssumeRole".into(),
            user_input: json!({
                "homeRegion": HOME_REGION,
                "linkedRegions": [LINKED_REGION],
            }),
            credentials: BTreeMap::from([(
                "AwsAssumeRole".to_owned(),
                json!({"roleArn": ROLE_ARN}),
            )]),
        }
    }
}

/// How an error is written: STS answers XML, the REST-JSON services JSON.
#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Query,
    RestJson,
}

/// The error shapes of Security Hub's service model that the fake answers.
const SECURITY_HUB_ERRORS: [&str; 4] = [
    "InvalidAccessException",
    "InvalidInputException",
    "LimitExceededException",
    "InternalException",
];

fn aws_error(protocol: Protocol, status: StatusCode, code: &str, message: &str) -> Response {
    match protocol {
        Protocol::Query => {
            let body = format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
                 <Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error>\
                 <RequestId>4b1c6e5a-fake-4000-8000-000000000000</RequestId></ErrorResponse>",
                xml_escape(message)
            );
            (status, [("content-type", "text/xml")], body).into_response()
        }
        Protocol::RestJson => {
            // Security Hub's own errors (as its service model describes them) carry `Code` and
            // `Message`; AWS's front door (authentication, throttling) and Audit Manager answer
            // `{"message"}`.
            let body = if SECURITY_HUB_ERRORS.contains(&code) {
                json!({"Code": code, "Message": message})
            } else {
                json!({"message": message})
            };
            (
                status,
                [
                    ("content-type", "application/json"),
                    ("x-amzn-errortype", code),
                ],
                body.to_string(),
            )
                .into_response()
        }
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding of SigV4: everything but unreserved characters.
fn uri_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct Authorization {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(headers: &HeaderMap) -> Option<Authorization> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name {
            "Credential" => credential = Some(value.to_owned()),
            "SignedHeaders" => signed = Some(value.to_owned()),
            "Signature" => signature = Some(value.to_owned()),
            _ => return None,
        }
    }
    let credential = credential?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return None;
    };
    Some(Authorization {
        access_key_id: (*access_key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers: signed?.split(';').map(str::to_owned).collect(),
        signature: signature?,
    })
}

/// The signature the request should carry, computed from scratch.
fn expected_signature(
    auth: &Authorization,
    secret: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<String> {
    let amz_date = headers.get("x-amz-date")?.to_str().ok()?;
    let mut query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
            .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return None;
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let path = if uri.path().is_empty() {
        "/"
    } else {
        uri.path()
    };
    // Every service but S3 encodes the (already encoded) path once more.
    let canonical_path = path
        .split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/");
    let canonical_request = format!(
        "{method}\n{canonical_path}\n{canonical_query}\n{canonical_headers}\n{}\n{}",
        auth.signed_headers.join(";"),
        hex(&Sha256::digest(body))
    );
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let key = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    let key = hmac(&key, auth.region.as_bytes());
    let key = hmac(&key, auth.service.as_bytes());
    let key = hmac(&key, b"aws4_request");
    Some(hex(&hmac(&key, string_to_sign.as_bytes())))
}

/// Who signed the request.
enum Caller {
    Platform,
    TenantSource,
    Auditor,
    Session(String),
}

impl Caller {
    fn principal(&self) -> String {
        match self {
            Caller::Platform => PLATFORM_PRINCIPAL.into(),
            Caller::TenantSource => TENANT_SOURCE_PRINCIPAL.into(),
            Caller::Auditor => AUDITOR_PRINCIPAL.into(),
            Caller::Session(name) => {
                format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/TributarySecurityAudit/{name}")
            }
        }
    }

    fn account(&self) -> &'static str {
        match self {
            Caller::Platform => "999988887777",
            _ => ACCOUNT_ID,
        }
    }

    /// Whether it may read Security Hub and Audit Manager.
    fn may_read(&self) -> bool {
        matches!(self, Caller::Auditor | Caller::Session(_))
    }
}

/// Checks the signature, the clock and the session token; returns the caller.
fn authenticate(
    shared: &Shared,
    protocol: Protocol,
    auth: &Authorization,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, Response> {
    let (secret, caller) = match auth.access_key_id.as_str() {
        PLATFORM_ACCESS_KEY_ID => (PLATFORM_SECRET_ACCESS_KEY.to_owned(), Caller::Platform),
        TENANT_SOURCE_ACCESS_KEY_ID => (
            TENANT_SOURCE_SECRET_ACCESS_KEY.to_owned(),
            Caller::TenantSource,
        ),
        AUDITOR_ACCESS_KEY_ID => (AUDITOR_SECRET_ACCESS_KEY.to_owned(), Caller::Auditor),
        id => {
            let control = shared.control.lock().unwrap();
            let Some(session) = control.sessions.get(id) else {
                let code = if protocol == Protocol::Query {
                    "InvalidClientTokenId"
                } else {
                    "UnrecognizedClientException"
                };
                return Err(aws_error(
                    protocol,
                    StatusCode::FORBIDDEN,
                    code,
                    "The security token included in the request is invalid.",
                ));
            };
            let token = headers
                .get("x-amz-security-token")
                .and_then(|v| v.to_str().ok());
            if token != Some(session.token.as_str())
                || !auth
                    .signed_headers
                    .iter()
                    .any(|h| h == "x-amz-security-token")
            {
                return Err(aws_error(
                    protocol,
                    StatusCode::FORBIDDEN,
                    if protocol == Protocol::Query {
                        "InvalidClientTokenId"
                    } else {
                        "UnrecognizedClientException"
                    },
                    "The security token included in the request is invalid.",
                ));
            }
            if session.expires_at <= now_secs() {
                return Err(aws_error(
                    protocol,
                    StatusCode::FORBIDDEN,
                    if protocol == Protocol::Query {
                        "ExpiredToken"
                    } else {
                        "ExpiredTokenException"
                    },
                    "The security token included in the request is expired",
                ));
            }
            (
                session.secret.clone(),
                Caller::Session(session.session_name.clone()),
            )
        }
    };
    let mismatch = |detail: &str| {
        aws_error(
            protocol,
            StatusCode::FORBIDDEN,
            if protocol == Protocol::Query {
                "SignatureDoesNotMatch"
            } else {
                "InvalidSignatureException"
            },
            detail,
        )
    };
    if !auth.signed_headers.iter().any(|h| h == "host")
        || !auth.signed_headers.iter().any(|h| h == "x-amz-date")
    {
        return Err(mismatch("The host and x-amz-date headers must be signed."));
    }
    let Some(expected) = expected_signature(auth, &secret, method, uri, headers, body) else {
        return Err(mismatch("A signed header is missing from the request."));
    };
    if expected != auth.signature {
        return Err(mismatch(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method.",
        ));
    }
    let signed_at = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .and_then(amz_date_seconds)
        .unwrap_or_default();
    if !scope_date_matches(auth, headers) || (signed_at - now_secs()).abs() > MAX_CLOCK_SKEW {
        return Err(mismatch("Signature expired or not yet valid."));
    }
    Ok(caller)
}

/// The scope's date must be the day of `x-amz-date`.
fn scope_date_matches(auth: &Authorization, headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(&auth.date))
}

/// `20261129T012345Z` to Unix seconds.
fn amz_date_seconds(value: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|at| at.and_utc().timestamp())
}

/// Answers the request and notes the error code of a refusal.
async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = answer(&shared, method, uri, headers, body);
    if response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let code = match parts.headers.get("x-amzn-errortype") {
        Some(code) => code.to_str().unwrap_or_default().to_owned(),
        None => {
            let text = String::from_utf8_lossy(&bytes);
            text.split_once("<Code>")
                .and_then(|(_, rest)| rest.split_once("</Code>"))
                .map(|(code, _)| code.to_owned())
                .unwrap_or_default()
        }
    };
    shared.control.lock().unwrap().refusals.push(code);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

fn answer(shared: &Shared, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let Some(auth) = parse_authorization(&headers) else {
        return aws_error(
            Protocol::RestJson,
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        );
    };
    let protocol = if auth.service == "sts" {
        Protocol::Query
    } else {
        Protocol::RestJson
    };
    let caller = match authenticate(shared, protocol, &auth, &method, &uri, &headers, &body) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let parsed_body = if protocol == Protocol::Query {
        Value::Object(
            url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
        )
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    shared.control.lock().unwrap().controls.record(SeenRequest {
        service: auth.service.clone(),
        region: auth.region.clone(),
        access_key_id: auth.access_key_id.clone(),
        method: method.to_string(),
        path_and_query: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        body: parsed_body.clone(),
    });
    match (auth.service.as_str(), method.as_str(), uri.path()) {
        ("sts", "POST", "/") => sts(shared, &caller, &parsed_body),
        ("securityhub", _, _) | ("auditmanager", _, _) if !caller.may_read() => aws_error(
            protocol,
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            &format!(
                "User: {} is not authorized to perform: {}:* because no identity-based policy allows it",
                caller.principal(),
                auth.service
            ),
        ),
        ("securityhub", "GET", "/accounts") => describe_hub(shared, &auth.region, &caller),
        ("securityhub", "POST", "/findings") => {
            get_findings(shared, &auth.region, &caller, &parsed_body)
        }
        ("auditmanager", "GET", "/assessments") => list_assessments(shared, &uri),
        _ => aws_error(
            protocol,
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "Unknown operation",
        ),
    }
}

fn sts(shared: &Shared, caller: &Caller, form: &Value) -> Response {
    let field = |name: &str| form.get(name).and_then(Value::as_str);
    if field("Version") != Some("2011-06-15") {
        return aws_error(
            Protocol::Query,
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
            "Version must be 2011-06-15",
        );
    }
    match field("Action") {
        Some("GetCallerIdentity") => {
            let body = format!(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <GetCallerIdentityResult><Arn>{}</Arn><UserId>AIDAFAKEUSERID</UserId>\
                 <Account>{}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>\
                 01234567-fake-4000-8000-000000000000</RequestId></ResponseMetadata>\
                 </GetCallerIdentityResponse>",
                caller.principal(),
                caller.account()
            );
            (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
        }
        Some("AssumeRole") => assume_role(shared, caller, form),
        _ => aws_error(
            Protocol::Query,
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            "Could not find operation",
        ),
    }
}

fn assume_role(shared: &Shared, caller: &Caller, form: &Value) -> Response {
    let field = |name: &str| form.get(name).and_then(Value::as_str);
    let invalid = |message: &str| {
        aws_error(
            Protocol::Query,
            StatusCode::BAD_REQUEST,
            "ValidationError",
            message,
        )
    };
    let Some(session_name) = field("RoleSessionName").filter(|n| {
        (2..=64).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    }) else {
        return invalid(
            "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint",
        );
    };
    let duration: i64 = match field("DurationSeconds").map(str::parse) {
        None => 3600,
        Some(Ok(d)) if (900..=3600).contains(&d) => d,
        _ => {
            return invalid(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            );
        }
    };
    let external_id = field("ExternalId").map(str::to_owned);
    let mut control = shared.control.lock().unwrap();
    let trusted = field("RoleArn") == Some(ROLE_ARN)
        && match caller {
            Caller::Platform => external_id
                .as_ref()
                .is_some_and(|id| control.platform_external_ids.contains(id)),
            Caller::TenantSource => external_id.as_deref() == Some(TENANT_EXTERNAL_ID),
            _ => false,
        };
    if !trusted {
        return aws_error(
            Protocol::Query,
            StatusCode::FORBIDDEN,
            "AccessDenied",
            &format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                caller.principal(),
                field("RoleArn").unwrap_or_default()
            ),
        );
    }
    let serial = control.sessions.len() + 1;
    let access_key_id = format!("ASIA5SESSION{serial:08}");
    let random = |n: usize| {
        let mut bytes = vec![0u8; n];
        tributary_providerkit::fill_random(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    };
    let secret = random(30);
    let token = format!("FwoGZXIvYXdzE{}", random(96));
    let lifetime = control.session_lifetime.unwrap_or(duration);
    let expires_at = now_secs() + lifetime;
    control.sessions.insert(
        access_key_id.clone(),
        Session {
            secret: secret.clone(),
            token: token.clone(),
            expires_at,
            session_name: session_name.to_owned(),
        },
    );
    control
        .assumed
        .push((caller.principal(), external_id.clone()));
    let expiration = rfc3339(expires_at);
    let body = format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
         <AssumedRoleUser><Arn>arn:aws:sts::{ACCOUNT_ID}:assumed-role/TributarySecurityAudit/{session_name}</Arn>\
         <AssumedRoleId>AROAFAKEROLEID:{session_name}</AssumedRoleId></AssumedRoleUser>\
         <Credentials><AccessKeyId>{access_key_id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>\
         <SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
         </AssumeRoleResult><ResponseMetadata><RequestId>c6104cbe-fake-4000-8000-000000000000</RequestId>\
         </ResponseMetadata></AssumeRoleResponse>"
    );
    (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
}

fn not_subscribed(region: &str, caller: &Caller) -> Response {
    aws_error(
        Protocol::RestJson,
        StatusCode::UNAUTHORIZED,
        "InvalidAccessException",
        &format!(
            "Account {} is not subscribed to AWS Security Hub in {region}",
            caller.account()
        ),
    )
}

fn describe_hub(shared: &Shared, region: &str, caller: &Caller) -> Response {
    if !shared
        .data
        .lock()
        .unwrap()
        .enabled_regions
        .iter()
        .any(|r| r == region)
    {
        return not_subscribed(region, caller);
    }
    axum::Json(json!({
        "HubArn": format!("arn:aws:securityhub:{region}:{ACCOUNT_ID}:hub/default"),
        "SubscribedAt": "2025-06-02T09:14:27.114Z",
        "AutoEnableControls": true,
        "ControlFindingGenerator": "SECURITY_CONTROL",
    }))
    .into_response()
}

fn invalid_input(message: &str) -> Response {
    aws_error(
        Protocol::RestJson,
        StatusCode::BAD_REQUEST,
        "InvalidInputException",
        message,
    )
}

/// Whether `finding` passes every filter.
fn passes(finding: &Value, filters: &serde_json::Map<String, Value>) -> Result<bool, String> {
    for (name, conditions) in filters {
        let Some((_, pointer)) = FILTER_FIELDS.iter().find(|(field, _)| field == name) else {
            return Err(format!("Filter {name} is not supported by this fake"));
        };
        let actual = finding.pointer(pointer).and_then(Value::as_str);
        let conditions = conditions
            .as_array()
            .ok_or_else(|| format!("Filter {name} must be a list"))?;
        let (mut equals, mut not_equals) = (Vec::new(), Vec::new());
        for condition in conditions {
            let value = condition["Value"]
                .as_str()
                .ok_or_else(|| format!("Filter {name} needs a Value"))?;
            match condition["Comparison"].as_str() {
                Some("EQUALS") => equals.push(value),
                Some("NOT_EQUALS") => not_equals.push(value),
                other => return Err(format!("Comparison {other:?} is not supported")),
            }
        }
        if !equals.is_empty() && !actual.is_some_and(|a| equals.contains(&a)) {
            return Ok(false);
        }
        if actual.is_some_and(|a| not_equals.contains(&a)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `NextToken`: the offset, bound to the filters it was issued for.
fn page_token(offset: usize, filters: &Value) -> String {
    let binding = hex(&Sha256::digest(filters.to_string().as_bytes()));
    URL_SAFE_NO_PAD.encode(format!("{offset}:{}", &binding[..16]))
}

fn read_token(token: &str, filters: &Value) -> Option<usize> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (offset, binding) = text.split_once(':')?;
    let expected = hex(&Sha256::digest(filters.to_string().as_bytes()));
    (binding == &expected[..16]).then(|| offset.parse().ok())?
}

fn get_findings(shared: &Shared, region: &str, caller: &Caller, body: &Value) -> Response {
    let data = shared.data.lock().unwrap();
    if !data.enabled_regions.iter().any(|r| r == region) {
        return not_subscribed(region, caller);
    }
    let max = body
        .get("MaxResults")
        .map_or(Some(MAX_FINDINGS_PAGE), Value::as_u64);
    let Some(max) = max.filter(|m| (1..=MAX_FINDINGS_PAGE).contains(m)) else {
        return invalid_input("MaxResults must be between 1 and 100");
    };
    let filters_value = body.get("Filters").cloned().unwrap_or(json!({}));
    let Some(filters) = filters_value.as_object() else {
        return invalid_input("Filters must be an object");
    };
    let offset = match body.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => match read_token(token, &filters_value) {
            Some(offset) => offset,
            None => return invalid_input("The NextToken is not valid for these filters"),
        },
    };
    let page_number = offset / max as usize + 1;
    let throttle = {
        let mut control = shared.control.lock().unwrap();
        // The counted throttles answer first and leave the throttled pages for later calls.
        control.controls.next_throttle().or_else(|| {
            control
                .controls
                .take_page_throttle(&(region.to_owned(), page_number))
        })
    };
    match throttle {
        Some(FindingsThrottle::Throttling) => {
            return aws_error(
                Protocol::RestJson,
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            );
        }
        Some(FindingsThrottle::LimitExceeded(wait)) => {
            let response = aws_error(
                Protocol::RestJson,
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "Rate exceeded",
            );
            return retry_after(response, wait);
        }
        None => {}
    }
    let mut matching = Vec::new();
    for finding in &data.findings {
        if finding["Region"] != region {
            continue;
        }
        match passes(finding, filters) {
            Ok(true) => matching.push(finding.clone()),
            Ok(false) => {}
            Err(message) => return invalid_input(&message),
        }
    }
    let end = (offset + max as usize).min(matching.len());
    let page: Vec<Value> = matching.get(offset..end).unwrap_or_default().to_vec();
    let mut answer = json!({"Findings": page});
    if end < matching.len() {
        answer["NextToken"] = json!(page_token(end, &filters_value));
    }
    let mut control = shared.control.lock().unwrap();
    if let Some(left) = control.expire_after_pages {
        if left <= 1 {
            control.expire_after_pages = None;
            for session in control.sessions.values_mut() {
                session.expires_at = 0;
            }
        } else {
            control.expire_after_pages = Some(left - 1);
        }
    }
    axum::Json(answer).into_response()
}

fn list_assessments(shared: &Shared, uri: &Uri) -> Response {
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let max = match query.get("maxResults").map(|m| m.parse::<u64>()) {
        None => MAX_ASSESSMENTS_PAGE,
        Some(Ok(m)) if (1..=MAX_ASSESSMENTS_PAGE).contains(&m) => m,
        _ => {
            return aws_error(
                Protocol::RestJson,
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "maxResults must be between 1 and 1000",
            );
        }
    } as usize;
    let status = query.get("status").cloned();
    if let Some(status) = &status
        && status != "ACTIVE"
        && status != "INACTIVE"
    {
        return aws_error(
            Protocol::RestJson,
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "status must be ACTIVE or INACTIVE",
        );
    }
    let binding = json!({"status": status});
    let offset = match query.get("nextToken") {
        None => 0,
        Some(token) => match token
            .strip_suffix(QUERY_TOKEN_TAIL)
            .and_then(|token| read_token(token, &binding))
        {
            Some(offset) => offset,
            None => {
                return aws_error(
                    Protocol::RestJson,
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    "The nextToken is not valid",
                );
            }
        },
    };
    let data = shared.data.lock().unwrap();
    let matching: Vec<&Value> = data
        .assessments
        .iter()
        .filter(|a| status.as_deref().is_none_or(|s| a["status"] == s))
        .collect();
    let end = (offset + max).min(matching.len());
    let page: Vec<Value> = matching
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(|a| (*a).clone())
        .collect();
    let mut answer = json!({"assessmentMetadata": page});
    if end < matching.len() {
        answer["nextToken"] = json!(format!("{}{QUERY_TOKEN_TAIL}", page_token(end, &binding)));
    }
    axum::Json(answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of AWS's SigV4 documentation ("GET /?Action=ListUsers&Version=2010-05-08"
    /// to IAM) signs to the published signature: the verifier computes SigV4 right.
    #[test]
    fn the_verifier_reproduces_the_documented_example() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let auth = Authorization {
            access_key_id: "AKIDEXAMPLE".into(),
            date: "20150830".into(),
            region: "us-east-1".into(),
            service: "iam".into(),
            signed_headers: vec!["content-type".into(), "host".into(), "x-amz-date".into()],
            signature: String::new(),
        };
        let uri: Uri = "/?Action=ListUsers&Version=2010-05-08".parse().unwrap();
        let signature = expected_signature(
            &auth,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            &Method::GET,
            &uri,
            &headers,
            b"",
        )
        .unwrap();
        assert_eq!(
            signature,
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn dates_round_trip() {
        let at = amz_date_seconds("20261129T012345Z").unwrap();
        assert_eq!(rfc3339(at), "2026-11-29T01:23:45Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
