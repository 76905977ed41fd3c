//! Every pagination style over several pages, and resuming from a saved cursor.

use serde_json::{Value, json};
use tributary_core::{ErrorKind, IntegrationContext, OperationContext};
use tributary_providerkit::{Checkpoint, Page, Pagination, Paginator, ProviderRequest};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_partial_json, method, path, query_param, query_param_is_missing},
};

use crate::support::http;

fn ids(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// Runs a listing to the end; returns the ids and the cursor after each page.
async fn run(
    template: ProviderRequest,
    style: Pagination,
    resume: Option<String>,
) -> (Vec<i64>, Vec<Option<String>>) {
    let mut pages = Paginator::resume(template, style, resume);
    let mut all = Vec::new();
    let mut cursors = Vec::new();
    while let Some(Page {
        items, next_cursor, ..
    }) = pages.next_page().await.unwrap()
    {
        all.extend(ids(&items));
        cursors.push(next_cursor);
    }
    assert!(pages.is_done());
    (all, cursors)
}

/// The full run sees every page; resuming at the first page's cursor sees the rest only.
async fn check_style(template: ProviderRequest, style: Pagination, expected: &[i64], rest: &[i64]) {
    let (all, cursors) = run(template.clone(), style.clone(), None).await;
    assert_eq!(all, expected);
    assert_eq!(cursors.last(), Some(&None), "the last page has no cursor");
    let first_cursor = cursors[0]
        .clone()
        .expect("the first page has a next cursor");
    let (resumed, _) = run(template, style, Some(first_cursor)).await;
    assert_eq!(resumed, rest);
}

#[tokio::test]
async fn link_header_pages() {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(path("/api/v1/users"))
        .and(query_param_is_missing("after"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 1}, {"id": 2}]))
                .append_header(
                    "link",
                    format!("<{uri}/api/v1/users?limit=2>; rel=\"self\"").as_str(),
                )
                .append_header(
                    "link",
                    format!("<{uri}/api/v1/users?after=2&limit=2>; rel=\"next\"").as_str(),
                ),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/users"))
        .and(query_param("after", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 3}, {"id": 4}]))
                .insert_header(
                    "link",
                    format!("<{uri}/api/v1/users?after=4&limit=2>; rel=\"next\"").as_str(),
                ),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/users"))
        .and(query_param("after", "4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 5}])))
        .mount(&server)
        .await;
    let template = http(&server).get("/api/v1/users").query("limit", "2");
    check_style(
        template,
        Pagination::link_header(),
        &[1, 2, 3, 4, 5],
        &[3, 4, 5],
    )
    .await;
}

#[tokio::test]
async fn next_links_to_another_host_are_refused() {
    let server = MockServer::start().await;
    Mock::given(path("/users"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 1}]))
                .insert_header("link", "<https://attacker.example/steal>; rel=\"next\""),
        )
        .mount(&server)
        .await;
    let mut pages = Paginator::new(http(&server).get("/users"), Pagination::link_header());
    pages.next_page().await.unwrap();
    let err = pages.next_page().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Provider);
    assert!(err.message.contains("another host"), "{err}");
}

#[tokio::test]
async fn odata_next_link_pages() {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(path("/v1.0/users"))
        .and(query_param_is_missing("$skiptoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
            "value": [{"id": 1}, {"id": 2}],
            "@odata.nextLink": format!("{uri}/v1.0/users?$select=id&$skiptoken=X2")
        })))
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users"))
        .and(query_param("$skiptoken", "X2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"id": 3}]})))
        .mount(&server)
        .await;
    let template = http(&server).get("/v1.0/users").query("$select", "id");
    check_style(template, Pagination::odata(), &[1, 2, 3], &[3]).await;
}

#[tokio::test]
async fn google_page_token_pages() {
    let server = MockServer::start().await;
    Mock::given(path("/admin/directory/v1/users"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"users": [{"id": 1}], "nextPageToken": "t2"})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/admin/directory/v1/users"))
        .and(query_param("pageToken", "t2"))
        .and(query_param("customer", "my_customer"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"users": [{"id": 2}], "nextPageToken": "t3"})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/admin/directory/v1/users"))
        .and(query_param("pageToken", "t3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"users": [{"id": 3}]})))
        .mount(&server)
        .await;
    let template = http(&server)
        .get("/admin/directory/v1/users")
        .query("customer", "my_customer");
    check_style(template, Pagination::google("/users"), &[1, 2, 3], &[2, 3]).await;
}

#[tokio::test]
async fn slack_cursor_pages() {
    let server = MockServer::start().await;
    Mock::given(path("/api/users.list"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "members": [{"id": 1}, {"id": 2}],
            "response_metadata": {"next_cursor": "dXNlcjpVMDYxTkZUVDI="}
        })))
        .mount(&server)
        .await;
    Mock::given(path("/api/users.list"))
        .and(query_param("cursor", "dXNlcjpVMDYxTkZUVDI="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "members": [{"id": 3}], "response_metadata": {"next_cursor": ""}
        })))
        .mount(&server)
        .await;
    let template = http(&server).get("/api/users.list").query("limit", "2");
    check_style(template, Pagination::slack("/members"), &[1, 2, 3], &[3]).await;
}

