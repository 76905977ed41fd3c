//! Sending messages: `POST /teams/{team-id}/channels/{channel-id}/messages` for a channel,
//! `POST /chats/{chat-id}/messages` for a chat, as the signed-in user. Each destination is posted
//! to once per run: repeats in the config are dropped, and what was posted is kept in the run's
//! checkpoint ([`DeliveryLog`]) so a retried run of the same message posts only the rest.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tributary_core::{OperationContext, OperationError, StableName};
use tributary_providerkit::{DeliveryLog, classify::excerpt, unique_in_order};

use super::MicrosoftGraph;
use crate::microsoft::is_guid;

/// Teams refuses message bodies over about 28 KB.
const MAX_BODY_CHARS: usize = 28_000;

/// Posts a message to Teams channels and/or chats. Name a channel (`teamId` and `channelId`),
/// a chat (`chatId`), and/or further `destinations`; each is posted to once, in order.
#[derive(StableName, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    {"required": ["teamId", "channelId"]}, {"required": ["chatId"]}, {"required": ["destinations"]}
]))]
pub struct MessageSend {
    /// The team's id (a GUID: in Teams, the team's "Get link to team" has it as `groupId`).
    #[serde(default)]
    pub team_id: Option<String>,
    /// The channel's id (`19:...@thread.tacv2`: in Teams, the channel's "Get link to channel").
    #[serde(default)]
    pub channel_id: Option<String>,
    /// A chat's id (`19:...@thread.v2` for a group chat, `19:..._...@unq.gbl.spaces` for a
    /// one-on-one chat); the signed-in user must be a member.
    #[serde(default)]
    pub chat_id: Option<String>,
    /// Further channels or chats.
    #[serde(default)]
    pub destinations: Vec<Destination>,
    /// The message: plain text, or HTML when `bodyFormat` is `html`.
    #[schemars(extend("minLength" = 1, "maxLength" = 28000))]
    pub body: String,
    /// `text` (default) or `html`.
    #[serde(default)]
    pub body_format: BodyFormat,
    /// A subject line, shown above channel messages (chats have none, so it is left out there).
    #[serde(default)]
    #[schemars(extend("maxLength" = 255))]
    pub subject: Option<String>,
}

/// A channel (`teamId` and `channelId`) or a chat (`chatId`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["teamId", "channelId"], "not": {"required": ["chatId"]}},
    {"required": ["chatId"], "not": {"anyOf": [{"required": ["teamId"]}, {"required": ["channelId"]}]}}
]))]
pub struct Destination {
    /// The team's id (a GUID), with `channelId`.
    #[serde(default)]
    pub team_id: Option<String>,
    /// The channel's id (`19:...@thread.tacv2`), with `teamId`.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// A chat's id (`19:...@thread.v2` or `19:..._...@unq.gbl.spaces`), alone.
    #[serde(default)]
    pub chat_id: Option<String>,
}

/// How Teams reads the message body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    /// Plain text.
    #[default]
    Text,
    /// HTML (Teams keeps a safe subset: paragraphs, emphasis, lists, links, tables).
    Html,
}

impl BodyFormat {
    fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Html => "html",
        }
    }
}

/// A checked destination.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Channel { team_id: String, channel_id: String },
    Chat { chat_id: String },
}

impl Target {
    /// The key of the delivery log; team ids are GUIDs, compared in lower case.
    fn key(&self) -> String {
        match self {
            Self::Channel {
                team_id,
                channel_id,
            } => format!("channel:{team_id}/{channel_id}"),
            Self::Chat { chat_id } => format!("chat:{chat_id}"),
        }
    }

