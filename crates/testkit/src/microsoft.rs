//! What the Microsoft fakes (Entra ID and Teams) share: the identity platform's sign-in server for
//! one tenant at Microsoft's paths, the pair of servers each runs as in production
//! (`login.microsoftonline.com` and `graph.microsoft.com`) with the accessors their tests use, and
//! Graph's error answers.

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    FakeServer,
    authorization::{AuthorizationPaths, BearerRefusal, ClientApp, FakeAuthorization},
    clock,
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

/// The fake authorization server as Microsoft's identity platform: the app registered as a
/// confidential client (`client_secret_post`) and RS256 id tokens with the v2.0 claims.
pub(crate) fn sign_in_authorization(app: AppRegistration, user: &SignedIn) -> FakeAuthorization {
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
    auth
}

/// Serves `auth` at `/{tenant}/oauth2/v2.0/authorize`, `/{tenant}/oauth2/v2.0/token` and
/// `/{tenant}/discovery/v2.0/keys`, issuing as `<login>/<tenant_id>/v2.0`; `wrap` adds a fake's
/// own gates in front of those routes.
pub(crate) async fn start_sign_in(
    auth: &FakeAuthorization,
    tenant_id: &str,
    wrap: impl FnOnce(Router) -> Router,
) -> std::io::Result<FakeServer> {
    let routes = auth.routes(&AuthorizationPaths {
        authorize: "/{tenant}/oauth2/v2.0/authorize".into(),
        token: "/{tenant}/oauth2/v2.0/token".into(),
        jwks: "/{tenant}/discovery/v2.0/keys".into(),
    });
    let login = FakeServer::start_provider("microsoft_login", wrap(routes)).await?;
    auth.set_issuer(format!("{}/{tenant_id}/v2.0", login.base_url()));
    Ok(login)
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

/// Graph's 429 with `Retry-After`.
pub(crate) fn throttled(wait: u64) -> Response {
    let mut response = graph_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests, retry after the time in the Retry-After header.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
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
