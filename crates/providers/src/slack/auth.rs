//! The OAuth v2 mode: "Add to Slack" with the operator's app, the code exchanged at
//! `oauth.v2.access`, refresh when the app has token rotation on, and `auth.revoke` on
//! disconnect.
//!
//! Slack's token endpoint is not standard OAuth: it answers refusals with HTTP 200 and
//! `{"ok": false, "error": "invalid_code"}`, and the bot token sits at the top level next to the
//! workspace (`team`) and the bot user. The client's answer check reads those refusals, so the
//! kit's `OAuthClient` can be used as it is. Slack does not document PKCE for this flow; the
//! single-use `state` of the keymaker session protects the callback.

use serde::Deserialize;
use serde_json::Value;
use tributary_core::{
    AuthCompleteResult, AuthRegistration, AuthStartResult, DisconnectRequest, DisconnectResult,
    OperationError, Secret, StableName,
};
use tributary_providerkit::{
    AuthorizationRequest, ClientAuth, OAuthClient, TokenSet, required_secret,
};

use super::{SlackOAuth, SlackOperatorConfig, client};

/// Bot scopes the app asks for, comma-separated as Slack wants them.
pub const BOT_SCOPES: &[&str] = &["users:read", "users:read.email", "team:read", "chat:write"];
/// Where the user approves the installation.
pub const AUTHORIZE_PATH: &str = "/oauth/v2/authorize";
/// The Web API method that exchanges codes and refresh tokens.
pub const TOKEN_METHOD: &str = "oauth.v2.access";

fn oauth_client(operator: &SlackOperatorConfig) -> Result<OAuthClient, OperationError> {
    let client_id = operator
        .client_id
        .as_deref()
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            OperationError::config(
                "the Slack OAuth mode needs clientId in the operator config ([definitions.slack])",
            )
        })?;
    let secret = required_secret(
        operator.client_secret.as_ref(),
        "the Slack OAuth mode needs clientSecret in the operator config ([definitions.slack])",
    )?;
    let base = client::base_url(operator)?;
    Ok(OAuthClient::new(
        &client::base_http()?,
        client_id.trim(),
        client::method_url(&base, TOKEN_METHOD),
    )
    .authorize_url(format!(
        "{}{AUTHORIZE_PATH}",
        base.as_str().trim_end_matches('/')
    ))
    .client_auth(ClientAuth::Basic(secret))
    .scope_separator(","))
}

pub(super) fn registration(operator: SlackOperatorConfig) -> AuthRegistration {
    let start_operator = operator.clone();
    let complete_operator = operator.clone();
    AuthRegistration::new(
        SlackOAuth::NAME,
        move |start| {
            let operator = start_operator.clone();
            async move {
                let mut request =
                    AuthorizationRequest::from_session(&start, BOT_SCOPES).without_nonce();
                request.code_challenge = None;
                let url = oauth_client(&operator)?.authorization_url(&request)?;
                Ok(AuthStartResult {
                    url,
                    provider_state: Value::Null,
                })
            }
        },
        move |complete| {
            let operator = complete_operator.clone();
            async move {
                if let Some(error) = complete.callback.get("error") {
                    return Err(OperationError::auth(format!(
                        "Slack did not install the app: {}",
                        tributary_providerkit::classify::excerpt(error, &[])
                    )));
                }
                let code = complete
                    .callback
                    .get("code")
                    .ok_or_else(|| OperationError::auth("Slack's callback carries no code"))?;
                let tokens = oauth_client(&operator)?
                    .exchange_code(code, &complete.redirect_uri, None)
                    .await?;
                Ok(AuthCompleteResult {
                    credential: credential(&tokens)?,
                    auth_input: Value::Null,
                })
            }
        },
    )
    .with_refresh(move |request| {
        let operator = operator.clone();
        async move {
            let current = TokenSet::deserialize(&request.credential).map_err(|_| {
                OperationError::config("the stored Slack tokens have the wrong shape; reconnect")
            })?;
            let fresh = oauth_client(&operator)?.refresh(&current, &[]).await?;
            credential(&fresh)
        }
    })
}

fn credential(tokens: &TokenSet) -> Result<Value, OperationError> {
    serde_json::to_value(tokens)
        .map_err(|_| OperationError::internal("Slack tokens could not be serialised"))
}

/// Revokes the installation's token. A token Slack already considers revoked is fine.
pub(super) async fn revoke(
    request: DisconnectRequest,
    operator: SlackOperatorConfig,
) -> Result<DisconnectResult, OperationError> {
    let token: Secret = client::bot_token(&request.credentials)?;
    let http = client::api_http(&operator, &request.integration, token)?;
    match http.post("auth.revoke").send().await {
        Ok(_) => Ok(DisconnectResult {
            message: "the Slack token was revoked".into(),
            skip_local_cleanup: false,
        }),
        Err(err) if err.kind == tributary_core::ErrorKind::Auth => Ok(DisconnectResult {
            message: "the Slack token was already revoked".into(),
            skip_local_cleanup: false,
        }),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_stored_credential_keeps_rotation_fields() {
        let answer = json!({"ok": true, "access_token": "xoxe.xoxb-1-abc", "token_type": "bot",
            "scope": "users:read,team:read", "refresh_token": "xoxe-1-def", "expires_in": 43200});
        let tokens = TokenSet::from_token_response(&answer, 1_000).unwrap();
        let stored = credential(&tokens).unwrap();
        assert_eq!(stored["expires_at"], 44_200);
        assert_eq!(stored["refresh_token"], "xoxe-1-def");
        assert_eq!(stored["scopes"], json!(["users:read", "team:read"]));
    }
}
