//! The Defender for Cloud definition against the fake Azure on loopback, through the whole
//! runtime (setup flow, token minting and re-minting, queued runs, ingest) on SQLite and
//! PostgreSQL, in both connection modes: a client secret and a certificate (a client assertion
//! with the certificate's `x5t`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_core::ErrorKind;
use tributary_providers::{
    azure_security_center::{CertificateKey, check_guid, check_tenant, classify_token_error},
    registry,
};
use tributary_runtime::ConnectRequest;
use tributary_store::{
    integrations::IntegrationStatus,
    records::StoredRecord,
    runs::{Run, RunStatus},
    testing::{TestDb, each_backend},
};
use tributary_testkit::{
    authorization::CLIENT_PRIVATE_KEY_PEM,
    azure_security_center::{
        CERT_CLIENT_ID, CERTIFICATE_PEM, CLIENT_SECRET, DefenderData, FakeAzureSecurityCenter,
        SUBSCRIPTION_A, SUBSCRIPTION_B, SUBSCRIPTION_HIDDEN, TENANT_DOMAIN, TENANT_ID,
        UNREGISTERED_CERTIFICATE_PEM, certificate_bundle, thumbprints,
    },
};

use crate::harness::{
    self, Harness, assert_rate_limited, assert_succeeded, catalog_config, logs_requests,
};

logs_requests!(FakeAzureSecurityCenter);

const DEFINITION: &str = "azure_security_center";

/// A line of the private key's base64 body: it must never show in an error.
fn private_key_fragment() -> &'static str {
    CLIENT_PRIVATE_KEY_PEM.lines().nth(3).unwrap()
}

async fn harness(backend: TestDb, data: DefenderData) -> Harness<FakeAzureSecurityCenter> {
    let fake = FakeAzureSecurityCenter::start(data).await.unwrap();
    let operator = fake.operator_config();
    Harness::start(backend, fake, DEFINITION, operator).await
}

/// What the collect should keep: unhealthy assessments as findings, unhealthy sub-assessments
/// as vulnerabilities (with a CVE) or findings (without), of `subscriptions`.
fn expected(fake: &FakeAzureSecurityCenter, subscriptions: &[&str]) -> (usize, usize) {
    fake.with_data(|data| {
        let unhealthy = |item: &&Value| item["properties"]["status"]["code"] == "Unhealthy";
        let mut findings = 0;
        let mut vulnerabilities = 0;
        for sub in subscriptions {
            let sub = &data.subscriptions[*sub];
            findings += sub.assessments.values().filter(unhealthy).count();
            for item in sub.sub_assessments.values().filter(unhealthy) {
                if item["properties"]["additionalData"]["cve"].is_array() {
                    vulnerabilities += 1;
                } else {
                    findings += 1;
                }
            }
        }
        (findings, vulnerabilities)
    })
}

impl Harness<FakeAzureSecurityCenter> {
    fn secret(&self) -> ConnectRequest {
        self.form_request(
            "AzureClientSecret",
            self.fake.secret_credential(),
            json!({}),
        )
    }

    fn certificate(&self) -> ConnectRequest {
        self.form_request(
            "AzureClientCertificate",
            self.fake.certificate_credential(),
            json!({}),
        )
    }

    /// Queues a collect and runs it to its end with a worker.
    async fn collect(&self, integration: &str) -> Run {
        self.run(integration, "DefenderCollect", Value::Null).await
    }

    /// The requests for `path` after the first `skip` requests (those of the connect).
    fn requests_since(&self, skip: usize, path: &str) -> Vec<String> {
        self.requests()
            .into_iter()
            .skip(skip)
            .filter(|r| r.split('?').next() == Some(path))
            .collect()
    }
}

fn assessments_path(sub: &str) -> String {
    format!("/subscriptions/{sub}/providers/Microsoft.Security/assessments")
}

fn metadata_path(sub: &str) -> String {
    format!("/subscriptions/{sub}/providers/Microsoft.Security/assessmentMetadata")
}

