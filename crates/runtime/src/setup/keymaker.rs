//! The keymaker: browser authorization flows (OAuth 2.0 authorization code, OIDC, app installs).
//!
//! `begin` creates a single-use session (state token, PKCE S256 verifier, OIDC nonce, 15-minute
//! TTL; at most [`RuntimeConfig::max_open_auth_sessions`](crate::RuntimeConfig) open per tenant)
//! and asks the connection for the provider URL. `complete` takes the session named by the
//! callback's `state` exactly once (looked up by its SHA-256 hash, so no comparison of the token
//! itself can leak timing), lets the connection exchange the code with the verifier, and finishes
//! the setup flow from step 5.

use tracing::Instrument;
use tributary_core::{
    AuthCompleteRequest, AuthStartRequest, CallbackParams, ConnectionRegistration,
    CredentialBindings, Secret, registry::RegisteredDefinition,
};
use tributary_providerkit::{oidc_nonce, pkce_challenge, pkce_verifier};
use tributary_store::{
    SecretBytes, StoreError, integrations::Integration, sessions::NewAuthSession,
};

use crate::{
    Connected, Runtime, RuntimeError, SetupStep,
    runtime::integration_context,
    setup::{AuthRedirect, connection_mode},
};

/// Longest provider error text quoted back to the user.
const MAX_PROVIDER_ERROR: usize = 200;

/// The flow a callback belonged to, once its session was found: what an audit record of the
/// callback names (a callback whose `state` matched no session has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCallbackTarget {
    pub tenant_id: String,
    pub integration_id: String,
    pub definition_id: String,
    /// The connection mode (credential slot name) being connected.
    pub connection: String,
}

impl Runtime {
    /// Starts the browser flow of `connection` for `integration`.
    pub(crate) async fn begin_auth(
        &self,
        definition: &RegisteredDefinition,
        integration: &Integration,
        connection: &ConnectionRegistration,
    ) -> Result<AuthRedirect, RuntimeError> {
        let auth = connection.auth.as_ref().expect("checked by the caller");
        let verifier = pkce_verifier();
        let code_challenge = pkce_challenge(&verifier);
        let nonce = oidc_nonce();
        let session_error = |e: StoreError| RuntimeError::setup(SetupStep::Authorize, e);
        let (token, expires_at) = self
            .inner
            .db
            .auth_sessions(&self.inner.ring)
            .create(&NewAuthSession {
                tenant_id: &integration.tenant_id,
                integration_id: &integration.id,
                definition_id: definition.definition.id(),
                connection: connection.credential_ref,
                pkce_verifier: &SecretBytes::new(verifier.expose().as_bytes().to_vec()),
                nonce: &nonce,
                provider_state: &serde_json::Value::Null,
                ttl: None,
                max_open_per_tenant: self.inner.config.max_open_auth_sessions,
            })
            .await
            .map_err(|e| match e {
                // The tenant's to fix by finishing or abandoning flows: the API answers 429.
                StoreError::LimitReached { .. } => RuntimeError::Store(e),
                other => session_error(other),
            })?;
        let state = token.expose_str().unwrap_or_default().to_owned();
        let started = (auth.start)(AuthStartRequest {
            integration: integration_context(definition, integration),
            redirect_uri: self.inner.config.redirect_uri(),
            state,
            code_challenge,
            nonce,
        })
        .await
        .map_err(|e| RuntimeError::setup(SetupStep::Authorize, e))?;
        if !started.provider_state.is_null() {
            self.inner
                .db
                .auth_sessions(&self.inner.ring)
                .set_provider_state(token.expose(), &started.provider_state)
                .await
                .map_err(session_error)?;
        }
        Ok(AuthRedirect {
            integration_id: integration.id.clone(),
            url: started.url,
            expires_at,
        })
    }

    /// Finishes a browser flow from the provider's callback query parameters.
    pub async fn complete_auth(&self, callback: CallbackParams) -> Result<Connected, RuntimeError> {
        self.complete_auth_for(callback).await.1
    }

