//! "Acme": a test definition shaped like a real provider package. Two connection modes: a pasted
//! API token (validated by a health check, metadata from `/me`) and OAuth 2.0 authorization code
//! with PKCE against a real authorization server on loopback (OIDC id token whose `tid` claim
//! becomes metadata, refresh tokens, revocation on disconnect). A reconcile-eligible directory
//! sync pages through `/users`, emitting each page and saving its cursor.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    AuthCompleteResult, AuthRegistration, AuthStartResult, ClientBuildRequest, ClientRef,
    ClientRegistration, ConnectionChange, ConnectionRegistration, CredentialBindings,
    CredentialRegistration, Definition, DefinitionId, DefinitionSpec, DisconnectRegistration,
    DisconnectResult, IngestPayloadSet, IntegrationMetadata, MappingEnvelope, MappingRegistration,
    MetadataResolver, Operation, OperationContext, OperationError, ResolvedEvent, Secret,
    StableName, WebhookEvent, WebhookOutcome, WebhookRegistration,
};
use tributary_providerkit::{
    AuthHeader, AuthorizationRequest, Checkpoint, HttpProfile, IdTokenVerifier, IssuerCheck,
    JwtSigner, OAuthClient, Pagination, Paginator, ProviderHttp, RateLimit, RetryPolicy, TokenSet,
    Url, github_installation_token,
};

pub const ACME: &str = "acme";

/// Where the OAuth mode's authorization server is.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub issuer: String,
    pub authorize_url: String,
    pub token_url: String,
    pub jwks_url: String,
    pub client_id: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcmeInput {
    /// The Acme API base URL.
    pub base_url: String,
    /// A CEL filter on synced payloads.
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "in the input schema for the runtime to check; no Acme operation reads it"
    )]
    pub filter_expr: Option<String>,
}

/// A pasted API token.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcmeToken {
    pub token: Secret,
}

/// Tokens from the OAuth flow (a serialised `TokenSet`).
#[derive(StableName)]
pub struct AcmeOAuth;

/// An app installation's token (GitHub-App-like: minted with the app JWT, one hour).
#[derive(StableName)]
pub struct AcmeInstallation;

/// The operator's app registration (its id and private key).
pub const APP_ID: &str = "4242";
const APP_KEY: &str = tributary_testkit::keys::APP_RSA_PEM;

#[derive(StableName, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {}

#[derive(StableName, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DirectorySync {
    /// Test hook: the sync says its listing left users out.
    #[serde(default)]
    pub mark_incomplete: bool,
}

/// A user changed at Acme: the event carries the user.
#[derive(StableName, Deserialize)]
pub struct UserChanged {
    pub user: Value,
    /// Test hook: the handler fails this many times for a delivery before it succeeds.
    #[serde(default, rename = "failTimes")]
    pub fail_times: u32,
}

/// Acme asks for a full resync.
#[derive(StableName, Deserialize)]
pub struct ResyncRequested {}

/// The Acme app was uninstalled: the connection is gone.
#[derive(StableName, Deserialize)]
pub struct AppUninstalled {}

/// The app's webhook secret (operator config): one for every installation.
pub const APP_WEBHOOK_SECRET: &str = "acme-app-webhook-secret-31337";

/// A user changed in an installation (sent to the app's single webhook URL).
#[derive(StableName, Deserialize)]
pub struct InstallationUserChanged {
    pub user: Value,
}

/// The app was removed from an installation.
#[derive(StableName, Deserialize)]
pub struct InstallationDeleted {}

/// The organisation suspended the installation (GitHub-like `installation.suspend`).
#[derive(StableName, Deserialize)]
pub struct InstallationSuspended {
    #[serde(default)]
    pub suspended_by: String,
}

/// The suspension was lifted (GitHub-like `installation.unsuspend`).
#[derive(StableName, Deserialize)]
pub struct InstallationUnsuspended {}

/// Handler invocations per delivery id (tests run in parallel; each uses its own ids).
pub static HANDLED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, u32>>> =
    std::sync::LazyLock::new(Default::default);

pub fn handled(delivery: &str) -> u32 {
    HANDLED.lock().unwrap().get(delivery).copied().unwrap_or(0)
}

pub struct AcmeApi {
    http: ProviderHttp,
}

pub const ACME_API: ClientRef<AcmeApi> = ClientRef::new("acme_api");

/// Acme's published budget: the definition declares it, the HTTP layer paces by it.
pub const BUDGET: RateLimit = RateLimit::per_second(50).burst(10);

fn http_profile() -> HttpProfile {
    HttpProfile::new("acme")
        .rate_limit(BUDGET)
        .public_addresses_only(false)
        .retry(RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(10),
            max_wait: Duration::from_secs(2),
        })
}

