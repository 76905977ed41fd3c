//! What the Microsoft fakes (Entra ID and Teams) share: the identity platform's sign-in server for
//! one tenant at Microsoft's paths, the pair of servers each runs as in production
//! (`login.microsoftonline.com` and `graph.microsoft.com`) with the accessors their tests use, and
//! Graph's error answers.

// The handlers' helpers return a ready response as their error; its size does not matter in a
// test fake.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    FakeServer,
    authorization::{AuthorizationPaths, BearerRefusal, ClientApp, FakeAuthorization},
    clock,
    controls::{Controls, retry_after},
    demo::DemoConnection,
};

/// The app registered with a Microsoft fake (what an operator puts in the definition's config).
#[derive(Clone, Copy)]
pub(crate) struct AppRegistration {
    pub(crate) client_id: &'static str,
    pub(crate) client_secret: &'static str,
}

/// Who the sign-in's id tokens name.
pub(crate) struct SignedIn<'a> {
    pub(crate) tenant_id: &'a str,
    /// The `sub` claim (pairwise per app at Microsoft).
    pub(crate) subject: &'a str,
    pub(crate) object_id: &'a str,
    pub(crate) username: &'a str,
    pub(crate) name: &'a str,
}

/// Starts the identity platform's sign-in server for `user`'s tenant: the fake authorization
/// server with `app` registered as a confidential client (`client_secret_post`), RS256 id tokens
/// with the v2.0 claims issued as `<login>/<tenant_id>/v2.0`, served at
/// `/{tenant}/oauth2/v2.0/authorize`, `/{tenant}/oauth2/v2.0/token` and
/// `/{tenant}/discovery/v2.0/keys`; `wrap` adds a fake's own gates in front of those routes.
pub(crate) async fn start_sign_in(
    app: AppRegistration,
    user: &SignedIn<'_>,
    wrap: impl FnOnce(Router) -> Router,
) -> std::io::Result<(FakeAuthorization, FakeServer)> {
    let auth = FakeAuthorization::new();
    auth.register_client(ClientApp::confidential(app.client_id, app.client_secret));
    auth.set_subject(user.subject);
    auth.set_id_token_claims(json!({
        "tid": user.tenant_id,
        "oid": user.object_id,
        "preferred_username": user.username,
        "name": user.name,
        "ver": "2.0",
    }));
    let routes = auth.routes(&AuthorizationPaths::microsoft());
    let login = FakeServer::start_provider("microsoft_login", wrap(routes)).await?;
    auth.set_issuer(format!("{}/{}/v2.0", login.base_url(), user.tenant_id));
    Ok((auth, login))
}

/// A Microsoft fake's two servers and the app registered with it. Dropping it stops both.
pub(crate) struct MicrosoftServers {
    app: AppRegistration,
    login: FakeServer,
    graph: FakeServer,
}

impl MicrosoftServers {
    /// Serves `graph` beside the already running sign-in server `login`.
    pub(crate) async fn start(
        app: AppRegistration,
        login: FakeServer,
        graph: Router,
    ) -> std::io::Result<Self> {
        let graph = FakeServer::start_provider("microsoft_graph", graph).await?;
        Ok(Self { app, login, graph })
    }

    /// The identity platform's base URL (`https://login.microsoftonline.com`).
    pub(crate) fn login_url(&self) -> String {
        self.login.base_url()
    }

    /// Graph's base URL (`https://graph.microsoft.com`), without the version.
    pub(crate) fn graph_url(&self) -> String {
        self.graph.base_url()
    }

    /// The operator config pointing a definition at the fake, with the registered app.
    pub(crate) fn operator_config(&self) -> serde_json::Value {
        json!({
            "clientId": self.app.client_id,
            "clientSecret": self.app.client_secret,
            "loginUrl": self.login_url(),
            "graphUrl": self.graph_url(),
            "allowLoopbackUrls": true,
        })
    }

    /// Connects `definition` to the fake through a sign-in (`connection`), as the demo does.
    pub(crate) fn demo_connection(
        &self,
        definition: &'static str,
        connection: &str,
    ) -> DemoConnection {
        DemoConnection {
            definition,
            operator_config: self.operator_config(),
            connection: connection.into(),
            user_input: json!({}),
            credentials: BTreeMap::new(),
        }
    }
}

