//! Browser flows against a real authorization server on loopback (oauth2-mock-server): the
//! keymaker's begin and complete, id-token claims as metadata, token refresh (rotation, no refresh
//! token in the answer, single-flight across workers), `invalid_grant` → `needs_reauth`, switching
//! connection modes, and disconnect revoking the token.

use crate::support;

use std::{collections::BTreeMap, time::Duration};

use crate::support::{Harness, OAuthSettings};
use serde_json::{Value, json};
use tributary_core::{CallbackParams, ErrorKind};
use tributary_runtime::{
    ConnectOutcome, ConnectRequest, DEFAULT_MAX_OPEN_AUTH_SESSIONS, RunRequest, RuntimeError,
    SetupStep,
};
use tributary_store::StoreError;
use tributary_store::integrations::IntegrationStatus;
use tributary_store::testing::{TestDb, each_backend};
use tributary_testkit::oauth::OAuthServer;

const TENANT_CLAIM: &str = "7d3f0c1e-entra-tenant";

fn settings(server: &OAuthServer) -> OAuthSettings {
    OAuthSettings {
        issuer: server.issuer().to_owned(),
        authorize_url: server.authorize_url().to_owned(),
        token_url: server.token_url().to_owned(),
        jwks_url: server.jwks_url().to_owned(),
        client_id: "tributary-test-client".into(),
    }
}

async fn oauth_harness(server: &OAuthServer, backend: tributary_store::testing::TestDb) -> Harness {
    let h = Harness::new(backend, Some(settings(server))).await;
    h.api.lock().oauth_issuer = Some(server.issuer().to_owned());
    server
        .configure(json!({"idTokenClaims": {"tid": TENANT_CLAIM}, "expiresIn": 3600}))
        .await;
    h
}

fn oauth_request(h: &Harness, integration_id: Option<String>) -> ConnectRequest {
    ConnectRequest {
        tenant_id: h.tenant_id.clone(),
        integration_id,
        definition_id: "acme".into(),
        name: None,
        user_input: Some(h.user_input()),
        connection: "AcmeOAuth".into(),
        credentials: BTreeMap::new(),
    }
}

/// Begin, the browser step at the authorization server, complete. Returns the integration id.
async fn connect_via_oauth(
    h: &Harness,
    server: &OAuthServer,
    integration_id: Option<String>,
) -> String {
    let redirect = match h
        .runtime
        .connect(oauth_request(h, integration_id))
        .await
        .unwrap()
    {
        ConnectOutcome::Redirect(redirect) => redirect,
        ConnectOutcome::Connected(_) => panic!("an OAuth mode must redirect"),
    };
    assert!(
        redirect.url.contains("code_challenge_method=S256"),
        "{}",
        redirect.url
    );
    let params = server.authorize(&redirect.url).await;
    let connected = h
        .runtime
        .complete_auth(CallbackParams::new(params))
        .await
        .unwrap();
    assert_eq!(connected.integration.id, redirect.integration_id);
    connected.integration.id
}

async fn stored_tokens(h: &Harness, id: &str) -> (Value, i64) {
    let stored = h.stored_credential(id, "AcmeOAuth").await;
    (stored.secret.expose_json().unwrap(), stored.version)
}

fn health_check(h: &Harness, id: &str) -> RunRequest {
    RunRequest {
        tenant_id: h.tenant_id.clone(),
        integration_id: id.to_owned(),
        operation: "HealthCheck".into(),
        config: Value::Null,
        workflow: None,
    }
}

