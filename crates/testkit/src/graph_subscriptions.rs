//! Microsoft Graph change-notification subscriptions, as Graph documents them ("Create
//! subscription", "Update subscription", "Delete subscription", "Set up notifications for changes
//! in resource data"), for the fake Graph of `azure_entra_id.rs`:
//!
//! - `POST /subscriptions` checks the body (`changeType` of created/updated/deleted, a supported
//!   `resource`, an HTTPS `notificationUrl` — plain HTTP only on loopback, for tests —, an
//!   `expirationDateTime` in the future and at most 41,760 minutes away for users and groups, a
//!   `clientState` of at most 128 characters), then validates each notification URL: it POSTs
//!   `?validationToken=<token>` with an empty `text/plain` body and wants `200` with exactly the
//!   token within 10 seconds, else the subscription is refused with 400 as Graph does.
//! - `GET /subscriptions` lists the app's subscriptions in the tenant, `PATCH
//!   /subscriptions/{id}` renews one (`expirationDateTime` only), `DELETE` removes it (204); an
//!   unknown id is 404 `ResourceNotFound`.
//! - Tests make Graph notify: [`GraphSubscriptions::notify_change`] posts a change notification
//!   collection to each subscription watching the resource, with its `clientState`;
//!   [`GraphSubscriptions::notify_lifecycle`] posts a lifecycle notification.

use std::{
    sync::{Mutex, OnceLock},
    time::Duration,
};

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::microsoft;

/// Users and groups: "Maximum length of subscription per resource type", 41,760 minutes.
const MAX_MINUTES: i64 = 41_760;
/// Graph gives the notification URL 10 seconds to answer its validation request.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);
const RESOURCES: [&str; 2] = ["users", "groups"];
/// The message Graph refuses a subscription with when validation fails.
pub const VALIDATION_FAILED: &str = "Subscription validation request failed. Notification \
     endpoint must respond with 200 OK to validation request.";

/// A refusal: status, Graph error code, message.
pub type Refusal = (StatusCode, &'static str, String);

/// What a notification POST was answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub subscription_id: String,
    pub status: u16,
}

/// The subscriptions of the app in the fake's tenant.
pub struct GraphSubscriptions {
    tenant_id: String,
    application_id: String,
    subscriptions: Mutex<Vec<Value>>,
    /// Built at first use: the test installs the TLS crypto provider before it connects.
    http: OnceLock<reqwest::Client>,
}

