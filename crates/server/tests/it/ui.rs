//! The web UI over HTTP, without a browser: signing in (tenant tokens only, an HttpOnly cookie),
//! CSRF checks on every form, a connect through the generated form against the fake Cloudflare,
//! field errors, secrets never shown back, tenancy (another tenant's pages answer 404), the
//! mapping playground, logos, and the audit log. On SQLite and PostgreSQL.

mod audit;
mod sessions;

use crate::support::{TestServer, registry_of};
use reqwest::{StatusCode, header};
use tributary_server::ServerConfig;
use tributary_store::integrations::{Integration, IntegrationStatus};
use tributary_store::testing::{TestDb, each_backend};
use tributary_testkit::cloudflare::{CloudflareAccount, FakeCloudflare, TokenOwner};

const CF_TOKEN: &str = "cf-ui-token-0123456789abcdef0123456789";
const WRONG_TOKEN: &str = "cf-ui-wrong-token-never-shown-back-0000";

struct Ui {
    server: TestServer,
    http: reqwest::Client,
    fake: FakeCloudflare,
    operator: String,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    /// The session cookie set, else the first cookie set.
    cookie: Option<String>,
    headers: header::HeaderMap,
    body: String,
}

impl Answer {
    /// The `name=value` of a cookie this answer sets.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap().to_owned())
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Ui {
    async fn start(backend: TestDb) -> Self {
        let fake = FakeCloudflare::start(CloudflareAccount::sample(5))
            .await
            .unwrap();
        fake.add_token(CF_TOKEN, TokenOwner::User);
        let registry = registry_of("cloudflare", fake.demo_connection().operator_config);
        let server = TestServer::start(backend, registry, ServerConfig::default()).await;
        Ui {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            fake,
            operator: server.operator_token().await,
            server,
        }
    }

    /// A new tenant and a token for it: (tenant id, token).
    async fn tenant_token(&self, name: &str) -> (String, String) {
        let made = self.server.tenant_with_token(name, "ui").await;
        (made.tenant, made.token)
    }

    /// The integrations of `tenant`, read from the store.
    async fn integrations(&self, tenant: &str) -> Vec<Integration> {
        let db = self.server.runtime.db();
        db.integrations().list(tenant, None).await.unwrap()
    }

    /// Sets an integration's status in the store, as the runtime does on a provider's word.
    async fn set_status(
        &self,
        tenant: &str,
        integration: &str,
        status: IntegrationStatus,
        reason: &str,
    ) {
        let db = self.server.runtime.db();
        db.integrations()
            .set_status(tenant, integration, status, Some(reason))
            .await
            .unwrap();
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status();
        let header_text = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header_text(header::LOCATION);
        let headers = response.headers().clone();
        let set: Vec<&str> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let cookie = set
            .iter()
            .find(|v| v.starts_with("tributary_session="))
            .or(set.first())
            .map(|v| (*v).to_owned());
        Answer {
            status,
            location,
            cookie,
            headers,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.server.base));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request).await
    }

    /// Posts a Cloudflare connect form (the catalog's, or an integration's retry) choosing the
    /// API token connection for the fake's account, with `fields` besides.
    async fn connect_form(
        &self,
        path: &str,
        cookie: &str,
        csrf: &str,
        fields: &[(&str, &str)],
    ) -> Answer {
        let account = self.fake.account_id();
        let mut form = vec![
            ("csrf", csrf),
            ("connection", "CloudflareApiToken"),
            ("input/accountId", account.as_ref()),
        ];
        form.extend_from_slice(fields);
        self.post(path, Some(cookie), &form).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{path}", self.server.base))
            .form(form);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request).await
    }

    /// Posts a form that carries only the session's CSRF value: a button (run, disconnect,
    /// revoke, sign out).
    async fn press(&self, path: &str, cookie: &str, csrf: &str) -> Answer {
        self.post(path, Some(cookie), &[("csrf", csrf)]).await
    }

    /// The sign-in page's nonce cookie (`name=value`) and the CSRF value of its form.
    async fn login_page(&self) -> (String, String) {
        let page = self.get("/login", None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let nonce = page.set_cookie("tributary_login").expect("a sign-in nonce");
        (nonce, csrf_of(&page.body))
    }

    /// Posts the sign-in form as a browser does: from the page, with its nonce and CSRF value.
    async fn post_login(&self, form: &[(&str, &str)]) -> Answer {
        let (nonce, csrf) = self.login_page().await;
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post("/login", Some(&nonce), &fields).await
    }

    /// Signs in and returns the cookie to send and the session's CSRF value.
    async fn sign_in(&self, token: &str) -> (String, String) {
        let answer = self
            .post_login(&[("token", token), ("next", "/catalog")])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.location.as_deref(), Some("/catalog"));
        let set = answer.cookie.expect("a session cookie");
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Lax"), "{set}");
        let cookie = set.split(';').next().unwrap().to_owned();
        let page = self.get("/catalog", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        (cookie, csrf_of(&page.body))
    }
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

fn href_after<'a>(html: &'a str, prefix: &str) -> &'a str {
    let start = html
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {html}"));
    let rest = &html[start..];
    &rest[..rest.find('"').unwrap()]
}