#[each_backend]
async fn the_code_flow_connects_with_pkce_and_reads_the_tenant_from_the_id_token(backend: TestDb) {
    let Some(server) = OAuthServer::start_or_skip().await else {
        return;
    };

    let h = oauth_harness(&server, backend).await;
    let redirect = match h.runtime.connect(oauth_request(&h, None)).await.unwrap() {
        ConnectOutcome::Redirect(redirect) => redirect,
        ConnectOutcome::Connected(_) => panic!("must redirect"),
    };
    let params = server.authorize(&redirect.url).await;
    let state = params.iter().find(|(k, _)| k == "state").unwrap().1.clone();

    // A forged state is refused and consumes nothing.
    let mut forged = params.clone();
    forged.retain(|(k, _)| k != "state");
    forged.push(("state".into(), "trs_forged".into()));
    let err = h
        .runtime
        .complete_auth(CallbackParams::new(forged))
        .await
        .unwrap_err();
    assert_eq!(err.step(), Some(SetupStep::Authorize), "{err}");

    let connected = h
        .runtime
        .complete_auth(CallbackParams::new(params.clone()))
        .await
        .unwrap();
    let integration = connected.integration;
    assert_eq!(integration.status, IntegrationStatus::Connected);
    assert_eq!(integration.provider_state["connection"], "AcmeOAuth");
    assert_eq!(integration.metadata["attributes"]["tenantId"], TENANT_CLAIM);
    assert_eq!(integration.metadata["externalId"], "org-42");
    let (tokens, _) = stored_tokens(&h, &integration.id).await;
    assert!(tokens["refresh_token"].is_string());
    assert!(tokens["expires_at"].as_i64().unwrap() > 0);
    let info = h.credential_info(&integration.id, "AcmeOAuth").await;
    assert_eq!(
        info.expires_at,
        Some(tokens["expires_at"].as_i64().unwrap() * 1000)
    );

    // The session is single use.
    let replay = h
        .runtime
        .complete_auth(CallbackParams::new(params))
        .await
        .unwrap_err();
    assert!(replay.to_string().contains("already used"), "{replay}");
    assert!(!replay.to_string().contains(&state));

    // The provider's refusal is reported as an auth error.
    let redirect = match h
        .runtime
        .connect(oauth_request(&h, Some(integration.id.clone())))
        .await
        .unwrap()
    {
        ConnectOutcome::Redirect(redirect) => redirect,
        ConnectOutcome::Connected(_) => panic!("must redirect"),
    };
    let state = url_param(&redirect.url, "state");
    let err = h
        .runtime
        .complete_auth(CallbackParams::new(vec![
            ("state".into(), state),
            ("error".into(), "access_denied".into()),
            ("error_description".into(), "The user said no".into()),
        ]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.to_string().contains("access_denied"), "{err}");
    // The refused re-connect left the working connection alone.
    let still = h
        .runtime
        .integration(&h.tenant_id, &integration.id)
        .await
        .unwrap();
    assert_eq!(still.status, IntegrationStatus::Connected);
}

fn url_param(url: &str, name: &str) -> String {
    let url = tributary_providerkit::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .unwrap()
        .1
        .into_owned()
}

/// One tenant cannot open authorization flows without end: at most
/// `DEFAULT_MAX_OPEN_AUTH_SESSIONS` are open at once, and finishing one frees a place.
#[each_backend]
async fn open_authorization_flows_are_capped_per_tenant(backend: TestDb) {
    let Some(server) = OAuthServer::start_or_skip().await else {
        return;
    };

    let h = oauth_harness(&server, backend).await;
    let begin =
        |integration_id: Option<String>| h.runtime.connect(oauth_request(&h, integration_id));
    let first = match begin(None).await.unwrap() {
        ConnectOutcome::Redirect(redirect) => redirect,
        ConnectOutcome::Connected(_) => panic!("must redirect"),
    };
    let id = first.integration_id.clone();
    for _ in 1..DEFAULT_MAX_OPEN_AUTH_SESSIONS {
        begin(Some(id.clone())).await.unwrap();
    }
    let err = begin(Some(id.clone())).await.unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::Store(StoreError::LimitReached { limit, .. })
                if limit == u64::from(DEFAULT_MAX_OPEN_AUTH_SESSIONS)
        ),
        "{err}"
    );
    let params = server.authorize(&first.url).await;
    h.runtime
        .complete_auth(CallbackParams::new(params))
        .await
        .unwrap();
    begin(Some(id)).await.unwrap();
}

