//! The Slack definition against the fake Slack on loopback, through the whole runtime (setup
//! flow with the OAuth redirect, queued runs, ingest, refresh, the Events API's app route) on
//! SQLite and PostgreSQL.

use serde_json::{Value, json};
use tributary_core::{ErrorKind, InboundWebhook};
use tributary_providerkit::{HttpProfile, ProviderHttp};
use tributary_providers::registry;
use tributary_runtime::{ConnectRequest, Runtime, RuntimeConfig, WebhookAck, WebhookRejection};
use tributary_store::{
    integrations::IntegrationStatus,
    records::StoredRecord,
    runs::{Run, RunStatus},
    testing::{TestDb, each_backend},
    webhooks::DeliveryStatus,
};
use tributary_testkit::browser::{approve, query_params};
use tributary_testkit::{
    slack::{ALL_SCOPES, BOT_USER_ID, FakeSlack, SlackWorkspace},
    slack_events::{self, SIGNING_SECRET, VERIFICATION_TOKEN},
};

use crate::harness::{
    self, Harness, assert_rate_limited, assert_succeeded, assert_succeeded_after_retry_after,
    by_lookup_key, catalog_config, eventually, logs_requests, param, start_worker,
};

logs_requests!(FakeSlack);

const BOT_TOKEN: &str = "xoxb-1111111111-2222222222-PastedBotToken0123";
const USERS_READ_ONLY_TOKEN: &str = "xoxb-1111111111-3333333333-NoTeamReadScope0";

async fn harness(backend: TestDb, extra_members: usize) -> Harness<FakeSlack> {
    let fake = FakeSlack::start(SlackWorkspace::sample(extra_members))
        .await
        .unwrap();
    fake.add_bot_token(BOT_TOKEN, ALL_SCOPES);
    fake.add_bot_token(USERS_READ_ONLY_TOKEN, "users:read");
    let operator = fake.operator_config();
    Harness::start(backend, fake, "slack", operator).await
}

impl Harness<FakeSlack> {
    fn token_request(&self, integration: Option<&str>, token: &str) -> ConnectRequest {
        ConnectRequest {
            integration_id: integration.map(str::to_owned),
            ..self.form_request("SlackBotToken", json!({"botToken": token}), json!({}))
        }
    }

    async fn connect_token(&self, integration: Option<&str>, token: &str) -> String {
        self.connect(self.token_request(integration, token)).await
    }

    /// Starts the OAuth mode, lets the fake approve at once (the browser step), and completes
    /// the flow with the callback's parameters. Returns the integration id.
    async fn connect_oauth(&self, integration: Option<&str>) -> String {
        let redirect = self
            .redirect(ConnectRequest {
                integration_id: integration.map(str::to_owned),
                user_input: integration.is_none().then(|| json!({})),
                ..self.connect_request("SlackOAuth")
            })
            .await;
        let asked = query_params(&redirect.url);
        assert_eq!(
            param(&asked, "scope"),
            Some("users:read,users:read.email,team:read,chat:write"),
            "comma-separated bot scopes"
        );
        let connected = self
            .complete_auth(approve(&redirect.url).await)
            .await
            .unwrap();
        assert_eq!(connected, redirect.integration_id);
        connected
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
        self.stored_credential(integration, "SlackOAuth").await
    }

    async fn sync(&self, integration: &str) -> Run {
        self.run(integration, "DirectorySync", Value::Null).await
    }

    async fn accounts(&self, integration: &str) -> Vec<StoredRecord> {
        self.records(integration, "DirectoryAccount").await
    }

    fn users_list_requests(&self) -> Vec<String> {
        self.requests_starting("users.list")
    }
}

#[each_backend]
async fn oauth_and_pasted_token_modes_connect_and_switch_both_ways_on_one_integration(
    backend: TestDb,
) {
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

    let health = h.health(&id).await;
    assert_eq!(health["teamId"], "T0ACMEHQ1");
    assert_eq!(health["teamName"], "Acme HQ");
    assert_eq!(health["botUserId"], "U07TR1BUT0");

    // OAuth -> pasted token: the OAuth tokens are removed.
    let same = h.connect_token(Some(&id), BOT_TOKEN).await;
    assert_eq!(same, id);
    assert_eq!(h.slots(&id).await, ["SlackBotToken"]);
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.provider_state["connection"], "SlackBotToken");
    assert_eq!(h.health(&id).await["teamId"], "T0ACMEHQ1");

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
    assert!(h.requests().iter().any(|r| r.starts_with("auth.revoke")));
    let probe = ProviderHttp::new(HttpProfile::new("probe")).unwrap();
    let answer: Value = probe
        .post(&format!("{}/api/auth.test", h.fake.base_url()))
        .header("authorization", &format!("Bearer {token}"))
        .send_json()
        .await
        .unwrap();
    assert_eq!(answer["error"], "token_revoked");
}

