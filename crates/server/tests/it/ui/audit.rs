//! The audit log in the web UI, on SQLite and PostgreSQL: what a tenant does through the UI is
//! recorded with the session's token "via UI session" (failures too), the `/audit` page lists the
//! tenant's events only, escaped, filterable by action and by target, and shows no secret.

use reqwest::StatusCode;
use serde_json::Value;
use tributary_store::audit::AuditQuery;

use super::{CF_TOKEN, Ui, WRONG_TOKEN, href_after};
use tributary_store::testing::{TestDb, each_backend};

/// A token name that would be markup if it were not escaped.
const HOSTILE_NAME: &str = "<script>alert(1)</script>";

#[each_backend]
async fn ui_actions_are_recorded_and_listed_on_the_audit_page(backend: TestDb) {
    let name = backend.name;
    let ui = Ui::start(backend).await;
    let (tenant, _) = ui.tenant_token("Acme").await;
    let (record, token) = ui
        .server
        .runtime
        .db()
        .tenants()
        .issue_token(Some(&tenant), HOSTILE_NAME, None)
        .await
        .unwrap();
    let token = token.expose_str().unwrap().to_owned();
    let (cookie, csrf) = ui.sign_in(&token).await;

    // A connect the provider refuses, the retry that connects, a run and a disconnect.
    let refused = ui
        .connect_form(
            "/catalog/cloudflare/connect",
            &cookie,
            &csrf,
            &[("cred/CloudflareApiToken/apiToken", WRONG_TOKEN)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
    let retry = href_after(&refused.body, "/integrations/").to_owned();
    let integration = retry
        .trim_start_matches("/integrations/")
        .trim_end_matches("/connect")
        .to_owned();
    let connected = ui
        .connect_form(
            &retry,
            &cookie,
            &csrf,
            &[("cred/CloudflareApiToken/apiToken", CF_TOKEN)],
        )
        .await;
    assert_eq!(connected.status, StatusCode::OK, "{name}");
    let page = format!("/integrations/{integration}");
    let run = ui
        .press(&format!("{page}/operations/DirectorySync"), &cookie, &csrf)
        .await;
    assert_eq!(run.status, StatusCode::SEE_OTHER, "{name}");
    let run_id = run
        .location
        .unwrap()
        .trim_start_matches("/runs/")
        .to_owned();
    let disconnected = ui
        .press(&format!("{page}/disconnect"), &cookie, &csrf)
        .await;
    assert_eq!(disconnected.status, StatusCode::SEE_OTHER, "{name}");

    // Through the API: each action with the session's token, via the UI session.
    let listed = ui
        .http
        .get(format!("{}/v1/audit-events?limit=500", ui.server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK, "{name}");
    let listed: Value = listed.json().await.unwrap();
    let events = listed["items"].as_array().unwrap();
    let find = |action: &str, outcome: &str| {
        events
            .iter()
            .find(|e| e["action"] == action && e["outcome"] == outcome)
            .unwrap_or_else(|| panic!("{name}: no {outcome} {action} in {listed}"))
    };
    for (action, outcome, target) in [
        ("ui.sign_in", "succeeded", None),
        (
            "integration.create",
            "succeeded",
            Some(integration.as_str()),
        ),
        ("integration.connect", "failed", Some(integration.as_str())),
        (
            "integration.connect",
            "succeeded",
            Some(integration.as_str()),
        ),
        ("run.start", "succeeded", Some(run_id.as_str())),
        (
            "integration.disconnect",
            "succeeded",
            Some(integration.as_str()),
        ),
    ] {
        let event = find(action, outcome);
        assert_eq!(event["actor"]["kind"], "ui_session", "{name}: {event}");
        assert_eq!(event["actor"]["tokenId"], record.id.as_str(), "{name}");
        assert_eq!(event["actor"]["tokenName"], HOSTILE_NAME, "{name}");
        assert_eq!(event["tenantId"], tenant.as_str(), "{name}");
        if let Some(target) = target {
            assert_eq!(event["targetId"], target, "{name}: {event}");
        }
    }
    let failed = find("integration.connect", "failed");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .starts_with("setup_failed ("),
        "{name}: {failed}"
    );

    // The page: escaped, the tenant's own events, no secret.
    let audit = ui.get("/audit", Some(&cookie)).await;
    assert_eq!(audit.status, StatusCode::OK, "{name}");
    assert!(audit.body.contains("<a href=\"/audit\">Audit log</a>"));
    assert!(audit.body.contains("integration.disconnect"), "{name}");
    assert!(audit.body.contains("via UI session"), "{name}");
    assert!(
        audit.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{name}"
    );
    assert!(!audit.body.contains(HOSTILE_NAME), "{name}");
    assert!(
        audit.body.contains(&format!(
            "<a href=\"/runs/{run_id}\"><code>{run_id}</code></a>"
        )),
        "{name}"
    );
    assert!(
        audit.body.contains("badge bad"),
        "{name}: the failed connect"
    );
    for secret in [CF_TOKEN, WRONG_TOKEN, token.as_str()] {
        assert!(!audit.body.contains(secret), "{name}");
    }
    let only = ui
        .get("/audit?action=integration.disconnect", Some(&cookie))
        .await;
    assert_eq!(only.body.matches("<tr><td>").count(), 1, "{name}");
    let on_run = ui
        .get(&format!("/audit?target={run_id}"), Some(&cookie))
        .await;
    assert_eq!(on_run.body.matches("<tr><td>").count(), 1, "{name}");
    assert!(on_run.body.contains("run.start"), "{name}");
    let integration_page = ui.get(&page, Some(&cookie)).await;
    assert!(
        integration_page
            .body
            .contains(&format!("href=\"/audit?target={integration}\"")),
        "{name}"
    );

    // Another tenant sees none of it.
    let (_, other) = ui.tenant_token("Other").await;
    let (other_cookie, _) = ui.sign_in(&other).await;
    let theirs = ui.get("/audit", Some(&other_cookie)).await;
    assert_eq!(theirs.status, StatusCode::OK, "{name}");
    assert!(!theirs.body.contains(&integration), "{name}");
    assert_eq!(
        theirs.body.matches("<tr><td>").count(),
        1,
        "{name}: its sign-in"
    );

    // Signing out is recorded too.
    let csrf_other = super::csrf_of(&theirs.body);
    let out = ui.press("/logout", &other_cookie, &csrf_other).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{name}");
    let everything = AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    };
    let trail = ui
        .server
        .runtime
        .db()
        .audit()
        .list(&everything)
        .await
        .unwrap();
    assert!(
        trail.iter().any(|e| e.action == "ui.sign_out"),
        "{name}: {trail:?}"
    );
}