fn base_http() -> Result<ProviderHttp, OperationError> {
    ProviderHttp::new(http_profile())
}

/// The bearer token of whichever mode is bound.
fn bearer(credentials: &CredentialBindings) -> Result<Secret, OperationError> {
    if let Some(token) = credentials.get::<AcmeToken>()? {
        return Ok(token.token);
    }
    let raw = credentials
        .raw(AcmeOAuth::NAME)
        .or_else(|| credentials.raw(AcmeInstallation::NAME))
        .ok_or_else(|| OperationError::config("no Acme credential is configured"))?;
    let tokens = TokenSet::deserialize(raw)
        .map_err(|_| OperationError::config("the Acme OAuth credential has the wrong shape"))?;
    Ok(tokens.access_token)
}

async fn build(request: ClientBuildRequest) -> Result<AcmeApi, OperationError> {
    let input = AcmeInput::deserialize(&request.integration.user_input)
        .map_err(|e| OperationError::config(format!("invalid Acme settings: {e}")))?;
    let base = Url::parse(&input.base_url)
        .map_err(|_| OperationError::config("the Acme base URL is not a URL"))?;
    let token = bearer(&request.credentials)?;
    let http = base_http()?
        .scoped_for(&request.integration, &token)
        .with_base_url(base)
        .with_auth(AuthHeader::bearer(token));
    Ok(AcmeApi { http })
}

async fn health_check(
    _ctx: OperationContext,
    _config: HealthCheck,
    api: &AcmeApi,
    _credentials: CredentialBindings,
) -> Result<Value, OperationError> {
    let me: Value = api.http.get("/me").send_json().await?;
    Ok(json!({"org": me["id"]}))
}

async fn directory_sync(
    ctx: OperationContext,
    config: DirectorySync,
    api: &AcmeApi,
    _credentials: CredentialBindings,
) -> Result<Vec<IngestPayloadSet>, OperationError> {
    if config.mark_incomplete {
        ctx.mark_incomplete("users of suspended teams are not listed");
    }
    let mut checkpoint = Checkpoint::load(&ctx);
    if checkpoint.is_done("users") {
        return Ok(Vec::new());
    }
    let mut pages = Paginator::resume(
        api.http.get("/users"),
        Pagination::slack("/users"),
        checkpoint.cursor("users"),
    );
    while let Some(page) = pages.next_page().await? {
        if ctx.run.is_cancelled() {
            return Err(OperationError::internal("cancelled"));
        }
        let envelopes = page
            .items
            .into_iter()
            .map(|user| {
                let id = user["id"].as_str().unwrap_or_default().to_owned();
                MappingEnvelope::new(user).resource(id)
            })
            .collect();
        ctx.emit(IngestPayloadSet::new("DirectoryAccount", envelopes))
            .await?;
        checkpoint
            .set("users", page.next_cursor.as_deref())
            .save(&ctx)
            .await?;
        ctx.log(tributary_core::LogLevel::Info, "synced a page of users");
    }
    Ok(Vec::new())
}

async fn token_metadata(
    request: tributary_core::MetadataRequest,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let input = AcmeInput::deserialize(&request.integration.user_input)
        .map_err(|e| OperationError::config(format!("invalid Acme settings: {e}")))?;
    let token = bearer(&request.credentials)?;
    let http = base_http()?
        .with_base_url(Url::parse(&input.base_url).unwrap())
        .with_auth(AuthHeader::bearer(token));
    let me: Value = http.get("/me").send_json().await?;
    Ok(Some(IntegrationMetadata {
        external_id: me["id"].as_str().unwrap_or_default().to_owned(),
        external_name: me["name"].as_str().unwrap_or_default().to_owned(),
        attributes: json!({
            "tenantId": request.auth_input.get("tenantId"),
            "installationId": request.auth_input.get("installationId"),
        }),
    }))
}

fn oauth_client(settings: &OAuthSettings) -> Result<OAuthClient, OperationError> {
    Ok(OAuthClient::new(
        &base_http()?,
        settings.client_id.clone(),
        settings.token_url.clone(),
    )
    .authorize_url(settings.authorize_url.clone()))
}

