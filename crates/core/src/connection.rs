//! Connections: the modes of connecting a definition (API token, OAuth, app install...). Each names
//! the slot that selects it, the slots and clients that take part, and how it authenticates,
//! validates, identifies the external account and tears down.

use std::{future::Future, sync::Arc};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{CredentialBindings, IntegrationContext, OperationError};

/// What the connection resolved about the external system (not transient setup details).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationMetadata {
    /// The external account's id (org id, workspace id, tenant id).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub external_id: String,
    /// Its display name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub external_name: String,
    /// Further facts routing or display needs (installation id, customer id, domain).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub attributes: Value,
}

/// Input to metadata resolution.
#[derive(Debug, Clone)]
pub struct MetadataRequest {
    pub integration: IntegrationContext,
    pub credentials: CredentialBindings,
    /// What the auth flow passed along (an app installation id); `null` otherwise.
    pub auth_input: Value,
}

/// Query parameters of an auth callback, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackParams(pub Vec<(String, String)>);

impl CallbackParams {
    pub fn new(mut params: Vec<(String, String)>) -> Self {
        params.sort();
        Self(params)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Input to the start of an auth flow. The keymaker has already created the session.
#[derive(Debug, Clone)]
pub struct AuthStartRequest {
    pub integration: IntegrationContext,
    /// Where the provider must send the user back.
    pub redirect_uri: String,
    /// The session's state token, to put in the provider URL.
    pub state: String,
    /// PKCE S256 challenge of the session's verifier.
    pub code_challenge: String,
    /// OIDC nonce of the session.
    pub nonce: String,
}

/// Where to send the user, plus provider-specific state the keymaker keeps until the callback.
#[derive(Debug, Clone, Default)]
pub struct AuthStartResult {
    pub url: String,
    pub provider_state: Value,
}

/// Input to the completion of an auth flow, after the keymaker took the session and checked state.
#[derive(Clone)]
pub struct AuthCompleteRequest {
    pub integration: IntegrationContext,
    pub redirect_uri: String,
    pub callback: CallbackParams,
    pub provider_state: Value,
    pub code_verifier: crate::Secret,
    pub nonce: String,
}

debug_listed_fields!(AuthCompleteRequest {
    integration,
    redirect_uri
});

/// The credential an auth flow produced, and what it tells metadata resolution.
#[derive(Clone, Default)]
pub struct AuthCompleteResult {
    pub credential: Value,
    pub auth_input: Value,
}

debug_listed_fields!(AuthCompleteResult { auth_input });

/// Input to a credential refresh.
#[derive(Clone)]
pub struct RefreshRequest {
    pub integration: IntegrationContext,
    pub credential: Value,
}

/// An erased async callback of a registration: one input in, a result out.
pub(crate) type AsyncFn<I, O> =
    Arc<dyn Fn(I) -> BoxFuture<'static, Result<O, OperationError>> + Send + Sync>;

fn erase<I, O, F, Fut>(f: F) -> AsyncFn<I, O>
where
    I: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, OperationError>> + Send + 'static,
{
    Arc::new(move |input| Box::pin(f(input)))
}

/// A credential refresh: the stored credential in, the renewed credential out.
pub type RefreshFn = AsyncFn<RefreshRequest, Value>;

/// How a connection acquires its credential through the browser (OAuth) or an app install.
#[derive(Clone)]
pub struct AuthRegistration {
    /// The auth-managed slot the flow fills; it must belong to the connection.
    pub credential_ref: &'static str,
    pub start: AsyncFn<AuthStartRequest, AuthStartResult>,
    pub complete: AsyncFn<AuthCompleteRequest, AuthCompleteResult>,
    /// Refreshes an expiring credential (OAuth refresh token, app installation token).
    pub refresh: Option<RefreshFn>,
}

impl AuthRegistration {
    pub fn new<S, SF, C, CF>(credential_ref: &'static str, start: S, complete: C) -> Self
    where
        S: Fn(AuthStartRequest) -> SF + Send + Sync + 'static,
        SF: Future<Output = Result<AuthStartResult, OperationError>> + Send + 'static,
        C: Fn(AuthCompleteRequest) -> CF + Send + Sync + 'static,
        CF: Future<Output = Result<AuthCompleteResult, OperationError>> + Send + 'static,
    {
        Self {
            credential_ref,
            start: erase(start),
            complete: erase(complete),
            refresh: None,
        }
    }

    pub fn with_refresh<R, RF>(mut self, refresh: R) -> Self
    where
        R: Fn(RefreshRequest) -> RF + Send + Sync + 'static,
        RF: Future<Output = Result<Value, OperationError>> + Send + 'static,
    {
        self.refresh = Some(erase(refresh));
        self
    }
}

/// Exchanges a typed credential for a short-lived token and renews it (an Okta service app's
/// private key for an access token, a service account key). The setup flow runs the hook once
/// on the credential a user typed, before the validation operation, and saves what it returns;
/// the runtime runs it again whenever the saved `expires_at` falls within the refresh margin.
/// The hook returns the whole credential: the typed fields and the fresh token.
#[derive(Clone)]
pub struct TokenRefreshRegistration {
    /// The form slot whose credential is exchanged; it must belong to the connection.
    pub credential_ref: &'static str,
    pub refresh: RefreshFn,
}

/// Input to a disconnect hook.
#[derive(Debug, Clone)]
pub struct DisconnectRequest {
    pub integration: IntegrationContext,
    pub credentials: CredentialBindings,
    /// The integration's per-integration webhook endpoints, still in place while the hook runs,
    /// so it can unregister them at the provider (delete Graph subscriptions).
    pub webhook_endpoints: Vec<crate::WebhookEndpointAccess>,
}

/// What a disconnect hook did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DisconnectResult {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Keep local state for now: an authoritative event (GitHub `installation.deleted`) will
    /// clean up.
    #[serde(skip)]
    pub skip_local_cleanup: bool,
}

/// Teardown of a connection (revoke a token, uninstall an app).
#[derive(Clone)]
pub struct DisconnectRegistration {
    pub credential_ref: &'static str,
    pub description: String,
    /// `None`: nothing to do remotely; the runtime cleans up locally.
    pub disconnect: Option<AsyncFn<DisconnectRequest, DisconnectResult>>,
}

impl DisconnectRegistration {
    pub fn local_only(credential_ref: &'static str, description: impl Into<String>) -> Self {
        Self {
            credential_ref,
            description: description.into(),
            disconnect: None,
        }
    }

    pub fn new<F, Fut>(credential_ref: &'static str, description: impl Into<String>, f: F) -> Self
    where
        F: Fn(DisconnectRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<DisconnectResult, OperationError>> + Send + 'static,
    {
        Self {
            credential_ref,
            description: description.into(),
            disconnect: Some(erase(f)),
        }
    }
}

/// Derives integration metadata after a credential is accepted.
#[derive(Clone)]
pub struct MetadataResolver(pub AsyncFn<MetadataRequest, Option<IntegrationMetadata>>);

impl MetadataResolver {
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(MetadataRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<IntegrationMetadata>, OperationError>> + Send + 'static,
    {
        Self(erase(f))
    }

    pub fn resolve(
        &self,
        request: MetadataRequest,
    ) -> BoxFuture<'static, Result<Option<IntegrationMetadata>, OperationError>> {
        (self.0)(request)
    }
}

/// A connection mode.
#[derive(Clone)]
pub struct ConnectionRegistration {
    /// The slot that selects this mode; it identifies the mode in stored provider state.
    pub credential_ref: &'static str,
    pub name: String,
    pub description: String,
    /// Every slot taking part. Always contains `credential_ref` (the builder adds it).
    pub credential_refs: Vec<&'static str>,
    pub client_refs: Vec<&'static str>,
    /// The operation run as a health check before a credential is saved.
    pub validation_operation: Option<&'static str>,
    pub metadata: Option<MetadataResolver>,
    pub auth: Option<AuthRegistration>,
    /// A typed credential exchanged for short-lived tokens (no browser flow).
    pub token_refresh: Option<TokenRefreshRegistration>,
    pub disconnect: Option<DisconnectRegistration>,
}

impl ConnectionRegistration {
    /// A mode selected by `credential_ref`.
    pub fn new(credential_ref: &'static str, name: impl Into<String>) -> Self {
        Self {
            credential_ref,
            name: name.into(),
            description: String::new(),
            credential_refs: vec![credential_ref],
            client_refs: Vec::new(),
            validation_operation: None,
            metadata: None,
            auth: None,
            token_refresh: None,
            disconnect: None,
        }
    }

    text_setters!(description);

    /// Adds further participating slots.
    pub fn credentials(mut self, slots: impl IntoIterator<Item = &'static str>) -> Self {
        for slot in slots {
            if !self.credential_refs.contains(&slot) {
                self.credential_refs.push(slot);
            }
        }
        self
    }

    pub fn clients(mut self, clients: impl IntoIterator<Item = &'static str>) -> Self {
        self.client_refs.extend(clients);
        self
    }

    pub fn validation_operation(mut self, operation: &'static str) -> Self {
        self.validation_operation = Some(operation);
        self
    }

    pub fn metadata(mut self, resolver: MetadataResolver) -> Self {
        self.metadata = Some(resolver);
        self
    }

    pub fn auth(mut self, auth: AuthRegistration) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Exchanges the typed credential of `credential_ref` for a token at connect time and again
    /// before it expires (see [`TokenRefreshRegistration`]).
    pub fn token_refresh<R, RF>(mut self, credential_ref: &'static str, refresh: R) -> Self
    where
        R: Fn(RefreshRequest) -> RF + Send + Sync + 'static,
        RF: Future<Output = Result<Value, OperationError>> + Send + 'static,
    {
        self.token_refresh = Some(TokenRefreshRegistration {
            credential_ref,
            refresh: erase(refresh),
        });
        self
    }

    pub fn disconnect(mut self, disconnect: DisconnectRegistration) -> Self {
        self.disconnect = Some(disconnect);
        self
    }

    /// The hook that renews `slot`'s credential: the auth flow's refresh for the slot it fills,
    /// or the token refresh of a typed credential.
    pub fn refresh_hook(&self, slot: &str) -> Option<&RefreshFn> {
        let from_auth = self
            .auth
            .as_ref()
            .filter(|auth| auth.credential_ref == slot)
            .and_then(|auth| auth.refresh.as_ref());
        from_auth.or_else(|| {
            self.token_refresh
                .as_ref()
                .filter(|refresh| refresh.credential_ref == slot)
                .map(|refresh| &refresh.refresh)
        })
    }
}

debug_listed_fields!(
    ConnectionRegistration { credential_ref, credential_refs, client_refs, validation_operation },
    auth => |c: &ConnectionRegistration| c.auth.as_ref().map(|a| a.credential_ref),
    token_refresh => |c: &ConnectionRegistration| {
        c.token_refresh.as_ref().map(|r| r.credential_ref)
    },
    disconnect => |c: &ConnectionRegistration| c.disconnect.as_ref().map(|d| d.credential_ref),
);