#[tokio::test]
async fn aws_next_token_pages() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/findings"))
        .and(body_partial_json(
            json!({"NextToken": "n2", "MaxResults": 2}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Findings": [{"id": 3}]})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/findings"))
        .and(body_partial_json(json!({"MaxResults": 2})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"Findings": [{"id": 1}, {"id": 2}], "NextToken": "n2"})),
        )
        .mount(&server)
        .await;
    let template = http(&server)
        .post("/findings")
        .idempotent(true)
        .json(&json!({"MaxResults": 2}));
    check_style(template, Pagination::aws("/Findings"), &[1, 2, 3], &[3]).await;
}

#[tokio::test]
async fn graphql_cursor_pages() {
    let server = MockServer::start().await;
    let connection = |ids: &[i64], next: Option<&str>| {
        json!({"data": {"viewer": {"repositories": {
            "nodes": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
            "pageInfo": {"hasNextPage": next.is_some(), "endCursor": next}
        }}}})
    };
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_partial_json(
            json!({"variables": {"after": "Y3Vyc29yOjI="}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(connection(&[3], None)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(connection(&[1, 2], Some("Y3Vyc29yOjI="))),
        )
        .mount(&server)
        .await;
    let template = http(&server).post("/graphql").idempotent(true).json(&json!({
        "query": "query($first:Int!,$after:String){viewer{repositories(first:$first,after:$after){nodes{id} pageInfo{hasNextPage endCursor}}}}",
        "variables": {"first": 2}
    }));
    check_style(
        template,
        Pagination::graphql("/data/viewer/repositories"),
        &[1, 2, 3],
        &[3],
    )
    .await;
}

#[tokio::test]
async fn graphql_rate_limit_errors_are_rate_limits() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": null, "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for installation."}]
        })))
        .mount(&server)
        .await;
    let mut pages = Paginator::new(
        http(&server).post("/graphql").json(&json!({"query": "{}"})),
        Pagination::graphql("/data/viewer/repositories"),
    );
    let err = pages.next_page().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimit);
}

#[tokio::test]
async fn cloudflare_page_number_pages() {
    let server = MockServer::start().await;
    let page = |ids: &[i64], number: u64| {
        json!({"success": true, "errors": [], "messages": [],
            "result": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
            "result_info": {"page": number, "per_page": 2, "count": ids.len(), "total_count": 5, "total_pages": 3}})
    };
    Mock::given(path("/client/v4/accounts/acc/members"))
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[1, 2], 1)))
        .mount(&server)
        .await;
    Mock::given(path("/client/v4/accounts/acc/members"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[3, 4], 2)))
        .mount(&server)
        .await;
    Mock::given(path("/client/v4/accounts/acc/members"))
        .and(query_param("page", "3"))
        .and(query_param("per_page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[5], 3)))
        .mount(&server)
        .await;
    let template = http(&server)
        .get("/client/v4/accounts/acc/members")
        .query("per_page", "2");
    check_style(
        template,
        Pagination::cloudflare(),
        &[1, 2, 3, 4, 5],
        &[3, 4, 5],
    )
    .await;
}

#[tokio::test]
async fn a_throttled_listing_resumes_from_its_checkpoint() {
    let server = MockServer::start().await;
    Mock::given(path("/users"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"users": [{"id": 1}], "nextPageToken": "t2"})),
        )
        .mount(&server)
        .await;
    // The second page is throttled for longer than the client waits.
    Mock::given(path("/users"))
        .and(query_param("pageToken", "t2"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/users"))
        .and(query_param("pageToken", "t2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"users": [{"id": 2}]})))
        .mount(&server)
        .await;
    let ctx = OperationContext::detached(IntegrationContext::detached("test"));
    let client = http(&server);
    let sync = |ctx: OperationContext| {
        let client = client.clone();
        async move {
            let mut checkpoint = Checkpoint::load(&ctx);
            let mut seen = Vec::new();
            let mut pages = Paginator::resume(
                client.get("/users"),
                Pagination::google("/users"),
                checkpoint.cursor("users"),
            );
            while let Some(page) = pages.next_page().await? {
                seen.extend(ids(&page.items));
                checkpoint
                    .set("users", page.next_cursor.as_deref())
                    .save(&ctx)
                    .await?;
            }
            Ok::<_, tributary_core::OperationError>(seen)
        }
    };
    let err = sync(ctx.clone()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimit);
    assert_eq!(err.retry_after, Some(std::time::Duration::from_secs(3600)));
    assert_eq!(
        Checkpoint::load(&ctx).cursor("users").as_deref(),
        Some("t2")
    );
    assert_eq!(sync(ctx.clone()).await.unwrap(), [2]);
    assert!(Checkpoint::load(&ctx).is_done("users"));
}
