//! The user's browser in an authorization flow, for tests: it opens the authorize URL a connect
//! returned, the fake provider approves at once and redirects (303) to the callback, and the
//! browser hands the callback's query parameters over instead of following the redirect (303
//! from the authorization servers, 302 from GitHub's install page).

/// The query parameters of `url`, in order.
pub fn query_params(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .expect("an absolute URL")
        .query_pairs()
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// Opens `authorize_url` (a fake authorization server or install page, which approves at once)
/// and returns the parameters of the callback it redirects to. The test installs a TLS crypto provider first.
pub async fn approve(authorize_url: &str) -> Vec<(String, String)> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a plain client builds");
    let answer = browser
        .get(authorize_url)
        .send()
        .await
        .expect("the fake authorization server answers");
    assert!(
        answer.status().is_redirection(),
        "the fake approves with a redirect, not {}",
        answer.status()
    );
    let callback = answer
        .headers()
        .get("location")
        .and_then(|location| location.to_str().ok())
        .expect("the approval redirects to the callback");
    query_params(callback)
}