impl GraphSubscriptions {
    pub fn new(tenant_id: &str, application_id: &str) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            application_id: application_id.to_owned(),
            subscriptions: Mutex::new(Vec::new()),
            http: OnceLock::new(),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(VALIDATION_TIMEOUT)
                .build()
                .expect("the test installed a TLS crypto provider")
        })
    }

    /// The current subscriptions, as `GET /subscriptions` lists them.
    pub fn list(&self) -> Vec<Value> {
        self.subscriptions.lock().unwrap().clone()
    }

    /// `POST /subscriptions`: checks, validates the URLs, stores. Answers the entity (201).
    pub async fn create(&self, base: &str, body: &Value) -> Result<Value, Refusal> {
        let text = |field: &str| body.get(field).and_then(Value::as_str);
        let change_type = text("changeType").ok_or_else(|| missing("changeType"))?;
        if change_type
            .split(',')
            .any(|t| !matches!(t, "created" | "updated" | "deleted"))
        {
            return Err(invalid(format!("Invalid changeType '{change_type}'.")));
        }
        let resource = text("resource").ok_or_else(|| missing("resource"))?;
        if !RESOURCES.contains(
            &resource
                .trim_start_matches('/')
                .to_ascii_lowercase()
                .as_str(),
        ) {
            return Err(invalid(format!(
                "Resource '{resource}' is not supported by this fake."
            )));
        }
        let notification_url = text("notificationUrl").ok_or_else(|| missing("notificationUrl"))?;
        check_url(notification_url)?;
        let lifecycle_url = text("lifecycleNotificationUrl");
        if let Some(url) = lifecycle_url {
            check_url(url)?;
        }
        let expiry = check_expiry(text("expirationDateTime"))?;
        let client_state = text("clientState");
        if client_state.is_some_and(|state| state.chars().count() > 128) {
            return Err(invalid(
                "clientState must be at most 128 characters.".to_owned(),
            ));
        }
        // Graph validates the notification URL, then the lifecycle URL, before creating.
        for url in std::iter::once(notification_url).chain(lifecycle_url) {
            self.validate(url).await?;
        }
        let id = uuid_like();
        let entity = json!({
            "@odata.context": format!("{base}/v1.0/$metadata#subscriptions/$entity"),
            "id": id,
            "resource": resource,
            "applicationId": self.application_id,
            "changeType": change_type,
            "clientState": client_state,
            "notificationUrl": notification_url,
            "notificationQueryOptions": null,
            "lifecycleNotificationUrl": lifecycle_url,
            "expirationDateTime": expiry,
            "creatorId": self.application_id,
            "includeResourceData": false,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationUrlAppId": null,
        });
        let mut stored = entity.clone();
        if let Some(object) = stored.as_object_mut() {
            object.remove("@odata.context");
        }
        self.subscriptions.lock().unwrap().push(stored);
        Ok(entity)
    }

    /// `PATCH /subscriptions/{id}`: a new `expirationDateTime` (and nothing else).
    pub fn renew(&self, base: &str, id: &str, body: &Value) -> Result<Value, Refusal> {
        if let Some(other) = body.as_object().and_then(|o| {
            o.keys()
                .find(|k| *k != "expirationDateTime" && *k != "notificationUrl")
        }) {
            return Err(invalid(format!(
                "Property '{other}' cannot be updated on a subscription."
            )));
        }
        let expiry = check_expiry(body.get("expirationDateTime").and_then(Value::as_str))?;
        let mut subscriptions = self.subscriptions.lock().unwrap();
        let subscription = subscriptions
            .iter_mut()
            .find(|s| s["id"] == id)
            .ok_or_else(not_found)?;
        subscription["expirationDateTime"] = json!(expiry);
        let mut entity = subscription.clone();
        entity["@odata.context"] = json!(format!("{base}/v1.0/$metadata#subscriptions/$entity"));
        Ok(entity)
    }

    /// `DELETE /subscriptions/{id}` (204), or Graph removing a subscription on its own.
    pub fn delete(&self, id: &str) -> Result<(), Refusal> {
        let mut subscriptions = self.subscriptions.lock().unwrap();
        let before = subscriptions.len();
        subscriptions.retain(|s| s["id"] != id);
        if subscriptions.len() == before {
            Err(not_found())
        } else {
            Ok(())
        }
    }

    /// The validation request: POST `?validationToken=`, empty `text/plain` body; the answer
    /// must be 200 with the token, as plain text.
    async fn validate(&self, url: &str) -> Result<(), Refusal> {
        let token = format!(
            "Validation: Testing client application reachability for subscription Request-Id: {}",
            uuid_like()
        );
        let refused = || invalid(VALIDATION_FAILED.to_owned());
        let mut target = url::Url::parse(url).map_err(|_| refused())?;
        target
            .query_pairs_mut()
            .append_pair("validationToken", &token);
        let response = self
            .http()
            .post(target)
            .header("content-type", "text/plain; charset=utf-8")
            .body("")
            .send()
            .await
            .map_err(|_| refused())?;
        let status = response.status();
        let answer = response.text().await.map_err(|_| refused())?;
        if status.as_u16() == 200 && answer == token {
            Ok(())
        } else {
            Err(refused())
        }
    }

    /// Graph notifies a change of `resource` (`Users/<id>` or `Groups/<id>`) to every
    /// subscription watching it, each with its own `clientState`.
    pub async fn notify_change(&self, resource: &str, change_type: &str) -> Vec<Delivered> {
        let (collection, id) = resource.split_once('/').unwrap_or((resource, ""));
        let odata_type = if collection.eq_ignore_ascii_case("users") {
            "#Microsoft.Graph.User"
        } else {
            "#Microsoft.Graph.Group"
        };
        let watching: Vec<Value> = self
            .list()
            .into_iter()
            .filter(|s| {
                s["resource"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .eq_ignore_ascii_case(collection)
            })
            .collect();
        let mut delivered = Vec::new();
        for subscription in watching {
            let body = json!({"value": [{
                "subscriptionId": subscription["id"],
                "subscriptionExpirationDateTime": subscription["expirationDateTime"],
                "changeType": change_type,
                "resource": resource,
                "resourceData": {
                    "@odata.type": odata_type,
                    "@odata.id": resource,
                    "id": id,
                    "organizationId": self.tenant_id,
                },
                "clientState": subscription["clientState"],
                "tenantId": self.tenant_id,
            }]});
            let url = subscription["notificationUrl"].as_str().unwrap_or_default();
            delivered.push(self.post(&subscription, url, &body).await);
        }
        delivered
    }

    /// Graph sends a lifecycle notification (`reauthorizationRequired`, `subscriptionRemoved`,
    /// `missed`) about subscription `id` to its lifecycle URL.
    pub async fn notify_lifecycle(&self, id: &str, event: &str) -> Option<Delivered> {
        let subscription = self.list().into_iter().find(|s| s["id"] == id)?;
        self.send_lifecycle(&subscription, event).await
    }

    /// A lifecycle notification about a subscription Graph already removed on its own
    /// (`subscriptionRemoved` follows the removal).
    pub async fn remove_and_notify(&self, id: &str) -> Option<Delivered> {
        let subscription = self.list().into_iter().find(|s| s["id"] == id)?;
        self.delete(id).ok()?;
        self.send_lifecycle(&subscription, "subscriptionRemoved")
            .await
    }

    async fn send_lifecycle(&self, subscription: &Value, event: &str) -> Option<Delivered> {
        let url = subscription["lifecycleNotificationUrl"].as_str()?;
        let body = json!({"value": [{
            "subscriptionId": subscription["id"],
            "subscriptionExpirationDateTime": subscription["expirationDateTime"],
            "tenantId": self.tenant_id,
            "clientState": subscription["clientState"],
            "lifecycleEvent": event,
        }]});
        Some(self.post(subscription, url, &body).await)
    }

    async fn post(&self, subscription: &Value, url: &str, body: &Value) -> Delivered {
        let status = match self.http().post(url).json(body).send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        Delivered {
            subscription_id: subscription["id"].as_str().unwrap_or_default().to_owned(),
            status,
        }
    }
}

