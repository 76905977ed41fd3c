//! The AWS Security Hub definition against the fake AWS (STS, Security Hub, Audit Manager, all
//! verifying SigV4) on loopback, through the whole runtime on SQLite and PostgreSQL.

use serde_json::{Value, json};
use tributary_core::ErrorKind;
use tributary_runtime::ConnectRequest;
use tributary_store::{
    records::StoredRecord,
    runs::Run,
    testing::{TestDb, each_backend},
};
use tributary_testkit::aws_security_hub::{
    ACCOUNT_ID, AUDITOR_ACCESS_KEY_ID, AUDITOR_PRINCIPAL, AUDITOR_SECRET_ACCESS_KEY, AwsData,
    FakeAwsSecurityHub, HOME_REGION, LINKED_REGION, PLATFORM_PRINCIPAL, PLATFORM_SECRET_ACCESS_KEY,
    ROLE_ARN, TENANT_EXTERNAL_ID, TENANT_SOURCE_ACCESS_KEY_ID, TENANT_SOURCE_PRINCIPAL,
    TENANT_SOURCE_SECRET_ACCESS_KEY, finding_id, sample_finding,
};

use crate::harness::{self, Harness, assert_rate_limited, assert_succeeded, by_lookup_key};

const ROLE: &str = "AwsAssumeRole";
const KEYS: &str = "AwsAccessKeys";
/// 40 sample findings; see `AwsData::sample` for how they vary.
const SAMPLE: usize = 40;

async fn harness(backend: TestDb, data: AwsData) -> Harness<FakeAwsSecurityHub> {
    let fake = FakeAwsSecurityHub::start(data).await.unwrap();
    let operator = fake.operator_config();
    Harness::start(backend, fake, "aws_security_hub", operator).await
}

impl Harness<FakeAwsSecurityHub> {
    fn platform_external_id(&self) -> String {
        format!("tributary-{}", self.tenant)
    }

    /// A connection that must be refused: the error's kind and text.
    async fn refused(&self, request: ConnectRequest) -> (ErrorKind, String) {
        let err = self.try_connect(request).await.unwrap_err();
        (err.kind(), err.to_string())
    }

    /// The role assumed by Tributary's identity, whose external id the role trusts.
    async fn connect_role(&self, input: Value) -> String {
        self.fake.trust_external_id(&self.platform_external_id());
        self.connect(self.form_request(ROLE, json!({"roleArn": ROLE_ARN}), input))
            .await
    }

    /// A findings collect, five findings a page, run to its end.
    async fn collect(&self, integration: &str) -> Run {
        self.run(integration, "FindingsCollect", json!({"pageSize": 5}))
            .await
    }

    async fn live_keys(&self, integration: &str, model: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .records(integration, model)
            .await
            .into_iter()
            .filter(|r| r.deleted_at.is_none())
            .map(|r| r.lookup_key)
            .collect();
        keys.sort();
        keys
    }

    /// The GetFindings request bodies, in order.
    fn findings_requests(&self) -> Vec<(String, Value)> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.service == "securityhub" && r.path_and_query == "/findings")
            .map(|r| (r.region, r.body))
            .collect()
    }
}

/// The ids of the sample findings a collect should see, split into (vulnerabilities, other
/// findings), computed from the sample data independently of the fake's filter code.
fn expected(
    count: usize,
    accounts: &[&str],
    severities: &[&str],
    regions: &[&str],
) -> (Vec<String>, Vec<String>) {
    let (mut vulnerabilities, mut findings) = (Vec::new(), Vec::new());
    for i in 0..count {
        let f = sample_finding(i);
        let keep = f["RecordState"] == "ACTIVE"
            && (accounts.is_empty() || accounts.contains(&f["AwsAccountId"].as_str().unwrap()))
            && severities.contains(&f["Severity"]["Label"].as_str().unwrap())
            && regions.contains(&f["Region"].as_str().unwrap());
        if keep {
            if i % 3 == 0 {
                vulnerabilities.push(finding_id(i));
            } else {
                findings.push(finding_id(i));
            }
        }
    }
    vulnerabilities.sort();
    findings.sort();
    (vulnerabilities, findings)
}

