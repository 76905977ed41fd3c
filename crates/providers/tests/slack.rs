//! The Slack definition against the fake Slack on loopback, through the whole runtime (setup
//! flow with the OAuth redirect, queued runs, ingest, refresh) on SQLite and PostgreSQL.

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Value, json};
use tributary_core::{CallbackParams, ErrorKind};
use tributary_providerkit::{HttpProfile, ProviderHttp, Url};
use tributary_providers::{CatalogConfig, registry};
use tributary_runtime::{
    ConnectOutcome, ConnectRequest, RunRequest, Runtime, RuntimeConfig, RuntimeError,
};
use tributary_store::{
    integrations::IntegrationStatus,
    keystore::KeyRing,
    records::{RecordQuery, StoredRecord, list_records},
    runs::{Run, RunStatus},
    testing::TestDb,
};
use tributary_testkit::slack::{ALL_SCOPES, FakeSlack, SlackWorkspace};

const BOT_TOKEN: &str = "xoxb-1111111111-2222222222-PastedBotToken0123";
const USERS_READ_ONLY_TOKEN: &str = "xoxb-1111111111-3333333333-NoTeamReadScope0";

struct Harness {
    runtime: Runtime,
    tenant: String,
    fake: FakeSlack,
    ring: KeyRing,
    _backend: TestDb,
}

async fn harness(backend: TestDb, extra_members: usize) -> Harness {
    tributary_providerkit::install_crypto_provider();
    let fake = FakeSlack::start(SlackWorkspace::sample(extra_members))
        .await
        .unwrap();
    fake.add_bot_token(BOT_TOKEN, ALL_SCOPES);
    fake.add_bot_token(USERS_READ_ONLY_TOKEN, "users:read");
    let config = CatalogConfig {
        definitions: [("slack".to_owned(), fake.operator_config())].into(),
        public_url: None,
    };
    let ring = KeyRing::generate();
    let runtime = Runtime::new(
        registry(&config).unwrap(),
        backend.db.clone(),
        ring.clone(),
        RuntimeConfig::new("http://127.0.0.1:9"),
    );
    let tenant = runtime.db().tenants().create("t").await.unwrap().id;
    Harness {
        runtime,
        tenant,
        fake,
        ring,
        _backend: backend,
    }
}

