//! Sending messages: `chat.postMessage` to channels or people, paced per channel, each
//! destination posted once per run.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tributary_core::{OperationContext, OperationError, StableName};
use tributary_providerkit::DeliveryLog;

use super::SlackApi;

/// Slack renders at most 50 blocks in a message.
const MAX_BLOCKS: usize = 50;

/// Posts a message to a channel, a private channel or a person (their direct message with the
/// app). Give `channel` and/or `destinations`, and `text` and/or `blocks`.
#[derive(StableName, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {"anyOf": [{"required": ["channel"]}, {"required": ["destinations"]}]},
    {"anyOf": [{"required": ["text"]}, {"required": ["blocks"]}]}
]))]
pub struct MessageSend {
    /// A channel id (`C0123ABCD`, private `G...`) or a user id (`U0123ABCD`, `W...` on
    /// Enterprise Grid) to post to. Find a channel's id at the bottom of its details.
    #[serde(default)]
    #[schemars(extend("pattern" = "^[CGDUW][A-Z0-9]{2,}$"))]
    pub channel: Option<String>,
    /// Further channel or user ids; each destination is posted to once, in order.
    #[serde(default)]
    #[schemars(extend("items" = {"type": "string", "pattern": "^[CGDUW][A-Z0-9]{2,}$"}))]
    pub destinations: Vec<String>,
    /// The message text (Slack mrkdwn). With blocks, it is the notification's fallback text.
    #[serde(default)]
    #[schemars(extend("minLength" = 1, "maxLength" = 40000))]
    pub text: Option<String>,
    /// Block Kit blocks (`[{"type": "section", "text": {...}}]`), at most 50.
    #[serde(default)]
    #[schemars(extend("minItems" = 1, "maxItems" = 50))]
    pub blocks: Option<Vec<Value>>,
    /// Reply in the thread of this message timestamp.
    #[serde(default)]
    pub thread_ts: Option<String>,
    /// Let Slack unfurl links in the text (Slack's default is on for bot messages).
    #[serde(default)]
    pub unfurl_links: Option<bool>,
}

/// One posted message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// The destination as given (a user id for a direct message).
    pub destination: String,
    /// The channel Slack posted in (`D...` for a direct message).
    pub channel: String,
    /// The message's timestamp, its id within the channel.
    pub ts: String,
}

/// `channel` then `destinations`, trimmed, each once, in order.
fn destinations(config: &MessageSend) -> Result<Vec<String>, OperationError> {
    let mut seen = Vec::new();
    for destination in config.channel.iter().chain(&config.destinations) {
        let destination = destination.trim();
        if destination.is_empty() {
            continue;
        }
        let well_formed = destination.len() >= 3
            && destination.starts_with(['C', 'G', 'D', 'U', 'W'])
            && destination
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !well_formed {
            return Err(OperationError::config(format!(
                "`{}` is not a Slack channel or user id (like C0123ABCD or U0123ABCD); use the \
                 id, not the name",
                tributary_providerkit::classify::excerpt(destination, &[])
            )));
        }
        if !seen.iter().any(|d| d == destination) {
            seen.push(destination.to_owned());
        }
    }
    if seen.is_empty() {
        return Err(OperationError::config(
            "give a channel or destinations to post the message to",
        ));
    }
    Ok(seen)
}

/// The `chat.postMessage` arguments for one destination.
fn message_body(config: &MessageSend, destination: &str) -> Result<Value, OperationError> {
    let text = config.text.as_deref().filter(|t| !t.trim().is_empty());
    let blocks = config.blocks.as_ref().filter(|b| !b.is_empty());
    if text.is_none() && blocks.is_none() {
        return Err(OperationError::config("the message needs text or blocks"));
    }
    if blocks.is_some_and(|b| b.len() > MAX_BLOCKS) {
        return Err(OperationError::config(format!(
            "Slack accepts at most {MAX_BLOCKS} blocks in a message"
        )));
    }
    let mut body = json!({"channel": destination});
    if let Some(text) = text {
        body["text"] = json!(text);
    }
    if let Some(blocks) = blocks {
        body["blocks"] = json!(blocks);
    }
    if let Some(thread) = config.thread_ts.as_deref().filter(|t| !t.is_empty()) {
        body["thread_ts"] = json!(thread);
    }
    if let Some(unfurl) = config.unfurl_links {
        body["unfurl_links"] = json!(unfurl);
    }
    Ok(body)
}

/// Posts to each destination in turn. The first refusal stops the run; what was posted before it
/// stays recorded, so a retry posts only the rest.
pub async fn message_send(
    ctx: OperationContext,
    config: MessageSend,
    api: &SlackApi,
) -> Result<Value, OperationError> {
    let targets = destinations(&config)?;
    let bodies = targets
        .iter()
        .map(|destination| message_body(&config, destination))
        .collect::<Result<Vec<_>, _>>()?;
    // What the run posted so far is in its checkpoint: a retried run (a worker lost, a throttle
    // that outlasted the client's patience) does not post a destination twice. The log is tied
    // to the bodies sent, so a run seeded with another message's checkpoint skips nothing.
    let mut posted: DeliveryLog<Delivery> = DeliveryLog::load_for(&ctx, &json!(bodies));
    for (destination, body) in targets.iter().zip(bodies) {
        if posted.contains(destination) {
            continue;
        }
        // JSON bodies need no encoding of blocks; Slack reads the bearer token from the header.
        // Not idempotent: a 5xx is not retried (it may have posted); a 429 is, after Retry-After.
        let answer: Value = api
            .for_channel(destination)
            .post("chat.postMessage")
            .json(&body)
            .send_json()
            .await?;
        let delivery = Delivery {
            destination: destination.clone(),
            channel: answer["channel"].as_str().unwrap_or(destination).to_owned(),
            ts: answer["ts"].as_str().unwrap_or_default().to_owned(),
        };
        posted.record(&ctx, destination, delivery).await?;
    }
    let deliveries = posted.in_order(targets.iter().map(String::as_str));
    let first = deliveries.first();
    Ok(json!({
        "channel": first.map(|d| d.channel.clone()),
        "ts": first.map(|d| d.ts.clone()),
        "deliveries": deliveries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: Value) -> MessageSend {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn destinations_are_posted_once_in_order() {
        let send = config(
            json!({"channel": "C11111", "destinations": ["C11111", "C22222", " C22222 ", "U33333"], "text": "hi"}),
        );
        assert_eq!(destinations(&send).unwrap(), ["C11111", "C22222", "U33333"]);
        let named = config(json!({"channel": "#general", "text": "hi"}));
        let err = destinations(&named).unwrap_err();
        assert!(
            err.message.contains("not a Slack channel or user id"),
            "{err}"
        );
        assert!(destinations(&config(json!({"text": "hi"}))).is_err());
    }

    #[test]
    fn a_message_needs_text_or_blocks() {
        let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]);
        let send = config(json!({"channel": "C1", "blocks": blocks, "unfurlLinks": false}));
        let body = message_body(&send, "C1").unwrap();
        assert_eq!(body["blocks"], blocks);
        assert_eq!(body["unfurl_links"], false);
        assert!(body.get("text").is_none());
        assert!(message_body(&config(json!({"channel": "C1", "text": "  "})), "C1").is_err());
    }
}
