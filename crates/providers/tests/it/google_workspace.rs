//! The Google Workspace definition against the fake Google (Admin SDK Directory API and its OAuth
//! endpoints) on loopback, through the whole runtime (setup flow with the browser redirect,
//! refresh, queued runs, ingest) on SQLite and PostgreSQL.

use serde_json::{Value, json};
use tributary_core::ErrorKind;
use tributary_runtime::{ConnectRequest, RuntimeError};
use tributary_store::{
    integrations::IntegrationStatus,
    runs::{Run, RunStatus},
    testing::{TestDb, each_backend},
};
use tributary_testkit::google_workspace::{FakeGoogleWorkspace, GoogleDirectory, Listing};

use crate::harness::{
    self, Harness, RefreshToken, assert_succeeded, by_lookup_key, live, logs_requests,
};

logs_requests!(FakeGoogleWorkspace);

const OAUTH: &str = "GoogleWorkspaceOAuth";
const SERVICE_ACCOUNT: &str = "GoogleWorkspaceServiceAccount";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// A valid RSA key that the fake has never seen (as if the key had been deleted in Google Cloud).
const UNKNOWN_KEY_PEM: &str = tributary_testkit::keys::OTHER_RSA_PEM;

async fn harness(backend: TestDb, directory: GoogleDirectory) -> Harness<FakeGoogleWorkspace> {
    let fake = FakeGoogleWorkspace::start(directory).await.unwrap();
    let demo = fake.demo_connection();
    Harness::start(backend, fake, demo.definition, demo.operator_config).await
}

/// Every user of `users` in group 0 as well, so its members take several pages.
fn with_big_first_group(mut directory: GoogleDirectory) -> GoogleDirectory {
    let group = GoogleDirectory::group_id(0);
    let present: Vec<Value> = directory.members[&group]
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    let extra: Vec<Value> = directory
        .users
        .values()
        .filter(|user| !present.contains(&user["id"]))
        .map(|user| tributary_testkit::google_workspace::user_member(user, "MEMBER"))
        .collect();
    directory.members.get_mut(&group).unwrap().extend(extra);
    directory.refresh_member_counts();
    directory
}

impl Harness<FakeGoogleWorkspace> {
    /// The OAuth connection: begin, the administrator's browser at Google, the callback.
    async fn connect_oauth(&self) -> String {
        let redirect = self.redirect(self.connect_request(OAUTH)).await;
        for expected in [
            "access_type=offline",
            "prompt=consent",
            "code_challenge_method=S256",
            "admin.directory.group.member.readonly",
        ] {
            assert!(redirect.url.contains(expected), "{}", redirect.url);
        }
        let params = self.fake.authorize(&redirect.url).await;
        let connected = self.complete_auth(params).await.unwrap();
        assert_eq!(connected, redirect.integration_id);
        connected
    }

    fn service_account(&self, key_json: &str, admin: &str) -> ConnectRequest {
        self.form_request(
            SERVICE_ACCOUNT,
            json!({"serviceAccountKey": key_json, "adminEmail": admin}),
            json!({}),
        )
    }

    async fn connect_service_account(&self) -> String {
        let request = self.service_account(
            &self.fake.service_account_key_json(),
            &self.fake.admin_email(),
        );
        self.connect(request).await
    }

    async fn stored_tokens(&self, integration: &str) -> Value {
        self.stored_credential(integration, OAUTH).await
    }

    /// Queues a sync and runs it to its end with a worker.
    async fn sync(&self, integration: &str) -> Run {
        self.run(integration, "DirectorySync", Value::Null).await
    }

    /// Memberships the fake holds between a group and one of its users.
    fn expected_memberships(&self) -> usize {
        self.fake.with_directory(|directory| {
            directory
                .members
                .values()
                .flatten()
                .filter(|m| m["type"] == "USER")
                .filter(|m| directory.users.contains_key(m["id"].as_str().unwrap()))
                .count()
        })
    }
}