#[each_backend]
async fn expiring_tokens_are_refreshed_before_use_once_across_workers(backend: TestDb) {
    let Some(server) = OAuthServer::start_or_skip().await else {
        return;
    };

    let h = oauth_harness(&server, backend).await;
    // Tokens expiring within the 5-minute margin are refreshed before any use.
    server
        .configure(json!({"expiresIn": 120, "refreshDelayMs": 300}))
        .await;
    let id = connect_via_oauth(&h, &server, None).await;
    let (before, version) = stored_tokens(&h, &id).await;
    let refreshes_before = server.stats().await["refresh_token"].as_u64().unwrap_or(0);

    // Two workers (two processes on PostgreSQL; two tasks of one on SQLite, which runs as
    // one process) need the token at the same time: one refresh, both succeed.
    let other = if h.backend.name == "postgres" {
        h.second_process(Some(settings(&server))).await
    } else {
        h.runtime.clone()
    };
    let (a, b) = tokio::join!(
        h.runtime.run_inline(health_check(&h, &id)),
        other.run_inline(health_check(&h, &id)),
    );
    a.unwrap();
    b.unwrap();
    let refreshes = server.stats().await["refresh_token"].as_u64().unwrap() - refreshes_before;
    assert_eq!(refreshes, 1, "single-flight refresh");
    let (after, new_version) = stored_tokens(&h, &id).await;
    assert_eq!(new_version, version + 1);
    assert_ne!(after["access_token"], before["access_token"]);
    assert_ne!(after["refresh_token"], before["refresh_token"], "rotated");
    // Counted in the metrics of whichever worker refreshed (on PostgreSQL either process
    // may win the lock), with the token endpoint's answer as a provider call.
    let both = |name: &str, labels: &[(&str, &str)]| {
        let mine = h.runtime.metrics().counter(name, labels);
        if h.backend.name == "postgres" {
            mine + other.metrics().counter(name, labels)
        } else {
            mine
        }
    };
    let rendered = || {
        format!(
            "{}\n{}",
            h.runtime.metrics().render(),
            other.metrics().render()
        )
    };
    assert!(
        both(
            "tributary_credential_refreshes_total",
            &[("outcome", "refreshed")]
        ) >= 1.0,
        "{}",
        rendered()
    );
    assert!(
        both("tributary_provider_requests_total", &[("status", "2xx")]) >= 1.0,
        "{}",
        rendered()
    );

    // A refresh answer without a refresh token keeps the stored one.
    server
        .configure(json!({"omitRefreshTokenOnRefresh": true, "refreshDelayMs": 0}))
        .await;
    h.runtime.run_inline(health_check(&h, &id)).await.unwrap();
    let (kept, _) = stored_tokens(&h, &id).await;
    assert_eq!(kept["refresh_token"], after["refresh_token"]);
    assert_ne!(kept["access_token"], after["access_token"]);
    server
        .configure(json!({"omitRefreshTokenOnRefresh": false}))
        .await;
}

#[each_backend]
async fn invalid_grant_marks_the_integration_needs_reauth_until_it_is_reconnected(backend: TestDb) {
    let Some(server) = OAuthServer::start_or_skip().await else {
        return;
    };

    let h = oauth_harness(&server, backend).await;
    server
        .configure(json!({"expiresIn": 60, "refreshDelayMs": 0}))
        .await;
    let id = connect_via_oauth(&h, &server, None).await;
    let (tokens, _) = stored_tokens(&h, &id).await;
    server
        .revoke(tokens["refresh_token"].as_str().unwrap())
        .await;

    let err = h
        .runtime
        .run_inline(health_check(&h, &id))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::NeedsReauth(_)), "{err}");
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(
        h.runtime.metrics().counter(
            "tributary_credential_refreshes_total",
            &[("outcome", "needs_reauth")]
        ) >= 1.0
    );
    let integration = h.runtime.integration(&h.tenant_id, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::NeedsReauth);
    assert!(integration.status_reason.is_some());
    assert!(
        support::schedules_enabled(&h, &id)
            .await
            .iter()
            .all(|on| !on),
        "schedules stop"
    );
    let queued = h
        .runtime
        .queue_run(RunRequest {
            operation: "DirectorySync".into(),
            ..health_check(&h, &id)
        })
        .await
        .unwrap_err();
    assert!(matches!(queued, RuntimeError::NeedsReauth(_)));

    // Reconnecting restores the integration and its schedules.
    server.configure(json!({"expiresIn": 3600})).await;
    connect_via_oauth(&h, &server, Some(id.clone())).await;
    let integration = h.runtime.integration(&h.tenant_id, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::Connected);
    assert!(
        support::schedules_enabled(&h, &id)
            .await
            .iter()
            .all(|on| *on)
    );
    h.runtime.run_inline(health_check(&h, &id)).await.unwrap();
}