fn filter_values(body: &Value, name: &str) -> Vec<String> {
    body["Filters"][name]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| {
                    assert_eq!(c["Comparison"], "EQUALS");
                    c["Value"].as_str().unwrap().to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[each_backend]
async fn a_role_assumed_by_tributary_collects_every_region_with_its_filters_applied(
    backend: TestDb,
) {
    let h = harness(backend, AwsData::sample(SAMPLE)).await;
    let id = h
        .connect_role(json!({
            "homeRegion": HOME_REGION,
            "linkedRegions": [LINKED_REGION],
            "accountIds": [ACCOUNT_ID],
            "severityFloor": "MEDIUM",
        }))
        .await;
    let assumed = h.fake.assumed();
    assert!(!assumed.is_empty());
    assert!(
        assumed.iter().all(|a| *a
            == (
                PLATFORM_PRINCIPAL.to_owned(),
                Some(h.platform_external_id())
            )),
        "{assumed:?}"
    );
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.metadata["externalId"], ACCOUNT_ID);
    let attributes = &integration.metadata["attributes"];
    assert_eq!(attributes["connection"], "assumeRole");
    assert_eq!(attributes["roleArn"], ROLE_ARN);
    assert!(
        attributes["callerArn"]
            .as_str()
            .unwrap()
            .contains(":assumed-role/TributarySecurityAudit/tributary"),
        "{attributes}"
    );

    let health = h.health(&id).await;
    assert_eq!(health["regions"], json!([HOME_REGION, LINKED_REGION]));
    assert_eq!(health["hubs"][1]["region"], LINKED_REGION);
    assert!(
        health["hubs"][0]["hubArn"]
            .as_str()
            .unwrap()
            .ends_with(":hub/default")
    );

    let run = h.collect(&id).await;
    assert_succeeded(&run);
    let requests = h.findings_requests();
    for (region, body) in &requests {
        assert_eq!(filter_values(body, "RecordState"), ["ACTIVE"]);
        assert_eq!(filter_values(body, "Region"), [region.as_str()]);
        assert_eq!(filter_values(body, "AwsAccountId"), [ACCOUNT_ID]);
        assert_eq!(
            filter_values(body, "SeverityLabel"),
            ["MEDIUM", "HIGH", "CRITICAL"]
        );
        assert_eq!(body["MaxResults"], 5);
    }
    let (vulnerabilities, findings) = expected(
        SAMPLE,
        &[ACCOUNT_ID],
        &["MEDIUM", "HIGH", "CRITICAL"],
        &[HOME_REGION, LINKED_REGION],
    );
    let home_pages = requests.iter().filter(|(r, _)| r == HOME_REGION).count();
    let home_total = expected(
        SAMPLE,
        &[ACCOUNT_ID],
        &["MEDIUM", "HIGH", "CRITICAL"],
        &[HOME_REGION],
    );
    let home_total = home_total.0.len() + home_total.1.len();
    assert_eq!(home_pages, home_total.div_ceil(5), "{requests:?}");
    assert!(requests[0].1.get("NextToken").is_none());
    assert!(requests[1].1["NextToken"].is_string());
    assert!(requests.iter().any(|(r, _)| r == LINKED_REGION));

    assert_eq!(h.live_keys(&id, "Vulnerability").await, vulnerabilities);
    assert_eq!(h.live_keys(&id, "Finding").await, findings);
    assert!(!vulnerabilities.is_empty() && !findings.is_empty());

    // Finding 0: an Inspector CVE, CRITICAL, in the home account and region.
    let records = h.records(&id, "Vulnerability").await;
    let first = by_lookup_key(&records, &finding_id(0));
    assert_eq!(first.fields["cveID"], "CVE-2026-21000");
    assert_eq!(first.fields["severity"], "CRITICAL");
    assert_eq!(first.fields["cvssScore"], 7.5);
    assert_eq!(first.fields["packageName"], "openssl");
    assert_eq!(first.fields["patchedVersion"], "1:3.0.8-1.amzn2023");
    assert_eq!(first.fields["status"], "OPEN");
    assert_eq!(first.fields["properties"]["awsAccountId"], ACCOUNT_ID);
    // Finding 1: a failed control; finding 2 would be a threat.
    let findings = h.records(&id, "Finding").await;
    let control = by_lookup_key(&findings, &finding_id(1));
    assert_eq!(control.fields["findingClass"], "compliance");
    assert_eq!(
        control.fields["controls"],
        json!(["S3.8", "NIST.800-53.r5 AC-21", "PCI DSS v4.0.1/1.4.4"])
    );
    let threat = by_lookup_key(&findings, &finding_id(2));
    assert_eq!(threat.fields["findingClass"], "threat");
    // Every request the fake accepted was signed by the role's session, never by
    // Tributary's long-term key (which may only assume roles).
    assert!(
        h.fake
            .requests()
            .iter()
            .filter(|r| r.service != "sts")
            .all(|r| r.access_key_id.starts_with("ASIA")),
    );
}

#[each_backend]
async fn access_keys_connect_and_assessments_become_findings(backend: TestDb) {
    let h = harness(backend, AwsData::sample(SAMPLE)).await;
    let id = h
        .connect(h.form_request(
            KEYS,
            json!({
                "accessKeyId": AUDITOR_ACCESS_KEY_ID,
                "secretAccessKey": AUDITOR_SECRET_ACCESS_KEY,
            }),
            json!({"homeRegion": HOME_REGION, "severityFloor": "INFORMATIONAL"}),
        ))
        .await;
    assert!(h.fake.assumed().is_empty());
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(
        integration.metadata["attributes"]["callerArn"],
        AUDITOR_PRINCIPAL
    );
    assert_eq!(
        integration.metadata["attributes"]["connection"],
        "accessKeys"
    );

    let run = h.collect(&id).await;
    assert_succeeded(&run);
    let all = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"];
    let (vulnerabilities, findings) = expected(SAMPLE, &[], &all, &[HOME_REGION]);
    assert_eq!(h.live_keys(&id, "Vulnerability").await, vulnerabilities);
    assert_eq!(h.live_keys(&id, "Finding").await, findings);
    assert!(
        h.findings_requests()
            .iter()
            .all(|(_, body)| body["Filters"].get("SeverityLabel").is_none()
                && body["Filters"].get("AwsAccountId").is_none()),
        "no severity or account filter when none is asked"
    );

    let run = h
        .run(&id, "AssessmentsCollect", json!({"pageSize": 2}))
        .await;
    assert_succeeded(&run);
    let assessments: Vec<StoredRecord> = h
        .records(&id, "Finding")
        .await
        .into_iter()
        .filter(|r| r.variant == "assessment")
        .collect();
    assert_eq!(assessments.len(), 3);
    let pci = assessments
        .iter()
        .find(|r| r.fields["displayName"] == "PCI DSS 2026 audit")
        .unwrap();
    assert_eq!(pci.fields["source"], "aws_audit_manager");
    assert_eq!(pci.fields["externalOwnerID"], ACCOUNT_ID);
    assert_eq!(pci.fields["status"], "OPEN");
    assert_eq!(pci.fields["reportedAt"], "2026-09-21T14:13:20Z");
    let hipaa = assessments
        .iter()
        .find(|r| r.fields["category"] == "HIPAA")
        .unwrap();
    assert_eq!(hipaa.fields["status"], "RESOLVED");
    assert_eq!(hipaa.fields["properties"]["delegationCount"], 2);
    let pages = h
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.service == "auditmanager")
        .count();
    assert_eq!(pages, 2, "three assessments, two a page");
}

