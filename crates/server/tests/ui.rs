//! The web UI over HTTP, without a browser: signing in (tenant tokens only, an HttpOnly cookie),
//! CSRF checks on every form, a connect through the generated form against the fake Cloudflare,
//! field errors, secrets never shown back, tenancy (another tenant's pages answer 404), the
//! mapping playground and logos. On SQLite and PostgreSQL.

use reqwest::{StatusCode, header};
use tributary_providers::{CatalogConfig, registry};
use tributary_runtime::{Runtime, RuntimeConfig};
use tributary_server::ServerConfig;
use tributary_store::{keystore::KeyRing, testing::TestDb};
use tributary_testkit::cloudflare::{CloudflareAccount, FakeCloudflare, TokenOwner};

const CF_TOKEN: &str = "cf-ui-token-0123456789abcdef0123456789";
const WRONG_TOKEN: &str = "cf-ui-wrong-token-never-shown-back-0000";

struct Ui {
    base: String,
    http: reqwest::Client,
    runtime: Runtime,
    fake: FakeCloudflare,
    operator: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _db: TestDb,
}

impl Drop for Ui {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    cookie: Option<String>,
    body: String,
}

impl Ui {
    async fn start(backend: TestDb) -> Self {
        tributary_providerkit::install_crypto_provider();
        let fake = FakeCloudflare::start(CloudflareAccount::sample(5))
            .await
            .unwrap();
        fake.add_token(CF_TOKEN, TokenOwner::User);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let catalog = CatalogConfig {
            definitions: [(
                "cloudflare".to_owned(),
                fake.demo_connection().operator_config,
            )]
            .into(),
            public_url: None,
        };
        let runtime = Runtime::new(
            registry(&catalog).unwrap(),
            backend.db.clone(),
            KeyRing::generate(),
            RuntimeConfig::new(base.clone()),
        );
        let (_, operator) = runtime
            .db()
            .tenants()
            .issue_token(None, "operator", None)
            .await
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tributary_server::serve(
            runtime.clone(),
            ServerConfig::default(),
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        Ui {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            runtime,
            fake,
            operator: String::from_utf8(operator.expose().to_vec()).unwrap(),
            stop: Some(stop),
            _db: backend,
        }
    }

    async fn tenant_token(&self, name: &str) -> (String, String) {
        let tenant = self.runtime.db().tenants().create(name).await.unwrap();
        let (_, token) = self
            .runtime
            .db()
            .tenants()
            .issue_token(Some(&tenant.id), "ui", None)
            .await
            .unwrap();
        (
            tenant.id,
            String::from_utf8(token.expose().to_vec()).unwrap(),
        )
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
        let cookie = header_text(header::SET_COOKIE);
        Answer {
            status,
            location,
            cookie,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request).await
    }

    /// Signs in and returns the cookie to send and the session's CSRF value.
    async fn sign_in(&self, token: &str) -> (String, String) {
        let answer = self
            .post("/login", None, &[("token", token), ("next", "/catalog")])
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

async fn sign_in_and_forms(backend: TestDb) {
    let ui = Ui::start(backend).await;

    // Pages need a session; the sign-in page says why a token is refused.
    let answer = ui.get("/integrations", None).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.location.as_deref(),
        Some("/login?next=%2Fintegrations")
    );
    let refused = ui.post("/login", None, &[("token", "nope")]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("unknown, revoked or expired"));
    assert!(refused.cookie.is_none());
    let operator = ui.post("/login", None, &[("token", &ui.operator)]).await;
    assert_eq!(operator.status, StatusCode::FORBIDDEN);
    assert!(!operator.body.contains(&ui.operator));
    let open_redirect = ui
        .post(
            "/login",
            None,
            &[("token", "x"), ("next", "//evil.example")],
        )
        .await;
    assert!(!open_redirect.body.contains("evil.example"));

    let (_, token) = ui.tenant_token("Acme").await;
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
    assert!(
        ui.runtime
            .db()
            .integrations()
            .list(&ui.runtime.db().tenants().list().await.unwrap()[0].id, None)
            .await
            .unwrap()
            .is_empty()
    );

    // Field errors come back next to their fields, and a refused secret is never shown back.
    let account = ui.fake.account_id();
    let missing = ui
        .post(
            "/catalog/cloudflare/connect",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("connection", "CloudflareApiToken"),
                ("input/accountId", &account),
            ],
        )
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
        .post(
            "/catalog/cloudflare/connect",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("connection", "CloudflareApiToken"),
                ("input/accountId", &account),
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
    assert!(
        ui.runtime
            .db()
            .integrations()
            .list(&ui.runtime.db().tenants().list().await.unwrap()[0].id, None)
            .await
            .unwrap()
            .is_empty()
    );
    let refused = ui
        .post(
            "/catalog/cloudflare/connect",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("connection", "CloudflareApiToken"),
                ("name", "Cloudflare (prod)"),
                ("input/accountId", &account),
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
        .post(
            retry,
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("connection", "CloudflareApiToken"),
                ("input/accountId", &account),
                ("cred/CloudflareApiToken/apiToken", CF_TOKEN),
            ],
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
        .post(
            &format!("{integration_page}/operations/DirectorySync"),
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(run.status, StatusCode::SEE_OTHER);
    let run_page = run.location.unwrap();
    let run_id = run_page.trim_start_matches("/runs/").to_owned();
    let tenant = ui.runtime.db().tenants().list().await.unwrap()[0]
        .id
        .clone();
    let finished = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        ui.runtime.drive_run(&tenant, &run_id, None, |_| {}),
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

    // A refused grant shows its reason and a Reconnect button that leads to the connect form
    // for the integration's current mode.
    let integration_id = integration_page.trim_start_matches("/integrations/");
    ui.runtime
        .db()
        .integrations()
        .set_status(
            &tenant,
            integration_id,
            tributary_store::integrations::IntegrationStatus::NeedsReauth,
            Some("the provider refused the token"),
        )
        .await
        .unwrap();
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
        .post(
            &format!("{integration_page}/operations/DirectorySync"),
            Some(&other_cookie),
            &[("csrf", &other_csrf)],
        )
        .await;
    assert_eq!(foreign_run.status, StatusCode::NOT_FOUND);
    let foreign_disconnect = ui
        .post(
            &format!("{integration_page}/disconnect"),
            Some(&other_cookie),
            &[("csrf", &other_csrf)],
        )
        .await;
    assert_eq!(foreign_disconnect.status, StatusCode::NOT_FOUND);
    let others_list = ui
        .get("/records?model=DirectoryAccount", Some(&other_cookie))
        .await;
    assert!(others_list.body.contains("No records."));
    // One session's CSRF value does not work for another's.
    let crossed = ui
        .post(
            &format!("{integration_page}/disconnect"),
            Some(&cookie),
            &[("csrf", &other_csrf)],
        )
        .await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);

    // Signing out clears the cookie.
    let out = ui.post("/logout", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.cookie.unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn sign_in_forms_and_tenancy_sqlite() {
    sign_in_and_forms(tributary_store::testing::sqlite().await).await;
}

#[tokio::test]
async fn sign_in_forms_and_tenancy_postgres() {
    if let Some(backend) = tributary_store::testing::postgres("ui_forms").await {
        sign_in_and_forms(backend).await;
    }
}

#[tokio::test]
async fn pages_carry_security_headers_and_the_playground_evaluates_mappings() {
    let ui = Ui::start(tributary_store::testing::sqlite().await).await;
    let (_, token) = ui.tenant_token("Acme").await;
    let (cookie, csrf) = ui.sign_in(&token).await;
    let page = ui
        .http
        .get(format!("{}/playground?definition=cloudflare", ui.base))
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
