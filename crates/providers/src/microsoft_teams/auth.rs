//! The sign-in: the Microsoft identity platform's authorization code flow with PKCE (S256) and an
//! OIDC nonce, delegated Graph scopes plus `offline_access` for a refresh token.
//!
//! - The id token of the code exchange is verified (RS256 against the platform's keys, issuer
//!   `<login>/<tid>/v2.0`, audience = the client id, expiry, the session's nonce); its `tid` is
//!   the tenant id of the integration's metadata. The original read `tid` from the access token
//!   without verifying anything.
//! - Microsoft rotates refresh tokens: every refresh answer carries a new one, which replaces the
//!   stored one. The original never refreshed, so it stopped working an hour after connecting.
//!   A refresh Microsoft refuses (`invalid_grant`: consent revoked, password reset, the token
//!   expired after 90 days unused) is an auth error, so the runtime sets `needs_reauth`.

use serde_json::{Value, json};
use tributary_core::{
    AuthCompleteRequest, AuthCompleteResult, AuthRegistration, AuthStartRequest, AuthStartResult,
    OperationError, RefreshRequest, StableName,
};
use tributary_providerkit::{AuthorizationRequest, TokenSet, classify::excerpt, decode_stored};

use super::{MicrosoftTeamsOAuth, MicrosoftTeamsOperatorConfig, client::oauth_client};
use crate::microsoft::GraphEndpoints;
use crate::registration::auth_flow;

/// What the sign-in asks for besides the Graph permissions: an id token (`openid`, `profile`)
/// and a refresh token (`offline_access`).
const SIGN_IN_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// Every scope the sign-in asks for: the sign-in's and the required Graph permissions on the
/// configured Graph (a national cloud's resource when `graphUrl` names one). All delegated; none
/// needs an administrator's consent.
fn requested_scopes(graph: &GraphEndpoints) -> Vec<String> {
    SIGN_IN_SCOPES
        .iter()
        .map(|scope| (*scope).to_owned())
        .chain(
            REQUIRED_GRAPH_PERMISSIONS
                .iter()
                .map(|permission| graph.delegated_scope(permission)),
        )
        .collect()
}

/// The scopes a refresh asks for: those the last answer granted (RFC 6749 section 6: a refresh
/// may not ask for more than was granted, and a strict server refuses it with `invalid_scope`),
/// with `offline_access` so a new refresh token comes back; what was requested when the answer
/// listed none.
fn refresh_scopes(current: &TokenSet, graph: &GraphEndpoints) -> Vec<String> {
    if current.scopes.is_empty() {
        return requested_scopes(graph);
    }
    let mut scopes = current.scopes.clone();
    if !scopes.iter().any(|scope| scope == "offline_access") {
        scopes.push("offline_access".to_owned());
    }
    scopes
}

/// The Graph permissions without which the integration cannot work.
const REQUIRED_GRAPH_PERMISSIONS: [&str; 4] = [
    "User.Read",
    "Team.ReadBasic.All",
    "ChannelMessage.Send",
    "ChatMessage.Send",
];

pub(super) fn registration(operator: MicrosoftTeamsOperatorConfig) -> AuthRegistration {
    auth_flow(
        MicrosoftTeamsOAuth::NAME,
        operator,
        start,
        complete,
        refresh,
    )
}

async fn start(
    request: AuthStartRequest,
    operator: MicrosoftTeamsOperatorConfig,
) -> Result<AuthStartResult, OperationError> {
    let scopes = requested_scopes(&operator.endpoints()?.graph);
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let url = oauth_client(&operator)?.authorization_url(
        &AuthorizationRequest::from_session(&request, &scopes)
            // The code comes back in the callback's query string.
            .param("response_mode", "query")
            // Let the user pick the work account rather than reuse whatever session is open.
            .param("prompt", "select_account"),
    )?;
    Ok(AuthStartResult {
        url,
        provider_state: Value::Null,
    })
}

/// The permission name of a granted scope (`https://graph.microsoft.com/User.Read` -> `User.Read`).
fn permission(scope: &str) -> &str {
    scope.rsplit('/').next().unwrap_or(scope)
}

