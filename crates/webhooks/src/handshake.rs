//! Provider handshakes answered before any verification of events: they prove to the provider that
//! we own the URL. Each returns `None` when the request is not that handshake.

use tributary_core::{HandshakeResponse, InboundWebhook};

/// Slack Events API `url_verification`: a JSON body `{"type": "url_verification", "challenge": ..}`
/// answered with the challenge as plain text. Slack signs this request too; verify it first.
pub fn slack_url_verification(request: &InboundWebhook) -> Option<HandshakeResponse> {
    let body: serde_json::Value = serde_json::from_slice(&request.body).ok()?;
    if body.get("type")?.as_str()? != "url_verification" {
        return None;
    }
    let challenge = body.get("challenge")?.as_str()?;
    Some(HandshakeResponse {
        status: 200,
        content_type: "text/plain",
        body: challenge.to_owned(),
    })
}

/// Okta event hooks' one-time verification: a GET with `X-Okta-Verification-Challenge`, answered
/// with `{"verification": <challenge>}`.
pub fn okta_verification_challenge(request: &InboundWebhook) -> Option<HandshakeResponse> {
    if !request.method.eq_ignore_ascii_case("GET") {
        return None;
    }
    let challenge = request.header("x-okta-verification-challenge")?;
    Some(HandshakeResponse {
        status: 200,
        content_type: "application/json",
        body: serde_json::json!({ "verification": challenge }).to_string(),
    })
}

/// Microsoft Graph change notifications: a POST with `?validationToken=...`, answered within 10
/// seconds with the token as plain text.
pub fn graph_validation_token(request: &InboundWebhook) -> Option<HandshakeResponse> {
    let token = request.query("validationToken")?;
    Some(HandshakeResponse {
        status: 200,
        content_type: "text/plain",
        body: token.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request with the given method and header and query pairs.
    fn inbound(method: &str, headers: &[(&str, &str)], query: &[(&str, &str)]) -> InboundWebhook {
        let owned = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect()
        };
        InboundWebhook {
            method: method.into(),
            headers: owned(headers),
            query: owned(query),
            ..Default::default()
        }
    }

    #[test]
    fn slack_challenge_is_echoed() {
        let request = InboundWebhook {
            method: "POST".into(),
            body: br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#.to_vec(),
            ..Default::default()
        };
        let response = slack_url_verification(&request).unwrap();
        assert_eq!(
            response.body,
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        );
        let event = InboundWebhook {
            body: br#"{"type":"event_callback"}"#.to_vec(),
            ..Default::default()
        };
        assert!(slack_url_verification(&event).is_none());
    }

    #[test]
    fn okta_challenge_is_wrapped() {
        let request = inbound(
            "GET",
            &[("x-okta-verification-challenge", "tx4AI7TAtEqNjFkZnjLZ")],
            &[],
        );
        let response = okta_verification_challenge(&request).unwrap();
        assert_eq!(response.body, r#"{"verification":"tx4AI7TAtEqNjFkZnjLZ"}"#);
        let post = InboundWebhook {
            method: "POST".into(),
            ..request
        };
        assert!(okta_verification_challenge(&post).is_none());
    }

    #[test]
    fn graph_token_is_echoed() {
        let request = inbound(
            "POST",
            &[],
            &[("validationToken", "Validation: Testing client")],
        );
        assert_eq!(
            graph_validation_token(&request).unwrap().body,
            "Validation: Testing client"
        );
    }
}
