//! The GitHub App definition against the fake GitHub on loopback, through the whole runtime
//! (install redirect and callback, installation tokens re-minted, queued runs, ingest, app-level
//! webhooks) on SQLite and PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};
use tributary_core::{ErrorKind, InboundWebhook, IngestContract, MappingEnvelope};
use tributary_ingest::{MapOutcome, Mapper};
use tributary_runtime::{RuntimeError, WebhookAck, WebhookRejection};
use tributary_store::{
    integrations::IntegrationStatus,
    records::StoredRecord,
    testing::{TestDb, each_backend},
    webhooks::DeliveryStatus,
};
use tributary_testkit::browser::approve;
use tributary_testkit::github_app::{
    APP_PRIVATE_KEY, FakeGithub, GithubOrg, OTHER_PRIVATE_KEY, Throttle, WEBHOOK_SECRET,
    alert_event, dependabot_alert, fixtures, signed_delivery,
};

use crate::harness::{
    self, Harness, assert_rate_limited, assert_succeeded, by_lookup_key, eventually, logs_requests,
    start_worker,
};

logs_requests!(FakeGithub);

const DEFINITION: &str = "github_app";
const WEBHOOK: &str = "app_events";
const INSTALLATION: &str = "GithubAppInstallation";

async fn harness_with(
    backend: TestDb,
    org: GithubOrg,
    operator: impl FnOnce(&mut Value),
) -> Harness<FakeGithub> {
    let fake = FakeGithub::start(org).await.unwrap();
    let mut section = fake.operator_config();
    operator(&mut section);
    Harness::start(backend, fake, DEFINITION, section).await
}

async fn harness(backend: TestDb, org: GithubOrg) -> Harness<FakeGithub> {
    harness_with(backend, org, |_| {}).await
}

fn unique(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{nanos:x}-{n}")
}

impl Harness<FakeGithub> {
    /// Starts the install flow; returns the install page URL and the integration id.
    async fn start_install(&self) -> (String, String) {
        let redirect = self.redirect(self.connect_request(INSTALLATION)).await;
        (redirect.url, redirect.integration_id)
    }

    /// The browser on the install page: GitHub installs and sends it to the Setup URL.
    async fn install_page(&self, url: &str) -> Vec<(String, String)> {
        approve(url).await
    }

    async fn finish_install(
        &self,
        callback: Vec<(String, String)>,
    ) -> Result<String, RuntimeError> {
        self.complete_auth(callback).await
    }

    async fn install(&self) -> String {
        let (url, integration) = self.start_install().await;
        let callback = self.install_page(&url).await;
        let id = self.finish_install(callback).await.unwrap();
        assert_eq!(id, integration);
        id
    }

    async fn deliver(
        &self,
        event: &str,
        payload: &Value,
        secret: &str,
    ) -> Result<WebhookAck, WebhookRejection> {
        let (headers, body) = signed_delivery(secret, event, &unique("delivery"), payload);
        self.runtime
            .receive_app_webhook(
                DEFINITION,
                WEBHOOK,
                &InboundWebhook {
                    method: "POST".into(),
                    headers,
                    query: Vec::new(),
                    body,
                    received_at: 0,
                },
            )
            .await
    }

    async fn delivery_status(&self, delivery: &str) -> Option<DeliveryStatus> {
        self.runtime
            .db()
            .webhooks(&self.ring)
            .get_delivery(&self.tenant, delivery)
            .await
            .unwrap()
            .map(|d| d.status)
    }

    /// Delivers a correctly signed `event`, which must be stored as `handled` and then processed;
    /// the stored delivery's id.
    async fn deliver_processed(&self, event: &str, payload: &Value, handled: &str) -> String {
        let ack = self.deliver(event, payload, WEBHOOK_SECRET).await.unwrap();
        let WebhookAck::Accepted {
            delivery, event, ..
        } = ack
        else {
            panic!("{handled} is stored: {ack:?}")
        };
        assert_eq!(event.as_deref(), Some(handled));
        eventually(&format!("{handled} is processed"), || async {
            self.delivery_status(&delivery).await == Some(DeliveryStatus::Done)
        })
        .await;
        delivery
    }
}

fn by_key<'a>(records: &'a [StoredRecord], key: &str) -> &'a Value {
    &by_lookup_key(records, key).fields
}