/// The accessors both Microsoft fakes offer over their `servers` (a [`MicrosoftServers`]) and
/// `shared` (with `auth` and a `control` holding their [`Controls`]),
/// written as each fake's own methods so that tests need no trait in scope. The arguments name
/// the definition and the connection mode the demo connects with.
macro_rules! fake_accessors {
    ($definition:literal, $connection:literal) => {
        /// The identity platform's base URL (`https://login.microsoftonline.com`).
        pub fn login_url(&self) -> String {
            self.servers.login_url()
        }

        /// Graph's base URL (`https://graph.microsoft.com`), without the version.
        pub fn graph_url(&self) -> String {
            self.servers.graph_url()
        }

        /// The fake authorization server: token lifetime, expiry, revocation, grant counts,
        /// clients.
        pub fn auth(&self) -> &$crate::authorization::FakeAuthorization {
            &self.shared.auth
        }

        /// The operator config pointing the definition at this fake, with the registered app.
        pub fn operator_config(&self) -> serde_json::Value {
            self.servers.operator_config()
        }

        /// Connects the definition to this fake through its sign-in (the admin consent for an
        /// app-only connection), as the demo does.
        pub fn demo_connection(&self) -> $crate::demo::DemoConnection {
            self.servers.demo_connection($definition, $connection)
        }

        /// The next Graph calls answer 429 with these `Retry-After` seconds, one each.
        pub fn throttle(&self, waits: impl IntoIterator<Item = u64>) {
            self.shared.control.lock().unwrap().controls.throttle(waits);
        }

        /// Each Graph call so far as the fake logs it: `<METHOD> <path>`, with `?<query>` where
        /// the fake's listings page by query.
        pub fn requests(&self) -> Vec<String> {
            self.shared.control.lock().unwrap().controls.requests()
        }
    };
}
pub(crate) use fake_accessors;

/// A GUID's text form (8-4-4-4-12) of 32 hex digits, as Microsoft writes its ids.
pub(crate) fn guid_from_hex(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Graph's error body, `{"error": {"code", "message", "innerError": {"date", "request-id",
/// "client-request-id"}}}`.
pub(crate) fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let serial = u64::from_le_bytes(tributary_providerkit::random_bytes());
    let request_id = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        serial >> 32,
        serial >> 16 & 0xffff,
        serial & 0xfff,
        serial >> 20 & 0xfff,
        serial & 0xffff_ffff_ffff
    );
    (
        status,
        Json(
            json!({"error": {"code": code, "message": message, "innerError": {
            "date": clock::rfc3339(clock::now_secs()).trim_end_matches('Z'),
            "request-id": request_id, "client-request-id": request_id}}}),
        ),
    )
        .into_response()
}

/// Logs a Graph call and answers 429 if a throttle was queued for it.
pub(crate) fn log_graph_call(controls: &mut Controls, request: String) -> Result<(), Response> {
    match controls.answer(request) {
        Some(wait) => Err(throttled(wait)),
        None => Ok(()),
    }
}

/// Graph's 429 with `Retry-After`.
pub(crate) fn throttled(wait: u64) -> Response {
    let response = graph_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests, retry after the time in the Retry-After header.",
    );
    retry_after(response, wait)
}

/// Graph's 401 for a missing, unknown or expired access token.
pub(crate) fn invalid_token(refusal: BearerRefusal) -> Response {
    let message = match refusal {
        BearerRefusal::Missing => "Access token is empty.",
        BearerRefusal::Unknown => "Access token validation failure. Invalid audience.",
        BearerRefusal::Expired => "Lifetime validation failed, the token is expired.",
    };
    graph_error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::fixtures::{fixture, parse};

    #[test]
    fn error_bodies_have_the_documented_shape() {
        let documented = parse(fixture!("microsoft_teams", "error_not_found"));
        let response = graph_error(StatusCode::NOT_FOUND, "NotFound", "gone");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let keys = |value: &Value, pointer: &str| -> Vec<String> {
            value
                .pointer(pointer)
                .and_then(Value::as_object)
                .map(|map| map.keys().cloned().collect())
                .unwrap_or_default()
        };
        let body = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 16))
            .unwrap();
        let ours: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(keys(&ours, "/error"), keys(&documented, "/error"));
        assert_eq!(
            keys(&ours, "/error/innerError"),
            keys(&documented, "/error/innerError")
        );
        let date = ours["error"]["innerError"]["date"].as_str().unwrap();
        assert_eq!(date.len(), "2025-11-28T21:20:34".len(), "{date}");
    }
}