#[each_backend]
async fn sign_in_forms_and_tenancy(backend: TestDb) {
    let ui = Ui::start(backend).await;

    // Pages need a session; the sign-in page says why a token is refused.
    let answer = ui.get("/integrations", None).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.location.as_deref(),
        Some("/login?next=%2Fintegrations")
    );
    let refused = ui.post_login(&[("token", "nope")]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("unknown, revoked or expired"));
    assert!(refused.cookie.is_none());
    let operator = ui.post_login(&[("token", &ui.operator)]).await;
    assert_eq!(operator.status, StatusCode::FORBIDDEN);
    assert!(!operator.body.contains(&ui.operator));
    let open_redirect = ui
        .post_login(&[("token", "x"), ("next", "//evil.example")])
        .await;
    assert_eq!(open_redirect.status, StatusCode::BAD_REQUEST);
    assert!(!open_redirect.body.contains("evil.example"));

    let (tenant, token) = ui.tenant_token("Acme").await;
    let (cookie, csrf) = ui.sign_in(&token).await;
    let catalog = ui.get("/catalog", Some(&cookie)).await;
    assert!(catalog.body.contains("data-definition=\"cloudflare\""));

    // A form without the session's CSRF value is refused before anything happens.
    let forged = ui
        .post(
            "/catalog/cloudflare/connect",
            Some(&cookie),
            &[("connection", "CloudflareApiToken")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wrong_csrf = ui
        .post(
            "/catalog/cloudflare/connect",
            Some(&cookie),
            &[("csrf", "0000"), ("connection", "CloudflareApiToken")],
        )
        .await;
    assert_eq!(wrong_csrf.status, StatusCode::FORBIDDEN);
    assert!(ui.integrations(&tenant).await.is_empty());

    // Field errors come back next to their fields, and a refused secret is never shown back.
    let missing = ui
        .connect_form("/catalog/cloudflare/connect", &cookie, &csrf, &[])
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing
            .body
            .contains("id=\"cred-CloudflareApiToken-apiToken-error\">This field is required."),
        "{}",
        missing.body
    );
    // A filter expression that does not compile is refused before the integration is saved,
    // and the form comes back with it.
    let broken_filter = ui
        .connect_form(
            "/catalog/cloudflare/connect",
            &cookie,
            &csrf,
            &[
                ("input/filterExpr", "payload.status =="),
                ("cred/CloudflareApiToken/apiToken", CF_TOKEN),
            ],
        )
        .await;
    assert_eq!(broken_filter.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        broken_filter
            .body
            .contains("`filterExpr` is not a valid CEL filter")
            && broken_filter.body.contains("name=\"input/filterExpr\""),
        "{}",
        broken_filter.body
    );
    assert!(!broken_filter.body.contains(CF_TOKEN));
    assert!(ui.integrations(&tenant).await.is_empty());
    let refused = ui
        .connect_form(
            "/catalog/cloudflare/connect",
            &cookie,
            &csrf,
            &[
                ("name", "Cloudflare (prod)"),
                ("cred/CloudflareApiToken/apiToken", WRONG_TOKEN),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("failed at step"), "{}", refused.body);
    assert!(!refused.body.contains(WRONG_TOKEN));
    // The retry goes to the integration the first attempt created.
    let retry = href_after(&refused.body, "/integrations/");
    assert!(retry.ends_with("/connect"), "{retry}");
    let connected = ui
        .connect_form(
            retry,
            &cookie,
            &csrf,
            &[("cred/CloudflareApiToken/apiToken", CF_TOKEN)],
        )
        .await;
    assert_eq!(connected.status, StatusCode::OK, "{}", connected.body);
    assert!(connected.body.contains("is connected"));
    assert!(!connected.body.contains(CF_TOKEN));
    let integration_page = href_after(&connected.body, "/integrations/").to_owned();
    let page = ui.get(&integration_page, Some(&cookie)).await;
    assert!(page.body.contains("Cloudflare (prod)"));
    assert!(page.body.contains(">connected<"));
    assert!(!page.body.contains(CF_TOKEN));

    // Running the sync from its form queues it and shows the run.
    let run = ui
        .press(
            &format!("{integration_page}/operations/DirectorySync"),
            &cookie,
            &csrf,
        )
        .await;
    assert_eq!(run.status, StatusCode::SEE_OTHER);
    let run_page = run.location.unwrap();
    let run_id = run_page.trim_start_matches("/runs/").to_owned();
    let finished = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        ui.server.runtime.drive_run(&tenant, &run_id, None, |_| {}),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(finished.status.is_terminal());
    let shown = ui.get(&run_page, Some(&cookie)).await;
    assert!(shown.body.contains(">succeeded<"), "{}", shown.body);
    let records = ui
        .get("/records?model=DirectoryAccount", Some(&cookie))
        .await;
    assert_eq!(
        records.body.matches("<tr><td><a href=\"/records/").count(),
        5
    );
    let record = href_after(&records.body, "/records/0").to_owned();
    let detail = ui.get(&record, Some(&cookie)).await;
    assert!(detail.body.contains("Mapped fields") && detail.body.contains("Raw payload"));

    let integration_id = integration_page.trim_start_matches("/integrations/");
    // A connection the provider suspended shows as stopped, with who suspended it.
    ui.set_status(
        &tenant,
        integration_id,
        IntegrationStatus::Suspended,
        "GitHub: the app's installation was suspended by octo-admin",
    )
    .await;
    let suspended = ui.get(&integration_page, Some(&cookie)).await;
    assert!(
        suspended
            .body
            .contains("<span class=\"badge bad\">suspended</span>"),
        "{}",
        suspended.body
    );
    assert!(suspended.body.contains("suspended by octo-admin"));

    // A refused grant shows its reason and a Reconnect button that leads to the connect form
    // for the integration's current mode.
    ui.set_status(
        &tenant,
        integration_id,
        IntegrationStatus::NeedsReauth,
        "the provider refused the token",
    )
    .await;
    let reauth = ui.get(&integration_page, Some(&cookie)).await;
    assert!(reauth.body.contains(">needs reauth<"), "{}", reauth.body);
    assert!(reauth.body.contains("the provider refused the token"));
    assert!(
        reauth.body.contains(&format!(
            "<a class=\"button\" href=\"{integration_page}/connect\">Reconnect</a>"
        )),
        "{}",
        reauth.body
    );
    let form = ui
        .get(&format!("{integration_page}/connect"), Some(&cookie))
        .await;
    assert!(
        form.body
            .contains("name=\"cred/CloudflareApiToken/apiToken\" type=\"password\"")
    );

    // Another tenant sees none of it.
    let (_, other_token) = ui.tenant_token("Other").await;
    let (other_cookie, other_csrf) = ui.sign_in(&other_token).await;
    for path in [
        integration_page.as_str(),
        run_page.as_str(),
        record.as_str(),
    ] {
        let answer = ui.get(path, Some(&other_cookie)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    let foreign_run = ui
        .press(
            &format!("{integration_page}/operations/DirectorySync"),
            &other_cookie,
            &other_csrf,
        )
        .await;
    assert_eq!(foreign_run.status, StatusCode::NOT_FOUND);
    let foreign_disconnect = ui
        .press(
            &format!("{integration_page}/disconnect"),
            &other_cookie,
            &other_csrf,
        )
        .await;
    assert_eq!(foreign_disconnect.status, StatusCode::NOT_FOUND);
    let others_list = ui
        .get("/records?model=DirectoryAccount", Some(&other_cookie))
        .await;
    assert!(others_list.body.contains("No records."));
    // One session's CSRF value does not work for another's.
    let crossed = ui
        .press(
            &format!("{integration_page}/disconnect"),
            &cookie,
            &other_csrf,
        )
        .await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);

    // Signing out clears the cookie.
    let out = ui.press("/logout", &cookie, &csrf).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.cookie.unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn pages_carry_security_headers_and_the_playground_evaluates_mappings() {
    let ui = Ui::start(tributary_store::testing::sqlite().await).await;
    let (_, token) = ui.tenant_token("Acme").await;
    let (cookie, csrf) = ui.sign_in(&token).await;
    let page = ui
        .http
        .get(format!(
            "{}/playground?definition=cloudflare",
            ui.server.base
        ))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let headers = page.headers().clone();
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let body = page.text().await.unwrap();
    assert!(
        body.contains("<option value=\"DirectoryAccount\""),
        "{body}"
    );

    let payload = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../providers/tests/fixtures/cloudflare/member_admin.json"
    ))
    .unwrap();
    let output = ui
        .post(
            "/playground",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("definition", "cloudflare"),
                ("mapping", "DirectoryAccount"),
                ("payload", &payload),
            ],
        )
        .await;
    assert_eq!(output.status, StatusCode::OK, "{}", output.body);
    assert!(
        output.body.contains("&quot;passedFilter&quot;: true"),
        "{}",
        output.body
    );
    let broken = ui
        .post(
            "/playground",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("definition", "cloudflare"),
                ("mapping", "DirectoryAccount"),
                ("payload", "{"),
            ],
        )
        .await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(broken.body.contains("not valid JSON"));

    let logo = ui.get("/ui/logos/cloudflare.svg", None).await;
    assert_eq!(logo.status, StatusCode::OK);
    assert!(logo.body.starts_with("<svg") && logo.body.contains(">C</text>"));
    assert_eq!(
        ui.get("/ui/logos/nope.svg", None).await.status,
        StatusCode::NOT_FOUND
    );
    // The UI's routes leave the API's JSON answers alone.
    let api = ui.get("/v1/integrations", None).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert!(api.body.starts_with("{\"error\""));
}

