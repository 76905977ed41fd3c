//! The Slack Web API client: the bot token of whichever mode is connected, Slack's `ok: false`
//! refusals classified, and Slack's per-method rate-limit tiers.

use serde::Deserialize;
use serde_json::Value;
use tributary_core::{
    ClientBuildRequest, ClientRef, ClientRegistration, CredentialBindings, ErrorKind,
    IntegrationContext, OperationError, Secret, StableName,
};
use tributary_providerkit::{
    AuthHeader, HostPolicy, HttpProfile, ProviderHttp, RateLimit, ScopeKey, TokenSet, Url,
    validate_base_url,
};

use super::{SlackBotToken, SlackOAuth, SlackOperatorConfig};

pub const DEFAULT_BASE_URL: &str = "https://slack.com";

/// Slack counts each Web API method per app per workspace, by tier. `users.list` is Tier 2
/// ("20+ per minute"), which is the tightest tier the definition uses, so every read method
/// shares it: a sync is a handful of pages and a health check two calls.
pub(super) const TIER_2: RateLimit = RateLimit::per_minute(20).burst(20);

/// `chat.postMessage` is "special": about one message per second per channel, short bursts
/// allowed. Each channel gets a bucket of its own.
pub(super) const POST_MESSAGE: RateLimit = RateLimit::per_second(1).burst(3);

pub struct SlackApi {
    pub(super) http: ProviderHttp,
    pub(super) integration: IntegrationContext,
}

impl SlackApi {
    /// The client for `chat.postMessage` to `channel`, paced by that channel's own budget.
    pub(super) fn for_channel(&self, channel: &str) -> ProviderHttp {
        let key =
            ScopeKey::integration(&self.integration).class(&format!("chat.postMessage/{channel}"));
        self.http.limited(&key, POST_MESSAGE)
    }
}

pub const SLACK_API: ClientRef<SlackApi> = ClientRef::new("slack_web_api");

pub(super) fn registration(operator: SlackOperatorConfig) -> ClientRegistration {
    ClientRegistration::new(
        SLACK_API,
        "Slack Web API",
        [SlackOAuth::NAME, SlackBotToken::NAME],
        move |request| build(request, operator.clone()),
    )
}

/// The kind of a Slack error code (`{"ok": false, "error": "<code>"}`).
pub fn error_kind(code: &str) -> ErrorKind {
    match code {
        // The token is not (or no longer) good: reconnecting fixes it.
        "invalid_auth"
        | "not_authed"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "no_permission"
        | "ekm_access_denied"
        | "team_access_not_granted"
        | "invalid_code"
        | "code_already_used"
        | "invalid_refresh_token"
        | "app_uninstalled" => ErrorKind::Auth,
        // The app, its scopes or the operation's settings are wrong.
        "missing_scope"
        | "not_allowed_token_type"
        | "invalid_client_id"
        | "bad_client_secret"
        | "bad_redirect_uri"
        | "oauth_authorization_url_mismatch"
        | "invalid_grant_type"
        | "channel_not_found"
        | "not_in_channel"
        | "is_archived"
        | "user_not_found"
        | "users_not_found"
        | "cannot_dm_bot"
        | "invalid_blocks"
        | "invalid_blocks_format"
        | "no_text"
        | "msg_too_long"
        | "too_many_attachments"
        | "restricted_action"
        | "restricted_action_read_only_channel"
        | "invalid_arguments"
        | "invalid_arg_name"
        | "team_not_found" => ErrorKind::Config,
        "ratelimited" | "rate_limited" => ErrorKind::RateLimit,
        _ => ErrorKind::Provider,
    }
}

/// What a Slack error code means, for the codes a user can act on.
fn explanation(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_auth" | "not_authed" => "the token is not valid",
        "account_inactive" => "the token belongs to a deactivated user or a deleted workspace",
        "token_revoked" | "app_uninstalled" => {
            "the token was revoked or the app uninstalled; connect the integration again"
        }
        "token_expired" => "the token expired; connect the integration again",
        "channel_not_found" => {
            "no such channel or user, or the app cannot see it (invite the app to private channels)"
        }
        "not_in_channel" => "the app is not a member of the channel; invite it first",
        "is_archived" => "the channel is archived",
        "invalid_code" | "code_already_used" => "the authorization code was refused; try again",
        "invalid_refresh_token" => "the refresh token was refused; connect the integration again",
        "bad_client_secret" | "invalid_client_id" => {
            "the operator's Slack client id or secret is wrong"
        }
        "bad_redirect_uri" => "the redirect URL is not registered in the Slack app",
        _ => return None,
    })
}

