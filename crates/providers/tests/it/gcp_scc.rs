//! The GCP Security Command Center definition against the fake Google Cloud (token endpoint,
//! STS, iamcredentials, SCC v2 findings) on loopback, through the whole runtime on SQLite and
//! PostgreSQL.

use serde_json::{Value, json};
use tributary_core::ErrorKind;
use tributary_runtime::ConnectRequest;
use tributary_store::{
    runs::Run,
    testing::{TestDb, each_backend},
};
use tributary_testkit::gcp_scc::{
    FakeGcpScc, POOL_AUDIENCE, SERVICE_ACCOUNT_EMAIL, SUBJECT_TOKEN, SccData, finding_name,
    sample_result,
};

use crate::harness::{
    Harness, assert_rate_limited, assert_succeeded, by_lookup_key, logs_requests,
};

logs_requests!(FakeGcpScc);

const KEY: &str = "GcpSccServiceAccount";
const FEDERATION: &str = "GcpSccWorkloadIdentity";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const UNKNOWN_KEY_PEM: &str = tributary_testkit::keys::OTHER_RSA_PEM;

async fn harness(backend: TestDb, data: SccData) -> Harness<FakeGcpScc> {
    let fake = FakeGcpScc::start(data).await.unwrap();
    let demo = fake.demo_connection();
    Harness::start(backend, fake, demo.definition, demo.operator_config).await
}

impl Harness<FakeGcpScc> {
    fn org_input(&self) -> Value {
        json!({"parent": format!("organizations/{}", self.fake.organization_id())})
    }

    fn key_request(&self) -> ConnectRequest {
        self.form_request(
            KEY,
            json!({"serviceAccountKey": self.fake.service_account_key_json()}),
            self.org_input(),
        )
    }

    async fn connect_key(&self) -> String {
        self.connect(self.key_request()).await
    }

    fn federation(&self, subject_token: &str) -> Value {
        json!({
            "audience": POOL_AUDIENCE,
            "subjectToken": subject_token,
            "serviceAccountEmail": SERVICE_ACCOUNT_EMAIL,
        })
    }

    /// A collect, ten findings a page, run to its end.
    async fn collect(&self, integration: &str) -> Run {
        self.run(integration, "FindingsCollect", json!({"pageSize": 10}))
            .await
    }
}

/// 30 sample findings: 10 vulnerabilities (0, 3, ..., 27), 3 inactive (9, 19, 29). Active: 9
/// vulnerabilities (9 is inactive) and 18 other findings.
const SAMPLE: usize = 30;

#[each_backend]
async fn a_service_account_key_connects_and_a_multi_page_collect_maps_findings(backend: TestDb) {
    let h = harness(backend, SccData::sample(SAMPLE)).await;
    let id = h.connect_key().await;
    assert!(h.fake.auth().grants(JWT_BEARER) >= 1);
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    let parent = format!("organizations/{}", h.fake.organization_id());
    assert_eq!(integration.metadata["externalId"], parent);
    assert_eq!(
        integration.metadata["attributes"]["serviceAccountEmail"],
        SERVICE_ACCOUNT_EMAIL
    );
    assert_eq!(
        integration.metadata["attributes"]["filter"],
        "state=\"ACTIVE\""
    );

    let health = h.health(&id).await;
    assert_eq!(health["parent"], parent);
    assert_eq!(health["totalSize"], 27);

    let run = h.collect(&id).await;
    assert_succeeded(&run);
    let pages: Vec<String> = h.requests_containing("pageSize=10");
    assert_eq!(pages.len(), 3, "27 active findings, 10 a page: {pages:?}");
    assert!(pages[0].starts_with(&format!(
        "/v2/{parent}/sources/-/locations/global/findings?"
    )));
    assert!(
        pages
            .iter()
            .all(|p| p.contains("filter=state%3D%22ACTIVE%22")),
        "{pages:?}"
    );
    assert!(pages[1].contains("pageToken=") && pages[2].contains("pageToken="));

    let vulnerabilities = h.records(&id, "Vulnerability").await;
    assert_eq!(vulnerabilities.len(), 9);
    let first = by_lookup_key(
        &vulnerabilities,
        &finding_name(&h.fake.organization_id(), 0),
    );
    assert_eq!(first.fields["cveID"], "CVE-2026-20000");
    assert_eq!(first.fields["severity"], "CRITICAL");
    assert_eq!(first.fields["cvssScore"], 9.8);
    let findings = h.records(&id, "Finding").await;
    assert_eq!(findings.len(), 18);
    let muted = by_lookup_key(&findings, &finding_name(&h.fake.organization_id(), 20));
    assert_eq!(muted.fields["status"], "SUPPRESSED");
    assert_eq!(muted.fields["findingClass"], "threat");
    assert_eq!(run.counters["failed"], 0, "{:?}", run.counters);

    // The pooled client reuses its token.
    let before = h.fake.auth().grants(JWT_BEARER);
    h.health(&id).await;
    assert_eq!(h.fake.auth().grants(JWT_BEARER), before);
}