fn missing(field: &str) -> Refusal {
    invalid(format!("Missing required property '{field}'."))
}

fn invalid(message: String) -> Refusal {
    (StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn not_found() -> Refusal {
    (
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The object was not found.".to_owned(),
    )
}

/// HTTPS, or plain HTTP on loopback (the tests' server).
fn check_url(raw: &str) -> Result<(), Refusal> {
    let url =
        url::Url::parse(raw).map_err(|_| invalid(format!("Invalid notification url '{raw}'.")))?;
    let loopback = url.host_str() == Some("127.0.0.1") || url.host_str() == Some("localhost");
    if url.scheme() == "https" || (url.scheme() == "http" && loopback) {
        Ok(())
    } else {
        Err(invalid(format!(
            "The Notification Url '{raw}' must use https."
        )))
    }
}

fn check_expiry(raw: Option<&str>) -> Result<String, Refusal> {
    let raw = raw.ok_or_else(|| missing("expirationDateTime"))?;
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| invalid(format!("Invalid expirationDateTime '{raw}'.")))?
        .with_timezone(&Utc);
    let now = Utc::now();
    if at <= now {
        return Err(invalid(
            "Subscription expiration can only be in the future.".to_owned(),
        ));
    }
    if at > now + chrono::Duration::minutes(MAX_MINUTES) {
        return Err(invalid(format!(
            "Subscription expiration can only be {MAX_MINUTES} minutes in the future."
        )));
    }
    // Graph answers times with seven fractional digits.
    Ok(at.to_rfc3339_opts(SecondsFormat::Nanos, true))
}

fn uuid_like() -> String {
    let n = u128::from_le_bytes(tributary_providerkit::random_bytes());
    microsoft::guid_from_hex(&format!("{n:032x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_bounded_as_graph_bounds_it() {
        let soon = (Utc::now() + chrono::Duration::days(28)).to_rfc3339();
        assert!(check_expiry(Some(&soon)).is_ok());
        let far = (Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        assert_eq!(
            check_expiry(Some(&far)).unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
        let past = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
        assert!(check_expiry(Some(&past)).is_err());
        assert!(check_expiry(None).is_err());
    }

    #[test]
    fn notification_urls_must_be_https_off_loopback() {
        assert!(check_url("https://tributary.example/v1/webhooks/whe_1").is_ok());
        assert!(check_url("http://127.0.0.1:8080/v1/webhooks/whe_1").is_ok());
        assert!(check_url("http://tributary.example/v1/webhooks/whe_1").is_err());
    }
}
