//! The Okta definition against the fake Okta org on loopback, through the whole runtime (setup
//! flow, token minting and refresh, queued runs, ingest) on SQLite and PostgreSQL, in both
//! connection modes: an API token (`SSWS`) and a service app (client credentials with a
//! `private_key_jwt` assertion).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_core::ErrorKind;
use tributary_providers::{
    CatalogConfig,
    okta::{OktaServiceApp, check_org_url},
    registry,
};
use tributary_runtime::ConnectRequest;
use tributary_store::{
    integrations::IntegrationStatus,
    runs::{Run, RunStatus},
    testing::{TestDb, each_backend},
};
use tributary_testkit::{
    authorization::{CLIENT_PRIVATE_KEY_PEM, ClientApp},
    okta::{FakeOkta, ORG_ID, OktaOrg, SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_JWK},
};

use crate::harness::{self, Harness, assert_succeeded, catalog_config, logs_requests};

logs_requests!(FakeOkta);

const TOKEN: &str = "00TestApiToken-abcdefghijklmnop";
/// A line of the private key's base64 body: it must never show in an error.
fn private_key_fragment() -> &'static str {
    CLIENT_PRIVATE_KEY_PEM.lines().nth(3).unwrap()
}

fn operator_config(allow_loopback: bool) -> Value {
    json!({ "allowLoopbackOrgUrls": allow_loopback })
}

async fn harness_with(backend: TestDb, org: OktaOrg, allow_loopback: bool) -> Harness<FakeOkta> {
    let fake = FakeOkta::start(org, TOKEN).await.unwrap();
    Harness::start(backend, fake, "okta", operator_config(allow_loopback)).await
}

async fn harness(backend: TestDb, org: OktaOrg) -> Harness<FakeOkta> {
    harness_with(backend, org, true).await
}

impl Harness<FakeOkta> {
    fn request(&self, slot: &str, credential: Value, input: Value) -> ConnectRequest {
        let mut user_input = json!({ "orgUrl": self.fake.org_url() });
        if let (Value::Object(target), Value::Object(extra)) = (&mut user_input, input) {
            target.extend(extra);
        }
        self.form_request(slot, credential, user_input)
    }

    fn api_token(&self, token: &str) -> ConnectRequest {
        self.request("OktaApiToken", json!({ "apiToken": token }), json!({}))
    }

    fn service_app(&self) -> ConnectRequest {
        self.request(
            "OktaServiceApp",
            self.fake.service_app_credential(),
            json!({}),
        )
    }

    /// Queues a sync and runs it to its end with a worker.
    async fn sync(&self, integration: &str) -> Run {
        self.run(integration, "DirectorySync", Value::Null).await
    }
}

#[each_backend]
async fn an_api_token_connects_and_a_multi_page_sync_maps_users_groups_and_memberships(
    backend: TestDb,
) {
    let h = harness(backend, OktaOrg::sample(450, 3)).await;
    let id = h.connect(h.api_token(TOKEN)).await;
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.metadata["externalId"], ORG_ID);
    assert_eq!(
        integration.metadata["attributes"]["orgUrl"],
        h.fake.org_url()
    );

    let health = h.health(&id).await;
    assert_eq!(health["mode"], "apiToken");
    assert_eq!(health["login"], "admin@example.com");

    let run = h.sync(&id).await;
    assert_succeeded(&run);
    assert_eq!(run.counters["created"], 450 + 3 + 450);
    assert_eq!(
        h.requests_to("/api/v1/users").len(),
        3,
        "200 a page: {:?}",
        h.requests()
    );
    let accounts = h.records(&id, "DirectoryAccount").await;
    assert_eq!(accounts.len(), 450, "deprovisioned users included");
    let deprovisioned = accounts
        .iter()
        .find(|r| r.lookup_key.contains("00u00000000000000022"))
        .unwrap();
    assert_eq!(deprovisioned.fields["status"], "DELETED");
    assert_eq!(h.records(&id, "DirectoryGroup").await.len(), 3);
    assert_eq!(h.records(&id, "DirectoryMembership").await.len(), 450);
}