#[each_backend]
async fn workload_identity_federation_connects_and_collects_with_a_user_filter(backend: TestDb) {
    let h = harness(backend, SccData::sample(SAMPLE)).await;
    let input = json!({
        "parent": "projects/acme-prod",
        "findingFilter": "state=\"ACTIVE\" AND findingClass=\"VULNERABILITY\"",
    });
    let id = h
        .connect(h.form_request(FEDERATION, h.federation(SUBJECT_TOKEN), input))
        .await;
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.metadata["externalId"], "projects/acme-prod");
    assert_eq!(
        integration.metadata["attributes"]["connection"],
        "workloadIdentity"
    );
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    assert_eq!(h.records(&id, "Vulnerability").await.len(), 9);
    assert!(h.records(&id, "Finding").await.is_empty());
    assert!(
        h.requests()
            .iter()
            .all(|r| r.starts_with("/v2/projects/acme-prod/sources/-/locations/global/findings?"))
    );
    assert_eq!(h.fake.auth().grants(JWT_BEARER), 0, "no key was used");

    // A subject token the pool does not trust: an auth error that does not quote it.
    let rejected = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzb21lb25lLWVsc2UifQ.c2VjcmV0LXNpZ25hdHVyZQ";
    let err = h
        .try_connect(h.form_request(FEDERATION, h.federation(rejected), h.org_input()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("Security Token Service"), "{err}");
    assert!(!format!("{err} {err:?}").contains(rejected));
}

#[each_backend]
async fn expired_tokens_are_reminted_and_refused_credentials_hold_no_secret(backend: TestDb) {
    let h = harness(backend, SccData::sample(6)).await;
    let id = h.connect_key().await;
    h.health(&id).await;
    // Google dropped every token before its expiry: the 401 clears the cache, a new token
    // is minted from the key and the request goes through.
    let before = h.fake.auth().grants(JWT_BEARER);
    h.fake.auth().expire_access_tokens();
    assert_eq!(h.health(&id).await["totalSize"], 6);
    assert_eq!(h.fake.auth().grants(JWT_BEARER), before + 1);

    // A key Google does not know (deleted): an auth error without the key.
    let mut unknown: Value = serde_json::from_str(&h.fake.service_account_key_json()).unwrap();
    unknown["private_key"] = json!(UNKNOWN_KEY_PEM);
    let err = h
        .try_connect(h.form_request(
            KEY,
            json!({"serviceAccountKey": unknown.to_string()}),
            h.org_input(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!format!("{err} {err:?}").contains(UNKNOWN_KEY_PEM.lines().nth(1).unwrap()));

    // A parent the service account has no role at: Google's 403 is an auth error.
    let err = h
        .try_connect(h.form_request(
            KEY,
            json!({"serviceAccountKey": h.fake.service_account_key_json()}),
            json!({"parent": "organizations/999"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("permission"), "{err}");

    // A malformed parent or filter is a config error.
    let err = h
        .try_connect(h.form_request(
            KEY,
            json!({"serviceAccountKey": h.fake.service_account_key_json()}),
            json!({"parent": "orgs/1"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let err = h
        .try_connect(h.form_request(
            KEY,
            json!({"serviceAccountKey": h.fake.service_account_key_json()}),
            json!({"parent": "organizations/123456789012", "findingFilter": "owner=\"x\""}),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("Invalid filter field"), "{err}");
}

#[each_backend]
async fn a_throttled_collect_resumes_and_the_next_complete_collect_sees_deletions(backend: TestDb) {
    let h = harness(backend, SccData::sample(SAMPLE)).await;
    let id = h.connect_key().await;
    h.fake.throttle_page(2, 300);
    let run = h.collect(&id).await;
    assert_rate_limited(&run);
    let first_page =
        h.records(&id, "Vulnerability").await.len() + h.records(&id, "Finding").await.len();
    assert_eq!(first_page, 10);

    // The first finding, already ingested from page 1, is replaced at the provider by a new
    // one: the resumed run starts at page 2 and sees neither, and tombstones nothing.
    let org = h.fake.organization_id();
    h.fake.with_data(|d| {
        let (organization, project) = (d.organization_id.clone(), d.project_id.clone());
        d.results[0] = sample_result(SAMPLE, &organization, &project);
    });
    let resumed = h.collect(&id).await;
    assert_succeeded(&resumed);
    assert_eq!(resumed.counters["tombstoned"], 0, "{:?}", resumed.counters);
    let pages: Vec<String> = h.requests_containing("pageSize=10");
    // Page 1, page 2 (throttled); resumed at page 2, then page 3.
    assert_eq!(pages.len(), 4, "{pages:?}");
    assert!(
        pages[2].contains("pageToken="),
        "resumed at page 2: {pages:?}"
    );
    assert_eq!(h.records(&id, "Vulnerability").await.len(), 9);
    assert_eq!(h.records(&id, "Finding").await.len(), 18);

    // One finding deleted, one vulnerability fixed (INACTIVE, outside the filter).
    h.fake.with_data(|d| {
        d.remove(&finding_name(&org, 1));
        d.set_state(&finding_name(&org, 3), "INACTIVE");
    });
    let full = h.collect(&id).await;
    assert_succeeded(&full);
    // The complete listing no longer holds them, nor the replaced first finding: the run
    // tombstones those three and creates the new one.
    assert_eq!(full.counters["seen"], 25, "{:?}", full.counters);
    assert_eq!(full.counters["created"], 1, "{:?}", full.counters);
    assert_eq!(full.counters["tombstoned"], 3, "{:?}", full.counters);
    let mut tombstoned: Vec<String> = Vec::new();
    for model in ["Vulnerability", "Finding"] {
        for record in h.records(&id, model).await {
            if record.deleted_at.is_some() {
                let reason = record.deleted_reason.unwrap_or_default();
                assert!(reason.contains("not seen by the complete run"), "{reason}");
                tombstoned.push(record.lookup_key);
            }
        }
    }
    tombstoned.sort();
    let mut expected: Vec<String> = [0, 1, 3].map(|i| finding_name(&org, i)).to_vec();
    expected.sort();
    assert_eq!(tombstoned, expected);
}
