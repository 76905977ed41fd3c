//! The fake GitHub behaves like GitHub's documented App, REST and GraphQL APIs.

use crate::support::{send, send_json};
use serde_json::{Value, json};
use tributary_core::Secret;
use tributary_providerkit::{GithubAppClaims, JwtSigner, github_app_jwt, unix_now};
use tributary_testkit::github_app::{
    APP_ID, APP_PRIVATE_KEY, FakeGithub, GithubOrg, OTHER_PRIVATE_KEY, Throttle,
};

fn signer(pem: &str) -> JwtSigner {
    JwtSigner::from_rsa_pem(&Secret::new(pem)).unwrap()
}

async fn mint(fake: &FakeGithub, jwt: &str) -> reqwest::Response {
    tributary_providerkit::install_crypto_provider();
    send(
        reqwest::Client::new()
            .post(format!(
                "{}/app/installations/{}/access_tokens",
                fake.base_url(),
                fake.installation_id()
            ))
            .header("Authorization", format!("Bearer {jwt}")),
    )
    .await
}

async fn get(url: &str, token: &str) -> reqwest::Response {
    send(
        reqwest::Client::new()
            .get(url)
            .header("Authorization", format!("Bearer {token}")),
    )
    .await
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_app_jwt_is_verified_against_the_apps_public_key() {
    let fake = FakeGithub::start(GithubOrg::sample(0, 0)).await.unwrap();
    let now = unix_now();

    let wrong_key = github_app_jwt(&signer(OTHER_PRIVATE_KEY), APP_ID, now).unwrap();
    let refused = mint(&fake, wrong_key.expose()).await;
    assert_eq!(refused.status().as_u16(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["message"], "A JSON web token could not be decoded");

    let wrong_issuer = github_app_jwt(&signer(APP_PRIVATE_KEY), "1", now).unwrap();
    assert_eq!(
        mint(&fake, wrong_issuer.expose()).await.status().as_u16(),
        401
    );

    let too_long = signer(APP_PRIVATE_KEY)
        .sign(&GithubAppClaims {
            iss: APP_ID.into(),
            iat: now,
            exp: now + 3_600,
        })
        .unwrap();
    assert_eq!(mint(&fake, too_long.expose()).await.status().as_u16(), 401);

    let expired = signer(APP_PRIVATE_KEY)
        .sign(&GithubAppClaims {
            iss: APP_ID.into(),
            iat: now - 700,
            exp: now - 100,
        })
        .unwrap();
    assert_eq!(mint(&fake, expired.expose()).await.status().as_u16(), 401);
    assert_eq!(fake.mints(), 0);

    let good = github_app_jwt(&signer(APP_PRIVATE_KEY), APP_ID, now).unwrap();
    let minted = mint(&fake, good.expose()).await;
    assert_eq!(minted.status().as_u16(), 201);
    let token: Value = minted.json().await.unwrap();
    assert!(token["token"].as_str().unwrap().starts_with("ghs_"));
    let expires = token["expires_at"].as_str().unwrap();
    assert!(expires.len() == 20 && expires.ends_with('Z'), "{expires}");

    fake.suspend(true);
    assert_eq!(mint(&fake, good.expose()).await.status().as_u16(), 403);
    fake.suspend(false);
    fake.uninstall();
    assert_eq!(mint(&fake, good.expose()).await.status().as_u16(), 404);
}

#[tokio::test]
async fn installation_tokens_page_expire_and_throttle_like_github() {
    let fake = FakeGithub::start(GithubOrg::sample(70, 0)).await.unwrap();
    let jwt = github_app_jwt(&signer(APP_PRIVATE_KEY), APP_ID, unix_now()).unwrap();
    let token: Value = mint(&fake, jwt.expose()).await.json().await.unwrap();
    let token = token["token"].as_str().unwrap().to_owned();

    // Default 30 a page, Link rel="next" and rel="last" until the end.
    let mut url = Some(format!("{}/installation/repositories", fake.base_url()));
    let (mut pages, mut seen) = (0, 0);
    while let Some(current) = url {
        let response = get(&current, &token).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(header(&response, "x-ratelimit-limit"), Some("5000"));
        assert!(header(&response, "x-ratelimit-remaining").is_some());
        assert!(header(&response, "x-ratelimit-reset").is_some());
        url = header(&response, "link").and_then(|link| {
            link.split(", ")
                .find(|part| part.ends_with("rel=\"next\""))
                .map(|part| part[1..part.find('>').unwrap()].to_owned())
        });
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["total_count"], 72);
        seen += body["repositories"].as_array().unwrap().len();
        pages += 1;
    }
    assert_eq!((pages, seen), (3, 72));

    // A secondary rate limit: 403 with Retry-After; then 429.
    fake.throttle([Throttle::Secondary(30), Throttle::TooManyRequests(2)]);
    let url = format!("{}/installation/repositories", fake.base_url());
    let throttled = get(&url, &token).await;
    assert_eq!(throttled.status().as_u16(), 403);
    assert_eq!(header(&throttled, "retry-after"), Some("30"));
    let throttled = get(&url, &token).await;
    assert_eq!(throttled.status().as_u16(), 429);
    assert_eq!(header(&throttled, "retry-after"), Some("2"));

    // Feature switched off: Dependabot 403, code scanning 404.
    let legacy = format!("{}/repos/acme-corp/legacy-sdk", fake.base_url());
    for (alerts, status) in [("dependabot/alerts", 403), ("code-scanning/alerts", 404)] {
        let response = get(&format!("{legacy}/{alerts}"), &token).await;
        assert_eq!(response.status().as_u16(), status, "{alerts}");
    }
    // The secret itself is only shown without hide_secret.
    let web = format!(
        "{}/repos/acme-corp/web-app/secret-scanning/alerts",
        fake.base_url()
    );
    let shown: Value = get(&web, &token).await.json().await.unwrap();
    assert!(shown[0].get("secret").is_some());
    let hidden: Value = get(&format!("{web}?hide_secret=true"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(hidden[0].get("secret").is_none());

    // GraphQL: cursor pages of members with their role on the edges.
    let page = send_json(
        reqwest::Client::new()
            .post(format!("{}/graphql", fake.base_url()))
            .header("Authorization", format!("Bearer {token}"))
            .json(
                &json!({"query": "query { organization { membersWithRole { nodes { login } } } }",
                      "variables": {"login": "acme-corp", "first": 1}}),
            ),
    )
    .await;
    let connection = &page["data"]["organization"]["membersWithRole"];
    assert_eq!(connection["totalCount"], 2);
    assert_eq!(connection["edges"][0]["role"], "ADMIN");
    assert_eq!(connection["pageInfo"]["hasNextPage"], true);
    assert!(connection["nodes"][0].get("role").is_none());

    // An expired token: 401 Bad credentials.
    fake.expire_tokens();
    let expired = get(&url, &token).await;
    assert_eq!(expired.status().as_u16(), 401);
    let body: Value = expired.json().await.unwrap();
    assert_eq!(body["message"], "Bad credentials");
}