fn oauth_auth(settings: OAuthSettings) -> AuthRegistration {
    let start_settings = settings.clone();
    let complete_settings = settings.clone();
    AuthRegistration::new(
        AcmeOAuth::NAME,
        move |start| {
            let settings = start_settings.clone();
            async move {
                let url = oauth_client(&settings)?.authorization_url(
                    &AuthorizationRequest::from_session(&start, &["openid", "offline_access"]),
                )?;
                Ok(AuthStartResult {
                    url,
                    provider_state: json!({"flow": "authorization_code"}),
                })
            }
        },
        move |complete| {
            let settings = complete_settings.clone();
            async move {
                assert_eq!(complete.provider_state["flow"], "authorization_code");
                let code = complete
                    .callback
                    .get("code")
                    .ok_or_else(|| OperationError::auth("the callback carries no code"))?;
                let tokens = oauth_client(&settings)?
                    .exchange_code(code, &complete.redirect_uri, Some(&complete.code_verifier))
                    .await?;
                // Like Entra: the tenant id comes from the verified id token.
                let id_token = tokens
                    .id_token
                    .clone()
                    .ok_or_else(|| OperationError::auth("no id token"))?;
                let claims = IdTokenVerifier::new(
                    &base_http()?,
                    settings.jwks_url.clone(),
                    IssuerCheck::Exact(settings.issuer.clone()),
                    settings.client_id.clone(),
                )
                .verify(&id_token, &complete.nonce)
                .await?;
                Ok(AuthCompleteResult {
                    credential: serde_json::to_value(&tokens).unwrap(),
                    auth_input: json!({"tenantId": claims.tid}),
                })
            }
        },
    )
    .with_refresh(move |request| {
        let settings = settings.clone();
        async move {
            let current = TokenSet::deserialize(&request.credential)
                .map_err(|_| OperationError::config("stored tokens have the wrong shape"))?;
            let fresh = oauth_client(&settings)?.refresh(&current, &[]).await?;
            let mut value = serde_json::to_value(&fresh).unwrap();
            // Let the runtime's keep-the-old-refresh-token rule be tested on its own.
            if fresh.refresh_token.as_ref().map(Secret::expose)
                == current.refresh_token.as_ref().map(Secret::expose)
            {
                value.as_object_mut().unwrap().remove("refresh_token");
            }
            Ok(value)
        }
    })
}

/// Mints an installation token and keeps the installation id with it.
async fn mint(base_url: &str, installation_id: u64) -> Result<Value, OperationError> {
    let http = base_http()?
        .with_base_url(Url::parse(base_url).map_err(|_| OperationError::config("bad base URL"))?);
    let signer = JwtSigner::from_rsa_pem(&Secret::new(APP_KEY))?;
    let tokens = github_installation_token(&http, &signer, APP_ID, installation_id).await?;
    let mut value = serde_json::to_value(&tokens).unwrap();
    value["installation_id"] = json!(installation_id);
    Ok(value)
}

fn base_url_of(user_input: &Value) -> Result<String, OperationError> {
    AcmeInput::deserialize(user_input)
        .map(|input| input.base_url)
        .map_err(|e| OperationError::config(format!("invalid Acme settings: {e}")))
}

/// The app-install mode: the user installs the app at Acme, which calls back with the
/// installation id; the installation token is minted with the app JWT and re-minted on refresh.
fn app_install() -> AuthRegistration {
    AuthRegistration::new(
        AcmeInstallation::NAME,
        |start| async move {
            let base = base_url_of(&start.integration.user_input)?;
            let mut url = Url::parse(&format!("{base}/apps/acme/installations/new")).unwrap();
            url.query_pairs_mut().append_pair("state", &start.state);
            Ok(AuthStartResult {
                url: url.into(),
                provider_state: Value::Null,
            })
        },
        |complete| async move {
            if complete.callback.get("setup_action") != Some("install") {
                return Err(OperationError::auth("the app was not installed"));
            }
            let installation_id: u64 = complete
                .callback
                .get("installation_id")
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| OperationError::auth("the callback carries no installation id"))?;
            let base = base_url_of(&complete.integration.user_input)?;
            Ok(AuthCompleteResult {
                credential: mint(&base, installation_id).await?,
                auth_input: json!({"installationId": installation_id}),
            })
        },
    )
    .with_refresh(|request| async move {
        let installation_id = request.credential["installation_id"]
            .as_u64()
            .ok_or_else(|| OperationError::config("the installation id is missing"))?;
        mint(
            &base_url_of(&request.integration.user_input)?,
            installation_id,
        )
        .await
    })
}

fn revoke_on_disconnect(slot: &'static str) -> DisconnectRegistration {
    DisconnectRegistration::new(
        slot,
        "Revokes the token at Acme",
        move |request| async move {
            let input = AcmeInput::deserialize(&request.integration.user_input)
                .map_err(|e| OperationError::config(format!("invalid Acme settings: {e}")))?;
            let token = bearer(&request.credentials)?;
            let http = base_http()?.with_base_url(Url::parse(&input.base_url).unwrap());
            http.post("/revoke")
                .without_auth()
                .form([("token", token.expose())])
                .send()
                .await?;
            Ok(DisconnectResult {
                message: "token revoked".into(),
                skip_local_cleanup: false,
            })
        },
    )
}