#[each_backend]
async fn refusals_say_what_to_fix_and_hold_no_secret(backend: TestDb) {
    let h = harness(backend, AwsData::sample(SAMPLE)).await;
    let input = json!({"homeRegion": HOME_REGION});
    let no_secret = |message: &str| {
        for secret in [
            PLATFORM_SECRET_ACCESS_KEY,
            AUDITOR_SECRET_ACCESS_KEY,
            TENANT_SOURCE_SECRET_ACCESS_KEY,
            "wrong-secret-value-123",
        ] {
            assert!(!message.contains(secret), "{message}");
        }
    };

    // The role does not trust Tributary's external id for this tenant.
    let (kind, message) = h
        .refused(h.form_request(ROLE, json!({"roleArn": ROLE_ARN}), input.clone()))
        .await;
    assert_eq!(kind, ErrorKind::Auth, "{message}");
    assert!(message.contains("AccessDenied"), "{message}");
    assert!(message.contains(ROLE_ARN), "{message}");
    no_secret(&message);

    // With Tributary's identity, a tenant cannot pick another external id.
    let (kind, message) = h
        .refused(h.form_request(
            ROLE,
            json!({"roleArn": ROLE_ARN, "externalId": TENANT_EXTERNAL_ID}),
            input.clone(),
        ))
        .await;
    assert_eq!(kind, ErrorKind::Config, "{message}");
    assert!(message.contains(&h.platform_external_id()), "{message}");

    // Wrong secret key: the signature does not match.
    let (kind, message) = h
        .refused(h.form_request(
            KEYS,
            json!({
                "accessKeyId": AUDITOR_ACCESS_KEY_ID,
                "secretAccessKey": "wrong-secret-value-123",
            }),
            input.clone(),
        ))
        .await;
    assert_eq!(kind, ErrorKind::Auth, "{message}");
    assert!(message.contains("InvalidSignatureException"), "{message}");
    no_secret(&message);

    // Security Hub is not enabled in a linked region: the connection names it.
    h.fake
        .with_data(|d| d.enabled_regions = vec![HOME_REGION.into()]);
    let (kind, message) = h
        .refused(h.form_request(
            KEYS,
            json!({
                "accessKeyId": AUDITOR_ACCESS_KEY_ID,
                "secretAccessKey": AUDITOR_SECRET_ACCESS_KEY,
            }),
            json!({"homeRegion": HOME_REGION, "linkedRegions": ["eu-west-1"]}),
        ))
        .await;
    assert_eq!(kind, ErrorKind::Auth, "{message}");
    assert!(
        message.contains("Security Hub in eu-west-1") && message.contains("not subscribed"),
        "{message}"
    );

    // The tenant's own source identity with the external id it chose connects.
    h.fake
        .with_data(|d| d.enabled_regions = vec![HOME_REGION.into(), LINKED_REGION.into()]);
    h.connect(h.form_request(
        ROLE,
        json!({
            "roleArn": ROLE_ARN,
            "externalId": TENANT_EXTERNAL_ID,
            "sourceAccessKeyId": TENANT_SOURCE_ACCESS_KEY_ID,
            "sourceSecretAccessKey": TENANT_SOURCE_SECRET_ACCESS_KEY,
        }),
        input.clone(),
    ))
    .await;
    let assumed = h.fake.assumed();
    assert!(!assumed.is_empty());
    assert!(
        assumed.iter().all(|a| *a
            == (
                TENANT_SOURCE_PRINCIPAL.to_owned(),
                Some(TENANT_EXTERNAL_ID.to_owned())
            )),
        "{assumed:?}"
    );

    // Nothing stored or listed for the integrations shows a secret.
    let listed = serde_json::to_string(
        &h.runtime
            .db()
            .integrations()
            .list(&h.tenant, None)
            .await
            .unwrap(),
    )
    .unwrap();
    no_secret(&listed);
    assert!(!listed.contains(TENANT_SOURCE_SECRET_ACCESS_KEY));
}