fn sub_assessments_path(sub: &str) -> String {
    format!("/subscriptions/{sub}/providers/Microsoft.Security/subAssessments")
}

#[each_backend]
async fn a_client_secret_connects_and_a_multi_page_collect_maps_findings_and_vulnerabilities(
    backend: TestDb,
) {
    let h = harness(backend, DefenderData::sample(250, 120)).await;
    let id = h.connect(h.secret()).await;
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.metadata["externalId"], TENANT_ID);
    assert_eq!(integration.metadata["attributes"]["mode"], "clientSecret");
    let metadata = integration.metadata.to_string();
    assert!(!metadata.contains(CLIENT_SECRET), "{metadata}");

    let health = h.health(&id).await;
    assert_eq!(
        health["count"], 2,
        "the hidden subscription is not listed: {health}"
    );
    assert_eq!(health["subscriptions"][0]["subscriptionId"], SUBSCRIPTION_A);
    assert_eq!(health["assessmentsOnFirstPage"], 100);

    let before = h.requests().len();
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    let (findings, vulnerabilities) = expected(&h.fake, &[SUBSCRIPTION_A, SUBSCRIPTION_B]);
    assert!(
        findings > 150 && vulnerabilities > 50,
        "{findings} {vulnerabilities}"
    );
    assert_eq!(h.records(&id, "Finding").await.len(), findings);
    assert_eq!(h.records(&id, "Vulnerability").await.len(), vulnerabilities);
    assert_eq!(run.counters["created"], (findings + vulnerabilities) as u64);
    // 250 assessments at 100 a page, 120 sub-assessments at 100 a page.
    let pages = h.requests_since(before, &assessments_path(SUBSCRIPTION_A));
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[2].contains("$skipToken="), "{pages:?}");
    assert_eq!(
        h.requests_since(before, &sub_assessments_path(SUBSCRIPTION_A))
            .len(),
        2
    );
    assert_eq!(
        h.requests_since(before, &assessments_path(SUBSCRIPTION_B))
            .len(),
        1
    );
    assert!(
        h.requests_to(&assessments_path(SUBSCRIPTION_HIDDEN))
            .is_empty()
    );

    let vulns = h.records(&id, "Vulnerability").await;
    let vuln = &vulns[0].fields;
    assert!(
        vuln["cveID"].as_str().unwrap().starts_with("CVE-2026-"),
        "{vuln}"
    );
    assert_eq!(vuln["status"], "OPEN");
    assert!(vuln["cvssScore"].as_f64().unwrap() >= 7.8, "{vuln}");
    let finding = h
        .records(&id, "Finding")
        .await
        .into_iter()
        .find(|r| r.fields["findingClass"] == "security_assessment")
        .unwrap();
    assert_eq!(finding.fields["status"], "OPEN");
    assert!(
        finding.fields["externalOwnerID"]
            .as_str()
            .unwrap()
            .starts_with("/subscriptions/")
    );
    // ARM's list carries no metadata (its official example, ListAssessments_example.json,
    // has only resourceDetails, displayName, status and additionalData): severity,
    // category, description and remediation come from the assessmentMetadata listing,
    // read once per subscription.
    assert_eq!(
        h.requests_since(before, &metadata_path(SUBSCRIPTION_A))
            .len(),
        1
    );
    for field in ["category", "description", "remediation"] {
        assert!(
            finding.fields[field]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{field}: {}",
            finding.fields
        );
    }
    assert_ne!(finding.fields["severity"], "UNKNOWN", "{}", finding.fields);
    assert!(finding.fields["controls"].is_array(), "{}", finding.fields);
}