pub fn definition(oauth: Option<OAuthSettings>) -> Definition {
    let client_slots = if oauth.is_some() {
        vec![AcmeToken::NAME, AcmeInstallation::NAME, AcmeOAuth::NAME]
    } else {
        vec![AcmeToken::NAME, AcmeInstallation::NAME]
    };
    let mut definition = Definition::new(DefinitionSpec::new(DefinitionId::new(ACME), "Acme"))
        .rate_limit(BUDGET)
        .user_input::<AcmeInput>()
        .credential(CredentialRegistration::form::<AcmeToken>(
            "API token",
            "A token from Acme's admin console",
        ))
        .client(ClientRegistration::new(
            ACME_API,
            "Acme REST API",
            client_slots,
            build,
        ))
        .connection(
            ConnectionRegistration::new(AcmeToken::NAME, "API token")
                .clients([ACME_API.id()])
                .validation_operation(HealthCheck::NAME)
                .metadata(MetadataResolver::new(token_metadata))
                .disconnect(revoke_on_disconnect(AcmeToken::NAME)),
        )
        .credential(CredentialRegistration::auth_managed::<AcmeInstallation>(
            "App installation",
            "Installs the Acme app in the organisation",
        ))
        .connection(
            ConnectionRegistration::new(AcmeInstallation::NAME, "Install the Acme app")
                .clients([ACME_API.id()])
                .validation_operation(HealthCheck::NAME)
                .metadata(MetadataResolver::new(token_metadata))
                .auth(app_install()),
        )
        .operation(
            Operation::<HealthCheck>::new("Reads the organisation")
                .client(ACME_API)
                .inline()
                .raw(health_check),
        )
        .operation(
            Operation::<DirectorySync>::new("Lists users")
                .client(ACME_API)
                .reconcile()
                .ingests(["DirectoryAccount"])
                .ingest(directory_sync),
        )
        .mapping(MappingRegistration::new("DirectoryAccount").map(
            r#"{
  "externalID": payload.id,
  "canonicalEmail": payload.email.lowerAscii(),
  "displayName": payload.name,
  "status": payload.active ? "ACTIVE" : "SUSPENDED",
  "accountType": "USER"
}"#,
        ))
        .webhook(
            WebhookRegistration::new("acme_events")
                .verify(|request, secret| {
                    // Constant-time comparison of the shared secret header.
                    let given = request
                        .header("x-acme-secret")
                        .unwrap_or_default()
                        .as_bytes();
                    let expected = secret.expose().as_bytes();
                    let same = given.len() == expected.len()
                        && given
                            .iter()
                            .zip(expected)
                            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                            == 0;
                    if same {
                        Ok(())
                    } else {
                        Err(tributary_core::VerifyError(
                            "the shared secret does not match".into(),
                        ))
                    }
                })
                .handshake(|request| {
                    (request.method == "GET").then(|| tributary_core::HandshakeResponse {
                        status: 200,
                        content_type: "application/json",
                        body: json!({"verification": request.header("x-acme-challenge")})
                            .to_string(),
                    })
                })
                .resolve_event(|request| {
                    let payload: Value = serde_json::from_slice(&request.body)
                        .map_err(|_| tributary_core::VerifyError("the body is not JSON".into()))?;
                    let kind = payload["type"].as_str().unwrap_or_default().to_owned();
                    let name = match kind.as_str() {
                        "user.changed" => Some(UserChanged::NAME.to_owned()),
                        "user.resync" => Some(ResyncRequested::NAME.to_owned()),
                        "app.uninstalled" => Some(AppUninstalled::NAME.to_owned()),
                        _ => None,
                    };
                    Ok(ResolvedEvent {
                        name,
                        delivery_id: request.header("x-acme-delivery").map(str::to_owned),
                        provider_event: kind,
                        action: String::new(),
                        payload,
                    })
                })
                .event(
                    WebhookEvent::<UserChanged>::new("A user changed")
                        .ingests(["DirectoryAccount"])
                        .handle(|request, event| async move {
                            let delivery = request.event.delivery_id.clone().unwrap_or_default();
                            let calls = {
                                let mut handled = HANDLED.lock().unwrap();
                                let calls = handled.entry(delivery).or_default();
                                *calls += 1;
                                *calls
                            };
                            if calls <= event.fail_times {
                                return Err(OperationError::provider("the handler failed (test)"));
                            }
                            let id = event.user["id"].as_str().unwrap_or_default().to_owned();
                            Ok(WebhookOutcome {
                                ingest: vec![IngestPayloadSet::new(
                                    "DirectoryAccount",
                                    vec![MappingEnvelope::new(event.user).resource(id)],
                                )],
                                ..WebhookOutcome::default()
                            })
                        }),
                )
                .event(
                    WebhookEvent::<ResyncRequested>::new("Acme asks for a resync").handle(
                        |_request, _event| async {
                            Ok(WebhookOutcome {
                                dispatch: vec![(DirectorySync::NAME, json!({}))],
                                ..WebhookOutcome::default()
                            })
                        },
                    ),
                )
                .event(
                    WebhookEvent::<AppUninstalled>::new("The app was uninstalled").handle(
                        |_request, _event| async {
                            Ok(WebhookOutcome {
                                teardown: true,
                                ..WebhookOutcome::default()
                            })
                        },
                    ),
                ),
        );
    definition = definition.webhook(
        WebhookRegistration::new("acme_app")
            .app_route("installationId", Secret::new(APP_WEBHOOK_SECRET), |event| {
                event.payload["installation"]["id"]
                    .as_u64()
                    .map(|id| id.to_string())
            })
            .verify(|request, secret| {
                if request.header("x-acme-app-secret") == Some(secret.expose()) {
                    Ok(())
                } else {
                    Err(tributary_core::VerifyError(
                        "the app secret does not match".into(),
                    ))
                }
            })
            .resolve_event(|request| {
                let payload: Value = serde_json::from_slice(&request.body)
                    .map_err(|_| tributary_core::VerifyError("the body is not JSON".into()))?;
                let kind = payload["type"].as_str().unwrap_or_default().to_owned();
                let name = match kind.as_str() {
                    "installation.user_changed" => Some(InstallationUserChanged::NAME.to_owned()),
                    "installation.deleted" => Some(InstallationDeleted::NAME.to_owned()),
                    "installation.suspend" => Some(InstallationSuspended::NAME.to_owned()),
                    "installation.unsuspend" => Some(InstallationUnsuspended::NAME.to_owned()),
                    _ => None,
                };
                Ok(ResolvedEvent {
                    name,
                    delivery_id: request.header("x-acme-delivery").map(str::to_owned),
                    provider_event: kind,
                    action: String::new(),
                    payload,
                })
            })
            .event(
                WebhookEvent::<InstallationUserChanged>::new("A user changed in an installation")
                    .ingests(["DirectoryAccount"])
                    .handle(|_request, event| async move {
                        let id = event.user["id"].as_str().unwrap_or_default().to_owned();
                        Ok(WebhookOutcome {
                            ingest: vec![IngestPayloadSet::new(
                                "DirectoryAccount",
                                vec![MappingEnvelope::new(event.user).resource(id)],
                            )],
                            ..WebhookOutcome::default()
                        })
                    }),
            )
            .event(
                WebhookEvent::<InstallationDeleted>::new("The app was removed").handle(
                    |_request, _event| async {
                        Ok(WebhookOutcome {
                            teardown: true,
                            ..WebhookOutcome::default()
                        })
                    },
                ),
            )
            .event(
                WebhookEvent::<InstallationSuspended>::new("The installation was suspended")
                    .handle(|_request, event| async move {
                        Ok(WebhookOutcome {
                            connection: Some(ConnectionChange::Suspended {
                                reason: format!("suspended by {}", event.suspended_by),
                            }),
                            ..WebhookOutcome::default()
                        })
                    }),
            )
            .event(
                WebhookEvent::<InstallationUnsuspended>::new("The installation was unsuspended")
                    .handle(|_request, _event| async {
                        Ok(WebhookOutcome {
                            connection: Some(ConnectionChange::Resumed),
                            dispatch: vec![(DirectorySync::NAME, json!({}))],
                            ..WebhookOutcome::default()
                        })
                    }),
            ),
    );
    if let Some(settings) = oauth {
        definition = definition
            .credential(CredentialRegistration::auth_managed::<AcmeOAuth>(
                "OAuth",
                "Tokens from signing in with Acme",
            ))
            .connection(
                ConnectionRegistration::new(AcmeOAuth::NAME, "Sign in with Acme")
                    .clients([ACME_API.id()])
                    .validation_operation(HealthCheck::NAME)
                    .metadata(MetadataResolver::new(token_metadata))
                    .auth(oauth_auth(settings))
                    .disconnect(revoke_on_disconnect(AcmeOAuth::NAME)),
            );
    }
    definition
}
