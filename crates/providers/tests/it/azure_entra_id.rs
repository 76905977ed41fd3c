//! The Azure Entra ID definition against the fake Microsoft identity platform and Graph on
//! loopback, through the whole runtime (admin consent with the tenant from the id token,
//! app-only tokens re-minted, queued syncs, ingest, tombstones) on SQLite and PostgreSQL.

use serde_json::{Value, json};
use tributary_core::ErrorKind;
use tributary_runtime::{ConnectRequest, RuntimeError};
use tributary_store::{
    integrations::IntegrationStatus,
    runs::{Run, RunStatus},
    testing::{TestDb, each_backend},
};
use tributary_testkit::browser::approve;
use tributary_testkit::{
    authorization::ClientApp,
    azure_entra_id::{ADMIN_UPN, CLIENT_ID, CLIENT_SECRET, EntraDirectory, FakeEntra, TENANT_ID},
};

use crate::harness::{
    self, Harness, assert_rate_limited, assert_succeeded, authorize_query, live, param,
};

const SLOT: &str = "EntraAdminConsent";

async fn harness(backend: TestDb, extra_users: usize) -> Harness<FakeEntra> {
    let fake = FakeEntra::start(EntraDirectory::sample(extra_users))
        .await
        .unwrap();
    let operator = fake.operator_config();
    Harness::start(backend, fake, "azure_entra_id", operator).await
}

impl Harness<FakeEntra> {
    /// Starts the admin consent, lets the fake approve at once (the browser step) and completes
    /// the flow with the callback's parameters.
    async fn consent(&self, user_input: Value) -> Result<String, RuntimeError> {
        let redirect = self
            .try_redirect(ConnectRequest {
                user_input: Some(user_input),
                ..self.connect_request(SLOT)
            })
            .await?;
        let authorize_url = format!(
            "{}/organizations/oauth2/v2.0/authorize",
            self.fake.login_url()
        );
        let asked = authorize_query(&redirect, &authorize_url);
        assert_eq!(param(&asked, "prompt"), Some("admin_consent"));
        assert_eq!(param(&asked, "client_id"), Some(CLIENT_ID));
        assert!(
            param(&asked, "scope")
                .unwrap()
                .split(' ')
                .any(|s| s == "openid")
        );
        assert_eq!(param(&asked, "code_challenge_method"), Some("S256"));
        self.complete_auth(approve(&redirect.url).await).await
    }

    async fn stored(&self, integration: &str) -> Value {
        self.stored_credential(integration, SLOT).await
    }

    async fn sync(&self, integration: &str) -> Run {
        self.run(integration, "DirectorySync", Value::Null).await
    }
}