/// The query parameters of `url`.
fn params_of(url: &str) -> Vec<(String, String)> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Harness {
    fn token_request(&self, integration: Option<&str>, token: &str) -> ConnectRequest {
        ConnectRequest {
            tenant_id: self.tenant.clone(),
            integration_id: integration.map(str::to_owned),
            definition_id: "slack".into(),
            user_input: Some(json!({})),
            connection: "SlackBotToken".into(),
            credentials: BTreeMap::from([("SlackBotToken".to_owned(), json!({"botToken": token}))]),
            ..Default::default()
        }
    }

    async fn connect_token(&self, integration: Option<&str>, token: &str) -> String {
        match self
            .runtime
            .connect(self.token_request(integration, token))
            .await
            .unwrap()
        {
            ConnectOutcome::Connected(done) => done.integration.id,
            ConnectOutcome::Redirect(_) => panic!("a token connection redirected"),
        }
    }

    /// Starts the OAuth mode, lets the fake approve at once (the browser step), and completes
    /// the flow with the callback's parameters. Returns the integration id.
    async fn connect_oauth(&self, integration: Option<&str>) -> String {
        let redirect = match self
            .runtime
            .connect(ConnectRequest {
                tenant_id: self.tenant.clone(),
                integration_id: integration.map(str::to_owned),
                definition_id: "slack".into(),
                user_input: integration.is_none().then(|| json!({})),
                connection: "SlackOAuth".into(),
                ..Default::default()
            })
            .await
            .unwrap()
        {
            ConnectOutcome::Redirect(redirect) => redirect,
            ConnectOutcome::Connected(_) => panic!("the OAuth mode must redirect"),
        };
        let asked = params_of(&redirect.url);
        let scope = asked.iter().find(|(k, _)| k == "scope").unwrap();
        assert_eq!(
            scope.1, "users:read,users:read.email,team:read,chat:write",
            "comma-separated bot scopes"
        );
        let browser = ProviderHttp::new(HttpProfile::new("browser")).unwrap();
        let answer = browser
            .get(&redirect.url)
            .no_redirects()
            .accept_status(303)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 303);
        let callback = params_of(answer.header("location").unwrap());
        let connected = self
            .runtime
            .complete_auth(CallbackParams::new(callback))
            .await
            .unwrap();
        assert_eq!(connected.integration.id, redirect.integration_id);
        connected.integration.id
    }

    async fn slots(&self, integration: &str) -> Vec<String> {
        self.runtime
            .db()
            .credentials(&self.ring)
            .list(&self.tenant, integration)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.slot)
            .collect()
    }

    async fn stored_oauth(&self, integration: &str) -> Value {
        self.runtime
            .db()
            .credentials(&self.ring)
            .load(&self.tenant, integration, "SlackOAuth")
            .await
            .unwrap()
            .expect("OAuth tokens are stored")
            .secret
            .expose_json()
            .unwrap()
    }

    fn run_request(&self, integration: &str, operation: &str, config: Value) -> RunRequest {
        RunRequest {
            tenant_id: self.tenant.clone(),
            integration_id: integration.to_owned(),
            operation: operation.into(),
            config,
            workflow: None,
        }
    }

    async fn health(&self, integration: &str) -> Result<Value, RuntimeError> {
        self.runtime
            .run_inline(self.run_request(integration, "HealthCheck", Value::Null))
            .await
            .map(|done| done.output)
    }

    /// Queues a run and drives it to its end with a worker.
    async fn queued(&self, integration: &str, operation: &str, config: Value) -> Run {
        let run = self
            .runtime
            .queue_run(self.run_request(integration, operation, config))
            .await
            .unwrap();
        tokio::time::timeout(
            Duration::from_secs(60),
            self.runtime.drive_run(&self.tenant, &run.id, None, |_| {}),
        )
        .await
        .expect("the run did not end within a minute")
        .unwrap()
    }

    async fn sync(&self, integration: &str) -> Run {
        self.queued(integration, "DirectorySync", Value::Null).await
    }

    async fn accounts(&self, integration: &str) -> Vec<StoredRecord> {
        list_records(
            self.runtime.db(),
            &RecordQuery {
                tenant_id: self.tenant.clone(),
                integration_id: Some(integration.to_owned()),
                model: Some("DirectoryAccount".into()),
                lookup_key: None,
                include_deleted: true,
                after: None,
                limit: 1000,
            },
        )
        .await
        .unwrap()
    }

    fn users_list_requests(&self) -> Vec<String> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("users.list"))
            .collect()
    }
}

#[tokio::test]
async fn oauth_and_pasted_token_modes_connect_and_switch_both_ways_on_one_integration() {
    for backend in tributary_store::testing::backends("slack_modes").await {
        let h = harness(backend, 0).await;
        let id = h.connect_oauth(None).await;
        let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
        assert_eq!(integration.status, IntegrationStatus::Connected);
        assert_eq!(integration.provider_state["connection"], "SlackOAuth");
        assert_eq!(integration.metadata["externalId"], "T0ACMEHQ1");
        assert_eq!(integration.metadata["externalName"], "Acme HQ");
        assert_eq!(integration.metadata["attributes"]["teamDomain"], "acme-hq");
        assert_eq!(h.slots(&id).await, ["SlackOAuth"]);
        let tokens = h.stored_oauth(&id).await;
        assert!(
            tokens["access_token"]
                .as_str()
                .unwrap()
                .starts_with("xoxb-")
        );
        assert_eq!(tokens["token_type"], "bot");

        let health = h.health(&id).await.unwrap();
        assert_eq!(health["teamId"], "T0ACMEHQ1");
        assert_eq!(health["teamName"], "Acme HQ");
        assert_eq!(health["botUserId"], "U07TR1BUT0");

        // OAuth -> pasted token: the OAuth tokens are removed.
        let same = h.connect_token(Some(&id), BOT_TOKEN).await;
        assert_eq!(same, id);
        assert_eq!(h.slots(&id).await, ["SlackBotToken"]);
        let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
        assert_eq!(integration.provider_state["connection"], "SlackBotToken");
        assert_eq!(h.health(&id).await.unwrap()["teamId"], "T0ACMEHQ1");

        // And back to OAuth.
        h.connect_oauth(Some(&id)).await;
        assert_eq!(h.slots(&id).await, ["SlackOAuth"]);
        let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
        assert_eq!(integration.provider_state["connection"], "SlackOAuth");

        // Disconnecting the OAuth mode revokes the app's token at Slack.
        let token = h.stored_oauth(&id).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        h.runtime.disconnect(&h.tenant, &id).await.unwrap();
        assert!(
            h.fake
                .requests()
                .iter()
                .any(|r| r.starts_with("auth.revoke"))
        );
        let probe = ProviderHttp::new(HttpProfile::new("probe")).unwrap();
        let answer: Value = probe
            .post(&format!("{}/api/auth.test", h.fake.base_url()))
            .header("authorization", &format!("Bearer {token}"))
            .send_json()
            .await
            .unwrap();
        assert_eq!(answer["error"], "token_revoked");
    }
}