#[each_backend]
async fn the_app_installs_through_the_install_page_and_checks_its_health(backend: TestDb) {
    let h = harness(backend, GithubOrg::sample(0, 0)).await;
    let (url, _) = h.start_install().await;
    assert!(
        url.starts_with(&format!(
            "{}/apps/tributary-test/installations/new?state=",
            h.fake.base_url()
        )),
        "{url}"
    );
    let callback = h.install_page(&url).await;
    assert!(callback.contains(&("setup_action".into(), "install".into())));
    // A callback whose state was tampered with is refused; the right one connects.
    let mut forged = callback.clone();
    for (k, v) in &mut forged {
        if k == "state" {
            v.push('x');
        }
    }
    assert!(h.finish_install(forged).await.is_err());
    let id = h.finish_install(callback).await.unwrap();

    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::Connected);
    assert_eq!(integration.metadata["externalId"], "41000001");
    assert_eq!(integration.metadata["externalName"], "acme-corp");
    let attributes = &integration.metadata["attributes"];
    assert_eq!(attributes["installationId"], "41000001");
    assert_eq!(attributes["accountType"], "Organization");
    let stored = h.stored_credential(&id, INSTALLATION).await;
    assert_eq!(stored["installation_id"], 41_000_001);
    assert!(stored["access_token"].as_str().unwrap().starts_with("ghs_"));
    assert!(stored["expires_at"].as_i64().unwrap() > tributary_providerkit::unix_now() + 3000);
    assert!(
        h.fake.jwts_verified() >= 2,
        "token and installation read with the app JWT"
    );

    let health = h.health(&id).await;
    assert_eq!(health["installationId"], "41000001");
    assert_eq!(health["repositories"], 2);
    assert_eq!(h.fake.mints(), 1, "a token valid for an hour is reused");

    // A user input change keeps the installation id the webhook route depends on.
    h.runtime
        .update_user_input(&h.tenant, &id, &json!({"filterExpr": "true"}))
        .await
        .unwrap();
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(
        integration.metadata["attributes"]["installationId"],
        "41000001"
    );
}

#[each_backend]
async fn a_wrong_app_key_is_refused_without_secrets(backend: TestDb) {
    let h = harness_with(backend, GithubOrg::sample(0, 0), |section| {
        section["privateKey"] = json!(OTHER_PRIVATE_KEY);
    })
    .await;
    let (url, _) = h.start_install().await;
    let callback = h.install_page(&url).await;
    let err = h.finish_install(callback).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let text = err.to_string();
    assert!(text.contains("private key was rejected"), "{text}");
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("MII"),
        "{text}"
    );
    assert_eq!(h.fake.mints(), 0);
}

#[each_backend]
async fn a_removed_installation_is_refused_without_secrets(backend: TestDb) {
    // The right key, but the installation is gone by the time the callback arrives.
    let h = harness(backend, GithubOrg::sample(0, 0)).await;
    let (url, _) = h.start_install().await;
    let callback = h.install_page(&url).await;
    h.fake.uninstall();
    let err = h.finish_install(callback).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(
        !err.to_string()
            .contains(APP_PRIVATE_KEY.lines().nth(1).unwrap())
    );
}

#[each_backend]
async fn an_expired_token_is_refused_and_expiring_ones_are_reminted(backend: TestDb) {
    let h = harness(backend, GithubOrg::sample(0, 3)).await;
    let id = h.install().await;
    let token = h.stored_credential(&id, INSTALLATION).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // GitHub considers the token expired while we still think it valid: 401 Bad credentials.
    // The runtime re-mints the installation token at once and the check passes.
    h.fake.expire_tokens();
    let before = h.fake.mints();
    h.health(&id).await;
    assert_eq!(
        h.fake.mints(),
        before + 1,
        "one token minted after the refusal"
    );
    assert_ne!(
        h.stored_credential(&id, INSTALLATION).await["access_token"],
        json!(token)
    );

    // Tokens living two minutes are inside the five-minute refresh margin: each use re-mints
    // through the connection's refresh hook with a new app JWT.
    h.fake.set_token_lifetime(120);
    let id = h.install().await;
    let before = h.fake.mints();
    let run = h.run(&id, "DirectorySync", Value::Null).await;
    assert_succeeded(&run);
    assert!(h.fake.mints() > before, "the expiring token was re-minted");
    h.fake.expire_tokens();
    let run = h.run(&id, "RepositorySync", Value::Null).await;
    assert_succeeded(&run);
    let fresh = h.stored_credential(&id, INSTALLATION).await;
    assert_ne!(fresh["access_token"], json!(token));
}