#[each_backend]
async fn a_multi_page_sync_maps_members_guests_bots_and_deactivated_accounts(backend: TestDb) {
    let h = harness(backend, 450).await;
    let id = h.connect_token(None, BOT_TOKEN).await;
    let run = h.sync(&id).await;
    assert_succeeded(&run);
    assert_eq!(run.counters["created"], 456);
    let pages = h.users_list_requests();
    assert_eq!(pages.len(), 3, "200 a page: {pages:?}");
    assert!(pages.iter().all(|p| p.contains("limit=200")));
    assert!(pages[1].contains("cursor="), "{pages:?}");

    let accounts = h.accounts(&id).await;
    assert_eq!(accounts.len(), 456);
    let by_id = |external: &str| by_lookup_key(&accounts, external).fields.clone();
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

#[each_backend]
async fn a_throttled_sync_resumes_and_removed_members_are_tombstoned(backend: TestDb) {
    let h = harness(backend, 450).await;
    let id = h.connect_token(None, BOT_TOKEN).await;
    // Slack asks to wait longer than the client waits: the run stops, keeping its cursor.
    h.fake.throttle_users_page(2, 300);
    h.resume_after_rate_limit(&id, "DirectorySync", "DirectoryAccount", 200, 456)
        .await;
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
    let removed = h.record(&id, "DirectoryAccount", "U04MEMB3R1").await;
    assert!(removed.deleted_at.is_some());
}

#[each_backend]
async fn bad_revoked_and_under_scoped_tokens_are_refused_with_clear_errors(backend: TestDb) {
    let h = harness(backend, 0).await;
    // Not a bot token at all.
    let err = h
        .try_connect(h.token_request(None, "xoxp-user-token-123456"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("botToken"), "{err}");
    assert!(!err.to_string().contains("xoxp-user-token-123456"));

    // A well-formed token Slack does not know: invalid_auth, an auth error.
    let unknown = "xoxb-0000000000-0000000000-UnknownToken999";
    let err = h
        .try_connect(h.token_request(None, unknown))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("invalid_auth"), "{err}");
    assert!(!err.to_string().contains(unknown));

    // A token without team:read: missing_scope names the scope.
    let err = h
        .try_connect(h.token_request(None, USERS_READ_ONLY_TOKEN))
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

#[each_backend]
async fn rotating_tokens_are_refreshed_and_a_refused_refresh_asks_to_reconnect(backend: TestDb) {
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

    h.health(&id).await;
    assert_eq!(h.fake.grants("refresh_token"), 1);
    let after = h.stored_oauth(&id).await;
    assert_ne!(after["access_token"], before["access_token"]);
    assert_ne!(after["refresh_token"], before["refresh_token"]);

    h.fake.revoke_refresh_tokens();
    let err = h.try_health(&id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("invalid_refresh_token"), "{err}");
    assert_eq!(h.status(&id).await, IntegrationStatus::NeedsReauth);
}

#[each_backend]
async fn messages_are_sent_once_per_destination_throttles_are_waited_out_and_bad_channels_named(
    backend: TestDb,
) {
    let h = harness(backend, 0).await;
    let id = h.connect_token(None, BOT_TOKEN).await;
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy* done"}}]);
    // One 429 with Retry-After: 1 on the first post; the kit waits and posts again.
    h.fake.throttle_messages([1]);
    let started = std::time::Instant::now();
    let run = h
        .run(
            &id,
            "MessageSend",
            json!({"channel": "C0GENERAL1",
                   "destinations": ["C0GENERAL1", "U04MEMB3R1", "U04MEMB3R1"],
                   "text": "Deploy done", "blocks": blocks}),
        )
        .await;
    assert_succeeded_after_retry_after(&run, started);
    let messages = h.fake.messages();
    assert_eq!(messages.len(), 2, "each destination once: {messages:?}");
    assert_eq!(messages[0]["channel"], "C0GENERAL1");
    assert_eq!(messages[0]["blocks"], blocks);
    assert_eq!(
        messages[1]["channel"], "D04MEMB3R1",
        "a user id posts a direct message"
    );
    let posts = h
        .requests_where(|r| r.starts_with("chat.postMessage"))
        .len();
    assert_eq!(posts, 3, "two messages and one throttled attempt");
    let result = run.result.unwrap();
    assert_eq!(result["channel"], "C0GENERAL1");
    assert_eq!(result["ts"], messages[0]["ts"]);
    assert_eq!(result["deliveries"].as_array().unwrap().len(), 2);

    // A channel the app cannot see: a config error naming Slack's code.
    let run = h
        .run(
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

#[each_backend]
async fn a_throttled_send_resumes_without_reposting_and_a_different_message_is_never_skipped(
    backend: TestDb,
) {
    let h = harness(backend, 0).await;
    let id = h.connect_token(None, BOT_TOKEN).await;
    let send = json!({"channel": "C0GENERAL1", "destinations": ["U04MEMB3R1"], "text": "first"});
    // The direct message is throttled for longer than the kit waits: the run ends partial
    // after posting to the channel.
    h.fake.throttle_messages_to("U04MEMB3R1", [300]);
    let throttled = h.run(&id, "MessageSend", send.clone()).await;
    assert_rate_limited(&throttled);
    assert_eq!(h.fake.messages().len(), 1);

    // The same message again resumes from the throttled run: only the rest is posted.
    let resumed = h.run(&id, "MessageSend", send).await;
    assert_succeeded(&resumed);
    let messages = h.fake.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1]["channel"], "D04MEMB3R1");

    // A throttled run followed by another message: the new one goes everywhere it is sent.
    h.fake.throttle_messages_to("U04MEMB3R1", [300]);
    let throttled = h
        .run(
            &id,
            "MessageSend",
            json!({"channel": "C0GENERAL1", "destinations": ["U04MEMB3R1"], "text": "third"}),
        )
        .await;
    assert_eq!(throttled.status, RunStatus::Partial);
    let other = h
        .run(
            &id,
            "MessageSend",
            json!({"channel": "C0GENERAL1", "text": "fourth"}),
        )
        .await;
    assert_succeeded(&other);
    let messages = h.fake.messages();
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert_eq!(messages[3]["text"], "fourth");
    assert_eq!(messages[3]["channel"], "C0GENERAL1");
}

/// Unix seconds now: Slack's request timestamps must be within five minutes of receipt.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn inbound((headers, body): (Vec<(String, String)>, Vec<u8>)) -> InboundWebhook {
    InboundWebhook {
        method: "POST".into(),
        headers,
        query: Vec::new(),
        body,
        received_at: unix_now(),
    }
}

impl Harness<FakeSlack> {
    /// Sends a request to the app's Request URL, `/v1/webhooks/apps/slack/events`.
    async fn post_event(
        &self,
        request: (Vec<(String, String)>, Vec<u8>),
    ) -> Result<WebhookAck, WebhookRejection> {
        self.runtime
            .receive_app_webhook("slack", "events", &inbound(request))
            .await
    }

    /// Sends `payload` signed now with the app's signing secret; it must be stored and queued.
    async fn deliver_event(&self, payload: &Value, event: &str) -> String {
        let ack = self
            .post_event(slack_events::signed_now(SIGNING_SECRET, payload))
            .await
            .unwrap();
        match ack {
            WebhookAck::Accepted {
                delivery,
                duplicate: false,
                queued: true,
                event: Some(name),
            } if name == event => delivery,
            other => panic!("{event} was not stored for one integration: {other:?}"),
        }
    }

    async fn delivery_done(&self, delivery: &str) {
        eventually(&format!("delivery {delivery} is processed"), || async {
            let status = self
                .runtime
                .db()
                .webhooks(&self.ring)
                .get_delivery(&self.tenant, delivery)
                .await
                .unwrap()
                .map(|d| d.status);
            assert_ne!(status, Some(DeliveryStatus::Failed), "delivery {delivery}");
            status == Some(DeliveryStatus::Done)
        })
        .await;
    }

    async fn account(&self, integration: &str, user: &str) -> Option<Value> {
        self.accounts(integration)
            .await
            .into_iter()
            .find(|r| r.lookup_key == user)
            .map(|r| r.fields)
    }
}

#[each_backend]
async fn events_verify_route_by_workspace_ingest_members_and_tear_down_on_uninstall(
    backend: TestDb,
) {
    let h = harness(backend, 0).await;
    let team = h.fake.team_id();
    let id = h.connect_oauth(None).await;
    let metadata = h
        .runtime
        .integration(&h.tenant, &id)
        .await
        .unwrap()
        .metadata;
    assert_eq!(metadata["attributes"]["eventsTeamId"], team.as_str());
    // A bot-token integration of the same workspace belongs to another app: never routed to.
    let pasted = h.connect_token(None, BOT_TOKEN).await;
    let pasted_metadata = h
        .runtime
        .integration(&h.tenant, &pasted)
        .await
        .unwrap()
        .metadata;
    assert!(pasted_metadata["attributes"].get("eventsTeamId").is_none());
    for integration in [&id, &pasted] {
        let run = h.sync(integration).await;
        assert_succeeded(&run);
    }
    let lists = h.users_list_requests().len();
    let worker = start_worker(&h.runtime);

    // Slack checks the Request URL with a signed url_verification; the challenge is echoed.
    let check = slack_events::url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7");
    match h
        .post_event(slack_events::signed_now(SIGNING_SECRET, &check))
        .await
        .unwrap()
    {
        WebhookAck::Handshake {
            status,
            content_type,
            body,
        } => {
            assert_eq!(status, 200);
            assert_eq!(content_type, "text/plain");
            assert_eq!(body, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7");
        }
        other => panic!("the URL check is answered: {other:?}"),
    }
    // Unsigned, it is refused rather than answered.
    let unsigned = h
        .post_event((Vec::new(), serde_json::to_vec(&check).unwrap()))
        .await
        .unwrap_err();
    assert!(
        matches!(&unsigned, WebhookRejection::Unverified(m) if m.contains("Timestamp")),
        "{unsigned:?}"
    );

    // A member is made an admin and retitled: the event carries the whole user object.
    let changed = h.fake.with_workspace(|workspace| {
        let user = workspace.users.get_mut("U04MEMB3R1").unwrap();
        user["is_admin"] = json!(true);
        user["profile"]["title"] = json!("Chief Analytical Engineer");
        user["updated"] = json!(1_718_700_000);
        user.clone()
    });
    let change = slack_events::user_change(&team, "Ev0CHANGE001", &changed);

    // A wrong secret, a stale timestamp and a tampered body are refused; nothing is stored.
    let forged = h
        .post_event(slack_events::signed_now("not-the-signing-secret", &change))
        .await
        .unwrap_err();
    assert!(
        matches!(&forged, WebhookRejection::Unverified(m) if m.contains("does not match")),
        "{forged:?}"
    );
    assert!(!format!("{forged:?}").contains(SIGNING_SECRET));
    let stale = h
        .post_event(slack_events::signed_request(
            SIGNING_SECRET,
            unix_now() - 10 * 60,
            &change,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&stale, WebhookRejection::Unverified(m) if m.contains("window")),
        "{stale:?}"
    );
    let (headers, mut body) = slack_events::signed_now(SIGNING_SECRET, &change);
    let at = body.len() / 2;
    body[at] ^= 0x01;
    assert!(matches!(
        h.post_event((headers, body)).await.unwrap_err(),
        WebhookRejection::Unverified(_)
    ));
    assert_eq!(
        h.account(&id, "U04MEMB3R1").await.unwrap()["isAdmin"],
        false
    );

    // Signed, it reaches the OAuth integration only, and the account follows without a sync.
    let delivery = h.deliver_event(&change, "UserChange").await;
    h.delivery_done(&delivery).await;
    let account = h.account(&id, "U04MEMB3R1").await.unwrap();
    assert_eq!(account["isAdmin"], true);
    assert_eq!(account["jobTitle"], "Chief Analytical Engineer");
    assert_eq!(account["roles"], json!(["admin"]));
    assert_eq!(account["canonicalEmail"], "ada.lovelace@acme.example");
    assert_eq!(
        h.account(&pasted, "U04MEMB3R1").await.unwrap()["isAdmin"],
        false,
        "the bot-token integration keeps its reconcile-only view"
    );

    // Slack's retry of the same event (same event_id and body) is a duplicate.
    let retry = h
        .post_event(slack_events::retried(SIGNING_SECRET, &change, 1))
        .await
        .unwrap();
    assert!(
        matches!(&retry, WebhookAck::Accepted { duplicate: true, delivery: d, .. } if *d == delivery),
        "{retry:?}"
    );

    // The stored delivery is the envelope without the app's verification token.
    let stored = h
        .runtime
        .db()
        .webhooks(&h.ring)
        .get_delivery(&h.tenant, &delivery)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.delivery_id, "Ev0CHANGE001");
    assert_eq!(stored.payload["payload"]["event"]["type"], "user_change");
    assert!(!stored.payload.to_string().contains(VERIFICATION_TOKEN));

    // A new member joins: their account is added.
    let joined = tributary_testkit::slack::member(7);
    h.fake.with_workspace(|workspace| {
        workspace
            .users
            .insert(joined["id"].as_str().unwrap().to_owned(), joined.clone())
    });
    let delivery = h
        .deliver_event(
            &slack_events::team_join(&team, "Ev0JOIN00001", &joined),
            "TeamJoin",
        )
        .await;
    h.delivery_done(&delivery).await;
    let account = h.account(&id, "U1000000007").await.unwrap();
    assert_eq!(account["canonicalEmail"], "member7@acme.example");
    assert_eq!(account["status"], "ACTIVE");
    assert_eq!(h.accounts(&id).await.len(), 7);
    // Someone of another organisation, seen through a Slack Connect channel, is no member.
    let mut stranger = tributary_testkit::slack::member(8);
    stranger["id"] = json!("U0STRANGER1");
    stranger["team_id"] = json!("T0PARTNER1");
    stranger["profile"]["team"] = json!("T0PARTNER1");
    let delivery = h
        .deliver_event(
            &slack_events::user_change(&team, "Ev0STRANGER1", &stranger),
            "UserChange",
        )
        .await;
    h.delivery_done(&delivery).await;
    assert!(h.account(&id, "U0STRANGER1").await.is_none());
    assert_eq!(h.accounts(&id).await.len(), 7);
    assert_eq!(
        h.users_list_requests().len(),
        lists,
        "events are ingested without a sync"
    );

    // Events Tributary does not handle are recorded; a workspace nobody connected is ignored.
    let message = slack_events::event_callback(
        &team,
        "Ev0MESSAGE01",
        json!({"type": "message", "channel": "C0GENERAL1", "user": "U04MEMB3R1",
               "text": "hi", "ts": "1718700000.000100", "event_ts": "1718700000.000100",
               "channel_type": "channel"}),
    );
    let ack = h
        .post_event(slack_events::signed_now(SIGNING_SECRET, &message))
        .await
        .unwrap();
    assert!(
        matches!(ack, WebhookAck::Accepted { event: None, .. }),
        "{ack:?}"
    );
    let elsewhere = slack_events::user_change("T0ELSEWHERE", "Ev0ELSEWHERE", &changed);
    let ack = h
        .post_event(slack_events::signed_now(SIGNING_SECRET, &elsewhere))
        .await
        .unwrap();
    assert!(matches!(ack, WebhookAck::Ignored { .. }), "{ack:?}");

    // A user's token revoked leaves the bot's connection alone.
    let delivery = h
        .deliver_event(
            &slack_events::tokens_revoked(&team, "Ev0REVOKE001", &["U04MEMB3R1"], &[]),
            "TokensRevoked",
        )
        .await;
    h.delivery_done(&delivery).await;
    assert_eq!(h.status(&id).await, IntegrationStatus::Connected);

    // The app is uninstalled: the OAuth integration is disconnected, the other one is not.
    let delivery = h
        .deliver_event(
            &slack_events::app_uninstalled(&team, "Ev0UNINSTALL"),
            "AppUninstalled",
        )
        .await;
    h.delivery_done(&delivery).await;
    assert_eq!(h.status(&id).await, IntegrationStatus::Disconnected);
    assert_eq!(h.status(&pasted).await, IntegrationStatus::Connected);
    // Later events of the workspace belong to no connected integration.
    let ack = h
        .post_event(slack_events::signed_now(
            SIGNING_SECRET,
            &slack_events::user_change(&team, "Ev0AFTER0001", &changed),
        ))
        .await
        .unwrap();
    assert!(matches!(ack, WebhookAck::Ignored { .. }), "{ack:?}");

    // Revoking the bot token of a reconnected installation disconnects it too.
    h.connect_oauth(Some(&id)).await;
    let delivery = h
        .deliver_event(
            &slack_events::tokens_revoked(&team, "Ev0REVOKE002", &[], &[BOT_USER_ID]),
            "TokensRevoked",
        )
        .await;
    h.delivery_done(&delivery).await;
    assert_eq!(h.status(&id).await, IntegrationStatus::Disconnected);

    // Without a signing secret in the operator config the route is closed.
    let mut operator = h.fake.operator_config();
    operator.as_object_mut().unwrap().remove("signingSecret");
    let closed = Runtime::new(
        registry(&catalog_config("slack", operator)).unwrap(),
        h.runtime.db().clone(),
        h.ring.clone(),
        RuntimeConfig::new("http://127.0.0.1:9"),
    );
    for payload in [&check, &change] {
        let refused = closed
            .receive_app_webhook(
                "slack",
                "events",
                &inbound(slack_events::signed_now(SIGNING_SECRET, payload)),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, WebhookRejection::Unverified(m) if m.contains("signing secret")),
            "{refused:?}"
        );
    }
    worker.stop().await;
}

#[test]
fn mapping_goldens() {
    let mappings = &harness::mappings("slack");
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
