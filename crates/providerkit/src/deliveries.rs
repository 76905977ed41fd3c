//! Sends that must happen once per run: a message to each destination, posted once even when
//! the same destination is named twice, or when the run is attempted again after a worker was
//! lost or a throttle outlasted the client's patience.
//!
//! [`DeliveryLog`] keeps what was delivered, by destination key, in the run's checkpoint, saved
//! after each delivery. It is stored as `{"deliveries": {<key>: <delivery>}}`, the shape Slack's
//! `MessageSend` checkpoint already has, plus the fingerprint of the request when the log was
//! loaded with [`DeliveryLog::load_for`]. [`unique_in_order`] drops repeated destinations.
//!
//! The runtime seeds a run that follows a throttled (partial) run of the same operation with
//! that run's checkpoint. For a listing that is a resume; for sends it must only be one when the
//! new run sends the same thing, so `load_for` ignores a log written for another request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tributary_core::{OperationContext, OperationError};

/// What a run has delivered so far, by destination key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: DeserializeOwned"))]
pub struct DeliveryLog<T> {
    /// SHA-256 (hex) of the request the deliveries were made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request: Option<String>,
    #[serde(default)]
    deliveries: BTreeMap<String, T>,
}

impl<T> Default for DeliveryLog<T> {
    fn default() -> Self {
        Self {
            request: None,
            deliveries: BTreeMap::new(),
        }
    }
}

/// The fingerprint of a request: SHA-256 of its JSON (object keys sorted by `serde_json`).
fn fingerprint(request: &Value) -> String {
    let digest = Sha256::digest(request.to_string().as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl<T: Serialize + DeserializeOwned> DeliveryLog<T> {
    /// The deliveries an earlier attempt of this run saved; none when there was no attempt (or
    /// its checkpoint has another shape).
    pub fn load(ctx: &OperationContext) -> Self {
        ctx.run
            .checkpoint()
            .and_then(Self::from_value)
            .unwrap_or_default()
    }

    /// The deliveries an earlier attempt of this run saved for the same `request` (what is sent
    /// and where); none when the saved log was made for another request.
    pub fn load_for(ctx: &OperationContext, request: &Value) -> Self {
        let expected = fingerprint(request);
        let mut log = Self::load(ctx);
        if log.request.as_deref() != Some(expected.as_str()) {
            log = Self::default();
        }
        log.request = Some(expected);
        log
    }

    fn from_value(value: Value) -> Option<Self> {
        serde_json::from_value(value).ok()
    }

    /// The delivery to `key`, if it happened.
    pub fn get(&self, key: &str) -> Option<&T> {
        self.deliveries.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.deliveries.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.deliveries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// Records a delivery and saves the log as the run's checkpoint before anything else is
    /// sent, so a later attempt skips `key`.
    pub async fn record(
        &mut self,
        ctx: &OperationContext,
        key: &str,
        delivery: T,
    ) -> Result<(), OperationError> {
        self.deliveries.insert(key.to_owned(), delivery);
        let value = serde_json::to_value(&*self)
            .map_err(|_| OperationError::internal("the delivery log did not serialise"))?;
        ctx.run.save_checkpoint(value).await
    }

    /// The deliveries to `keys`, in their order, leaving out keys not delivered.
    pub fn in_order<'a>(&'a self, keys: impl IntoIterator<Item = &'a str>) -> Vec<&'a T> {
        keys.into_iter()
            .filter_map(|key| self.deliveries.get(key))
            .collect()
    }
}

/// `items` without repeats (by `key`), in the order each first appears.
pub fn unique_in_order<T, K: PartialEq>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut seen: Vec<K> = Vec::new();
    let mut kept = Vec::new();
    for item in items {
        let k = key(&item);
        if !seen.contains(&k) {
            seen.push(k);
            kept.push(item);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tributary_core::IntegrationContext;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Sent {
        id: String,
    }

    fn ctx() -> OperationContext {
        OperationContext::detached(IntegrationContext::detached("test"))
    }

    #[tokio::test]
    async fn a_recorded_delivery_is_in_the_checkpoint_and_survives_a_reload() {
        let ctx = ctx();
        let mut log = DeliveryLog::<Sent>::load(&ctx);
        assert!(log.is_empty());
        log.record(&ctx, "chat:a", Sent { id: "1".into() })
            .await
            .unwrap();
        assert_eq!(
            ctx.run.checkpoint().unwrap(),
            json!({"deliveries": {"chat:a": {"id": "1"}}})
        );
        let again = DeliveryLog::<Sent>::load(&ctx);
        assert!(again.contains("chat:a"));
        assert_eq!(
            again.in_order(["chat:b", "chat:a"]),
            [&Sent { id: "1".into() }]
        );
    }

    #[tokio::test]
    async fn a_log_for_another_request_is_not_reused() {
        let ctx = ctx();
        let request = json!({"to": ["chat:a"], "body": "one"});
        let mut log = DeliveryLog::<Sent>::load_for(&ctx, &request);
        log.record(&ctx, "chat:a", Sent { id: "1".into() })
            .await
            .unwrap();
        assert!(DeliveryLog::<Sent>::load_for(&ctx, &request).contains("chat:a"));
        let other = json!({"to": ["chat:a"], "body": "two"});
        assert!(DeliveryLog::<Sent>::load_for(&ctx, &other).is_empty());
        // A log without a fingerprint (Slack's) is not taken for any request.
        ctx.run
            .save_checkpoint(json!({"deliveries": {"chat:a": {"id": "1"}}}))
            .await
            .unwrap();
        assert!(DeliveryLog::<Sent>::load_for(&ctx, &request).is_empty());
        assert!(DeliveryLog::<Sent>::load(&ctx).contains("chat:a"));
    }

    #[tokio::test]
    async fn a_checkpoint_of_another_shape_starts_empty() {
        let ctx = ctx();
        ctx.run
            .save_checkpoint(json!({"phases": {"users": "done"}}))
            .await
            .unwrap();
        assert!(DeliveryLog::<Sent>::load(&ctx).is_empty());
        ctx.run
            .save_checkpoint(json!({"deliveries": {"x": 3}}))
            .await
            .unwrap();
        assert!(DeliveryLog::<Sent>::load(&ctx).is_empty());
    }

    #[test]
    fn repeats_are_dropped_in_order() {
        let kept = unique_in_order(["B", "a", "b", "A", "c"], |s| s.to_ascii_lowercase());
        assert_eq!(kept, ["B", "a", "c"]);
    }
}