#[each_backend]
async fn repositories_sync_over_several_pages_as_named_assets(backend: TestDb) {
    let h = harness(backend, GithubOrg::sample(248, 0)).await;
    let id = h.install().await;
    let run = h.run(&id, "RepositorySync", Value::Null).await;
    assert_succeeded(&run);
    assert_eq!(run.counters["created"], 250);
    let pages = h.requests_containing("GET /installation/repositories?per_page=100");
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[2].contains("page=3"), "{pages:?}");
    let assets = h.records(&id, "Asset").await;
    assert_eq!(assets.len(), 250);
    let web = by_key(&assets, "702915513");
    assert_eq!(web["name"], "acme-corp/web-app");
    assert_eq!(web["assetType"], "REPOSITORY");
    assert_eq!(web["internetFacing"], false);
    assert_eq!(by_key(&assets, "512000017")["internetFacing"], true);

    // A repository the installation no longer sees is tombstoned by the next complete sync.
    h.fake.with_org(|org| {
        org.repositories.remove(&702_915_513);
    });
    let run = h.run(&id, "RepositorySync", Value::Null).await;
    assert_succeeded(&run);
    assert_eq!(run.counters["tombstoned"], 1, "{:?}", run.counters);
    let assets = h.records(&id, "Asset").await;
    let gone: Vec<&str> = assets
        .iter()
        .filter(|r| r.deleted_at.is_some())
        .map(|r| r.lookup_key.as_str())
        .collect();
    assert_eq!(gone, ["702915513"]);
}

#[each_backend]
async fn a_throttled_member_sync_resumes_and_removed_members_are_tombstoned(backend: TestDb) {
    let h = harness(backend, GithubOrg::sample(0, 248)).await;
    let id = h.install().await;
    // GitHub's secondary limit asks for five minutes, longer than the client waits: the run
    // stops partial, keeping its cursor.
    h.fake
        .throttle_request("after=Y3Vyc29yOnYyOjIwMA", Throttle::Secondary(300));
    let run = h.run(&id, "DirectorySync", Value::Null).await;
    assert_rate_limited(&run);
    assert_eq!(h.records(&id, "DirectoryAccount").await.len(), 200);

    let resumed = h.run(&id, "DirectorySync", Value::Null).await;
    assert_succeeded(&resumed);
    let accounts = h.records(&id, "DirectoryAccount").await;
    assert_eq!(accounts.len(), 250);
    let graphql = h.requests_containing("POST /graphql");
    assert_eq!(
        graphql.len(),
        4,
        "three pages, the third asked twice: {graphql:?}"
    );
    assert_eq!(
        graphql[2], graphql[3],
        "resumed at the saved cursor: {graphql:?}"
    );

    let admin = by_key(&accounts, "5823410");
    assert_eq!(admin["isAdmin"], true);
    assert_eq!(admin["canonicalEmail"], "olivia.torres@acme.example");
    assert_eq!(admin["directoryName"], "acme-corp");
    assert_eq!(by_key(&accounts, "98765432")["displayName"], "dev-bob");

    // A 429 with Retry-After: 1 is waited out within the run.
    h.fake.throttle([Throttle::TooManyRequests(1)]);
    h.fake.with_org(|org| {
        org.members.remove(&98_765_432);
    });
    let full = h.run(&id, "DirectorySync", Value::Null).await;
    assert_succeeded(&full);
    assert_eq!(full.counters["tombstoned"], 1);
    let removed = h.record(&id, "DirectoryAccount", "98765432").await;
    assert!(removed.deleted_at.is_some());
}