    /// [`Runtime::complete_auth`], also saying which flow the callback belonged to (`None` when
    /// its `state` matched no live session), whether it succeeded or not.
    pub async fn complete_auth_for(
        &self,
        callback: CallbackParams,
    ) -> (Option<AuthCallbackTarget>, Result<Connected, RuntimeError>) {
        let span = tracing::info_span!(
            "tributary.auth_callback",
            tenant_id = tracing::field::Empty,
            definition_id = tracing::field::Empty,
            integration_id = tracing::field::Empty,
        );
        let mut target = None;
        let result = self
            .observed(self.complete_auth_inner(callback, &mut target))
            .instrument(span)
            .await;
        let outcome = if result.is_ok() {
            "connected"
        } else {
            "failed"
        };
        // A callback whose session is unknown has no definition to count it under.
        let definition = target
            .as_ref()
            .map_or("unknown", |target: &AuthCallbackTarget| {
                target.definition_id.as_str()
            });
        self.inner.metrics.connect(definition, outcome);
        (target, result)
    }

    async fn complete_auth_inner(
        &self,
        callback: CallbackParams,
        target: &mut Option<AuthCallbackTarget>,
    ) -> Result<Connected, RuntimeError> {
        let state = callback.get("state").ok_or_else(|| {
            RuntimeError::setup(SetupStep::Authorize, "the callback carries no state")
        })?;
        let session = self
            .inner
            .db
            .auth_sessions(&self.inner.ring)
            .take(state.as_bytes())
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => RuntimeError::setup(
                    SetupStep::Authorize,
                    "unknown or already used authorization session; start connecting again",
                ),
                StoreError::Expired(_) => RuntimeError::setup(
                    SetupStep::Authorize,
                    "the authorization session expired; start connecting again",
                ),
                other => RuntimeError::setup(SetupStep::Authorize, other),
            })?;
        *target = Some(AuthCallbackTarget {
            tenant_id: session.tenant_id.clone(),
            integration_id: session.integration_id.clone(),
            definition_id: session.definition_id.clone(),
            connection: session.connection.clone(),
        });
        let span = tracing::Span::current();
        span.record("tenant_id", session.tenant_id.as_str());
        span.record("definition_id", session.definition_id.as_str());
        span.record("integration_id", session.integration_id.as_str());
        if let Some(error) = callback.get("error") {
            let description = callback.get("error_description").unwrap_or_default();
            let text: String = format!("{error} {description}")
                .trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_PROVIDER_ERROR)
                .collect();
            return Err(RuntimeError::Setup {
                step: SetupStep::Authorize,
                kind: tributary_core::ErrorKind::Auth,
                message: format!("the provider refused the authorization: {text}"),
            });
        }
        let integration = self
            .integration(&session.tenant_id, &session.integration_id)
            .await?;
        let definition = self.definition(&session.definition_id)?.clone();
        let connection = connection_mode(&definition, &session.connection, || {
            format!("connection mode `{}` no longer exists", session.connection)
        })?;
        let auth = connection.auth.as_ref().ok_or_else(|| {
            RuntimeError::setup(
                SetupStep::ResolveConnection,
                "the connection mode has no authorization flow",
            )
        })?;
        let verifier = session.pkce_verifier.expose_str().unwrap_or_default();
        let completed = (auth.complete)(AuthCompleteRequest {
            integration: integration_context(&definition, &integration),
            redirect_uri: self.inner.config.redirect_uri(),
            callback,
            provider_state: session.provider_state,
            code_verifier: Secret::new(verifier),
            nonce: session.nonce,
        })
        .await
        .map_err(|e| RuntimeError::setup(SetupStep::Authorize, e))?;
        let bindings = CredentialBindings::new().with(auth.credential_ref, completed.credential);
        self.commit_connection(
            &definition,
            integration,
            &connection,
            bindings,
            completed.auth_input,
        )
        .await
    }
}
