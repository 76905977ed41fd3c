//! The audit trail over the REST API, on SQLite and PostgreSQL: every action family leaves an
//! event naming its actor (token id and name), request id, target and outcome; failures are
//! recorded as such; a tenant sees only its own events and the operator sees everyone's; the list
//! pages like every other; no secret (credential, token, rotated secret) is ever in it; and the
//! retention sweep deletes old events.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use tributary_server::ServerConfig;
use tributary_store::{
    now_ms,
    retention::{DEFAULT_BATCH_SIZE, RetentionPolicy},
};

use tributary_testkit::{
    browser::approve,
    slack::{FakeSlack, SlackWorkspace},
};

use super::{Answer, Api, CF_TOKEN};
use crate::support::{TenantToken, TestServer, json_of, registry_of};
use tributary_store::testing::{TestDb, each_backend};

impl Api {
    /// Every event `token` may list with `query` (`action=...&...`), newest first, through every
    /// page.
    async fn audit_events(&self, token: &str, query: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/audit-events?limit=100&{query}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.call(Method::GET, &path, Some(token), None).await;
            assert_eq!(page.status, 200, "{path}: {}", page.text);
            events.extend(page.body["items"].as_array().unwrap().iter().cloned());
            match page.body["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return events,
            }
        }
    }

    /// The one event of `action` on `target_id` that `token` sees (the newest if several).
    async fn audit_event(&self, token: &str, action: &str, target_id: &str) -> Value {
        let events = self
            .audit_events(token, &format!("action={action}&targetId={target_id}"))
            .await;
        events
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {action} event on {target_id}"))
    }

    /// The id of the token named `name` of `tenant`.
    async fn token_id(&self, tenant: &str, name: &str) -> String {
        let tokens = self
            .call(
                Method::GET,
                &format!("/v1/tenants/{tenant}/tokens"),
                Some(&self.operator),
                None,
            )
            .await;
        tokens
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|token| token["name"] == name)
            .and_then(|token| token["id"].as_str())
            .unwrap()
            .to_owned()
    }
}

/// Asserts the event's actor, outcome and target type.
fn assert_event(event: &Value, kind: &str, token_id: &str, outcome: &str, target_type: &str) {
    assert_eq!(event["actor"]["kind"], kind, "{event}");
    assert_eq!(event["actor"]["tokenId"], token_id, "{event}");
    assert_eq!(event["outcome"], outcome, "{event}");
    assert_eq!(event["targetType"], target_type, "{event}");
    assert!(event["occurredAt"].as_i64().unwrap() > 0, "{event}");
    assert!(
        event["requestId"].as_str().is_some_and(|id| !id.is_empty()),
        "{event}"
    );
    if outcome == "succeeded" {
        assert!(event["reason"].is_null(), "{event}");
    } else {
        assert!(event["reason"].is_string(), "{event}");
    }
}

/// A caller as the trail names it.
struct Actor<'a> {
    /// The bearer token it calls (and lists the trail) with.
    token: &'a str,
    /// `operator_token` or `tenant_token`.
    kind: &'static str,
    token_id: &'a str,
}

/// An event an action must leave: its action, target and outcome.
struct Recorded<'a> {
    action: &'a str,
    target_type: &'a str,
    target_id: &'a str,
    outcome: &'a str,
}

impl<'a> Recorded<'a> {
    fn succeeded(action: &'a str, target_type: &'a str, target_id: &'a str) -> Self {
        Recorded {
            action,
            target_type,
            target_id,
            outcome: "succeeded",
        }
    }

    fn failed(action: &'a str, target_type: &'a str, target_id: &'a str) -> Self {
        Recorded {
            outcome: "failed",
            ..Recorded::succeeded(action, target_type, target_id)
        }
    }
}