#[each_backend]
async fn alerts_of_the_three_kinds_are_collected_over_pages_and_disabled_features_skipped(
    backend: TestDb,
) {
    let h = harness(backend, GithubOrg::sample(1, 0)).await;
    h.fake.with_org(|org| {
        let repo = "acme-corp/service-000".to_owned();
        let alerts = (1..=130).map(|n| dependabot_alert(&repo, n)).collect();
        org.alerts.insert((repo, "dependabot"), alerts);
    });
    let id = h.install().await;
    // The second page of service-000's Dependabot alerts is throttled for five minutes: the
    // run stops partial and the next one resumes at that page, without asking web-app again.
    h.fake.throttle_request(
        "service-000/dependabot/alerts?per_page=100&page=2",
        Throttle::Secondary(300),
    );
    let run = h.run(&id, "VulnerabilityCollect", Value::Null).await;
    assert_rate_limited(&run);
    assert_eq!(h.records(&id, "Vulnerability").await.len(), 106);
    // A web-app code scanning alert, already collected, disappears before the run resumes:
    // the resumed run does not ask web-app again and tombstones nothing.
    let drop_alert = |kind: &'static str, number: u64| {
        h.fake.with_org(|org| {
            org.alerts
                .get_mut(&("acme-corp/web-app".to_owned(), kind))
                .unwrap()
                .retain(|alert| alert["number"] != number);
        })
    };
    drop_alert("code-scanning", 3);
    let run = h.run(&id, "VulnerabilityCollect", Value::Null).await;
    assert_succeeded(&run);
    assert_eq!(run.counters["tombstoned"], 0, "{:?}", run.counters);
    let found = h.records(&id, "Vulnerability").await;
    assert_eq!(found.len(), 136, "6 on web-app, 130 on service-000");
    assert!(found.iter().all(|r| r.deleted_at.is_none()));
    let pages = h.requests_containing("/repos/acme-corp/service-000/dependabot/alerts");
    assert_eq!(
        pages.len(),
        3,
        "two pages, the second asked twice: {pages:?}"
    );
    assert_eq!(pages[1], pages[2]);
    assert_eq!(
        h.requests_containing("/repos/acme-corp/web-app/dependabot/alerts")
            .len(),
        1,
        "finished kinds are not asked again"
    );
    let dependabot = by_key(&found, "github:acme-corp/web-app:dependabot:42");
    assert_eq!(dependabot["status"], "OPEN");
    assert_eq!(dependabot["severity"], "HIGH");
    assert_eq!(dependabot["cveID"], "CVE-2021-23337");
    assert_eq!(
        by_key(&found, "github:acme-corp/web-app:dependabot:7")["status"],
        "DISMISSED"
    );
    let code = by_key(&found, "github:acme-corp/web-app:code_scanning:17");
    assert_eq!(code["severity"], "HIGH");
    assert_eq!(code["resourceName"], "src/api/orders.ts");
    assert_eq!(
        by_key(&found, "github:acme-corp/web-app:code_scanning:3")["status"],
        "FIXED"
    );
    let secret = by_lookup_key(&found, "github:acme-corp/web-app:secret_scanning:2");
    assert_eq!(secret.fields["severity"], "CRITICAL");
    assert!(
        secret.raw_payload.get("secret").is_none(),
        "the secret is not stored"
    );
    assert!(
        h.requests_containing("secret-scanning/alerts")
            .iter()
            .all(|r| r.contains("hide_secret=true"))
    );
    // legacy-sdk has every feature off: asked once per kind, nothing stored, no failure.
    assert_eq!(
        h.requests_containing("/repos/acme-corp/legacy-sdk/").len(),
        3
    );

    // The next complete collect tombstones it, and a Dependabot alert GitHub no longer
    // lists; the other alerts stay.
    drop_alert("dependabot", 7);
    let run = h.run(&id, "VulnerabilityCollect", Value::Null).await;
    assert_succeeded(&run);
    assert_eq!(run.counters["tombstoned"], 2, "{:?}", run.counters);
    let found = h.records(&id, "Vulnerability").await;
    let mut gone: Vec<&str> = found
        .iter()
        .filter(|r| r.deleted_at.is_some())
        .map(|r| r.lookup_key.as_str())
        .collect();
    gone.sort();
    assert_eq!(
        gone,
        [
            "github:acme-corp/web-app:code_scanning:3",
            "github:acme-corp/web-app:dependabot:7"
        ]
    );

    // maxRepos caps the scan; the alerts of the repositories left out are not tombstoned.
    let live = |records: &[tributary_store::records::StoredRecord]| {
        records.iter().filter(|r| r.deleted_at.is_none()).count()
    };
    let live_before = live(&h.records(&id, "Vulnerability").await);
    let before = h.requests_containing("/alerts").len();
    let run = h
        .run(&id, "VulnerabilityCollect", json!({"maxRepos": 1}))
        .await;
    assert_succeeded(&run);
    assert_eq!(h.requests_containing("/alerts").len() - before, 3);
    assert_eq!(run.counters["tombstoned"], 0, "{:?}", run.counters);
    assert_eq!(live(&h.records(&id, "Vulnerability").await), live_before);
}

