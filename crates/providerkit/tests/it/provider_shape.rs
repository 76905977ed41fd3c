//! What a provider looks like when built on the kit: an Okta-style directory listing in a few
//! declarations and small functions, run against a loopback server, throttled mid-way and
//! resumed from its checkpoint.

use std::time::Duration;

use serde_json::{Value, json};
use tributary_core::{
    ErrorKind, IngestPayloadSet, IntegrationContext, MappingEnvelope, OperationContext,
    OperationError, Secret,
};
use tributary_providerkit::{
    AuthHeader, Checkpoint, HostPolicy, HttpProfile, Pagination, Paginator, ProviderHttp,
    RateLimit, ResetHeader, RetryPolicy, validate_host_with_suffix,
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, path, query_param, query_param_is_missing},
};

// The declarations.
const ORG_DOMAINS: &[&str] = &["okta.com", "oktapreview.com", "okta-emea.com"];

fn profile() -> HttpProfile {
    HttpProfile::new("okta")
        .rate_limit(RateLimit::per_minute(600).burst(50))
        .reset_header(ResetHeader::OKTA)
        .remaining_header("x-rate-limit-remaining")
        .retry(RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(1),
            max_wait: Duration::from_secs(5),
        })
}

// The small functions.
fn client(
    org_url: &str,
    token: Secret,
    integration: &IntegrationContext,
    policy: HostPolicy,
) -> Result<ProviderHttp, OperationError> {
    let org = validate_host_with_suffix(org_url, policy, ORG_DOMAINS, &[])?;
    Ok(ProviderHttp::new(profile())?
        .scoped_for(integration, &token)
        .with_base_url(org)
        .with_auth(AuthHeader::scheme("SSWS", token)))
}

async fn sync_users(
    http: &ProviderHttp,
    ctx: &OperationContext,
) -> Result<IngestPayloadSet, OperationError> {
    let mut checkpoint = Checkpoint::load(ctx);
    let mut envelopes = Vec::new();
    let template = http.get("/api/v1/users").query("limit", "2");
    let mut pages = Paginator::resume(
        template,
        Pagination::link_header(),
        checkpoint.cursor("users"),
    );
    while let Some(page) = pages.next_page().await? {
        envelopes.extend(page.items.into_iter().map(|user| {
            let login = user["profile"]["login"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            MappingEnvelope::new(user).resource(login)
        }));
        checkpoint
            .set("users", page.next_cursor.as_deref())
            .save(ctx)
            .await?;
    }
    Ok(IngestPayloadSet::new("DirectoryAccount", envelopes))
}

fn user(id: &str) -> Value {
    json!({"id": id, "status": "ACTIVE", "profile": {"login": format!("{id}@Example.com")}})
}

#[tokio::test]
async fn an_okta_style_sync_is_throttled_and_resumes() {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(path("/api/v1/users"))
        .and(header("authorization", "SSWS okta-token"))
        .and(query_param_is_missing("after"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([user("a"), user("b")]))
                .insert_header(
                    "link",
                    format!("<{uri}/api/v1/users?after=b&limit=2>; rel=\"next\"").as_str(),
                ),
        )
        .mount(&server)
        .await;
    let reset = (crate::support::now_secs() + 600).to_string();
    Mock::given(path("/api/v1/users"))
        .and(query_param("after", "b"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", reset.as_str())
                .set_body_json(json!({"errorCode": "E0000047", "errorSummary": "API call exceeded rate limit due to too many requests."})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/users"))
        .and(query_param("after", "b"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([user("c")])))
        .mount(&server)
        .await;

    let mut integration = IntegrationContext::detached("okta");
    integration.integration_id = "int-1".into();
    let ctx = OperationContext::detached(integration.clone());
    let okta_client = |policy| client(&uri, Secret::new("okta-token"), &integration, policy);
    let http = okta_client(HostPolicy::loopback_for_tests()).unwrap();

    let err = sync_users(&http, &ctx).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimit);
    assert!(
        err.retry_after.unwrap() > Duration::from_secs(590),
        "{err:?}"
    );
    assert!(err.message.contains("exceeded rate limit"), "{err}");

    let resumed = sync_users(&http, &ctx).await.unwrap();
    let resources: Vec<&str> = resumed
        .envelopes
        .iter()
        .map(|e| e.resource.as_str())
        .collect();
    assert_eq!(resources, ["c@example.com"]);
    assert!(Checkpoint::load(&ctx).is_done("users"));

    // The production policy refuses the loopback org URL.
    let refused = okta_client(HostPolicy::public_https()).unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Config);
}
