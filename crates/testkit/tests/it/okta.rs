//! The fake Okta behaves like Okta's documented API.

use crate::support::send;
use serde_json::Value;
use tributary_testkit::okta::{FakeOkta, OktaOrg};

const TOKEN: &str = "00abcdefTestToken";

fn next_link(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.ends_with("rel=\"next\""))
        .map(|v| v[1..v.find('>').unwrap()].to_owned())
}

async fn get(url: &str, token: &str) -> reqwest::Response {
    tributary_providerkit::install_crypto_provider();
    send(
        reqwest::Client::new()
            .get(url)
            .header("Authorization", format!("SSWS {token}")),
    )
    .await
}

#[tokio::test]
async fn pages_follow_link_headers_until_the_end() {
    let okta = start(450, 3).await;
    let mut url = Some(format!(
        "{}/api/v1/users?limit=200&search=status%20pr",
        okta.org_url()
    ));
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(current) = url {
        let response = get(&current, TOKEN).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("x-rate-limit-remaining"));
        url = next_link(&response);
        let users: Vec<Value> = response.json().await.unwrap();
        seen.extend(
            users
                .into_iter()
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 450);
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 450, "no user twice");
}

/// A fake org of `users` users and `groups` groups that accepts [`TOKEN`].
async fn start(users: usize, groups: usize) -> FakeOkta {
    FakeOkta::start(OktaOrg::sample(users, groups), TOKEN)
        .await
        .unwrap()
}

/// The JSON list the fake answers at `path` to the API token.
async fn list(okta: &FakeOkta, path: &str) -> Vec<Value> {
    let response = get(&format!("{}{path}", okta.org_url()), TOKEN).await;
    response.json().await.unwrap()
}

#[tokio::test]
async fn default_search_hides_deprovisioned_users() {
    let okta = start(46, 1).await;
    let users = list(&okta, "/api/v1/users").await;
    assert_eq!(users.len(), 44);
    let url = format!(
        "{}/api/v1/users?search=profile.department%20eq%20%22Sales%22",
        okta.org_url()
    );
    let users: Vec<Value> = get(&url, TOKEN).await.json().await.unwrap();
    assert!(users.iter().all(|u| u["profile"]["department"] == "Sales"));
}

#[tokio::test]
async fn bad_tokens_get_okta_401_bodies() {
    let okta = start(2, 1).await;
    let response = get(&format!("{}/api/v1/users/me", okta.org_url()), "wrong").await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errorCode"], "E0000011");
    okta.rotate_token("new-token");
    let response = get(&format!("{}/api/v1/users/me", okta.org_url()), TOKEN).await;
    assert_eq!(response.status(), 401);
    let response = get(&format!("{}/api/v1/users/me", okta.org_url()), "new-token").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn throttling_answers_429_with_reset_headers() {
    let okta = start(2, 1).await;
    okta.throttle_next(2);
    for _ in 0..2 {
        let response = get(&format!("{}/api/v1/users", okta.org_url()), TOKEN).await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["x-rate-limit-remaining"], "0");
        let reset: u64 = response.headers()["x-rate-limit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset > 1_700_000_000);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errorCode"], "E0000047");
    }
    let response = get(&format!("{}/api/v1/users", okta.org_url()), TOKEN).await;
    assert_eq!(response.status(), 200);
    assert_eq!(okta.request_count(), 3);
}

#[tokio::test]
async fn group_members_and_deletions() {
    let okta = start(10, 2).await;
    let groups = list(&okta, "/api/v1/groups").await;
    let group = groups[0]["id"].as_str().unwrap();
    let members_url = format!("{}/api/v1/groups/{group}/users", okta.org_url());
    let members: Vec<Value> = get(&members_url, TOKEN).await.json().await.unwrap();
    assert_eq!(members.len(), 5);
    okta.remove_user(members[0]["id"].as_str().unwrap());
    let members: Vec<Value> = get(&members_url, TOKEN).await.json().await.unwrap();
    assert_eq!(members.len(), 4);
    let missing = get(
        &format!("{}/api/v1/groups/00gnope/users", okta.org_url()),
        TOKEN,
    )
    .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_service_app_token_reads_what_its_scopes_allow() {
    use tributary_core::Secret;
    use tributary_providerkit::{ClientAuth, HttpProfile, JwtSigner, OAuthClient, ProviderHttp};
    use tributary_testkit::{
        authorization::CLIENT_PRIVATE_KEY_PEM,
        okta::{ORG_ID, SERVICE_APP_CLIENT_ID, SERVICE_APP_KEY_ID},
    };

    tributary_providerkit::install_crypto_provider();
    let okta = start(3, 1).await;
    let signer = JwtSigner::from_rsa_pem(&Secret::new(CLIENT_PRIVATE_KEY_PEM))
        .unwrap()
        .with_key_id(SERVICE_APP_KEY_ID);
    let http = ProviderHttp::new(HttpProfile::new("okta-test")).unwrap();
    let client = OAuthClient::new(
        &http,
        SERVICE_APP_CLIENT_ID,
        format!("{}/oauth2/v1/token", okta.org_url()),
    )
    .client_auth(ClientAuth::PrivateKeyJwt(signer));
    let users_only = client
        .client_credentials(&["okta.users.read"])
        .await
        .unwrap();
    let bearer = |path: &str, token: &str| {
        reqwest::Client::new()
            .get(format!("{}{path}", okta.org_url()))
            .bearer_auth(token)
            .send()
    };
    let token = users_only.access_token.expose();
    assert_eq!(bearer("/api/v1/users", token).await.unwrap().status(), 200);
    let groups = bearer("/api/v1/groups", token).await.unwrap();
    assert_eq!(groups.status(), 403);
    let challenge = groups.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert_eq!(
        bearer("/api/v1/users/me", token).await.unwrap().status(),
        404
    );

    okta.authorization().expire_access_tokens();
    let expired = bearer("/api/v1/users", token).await.unwrap();
    assert_eq!(expired.status(), 401);
    assert!(
        expired.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    let document: Value = reqwest::get(format!("{}/.well-known/okta-organization", okta.org_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["id"], ORG_ID);
    assert_eq!(
        document["_links"]["organization"]["href"],
        "https://fake-acme.okta.com"
    );
}
