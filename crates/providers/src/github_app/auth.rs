//! The install flow and installation tokens.
//!
//! Start sends the user to `<web>/apps/<slug>/installations/new?state=<state>`; GitHub sends
//! them back to the app's Setup URL (our callback) with `installation_id`, `setup_action` and
//! the same `state`, which the keymaker checks strictly (the original accepted a missing one).
//! Complete mints an installation token with the app JWT, which also proves the installation
//! belongs to our app. The stored credential is the installation id plus the token and its
//! expiry; the runtime calls the refresh hook to re-mint it before it expires (the original
//! never did, so its syncs failed an hour after connecting).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tributary_core::{
    AuthCompleteResult, AuthRegistration, AuthStartResult, CredentialBindings, IntegrationMetadata,
    MetadataRequest, OperationError, StableName,
};
use tributary_providerkit::{
    AuthHeader, TokenSet, github_app_jwt, github_installation_token, unix_now,
};

use super::{GithubAppInstallation, GithubAppOperatorConfig, client};

/// The integration metadata attribute holding the installation id (as a decimal string); the
/// app-level webhook route finds the integration by it.
pub const INSTALLATION_ATTRIBUTE: &str = "installationId";

/// The stored credential: the installation and its current token (`expires_at` in Unix seconds,
/// which the runtime watches).
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredInstallation {
    pub installation_id: u64,
    #[serde(flatten)]
    pub token: TokenSet,
}

impl StoredInstallation {
    pub(super) fn from_value(value: &Value) -> Result<Self, OperationError> {
        Self::deserialize(value).map_err(|_| {
            OperationError::config(
                "the stored GitHub App installation has the wrong shape; install the app again",
            )
        })
    }

    pub(super) fn from_bindings(credentials: &CredentialBindings) -> Result<Self, OperationError> {
        let raw = credentials
            .raw(GithubAppInstallation::NAME)
            .ok_or_else(|| OperationError::config("no GitHub App installation is connected"))?;
        Self::from_value(raw)
    }

    fn to_value(&self) -> Result<Value, OperationError> {
        serde_json::to_value(self)
            .map_err(|_| OperationError::internal("the installation token could not be serialised"))
    }
}

/// Mints a token for `installation_id` with the app JWT.
pub(super) async fn mint(
    operator: &GithubAppOperatorConfig,
    installation_id: u64,
) -> Result<StoredInstallation, OperationError> {
    let (app_id, signer) = client::app_signer(operator)?;
    let token = github_installation_token(
        &client::app_http(operator)?,
        &signer,
        &app_id,
        installation_id,
    )
    .await?;
    if token.access_token.is_empty() {
        return Err(OperationError::provider(
            "GitHub answered the installation token request without a token",
        ));
    }
    Ok(StoredInstallation {
        installation_id,
        token,
    })
}

fn parse_installation_id(raw: Option<&str>) -> Result<u64, OperationError> {
    raw.and_then(|id| id.trim().parse::<u64>().ok())
        .filter(|id| *id != 0)
        .ok_or_else(|| {
            OperationError::auth(
                "GitHub's callback carries no installation_id; check that the app's Setup URL is \
                 Tributary's callback URL",
            )
        })
}