    fn path(&self) -> String {
        match self {
            Self::Channel {
                team_id,
                channel_id,
            } => format!("teams/{team_id}/channels/{channel_id}/messages"),
            Self::Chat { chat_id } => format!("chats/{chat_id}/messages"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Channel {
                team_id,
                channel_id,
            } => format!("channel {channel_id} of team {team_id}"),
            Self::Chat { chat_id } => format!("chat {chat_id}"),
        }
    }
}

/// Whether `value` has the shape of a Teams thread id (`19:<id>@<domain>`). The check keeps
/// anything but those characters out of the request path.
fn is_thread_id(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("19:") else {
        return false;
    };
    let Some((id, domain)) = rest.split_once('@') else {
        return false;
    };
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.')
}

fn checked(
    team_id: Option<&str>,
    channel_id: Option<&str>,
    chat_id: Option<&str>,
) -> Result<Option<Target>, OperationError> {
    fn trim(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    match (trim(team_id), trim(channel_id), trim(chat_id)) {
        (None, None, None) => Ok(None),
        (Some(team), Some(channel), None) => {
            if !is_guid(team) {
                return Err(OperationError::config(format!(
                    "teamId `{}` is not a team id (a GUID like \
                     19dd6c7e-9b5a-4f2e-8f7e-0123456789ab)",
                    excerpt(team, &[])
                )));
            }
            if !is_thread_id(channel) {
                return Err(OperationError::config(format!(
                    "channelId `{}` is not a channel id (like 19:...@thread.tacv2); use the id, \
                     not the name",
                    excerpt(channel, &[])
                )));
            }
            Ok(Some(Target::Channel {
                team_id: team.to_ascii_lowercase(),
                channel_id: channel.to_owned(),
            }))
        }
        (None, None, Some(chat)) => {
            if !is_thread_id(chat) {
                return Err(OperationError::config(format!(
                    "chatId `{}` is not a chat id (like 19:...@thread.v2)",
                    excerpt(chat, &[])
                )));
            }
            Ok(Some(Target::Chat {
                chat_id: chat.to_owned(),
            }))
        }
        (_, _, Some(_)) => Err(OperationError::config(
            "a destination is either a channel (teamId and channelId) or a chat (chatId), not both",
        )),
        _ => Err(OperationError::config(
            "a channel needs both teamId and channelId",
        )),
    }
}

/// The top-level channel or chat, then `destinations`, each once, in order.
fn targets(config: &MessageSend) -> Result<Vec<Target>, OperationError> {
    let mut all = Vec::new();
    if let Some(top) = checked(
        config.team_id.as_deref(),
        config.channel_id.as_deref(),
        None,
    )? {
        all.push(top);
    }
    if let Some(chat) = checked(None, None, config.chat_id.as_deref())? {
        all.push(chat);
    }
    for destination in &config.destinations {
        let target = checked(
            destination.team_id.as_deref(),
            destination.channel_id.as_deref(),
            destination.chat_id.as_deref(),
        )?
        .ok_or_else(|| OperationError::config("a destination names no channel or chat"))?;
        all.push(target);
    }
    if all.is_empty() {
        return Err(OperationError::config(
            "give a channel (teamId and channelId), a chat (chatId) or destinations",
        ));
    }
    Ok(unique_in_order(all, Target::key))
}

/// The chatMessage to post to `target`.
fn message(config: &MessageSend, target: &Target) -> Result<Value, OperationError> {
    if config.body.trim().is_empty() {
        return Err(OperationError::config("the message body is empty"));
    }
    if config.body.chars().count() > MAX_BODY_CHARS {
        return Err(OperationError::config(format!(
            "Teams accepts message bodies of at most {MAX_BODY_CHARS} characters"
        )));
    }
    let mut message = json!({
        "body": {"contentType": config.body_format.content_type(), "content": config.body},
    });
    if let (Target::Channel { .. }, Some(subject)) = (
        target,
        config.subject.as_deref().filter(|s| !s.trim().is_empty()),
    ) {
        message["subject"] = json!(subject);
    }
    Ok(message)
}

/// One posted message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// The chatMessage's id.
    pub message_id: String,
    /// When Teams created it (ISO 8601).
    pub created_date_time: String,
    /// A link to the message in Teams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

/// Posts to each destination in turn. The first refusal stops the run; what was posted before
/// it stays recorded, so a retry posts only the rest.
pub async fn message_send(
    ctx: OperationContext,
    config: MessageSend,
    api: &MicrosoftGraph,
) -> Result<Value, OperationError> {
    let targets = targets(&config)?;
    let messages = targets
        .iter()
        .map(|target| message(&config, target))
        .collect::<Result<Vec<_>, _>>()?;
    // A run seeded with the checkpoint of a throttled run skips only what that run posted of
    // the same message to the same destinations.
    let request = json!(
        targets
            .iter()
            .zip(&messages)
            .map(|(target, message)| json!([target.key(), message]))
            .collect::<Vec<_>>()
    );
    let mut log = DeliveryLog::<Delivery>::load_for(&ctx, &request);
    for (target, message) in targets.iter().zip(messages) {
        let key = target.key();
        if log.contains(&key) {
            continue;
        }
        // Not idempotent: a 5xx is not retried (it may have posted); a 429 is, after its
        // Retry-After.
        let answer: Value = api
            .for_destination(&key)
            .post(&target.path())
            .json(&message)
            .send_json()
            .await
            .map_err(|err| OperationError {
                message: format!("posting to {}: {}", target.describe(), err.message),
                ..err
            })?;
        let text = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
        let message_id = text("id").ok_or_else(|| {
            OperationError::provider(format!(
                "Microsoft Graph's answer for {} has no message id",
                target.describe()
            ))
        })?;
        let (team_id, channel_id, chat_id) = match target {
            Target::Channel {
                team_id,
                channel_id,
            } => (Some(team_id.clone()), Some(channel_id.clone()), None),
            Target::Chat { chat_id } => (None, None, Some(chat_id.clone())),
        };
        let delivery = Delivery {
            team_id,
            channel_id,
            chat_id,
            message_id,
            created_date_time: text("createdDateTime").unwrap_or_default(),
            web_url: text("webUrl"),
        };
        log.record(&ctx, &key, delivery).await?;
    }
    let keys: Vec<String> = targets.iter().map(Target::key).collect();
    let deliveries = log.in_order(keys.iter().map(String::as_str));
    let first = deliveries.first();
    Ok(json!({
        "messageId": first.map(|d| d.message_id.clone()),
        "createdDateTime": first.map(|d| d.created_date_time.clone()),
        "deliveries": deliveries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAM: &str = "19dd6c7e-9b5a-4f2e-8f7e-0123456789ab";
    const CHANNEL: &str = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2";
    const CHAT: &str = "19:2da4c29f6d7041eca70b638b43d45437@thread.v2";

    fn config(value: Value) -> MessageSend {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn destinations_are_posted_once_in_order() {
        let send = config(json!({
            "teamId": TEAM.to_uppercase(), "channelId": CHANNEL, "chatId": CHAT,
            "destinations": [{"teamId": TEAM, "channelId": CHANNEL}, {"chatId": CHAT},
                             {"chatId": "19:8b081ef6-4792-4def-b2c9-c363a1bf41d5_5031bb31-22c0-4f6f-9f73-91d34ab2b32d@unq.gbl.spaces"}],
            "body": "hi"}));
        let keys: Vec<String> = targets(&send).unwrap().iter().map(Target::key).collect();
        assert_eq!(
            keys,
            [
                format!("channel:{TEAM}/{CHANNEL}"),
                format!("chat:{CHAT}"),
                "chat:19:8b081ef6-4792-4def-b2c9-c363a1bf41d5_5031bb31-22c0-4f6f-9f73-91d34ab2b32d@unq.gbl.spaces".to_owned(),
            ]
        );
    }

    #[test]
    fn malformed_destinations_are_refused_before_anything_is_sent() {
        for (bad, why) in [
            (json!({"teamId": "General", "channelId": CHANNEL}), "teamId"),
            (json!({"teamId": TEAM, "channelId": "General"}), "channelId"),
            (json!({"teamId": TEAM}), "both teamId and channelId"),
            (json!({"chatId": "19:x@thread.v2/../../me"}), "chatId"),
            (json!({}), "give a channel"),
        ] {
            let mut value = bad.clone();
            value["body"] = json!("hi");
            let err = targets(&config(value)).unwrap_err();
            assert!(err.message.contains(why), "{bad}: {err}");
        }
        let both = config(
            json!({"destinations": [{"teamId": TEAM, "channelId": CHANNEL, "chatId": CHAT}], "body": "x"}),
        );
        assert!(targets(&both).unwrap_err().message.contains("not both"));
    }

    #[test]
    fn subjects_go_to_channels_only() {
        let send = config(
            json!({"chatId": CHAT, "body": "<b>hi</b>", "bodyFormat": "html", "subject": "Deploy"}),
        );
        let channel = Target::Channel {
            team_id: TEAM.into(),
            channel_id: CHANNEL.into(),
        };
        let chat = Target::Chat {
            chat_id: CHAT.into(),
        };
        let to_channel = message(&send, &channel).unwrap();
        assert_eq!(
            to_channel,
            json!({"body": {"contentType": "html", "content": "<b>hi</b>"}, "subject": "Deploy"})
        );
        assert!(message(&send, &chat).unwrap().get("subject").is_none());
        let blank = config(json!({"chatId": CHAT, "body": "  "}));
        assert!(message(&blank, &chat).is_err());
    }
}
