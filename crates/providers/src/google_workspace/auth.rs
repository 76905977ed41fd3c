//! The OAuth connection: authorization code with PKCE, offline access (a refresh token) and
//! forced consent, exchanged and refreshed at Google's token endpoint.
//!
//! The original stored the refresh token and never used it, so every sync failed an hour after
//! connecting. Here the runtime calls [`refresh`] before the access token expires; Google's
//! `invalid_grant` (consent revoked, token expired after six months unused, password change) is an
//! auth error, which sets the integration to `needs_reauth`.

use serde_json::{Value, json};
use tributary_core::{
    AuthCompleteRequest, AuthCompleteResult, AuthRegistration, AuthStartRequest, AuthStartResult,
    OperationError, RefreshRequest, StableName,
};
use tributary_providerkit::{AuthorizationRequest, TokenSet, decode_stored};

use super::{
    GoogleWorkspaceOAuth, GoogleWorkspaceOperatorConfig,
    client::{SCOPES, oauth_client},
};
use crate::registration::auth_flow;

pub(super) fn oauth(operator: GoogleWorkspaceOperatorConfig) -> AuthRegistration {
    auth_flow(
        GoogleWorkspaceOAuth::NAME,
        operator,
        start,
        complete,
        refresh,
    )
}

async fn start(
    request: AuthStartRequest,
    operator: GoogleWorkspaceOperatorConfig,
) -> Result<AuthStartResult, OperationError> {
    let url = oauth_client(&operator)?.authorization_url(
        &AuthorizationRequest::from_session(&request, &SCOPES)
            // No id token is asked for (no `openid` scope), so no nonce.
            .without_nonce()
            // A refresh token, and again on a reconnect: Google only returns one on consent.
            .param("access_type", "offline")
            .param("prompt", "consent"),
    )?;
    Ok(AuthStartResult {
        url,
        provider_state: Value::Null,
    })
}

async fn complete(
    request: AuthCompleteRequest,
    operator: GoogleWorkspaceOperatorConfig,
) -> Result<AuthCompleteResult, OperationError> {
    let code = request
        .callback
        .get("code")
        .ok_or_else(|| OperationError::auth("Google's callback carries no authorization code"))?;
    let tokens = oauth_client(&operator)?
        .exchange_code(code, &request.redirect_uri, Some(&request.code_verifier))
        .await?;
    if tokens.refresh_token.is_none() {
        return Err(OperationError::auth(
            "Google returned no refresh token; connect again and approve offline access",
        ));
    }
    // Google's consent screen lets the user untick scopes; a partial grant would fail later.
    let missing: Vec<&str> = SCOPES
        .iter()
        .copied()
        .filter(|scope| !tokens.scopes.is_empty() && !tokens.scopes.iter().any(|s| s == scope))
        .collect();
    if !missing.is_empty() {
        return Err(OperationError::auth(format!(
            "the sign-in did not grant every scope; connect again and allow: {}",
            missing.join(", ")
        )));
    }
    Ok(AuthCompleteResult {
        credential: credential(&tokens)?,
        auth_input: json!({}),
    })
}

async fn refresh(
    request: RefreshRequest,
    operator: GoogleWorkspaceOperatorConfig,
) -> Result<Value, OperationError> {
    let current: TokenSet = decode_stored(&request.credential, "Google sign-in")?;
    let fresh = oauth_client(&operator)?.refresh(&current, &[]).await?;
    credential(&fresh)
}

fn credential(tokens: &TokenSet) -> Result<Value, OperationError> {
    serde_json::to_value(tokens)
        .map_err(|_| OperationError::internal("the Google tokens did not serialise"))
}