#[each_backend]
async fn app_webhooks_are_verified_routed_ingested_and_tear_down_on_uninstall(backend: TestDb) {
    let h = harness(backend, GithubOrg::sample(0, 0)).await;
    let id = h.install().await;
    let worker = start_worker(&h.runtime);
    let installation = h.fake.installation_id();

    // GitHub's ping when the webhook is set up names no installation: acknowledged.
    let ping: Value = serde_json::from_str(fixtures::WEBHOOK_PING).unwrap();
    let ack = h.deliver("ping", &ping, WEBHOOK_SECRET).await.unwrap();
    assert!(matches!(ack, WebhookAck::Ignored { .. }), "{ack:?}");

    // A bad signature is refused before anything is stored.
    let created: Value = serde_json::from_str(fixtures::WEBHOOK_INSTALLATION_CREATED).unwrap();
    let refused = h
        .deliver("installation", &created, "not-the-secret")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, WebhookRejection::Unverified(_)),
        "{refused:?}"
    );
    h.deliver_processed("installation", &created, "InstallationCreated")
        .await;

    // The three alert kinds, as webhook payloads (lower-case states, optional fields absent).
    let dependabot: Value = serde_json::from_str(fixtures::WEBHOOK_DEPENDABOT_ALERT).unwrap();
    let code = alert_event(
        "created",
        serde_json::from_str(fixtures::CODE_SCANNING_ALERT_NOTE).unwrap(),
        "acme-corp/web-app",
        installation,
    );
    let mut secret_alert: Value = serde_json::from_str(fixtures::SECRET_SCANNING_ALERT).unwrap();
    secret_alert["secret"] = json!("AKIAEXAMPLEEXAMPLE12");
    let secret = alert_event("created", secret_alert, "acme-corp/web-app", installation);
    for (kind, payload) in [
        ("dependabot_alert", &dependabot),
        ("code_scanning_alert", &code),
        ("secret_scanning_alert", &secret),
    ] {
        let ack = h.deliver(kind, payload, WEBHOOK_SECRET).await.unwrap();
        assert!(
            matches!(ack, WebhookAck::Accepted { queued: true, .. }),
            "{ack:?}"
        );
    }
    eventually("the three alerts are ingested", || async {
        h.records(&id, "Vulnerability").await.len() == 3
    })
    .await;
    let found = h.records(&id, "Vulnerability").await;
    let dependabot_record = by_key(&found, "github:acme-corp/web-app:dependabot:42");
    assert_eq!(
        dependabot_record["status"], "OPEN",
        "lower-case webhook states are open"
    );
    assert_eq!(
        by_key(&found, "github:acme-corp/web-app:code_scanning:3")["severity"],
        "LOW"
    );
    let secret_record = found
        .iter()
        .find(|r| r.variant == "secret_scanning")
        .unwrap();
    assert!(secret_record.raw_payload.get("secret").is_none());
    // Nor does the stored delivery keep it.
    for endpoint in h
        .runtime
        .db()
        .webhooks(&h.ring)
        .list_endpoints(&h.tenant, &id)
        .await
        .unwrap()
    {
        let deliveries = h
            .runtime
            .db()
            .webhooks(&h.ring)
            .list_deliveries(&h.tenant, &endpoint.id, 100)
            .await
            .unwrap();
        assert!(!deliveries.is_empty());
        let stored =
            serde_json::to_string(&deliveries.iter().map(|d| &d.payload).collect::<Vec<_>>())
                .unwrap();
        assert!(!stored.contains("AKIAEXAMPLEEXAMPLE12"), "{stored}");
    }

    // A repository renamed: its Asset follows at once, without waiting for a sync.
    let mut repository: Value = serde_json::from_str(fixtures::REPOSITORY).unwrap();
    repository["name"] = json!("web-app-renamed");
    repository["full_name"] = json!("acme-corp/web-app-renamed");
    let renamed = json!({
        "action": "renamed",
        "changes": {"repository": {"name": {"from": "web-app"}}},
        "repository": repository,
        "installation": {"id": installation, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="},
    });
    let ack = h
        .deliver("repository", &renamed, WEBHOOK_SECRET)
        .await
        .unwrap();
    assert!(
        matches!(&ack, WebhookAck::Accepted { queued: true, event: Some(e), .. } if e == "RepositoryChanged"),
        "{ack:?}"
    );
    eventually("the renamed repository's Asset", || async {
        h.records(&id, "Asset")
            .await
            .iter()
            .any(|r| r.fields["name"] == "acme-corp/web-app-renamed")
    })
    .await;
    // Repositories added to the installation, and a new member: the syncs that read them
    // are queued at once, attributed to the delivery.
    let added = json!({
        "action": "added",
        "repository_selection": "selected",
        "repositories_added": [{"id": 7, "name": "api", "full_name": "acme-corp/api", "private": true, "node_id": "R_7"}],
        "repositories_removed": [],
        "installation": {"id": installation},
    });
    let member_added = json!({
        "action": "member_added",
        "membership": {"state": "active", "role": "member", "user": {"login": "grace", "id": 2}},
        "organization": {"login": "acme-corp", "id": 1},
        "installation": {"id": installation},
    });
    for (kind, payload) in [
        ("installation_repositories", &added),
        ("organization", &member_added),
    ] {
        let ack = h.deliver(kind, payload, WEBHOOK_SECRET).await.unwrap();
        assert!(
            matches!(ack, WebhookAck::Accepted { queued: true, .. }),
            "{kind}: {ack:?}"
        );
    }
    for operation in ["RepositorySync", "VulnerabilityCollect", "DirectorySync"] {
        eventually("a run queued by a webhook", || async {
            h.runtime
                .db()
                .runs()
                .query(&tributary_store::runs::RunQuery {
                    tenant_id: h.tenant.clone(),
                    integration_id: Some(id.clone()),
                    operation: Some(operation.to_owned()),
                    status: None,
                    before: None,
                    limit: 20,
                })
                .await
                .unwrap()
                .iter()
                .any(|run| {
                    run.workflow
                        .as_ref()
                        .is_some_and(|w| w.get("webhookDelivery").is_some())
                })
        })
        .await;
    }

    // An event for an installation nobody connected is acknowledged, not stored here.
    let mut other = created.clone();
    other["installation"]["id"] = json!(99_999_999);
    let ack = h
        .deliver("installation", &other, WEBHOOK_SECRET)
        .await
        .unwrap();
    assert!(!matches!(ack, WebhookAck::Accepted { .. }), "{ack:?}");

    // The app is uninstalled: the integration is disconnected.
    let deleted: Value = serde_json::from_str(fixtures::WEBHOOK_INSTALLATION_DELETED).unwrap();
    h.deliver("installation", &deleted, WEBHOOK_SECRET)
        .await
        .unwrap();
    eventually("the installation is disconnected", || async {
        h.runtime
            .integration(&h.tenant, &id)
            .await
            .map(|i| i.status == IntegrationStatus::Disconnected)
            .unwrap_or(true)
    })
    .await;
    // Events of the uninstalled installation are acknowledged, not held for a connection
    // that is not coming.
    let ack = h
        .deliver("dependabot_alert", &dependabot, WEBHOOK_SECRET)
        .await
        .unwrap();
    assert!(matches!(ack, WebhookAck::Ignored { .. }), "{ack:?}");
    worker.stop().await;
}