#[each_backend]
async fn a_search_narrows_users_and_their_memberships(backend: TestDb) {
    let h = harness(backend, OktaOrg::sample(30, 2)).await;
    let request = h.request(
        "OktaApiToken",
        json!({ "apiToken": TOKEN }),
        json!({ "search": "profile.department eq \"Sales\"" }),
    );
    let id = h.connect(request).await;
    let run = h.sync(&id).await;
    assert_succeeded(&run);
    assert_eq!(h.records(&id, "DirectoryAccount").await.len(), 10);
    assert_eq!(h.records(&id, "DirectoryMembership").await.len(), 10);
}

#[each_backend]
async fn a_service_app_connects_with_a_signed_assertion_and_its_token_is_reminted_before_expiry(
    backend: TestDb,
) {
    let h = harness(backend, OktaOrg::sample(250, 2)).await;
    let auth = h.fake.authorization();
    let id = h.connect(h.service_app()).await;
    assert_eq!(auth.grants("client_credentials"), 1, "minted at connect");
    let health = h.health(&id).await;
    assert_eq!(health["mode"], "serviceApp");
    assert_eq!(health["groupsReadable"], true);
    assert_eq!(
        auth.grants("client_credentials"),
        1,
        "a token valid for an hour is reused"
    );
    let run = h.sync(&id).await;
    assert_succeeded(&run);
    assert_eq!(h.records(&id, "DirectoryAccount").await.len(), 250);
    assert_eq!(h.records(&id, "DirectoryMembership").await.len(), 250);

    // Tokens that live two minutes are inside the five-minute refresh margin: every use
    // re-mints first, through the connection's refresh hook.
    auth.set_token_lifetime(120);
    let short_lived = h.connect(h.service_app()).await;
    let before = auth.grants("client_credentials");
    let run = h.sync(&short_lived).await;
    assert_succeeded(&run);
    assert!(
        auth.grants("client_credentials") > before,
        "the expiring token was re-minted"
    );
    // An access token that expired at Okta is not used: the sync re-mints and succeeds.
    auth.expire_access_tokens();
    let run = h.sync(&short_lived).await;
    assert_succeeded(&run);

    // The JWK Okta generates carries its key id; no separate keyId is needed.
    auth.set_token_lifetime(3600);
    let by_jwk = h
        .connect(h.request(
            "OktaServiceApp",
            json!({ "clientId": SERVICE_APP_CLIENT_ID, "privateKey": SERVICE_APP_PRIVATE_JWK }),
            json!({}),
        ))
        .await;
    assert_eq!(h.health(&by_jwk).await["mode"], "serviceApp");
}

#[each_backend]
async fn the_two_modes_switch_on_one_integration(backend: TestDb) {
    let h = harness(backend, OktaOrg::sample(20, 1)).await;
    let id = h.connect(h.api_token(TOKEN)).await;
    let switch = ConnectRequest {
        integration_id: Some(id.clone()),
        ..h.service_app()
    };
    assert_eq!(h.connect(switch).await, id);
    // The API token is revoked in Okta: the integration no longer depends on it.
    h.fake.rotate_token("00NewApiToken-qrstuvwxyz012345");
    assert_eq!(h.health(&id).await["mode"], "serviceApp");
    let run = h.sync(&id).await;
    assert_succeeded(&run);

    let back = ConnectRequest {
        integration_id: Some(id.clone()),
        ..h.api_token("00NewApiToken-qrstuvwxyz012345")
    };
    assert_eq!(h.connect(back).await, id);
    // The service app's tokens stop working: the API token carries on alone.
    h.fake.authorization().revoke_all();
    assert_eq!(h.health(&id).await["mode"], "apiToken");
    let run = h.sync(&id).await;
    assert_succeeded(&run);
    assert_eq!(h.records(&id, "DirectoryAccount").await.len(), 20);
}