impl Api {
    /// The newest event `actor` sees of the action on the target, checked with [`assert_event`]
    /// to name `actor` and to have the expected outcome and target type.
    async fn recorded(&self, actor: &Actor<'_>, expected: Recorded<'_>) -> Value {
        let event = self
            .audit_event(actor.token, expected.action, expected.target_id)
            .await;
        assert_event(
            &event,
            actor.kind,
            actor.token_id,
            expected.outcome,
            expected.target_type,
        );
        event
    }

    /// Calls `path` as `actor`, checks the answer's status, and returns the answer with the event
    /// the call left (checked as by [`Api::recorded`]).
    async fn audited_call(
        &self,
        actor: &Actor<'_>,
        (method, path, body): (Method, &str, Option<Value>),
        status: u16,
        expected: Recorded<'_>,
    ) -> (Answer, Value) {
        let answer = self
            .call_expecting(status, method, path, Some(actor.token), body)
            .await;
        (answer, self.recorded(actor, expected).await)
    }
}

#[each_backend]
async fn every_action_family_is_recorded(backend: TestDb) {
    let name = backend.name;
    let api = Api::start(backend).await;
    let (tenant, token) = api.tenant("alpha").await;
    let token_id = api.token_id(&tenant, "ci").await;
    let operator_id = {
        let events = api
            .audit_events(&api.operator, "action=tenant.create")
            .await;
        events[0]["actor"]["tokenId"].as_str().unwrap().to_owned()
    };
    let operator = Actor {
        token: &api.operator,
        kind: "operator_token",
        token_id: &operator_id,
    };
    let tenant_caller = Actor {
        token: &token,
        kind: "tenant_token",
        token_id: &token_id,
    };

    // Operator actions: the tenant and its token, recorded for that tenant.
    let created = api
        .recorded(
            &operator,
            Recorded::succeeded("tenant.create", "tenant", &tenant),
        )
        .await;
    assert_eq!(created["tenantId"], tenant.as_str(), "{name}");
    assert_eq!(created["actor"]["tokenName"], "operator", "{name}");
    assert_eq!(created["metadata"]["name"], "alpha", "{name}");
    let issued = api
        .recorded(
            &operator,
            Recorded::succeeded("token.issue", "api_token", &token_id),
        )
        .await;
    assert_eq!(issued["metadata"]["name"], "ci", "{name}");
    api.call_expecting(
        409,
        Method::POST,
        "/v1/tenants",
        Some(&api.operator),
        Some(json!({"name": "alpha"})),
    )
    .await;
    let refused = api
        .audit_events(&api.operator, "action=tenant.create")
        .await
        .into_iter()
        .find(|event| event["outcome"] == "failed")
        .expect("the refused tenant.create");
    assert_eq!(refused["reason"], "already_exists", "{name}: {refused}");
    assert!(refused["targetId"].is_null(), "{name}: {refused}");

    // Integration actions, with the caller's own request id.
    let ids = api.connected_integration(&token).await;
    let integration = ids.integration.as_str();
    let on_integration = |action| Recorded::succeeded(action, "integration", integration);
    let event = api
        .recorded(&tenant_caller, on_integration("integration.create"))
        .await;
    assert_eq!(event["actor"]["tokenName"], "ci", "{name}");
    assert_eq!(event["metadata"]["definitionId"], "cloudflare", "{name}");
    let event = api
        .recorded(&tenant_caller, on_integration("integration.connect"))
        .await;
    assert_eq!(
        event["metadata"]["connection"], "CloudflareApiToken",
        "{name}"
    );
    assert_eq!(event["metadata"]["slots"], json!(["CloudflareApiToken"]));
    let run = api
        .recorded(
            &tenant_caller,
            Recorded::succeeded("run.start", "run", &ids.run),
        )
        .await;
    assert_eq!(run["metadata"]["operation"], "DirectorySync", "{name}");
    assert_eq!(run["metadata"]["mode"], "queued", "{name}");
    assert_eq!(run["metadata"]["integrationId"], integration, "{name}");

    let account = api.fake.account_id().to_owned();
    let patched = api
        .client
        .patch(format!("{}/v1/integrations/{integration}", api.server.base))
        .bearer_auth(&token)
        .header("x-request-id", "audit-test-update-1")
        .json(&json!({"userInput": {"accountId": account, "filterExpr": "true"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200, "{name}");
    let update = api
        .recorded(&tenant_caller, on_integration("integration.update"))
        .await;
    assert_eq!(update["requestId"], "audit-test-update-1", "{name}");
    assert_eq!(
        update["metadata"]["changedFields"],
        json!(["filterExpr"]),
        "{name}: a filter change names the filter"
    );

    // Connecting a connected integration again changes its credentials.
    let credentials = format!("/v1/integrations/{integration}/credentials/CloudflareApiToken");
    api.audited_call(
        &tenant_caller,
        (
            Method::PUT,
            &credentials,
            Some(json!({"apiToken": CF_TOKEN})),
        ),
        200,
        on_integration("integration.credential_change"),
    )
    .await;

    // A connect the provider refuses is recorded as failed, with the error's class only.
    let pending = api.create_integration(&token, None).await;
    let pending = pending["id"].as_str().unwrap().to_owned();
    let wrong = "cf-wrong-token-never-recorded-0000000000";
    let (refused, failed) = api
        .audited_call(
            &tenant_caller,
            (
                Method::PUT,
                &format!("/v1/integrations/{pending}/credentials/CloudflareApiToken"),
                Some(json!({"apiToken": wrong})),
            ),
            422,
            Recorded::failed("integration.connect", "integration", &pending),
        )
        .await;
    let reason = failed["reason"].as_str().unwrap();
    assert!(reason.starts_with("setup_failed ("), "{name}: {reason}");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(!failed.to_string().contains(message), "{name}: {failed}");

    // Runs: a cancel of a run that already ended is refused, and recorded so.
    let (_, cancel) = api
        .audited_call(
            &tenant_caller,
            (Method::POST, &format!("/v1/runs/{}/cancel", ids.run), None),
            400,
            Recorded::failed("run.cancel", "run", &ids.run),
        )
        .await;
    assert_eq!(cancel["reason"], "invalid_request", "{name}");

    // Webhooks: a secret rotation and a replay.
    let webhooks = || {
        api.server
            .runtime
            .db()
            .webhooks(api.server.runtime.key_ring())
    };
    let (endpoint, _) = webhooks()
        .create_endpoint(&tenant, integration, "audit-test", &[])
        .await
        .unwrap();
    let rotate = format!(
        "/v1/integrations/{integration}/webhook-endpoints/{}/rotate-secret",
        endpoint.id
    );
    let (_, rotation) = api
        .audited_call(
            &tenant_caller,
            (Method::POST, &rotate, None),
            200,
            Recorded::succeeded(
                "webhook_endpoint.rotate_secret",
                "webhook_endpoint",
                &endpoint.id,
            ),
        )
        .await;
    assert_eq!(rotation["metadata"]["integrationId"], integration, "{name}");
    let (delivery, _) = webhooks()
        .record_delivery(&tenant, &endpoint.id, "d-1", "test.event", &json!({}))
        .await
        .unwrap();
    webhooks()
        .finish_delivery(&tenant, &delivery.id, None)
        .await
        .unwrap();
    let replay = format!("/v1/webhook-deliveries/{}/replay?force=true", delivery.id);
    let (_, replayed) = api
        .audited_call(
            &tenant_caller,
            (Method::POST, &replay, None),
            200,
            Recorded::succeeded("webhook_delivery.replay", "webhook_delivery", &delivery.id),
        )
        .await;
    assert_eq!(replayed["metadata"]["force"], true, "{name}");
    let (_, missing) = api
        .audited_call(
            &tenant_caller,
            (
                Method::POST,
                "/v1/webhook-deliveries/no-such-delivery/replay",
                None,
            ),
            404,
            Recorded::failed(
                "webhook_delivery.replay",
                "webhook_delivery",
                "no-such-delivery",
            ),
        )
        .await;
    assert_eq!(missing["reason"], "not_found", "{name}");

    // Disconnect, delete, then the operator's revoke and tenant delete.
    for (method, suffix, action) in [
        (Method::POST, "/disconnect", "integration.disconnect"),
        (Method::DELETE, "", "integration.delete"),
    ] {
        let path = format!("/v1/integrations/{integration}{suffix}");
        let (_, event) = api
            .audited_call(
                &tenant_caller,
                (method, &path, None),
                200,
                on_integration(action),
            )
            .await;
        assert_eq!(event["metadata"]["remoteTeardownFailed"], false, "{name}");
    }
    let (_, revoke) = api
        .audited_call(
            &operator,
            (
                Method::DELETE,
                &format!("/v1/tenants/{tenant}/tokens/{token_id}"),
                None,
            ),
            204,
            Recorded::succeeded("token.revoke", "api_token", &token_id),
        )
        .await;
    assert_eq!(revoke["tenantId"], tenant.as_str(), "{name}");
    // The trail outlives the tenant, its deletion included.
    let tenant_path = format!("/v1/tenants/{tenant}");
    api.audited_call(
        &operator,
        (Method::DELETE, &tenant_path, None),
        204,
        Recorded::succeeded("tenant.delete", "tenant", &tenant),
    )
    .await;
    let kept = api
        .audit_events(&api.operator, &format!("tenantId={tenant}"))
        .await;
    assert!(kept.len() >= 15, "{name}: {} events kept", kept.len());
    api.call_expecting(404, Method::DELETE, &tenant_path, Some(&api.operator), None)
        .await;
    let failed_delete = api
        .audit_events(
            &api.operator,
            &format!("action=tenant.delete&targetId={tenant}"),
        )
        .await;
    assert_eq!(failed_delete.len(), 2, "{name}");
    assert_eq!(failed_delete[0]["outcome"], "failed", "{name}");
    assert_eq!(failed_delete[0]["reason"], "not_found", "{name}");
}

/// A tenant lists only its own events and cannot ask for another's; the operator lists everyone's,
/// or one tenant's; filters and paging work across pages; a bad cursor is a 400.
#[each_backend]
async fn tenants_see_their_own_events_and_the_operator_sees_all(backend: TestDb) {
    let name = backend.name;
    let api = Api::start(backend).await;
    let (tenant_a, token_a) = api.tenant("alpha").await;
    let (tenant_b, token_b) = api.tenant("beta").await;
    let mut created = Vec::new();
    for n in 0..5 {
        let answer = api
            .create_integration(&token_a, Some(format!("cf {n}")))
            .await;
        created.push(answer["id"].as_str().unwrap().to_owned());
    }

    let own_a = api.audit_events(&token_a, "").await;
    let own_b = api.audit_events(&token_b, "").await;
    assert!(
        own_a.iter().all(|e| e["tenantId"] == tenant_a.as_str()),
        "{name}"
    );
    assert!(
        own_b.iter().all(|e| e["tenantId"] == tenant_b.as_str()),
        "{name}"
    );
    // tenant.create and token.issue by the operator, then five creates.
    assert_eq!(own_a.len(), 7, "{name}: {own_a:?}");
    assert_eq!(own_b.len(), 2, "{name}: {own_b:?}");
    let text_b = serde_json::to_string(&own_b).unwrap();
    for id in &created {
        assert!(!text_b.contains(id.as_str()), "{name}: beta sees {id}");
    }
    api.call_expecting(
        403,
        Method::GET,
        &format!("/v1/audit-events?tenantId={tenant_a}"),
        Some(&token_b),
        None,
    )
    .await;
    api.call_expecting(
        200,
        Method::GET,
        &format!("/v1/audit-events?tenantId={tenant_b}"),
        Some(&token_b),
        None,
    )
    .await;

    let all = api.audit_events(&api.operator, "").await;
    assert_eq!(all.len(), own_a.len() + own_b.len(), "{name}");
    let only_b = api
        .audit_events(&api.operator, &format!("tenantId={tenant_b}"))
        .await;
    assert_eq!(only_b, own_b, "{name}");

    // Newest first; pages of two walk every event once.
    let creates = api
        .audit_events(&token_a, "action=integration.create&targetType=integration")
        .await;
    let listed: Vec<&str> = creates
        .iter()
        .map(|e| e["targetId"].as_str().unwrap())
        .collect();
    let mut newest_first = created.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first, "{name}");
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/audit-events?limit=2&cursor={cursor}"),
            None => "/v1/audit-events?limit=2".to_owned(),
        };
        let page = api
            .call_expecting(200, Method::GET, &path, Some(&token_a), None)
            .await;
        for item in page.body["items"].as_array().unwrap() {
            assert!(seen.insert(item["id"].as_str().unwrap().to_owned()));
        }
        pages += 1;
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (7, 4), "{name}");
    let since = api
        .audit_events(&token_a, &format!("since={}", now_ms() + 60_000))
        .await;
    assert!(since.is_empty(), "{name}");
    let bad = api
        .call_expecting(
            400,
            Method::GET,
            "/v1/audit-events?cursor=not-a-cursor",
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(bad.body["error"]["code"], "invalid_query", "{name}");
}

/// A secret rotation's event, and the whole list, hold no secret: not the tenant's credential,
/// not an API token, not a rotated SCIM secret.
#[each_backend]
async fn no_secret_reaches_the_trail(backend: TestDb) {
    let name = backend.name;
    let api = Api::start(backend).await;
    let (_, token) = api.tenant("alpha").await;
    api.connected_integration(&token).await;
    let scim = api
        .call(
            Method::POST,
            "/v1/integrations",
            Some(&token),
            Some(json!({"definitionId": "scim", "name": "Okta"})),
        )
        .await;
    let scim = scim.body["id"].as_str().unwrap().to_owned();
    let created = api
        .call_expecting(
            201,
            Method::POST,
            &format!("/v1/integrations/{scim}/scim-endpoint"),
            Some(&token),
            None,
        )
        .await;
    let rotated = api
        .call_expecting(
            200,
            Method::POST,
            &format!("/v1/integrations/{scim}/scim-endpoint/rotate-secret"),
            Some(&token),
            None,
        )
        .await;
    let secrets = [
        created.body["secret"].as_str().unwrap(),
        rotated.body["secret"].as_str().unwrap(),
        CF_TOKEN,
        token.as_str(),
        api.operator.as_str(),
    ];
    let endpoint = rotated.body["id"].as_str().unwrap();
    let rotation = api
        .audit_event(&token, "scim_endpoint.rotate_secret", endpoint)
        .await;
    assert_eq!(rotation["outcome"], "succeeded", "{name}");
    assert_eq!(
        rotation["metadata"]["integrationId"],
        scim.as_str(),
        "{name}"
    );
    assert_eq!(
        api.audit_event(&token, "scim_endpoint.create", endpoint)
            .await["outcome"],
        "succeeded"
    );
    for caller in [&token, &api.operator] {
        let whole = api
            .call_expecting(
                200,
                Method::GET,
                "/v1/audit-events?limit=500",
                Some(caller),
                None,
            )
            .await;
        assert!(whole.body["items"].as_array().unwrap().len() >= 6);
        for secret in secrets {
            assert!(
                !whole.text.contains(secret),
                "{name}: the trail holds a secret: {}",
                whole.text
            );
        }
    }
}

/// Events older than `audit_events` retention go with the sweep; newer ones stay.
#[each_backend]
async fn the_retention_sweep_deletes_old_events(backend: TestDb) {
    let name = backend.name;
    let db = backend.db.clone();
    let api = Api::start(backend).await;
    let (_, token) = api.tenant("alpha").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let created = api.create_integration(&token, None).await;
    let integration = created["id"].as_str().unwrap();
    let newest = api
        .audit_event(&token, "integration.create", integration)
        .await;
    assert_eq!(api.audit_events(&token, "").await.len(), 3, "{name}");
    // A year after the newest event: the two before it are older than a year.
    let year = RetentionPolicy::days(365);
    let policy = RetentionPolicy {
        audit_events: year,
        ..RetentionPolicy::KEEP_EVERYTHING
    };
    let now = newest["occurredAt"].as_i64().unwrap() + year.as_millis() as i64;
    let counted = db.retention().count(&policy, now).await.unwrap();
    let report = db
        .retention()
        .sweep(&policy, now, DEFAULT_BATCH_SIZE)
        .await
        .unwrap();
    assert_eq!(report.rows("audit_events"), 2, "{name}");
    assert_eq!(counted, report, "{name}");
    let left = api.audit_events(&token, "").await;
    assert_eq!(left, [newest], "{name}");
}

/// An OAuth connect is recorded when it starts (by the caller's token) and again when the
/// provider's redirect completes it at the callback (no token: the callback is the actor); a
/// callback that matches no flow names no tenant and is not recorded.
#[each_backend]
async fn the_authorization_callback_records_the_connect_it_completes(backend: TestDb) {
    let name = backend.name;
    let slack = FakeSlack::start(SlackWorkspace::sample(2)).await.unwrap();
    let registry = registry_of("slack", slack.operator_config());
    let server = TestServer::start(backend, registry, ServerConfig::default()).await;
    let TenantToken {
        tenant,
        token_id,
        token,
    } = server.tenant_with_token("acme", "ci").await;
    let base = &server.base;
    let client = reqwest::Client::new();
    let post = |path: String, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
    };
    let connects = || async {
        let listed = json_of(
            client
                .get(format!("{base}/v1/audit-events?action=integration.connect"))
                .bearer_auth(&token),
        )
        .await;
        listed["items"].as_array().unwrap().clone()
    };

    let created = json_of(post(
        "/v1/integrations".into(),
        json!({"definitionId": "slack"}),
    ))
    .await;
    let integration = created["id"].as_str().unwrap().to_owned();
    let started = post(
        format!("/v1/integrations/{integration}/auth"),
        json!({"connection": "SlackOAuth"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(started.status(), 200, "{name}");
    let started: Value = started.json().await.unwrap();
    let events = connects().await;
    assert_eq!(events.len(), 1, "{name}: {events:?}");
    assert_eq!(events[0]["actor"]["tokenId"], token_id.as_str(), "{name}");
    assert_eq!(events[0]["metadata"]["authorization"], "started", "{name}");
    assert_eq!(events[0]["targetId"], integration.as_str(), "{name}");

    let params = approve(started["authorizeUrl"].as_str().unwrap()).await;
    let callback = reqwest::Url::parse_with_params(
        &format!("{base}{}", server.runtime.config().callback_path),
        &params,
    )
    .unwrap();
    let completed = client.get(callback.clone()).send().await.unwrap();
    assert_eq!(completed.status(), 200, "{name}");
    let events = connects().await;
    assert_eq!(events.len(), 2, "{name}: {events:?}");
    let done = &events[0];
    assert_eq!(done["actor"]["kind"], "auth_callback", "{name}: {done}");
    assert!(done["actor"]["tokenId"].is_null(), "{name}: {done}");
    assert_eq!(done["outcome"], "succeeded", "{name}: {done}");
    assert_eq!(done["targetId"], integration.as_str(), "{name}");
    assert_eq!(done["tenantId"], tenant.as_str(), "{name}");
    assert_eq!(done["metadata"]["connection"], "SlackOAuth", "{name}");
    assert_eq!(done["metadata"]["authorization"], "completed", "{name}");
    assert!(done["requestId"].is_string(), "{name}");
    let code = params.iter().find(|(key, _)| key == "code").unwrap();
    assert!(!done.to_string().contains(&code.1), "{name}");

    // The same callback again matches no flow (its session was used): refused, not recorded.
    let replayed = client.get(callback).send().await.unwrap();
    assert_eq!(replayed.status(), 400, "{name}");
    assert_eq!(connects().await.len(), 2, "{name}");
}
