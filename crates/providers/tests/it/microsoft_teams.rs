//! The Microsoft Teams definition against the fake Microsoft identity platform and Graph on
//! loopback, through the whole runtime (the sign-in redirect, the health check, queued message
//! sends, refresh with rotation) on SQLite and PostgreSQL.

use std::time::Instant;

use serde_json::{Value, json};
use tributary_core::ErrorKind;
use tributary_runtime::{ConnectRequest, RuntimeError};
use tributary_store::{
    integrations::IntegrationStatus,
    runs::{Run, RunStatus},
    testing::{TestDb, each_backend},
};
use tributary_testkit::browser::{approve, query_params};
use tributary_testkit::microsoft_teams::{
    CLIENT_SECRET, FakeMicrosoftTeams, TENANT_ID, TeamsTenant,
};

use crate::harness::{
    Harness, RefreshToken, assert_rate_limited, assert_succeeded,
    assert_succeeded_after_retry_after, authorize_query, logs_requests, param,
};

logs_requests!(FakeMicrosoftTeams);

const SLOT: &str = "MicrosoftTeamsOAuth";

async fn harness(backend: TestDb) -> Harness<FakeMicrosoftTeams> {
    harness_with(backend, |_| {}).await
}

/// A harness whose operator config is changed by `tweak`.
async fn harness_with(
    backend: TestDb,
    tweak: impl FnOnce(&mut Value),
) -> Harness<FakeMicrosoftTeams> {
    let fake = FakeMicrosoftTeams::start(TeamsTenant::sample())
        .await
        .unwrap();
    let mut operator = fake.operator_config();
    tweak(&mut operator);
    Harness::start(backend, fake, "microsoft_teams", operator).await
}

impl Harness<FakeMicrosoftTeams> {
    /// Starts the sign-in and returns the provider URL the user is sent to.
    async fn start_sign_in(&self) -> String {
        self.redirect(self.connect_request(SLOT)).await.url
    }

    /// The callback parameters Microsoft sends back after approving `url`.
    async fn approve(&self, url: &str) -> Vec<(String, String)> {
        approve(url).await
    }

    /// Starts the sign-in, lets the fake approve at once (the browser step) and completes the
    /// flow with the callback's parameters. Returns the integration id.
    async fn sign_in(&self) -> String {
        self.sign_in_to(None).await
    }

    /// [`sign_in`](Self::sign_in), to an existing integration when `integration` is given.
    async fn sign_in_to(&self, integration: Option<&str>) -> String {
        let redirect = self
            .redirect(ConnectRequest {
                integration_id: integration.map(str::to_owned),
                ..self.connect_request(SLOT)
            })
            .await;
        let authorize_url = format!(
            "{}/organizations/oauth2/v2.0/authorize",
            self.fake.login_url()
        );
        let asked = authorize_query(&redirect, &authorize_url);
        let scopes: Vec<&str> = param(&asked, "scope").unwrap().split(' ').collect();
        // Graph permissions are asked for on the configured Graph (here the fake's; a national
        // cloud's in production), never on the public cloud's whatever `graphUrl` says.
        let graph = self.fake.graph_url();
        let graph = graph.trim_end_matches('/');
        for needed in [
            "openid".to_owned(),
            "offline_access".to_owned(),
            format!("{graph}/User.Read"),
            format!("{graph}/Team.ReadBasic.All"),
            format!("{graph}/ChannelMessage.Send"),
            format!("{graph}/ChatMessage.Send"),
        ] {
            assert!(scopes.contains(&needed.as_str()), "{needed} in {scopes:?}");
        }
        assert!(
            !scopes
                .iter()
                .any(|scope| scope.contains("graph.microsoft.com"))
        );
        assert_eq!(param(&asked, "code_challenge_method"), Some("S256"));
        assert!(param(&asked, "nonce").is_some_and(|n| !n.is_empty()));
        assert_eq!(param(&asked, "response_type"), Some("code"));
        assert_eq!(param(&asked, "response_mode"), Some("query"));
        let callback = self.approve(&redirect.url).await;
        let connected = self.complete_auth(callback).await.unwrap();
        assert_eq!(connected, redirect.integration_id);
        connected
    }

    async fn stored_tokens(&self, integration: &str) -> Value {
        self.stored_credential(integration, SLOT).await
    }

    /// Queues a run and drives it to its end with a worker.
    async fn send(&self, integration: &str, config: Value) -> Run {
        self.run(integration, "MessageSend", config).await
    }

