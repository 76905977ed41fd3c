//! The Cloudflare definition against the fake Cloudflare API on loopback, through the whole
//! runtime (setup flow, queued runs, ingest) on SQLite and PostgreSQL.

use serde_json::{Value, json};
use tributary_core::ErrorKind;
use tributary_runtime::ConnectRequest;
use tributary_store::{
    records::StoredRecord,
    runs::{Run, RunStatus},
    testing::{TestDb, each_backend},
};
use tributary_testkit::cloudflare::{CloudflareAccount, FakeCloudflare, TokenOwner};

use crate::harness::{self, Harness, assert_succeeded, by_lookup_key, logs_requests};

logs_requests!(FakeCloudflare);

const USER_TOKEN: &str = "cf-user-token-0123456789abcdef0123456789";
const ACCOUNT_TOKEN: &str = "cf-account-token-abcdef0123456789abcdef";

async fn harness(backend: TestDb, members: usize) -> Harness<FakeCloudflare> {
    let fake = FakeCloudflare::start(CloudflareAccount::sample(members))
        .await
        .unwrap();
    fake.add_token(USER_TOKEN, TokenOwner::User);
    fake.add_token(ACCOUNT_TOKEN, TokenOwner::Account);
    let operator = json!({"apiUrl": fake.api_url(), "allowLoopbackApiUrl": true});
    Harness::start(backend, fake, "cloudflare", operator).await
}

impl Harness<FakeCloudflare> {
    fn token_request(&self, token: &str, account_id: &str) -> ConnectRequest {
        self.form_request(
            "CloudflareApiToken",
            json!({"apiToken": token}),
            json!({"accountId": account_id}),
        )
    }

    async fn connect_token(&self, token: &str) -> String {
        self.connect(self.token_request(token, &self.fake.account_id()))
            .await
    }

    /// Queues a sync and runs it to its end with a worker.
    async fn sync(&self, integration: &str) -> Run {
        self.run(integration, "DirectorySync", Value::Null).await
    }

    async fn accounts(&self, integration: &str) -> Vec<StoredRecord> {
        self.records(integration, "DirectoryAccount").await
    }
}

#[each_backend]
async fn user_and_account_tokens_connect_and_a_multi_page_sync_maps_every_member(backend: TestDb) {
    let h = harness(backend, 120).await;
    // Account-owned tokens verify under the account (the original never verified them).
    let by_account_token = h.connect_token(ACCOUNT_TOKEN).await;
    let integration = h
        .runtime
        .integration(&h.tenant, &by_account_token)
        .await
        .unwrap();
    assert_eq!(integration.metadata["externalId"], h.fake.account_id());
    let id = h.connect_token(USER_TOKEN).await;
    let health = h.health(&id).await;
    assert_eq!(health["status"], "active");
    assert_eq!(health["accountName"], "Acme Corp");

    let run = h.sync(&id).await;
    assert_succeeded(&run);
    assert_eq!(run.counters["created"], 120);
    let members_requests = h.requests_containing("/members").len();
    assert_eq!(members_requests, 3, "50 a page");
    let accounts = h.accounts(&id).await;
    assert_eq!(accounts.len(), 120);
    let first = by_lookup_key(&accounts, &format!("{:032x}", 0));
    assert_eq!(first.fields["isAdmin"], true);
    assert_eq!(first.fields["mfaState"], "ENABLED");
    assert_eq!(first.fields["canonicalEmail"], "member0@acme.example");
    let pending = by_lookup_key(&accounts, &format!("{:032x}", 4));
    assert_eq!(pending.fields["status"], "PENDING");
}

#[each_backend]
async fn a_throttled_sync_resumes_and_removed_members_are_tombstoned(backend: TestDb) {
    let h = harness(backend, 120).await;
    let id = h.connect_token(USER_TOKEN).await;
    h.fake.throttle_members_page(2, 300);
    h.resume_after_rate_limit(&id, "DirectorySync", "DirectoryAccount", 50, 120)
        .await;
    let pages = h.requests_containing("/members");
    assert!(pages[2].contains("page=2"), "resumed at page 2: {pages:?}");

    h.fake.with_account(|account| {
        account.members.remove(&format!("{:032x}", 7));
    });
    let full = h.sync(&id).await;
    assert_eq!(full.counters["tombstoned"], 1);
    let removed = h
        .record(&id, "DirectoryAccount", &format!("{:032x}", 7))
        .await;
    assert!(removed.deleted_at.is_some());
}

#[each_backend]
async fn bad_tokens_and_accounts_are_refused_with_clear_errors(backend: TestDb) {
    let h = harness(backend, 3).await;
    let err = h
        .try_connect(h.token_request("cf-not-a-token", &h.fake.account_id()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!err.to_string().contains("cf-not-a-token"));
    let err = h
        .try_connect(h.token_request(USER_TOKEN, "not-an-account"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("32 hexadecimal"), "{err}");
    let err = h
        .try_connect(h.token_request(USER_TOKEN, &"f".repeat(32)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");

    // A token revoked after connecting: the sync fails as an auth error.
    let id = h.connect_token(USER_TOKEN).await;
    h.fake.revoke_token(USER_TOKEN);
    let run = h.sync(&id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error_kind.as_deref(), Some("auth"));
    assert!(!run.error_message.unwrap().contains(USER_TOKEN));
}

#[test]
fn mapping_goldens() {
    let mappings = &harness::mappings("cloudflare");
    for name in ["member_admin", "member_pending"] {
        let path = format!(
            "{}/tests/fixtures/cloudflare/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let payload: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let snapshot = tributary_ingest::kit::snapshot(mappings, "DirectoryAccount", "", &payload);
        insta::assert_json_snapshot!(format!("cloudflare_account_{name}"), snapshot);
    }
}