async fn complete(
    request: AuthCompleteRequest,
    operator: MicrosoftTeamsOperatorConfig,
) -> Result<AuthCompleteResult, OperationError> {
    if let Some(error) = request.callback.get("error") {
        let description = request.callback.get("error_description").unwrap_or(error);
        return Err(OperationError::auth(format!(
            "Microsoft did not complete the sign-in ({}): {}",
            excerpt(error, &[]),
            excerpt(description, &[])
        )));
    }
    let code = request.callback.get("code").ok_or_else(|| {
        OperationError::auth("Microsoft's callback carries no authorization code")
    })?;
    let client = oauth_client(&operator)?;
    let tokens = client
        .exchange_code(code, &request.redirect_uri, Some(&request.code_verifier))
        .await?;
    if tokens.refresh_token.is_none() {
        return Err(OperationError::auth(
            "Microsoft returned no refresh token; check that the app may request offline_access \
             and connect again",
        ));
    }
    // Consent can leave permissions out (an administrator may have restricted them).
    let missing: Vec<&str> = REQUIRED_GRAPH_PERMISSIONS
        .iter()
        .copied()
        .filter(|needed| {
            !tokens.scopes.is_empty()
                && !tokens
                    .scopes
                    .iter()
                    .any(|s| permission(s).eq_ignore_ascii_case(needed))
        })
        .collect();
    if !missing.is_empty() {
        return Err(OperationError::auth(format!(
            "the sign-in did not grant every permission; consent to: {}",
            missing.join(", ")
        )));
    }
    let id_token = tokens.id_token.as_ref().ok_or_else(|| {
        OperationError::auth("Microsoft returned no id token, so the tenant cannot be verified")
    })?;
    let endpoints = operator.endpoints()?;
    let verifier = endpoints
        .graph
        .id_token_verifier(&endpoints.authority, client.client_id())?;
    let claims = verifier.verify(id_token, &request.nonce).await?;
    let tenant_id = claims.tid.clone().unwrap_or_default().to_ascii_lowercase();
    if let Some(expected) = &endpoints.tenant
        && &tenant_id != expected
    {
        return Err(OperationError::auth(
            "the account that signed in belongs to another tenant than the app's",
        ));
    }
    let claim = |name: &str| claims.extra.get(name).and_then(Value::as_str);
    Ok(AuthCompleteResult {
        credential: credential(&tokens)?,
        auth_input: json!({
            "tenantId": tenant_id,
            "userObjectId": claim("oid"),
            "preferredUsername": claim("preferred_username"),
        }),
    })
}

async fn refresh(
    request: RefreshRequest,
    operator: MicrosoftTeamsOperatorConfig,
) -> Result<Value, OperationError> {
    let current: TokenSet = decode_stored(&request.credential, "Microsoft sign-in")?;
    // The v2.0 endpoint wants the scopes again; it answers with a new refresh token.
    let scopes = refresh_scopes(&current, &operator.endpoints()?.graph);
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let fresh = oauth_client(&operator)?.refresh(&current, &scopes).await?;
    credential(&fresh)
}

fn credential(tokens: &TokenSet) -> Result<Value, OperationError> {
    serde_json::to_value(tokens)
        .map_err(|_| OperationError::internal("the Microsoft tokens did not serialise"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(url: &str) -> GraphEndpoints {
        let site = crate::microsoft::Site {
            definition: "microsoft_teams",
            budget: super::super::client::BUDGET,
            allow_loopback: false,
        };
        GraphEndpoints::new(site, None, Some(url)).unwrap()
    }

    #[test]
    fn scopes_name_the_configured_graph_and_a_refresh_asks_only_for_what_was_granted() {
        let us = graph("https://graph.microsoft.us");
        let requested = requested_scopes(&us);
        assert!(requested.contains(&"https://graph.microsoft.us/ChannelMessage.Send".to_owned()));
        assert!(!requested.iter().any(|s| s.contains("graph.microsoft.com")));
        assert_eq!(
            graph("https://microsoftgraph.chinacloudapi.cn").default_scope(),
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
        assert_eq!(
            graph("https://dod-graph.microsoft.us/").default_scope(),
            "https://dod-graph.microsoft.us/.default"
        );
        // Granted less than asked (an administrator withheld ChatMessage.Send): the refresh
        // asks for the granted ones only, with offline_access for the next refresh token.
        let current: TokenSet = serde_json::from_value(json!({
            "access_token": "at",
            "refresh_token": "rt",
            "scopes": [
                "https://graph.microsoft.us/User.Read",
                "https://graph.microsoft.us/ChannelMessage.Send",
            ],
        }))
        .unwrap();
        assert_eq!(
            refresh_scopes(&current, &us),
            [
                "https://graph.microsoft.us/User.Read",
                "https://graph.microsoft.us/ChannelMessage.Send",
                "offline_access"
            ]
        );
        let unlisted: TokenSet = serde_json::from_value(json!({"access_token": "at"})).unwrap();
        assert_eq!(refresh_scopes(&unlisted, &us), requested);
    }

    #[test]
    fn permissions_are_read_with_or_without_the_resource() {
        assert_eq!(
            permission("https://graph.microsoft.com/ChannelMessage.Send"),
            "ChannelMessage.Send"
        );
        assert_eq!(permission("User.Read"), "User.Read");
    }
}
