//! Web UI sessions listed and ended, over the API (`/v1/ui-sessions`) and on the `/sessions`
//! page, on SQLite and PostgreSQL: a tenant sees and ends only its own, the operator every
//! tenant's; an ended session's cookie stops working at once; the handle is never the cookie;
//! every ending is in the audit trail.

use reqwest::StatusCode;
use serde_json::Value;
use tributary_store::{audit::AuditQuery, ui_sessions::ui_session_handle};

use super::{Ui, csrf_of};
use tributary_store::testing::{TestDb, each_backend};

impl Ui {
    async fn api(&self, method: reqwest::Method, path: &str, token: &str) -> (StatusCode, Value) {
        let answer = self
            .send(
                self.http
                    .request(method, format!("{}{path}", self.server.base))
                    .bearer_auth(token),
            )
            .await;
        let body = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        (answer.status, body)
    }

    async fn signed_in(&self, cookie: &str) -> bool {
        self.get("/integrations", Some(cookie)).await.status == StatusCode::OK
    }
}

fn handles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[each_backend]
async fn sessions_are_listed_and_ended_through_the_api_and_the_sessions_page(backend: TestDb) {
    let name = backend.name;
    let ui = Ui::start(backend).await;
    let (acme, acme_token) = ui.tenant_token("Acme").await;
    let (_, other_token) = ui.tenant_token("Other").await;
    let (first, first_csrf) = ui.sign_in(&acme_token).await;
    let (second, _) = ui.sign_in(&acme_token).await;
    let (theirs, _) = ui.sign_in(&other_token).await;

    // A tenant lists its own sessions; the operator every tenant's.
    let (status, page) = ui
        .api(reqwest::Method::GET, "/v1/ui-sessions", &acme_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{name}: {page}");
    let listed = handles(&page);
    assert_eq!(listed.len(), 2, "{name}: {page}");
    for item in page["items"].as_array().unwrap() {
        assert_eq!(item["tenantId"], acme.as_str(), "{name}");
        assert_eq!(item["tokenName"], "ui", "{name}");
        assert!(item["expiresAt"].as_i64() > item["createdAt"].as_i64());
    }
    for cookie in [&first, &second, &theirs] {
        let secret = cookie.trim_start_matches("tributary_session=");
        assert!(
            !page.to_string().contains(secret),
            "{name}: a cookie is listed"
        );
    }
    let (_, everyone) = ui
        .api(reqwest::Method::GET, "/v1/ui-sessions", &ui.operator)
        .await;
    assert_eq!(handles(&everyone).len(), 3, "{name}: {everyone}");
    // Pages follow the cursor.
    let (_, one) = ui
        .api(reqwest::Method::GET, "/v1/ui-sessions?limit=1", &acme_token)
        .await;
    let cursor = one["nextCursor"].as_str().expect("a next page").to_owned();
    let (_, rest) = ui
        .api(
            reqwest::Method::GET,
            &format!("/v1/ui-sessions?limit=1&cursor={cursor}"),
            &acme_token,
        )
        .await;
    let mut paged = handles(&one);
    paged.extend(handles(&rest));
    assert_eq!(paged, listed, "{name}");
    assert!(rest.get("nextCursor").is_none(), "{name}: {rest}");

    // The page marks this browser's session among the tenant's.
    let own = ui.get("/sessions", Some(&first)).await;
    assert_eq!(own.status, StatusCode::OK, "{name}");
    for handle in &listed {
        assert!(own.body.contains(handle.as_str()), "{name}: {}", own.body);
    }
    assert_eq!(own.body.matches("this browser").count(), 1, "{name}");
    let first_handle = ui_session_handle(first.trim_start_matches("tributary_session=").as_bytes());
    let marked = &own.body[..own.body.find("this browser").unwrap()];
    assert!(
        marked.rfind(first_handle.as_str()) > marked.rfind("<tr>"),
        "{name}: this browser's session is not the one marked: {}",
        own.body
    );
    let second_handle = listed.iter().find(|h| **h != first_handle).unwrap().clone();

    // Another tenant cannot end it; the tenant can, and its cookie stops working at once.
    let path = format!("/v1/ui-sessions/{second_handle}");
    let (status, _) = ui.api(reqwest::Method::DELETE, &path, &other_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
    assert!(ui.signed_in(&second).await, "{name}");
    let (status, body) = ui.api(reqwest::Method::DELETE, &path, &acme_token).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{name}: {body}");
    assert!(
        !ui.signed_in(&second).await,
        "{name}: the ended session still works"
    );
    assert!(ui.signed_in(&first).await, "{name}");
    let (status, _) = ui.api(reqwest::Method::DELETE, &path, &acme_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{name}: ended twice");
    let (status, _) = ui
        .api(
            reqwest::Method::DELETE,
            "/v1/ui-sessions/uis_not-a-handle",
            &acme_token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{name}");

    // Ending this browser's own session from the page signs it out.
    let csrf = csrf_of(&ui.get("/sessions", Some(&first)).await.body);
    assert_eq!(csrf, first_csrf, "{name}");
    let ended = ui
        .press(&format!("/sessions/{first_handle}/revoke"), &first, &csrf)
        .await;
    assert_eq!(
        ended.status,
        StatusCode::SEE_OTHER,
        "{name}: {}",
        ended.body
    );
    assert_eq!(ended.location.as_deref(), Some("/login"), "{name}");
    assert!(!ui.signed_in(&first).await, "{name}");
    assert!(
        ui.signed_in(&theirs).await,
        "{name}: another tenant's session ended"
    );

    // Both endings are in the trail, on the tenant, with the handle as target.
    let trail = ui
        .server
        .runtime
        .db()
        .audit()
        .list(&AuditQuery {
            tenant_id: Some(acme.clone()),
            action: Some("ui.session_revoke".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let targets: Vec<&str> = trail
        .iter()
        .filter(|event| event.outcome == tributary_store::audit::Outcome::Succeeded)
        .filter_map(|event| event.target_id.as_deref())
        .collect();
    assert!(
        targets.contains(&second_handle.as_str()),
        "{name}: {trail:?}"
    );
    assert!(
        targets.contains(&first_handle.as_str()),
        "{name}: {trail:?}"
    );
}
