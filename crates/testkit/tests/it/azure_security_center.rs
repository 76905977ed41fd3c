//! The fake Azure behaves like the Microsoft identity platform and Azure Resource Manager as
//! Microsoft documents them.

use crate::support::{send, send_json};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tributary_testkit::{
    authorization::CLIENT_PRIVATE_KEY_PEM,
    azure_security_center::{
        ARM_SCOPE, CERT_CLIENT_ID, CERTIFICATE_PEM, CLIENT_SECRET, DefenderData,
        FakeAzureSecurityCenter, SECRET_CLIENT_ID, SUBSCRIPTION_A, SUBSCRIPTION_HIDDEN, TENANT_ID,
        thumbprints,
    },
};

fn client() -> reqwest::Client {
    tributary_providerkit::install_crypto_provider();
    reqwest::Client::new()
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn token_request(
    fake: &FakeAzureSecurityCenter,
    tenant: &str,
    pairs: &[(&str, &str)],
) -> (u16, Value) {
    let response = send(
        client()
            .post(format!("{}/{tenant}/oauth2/v2.0/token", fake.base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs)),
    )
    .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The fake Azure with `data` on loopback.
async fn start(data: DefenderData) -> FakeAzureSecurityCenter {
    FakeAzureSecurityCenter::start(data).await.unwrap()
}

async fn secret_token(fake: &FakeAzureSecurityCenter) -> String {
    let (status, body) = token_request(
        fake,
        TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", SECRET_CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", ARM_SCOPE),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn assertion(fake: &FakeAzureSecurityCenter, x5t: Option<String>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut header = Header::new(Algorithm::RS256);
    header.x5t = x5t;
    let claims = json!({
        "aud": format!("{}/{TENANT_ID}/oauth2/v2.0/token", fake.base_url()),
        "iss": CERT_CLIENT_ID, "sub": CERT_CLIENT_ID, "jti": "j1", "iat": now, "nbf": now, "exp": now + 300,
    });
    let key = EncodingKey::from_rsa_pem(CLIENT_PRIVATE_KEY_PEM.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test]
async fn assessments_page_through_next_links_until_the_end() {
    let fake = start(DefenderData::sample(250, 10)).await;
    let token = secret_token(&fake).await;
    let mut url = Some(format!(
        "{}/subscriptions/{SUBSCRIPTION_A}/providers/Microsoft.Security/assessments?api-version=2021-06-01",
        fake.base_url()
    ));
    let (mut pages, mut seen) = (0, Vec::new());
    while let Some(current) = url {
        let response = send(client().get(&current).bearer_auth(&token)).await;
        assert_eq!(response.status(), 200);
        assert!(
            response
                .headers()
                .contains_key("x-ms-ratelimit-remaining-subscription-reads")
        );
        assert!(response.headers().contains_key("x-ms-request-id"));
        let body: Value = response.json().await.unwrap();
        url = body["nextLink"].as_str().map(str::to_owned);
        if let Some(next) = &url {
            assert!(
                next.starts_with(&fake.base_url()) && next.contains("$skipToken="),
                "{next}"
            );
        }
        seen.extend(
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
    }
    assert_eq!(pages, 3);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 250);

    // The subscription list leaves out the one without a role; reading it is 403.
    let body = send_json(
        client()
            .get(format!(
                "{}/subscriptions?api-version=2022-12-01",
                fake.base_url()
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(body["value"].as_array().unwrap().len(), 2);
    let response = send(client()
        .get(format!(
            "{}/subscriptions/{SUBSCRIPTION_HIDDEN}/providers/Microsoft.Security/assessments?api-version=2021-06-01",
            fake.base_url()
        ))
        .bearer_auth(&token)).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AuthorizationFailed");

    // No api-version: ARM's 400.
    let response = send(
        client()
            .get(format!("{}/subscriptions", fake.base_url()))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "MissingApiVersionParameter");
}

#[tokio::test]
async fn expired_tokens_get_401_and_throttled_pages_429_with_retry_after() {
    let fake = start(DefenderData::sample(20, 10)).await;
    let token = secret_token(&fake).await;
    let url = format!("{}/subscriptions?api-version=2022-12-01", fake.base_url());
    fake.throttle_page("subscriptions", 1, 7);
    let response = send(client().get(&url).bearer_auth(&token)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(
        response.headers()["x-ms-ratelimit-remaining-subscription-reads"],
        "0"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert_eq!(
        send(client().get(&url).bearer_auth(&token)).await.status(),
        200
    );

    fake.authorization().expire_access_tokens();
    let response = send(client().get(&url).bearer_auth(&token)).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ExpiredAuthenticationToken");
    let response = send(client().get(&url).bearer_auth("garbage")).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
}

#[tokio::test]
async fn the_token_endpoint_answers_with_entra_errors() {
    let fake = start(DefenderData::default()).await;
    let base = [("grant_type", "client_credentials"), ("scope", ARM_SCOPE)];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        pairs
    };
    let (status, body) = token_request(
        &fake,
        TENANT_ID,
        &with(&[("client_id", SECRET_CLIENT_ID), ("client_secret", "wrong")]),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(body["error_codes"][0], 7000215);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: ")
    );
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());

    assert_eq!(
        secret_error(
            &fake,
            "00000000-0000-4000-8000-000000000000",
            SECRET_CLIENT_ID,
            CLIENT_SECRET
        )
        .await,
        (400, Some(90002))
    );

    assert_eq!(
        secret_error(
            &fake,
            TENANT_ID,
            "11111111-1111-4111-8111-111111111111",
            "x"
        )
        .await,
        (400, Some(700016))
    );

    fake.expire_client_secret();
    assert_eq!(
        secret_error(&fake, TENANT_ID, SECRET_CLIENT_ID, CLIENT_SECRET).await,
        (401, Some(7000222))
    );
}

/// The status and first AADSTS error code of a client-credentials request to `tenant` with a
/// client secret.
async fn secret_error(
    fake: &FakeAzureSecurityCenter,
    tenant: &str,
    client_id: &str,
    client_secret: &str,
) -> (u16, Option<u64>) {
    let pairs = [
        ("grant_type", "client_credentials"),
        ("scope", ARM_SCOPE),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ];
    let (status, body) = token_request(fake, tenant, &pairs).await;
    (status, body["error_codes"][0].as_u64())
}

/// A client-credentials request to the tenant with the certificate client's `assertion`.
async fn certificate_request(fake: &FakeAzureSecurityCenter, assertion: &str) -> (u16, Value) {
    let assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let pairs = [
        ("grant_type", "client_credentials"),
        ("scope", ARM_SCOPE),
        ("client_id", CERT_CLIENT_ID),
        ("client_assertion_type", assertion_type),
        ("client_assertion", assertion),
    ];
    token_request(fake, TENANT_ID, &pairs).await
}

#[tokio::test]
async fn a_certificate_assertion_must_name_the_registered_certificate() {
    let fake = start(DefenderData::default()).await;
    let (x5t, _) = thumbprints(CERTIFICATE_PEM);
    let signed = assertion(&fake, Some(x5t));
    let (status, body) = certificate_request(&fake, &signed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");

    let unnamed = assertion(&fake, None);
    let (status, body) = certificate_request(&fake, &unnamed).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700027)),
        "{body}"
    );
}