#[tokio::test]
async fn a_multi_page_sync_maps_members_guests_bots_and_deactivated_accounts() {
    for backend in tributary_store::testing::backends("slack_sync").await {
        let h = harness(backend, 450).await;
        let id = h.connect_token(None, BOT_TOKEN).await;
        let run = h.sync(&id).await;
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error_message);
        assert_eq!(run.counters["created"], 456);
        let pages = h.users_list_requests();
        assert_eq!(pages.len(), 3, "200 a page: {pages:?}");
        assert!(pages.iter().all(|p| p.contains("limit=200")));
        assert!(pages[1].contains("cursor="), "{pages:?}");

        let accounts = h.accounts(&id).await;
        assert_eq!(accounts.len(), 456);
        let by_id = |external: &str| {
            accounts
                .iter()
                .find(|r| r.lookup_key == external)
                .unwrap_or_else(|| panic!("{external} was synced"))
                .fields
                .clone()
        };
        let owner = by_id("U01ADM1N01");
        assert_eq!(owner["isAdmin"], true);
        assert_eq!(owner["mfaState"], "DISABLED");
        let member = by_id("U04MEMB3R1");
        assert_eq!(member["canonicalEmail"], "ada.lovelace@acme.example");
        assert_eq!(member["mfaState"], "ENABLED");
        assert_eq!(member["accountType"], "USER");
        assert_eq!(by_id("U02DE1ETED")["status"], "INACTIVE");
        assert_eq!(by_id("U03B0TUSER")["accountType"], "BOT");
        assert_eq!(by_id("U03B0TUSER")["mfaState"], "UNKNOWN");
        assert_eq!(by_id("USLACKBOT")["accountType"], "BOT");
        assert_eq!(by_id("U06GUE5T01")["accountType"], "GUEST");
    }
}

#[tokio::test]
async fn a_throttled_sync_resumes_and_removed_members_are_tombstoned() {
    for backend in tributary_store::testing::backends("slack_throttle").await {
        let h = harness(backend, 450).await;
        let id = h.connect_token(None, BOT_TOKEN).await;
        // Slack asks to wait longer than the client waits: the run stops, keeping its cursor.
        h.fake.throttle_users_page(2, 300);
        let run = h.sync(&id).await;
        assert_eq!(run.status, RunStatus::Partial, "{:?}", run.error_message);
        assert_eq!(run.error_kind.as_deref(), Some("rate_limit"));
        assert_eq!(h.accounts(&id).await.len(), 200);

        let resumed = h.sync(&id).await;
        assert_eq!(resumed.status, RunStatus::Succeeded);
        assert_eq!(h.accounts(&id).await.len(), 456);
        let pages = h.users_list_requests();
        // Page 1, page 2 (throttled), then the resumed run starts at page 2's cursor.
        assert_eq!(pages.len(), 4, "{pages:?}");
        assert_eq!(pages[1], pages[2], "resumed at the saved cursor: {pages:?}");

        h.fake.with_workspace(|workspace| {
            workspace.users.remove("U04MEMB3R1");
        });
        let full = h.sync(&id).await;
        assert_eq!(full.status, RunStatus::Succeeded);
        assert_eq!(full.counters["tombstoned"], 1);
        let removed = h
            .accounts(&id)
            .await
            .into_iter()
            .find(|r| r.lookup_key == "U04MEMB3R1")
            .unwrap();
        assert!(removed.deleted_at.is_some());
    }
}