#[each_backend]
async fn a_fresh_token_the_provider_refuses_is_refreshed_once_then_a_second_refusal_asks_for_reauth(
    backend: TestDb,
) {
    let Some(server) = OAuthServer::start_or_skip().await else {
        return;
    };

    let h = oauth_harness(&server, backend).await;
    server
        .configure(json!({"expiresIn": 3600, "refreshDelayMs": 0}))
        .await;
    let id = connect_via_oauth(&h, &server, None).await;
    let (tokens, version) = stored_tokens(&h, &id).await;
    // Revoked at the provider an hour before it expires.
    h.api.refuse_token(tokens["access_token"].as_str().unwrap());
    let answer = h.runtime.run_inline(health_check(&h, &id)).await.unwrap();
    assert_eq!(
        answer.run.status,
        tributary_store::runs::RunStatus::Succeeded
    );
    let (fresh, fresh_version) = stored_tokens(&h, &id).await;
    assert_ne!(fresh["access_token"], tokens["access_token"]);
    assert!(fresh_version > version);
    let integration = h.runtime.integration(&h.tenant_id, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::Connected);
    h.assert_logged(&answer.run.id, "refreshed and the operation runs once more")
        .await;

    // The grant itself is revoked: the forced refresh is refused, and the integration says
    // so with the run.
    h.api.refuse_token(fresh["access_token"].as_str().unwrap());
    server
        .revoke(fresh["refresh_token"].as_str().unwrap())
        .await;
    let err = h
        .runtime
        .run_inline(health_check(&h, &id))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::NeedsReauth(_)), "{err}");
    let integration = h.runtime.integration(&h.tenant_id, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::NeedsReauth);
    let runs = h.runtime.list_runs(&h.tenant_id, &id, 1).await.unwrap();
    assert_eq!(runs[0].error_kind.as_deref(), Some("auth"));
}

#[each_backend]
async fn switching_modes_removes_the_old_credentials_and_disconnect_revokes_and_cleans_up(
    backend: TestDb,
) {
    let Some(server) = OAuthServer::start_or_skip().await else {
        return;
    };

    let h = oauth_harness(&server, backend).await;
    let id = support::connect_with_token(&h, "acme-pasted-token-1").await;
    connect_via_oauth(&h, &server, Some(id.clone())).await;
    let slots = h.credential_slots(&id).await;
    assert_eq!(slots, ["AcmeOAuth"]);
    let integration = h.runtime.integration(&h.tenant_id, &id).await.unwrap();
    assert_eq!(integration.provider_state["connection"], "AcmeOAuth");

    // And back to a pasted token.
    let token = "acme-pasted-token-2";
    h.api.accept_token(token);
    let mut back = ConnectRequest {
        connection: "AcmeToken".into(),
        credentials: BTreeMap::from([("AcmeToken".to_owned(), json!({"token": token}))]),
        ..oauth_request(&h, Some(id.clone()))
    };
    back.user_input = None;
    h.runtime.connect(back).await.unwrap();
    let slots = h.credential_slots(&id).await;
    assert_eq!(slots, ["AcmeToken"]);

    // Sync something, then disconnect.
    let run = h
        .runtime
        .queue_run(RunRequest {
            operation: "DirectorySync".into(),
            ..health_check(&h, &id)
        })
        .await
        .unwrap();
    let (stop, worker) = support::spawn_worker(&h.runtime, Duration::from_secs(30));
    support::wait_for_run(&h, &run.id).await;
    let _ = stop.send(());
    worker.await.unwrap();
    let pending = h
        .runtime
        .queue_run(RunRequest {
            operation: "DirectorySync".into(),
            ..health_check(&h, &id)
        })
        .await
        .unwrap();

    let report = h.runtime.disconnect(&h.tenant_id, &id).await.unwrap();
    assert!(report.cleaned_up);
    assert_eq!(report.remote.as_deref(), Some("token revoked"));
    assert_eq!(report.credentials_deleted, 1);
    assert_eq!(report.webhook_endpoints_deleted, 2);
    assert_eq!(report.schedules_deleted, 1);
    assert_eq!(report.runs_cancelled, 1);
    assert_eq!(report.records_marked, 5);
    assert_eq!(h.api.lock().revoked, [token]);
    let run = h
        .runtime
        .db()
        .runs()
        .get(&h.tenant_id, &pending.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, tributary_store::runs::RunStatus::Cancelled);
    let integration = h.runtime.integration(&h.tenant_id, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::Disconnected);
    assert_eq!(integration.provider_state, json!({}));
    let records = support::records(&h, &id, "DirectoryAccount").await;
    assert_eq!(records.len(), 5, "records are kept");
    assert!(records.iter().all(|r| r.disconnected_at.is_some()));
    assert!(
        h.runtime
            .db()
            .credentials(&h.ring)
            .list(&h.tenant_id, &id)
            .await
            .unwrap()
            .is_empty()
    );

    // A provider that cannot be reached does not stop a disconnect.
    let id = support::connect_with_token(&h, "acme-pasted-token-3").await;
    h.runtime
        .update_user_input(&h.tenant_id, &id, &json!({"baseUrl": "http://127.0.0.1:9"}))
        .await
        .unwrap();
    let report = h
        .runtime
        .delete_integration(&h.tenant_id, &id)
        .await
        .unwrap();
    assert!(report.cleaned_up);
    assert!(report.remote_error.is_some());
    assert!(!report.remote_error.unwrap().contains("acme-pasted-token-3"));
    assert!(matches!(
        h.runtime.integration(&h.tenant_id, &id).await.unwrap_err(),
        RuntimeError::NotFound(_)
    ));
}