/// Slack answers refusals with HTTP 200 and `{"ok": false, "error": "<code>"}` (plus `needed`
/// and `provided` for `missing_scope`). The profile's answer check turns them into errors.
pub(super) fn refusal(body: &Value) -> Option<(ErrorKind, String)> {
    if body.get("ok").and_then(Value::as_bool) != Some(false) {
        return None;
    }
    let code = body
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown_error");
    let detail = if code == "missing_scope" {
        let scope = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        format!(
            "missing_scope (the app needs the `{}` scope; the token has `{}`)",
            scope("needed"),
            scope("provided")
        )
    } else {
        match explanation(code) {
            Some(meaning) => format!("{code} ({meaning})"),
            None => code.to_owned(),
        }
    };
    Some((error_kind(code), detail))
}

/// The HTTP client every Slack call goes through (the OAuth exchange included).
pub(super) fn base_http() -> Result<ProviderHttp, OperationError> {
    ProviderHttp::new(HttpProfile::operator_hosts("slack", TIER_2).answer_check(refusal))
}

/// Slack's base URL (`https://slack.com`), checked: https (any host the operator names), or
/// loopback when allowed for tests.
pub(super) fn base_url(operator: &SlackOperatorConfig) -> Result<Url, OperationError> {
    let policy = HostPolicy::operator(operator.allow_loopback_base_url);
    validate_base_url(
        operator.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL),
        policy,
    )
}

/// `<base>/api/<method>`.
pub(super) fn method_url(base: &Url, method: &str) -> String {
    format!("{}/api/{method}", base.as_str().trim_end_matches('/'))
}

/// The bot token of whichever mode is connected.
pub(super) fn bot_token(credentials: &CredentialBindings) -> Result<Secret, OperationError> {
    if let Some(pasted) = credentials.get::<SlackBotToken>()? {
        return checked_bot_token(pasted.bot_token);
    }
    let raw = credentials
        .raw(SlackOAuth::NAME)
        .ok_or_else(|| OperationError::config("no Slack credential is connected"))?;
    let tokens = TokenSet::deserialize(raw).map_err(|_| {
        OperationError::config("the stored Slack OAuth credential has the wrong shape; reconnect")
    })?;
    Ok(tokens.access_token)
}

/// A pasted token must be a bot token, and not a rotating one: nothing could renew it, so it
/// would stop working within 12 hours.
fn checked_bot_token(token: Secret) -> Result<Secret, OperationError> {
    let value = token.expose().trim();
    if value.starts_with("xoxe.") {
        return Err(OperationError::config(
            "botToken is a rotating token (xoxe.), which expires within 12 hours; paste a \
             token of an app without token rotation, or use the OAuth mode",
        ));
    }
    if !value.starts_with("xoxb-") {
        return Err(OperationError::config(
            "botToken must be a Bot User OAuth Token (it starts with xoxb-)",
        ));
    }
    Ok(Secret::new(value))
}

/// A client of the Web API (`<base>/api/<method>`) with `token`.
pub(super) fn api_http(
    operator: &SlackOperatorConfig,
    integration: &IntegrationContext,
    token: Secret,
) -> Result<ProviderHttp, OperationError> {
    let base = base_url(operator)?;
    let api = Url::parse(&method_url(&base, ""))
        .map_err(|_| OperationError::config("the Slack base URL is not valid"))?;
    Ok(base_http()?
        .scoped_for(integration, &token)
        .with_base_url(api)
        .with_auth(AuthHeader::bearer(token)))
}

async fn build(
    request: ClientBuildRequest,
    operator: SlackOperatorConfig,
) -> Result<SlackApi, OperationError> {
    let token = bot_token(&request.credentials)?;
    Ok(SlackApi {
        http: api_http(&operator, &request.integration, token)?,
        integration: request.integration,
    })
}
