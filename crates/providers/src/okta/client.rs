//! The Okta API client: the org URL from user input, validated; an API token as `SSWS` or a
//! service app's access token as `Bearer`; Okta's per-minute budget and its `X-Rate-Limit-*`
//! headers. Also the service app's token minting (client credentials with `private_key_jwt`).

use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    ClientBuildRequest, ClientRef, ClientRegistration, OperationError, RefreshRequest, Secret,
    StableName,
};
use tributary_providerkit::{
    AuthHeader, ClientAuth, HostPolicy, HttpProfile, JwtSigner, OAuthClient, ProviderHttp,
    RateLimit, ResetHeader, TokenSet, Url, host_has_suffix, validate_base_url,
};

use super::{OktaApiToken, OktaServiceApp, OktaUserInput};

pub const OKTA_API: ClientRef<OktaApi> = ClientRef::new("okta_api");

/// The domains Okta serves orgs under: production, preview (sandboxes) and the EMEA cell.
pub const OKTA_DOMAINS: &[&str] = &[
    "okta.com",
    "oktapreview.com",
    "okta-emea.com",
    // Okta for Government Moderate and High.
    "okta-gov.com",
    "okta.mil",
];

/// What a service app asks for: read users, read groups (and their members).
pub const SERVICE_APP_SCOPES: &[&str] = &["okta.users.read", "okta.groups.read"];

/// How the client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthMode {
    /// `Authorization: SSWS <api token>`: the token acts as the administrator who created it.
    ApiToken,
    /// `Authorization: Bearer <access token>` of a service app: no user behind it.
    ServiceApp,
}

/// A client for one org, shared by every operation of an integration.
#[derive(Clone)]
pub struct OktaApi {
    pub(super) http: ProviderHttp,
    pub(super) input: OktaUserInput,
    pub(super) org_url: String,
    pub(super) mode: AuthMode,
}

/// Okta's default budget for /api/v1/users is 600 requests per minute per org; stay under it
/// and let the reset header pace us when other clients of the org use it up.
pub(super) const BUDGET: RateLimit = RateLimit::per_minute(500).burst(20);

fn profile(public_only: bool) -> HttpProfile {
    HttpProfile::new("okta")
        .rate_limit(BUDGET)
        .reset_header(ResetHeader::OKTA)
        .remaining_header("x-rate-limit-remaining")
        .public_addresses_only(public_only)
}

fn host_policy(allow_loopback: bool) -> HostPolicy {
    if allow_loopback {
        HostPolicy::loopback_for_tests()
    } else {
        HostPolicy::public_https()
    }
}

pub(super) fn registration(allow_loopback: bool) -> ClientRegistration {
    ClientRegistration::new(
        OKTA_API,
        "Okta Users and Groups APIs",
        [OktaApiToken::NAME, OktaServiceApp::NAME],
        move |request| build(request, allow_loopback),
    )
}

pub(super) fn user_input(value: &Value) -> Result<OktaUserInput, OperationError> {
    OktaUserInput::deserialize(value)
        .map_err(|_| OperationError::config("invalid Okta settings: orgUrl is required"))
}

/// Whether an org URL names an Okta domain or something else (a custom domain, which must prove
/// it fronts an Okta org before a credential is sent to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgHost {
    Okta,
    Custom,
}