/// The fake answers the assessment list as ARM does: no `metadata`, no `links` (only a
/// single-assessment GET can `$expand` them), nothing the official example's items lack.
#[tokio::test]
async fn the_fake_lists_assessments_as_the_official_example_shows_them() {
    let fake = FakeAzureSecurityCenter::start(DefenderData::sample(5, 0))
        .await
        .unwrap();
    let token = fake.authorization().mint_access_token(
        tributary_testkit::azure_security_center::SECRET_CLIENT_ID,
        None,
        tributary_testkit::azure_security_center::ARM_SCOPE,
    );
    let base = fake.base_url();
    let path = format!(
        "{}?api-version=2021-06-01",
        assessments_path(SUBSCRIPTION_A)
    );
    let listed = tokio::task::spawn_blocking(move || {
        // A plain HTTP/1.1 GET: the fake is on loopback and answers with a Content-Length.
        use std::io::{Read, Write};
        let host = base.strip_prefix("http://").unwrap().to_owned();
        let mut stream = std::net::TcpStream::connect(&host).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (_, body) = response.split_once("\r\n\r\n").unwrap();
        serde_json::from_str::<Value>(body).unwrap()
    })
    .await
    .unwrap();
    let items = listed["value"].as_array().unwrap();
    assert!(!items.is_empty());
    let example_keys = ["resourceDetails", "displayName", "status", "additionalData"];
    for item in items {
        let keys: Vec<&String> = item["properties"].as_object().unwrap().keys().collect();
        assert!(
            keys.iter().all(|key| example_keys.contains(&key.as_str())),
            "{keys:?}"
        );
    }
}

#[each_backend]
async fn configured_subscriptions_are_honoured_and_an_invisible_one_is_refused(backend: TestDb) {
    let h = harness(backend, DefenderData::sample(60, 20)).await;
    let only_b = h.form_request(
        "AzureClientSecret",
        h.fake.secret_credential(),
        json!({ "subscriptionIds": [SUBSCRIPTION_B.to_uppercase()], "collectSubAssessments": false }),
    );
    let id = h.connect(only_b).await;
    assert_eq!(h.health(&id).await["count"], 1);
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    let (findings, _) = h.fake.with_data(|data| {
        let sub = &data.subscriptions[SUBSCRIPTION_B];
        (
            sub.assessments
                .values()
                .filter(|a| a["properties"]["status"]["code"] == "Unhealthy")
                .count(),
            0,
        )
    });
    assert_eq!(h.records(&id, "Finding").await.len(), findings);
    assert!(h.records(&id, "Vulnerability").await.is_empty());
    assert!(h.requests_to(&assessments_path(SUBSCRIPTION_A)).is_empty());
    assert!(
        h.requests_to(&sub_assessments_path(SUBSCRIPTION_B))
            .is_empty()
    );

    // A subscription the principal has no role on is named in a config error at connect.
    let hidden = h.form_request(
        "AzureClientSecret",
        h.fake.secret_credential(),
        json!({ "subscriptionIds": [SUBSCRIPTION_HIDDEN] }),
    );
    let err = h.try_connect(hidden).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains(SUBSCRIPTION_HIDDEN), "{err}");
    assert!(err.to_string().contains("Security Reader"), "{err}");

    // With healthy ones included, every assessment of B is kept.
    let all = h.form_request(
        "AzureClientSecret",
        h.fake.secret_credential(),
        json!({ "subscriptionIds": [SUBSCRIPTION_B], "includeHealthy": true, "collectSubAssessments": false }),
    );
    let all = h.connect(all).await;
    let run = h.collect(&all).await;
    assert_succeeded(&run);
    let records = h.records(&all, "Finding").await;
    assert_eq!(records.len(), 6);
    assert!(records.iter().any(|r| r.fields["status"] == "RESOLVED"));
    assert!(
        records
            .iter()
            .any(|r| r.fields["status"] == "SUPPRESSED" || r.fields["status"] == "OPEN")
    );
}