#[each_backend]
async fn oauth_connects_and_a_multi_page_sync_maps_users_groups_and_memberships(backend: TestDb) {
    // 520 users: two pages of users; 201 groups: two pages of groups; group 0 holds everyone:
    // three pages of members.
    let h = harness(
        backend,
        with_big_first_group(GoogleDirectory::sample(520, 201)),
    )
    .await;
    let id = h.connect_oauth().await;
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::Connected);
    assert_eq!(integration.metadata["externalId"], h.fake.customer_id());
    assert_eq!(integration.metadata["externalName"], h.fake.domain());
    assert_eq!(integration.metadata["attributes"]["connection"], "oauth");
    let tokens = h.stored_tokens(&id).await;
    assert!(tokens["refresh_token"].is_string(), "offline access");
    assert!(tokens["expires_at"].as_i64().unwrap() > 0);

    let health = h.health(&id).await;
    assert_eq!(health["customerId"], h.fake.customer_id());
    assert_eq!(health["primaryDomain"], h.fake.domain());

    let run = h.sync(&id).await;
    assert_succeeded(&run);
    let users = h.requests_starting("/admin/directory/v1/users");
    assert_eq!(users.len(), 2, "{users:?}");
    assert!(users[0].contains("customer=my_customer") && users[0].contains("projection=full"));
    assert!(users[1].contains("pageToken="), "{users:?}");
    assert_eq!(h.requests_starting("/admin/directory/v1/groups?").len(), 2);
    let first_group = format!(
        "/admin/directory/v1/groups/{}/members",
        GoogleDirectory::group_id(0)
    );
    assert_eq!(
        h.requests_starting(&first_group).len(),
        3,
        "200 members a page"
    );

    let accounts = h.records(&id, "DirectoryAccount").await;
    assert_eq!(accounts.len(), 520);
    let admin = by_lookup_key(&accounts, &GoogleDirectory::user_id(0));
    assert_eq!(admin.fields["canonicalEmail"], "admin@acme.example");
    assert_eq!(admin.fields["isAdmin"], true);
    assert_eq!(admin.fields["mfaState"], "ENABLED");
    assert_eq!(admin.fields["department"], "Engineering");
    let suspended = by_lookup_key(&accounts, &GoogleDirectory::user_id(6));
    assert_eq!(suspended.fields["status"], "SUSPENDED");
    let archived = by_lookup_key(&accounts, &GoogleDirectory::user_id(10));
    assert_eq!(archived.fields["status"], "INACTIVE");

    let groups = h.records(&id, "DirectoryGroup").await;
    assert_eq!(groups.len(), 201);
    let memberships = h.records(&id, "DirectoryMembership").await;
    assert_eq!(memberships.len(), h.expected_memberships());
    // Nested groups, the whole customer and the outside member are not memberships.
    assert_eq!(run.counters["failed"], 0, "{:?}", run.counters);
    let owner = memberships
        .iter()
        .find(|m| {
            m.fields["accountExternalID"] == GoogleDirectory::user_id(0)
                && m.fields["groupExternalID"] == GoogleDirectory::group_id(0)
        })
        .unwrap();
    assert_eq!(owner.fields["role"], "OWNER");
}

#[each_backend]
async fn a_service_account_with_domain_wide_delegation_connects_as_the_admin_and_syncs(
    backend: TestDb,
) {
    let h = harness(backend, GoogleDirectory::sample(12, 3)).await;
    let id = h.connect_service_account().await;
    assert!(h.fake.auth().grants(JWT_BEARER) >= 1);
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.metadata["externalId"], h.fake.customer_id());
    assert_eq!(
        integration.metadata["attributes"]["connection"],
        "serviceAccount"
    );
    assert_eq!(
        integration.metadata["attributes"]["adminEmail"],
        h.fake.admin_email()
    );
    let run = h.sync(&id).await;
    assert_succeeded(&run);
    assert_eq!(h.records(&id, "DirectoryAccount").await.len(), 12);
    assert_eq!(h.records(&id, "DirectoryGroup").await.len(), 3);
    assert_eq!(
        h.records(&id, "DirectoryMembership").await.len(),
        h.expected_memberships()
    );

    // The pooled client keeps a fresh token...
    let mints = || h.fake.auth().grants(JWT_BEARER);
    let before = mints();
    h.health(&id).await;
    assert_eq!(mints(), before, "a fresh token is reused");

    // ...and mints a new one when it nears expiry, however long the client stays pooled.
    h.fake.auth().set_token_lifetime(120);
    let short_lived = h.connect_service_account().await;
    h.fake.auth().expire_access_tokens();
    let before = mints();
    h.health(&short_lived).await;
    assert_eq!(mints(), before + 1, "a token expiring soon is re-minted");
}