#[each_backend]
async fn an_app_install_connects_from_the_installation_id_and_its_token_is_reminted(
    backend: TestDb,
) {
    let h = Harness::new(backend, None).await;
    h.api.lock().installations.insert(777);
    let redirect = match h
        .runtime
        .connect(ConnectRequest {
            connection: "AcmeInstallation".into(),
            ..oauth_request(&h, None)
        })
        .await
        .unwrap()
    {
        ConnectOutcome::Redirect(redirect) => redirect,
        ConnectOutcome::Connected(_) => panic!("an app install must redirect"),
    };
    assert!(redirect.url.starts_with(&format!(
        "{}/apps/acme/installations/new?state=",
        h.api.base_url()
    )));
    let state = url_param(&redirect.url, "state");
    // Acme calls back with the installation id (and our state).
    let connected = h
        .runtime
        .complete_auth(CallbackParams::new(vec![
            ("installation_id".into(), "777".into()),
            ("setup_action".into(), "install".into()),
            ("state".into(), state),
        ]))
        .await
        .unwrap();
    let id = connected.integration.id.clone();
    assert_eq!(
        connected.integration.metadata["attributes"]["installationId"],
        777
    );
    assert_eq!(h.api.lock().minted, 1);

    // The token expires within the refresh margin: each use re-mints it with the app JWT.
    let stored = |h: &Harness| {
        let id = id.clone();
        let db = h.runtime.db().clone();
        let (ring, tenant) = (h.ring.clone(), h.tenant_id.clone());
        async move {
            db.credentials(&ring)
                .load(&tenant, &id, "AcmeInstallation")
                .await
                .unwrap()
                .unwrap()
                .secret
                .expose_json()
                .unwrap()
        }
    };
    let before = stored(&h).await;
    h.runtime.run_inline(health_check(&h, &id)).await.unwrap();
    let after = stored(&h).await;
    assert_eq!(h.api.lock().minted, 2);
    assert_ne!(after["access_token"], before["access_token"]);
    assert_eq!(after["installation_id"], 777);

    // Uninstalled at Acme: minting answers 404, the integration needs to be installed again.
    h.api.lock().installations.clear();
    let err = h
        .runtime
        .run_inline(health_check(&h, &id))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::NeedsReauth(_)), "{err}");
    let integration = h.runtime.integration(&h.tenant_id, &id).await.unwrap();
    assert_eq!(integration.status, IntegrationStatus::NeedsReauth);
}