#[each_backend]
async fn a_certificate_connects_with_an_x5t_assertion_and_its_token_is_reminted_before_expiry(
    backend: TestDb,
) {
    let h = harness(backend, DefenderData::sample(120, 30)).await;
    let auth = h.fake.authorization();
    let id = h.connect(h.certificate()).await;
    assert_eq!(auth.grants("client_credentials"), 1, "minted at connect");
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.metadata["attributes"]["mode"], "certificate");
    assert_eq!(
        integration.metadata["attributes"]["clientId"],
        CERT_CLIENT_ID
    );
    assert_eq!(h.health(&id).await["count"], 2);
    assert_eq!(
        auth.grants("client_credentials"),
        1,
        "a token valid for an hour is reused"
    );
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    let (findings, vulnerabilities) = expected(&h.fake, &[SUBSCRIPTION_A, SUBSCRIPTION_B]);
    assert_eq!(h.records(&id, "Finding").await.len(), findings);
    assert_eq!(h.records(&id, "Vulnerability").await.len(), vulnerabilities);

    // Tokens that live two minutes are inside the refresh margin: each use re-mints first.
    auth.set_token_lifetime(120);
    let short_lived = h.connect(h.certificate()).await;
    let before = auth.grants("client_credentials");
    let run = h.collect(&short_lived).await;
    assert_succeeded(&run);
    assert!(auth.grants("client_credentials") > before, "re-minted");
    // Tokens ARM no longer accepts are inside the margin too: re-minted, not used.
    auth.expire_access_tokens();
    let run = h.collect(&short_lived).await;
    assert_succeeded(&run);
    auth.set_token_lifetime(3600);

    // Certificate and key as two fields, and the tenant by its domain.
    let split = h.form_request(
        "AzureClientCertificate",
        json!({
            "tenantId": TENANT_DOMAIN,
            "clientId": CERT_CLIENT_ID,
            "certificate": CERTIFICATE_PEM,
            "privateKey": CLIENT_PRIVATE_KEY_PEM,
        }),
        json!({}),
    );
    let split = h.connect(split).await;
    assert_eq!(h.health(&split).await["count"], 2);

    // A certificate the app registration does not know (same client, other key): refused
    // with Entra's AADSTS700027, without quoting the key.
    let other_key = tributary_testkit::keys::ISSUER_RSA_PEM;
    let unregistered = h.form_request(
        "AzureClientCertificate",
        json!({
            "tenantId": TENANT_ID,
            "clientId": CERT_CLIENT_ID,
            "certificate": format!("{UNREGISTERED_CERTIFICATE_PEM}{other_key}"),
        }),
        json!({}),
    );
    let err = h.try_connect(unregistered).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("AADSTS700027"), "{err}");
    assert!(err.to_string().contains("not registered"), "{err}");
    assert!(
        !err.to_string().contains(other_key.lines().nth(3).unwrap()),
        "{err}"
    );

    // The registered certificate's thumbprint with another key's signature: the thumbprint
    // matches, the signature does not.
    let forged = h.form_request(
        "AzureClientCertificate",
        json!({
            "tenantId": TENANT_ID,
            "clientId": CERT_CLIENT_ID,
            "certificate": format!("{CERTIFICATE_PEM}{other_key}"),
        }),
        json!({}),
    );
    let err = h.try_connect(forged).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("AADSTS700027"), "{err}");

    // A key that is not a key: a config error naming the field, not its content.
    let garbled = h.form_request(
        "AzureClientCertificate",
        json!({
            "tenantId": TENANT_ID,
            "clientId": CERT_CLIENT_ID,
            "certificate": format!("{CERTIFICATE_PEM}-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n"),
        }),
        json!({}),
    );
    let err = h.try_connect(garbled).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(!err.to_string().contains("not-a-key"), "{err}");
}

#[each_backend]
async fn the_two_modes_switch_on_one_integration(backend: TestDb) {
    let h = harness(backend, DefenderData::sample(30, 10)).await;
    let id = h.connect(h.secret()).await;
    let switch = ConnectRequest {
        integration_id: Some(id.clone()),
        ..h.certificate()
    };
    assert_eq!(h.connect(switch).await, id);
    // The secret expires: the integration no longer depends on it.
    h.fake.expire_client_secret();
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.metadata["attributes"]["mode"], "certificate");
}