/// Percent-encodes a query component.
fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `next` values a browser would resolve to another site, or that cannot be a `Location` at all.
const OFF_SITE_NEXTS: [&str; 11] = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\0",
    "/\r\nSet-Cookie: x=1",
    "//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "https://evil.example",
    " /runs",
    "/é",
];

#[each_backend]
async fn next_is_a_path_of_this_site_or_refused_with_400(backend: TestDb) {
    let ui = Ui::start(backend).await;
    let (_, token) = ui.tenant_token("Acme").await;
    // As reported: the tab is stripped by browsers, leaving `//evil.example`.
    for raw in ["/%09/evil.example", "/%0d", "/%0a", "/%00", "%00"] {
        let page = ui.get(&format!("/login?next={raw}"), None).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{raw}: {}", page.body);
        assert!(page.location.is_none());
    }
    for next in OFF_SITE_NEXTS {
        let page = ui
            .get(&format!("/login?next={}", encoded(next)), None)
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{next:?}");
        assert!(page.location.is_none(), "{next:?}");
        let posted = ui.post_login(&[("token", &token), ("next", next)]).await;
        assert_eq!(posted.status, StatusCode::BAD_REQUEST, "{next:?}");
        assert!(posted.location.is_none(), "{next:?}");
        assert!(posted.set_cookie("tributary_session").is_none(), "{next:?}");
    }
    // Signed in, the page redirects at once: still never off-site, never a 500.
    let (cookie, _) = ui.sign_in(&token).await;
    for raw in [
        "/%0d",
        "/%0a",
        "/%00",
        "/%09/evil.example",
        "/%5Cevil.example",
    ] {
        let page = ui.get(&format!("/login?next={raw}"), Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{raw}");
        assert!(page.location.is_none(), "{raw}");
    }
    let page = ui
        .get(
            &format!("/login?next={}", encoded("/runs?status=failed")),
            Some(&cookie),
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/runs?status=failed"));
    let posted = ui
        .post_login(&[("token", &token), ("next", "/runs?status=failed")])
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert_eq!(posted.location.as_deref(), Some("/runs?status=failed"));
}

#[each_backend]
async fn a_cross_site_sign_in_is_refused_with_403(backend: TestDb) {
    let ui = Ui::start(backend).await;
    let (_, token) = ui.tenant_token("Attacker").await;
    // What another site's auto-submitting form sends: no nonce cookie (SameSite=Strict keeps
    // it home), no CSRF value of ours.
    let forged = ui.post("/login", None, &[("token", &token)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert!(forged.set_cookie("tributary_session").is_none());

    let page = ui.get("/login", None).await;
    let set = page
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("tributary_login="))
        .unwrap();
    assert!(
        set.contains("SameSite=Strict") && set.contains("HttpOnly"),
        "{set}"
    );
    let (nonce, csrf) = ui.login_page().await;
    let wrong_value = ui
        .post(
            "/login",
            Some(&nonce),
            &[("csrf", "0000"), ("token", &token)],
        )
        .await;
    assert_eq!(wrong_value.status, StatusCode::FORBIDDEN);
    let (other_nonce, _) = ui.login_page().await;
    let other_pages_value = ui
        .post(
            "/login",
            Some(&other_nonce),
            &[("csrf", &csrf), ("token", &token)],
        )
        .await;
    assert_eq!(other_pages_value.status, StatusCode::FORBIDDEN);
    // Even with a matching pair, a browser saying the form came from elsewhere is refused.
    for (name, value) in [
        (header::ORIGIN, "https://evil.example".to_owned()),
        (header::ORIGIN, "null".to_owned()),
        (header::REFERER, "https://evil.example/login".to_owned()),
    ] {
        let request = ui
            .http
            .post(format!("{}/login", ui.server.base))
            .header(header::COOKIE, &nonce)
            .header(name.clone(), value.as_str())
            .form(&[("csrf", csrf.as_str()), ("token", token.as_str())]);
        let answer = ui.send(request).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(answer.set_cookie("tributary_session").is_none());
    }
    // The same pair from this site's page signs in and retires the nonce.
    let request = ui
        .http
        .post(format!("{}/login", ui.server.base))
        .header(header::COOKIE, &nonce)
        .header(header::ORIGIN, ui.server.base.as_str())
        .form(&[("csrf", csrf.as_str()), ("token", token.as_str())]);
    let answer = ui.send(request).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert!(answer.set_cookie("tributary_session").is_some());
    assert_eq!(
        answer.set_cookie("tributary_login").as_deref(),
        Some("tributary_login=")
    );
}

#[each_backend]
async fn the_cookie_holds_a_session_that_signing_out_or_revoking_ends(backend: TestDb) {
    let ui = Ui::start(backend).await;
    let (tenant, token) = ui.tenant_token("Acme").await;
    let (cookie, csrf) = ui.sign_in(&token).await;
    let session_id = cookie.trim_start_matches("tributary_session=").to_owned();
    assert!(!session_id.contains(&token) && !token.contains(&session_id));
    // The cookie's value is no API token.
    let as_bearer = ui
        .send(
            ui.http
                .get(format!("{}/v1/tenant", ui.server.base))
                .bearer_auth(&session_id),
        )
        .await;
    assert_eq!(as_bearer.status, StatusCode::UNAUTHORIZED);
    let with_token = ui
        .send(
            ui.http
                .get(format!("{}/v1/tenant", ui.server.base))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(with_token.status, StatusCode::OK);

    // Signing out ends the session itself: the old cookie no longer works.
    let out = ui.press("/logout", &cookie, &csrf).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = ui.get("/integrations", Some(&cookie)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(
        after.location.as_deref(),
        Some("/login?next=%2Fintegrations")
    );

    // Revoking the token ends every session opened with it.
    let (first, _) = ui.sign_in(&token).await;
    let (second, _) = ui.sign_in(&token).await;
    assert_ne!(first, second);
    let tokens = ui
        .server
        .runtime
        .db()
        .tenants()
        .list_tokens(Some(&tenant))
        .await
        .unwrap();
    ui.server
        .runtime
        .db()
        .tenants()
        .revoke_token(Some(&tenant), &tokens[0].id)
        .await
        .unwrap();
    for cookie in [&first, &second] {
        let page = ui.get("/integrations", Some(cookie)).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
    }
    // A cookie holding the API token itself (what the UI used to set) is no session.
    let (_, fresh) = ui.tenant_token("Other").await;
    let page = ui
        .get("/integrations", Some(&format!("tributary_session={fresh}")))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[each_backend]
async fn repeated_failed_authentication_from_one_address_is_throttled(backend: TestDb) {
    let ui = Ui::start(backend).await;
    let (_, token) = ui.tenant_token("Acme").await;
    let v1 = |bearer: &str| {
        ui.http
            .get(format!("{}/v1/tenant", ui.server.base))
            .bearer_auth(bearer)
    };
    let scim = |bearer: &str| {
        ui.http
            .get(format!("{}/scim/v2/scim_nope/Users", ui.server.base))
            .bearer_auth(bearer)
    };
    // Nine failures across the three surfaces: each answered in its own way.
    for _ in 0..3 {
        assert_eq!(
            ui.send(v1("trb_wrong")).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ui.send(scim("wrong")).await.status,
            StatusCode::UNAUTHORIZED
        );
        let login = ui.post_login(&[("token", "trb_wrong")]).await;
        assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    }
    // Below the limit, the right credential still works.
    assert_eq!(ui.send(v1(&token)).await.status, StatusCode::OK);
    let (cookie, _) = ui.sign_in(&token).await;
    // A request without credentials is not a guess and does not count.
    let anonymous = ui
        .send(ui.http.get(format!("{}/v1/tenant", ui.server.base)))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // The tenth failure reaches the limit; then everything that authenticates waits.
    assert_eq!(
        ui.send(v1("trb_wrong")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let api = ui.send(v1(&token)).await;
    assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS, "{}", api.body);
    let seconds: u64 = api.header(header::RETRY_AFTER).unwrap().parse().unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
    let body: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(body["error"]["code"], "too_many_failures");

    let scim_answer = ui.send(scim("wrong")).await;
    assert_eq!(scim_answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(scim_answer.header(header::RETRY_AFTER).is_some());
    let body: serde_json::Value = serde_json::from_str(&scim_answer.body).unwrap();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], "429");

    let login = ui.post_login(&[("token", &token)]).await;
    assert_eq!(login.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(login.header(header::RETRY_AFTER).is_some());
    assert!(login.body.contains("Too many attempts"), "{}", login.body);
    assert!(login.set_cookie("tributary_session").is_none());
    // The UI session opened before stays usable, and unauthenticated routes are untouched.
    assert_eq!(
        ui.get("/integrations", Some(&cookie)).await.status,
        StatusCode::OK
    );
    assert_eq!(ui.get("/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_oauth_callback_page_carries_the_ui_security_headers() {
    let ui = Ui::start(tributary_store::testing::sqlite().await).await;
    let path = ui.server.runtime.config().callback_path.clone();
    let answer = ui.get(&format!("{path}?code=x&state=nope"), None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let page = ui.get("/login", None).await;
    for name in [
        header::CONTENT_SECURITY_POLICY,
        header::X_FRAME_OPTIONS,
        header::X_CONTENT_TYPE_OPTIONS,
        header::REFERRER_POLICY,
        header::CACHE_CONTROL,
        header::CONTENT_TYPE,
    ] {
        assert!(page.header(name.clone()).is_some(), "{name}");
        assert_eq!(
            answer.header(name.clone()),
            page.header(name.clone()),
            "{name}"
        );
    }
    assert!(
        answer
            .header(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}