#[each_backend]
async fn admin_consent_finds_the_tenant_in_the_id_token_and_syncs_every_page(backend: TestDb) {
    let h = harness(backend, 46).await;
    let id = h.consent(json!({})).await.unwrap();
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::Connected);
    assert_eq!(integration.metadata["externalId"], TENANT_ID);
    assert_eq!(integration.metadata["externalName"], "Contoso");
    let attributes = &integration.metadata["attributes"];
    assert_eq!(attributes["defaultDomain"], "contoso.com");
    assert_eq!(attributes["consentedBy"], ADMIN_UPN);
    // The app-only token is stored with its tenant; the admin's own tokens are not kept.
    let stored = h.stored(&id).await;
    assert_eq!(stored["tenantId"], TENANT_ID);
    assert!(stored["expires_at"].as_i64().is_some());
    assert!(stored.get("refresh_token").is_none());
    assert_eq!(h.fake.auth().grants("client_credentials"), 1);

    let health = h.health(&id).await;
    assert_eq!(health["tenantId"], TENANT_ID);
    assert_eq!(health["displayName"], "Contoso");

    // 50 users, 3 groups: pages of 20.
    h.fake.cap_pages(20);
    let run = h.sync(&id).await;
    assert_succeeded(&run);
    assert_eq!(run.counters["seen"], 50 + 3 + 75, "{}", run.counters);
    let requests = h.fake.requests();
    let user_pages: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("GET /v1.0/users"))
        .collect();
    assert_eq!(user_pages.len(), 3, "{user_pages:?}");
    assert!(user_pages[0].contains("accountEnabled") && user_pages[0].contains("userType"));
    assert!(user_pages[1].contains("skiptoken"));
    assert!(
        requests
            .iter()
            .any(|r| r.contains("/members/microsoft.graph.user")),
        "only user members are asked for"
    );

    let accounts = h.records(&id, "DirectoryAccount").await;
    assert_eq!(accounts.len(), 50);
    let by_name = |name: &str| {
        accounts
            .iter()
            .find(|a| a.fields["displayName"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(by_name("Jordan Fabrikam").fields["accountType"], "GUEST");
    assert_eq!(
        by_name("Jordan Fabrikam").fields["canonicalEmail"],
        "jordan@fabrikam.com"
    );
    assert_eq!(by_name("sam@northwind.example").fields["status"], "PENDING");
    assert_eq!(by_name("Lee Gu").fields["status"], "SUSPENDED");
    assert_eq!(by_name("Adele Vance").fields["status"], "ACTIVE");
    assert_eq!(by_name("Adele Vance").fields["accountType"], "USER");
    let groups = h.records(&id, "DirectoryGroup").await;
    let classes: Vec<&Value> = groups.iter().map(|g| &g.fields["classification"]).collect();
    for class in ["SECURITY", "TEAM", "DYNAMIC"] {
        assert!(
            classes.iter().any(|c| *c == class),
            "{class} in {classes:?}"
        );
    }
    assert_eq!(h.records(&id, "DirectoryMembership").await.len(), 75);
}

#[each_backend]
async fn guests_can_be_left_out_and_deletions_are_tombstoned(backend: TestDb) {
    let h = harness(backend, 6).await;
    let id = h.consent(json!({"includeGuests": false})).await.unwrap();
    let run = h.sync(&id).await;
    assert_succeeded(&run);
    let accounts = h.records(&id, "DirectoryAccount").await;
    assert_eq!(accounts.len(), 8, "10 users less 2 guests");
    assert!(accounts.iter().all(|a| a.fields["accountType"] == "USER"));

    // A user leaves the tenant; a group is deleted.
    let (gone_user, gone_group) = h.fake.with_directory(|d| {
        let user = "87d349ed-44d7-43e1-9a83-5f2406dee5bd".to_owned();
        d.users.remove(&user);
        for members in d.members.values_mut() {
            members.retain(|m| *m != user);
        }
        let group = d.groups.keys().next().unwrap().clone();
        d.groups.remove(&group);
        d.members.remove(&group);
        (user, group)
    });
    let run = h.sync(&id).await;
    assert_succeeded(&run);
    let accounts = h.records(&id, "DirectoryAccount").await;
    let gone = accounts
        .iter()
        .find(|a| a.fields["externalID"] == gone_user.as_str())
        .unwrap();
    assert!(gone.deleted_at.is_some(), "the user is tombstoned");
    assert_eq!(live(&accounts).len(), 7);
    let groups = h.records(&id, "DirectoryGroup").await;
    let gone = groups
        .iter()
        .find(|g| g.fields["externalID"] == gone_group.as_str())
        .unwrap();
    assert!(gone.deleted_at.is_some(), "the group is tombstoned");
    let memberships = h.records(&id, "DirectoryMembership").await;
    assert!(
        live(&memberships)
            .iter()
            .all(|m| m.fields["groupExternalID"] != gone_group.as_str()
                && m.fields["accountExternalID"] != gone_user.as_str())
    );
}

#[each_backend]
async fn a_throttled_sync_resumes_where_it_stopped(backend: TestDb) {
    let h = harness(backend, 36).await;
    let id = h.consent(json!({})).await.unwrap();
    h.fake.cap_pages(10);
    // The first page goes through; the second is throttled for longer than the kit waits.
    h.fake.throttle_after(1, 300);
    let run = h.sync(&id).await;
    assert_rate_limited(&run);
    let before = h.fake.requests().len();
    let resumed = h.sync(&id).await;
    assert_succeeded(&resumed);
    let requests = h.fake.requests();
    assert!(
        requests[before].contains("skiptoken"),
        "the next run starts from the saved page: {}",
        requests[before]
    );
    assert_eq!(live(&h.records(&id, "DirectoryAccount").await).len(), 40);
}

#[each_backend]
async fn the_app_token_is_reminted_before_it_expires_and_a_refusal_asks_for_consent_again(
    backend: TestDb,
) {
    let h = harness(backend, 2).await;
    // Tokens that live one minute: inside the runtime's refresh margin at once.
    h.fake.auth().set_token_lifetime(60);
    let id = h.consent(json!({})).await.unwrap();
    let minted = h.fake.auth().grants("client_credentials");
    let first = h.stored(&id).await["access_token"].clone();
    let run = h.sync(&id).await;
    assert_succeeded(&run);
    assert!(
        h.fake.auth().grants("client_credentials") > minted,
        "re-minted"
    );
    assert_ne!(h.stored(&id).await["access_token"], first);
    assert_eq!(h.stored(&id).await["tenantId"], TENANT_ID);

    // The tenant withdraws its consent: the re-mint is refused (AADSTS700016) and the
    // integration asks to be connected again.
    h.fake.withdraw_consent();
    let run = h.sync(&id).await;
    assert_eq!(run.status, RunStatus::Failed);
    let message = run.error_message.unwrap_or_default();
    assert!(!message.contains(CLIENT_SECRET), "{message}");
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::NeedsReauth);
    let reason = integration.status_reason.unwrap_or_default();
    assert!(!reason.contains(CLIENT_SECRET), "{reason}");
    assert!(reason.contains("admin consent"), "{reason}");
}

#[each_backend]
async fn a_token_graph_refuses_is_refreshed_once_then_a_refused_refresh_is_an_auth_error_without_secrets(
    backend: TestDb,
) {
    let h = harness(backend, 2).await;
    let id = h.consent(json!({})).await.unwrap();
    let token = h.stored(&id).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Graph refuses a token that is still valid by its expiry: the runtime refreshes it at
    // once and the check passes.
    h.fake.auth().expire_access_tokens();
    h.health(&id).await;
    let refreshed = h.stored(&id).await["access_token"].clone();
    assert_ne!(refreshed, json!(token));
    // Refused again, and the tenant withdrew its consent: the refresh is refused too.
    h.fake.auth().expire_access_tokens();
    h.fake.withdraw_consent();
    let err = h.try_health(&id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("401") || text.contains("AADSTS700016"),
        "{text}"
    );
    assert!(
        !text.contains(&token) && !text.contains(CLIENT_SECRET),
        "{text}"
    );
}

#[tokio::test]
async fn a_declined_consent_and_a_wrong_client_secret_are_clear_errors() {
    let h = harness(tributary_store::testing::sqlite().await, 0).await;
    h.fake.auth().set_callback_params(&[
        ("error", "access_denied"),
        (
            "error_description",
            "AADSTS65004: User declined to consent to access the app.",
        ),
    ]);
    let err = h.consent(json!({})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("access_denied"), "{err}");
    h.fake.auth().set_callback_params(&[]);

    h.fake.auth().register_client(ClientApp::confidential(
        CLIENT_ID,
        "the-secret-microsoft-now-expects-000",
    ));
    let err = h.consent(json!({})).await.unwrap_err();
    let text = err.to_string();
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    assert!(
        matches!(err.kind(), ErrorKind::Auth | ErrorKind::Config),
        "{err}"
    );
    assert!(!h.any_connected().await);
}

#[test]
fn mapping_goldens() {
    let mappings = &harness::mappings("azure_entra_id");
    let fixture = |name: &str| harness::fixture("azure_entra_id", name);
    for (schema, names) in [
        (
            "DirectoryAccount",
            &[
                "user_member",
                "user_guest",
                "user_pending_guest",
                "user_disabled",
            ][..],
        ),
        (
            "DirectoryGroup",
            &["group_security", "group_unified", "group_dynamic"][..],
        ),
        ("DirectoryMembership", &["membership"][..]),
    ] {
        for name in names {
            let snapshot = tributary_ingest::kit::snapshot(mappings, schema, "", &fixture(name));
            insta::assert_json_snapshot!(format!("azure_entra_id_{name}"), snapshot);
        }
    }
}