#[each_backend]
async fn refused_and_revoked_credentials_fail_with_clear_auth_errors_that_never_show_the_secret(
    backend: TestDb,
) {
    let h = harness(backend, DefenderData::sample(30, 10)).await;
    let wrong = "Zz9~wrongSecretValue.0123456789abcdefghijKLMNOP";
    let mut credential = h.fake.secret_credential();
    credential["clientSecret"] = json!(wrong);
    let err = h
        .try_connect(h.form_request("AzureClientSecret", credential, json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    let message = err.to_string();
    assert!(message.contains("AADSTS7000215"), "{message}");
    assert!(message.contains("Value (not its Secret ID)"), "{message}");
    assert!(!message.contains(wrong), "{message}");
    assert!(!message.contains("Trace ID"), "{message}");

    let mut credential = h.fake.secret_credential();
    credential["tenantId"] = json!("11111111-2222-4333-8444-555555555555");
    let err = h
        .try_connect(h.form_request("AzureClientSecret", credential, json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("AADSTS90002"), "{err}");
    assert!(!err.to_string().contains(CLIENT_SECRET), "{err}");

    let mut credential = h.fake.secret_credential();
    credential["clientId"] = json!("99999999-8888-4777-8666-555555555555");
    let err = h
        .try_connect(h.form_request("AzureClientSecret", credential, json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("AADSTS700016"), "{err}");
    assert!(!err.to_string().contains(CLIENT_SECRET), "{err}");

    let mut credential = h.fake.secret_credential();
    credential["clientId"] = json!("not-a-guid");
    let err = h
        .try_connect(h.form_request("AzureClientSecret", credential, json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("clientId"), "{err}");

    // The secret expires while the token is about to: the re-mint is refused with
    // AADSTS7000222, the collect fails as an auth error and the integration needs a new
    // secret.
    let auth = h.fake.authorization();
    auth.set_token_lifetime(120);
    let id = h.connect(h.secret()).await;
    h.fake.expire_client_secret();
    let run = h.collect(&id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error_kind.as_deref(), Some("auth"));
    let message = run.error_message.unwrap_or_default();
    assert!(message.contains("AADSTS7000222"), "{message}");
    assert!(!message.contains(CLIENT_SECRET), "{message}");
    assert_eq!(h.status(&id).await, IntegrationStatus::NeedsReauth);
}

#[each_backend]
async fn a_revoked_role_fails_the_collect_and_revoked_tokens_are_reminted_until_the_secret_expires(
    backend: TestDb,
) {
    let h = harness(backend, DefenderData::sample(30, 10)).await;
    let id = h.connect(h.secret()).await;
    // The role on subscription B is removed after connecting, for a configured subscription.
    let b = h.form_request(
        "AzureClientSecret",
        h.fake.secret_credential(),
        json!({ "subscriptionIds": [SUBSCRIPTION_B] }),
    );
    let b = h.connect(b).await;
    h.fake.revoke_role(SUBSCRIPTION_B);
    let run = h.collect(&b).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error_kind.as_deref(), Some("config"));
    assert!(run.error_message.unwrap().contains("Security Reader"));
    // Without configured ids the collect goes on with the subscriptions still visible.
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    assert!(h.requests_to(&assessments_path(SUBSCRIPTION_B)).len() <= 1);

    // The app's tokens are revoked while still valid by their expiry: ARM answers 401
    // InvalidAuthenticationToken, the runtime mints a new token at once and the collect
    // goes on.
    h.fake.authorization().revoke_all();
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    // Revoked again, and the client secret expired with them: the new token cannot be
    // minted, so the collect fails as an auth error and the integration asks for a new
    // connection.
    h.fake.authorization().revoke_all();
    h.fake.expire_client_secret();
    let run = h.collect(&id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error_kind.as_deref(), Some("auth"));
    assert_eq!(h.status(&id).await, IntegrationStatus::NeedsReauth);
    let message = run.error_message.unwrap_or_default();
    assert!(!message.contains(CLIENT_SECRET), "{message}");
    assert!(
        !message.contains("at-"),
        "no token in the message: {message}"
    );
}

#[each_backend]
async fn a_throttled_collect_resumes_from_its_checkpoint_and_resolved_assessments_drop_out_of_the_complete_listing(
    backend: TestDb,
) {
    let h = harness(backend, DefenderData::sample(250, 30)).await;
    let id = h.connect(h.secret()).await;
    let before = h.requests().len();
    // ARM answers 429 with Retry-After two minutes away: longer than the client waits, so
    // the run ends partial and keeps its checkpoint.
    h.fake.throttle_page("assessments", 2, 120);
    let run = h.collect(&id).await;
    assert_rate_limited(&run);
    let first_page = h.fake.with_data(|data| {
        data.subscriptions[SUBSCRIPTION_A]
            .assessments
            .values()
            .take(100)
            .filter(|a| a["properties"]["status"]["code"] == "Unhealthy")
            .count()
    });
    assert_eq!(h.records(&id, "Finding").await.len(), first_page);

    // An assessment of the first page, already ingested, turns healthy before the run
    // resumes: the resumed run starts after that page, so it never sees it, and a resumed
    // run tombstones nothing.
    let early = h.fake.with_data(|data| {
        data.subscriptions
            .get_mut(SUBSCRIPTION_A)
            .unwrap()
            .assessments
            .iter_mut()
            .take(100)
            .find(|(_, a)| a["properties"]["status"]["code"] == "Unhealthy")
            .map(|(id, a)| {
                a["properties"]["status"]["code"] = json!("Healthy");
                id.to_ascii_lowercase()
            })
            .unwrap()
    });
    let resumed = h.collect(&id).await;
    assert_succeeded(&resumed);
    assert_eq!(resumed.counters["tombstoned"], 0, "{:?}", resumed.counters);
    let early_record = |records: Vec<StoredRecord>| {
        records
            .into_iter()
            .find(|r| r.lookup_key.contains(&early))
            .unwrap()
    };
    assert!(
        early_record(h.records(&id, "Finding").await)
            .deleted_at
            .is_none()
    );
    let (findings, vulnerabilities) = expected(&h.fake, &[SUBSCRIPTION_A, SUBSCRIPTION_B]);
    // Every open finding, and the one that healed meanwhile (kept by the resumed run).
    assert_eq!(h.records(&id, "Finding").await.len(), findings + 1);
    assert_eq!(h.records(&id, "Vulnerability").await.len(), vulnerabilities);
    let pages = h.requests_since(before, &assessments_path(SUBSCRIPTION_A));
    // 1: page 1; 2: page 2 throttled; 3: page 2 again, from the checkpoint; 4: page 3.
    assert_eq!(pages.len(), 4, "{pages:?}");
    assert!(pages[1].contains("$skipToken="), "{pages:?}");
    assert_eq!(
        pages[2], pages[1],
        "resumed at the throttled page: {pages:?}"
    );

    // An assessment turns healthy and a sub-assessment disappears: the next complete
    // collect tombstones both, and the assessment that healed during the resumed run.
    let (healed, gone) = h.fake.with_data(|data| {
        let sub = data.subscriptions.get_mut(SUBSCRIPTION_A).unwrap();
        let healed = sub
            .assessments
            .iter_mut()
            .find(|(_, a)| a["properties"]["status"]["code"] == "Unhealthy")
            .map(|(id, a)| {
                a["properties"]["status"]["code"] = json!("Healthy");
                id.clone()
            })
            .unwrap();
        let gone = sub
            .sub_assessments
            .iter()
            .find(|(_, s)| {
                s["properties"]["status"]["code"] == "Unhealthy"
                    && s["properties"]["additionalData"]["cve"].is_array()
            })
            .map(|(id, _)| id.clone())
            .unwrap();
        sub.sub_assessments.remove(&gone);
        (healed, gone)
    });
    let full = h.collect(&id).await;
    assert_succeeded(&full);
    // The complete listing no longer contains either record: the run sees every other one.
    assert_eq!(
        full.counters["seen"].as_u64().unwrap() as usize,
        findings + vulnerabilities - 2,
        "{:?}",
        full.counters
    );
    assert_eq!(full.counters["tombstoned"], 3, "{:?}", full.counters);
    let finding = h
        .records(&id, "Finding")
        .await
        .into_iter()
        .find(|r| r.lookup_key.contains(&healed.to_ascii_lowercase()))
        .unwrap();
    let vuln = h
        .records(&id, "Vulnerability")
        .await
        .into_iter()
        .find(|r| r.lookup_key.contains(&gone.to_ascii_lowercase()))
        .unwrap();
    let early = early_record(h.records(&id, "Finding").await);
    for record in [&finding, &vuln, &early] {
        assert!(record.deleted_at.is_some(), "{}", record.lookup_key);
        let reason = record.deleted_reason.as_deref().unwrap_or_default();
        assert!(reason.contains("not seen by the complete run"), "{reason}");
    }
    // Every other record stays live.
    let live =
        |records: Vec<StoredRecord>| records.iter().filter(|r| r.deleted_at.is_none()).count();
    assert_eq!(live(h.records(&id, "Finding").await), findings - 1);
    assert_eq!(
        live(h.records(&id, "Vulnerability").await),
        vulnerabilities - 1
    );
}

#[each_backend]
async fn a_short_retry_after_is_waited_out(backend: TestDb) {
    let h = harness(backend, DefenderData::sample(150, 10)).await;
    let id = h.connect(h.secret()).await;
    let before = h.requests().len();
    h.fake.throttle_page("subAssessments", 1, 2);
    let started = Instant::now();
    let run = h.collect(&id).await;
    assert_succeeded(&run);
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "Retry-After was honoured"
    );
    assert_eq!(
        h.requests_since(before, &sub_assessments_path(SUBSCRIPTION_A))
            .len(),
        2,
        "one 429, then retried"
    );
}

#[test]
fn ids_are_checked_before_they_reach_a_url() {
    assert_eq!(
        check_guid("clientId", " 3F2A1B4C-5D6E-4F70-8A91-B2C3D4E5F607 ").unwrap(),
        "3f2a1b4c-5d6e-4f70-8a91-b2c3d4e5f607"
    );
    assert!(check_guid("clientId", "3f2a1b4c5d6e4f708a91b2c3d4e5f607").is_err());
    assert!(check_guid("clientId", "3f2a1b4c-5d6e-4f70-8a91-b2c3d4e5f60g").is_err());
    assert_eq!(check_tenant(TENANT_DOMAIN).unwrap(), TENANT_DOMAIN);
    assert_eq!(check_tenant(TENANT_ID).unwrap(), TENANT_ID);
    for bad in ["", "common", "organizations", "a/b", "../x", "x?y", "-x"] {
        assert!(check_tenant(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_certificate_thumbprints_name_the_certificate_der() {
    let key = CertificateKey::from_pem(&certificate_bundle().into(), None).unwrap();
    let (x5t, x5t_s256) = thumbprints(CERTIFICATE_PEM);
    assert_eq!(key.x5t, x5t);
    assert_eq!(key.x5t_s256, x5t_s256);
    // What `openssl x509 -fingerprint -sha1` prints, base64url-encoded.
    assert_eq!(x5t, "YvDHR2FA6vbDmWQVWjEP-z_qxq4");
    let debug = format!("{key:?}");
    assert!(!debug.contains(private_key_fragment()), "{debug}");

    let err = CertificateKey::from_pem(&CERTIFICATE_PEM.to_owned().into(), None).unwrap_err();
    assert!(
        err.message
            .contains("certificate: no `-----BEGIN PRIVATE KEY-----`"),
        "{err:?}"
    );
    let err =
        CertificateKey::from_pem(&CLIENT_PRIVATE_KEY_PEM.to_owned().into(), None).unwrap_err();
    assert!(
        err.message.contains("no `-----BEGIN CERTIFICATE-----`"),
        "{err:?}"
    );
    assert!(!err.message.contains(private_key_fragment()));
}

#[test]
fn aadsts_errors_are_classified_and_stripped_of_trace_ids_and_secrets() {
    use tributary_providerkit::StatusCode;
    let body = json!({
        "error": "invalid_client",
        "error_description": "AADSTS7000222: The provided client secret keys for app 'x' are expired. Trace ID: abc Correlation ID: def Timestamp: 2026-01-01 00:00:00Z",
        "error_codes": [7000222],
    });
    let err = classify_token_error(StatusCode::UNAUTHORIZED, &body, &["s3cr3t"]);
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(
        err.message.starts_with("the client secret has expired"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("Trace ID"));

    // A description that echoes the secret loses it; the code is read from the text too.
    let body = json!({
        "error": "invalid_request",
        "error_description": "AADSTS90002: Tenant 's3cr3t' not found.",
    });
    let err = classify_token_error(StatusCode::BAD_REQUEST, &body, &["s3cr3t"]);
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("AADSTS90002"));
    assert!(!err.message.contains("s3cr3t"), "{}", err.message);

    let err = classify_token_error(StatusCode::SERVICE_UNAVAILABLE, &Value::Null, &[]);
    assert_eq!(err.kind, ErrorKind::Provider);
}

#[test]
fn the_connect_forms_name_every_field() {
    let registry = registry(&catalog_config(DEFINITION, json!({}))).unwrap();
    let definition = &registry.definition(DEFINITION).unwrap().definition;
    let schemas: Vec<String> = definition
        .credentials
        .iter()
        .map(|c| serde_json::to_string(&c.schema).unwrap())
        .collect();
    let all = schemas.join("\n");
    for field in [
        "tenantId",
        "clientId",
        "clientSecret",
        "certificate",
        "privateKey",
    ] {
        assert!(all.contains(field), "{field}: {all}");
    }
}

#[each_backend]
async fn production_settings_refuse_loopback_hosts(backend: TestDb) {
    let fake = FakeAzureSecurityCenter::start(DefenderData::sample(5, 5))
        .await
        .unwrap();
    let mut operator = fake.operator_config();
    operator["allowLoopbackUrls"] = json!(false);
    let h = Harness::start(backend, fake, DEFINITION, operator).await;
    let err = h.try_connect(h.secret()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("loginUrl"), "{err}");
    assert!(err.to_string().contains("https"), "{err}");
    assert!(h.requests().is_empty());
}

fn fixture(name: &str) -> Value {
    harness::fixture("azure_security_center", name)
}

#[test]
fn mapping_goldens() {
    let registry = registry(&catalog_config(DEFINITION, json!({}))).unwrap();
    let mappings = &registry.definition(DEFINITION).unwrap().definition.mappings;
    for name in [
        "assessment_unhealthy_vm",
        "assessment_on_premise_minimal",
        "assessment_not_applicable",
    ] {
        let snapshot =
            tributary_ingest::kit::snapshot(mappings, "Finding", "assessment", &fixture(name));
        insta::assert_json_snapshot!(format!("azure_security_center_finding_{name}"), snapshot);
    }
    for name in ["subassessment_server_cves", "subassessment_container_image"] {
        let snapshot = tributary_ingest::kit::snapshot(
            mappings,
            "Vulnerability",
            "subassessment",
            &fixture(name),
        );
        insta::assert_json_snapshot!(
            format!("azure_security_center_vulnerability_{name}"),
            snapshot
        );
    }
    let snapshot = tributary_ingest::kit::snapshot(
        mappings,
        "Finding",
        "subassessment",
        &fixture("subassessment_sql_rule"),
    );
    insta::assert_json_snapshot!(
        "azure_security_center_finding_subassessment_sql_rule",
        snapshot
    );
}