#[each_backend]
async fn events_that_arrive_before_the_install_callback_are_not_lost(backend: TestDb) {
    let h = harness(backend, GithubOrg::sample(0, 0)).await;
    let (url, integration) = h.start_install().await;
    // GitHub installs the app and, before the browser reaches our callback, sends
    // installation.created and an alert of the new installation.
    let callback = h.install_page(&url).await;
    let created: Value = serde_json::from_str(fixtures::WEBHOOK_INSTALLATION_CREATED).unwrap();
    let alert: Value = serde_json::from_str(fixtures::WEBHOOK_DEPENDABOT_ALERT).unwrap();
    for (kind, payload) in [("installation", &created), ("dependabot_alert", &alert)] {
        let ack = h.deliver(kind, payload, WEBHOOK_SECRET).await.unwrap();
        assert!(matches!(ack, WebhookAck::Held { .. }), "{ack:?}");
    }
    // A redelivery of a held event is held once.
    let (headers, body) =
        signed_delivery(WEBHOOK_SECRET, "installation", "same-delivery", &created);
    let inbound = InboundWebhook {
        method: "POST".into(),
        headers,
        query: Vec::new(),
        body,
        received_at: 0,
    };
    let first = h
        .runtime
        .receive_app_webhook(DEFINITION, WEBHOOK, &inbound)
        .await
        .unwrap();
    let again = h
        .runtime
        .receive_app_webhook(DEFINITION, WEBHOOK, &inbound)
        .await
        .unwrap();
    let (WebhookAck::Held { job: a, .. }, WebhookAck::Held { job: b, .. }) = (first, again) else {
        panic!("held twice")
    };
    assert_eq!(a, b);

    let worker = start_worker(&h.runtime);
    // The callback finishes after the events arrived.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = h.finish_install(callback).await.unwrap();
    assert_eq!(id, integration);
    eventually("the early alert is ingested", || async {
        h.records(&id, "Vulnerability").await.len() == 1
    })
    .await;
    let endpoint = h
        .runtime
        .list_webhook_endpoints(&h.tenant, &id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.name == WEBHOOK)
        .unwrap();
    eventually(
        "the early installation.created deliveries are done",
        || async {
            let deliveries = h
                .runtime
                .db()
                .webhooks(&h.ring)
                .list_deliveries(&h.tenant, &endpoint.id, 10)
                .await
                .unwrap();
            deliveries
                .iter()
                .filter(|d| d.event == "InstallationCreated")
                .count()
                == 2
                && deliveries.iter().all(|d| d.status == DeliveryStatus::Done)
        },
    )
    .await;
    worker.stop().await;
}