#[each_backend]
async fn an_expired_session_is_renewed_and_throttles_are_waited_out(backend: TestDb) {
    let h = harness(backend, AwsData::sample(SAMPLE)).await;
    let id = h
        .connect_role(json!({"homeRegion": HOME_REGION, "linkedRegions": [LINKED_REGION]}))
        .await;
    let assumed_at_connect = h.fake.assumed().len();
    // AWS drops the session in the middle of the listing, and throttles twice.
    h.fake.expire_sessions_after_pages(1);
    h.fake.throttle_next(2);
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    // The run's client assumes the role (unless it reuses the connection's), then once
    // more when AWS refuses the dropped session; never a storm of retries.
    let assumed_by_run = h.fake.assumed().len() - assumed_at_connect;
    assert!((1..=2).contains(&assumed_by_run), "{assumed_by_run}");
    let refusals = h.fake.refusals();
    assert_eq!(
        refusals
            .iter()
            .filter(|c| *c == "ThrottlingException")
            .count(),
        2,
        "{refusals:?}"
    );
    assert_eq!(
        refusals
            .iter()
            .filter(|c| *c == "ExpiredTokenException")
            .count(),
        1,
        "{refusals:?}"
    );
    let low_and_up = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
    let (vulnerabilities, findings) =
        expected(SAMPLE, &[], &low_and_up, &[HOME_REGION, LINKED_REGION]);
    assert_eq!(h.live_keys(&id, "Vulnerability").await, vulnerabilities);
    assert_eq!(h.live_keys(&id, "Finding").await, findings);
}

#[each_backend]
async fn a_throttled_collect_resumes_from_its_region_checkpoint(backend: TestDb) {
    let h = harness(backend, AwsData::sample(SAMPLE)).await;
    let id = h
        .connect_role(json!({"homeRegion": HOME_REGION, "linkedRegions": [LINKED_REGION]}))
        .await;
    // The linked region's second page asks to wait five minutes: longer than a run waits.
    h.fake.throttle_page(LINKED_REGION, 2, 300);
    let collect = || h.run(&id, "FindingsCollect", json!({"pageSize": 2}));
    let run = collect().await;
    assert_rate_limited(&run);
    let before = h.findings_requests();

    let resumed = collect().await;
    assert_succeeded(&resumed);
    let after = h.findings_requests();
    let again = &after[before.len()..];
    assert!(
        again.iter().all(|(region, _)| region == LINKED_REGION),
        "the home region, done before the throttle, is not read again: {again:?}"
    );
    assert!(
        again[0].1["NextToken"].is_string(),
        "resumed at the throttled page: {again:?}"
    );
    let low_and_up = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
    let (vulnerabilities, findings) =
        expected(SAMPLE, &[], &low_and_up, &[HOME_REGION, LINKED_REGION]);
    assert_eq!(h.live_keys(&id, "Vulnerability").await, vulnerabilities);
    assert_eq!(h.live_keys(&id, "Finding").await, findings);
}