    fn posts(&self) -> usize {
        self.requests_starting("POST ").len()
    }

    /// Every secret the flow handled: none may appear in an error.
    async fn secrets(&self, integration: &str) -> Vec<String> {
        let tokens = self.stored_tokens(integration).await;
        let mut secrets = vec![CLIENT_SECRET.to_owned()];
        for field in ["access_token", "refresh_token", "id_token"] {
            if let Some(value) = tokens[field].as_str() {
                secrets.push(value.to_owned());
            }
        }
        secrets
    }
}

fn assert_no_secret(text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!text.contains(secret.as_str()), "a secret leaked: {text}");
    }
}

#[each_backend]
async fn the_sign_in_connects_resolves_the_tenant_and_the_health_check_reads_user_and_teams(
    backend: TestDb,
) {
    let h = harness(backend).await;
    let id = h.sign_in().await;
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::Connected);
    assert_eq!(integration.provider_state["connection"], SLOT);
    assert_eq!(integration.metadata["externalId"], TENANT_ID);
    assert_eq!(
        integration.metadata["externalName"],
        "MeganB@contoso.onmicrosoft.com"
    );
    let attributes = &integration.metadata["attributes"];
    assert_eq!(attributes["tenantId"], TENANT_ID);
    assert_eq!(attributes["userId"], "8b081ef6-4792-4def-b2c9-c363a1bf41d5");
    assert_eq!(attributes["displayName"], "Megan Bowen");

    let tokens = h.stored_tokens(&id).await;
    assert!(tokens["refresh_token"].is_string(), "offline access");
    assert!(tokens["expires_at"].as_i64().unwrap() > 0);
    assert_eq!(h.fake.auth().grants("authorization_code"), 1);

    // Graph throttles the first call; the kit waits Retry-After and asks again.
    h.fake.throttle([1]);
    let health = h.health(&id).await;
    insta::assert_json_snapshot!("microsoft_teams_health_check", health);
    assert_eq!(
        health["userPrincipalName"],
        "MeganB@contoso.onmicrosoft.com"
    );
    assert_eq!(health["joinedTeamCount"], 2);
    assert_eq!(health["joinedTeams"][0]["displayName"], "Security");
    assert_eq!(health["joinedTeams"][1]["id"], TeamsTenant::ENGINEERING);
    let requests = h.requests();
    assert!(
        requests.contains(&"GET /v1.0/me".to_owned()),
        "{requests:?}"
    );
    assert!(requests.contains(&"GET /v1.0/me/joinedTeams".to_owned()));
}