#[tokio::test]
async fn bad_revoked_and_under_scoped_tokens_are_refused_with_clear_errors() {
    for backend in tributary_store::testing::backends("slack_errors").await {
        let h = harness(backend, 0).await;
        // Not a bot token at all.
        let err = h
            .runtime
            .connect(h.token_request(None, "xoxp-user-token-123456"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("botToken"), "{err}");
        assert!(!err.to_string().contains("xoxp-user-token-123456"));

        // A well-formed token Slack does not know: invalid_auth, an auth error.
        let unknown = "xoxb-0000000000-0000000000-UnknownToken999";
        let err = h
            .runtime
            .connect(h.token_request(None, unknown))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(err.to_string().contains("invalid_auth"), "{err}");
        assert!(!err.to_string().contains(unknown));

        // A token without team:read: missing_scope names the scope.
        let err = h
            .runtime
            .connect(h.token_request(None, USERS_READ_ONLY_TOKEN))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("team:read"), "{err}");

        // A token revoked after connecting: the sync fails as an auth error, without the token.
        let id = h.connect_token(None, BOT_TOKEN).await;
        h.fake.revoke_token(BOT_TOKEN);
        let run = h.sync(&id).await;
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("auth"));
        let message = run.error_message.unwrap();
        assert!(message.contains("token_revoked"), "{message}");
        assert!(!message.contains(BOT_TOKEN));
    }
}

#[tokio::test]
async fn rotating_tokens_are_refreshed_and_a_refused_refresh_asks_to_reconnect() {
    for backend in tributary_store::testing::backends("slack_rotation").await {
        let h = harness(backend, 0).await;
        h.fake.enable_token_rotation(true);
        // Shorter than the runtime's 5-minute margin: the next use refreshes.
        h.fake.set_token_lifetime(120);
        let id = h.connect_oauth(None).await;
        let before = h.stored_oauth(&id).await;
        assert!(
            before["refresh_token"]
                .as_str()
                .unwrap()
                .starts_with("xoxe-1-")
        );
        assert!(before["expires_at"].as_i64().unwrap() > 0);

        h.health(&id).await.unwrap();
        assert_eq!(h.fake.grants("refresh_token"), 1);
        let after = h.stored_oauth(&id).await;
        assert_ne!(after["access_token"], before["access_token"]);
        assert_ne!(after["refresh_token"], before["refresh_token"]);

        h.fake.revoke_refresh_tokens();
        let err = h.health(&id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(err.to_string().contains("invalid_refresh_token"), "{err}");
        let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
        assert_eq!(integration.status, IntegrationStatus::NeedsReauth);
    }
}

#[tokio::test]
async fn messages_are_sent_once_per_destination_throttles_are_waited_out_and_bad_channels_named() {
    for backend in tributary_store::testing::backends("slack_messages").await {
        let h = harness(backend, 0).await;
        let id = h.connect_token(None, BOT_TOKEN).await;
        let blocks =
            json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy* done"}}]);
        // One 429 with Retry-After: 1 on the first post; the kit waits and posts again.
        h.fake.throttle_messages([1]);
        let started = std::time::Instant::now();
        let run = h
            .queued(
                &id,
                "MessageSend",
                json!({"channel": "C0GENERAL1",
                       "destinations": ["C0GENERAL1", "U04MEMB3R1", "U04MEMB3R1"],
                       "text": "Deploy done", "blocks": blocks}),
            )
            .await;
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error_message);
        assert!(
            started.elapsed() >= Duration::from_millis(950),
            "Retry-After honoured"
        );
        let messages = h.fake.messages();
        assert_eq!(messages.len(), 2, "each destination once: {messages:?}");
        assert_eq!(messages[0]["channel"], "C0GENERAL1");
        assert_eq!(messages[0]["blocks"], blocks);
        assert_eq!(
            messages[1]["channel"], "D04MEMB3R1",
            "a user id posts a direct message"
        );
        let posts = h
            .fake
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("chat.postMessage"))
            .count();
        assert_eq!(posts, 3, "two messages and one throttled attempt");
        let result = run.result.unwrap();
        assert_eq!(result["channel"], "C0GENERAL1");
        assert_eq!(result["ts"], messages[0]["ts"]);
        assert_eq!(result["deliveries"].as_array().unwrap().len(), 2);

        // A channel the app cannot see: a config error naming Slack's code.
        let run = h
            .queued(
                &id,
                "MessageSend",
                json!({"channel": "C0NOSUCH01", "text": "hi"}),
            )
            .await;
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("config"));
        assert!(
            run.error_message.unwrap().contains("channel_not_found"),
            "the error names the code"
        );

        // The schema refuses a message without text or blocks before anything is queued.
        let err = h
            .runtime
            .queue_run(h.run_request(&id, "MessageSend", json!({"channel": "C0GENERAL1"})))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert_eq!(h.fake.messages().len(), 2);
    }
}