#[each_backend]
async fn a_complete_collect_tombstones_what_left_the_listing_and_spares_assessments(
    backend: TestDb,
) {
    let h = harness(backend, AwsData::sample(SAMPLE)).await;
    let id = h
        .connect_role(json!({"homeRegion": HOME_REGION, "severityFloor": "INFORMATIONAL"}))
        .await;
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    let run = h.run(&id, "AssessmentsCollect", Value::Null).await;
    assert_succeeded(&run);

    // Finding 1 (a control) is deleted, vulnerability 0 archived, and one assessment
    // deleted too; only the findings collect runs.
    h.fake.with_data(|d| {
        d.remove(&finding_id(1));
        d.set_record_state(&finding_id(0), "ARCHIVED");
        d.assessments.remove(0);
    });
    let full = h.collect(&id).await;
    assert_succeeded(&full);
    assert_eq!(full.counters["tombstoned"], 2, "{:?}", full.counters);
    let deleted = |records: Vec<StoredRecord>| -> Vec<String> {
        records
            .into_iter()
            .filter(|r| r.deleted_at.is_some())
            .map(|r| r.lookup_key)
            .collect()
    };
    assert_eq!(
        deleted(h.records(&id, "Vulnerability").await),
        [finding_id(0)]
    );
    assert_eq!(deleted(h.records(&id, "Finding").await), [finding_id(1)]);

    // The assessments collect removes the deleted assessment, and nothing else.
    let run = h.run(&id, "AssessmentsCollect", Value::Null).await;
    assert_eq!(run.counters["tombstoned"], 1, "{:?}", run.counters);
    let findings = h.records(&id, "Finding").await;
    let gone: Vec<&StoredRecord> = findings.iter().filter(|r| r.deleted_at.is_some()).collect();
    assert_eq!(gone.len(), 2);
    assert!(gone.iter().any(|r| r.variant == "assessment"));

    // An archived finding that becomes active again comes back.
    h.fake
        .with_data(|d| d.set_record_state(&finding_id(0), "ACTIVE"));
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    assert!(deleted(h.records(&id, "Vulnerability").await).is_empty());
}

#[test]
fn mapping_goldens() {
    let mappings = &harness::mappings("aws_security_hub");
    let fixture = |name: &str| harness::fixture("aws_security_hub", name);
    for (schema, variant, names) in [
        (
            "Vulnerability",
            "",
            &[
                "inspector_package_cve",
                "inspector_package_two_cvss_versions",
                "vulnerability_minimal",
            ][..],
        ),
        (
            "Finding",
            "",
            &[
                "control_failed",
                "guardduty_threat_suppressed",
                "finding_minimal",
            ][..],
        ),
        ("Finding", "assessment", &["assessment"][..]),
    ] {
        for name in names {
            let snapshot =
                tributary_ingest::kit::snapshot(mappings, schema, variant, &fixture(name));
            insta::assert_json_snapshot!(format!("aws_security_hub_{name}"), snapshot);
        }
    }
}

/// ASFF's `Cvss` is a list in no stated order; Inspector sends a CVSS 2.0 and a 3.1 score side
/// by side. The newest version's score is recorded, and the installed package version is not
/// taken for a vulnerable range.
#[test]
fn the_newest_cvss_version_is_recorded_whatever_the_order() {
    let mappings = &harness::mappings("aws_security_hub");
    let path = format!(
        "{}/tests/fixtures/aws_security_hub/inspector_package_two_cvss_versions.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut finding: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for reversed in [false, true] {
        if reversed {
            let scores = finding["Vulnerabilities"][0]["Cvss"]
                .as_array_mut()
                .unwrap();
            scores.reverse();
        }
        let snapshot = tributary_ingest::kit::snapshot(mappings, "Vulnerability", "", &finding);
        let record = &snapshot["record"]["fields"];
        assert_eq!(record["cvssScore"], 10.0, "{snapshot}");
        assert_eq!(record["properties"]["cvssVersion"], "3.1");
        assert!(record["vulnerableVersionRange"].is_null(), "{snapshot}");
        assert!(record["patchedVersion"].is_null());
        assert_eq!(record["properties"]["installedVersion"], "3.0.8");
    }
}