#[each_backend]
async fn bad_service_accounts_are_refused_with_clear_errors_that_hold_no_secret(backend: TestDb) {
    let h = harness(backend, GoogleDirectory::sample(8, 2)).await;
    let key = h.fake.service_account_key_json();
    let private_key_line = tributary_testkit::authorization::CLIENT_PRIVATE_KEY_PEM
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();

    // A regular user as the subject: Google's 403 on the customer is an auth error.
    let user = h
        .fake
        .with_directory(|d| d.users[&GoogleDirectory::user_id(3)]["primaryEmail"].clone());
    let err = h
        .try_connect(h.service_account(&key, user.as_str().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("Not Authorized"), "{err}");

    // A key Google does not know (deleted in Google Cloud): invalid_grant, an auth error.
    let mut unknown: Value = serde_json::from_str(&key).unwrap();
    unknown["private_key"] = json!(UNKNOWN_KEY_PEM);
    let unknown = unknown.to_string();
    let err = h
        .try_connect(h.service_account(&unknown, &h.fake.admin_email()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(UNKNOWN_KEY_PEM.lines().nth(1).unwrap()),
        "{text}"
    );

    // A key file that is not one: a config error that does not quote it.
    let garbled = key.replace("BEGIN PRIVATE KEY", "BEGIN PRIVATE KY");
    for (bad, why) in [
        (garbled.as_str(), "private key"),
        ("{\"client_email\": \"x@y.example\"}", "JSON key file"),
    ] {
        let err = h
            .try_connect(h.service_account(bad, &h.fake.admin_email()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains(why), "{err}");
        let text = format!("{err} {err:?}");
        assert!(!text.contains(&private_key_line), "{text}");
    }
    let err = h
        .try_connect(h.service_account(&key, "not-an-email"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("adminEmail"), "{err}");

    // Nothing was saved by the refused connects.
    assert!(!h.any_connected().await);
}

#[each_backend]
async fn expiring_tokens_are_refreshed_and_a_revoked_refresh_token_needs_reauth(backend: TestDb) {
    let h = harness(backend, GoogleDirectory::sample(5, 1)).await;
    // Tokens expiring within the runtime's five-minute margin are refreshed before use.
    h.fake.auth().set_token_lifetime(120);
    let id = h.connect_oauth().await;
    // The old access token no longer works at Google: only a refreshed one can succeed.
    // Google does not rotate refresh tokens; the stored one is kept.
    let after = h
        .refreshed_on_next_use(h.fake.auth(), &id, OAUTH, RefreshToken::Kept)
        .await;

    // Consent revoked in the Admin console: invalid_grant, the integration needs a reconnect.
    h.fake.auth().revoke_refresh_tokens();
    h.fake.auth().expire_access_tokens();
    let err = h.try_health(&id).await.unwrap_err();
    assert!(matches!(err, RuntimeError::NeedsReauth(_)), "{err}");
    assert!(
        !err.to_string()
            .contains(after["refresh_token"].as_str().unwrap())
    );
    assert_eq!(h.status(&id).await, IntegrationStatus::NeedsReauth);
}

#[each_backend]
async fn a_throttled_sync_resumes_and_deletions_are_tombstoned_by_the_next_complete_sync(
    backend: TestDb,
) {
    let h = harness(backend, GoogleDirectory::sample(520, 4)).await;
    let id = h.connect_oauth().await;
    h.fake.throttle_page(Listing::Users, 2, 300);
    let resumed = h
        .resume_after_rate_limit(&id, "DirectorySync", "DirectoryAccount", 500, 520)
        .await;
    let users = h.requests_starting("/admin/directory/v1/users");
    // First run: page 1, page 2 (throttled); resumed: page 2, then ids only from the start.
    assert!(
        users[2].contains("pageToken="),
        "resumed at page 2: {users:?}"
    );
    assert_eq!(
        h.records(&id, "DirectoryMembership").await.len(),
        h.expected_memberships(),
        "a resumed run still keeps every membership of a directory user"
    );
    assert_eq!(resumed.counters["failed"], 0, "{:?}", resumed.counters);

    // A member page throttled in the groups phase resumes from its group page.
    h.fake.throttle_page(Listing::Members, 1, 300);
    let run = h.sync(&id).await;
    assert_eq!(run.status, RunStatus::Partial);
    let resumed = h.sync(&id).await;
    assert_eq!(resumed.status, RunStatus::Succeeded);

    // Deleted in the Admin console: a user (with its memberships) and a group.
    let gone_user = GoogleDirectory::user_id(9);
    let gone_group = GoogleDirectory::group_id(3);
    h.fake.with_directory(|d| {
        d.delete_user(&gone_user);
        d.groups.remove(&gone_group);
        d.members.remove(&gone_group);
    });
    let full = h.sync(&id).await;
    assert_succeeded(&full);
    assert!(
        full.counters["tombstoned"].as_u64().unwrap() >= 2,
        "{:?}",
        full.counters
    );
    let accounts = h.records(&id, "DirectoryAccount").await;
    assert_eq!(live(&accounts).len(), 519);
    assert!(by_lookup_key(&accounts, &gone_user).deleted_at.is_some());
    let groups = h.records(&id, "DirectoryGroup").await;
    assert!(by_lookup_key(&groups, &gone_group).deleted_at.is_some());
    assert_eq!(
        live(&h.records(&id, "DirectoryMembership").await).len(),
        h.expected_memberships()
    );
}

#[test]
fn mapping_goldens() {
    let mappings = &harness::mappings("google_workspace");
    let fixture = |name: &str| harness::fixture("google_workspace", name);
    for (schema, names) in [
        (
            "DirectoryAccount",
            &[
                "user_admin",
                "user_suspended_never_signed_in",
                "user_archived_minimal",
            ][..],
        ),
        ("DirectoryGroup", &["group", "group_unnamed"][..]),
        (
            "DirectoryMembership",
            &[
                "member_owner",
                "member_manager",
                "member_nested_group",
                "member_customer",
            ][..],
        ),
    ] {
        for name in names {
            let snapshot = tributary_ingest::kit::snapshot(mappings, schema, "", &fixture(name));
            insta::assert_json_snapshot!(format!("google_workspace_{name}"), snapshot);
        }
    }
}

#[each_backend]
async fn production_settings_refuse_loopback_urls_and_oauth_needs_a_client(backend: TestDb) {
    let fake = FakeGoogleWorkspace::start(GoogleDirectory::sample(3, 1))
        .await
        .unwrap();
    // The fake's URLs without the test switch, and no OAuth client.
    let operator = json!({"apiUrl": fake.api_url(), "tokenUrl": fake.token_url()});
    let h = Harness::start(backend, fake, "google_workspace", operator).await;
    let request = h.service_account(&h.fake.service_account_key_json(), &h.fake.admin_email());
    let err = h.try_connect(request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("apiUrl"), "{err}");
    assert!(
        h.requests().is_empty(),
        "nothing was sent to a loopback URL"
    );

    let err = h.try_redirect(h.connect_request(OAUTH)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("clientId"), "{err}");
}