#[each_backend]
async fn messages_go_to_channels_and_chats_once_each_and_throttles_are_waited_out(backend: TestDb) {
    let h = harness(backend).await;
    let id = h.sign_in().await;
    // One 429 with Retry-After: 1 on the first post; the kit waits and posts again.
    h.fake.throttle_posts([1]);
    let started = Instant::now();
    let run = h
        .send(
            &id,
            json!({
                "teamId": TeamsTenant::ENGINEERING.to_uppercase(),
                "channelId": TeamsTenant::GENERAL,
                "chatId": TeamsTenant::GROUP_CHAT,
                "destinations": [
                    {"teamId": TeamsTenant::ENGINEERING, "channelId": TeamsTenant::GENERAL},
                    {"chatId": TeamsTenant::GROUP_CHAT},
                    {"teamId": TeamsTenant::SECURITY, "channelId": TeamsTenant::INCIDENTS},
                ],
                "body": "<p>Deploy <b>42</b> is done</p>",
                "bodyFormat": "html",
                "subject": "Deploys",
            }),
        )
        .await;
    assert_succeeded_after_retry_after(&run, started);
    let messages = h.fake.messages();
    assert_eq!(messages.len(), 3, "each destination once: {messages:?}");
    assert_eq!(messages[0]["teamId"], TeamsTenant::ENGINEERING);
    assert_eq!(messages[0]["channelId"], TeamsTenant::GENERAL);
    assert_eq!(messages[0]["contentType"], "html");
    assert_eq!(messages[0]["content"], "<p>Deploy <b>42</b> is done</p>");
    assert_eq!(messages[0]["subject"], "Deploys");
    assert_eq!(messages[1]["chatId"], TeamsTenant::GROUP_CHAT);
    assert_eq!(messages[1]["subject"], Value::Null, "chats have no subject");
    assert_eq!(messages[2]["channelId"], TeamsTenant::INCIDENTS);
    assert_eq!(h.posts(), 4, "three messages and one throttled attempt");

    let result = run.result.unwrap();
    insta::assert_json_snapshot!("microsoft_teams_message_send_result", result, {
        ".messageId" => "[message id]",
        ".createdDateTime" => "[created]",
        ".deliveries[].messageId" => "[message id]",
        ".deliveries[].createdDateTime" => "[created]",
        ".deliveries[].webUrl" => "[web url]",
    });
    assert_eq!(result["messageId"], messages[0]["id"]);
    assert!(result["createdDateTime"].as_str().unwrap().ends_with('Z'));
    let deliveries = result["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    assert_eq!(deliveries[1]["chatId"], TeamsTenant::GROUP_CHAT);
    assert_eq!(deliveries[1]["messageId"], messages[1]["id"]);
    assert!(
        deliveries[0]["webUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://teams.microsoft.com/l/message/")
    );

    // Plain text is the default format.
    let run = h
        .send(
            &id,
            json!({"chatId": TeamsTenant::ONE_ON_ONE, "body": "ping"}),
        )
        .await;
    assert_succeeded(&run);
    let last = h.fake.messages().pop().unwrap();
    assert_eq!(last["contentType"], "text");
    assert_eq!(last["chatId"], TeamsTenant::ONE_ON_ONE);
}

#[each_backend]
async fn a_throttled_send_resumes_without_posting_twice_and_a_new_message_is_not_skipped(
    backend: TestDb,
) {
    let h = harness(backend).await;
    let id = h.sign_in().await;
    let send = json!({
        "destinations": [
            {"teamId": TeamsTenant::ENGINEERING, "channelId": TeamsTenant::ALERTS},
            {"chatId": TeamsTenant::GROUP_CHAT},
        ],
        "body": "Certificate expires in 7 days",
    });
    // The channel post goes through; the chat is throttled for longer than the kit waits.
    h.fake.throttle_posts_to(TeamsTenant::GROUP_CHAT, [300]);
    let run = h.send(&id, send.clone()).await;
    assert_rate_limited(&run);
    assert_eq!(h.fake.messages().len(), 1);

    // The same send again starts from the throttled run's checkpoint: what was posted is
    // not posted again.
    let resumed = h.send(&id, send).await;
    assert_succeeded(&resumed);
    let messages = h.fake.messages();
    assert_eq!(
        messages.len(),
        2,
        "each destination once over both runs: {messages:?}"
    );
    assert_eq!(messages[0]["channelId"], TeamsTenant::ALERTS);
    assert_eq!(messages[1]["chatId"], TeamsTenant::GROUP_CHAT);
    assert_eq!(
        resumed.result.unwrap()["deliveries"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A throttled run followed by a different message: nothing of it is skipped.
    h.fake.throttle_posts_to(TeamsTenant::GROUP_CHAT, [300]);
    let throttled = h
        .send(
            &id,
            json!({"chatId": TeamsTenant::GROUP_CHAT, "body": "first"}),
        )
        .await;
    assert_eq!(throttled.status, RunStatus::Partial);
    let other = h
        .send(
            &id,
            json!({"chatId": TeamsTenant::GROUP_CHAT, "body": "second"}),
        )
        .await;
    assert_eq!(other.status, RunStatus::Succeeded);
    let messages = h.fake.messages();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[2]["content"], "second");
}

#[each_backend]
async fn unknown_channels_teams_and_chats_are_named_in_the_error(backend: TestDb) {
    let h = harness(backend).await;
    let id = h.sign_in().await;
    let missing_channel = "19:00000000000000000000000000000000@thread.tacv2";
    let run = h
        .send(
            &id,
            json!({"teamId": TeamsTenant::ENGINEERING, "channelId": missing_channel,
                   "body": "hi"}),
        )
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error_kind.as_deref(), Some("config"));
    let message = run.error_message.unwrap();
    assert!(message.contains(missing_channel), "{message}");
    assert!(message.contains("404"), "{message}");
    assert!(
        message.contains("was not found"),
        "Graph's message: {message}"
    );

    let missing_team = "0badc0de-0000-4000-8000-000000000000";
    let run = h
        .send(
            &id,
            json!({"teamId": missing_team, "channelId": TeamsTenant::GENERAL, "body": "hi"}),
        )
        .await;
    assert_eq!(run.error_kind.as_deref(), Some("config"));
    assert!(run.error_message.unwrap().contains(missing_team));

    let missing_chat = "19:ffffffffffffffffffffffffffffffff@thread.v2";
    let run = h
        .send(&id, json!({"chatId": missing_chat, "body": "hi"}))
        .await;
    assert_eq!(run.error_kind.as_deref(), Some("config"));
    assert!(run.error_message.unwrap().contains(missing_chat));

    // A name instead of an id is refused before anything is sent.
    let run = h
        .send(
            &id,
            json!({"teamId": TeamsTenant::ENGINEERING, "channelId": "General", "body": "hi"}),
        )
        .await;
    assert_eq!(run.error_kind.as_deref(), Some("config"));
    assert!(run.error_message.unwrap().contains("not a channel id"));

    // The schema refuses a message without a body before anything is queued.
    let err = h
        .runtime
        .queue_run(h.run_request(
            &id,
            "MessageSend",
            json!({"chatId": TeamsTenant::GROUP_CHAT}),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(h.fake.messages().is_empty());
}

#[each_backend]
async fn an_expiring_token_is_refreshed_with_rotation_and_a_refused_refresh_needs_reauth(
    backend: TestDb,
) {
    let h = harness(backend).await;
    // Shorter than the runtime's five-minute margin: the next use refreshes.
    h.fake.auth().set_token_lifetime(120);
    let id = h.sign_in().await;
    // The old access token no longer works at Graph: only a refreshed one can succeed.
    // Microsoft rotates refresh tokens; the new one is stored.
    h.refreshed_on_next_use(h.fake.auth(), &id, SLOT, RefreshToken::Rotated)
        .await;

    // A send after another expiry uses the rotated refresh token.
    h.fake.auth().expire_access_tokens();
    let run = h
        .send(
            &id,
            json!({"chatId": TeamsTenant::GROUP_CHAT, "body": "still here"}),
        )
        .await;
    assert_succeeded(&run);
    assert_eq!(h.fake.auth().grants("refresh_token"), 2);

    // Consent revoked: invalid_grant, the integration needs to be connected again.
    let secrets = h.secrets(&id).await;
    h.fake.auth().revoke_refresh_tokens();
    h.fake.auth().expire_access_tokens();
    let err = h.try_health(&id).await.unwrap_err();
    assert!(matches!(err, RuntimeError::NeedsReauth(_)), "{err}");
    assert!(err.to_string().contains("refresh token"), "{err}");
    assert_no_secret(&format!("{err} {err:?}"), &secrets);
    assert_eq!(h.status(&id).await, IntegrationStatus::NeedsReauth);
    // Nothing is queued for it until a user signs in again.
    let refused = h
        .runtime
        .queue_run(h.run_request(
            &id,
            "MessageSend",
            json!({"chatId": TeamsTenant::GROUP_CHAT, "body": "lost"}),
        ))
        .await
        .unwrap_err();
    assert!(matches!(refused, RuntimeError::NeedsReauth(_)), "{refused}");

    // Signing in again brings the same integration back.
    assert_eq!(h.sign_in_to(Some(&id)).await, id);
    assert_eq!(h.status(&id).await, IntegrationStatus::Connected);
    let run = h
        .send(
            &id,
            json!({"chatId": TeamsTenant::GROUP_CHAT, "body": "back"}),
        )
        .await;
    assert_succeeded(&run);
    assert_eq!(h.fake.messages().last().unwrap()["content"], "back");
}

#[each_backend]
async fn a_token_graph_refuses_is_an_auth_error_without_the_token(backend: TestDb) {
    let h = harness(backend).await;
    let id = h.sign_in().await;
    let secrets = h.secrets(&id).await;
    // The token is an hour from its stored expiry, but Graph says it has expired: the
    // runtime refreshes it at once and the check passes.
    h.fake.auth().expire_access_tokens();
    h.health(&id).await;
    // Refused again and the refresh token revoked as well: an auth error that quotes no
    // secret, and the integration asks to be connected again.
    h.fake.auth().expire_access_tokens();
    h.fake.auth().revoke_all();
    let run = h
        .send(
            &id,
            json!({"chatId": TeamsTenant::GROUP_CHAT, "body": "hi"}),
        )
        .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error_kind.as_deref(), Some("auth"));
    let message = run.error_message.unwrap();
    assert_no_secret(&message, &secrets);
    let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
    assert_eq!(
        integration.status,
        tributary_store::integrations::IntegrationStatus::NeedsReauth
    );
}

#[each_backend]
async fn a_declined_consent_is_an_auth_error_and_nothing_is_exchanged(backend: TestDb) {
    let h = harness(backend).await;
    let url = h.start_sign_in().await;
    let state = param(&query_params(&url), "state").unwrap().to_owned();
    // Microsoft calls back with an error instead of a code.
    let err = h
        .complete_auth(vec![
            ("state".into(), state),
            ("error".into(), "access_denied".into()),
            (
                "error_description".into(),
                "AADSTS65004: User declined to consent to access the app.".into(),
            ),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("declined to consent"), "{err}");
    assert_eq!(h.fake.auth().grants("authorization_code"), 0);
}

#[each_backend]
async fn a_single_tenant_app_refuses_a_user_of_another_tenant(backend: TestDb) {
    let own_tenant = "0f0e0d0c-0b0a-4908-8706-050403020100";
    let h = harness_with(backend, |operator| {
        operator["authority"] = json!(own_tenant);
    })
    .await;
    let url = h.start_sign_in().await;
    assert!(
        url.contains(&format!("/{own_tenant}/oauth2/v2.0/authorize?")),
        "{url}"
    );
    // The fake's user belongs to TENANT_ID, which the verified id token says.
    let callback = h.approve(&url).await;
    let err = h.complete_auth(callback).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("another tenant"), "{err}");
    assert!(!h.any_connected().await);
}

#[each_backend]
async fn a_wrong_client_secret_is_a_config_error_that_does_not_quote_it(backend: TestDb) {
    let wrong = "Xy9~WrongClientSecretValue.0123456789";
    let h = harness_with(backend, |operator| {
        operator["clientSecret"] = json!(wrong);
    })
    .await;
    let url = h.start_sign_in().await;
    let callback = h.approve(&url).await;
    let err = h.complete_auth(callback).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("oauth2/v2.0/token") && message.contains("401"),
        "{message}"
    );
    let text = format!("{err} {err:?}");
    assert_no_secret(&text, &[wrong.to_owned(), CLIENT_SECRET.to_owned()]);
}

#[each_backend]
async fn a_token_without_the_send_permissions_is_refused_naming_them(backend: TestDb) {
    let h = harness(backend).await;
    let id = h.sign_in().await;
    // Replace the stored tokens with ones granted without the send permissions (an
    // administrator restricted the app after the user consented).
    let token = h.fake.auth().mint_access_token(
        tributary_testkit::microsoft_teams::CLIENT_ID,
        Some("AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"),
        "openid profile offline_access https://graph.microsoft.com/User.Read \
         https://graph.microsoft.com/Team.ReadBasic.All",
    );
    let expires_at = tributary_providerkit::unix_now() + 3600;
    let stored = json!({"access_token": token, "token_type": "Bearer",
                        "expires_at": expires_at});
    h.runtime
        .db()
        .credentials(&h.ring)
        .save(
            &h.tenant,
            &id,
            SLOT,
            &tributary_store::SecretBytes::new(serde_json::to_vec(&stored).unwrap()),
            tributary_store::credentials::Expect::Any,
            Some(expires_at * 1000),
        )
        .await
        .unwrap();
    h.try_health(&id)
        .await
        .expect("reading the user needs no send permission");

    for (destination, permission) in [
        (
            json!({"teamId": TeamsTenant::ENGINEERING, "channelId": TeamsTenant::GENERAL}),
            "ChannelMessage.Send",
        ),
        (
            json!({"chatId": TeamsTenant::GROUP_CHAT}),
            "ChatMessage.Send",
        ),
    ] {
        let mut config = destination;
        config["body"] = json!("hi");
        let run = h.send(&id, config).await;
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("auth"));
        let message = run.error_message.unwrap();
        assert!(message.contains("403"), "{message}");
        assert!(message.contains(permission), "{message}");
        assert!(!message.contains(&token), "{message}");
        // A token refused for lack of a permission needs a new consent: the integration
        // says so, with the permission to grant.
        let integration = h.runtime.integration(&h.tenant, &id).await.unwrap();
        assert_eq!(
            integration.status,
            tributary_store::integrations::IntegrationStatus::NeedsReauth
        );
        assert!(
            integration.status_reason.unwrap().contains(permission),
            "the reason names the permission"
        );
        // Consent granted again (here: the status restored, keeping the narrow token, so
        // the next destination is refused for its own permission).
        h.runtime
            .db()
            .integrations()
            .set_status(
                &h.tenant,
                &id,
                tributary_store::integrations::IntegrationStatus::Connected,
                None,
            )
            .await
            .unwrap();
    }
    assert!(h.fake.messages().is_empty());
}
