//! Okta event hook deliveries as Okta sends them (a `com.okta.event_hook` cloud event carrying a
//! batch of System Log events), for tests and the demo's webhook deliveries.

use serde_json::{Value, json};

/// A delivery of one System Log event of `event_type` about the user `user_id`.
pub fn user_event_delivery(event_id: &str, event_type: &str, user_id: &str, login: &str) -> Value {
    json!({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": "https://acme.okta.com/api/v1/eventHooks/who8n2gnhbUCkzy8N0g7",
        "eventId": event_id,
        "eventTime": "2026-11-28T10:15:03.000Z",
        "contentType": "application/json",
        "data": {
            "events": [{
                "uuid": format!("{event_id}-0"),
                "published": "2026-11-28T10:15:02.815Z",
                "eventType": event_type,
                "version": "0",
                "displayMessage": "Deactivate Okta user",
                "severity": "INFO",
                "legacyEventType": "core.user.config.user_deactivated",
                "actor": {
                    "id": "00u1admin0000000000",
                    "type": "User",
                    "alternateId": "admin@acme.example",
                    "displayName": "Acme Admin",
                },
                "outcome": {"result": "SUCCESS", "reason": null},
                "target": [{
                    "id": user_id,
                    "type": "User",
                    "alternateId": login,
                    "displayName": login,
                }],
                "transaction": {"type": "WEB", "id": "WbQd5vY1d2bGjQ2qZ0V3lQAAA0k", "detail": {}},
            }],
        },
    })
}

/// A request the demo sends to a webhook endpoint, as the provider would.
#[derive(Debug, Clone)]
pub struct DemoDelivery {
    pub method: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// What Okta sends to a new event hook: the one-time verification, then deliveries (two directory
/// changes and a sign-in, which queues nothing), authenticated with the endpoint `secret`.
pub fn demo_deliveries(secret: &str) -> Vec<DemoDelivery> {
    let auth = ("authorization".to_owned(), secret.to_owned());
    let delivery = |id: &str, event_type: &str| DemoDelivery {
        method: "POST",
        headers: vec![auth.clone()],
        body: Some(user_event_delivery(
            id,
            event_type,
            "00u0000000000000003",
            "user3@acme.example",
        )),
    };
    vec![
        DemoDelivery {
            method: "GET",
            headers: vec![
                auth.clone(),
                (
                    "x-okta-verification-challenge".to_owned(),
                    "demo-challenge".to_owned(),
                ),
            ],
            body: None,
        },
        delivery("demo-event-1", "user.lifecycle.deactivate"),
        delivery("demo-event-2", "group.user_membership.add"),
        delivery("demo-event-3", "user.session.start"),
    ]
}
