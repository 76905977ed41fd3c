//! Slack Events API deliveries as Slack sends them to an app's Request URL, for tests and the
//! demo: the `url_verification` check, and `event_callback` envelopes (`token`, `team_id`,
//! `api_app_id`, `event`, `type`, `event_id`, `event_time`, `authorizations`,
//! `is_ext_shared_channel`, `event_context`) carrying `user_change`, `team_join`,
//! `app_uninstalled` or `tokens_revoked`.
//!
//! Every request is signed as Slack documents ("Verifying requests from Slack"):
//! `X-Slack-Request-Timestamp` (Unix seconds) and `X-Slack-Signature: v0=<hex HMAC-SHA256 of
//! "v0:<timestamp>:<body>" keyed with the app's signing secret>`. A retried delivery carries the
//! same body with `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::STANDARD_NO_PAD};
use serde_json::{Value, json};

use crate::{
    github_app::hmac_sha256_hex,
    okta_events::DemoDelivery,
    slack::{APP_ID, BOT_USER_ID},
};

/// The signing secret of the app registered with the fake Slack (Basic Information > App
/// Credentials > Signing Secret), in the operator config the fake hands out.
pub const SIGNING_SECRET: &str = "5b1e9f0c7a3d48e2b6c4a1f09d8e7c6b";
/// The app's deprecated verification token, which Slack still puts in every payload.
pub const VERIFICATION_TOKEN: &str = "Jhj5dZrVaK7ZwHHjRyZWjbDl";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Slack's `url_verification` body, sent when the Request URL is entered.
pub fn url_verification(challenge: &str) -> Value {
    json!({
        "token": VERIFICATION_TOKEN,
        "challenge": challenge,
        "type": "url_verification",
    })
}

/// The `event_callback` envelope of `event` in the workspace `team_id`, seen by the app's bot.
/// `event_context` is opaque to apps; Slack's is `4-` and unpadded base64 of the event's type,
/// team and app.
pub fn event_callback(team_id: &str, event_id: &str, event: Value) -> Value {
    let context = json!({"et": event["type"], "tid": team_id, "aid": APP_ID});
    json!({
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": null,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": now(),
        "authorizations": [{
            "enterprise_id": null,
            "team_id": team_id,
            "user_id": BOT_USER_ID,
            "is_bot": true,
            "is_enterprise_install": false,
        }],
        "is_ext_shared_channel": false,
        "event_context": format!("4-{}", STANDARD_NO_PAD.encode(context.to_string())),
    })
}

/// `event_ts` as Slack writes it: seconds with microseconds.
fn event_ts() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", now.as_secs(), now.subsec_micros())
}

/// `user_change`: `user` is the whole user object, as `users.list` lists it.
pub fn user_change(team_id: &str, event_id: &str, user: &Value) -> Value {
    event_callback(
        team_id,
        event_id,
        json!({
            "type": "user_change",
            "user": user,
            "cache_ts": now(),
            "event_ts": event_ts(),
        }),
    )
}

/// `team_join`: a new member, the whole user object.
pub fn team_join(team_id: &str, event_id: &str, user: &Value) -> Value {
    event_callback(
        team_id,
        event_id,
        json!({"type": "team_join", "user": user, "event_ts": event_ts()}),
    )
}

/// `app_uninstalled`: the app was removed from the workspace.
pub fn app_uninstalled(team_id: &str, event_id: &str) -> Value {
    event_callback(
        team_id,
        event_id,
        json!({"type": "app_uninstalled", "event_ts": event_ts()}),
    )
}

/// `tokens_revoked`: the user ids owning the revoked user (`oauth`) and bot tokens.
pub fn tokens_revoked(team_id: &str, event_id: &str, oauth: &[&str], bot: &[&str]) -> Value {
    event_callback(
        team_id,
        event_id,
        json!({
            "type": "tokens_revoked",
            "tokens": {"oauth": oauth, "bot": bot},
            "event_ts": event_ts(),
        }),
    )
}

/// The headers and body of `payload` sent at `timestamp`, signed with `secret`.
pub fn signed_request(
    secret: &str,
    timestamp: i64,
    payload: &Value,
) -> (Vec<(String, String)>, Vec<u8>) {
    let body = serde_json::to_vec(payload).expect("a payload serialises");
    let mut base = format!("v0:{timestamp}:").into_bytes();
    base.extend_from_slice(&body);
    let signature = format!("v0={}", hmac_sha256_hex(secret.as_bytes(), &base));
    let headers = [
        ("content-type", "application/json".to_owned()),
        (
            "user-agent",
            "Slackbot 1.0 (+https://api.slack.com/robots)".to_owned(),
        ),
        ("x-slack-request-timestamp", timestamp.to_string()),
        ("x-slack-signature", signature),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    (headers, body)
}

/// [`signed_request`] signed now.
pub fn signed_now(secret: &str, payload: &Value) -> (Vec<(String, String)>, Vec<u8>) {
    signed_request(secret, now(), payload)
}

/// Slack's retry of a delivery it got no timely 2xx for: the same body, signed again, with the
/// retry's number (1 to 3) and reason.
pub fn retried(secret: &str, payload: &Value, retry: u32) -> (Vec<(String, String)>, Vec<u8>) {
    let (mut headers, body) = signed_now(secret, payload);
    headers.push(("x-slack-retry-num".to_owned(), retry.to_string()));
    headers.push(("x-slack-retry-reason".to_owned(), "http_timeout".to_owned()));
    (headers, body)
}

/// What Slack sends to the app's Request URL in the demo: the URL check, a profile change of the
/// member `user` and a new member `joined`, signed with `secret`.
pub fn demo_deliveries(
    secret: &str,
    team_id: &str,
    user: &Value,
    joined: &Value,
) -> Vec<DemoDelivery> {
    [
        url_verification("demo-challenge"),
        user_change(team_id, "Ev0DEMO00001", user),
        team_join(team_id, "Ev0DEMO00002", joined),
    ]
    .into_iter()
    .map(|payload| {
        let (headers, _) = signed_now(secret, &payload);
        DemoDelivery {
            method: "POST",
            headers,
            body: Some(payload),
        }
    })
    .collect()
}