/// An organisation suspends the installation: GitHub refuses its tokens and says so with
/// `installation` `suspend`; the integration is suspended (who and when as its reason) with its
/// schedules stopped and runs refused, until `unsuspend` connects it again and queues every sync.
#[each_backend]
async fn a_suspended_installation_is_suspended_until_github_unsuspends_it(backend: TestDb) {
    let h = harness(backend, GithubOrg::sample(0, 0)).await;
    let id = h.install().await;
    let worker = start_worker(&h.runtime);
    let schedules_enabled = || async {
        h.runtime
            .db()
            .schedules()
            .list(&h.tenant, &id)
            .await
            .unwrap()
            .iter()
            .map(|s| s.enabled)
            .collect::<Vec<_>>()
    };
    assert!(schedules_enabled().await.iter().all(|enabled| *enabled));

    h.fake.suspend(true);
    let suspend: Value = serde_json::from_str(fixtures::WEBHOOK_INSTALLATION_SUSPEND).unwrap();
    let ack = h
        .deliver("installation", &suspend, WEBHOOK_SECRET)
        .await
        .unwrap();
    assert!(
        matches!(&ack, WebhookAck::Accepted { event: Some(e), .. } if e == "InstallationSuspended"),
        "{ack:?}"
    );
    eventually("the integration is suspended", || async {
        h.runtime.integration(&h.tenant, &id).await.unwrap().status == IntegrationStatus::Suspended
    })
    .await;
    let suspended = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(
        suspended.status_reason.as_deref(),
        Some(
            "GitHub: the app's installation was suspended by octo-admin at \
             2024-06-21T08:15:42Z; it syncs again once the installation is unsuspended"
        )
    );
    let enabled = schedules_enabled().await;
    assert!(
        !enabled.is_empty() && enabled.iter().all(|e| !e),
        "{enabled:?}"
    );
    assert_eq!(h.runtime.reconcile_tick().await.unwrap(), 0);
    let mints = h.requests_containing("/access_tokens").len();
    let refused = h
        .runtime
        .queue_run(h.run_request(&id, "RepositorySync", json!({})))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("suspended"), "{refused}");
    assert_eq!(
        h.requests_containing("/access_tokens").len(),
        mints,
        "a suspended installation's token is not asked for"
    );

    h.fake.suspend(false);
    let unsuspend: Value = serde_json::from_str(fixtures::WEBHOOK_INSTALLATION_UNSUSPEND).unwrap();
    let delivery = h
        .deliver_processed("installation", &unsuspend, "InstallationUnsuspended")
        .await;
    let resumed = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(resumed.status, IntegrationStatus::Connected);
    assert_eq!(resumed.status_reason, None);
    assert!(schedules_enabled().await.iter().all(|enabled| *enabled));
    let mut queued: Vec<String> = h
        .runtime
        .list_runs(&h.tenant, &id, 20)
        .await
        .unwrap()
        .into_iter()
        .filter(|run| {
            run.workflow
                .as_ref()
                .is_some_and(|w| w["webhookDelivery"] == delivery.as_str())
        })
        .map(|run| run.operation)
        .collect();
    queued.sort();
    assert_eq!(
        queued,
        ["DirectorySync", "RepositorySync", "VulnerabilityCollect"]
    );
    worker.stop().await;
}