#[tokio::test]
async fn a_throttled_send_resumes_without_reposting_and_a_different_message_is_never_skipped() {
    for backend in tributary_store::testing::backends("slack_resume").await {
        let h = harness(backend, 0).await;
        let id = h.connect_token(None, BOT_TOKEN).await;
        let send =
            json!({"channel": "C0GENERAL1", "destinations": ["U04MEMB3R1"], "text": "first"});
        // The direct message is throttled for longer than the kit waits: the run ends partial
        // after posting to the channel.
        h.fake.throttle_messages_to("U04MEMB3R1", [300]);
        let throttled = h.queued(&id, "MessageSend", send.clone()).await;
        assert_eq!(
            throttled.status,
            RunStatus::Partial,
            "{:?}",
            throttled.error_message
        );
        assert_eq!(throttled.error_kind.as_deref(), Some("rate_limit"));
        assert_eq!(h.fake.messages().len(), 1);

        // The same message again resumes from the throttled run: only the rest is posted.
        let resumed = h.queued(&id, "MessageSend", send).await;
        assert_eq!(
            resumed.status,
            RunStatus::Succeeded,
            "{:?}",
            resumed.error_message
        );
        let messages = h.fake.messages();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(messages[1]["channel"], "D04MEMB3R1");

        // A throttled run followed by another message: the new one goes everywhere it is sent.
        h.fake.throttle_messages_to("U04MEMB3R1", [300]);
        let throttled = h
            .queued(
                &id,
                "MessageSend",
                json!({"channel": "C0GENERAL1", "destinations": ["U04MEMB3R1"], "text": "third"}),
            )
            .await;
        assert_eq!(throttled.status, RunStatus::Partial);
        let other = h
            .queued(
                &id,
                "MessageSend",
                json!({"channel": "C0GENERAL1", "text": "fourth"}),
            )
            .await;
        assert_eq!(
            other.status,
            RunStatus::Succeeded,
            "{:?}",
            other.error_message
        );
        let messages = h.fake.messages();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert_eq!(messages[3]["text"], "fourth");
        assert_eq!(messages[3]["channel"], "C0GENERAL1");
    }
}

#[test]
fn mapping_goldens() {
    let config = CatalogConfig::default();
    let registry = registry(&config).unwrap();
    let mappings = &registry.definition("slack").unwrap().definition.mappings;
    for name in ["member", "admin", "deleted", "bot", "guest", "slackbot"] {
        let path = format!(
            "{}/tests/fixtures/slack/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let payload: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let snapshot = tributary_ingest::kit::snapshot(mappings, "DirectoryAccount", "", &payload);
        insta::assert_json_snapshot!(format!("slack_account_{name}"), snapshot);
    }
}