#[each_backend]
async fn revoked_credentials_fail_with_a_clear_auth_error_that_never_shows_the_secret(
    backend: TestDb,
) {
    let h = harness(backend, OktaOrg::sample(5, 1)).await;
    let err = h
        .try_connect(h.api_token("00WrongToken-zzzzzzzzzzzzzz"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(!err.to_string().contains("00WrongToken"), "{err}");

    // An API token revoked after connecting: the sync fails as an auth error.
    let id = h.connect(h.api_token(TOKEN)).await;
    h.fake.rotate_token("00RotatedToken-aaaaaaaaaaaaaaa");
    let run = h.sync(&id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error_kind.as_deref(), Some("auth"));
    assert!(!run.error_message.unwrap().contains(TOKEN));
    h.fake.rotate_token(TOKEN);

    // A service app Okta does not know is refused at connect, without quoting the key.
    let mut unknown = h.fake.service_app_credential();
    unknown["clientId"] = json!("0oaUnknownApp000000001");
    let err = h
        .try_connect(h.request("OktaServiceApp", unknown, json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!err.to_string().contains(private_key_fragment()), "{err}");
    // A key that is not a key is a config error naming the field.
    let mut garbled = h.fake.service_app_credential();
    garbled["privateKey"] = json!("-----BEGIN PRIVATE KEY-----\nnot-a-key\n");
    let err = h
        .try_connect(h.request("OktaServiceApp", garbled, json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("privateKey"), "{err}");
    assert!(!err.to_string().contains("not-a-key"), "{err}");

    // The app's public key is removed in Okta while its tokens are about to expire: the
    // re-mint is refused, the integration needs to be connected again, the sync fails as
    // an auth error, and nothing shows the key.
    let auth = h.fake.authorization();
    auth.set_token_lifetime(120);
    let app = h.connect(h.service_app()).await;
    auth.register_client(ClientApp {
        client_id: SERVICE_APP_CLIENT_ID.into(),
        ..ClientApp::default()
    });
    let run = h.sync(&app).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error_kind.as_deref(), Some("auth"));
    let message = run.error_message.unwrap_or_default();
    assert!(!message.contains(private_key_fragment()), "{message}");
    assert_eq!(h.status(&app).await, IntegrationStatus::NeedsReauth);
}

#[each_backend]
async fn a_throttled_sync_resumes_from_its_checkpoint_and_deletions_are_tombstoned(
    backend: TestDb,
) {
    let h = harness(backend, OktaOrg::sample(450, 2)).await;
    let id = h.connect(h.api_token(TOKEN)).await;
    // Okta answers 429 with the window's reset two minutes away (no Retry-After): longer
    // than the client waits, so the run ends partial and keeps its checkpoint.
    h.fake.throttle_page("/api/v1/users", 2, 120);
    h.resume_after_rate_limit(&id, "DirectorySync", "DirectoryAccount", 200, 450)
        .await;
    let users = h.requests_to("/api/v1/users");
    // 1: page 1; 2: page 2 throttled; 3: page 2 again, from the checkpoint; 4: page 3.
    assert_eq!(users.len(), 4, "{users:?}");
    assert!(users[1].contains("after="), "{users:?}");
    assert_eq!(
        users[2], users[1],
        "resumed at the throttled page: {users:?}"
    );

    let gone = "00u00000000000000007";
    h.fake.remove_user(gone);
    let full = h.sync(&id).await;
    assert_eq!(full.status, RunStatus::Succeeded);
    assert_eq!(
        full.counters["tombstoned"], 2,
        "the account and its membership: {:?}",
        full.counters
    );
    let removed = h
        .records(&id, "DirectoryAccount")
        .await
        .into_iter()
        .find(|r| r.lookup_key.contains(gone))
        .unwrap();
    assert!(removed.deleted_at.is_some());
}

#[each_backend]
async fn a_short_rate_limit_reset_is_waited_out(backend: TestDb) {
    let h = harness(backend, OktaOrg::sample(250, 1)).await;
    let id = h.connect(h.api_token(TOKEN)).await;
    h.fake.throttle_page("/api/v1/users", 2, 2);
    let started = Instant::now();
    let run = h.sync(&id).await;
    assert_succeeded(&run);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "X-Rate-Limit-Reset was honoured"
    );
    assert_eq!(
        h.requests_to("/api/v1/users").len(),
        3,
        "one 429, then retried"
    );
    assert_eq!(h.records(&id, "DirectoryAccount").await.len(), 250);
}

#[test]
fn org_urls_are_okta_domains_or_custom_domains_on_public_https() {
    for (url, okta) in [
        ("https://acme.okta.com", true),
        ("https://acme.oktapreview.com/", true),
        ("https://acme.okta-emea.com", true),
        ("https://ACME.Okta.com", true),
        ("https://agency.okta-gov.com", true),
        ("https://agency.okta.mil", true),
        ("https://login.acme.example", false),
    ] {
        let (_, host) = check_org_url(url, false).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(
            host == tributary_providers::okta::OrgHost::Okta,
            okta,
            "{url}"
        );
    }
    for (url, why) in [
        ("http://acme.okta.com", "https"),
        ("https://10.0.0.8", "public"),
        ("https://169.254.169.254", "public"),
        ("https://127.0.0.1:8443", "public"),
        ("https://[::1]", "public"),
        ("https://localhost", "public"),
        ("https://okta.internal", "public"),
        ("https://acme-admin.okta.com", "Admin Console"),
        ("https://agency-admin.okta-gov.com", "Admin Console"),
        ("https://okta.com", "names no org"),
        ("https://acme.okta.com/app/UserHome", "without the path"),
        ("https://admin:pw@acme.okta.com", "password"),
        ("acme.okta.com", "not valid"),
    ] {
        let err = check_org_url(url, false).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config, "{url}");
        assert!(err.message.starts_with("orgUrl:"), "{url}: {}", err.message);
        assert!(err.message.contains(why), "{url}: {}", err.message);
    }
    // The operator's test switch admits loopback, and nothing else.
    assert!(check_org_url("http://127.0.0.1:8080", true).is_ok());
    assert!(check_org_url("https://10.0.0.8", true).is_err());
}

#[each_backend]
async fn refused_org_urls_get_no_request(backend: TestDb) {
    // Without the test switch the fake's loopback URL is refused before any request.
    let h = harness_with(backend, OktaOrg::sample(1, 1), false).await;
    let err = h.try_connect(h.api_token(TOKEN)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("orgUrl"), "{err}");
    assert_eq!(h.fake.request_count(), 0);
}

#[each_backend]
async fn custom_domains_must_name_an_okta_org_before_a_credential_is_sent(backend: TestDb) {
    // A custom domain (the loopback fake, here) must serve Okta's org document naming an
    // Okta-hosted org before a credential is sent to it.
    let h = harness(backend, OktaOrg::sample(1, 1)).await;
    for organization in [None, Some("https://evil.example.com")] {
        h.fake.set_organization_url(organization);
        let err = h.try_connect(h.api_token(TOKEN)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("not an Okta domain"), "{err}");
        let err = h.try_connect(h.service_app()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }
    assert_eq!(h.fake.request_count(), 0, "no credential left the process");
    assert_eq!(h.fake.authorization().grants("client_credentials"), 0);
}

#[test]
fn the_service_app_slot_is_a_form_with_client_id_key_id_and_private_key() {
    let registry = registry(&CatalogConfig::default()).unwrap();
    let definition = registry.definition("okta").unwrap();
    let schema = serde_json::to_value(
        definition
            .definition
            .credentials
            .iter()
            .find(|c| c.slot == <OktaServiceApp as tributary_core::StableName>::NAME)
            .and_then(|c| c.schema.clone())
            .unwrap(),
    )
    .unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, ["clientId", "privateKey"]);
    assert!(schema["properties"]["keyId"].is_object());
}

fn fixture(name: &str) -> Value {
    harness::fixture("okta", name)
}

#[test]
fn mapping_goldens() {
    let registry = registry(&catalog_config("okta", operator_config(true))).unwrap();
    let mappings = &registry.definition("okta").unwrap().definition.mappings;
    for name in ["user_active", "user_deprovisioned", "user_staged_minimal"] {
        let snapshot =
            tributary_ingest::kit::snapshot(mappings, "DirectoryAccount", "", &fixture(name));
        insta::assert_json_snapshot!(format!("okta_account_{name}"), snapshot);
    }
    let snapshot =
        tributary_ingest::kit::snapshot(mappings, "DirectoryGroup", "", &fixture("group"));
    insta::assert_json_snapshot!("okta_group", snapshot);
    let membership =
        json!({"group": {"id": "00g1emaKYZTWRYYRRTSK"}, "member": fixture("user_active")});
    let snapshot =
        tributary_ingest::kit::snapshot(mappings, "DirectoryMembership", "", &membership);
    insta::assert_json_snapshot!("okta_membership", snapshot);
}
