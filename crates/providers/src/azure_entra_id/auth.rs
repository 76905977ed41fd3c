//! Admin consent, then app-only tokens.
//!
//! - Start: the authorization endpoint of the `organizations` authority with
//!   `prompt=admin_consent`, so the administrator consents to the app's application permissions
//!   for the whole tenant, and `openid profile` so the sign-in returns an id token (PKCE and a
//!   nonce as always).
//! - Complete: the code is exchanged, the id token is verified (RS256 against the platform's
//!   keys, issuer `<login>/<tid>/v2.0`, audience = the client id, expiry, the session's nonce),
//!   and its `tid` names the tenant. The user's delegated token is not kept: Graph is read with
//!   an app-only token minted now in that tenant (client-credentials grant), which also proves
//!   the consent took effect.
//! - Refresh: the runtime calls it before the app-only token expires; it mints a new one. A
//!   refusal (consent withdrawn, app deleted from the tenant) is an auth error, so the runtime
//!   marks the integration `needs_reauth`.

use serde_json::{Value, json};
use tributary_core::{
    AuthCompleteRequest, AuthCompleteResult, AuthRegistration, AuthStartRequest, AuthStartResult,
    OperationError, RefreshRequest, StableName,
};
use tributary_providerkit::{AuthorizationRequest, TokenSet, classify::excerpt};

use super::{
    EntraAdminConsent, EntraOperatorConfig,
    client::{app_token, classify_aadsts, oauth_client, stored_value},
};
use crate::registration::auth_flow;

/// The sign-in's scopes: only an id token. The directory permissions are the app's application
/// permissions, granted by the consent.
const SIGN_IN_SCOPES: [&str; 2] = ["openid", "profile"];
/// Work or school accounts of any tenant may consent (the app is multitenant).
const CONSENT_AUTHORITY: &str = "organizations";

pub(super) fn registration(operator: EntraOperatorConfig) -> AuthRegistration {
    auth_flow(EntraAdminConsent::NAME, operator, start, complete, refresh)
}

async fn start(
    request: AuthStartRequest,
    operator: EntraOperatorConfig,
) -> Result<AuthStartResult, OperationError> {
    let url = oauth_client(&operator, CONSENT_AUTHORITY)?.authorization_url(
        &AuthorizationRequest::from_session(&request, &SIGN_IN_SCOPES)
            .param("response_mode", "query")
            .param("prompt", "admin_consent"),
    )?;
    Ok(AuthStartResult {
        url,
        provider_state: Value::Null,
    })
}

async fn complete(
    request: AuthCompleteRequest,
    operator: EntraOperatorConfig,
) -> Result<AuthCompleteResult, OperationError> {
    if let Some(error) = request.callback.get("error") {
        let description = request.callback.get("error_description").unwrap_or(error);
        return Err(classify_aadsts(OperationError::auth(format!(
            "Microsoft did not grant the admin consent ({}): {}",
            excerpt(error, &[]),
            excerpt(description, &[])
        ))));
    }
    let code = request.callback.get("code").ok_or_else(|| {
        OperationError::auth("Microsoft's callback carries no authorization code")
    })?;
    let client = oauth_client(&operator, CONSENT_AUTHORITY)?;
    let tokens = client
        .exchange_code(code, &request.redirect_uri, Some(&request.code_verifier))
        .await
        .map_err(classify_aadsts)?;
    let id_token = tokens.id_token.as_ref().ok_or_else(|| {
        OperationError::auth("Microsoft returned no id token, so the tenant cannot be verified")
    })?;
    let verifier = operator
        .endpoints()?
        .id_token_verifier(CONSENT_AUTHORITY, client.client_id())?;
    let claims = verifier.verify(id_token, &request.nonce).await?;
    let tenant_id = claims
        .tid
        .clone()
        .filter(|tid| !tid.is_empty())
        .ok_or_else(|| OperationError::auth("the id token names no tenant (`tid`); connect again"))?
        .to_ascii_lowercase();
    let token = app_token(&operator, &tenant_id).await?;
    let claim = |name: &str| claims.extra.get(name).and_then(Value::as_str);
    Ok(AuthCompleteResult {
        credential: stored_value(&tenant_id, &token)?,
        auth_input: json!({
            "tenantId": tenant_id,
            "consentedBy": claim("preferred_username"),
        }),
    })
}

async fn refresh(
    request: RefreshRequest,
    operator: EntraOperatorConfig,
) -> Result<Value, OperationError> {
    let tenant_id = request
        .credential
        .get("tenantId")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            OperationError::config(
                "the stored Azure Entra ID consent names no tenant; connect the integration again",
            )
        })?
        .to_owned();
    let token: TokenSet = app_token(&operator, &tenant_id).await?;
    stored_value(&tenant_id, &token)
}