/// Maps `payload` with the definition's mapping for (schema, variant) and `resource`.
fn mapped(schema: &str, variant: &str, resource: &str, payload: &Value) -> Value {
    let mappings = &harness::mappings(DEFINITION);
    let contracts = [IngestContract::new(schema)];
    let engine = tributary_cel::CelEngine::default();
    let mapper = Mapper::new(&engine, DEFINITION, mappings, &contracts).unwrap();
    let envelope = MappingEnvelope::new(payload.clone())
        .variant(variant)
        .resource(resource);
    match mapper.map(schema, &envelope, 0) {
        Ok(MapOutcome::Mapped(record)) => {
            json!({"lookupKey": record.lookup_key, "record": record.fields})
        }
        Ok(other) => json!({"filtered": format!("{other:?}")}),
        Err(error) => json!({"error": error.to_string()}),
    }
}

fn fixture(name: &str) -> Value {
    harness::fixture("github_app", name)
}

#[test]
fn mapping_goldens() {
    let cases: [(&str, &str, &str, &str); 11] = [
        ("Asset", "repository", "acme-corp/web-app", "repository"),
        (
            "Asset",
            "repository",
            "acme-corp/legacy-sdk",
            "repository_public_archived",
        ),
        (
            "Vulnerability",
            "dependabot",
            "acme-corp/web-app",
            "dependabot_alert",
        ),
        (
            "Vulnerability",
            "dependabot",
            "acme-corp/web-app",
            "dependabot_alert_dismissed_minimal",
        ),
        (
            "Vulnerability",
            "code_scanning",
            "acme-corp/web-app",
            "code_scanning_alert",
        ),
        (
            "Vulnerability",
            "code_scanning",
            "acme-corp/web-app",
            "code_scanning_alert_note_minimal",
        ),
        (
            "Vulnerability",
            "secret_scanning",
            "acme-corp/web-app",
            "secret_scanning_alert",
        ),
        (
            "Vulnerability",
            "secret_scanning",
            "acme-corp/web-app",
            "secret_scanning_alert_resolved",
        ),
        (
            "Vulnerability",
            "secret_scanning",
            "acme-corp/web-app",
            "secret_scanning_alert_false_positive",
        ),
        (
            "DirectoryAccount",
            "",
            "acme-corp/octo-admin",
            "member_admin",
        ),
        (
            "DirectoryAccount",
            "",
            "acme-corp/dev-bob",
            "member_no_public_email",
        ),
    ];
    for (schema, variant, resource, name) in cases {
        let snapshot = mapped(schema, variant, resource, &fixture(name));
        assert!(snapshot.get("record").is_some(), "{name}: {snapshot}");
        insta::assert_json_snapshot!(format!("github_app_{name}"), snapshot);
    }
    // The webhook payload's alert maps the same as the listed one.
    let event = fixture("webhook_dependabot_alert");
    assert_eq!(
        mapped(
            "Vulnerability",
            "dependabot",
            "acme-corp/web-app",
            &event["alert"]
        ),
        mapped(
            "Vulnerability",
            "dependabot",
            "acme-corp/web-app",
            &fixture("dependabot_alert")
        )
    );
}

/// GitHub's resolutions of a secret scanning alert (the `secret-scanning-alert-resolution` enum
/// of its REST description, and the two more of the webhook's): only a revoked secret is fixed.
#[test]
fn a_resolved_secret_is_fixed_only_when_revoked_and_dismissed_for_every_other_resolution() {
    let alert = fixture("secret_scanning_alert_false_positive");
    for (resolution, status) in [
        ("revoked", "FIXED"),
        ("false_positive", "DISMISSED"),
        ("wont_fix", "DISMISSED"),
        ("used_in_tests", "DISMISSED"),
        ("pattern_deleted", "DISMISSED"),
        ("pattern_edited", "DISMISSED"),
    ] {
        let mut resolved = alert.clone();
        resolved["resolution"] = json!(resolution);
        let record = &mapped(
            "Vulnerability",
            "secret_scanning",
            "acme-corp/web-app",
            &resolved,
        )["record"];
        assert_eq!(record["status"], status, "{resolution}");
        assert_eq!(
            record["fixedAt"].is_null(),
            status != "FIXED",
            "{resolution}: {record}"
        );
        assert_eq!(record["properties"]["resolution"], resolution);
        assert_eq!(
            record["description"],
            "Secret scanning found a Mailchimp API Key in acme-corp/web-app."
        );
    }
    let mut open = alert;
    open["state"] = json!("open");
    open["resolution"] = Value::Null;
    let record = &mapped(
        "Vulnerability",
        "secret_scanning",
        "acme-corp/web-app",
        &open,
    )["record"];
    assert_eq!(record["status"], "OPEN");
    assert!(record["fixedAt"].is_null());
}