pub(super) fn registration(operator: GithubAppOperatorConfig) -> AuthRegistration {
    let start_operator = operator.clone();
    let complete_operator = operator.clone();
    AuthRegistration::new(
        GithubAppInstallation::NAME,
        move |start| {
            let operator = start_operator.clone();
            async move {
                let slug = operator
                    .app_slug
                    .as_deref()
                    .map(str::trim)
                    .filter(|slug| !slug.is_empty())
                    .ok_or_else(|| {
                        OperationError::config(
                            "the GitHub App needs appSlug in the operator config \
                             ([definitions.github_app])",
                        )
                    })?;
                if !slug
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(OperationError::config(
                        "appSlug must be the app's URL name (letters, digits and dashes)",
                    ));
                }
                let web = client::web_url(&operator)?;
                let mut url = web
                    .join(&format!("apps/{slug}/installations/new"))
                    .map_err(|_| OperationError::config("the GitHub web URL is not valid"))?;
                url.query_pairs_mut().append_pair("state", &start.state);
                Ok(AuthStartResult {
                    url: url.into(),
                    provider_state: Value::Null,
                })
            }
        },
        move |complete| {
            let operator = complete_operator.clone();
            async move {
                match complete.callback.get("setup_action") {
                    Some("install") | Some("update") | None => {}
                    Some("request") => {
                        return Err(OperationError::auth(
                            "the installation was requested, not made: an organisation owner \
                             has to approve it on GitHub, then connect again",
                        ));
                    }
                    Some(_) => {
                        return Err(OperationError::auth(
                            "GitHub's callback has an unknown setup_action",
                        ));
                    }
                }
                let installation_id =
                    parse_installation_id(complete.callback.get("installation_id"))?;
                let installation = mint(&operator, installation_id).await?;
                Ok(AuthCompleteResult {
                    credential: installation.to_value()?,
                    auth_input: json!({ INSTALLATION_ATTRIBUTE: installation_id.to_string() }),
                })
            }
        },
    )
    .with_refresh(move |request| {
        let operator = operator.clone();
        async move {
            let current = StoredInstallation::from_value(&request.credential)?;
            mint(&operator, current.installation_id).await?.to_value()
        }
    })
}

/// The installation's account (`GET /app/installations/{id}` with the app JWT). The
/// installation id comes from the stored credential, so re-resolving metadata (after a user
/// input change) never loses it; the original read it only from the install callback and wiped
/// it on every later update, breaking webhook routing.
pub(super) async fn resolve_metadata(
    request: MetadataRequest,
    operator: GithubAppOperatorConfig,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let installation_id = match StoredInstallation::from_bindings(&request.credentials) {
        Ok(stored) => stored.installation_id,
        Err(err) => match request.auth_input.get(INSTALLATION_ATTRIBUTE) {
            Some(id) => parse_installation_id(id.as_str())?,
            None => return Err(err),
        },
    };
    let (app_id, signer) = client::app_signer(&operator)?;
    let jwt = github_app_jwt(&signer, &app_id, unix_now())?;
    let installation: Value = client::app_http(&operator)?
        .get(&format!("/app/installations/{installation_id}"))
        .auth(AuthHeader::bearer(jwt))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .send_json()
        .await?;
    let account = &installation["account"];
    let login = account["login"].as_str().unwrap_or_default().to_owned();
    Ok(Some(IntegrationMetadata {
        external_id: installation_id.to_string(),
        external_name: login.clone(),
        attributes: json!({
            INSTALLATION_ATTRIBUTE: installation_id.to_string(),
            "accountLogin": login,
            "accountId": account["id"],
            "accountType": account["type"],
            "targetType": installation["target_type"],
            "repositorySelection": installation["repository_selection"],
            "appSlug": installation["app_slug"],
            "permissions": installation["permissions"],
            "htmlUrl": installation["html_url"],
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installation_id_must_be_a_positive_integer() {
        assert_eq!(parse_installation_id(Some("77")).unwrap(), 77);
        for bad in [None, Some(""), Some("0"), Some("-3"), Some("abc")] {
            let err = parse_installation_id(bad).unwrap_err();
            assert_eq!(err.kind, tributary_core::ErrorKind::Auth);
        }
    }

    #[test]
    fn the_stored_credential_has_the_runtime_expiry_field() {
        let stored = StoredInstallation {
            installation_id: 42,
            token: TokenSet {
                expires_at: Some(1_900_000_000),
                ..TokenSet::from_access_token(tributary_core::Secret::new("ghs_x"))
            },
        };
        let value = stored.to_value().unwrap();
        assert_eq!(value["installation_id"], 42);
        assert_eq!(value["expires_at"], 1_900_000_000);
        assert_eq!(
            StoredInstallation::from_value(&value)
                .unwrap()
                .installation_id,
            42
        );
    }
}