/// Checks an org URL without contacting it: https, a public host (no private, loopback or
/// link-local address unless the operator's test switch allows loopback), no path, query or
/// user info, and not the Admin Console host. Returns the URL and whether its host is one of
/// [`OKTA_DOMAINS`].
pub fn check_org_url(input: &str, allow_loopback: bool) -> Result<(Url, OrgHost), OperationError> {
    let url = validate_base_url(input, host_policy(allow_loopback))
        .map_err(|err| OperationError::config(format!("orgUrl: {}", err.message)))?;
    if !url.path().is_empty() && url.path() != "/" {
        return Err(OperationError::config(format!(
            "orgUrl: give the org URL alone (https://{}), without the path `{}`",
            url.host_str().unwrap_or_default(),
            url.path()
        )));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if !host_has_suffix(&host, OKTA_DOMAINS) {
        return Ok((url, OrgHost::Custom));
    }
    let label = host.split('.').next().unwrap_or_default();
    if let Some(org) = label.strip_suffix("-admin") {
        let domain = &host[label.len() + 1..];
        return Err(OperationError::config(format!(
            "orgUrl: `{host}` is the Admin Console; use the org URL https://{org}.{domain}"
        )));
    }
    if !host[..host.len() - suffix_len(&host)].contains(|c: char| c.is_ascii_alphanumeric()) {
        return Err(OperationError::config(format!(
            "orgUrl: `{host}` names no org; use https://<your org>.okta.com"
        )));
    }
    Ok((url, OrgHost::Okta))
}

fn suffix_len(host: &str) -> usize {
    OKTA_DOMAINS
        .iter()
        .find(|suffix| host_has_suffix(host, &[suffix]))
        .map_or(0, |suffix| suffix.len())
}

/// What `/.well-known/okta-organization` says about an org.
#[derive(Debug, Clone, Default)]
pub(super) struct OrgDocument {
    pub id: Option<String>,
    pub okta_url: Option<String>,
}

async fn org_document(http: &ProviderHttp) -> Result<OrgDocument, OperationError> {
    let body: Value = http
        .get("/.well-known/okta-organization")
        .without_auth()
        .send_json()
        .await?;
    Ok(OrgDocument {
        id: body.get("id").and_then(Value::as_str).map(str::to_owned),
        okta_url: body
            .pointer("/_links/organization/href")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// The org URL of the integration, checked, with an HTTP client for it (no credentials yet). A
/// custom domain must serve Okta's org document naming an Okta-hosted org before any credential
/// goes to it.
pub(super) async fn org_client(
    input: &OktaUserInput,
    allow_loopback: bool,
) -> Result<(ProviderHttp, Url), OperationError> {
    let (url, host) = check_org_url(&input.org_url, allow_loopback)?;
    let http = ProviderHttp::new(profile(!allow_loopback))?.with_base_url(url.clone());
    if host == OrgHost::Custom {
        let not_okta = || {
            OperationError::config(format!(
                "orgUrl: `{}` is not an Okta domain ({}) and does not serve Okta's organization document; enter your org's Okta URL or its custom domain",
                url.host_str().unwrap_or_default(),
                OKTA_DOMAINS.join(", ")
            ))
        };
        let document = org_document(&http).await.map_err(|_| not_okta())?;
        let okta_host = document
            .okta_url
            .as_deref()
            .and_then(|href| Url::parse(href).ok())
            .and_then(|href| href.host_str().map(str::to_owned))
            .ok_or_else(not_okta)?;
        if !host_has_suffix(&okta_host, OKTA_DOMAINS) {
            return Err(not_okta());
        }
    }
    Ok((http, url))
}

/// The org id from the org document, when the org answers it.
pub(super) async fn org_id(http: &ProviderHttp) -> Option<String> {
    org_document(http).await.ok().and_then(|doc| doc.id)
}

fn origin(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

/// The token fields of a service app credential, after the setup flow or a refresh minted them.
#[derive(Deserialize)]
struct MintedToken {
    access_token: Option<Secret>,
}

async fn build(
    request: ClientBuildRequest,
    allow_loopback: bool,
) -> Result<OktaApi, OperationError> {
    let input = user_input(&request.integration.user_input)?;
    let (http, org_url) = org_client(&input, allow_loopback).await?;
    let (auth, scope_key, mode) = if let Some(token) = request.credentials.get::<OktaApiToken>()? {
        let key = token.api_token.clone();
        (
            AuthHeader::scheme("SSWS", token.api_token),
            key,
            AuthMode::ApiToken,
        )
    } else {
        let app = request.credentials.require::<OktaServiceApp>()?;
        let minted = request
            .credentials
            .raw(OktaServiceApp::NAME)
            .and_then(|raw| MintedToken::deserialize(raw).ok())
            .and_then(|minted| minted.access_token)
            .ok_or_else(|| {
                OperationError::auth(
                    "the service app has no access token yet; connect the integration again",
                )
            })?;
        // The limiter follows the app, not each short-lived token.
        (
            AuthHeader::bearer(minted),
            Secret::new(app.client_id),
            AuthMode::ServiceApp,
        )
    };
    let http = http
        .scoped_for(&request.integration, &scope_key)
        .with_auth(auth);
    Ok(OktaApi {
        http,
        org_url: origin(&org_url),
        input,
        mode,
    })
}

/// Mints an access token for the service app: a client assertion signed with its private key
/// (RS256, `kid` = its key id, `aud` = the org's token endpoint), exchanged with the client
/// credentials grant at `{orgUrl}/oauth2/v1/token`. Returns the credential to store: what the
/// tenant typed plus the token and its `expires_at`, which the runtime watches to mint the next
/// one in time. Groups scope only when groups are synced, so an app granted users alone works.
pub(super) async fn mint_service_app_token(
    request: RefreshRequest,
    allow_loopback: bool,
) -> Result<Value, OperationError> {
    let app = OktaServiceApp::deserialize(&request.credential).map_err(|_| {
        OperationError::config("the service app credential needs clientId and privateKey")
    })?;
    if app.client_id.trim().is_empty() {
        return Err(OperationError::config(
            "clientId: the app's Client ID is required",
        ));
    }
    let signer = JwtSigner::from_pasted_rsa_key(&app.private_key)
        .map_err(|err| OperationError::config(format!("privateKey: {}", err.message)))?;
    let key_id = app
        .key_id
        .as_deref()
        .map(str::trim)
        .filter(|kid| !kid.is_empty())
        .map(str::to_owned);
    let signer = match &key_id {
        Some(kid) => signer.with_key_id(kid.clone()),
        None if signer.key_id().is_some() => signer,
        None => {
            return Err(OperationError::config(
                "keyId: the key id (kid) of the app's public key is required when the private key is a PEM",
            ));
        }
    };
    let input = user_input(&request.integration.user_input)?;
    let (http, org_url) = org_client(&input, allow_loopback).await?;
    let scopes: &[&str] = if input.sync_groups == Some(false) {
        &SERVICE_APP_SCOPES[..1]
    } else {
        SERVICE_APP_SCOPES
    };
    let token_url = format!("{}/oauth2/v1/token", origin(&org_url));
    let tokens: TokenSet = OAuthClient::new(&http, app.client_id.trim(), token_url)
        .client_auth(ClientAuth::PrivateKeyJwt(signer))
        .tenant_credential()
        .client_credentials(scopes)
        .await?;
    let mut credential = json!({
        "clientId": app.client_id.trim(),
        "privateKey": app.private_key,
    });
    if let Some(kid) = key_id {
        credential["keyId"] = json!(kid);
    }
    let token = serde_json::to_value(&tokens)
        .map_err(|_| OperationError::internal("the token did not serialise"))?;
    if let (Value::Object(credential), Value::Object(token)) = (&mut credential, token) {
        credential.extend(token);
    }
    Ok(credential)
}
