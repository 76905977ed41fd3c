//! Sends that must happen once per run: a message to each destination, posted once even when
//! the same destination is named twice, or when the run is attempted again after a worker was
//! lost or a throttle outlasted the client's patience.
//!
//! [`DeliveryLog`] keeps what was delivered, by destination key, in the run's checkpoint, saved
//! after each delivery. It is stored as `{"deliveries": {<key>: <delivery>}}`, the shape Slack's
//! `MessageSend` checkpoint already has. [`unique_in_order`] drops repeated destinations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use tributary_core::{OperationContext, OperationError};

/// What a run has delivered so far, by destination key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: DeserializeOwned"))]
pub struct DeliveryLog<T> {
    #[serde(default)]
    deliveries: BTreeMap<String, T>,
}

impl<T> Default for DeliveryLog<T> {
    fn default() -> Self {
        Self {
            deliveries: BTreeMap::new(),
        }
    }
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
