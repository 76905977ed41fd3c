//! GitHub App installation tokens: minted with the app JWT, valid one hour, re-minted by the
//! runtime's refresh before they expire.

use reqwest::StatusCode;
use serde::Deserialize;
use tributary_core::{ErrorKind, OperationError, Secret};

use crate::{AuthHeader, JwtSigner, ProviderHttp, TokenSet, github_app_jwt, unix_now};

#[derive(Deserialize)]
struct InstallationToken {
    token: Secret,
    expires_at: String,
}

/// Mints an installation token: `POST /app/installations/{id}/access_tokens` on `http`'s base
/// URL (`https://api.github.com`, or a GitHub Enterprise API root) with the app JWT.
///
/// A 401 means the app id or private key is wrong (`Config`, the operator's to fix); a 404 or
/// 403 means the installation was removed or suspended (`Auth`: the integration needs to be
/// connected again).
pub async fn github_installation_token(
    http: &ProviderHttp,
    signer: &JwtSigner,
    app_id: &str,
    installation_id: u64,
) -> Result<TokenSet, OperationError> {
    let jwt = github_app_jwt(signer, app_id, unix_now())?;
    let response = http
        .post(&format!(
            "/app/installations/{installation_id}/access_tokens"
        ))
        .auth(AuthHeader::bearer(jwt))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .accept_status(401)
        .accept_status(403)
        .accept_status(404)
        .send()
        .await?;
    let kind = match response.status() {
        StatusCode::UNAUTHORIZED => Some((
            ErrorKind::Config,
            "the GitHub App id or private key was rejected",
        )),
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => Some((
            ErrorKind::Auth,
            "the GitHub App installation was removed or suspended; install the app again",
        )),
        _ => None,
    };
    if let Some((kind, why)) = kind {
        return Err(OperationError::new(
            kind,
            format!("{} returned {}: {why}", response.label(), response.status()),
        ));
    }
    let minted: InstallationToken = response.json()?;
    let expires_at = chrono::DateTime::parse_from_rfc3339(&minted.expires_at)
        .map_err(|_| {
            OperationError::provider(format!(
                "{}: `expires_at` is not an RFC 3339 time",
                response.label()
            ))
        })?
        .timestamp();
    Ok(TokenSet {
        expires_at: Some(expires_at),
        token_type: "token".to_owned(),
        ..TokenSet::from_access_token(minted.token)
    })
}
