//! Extractors that answer bad input with the API's error shape: the caller's token, JSON bodies
//! (content type, syntax, types, unknown fields), query strings and path segments. None of them
//! lets a NUL character through (see [`nul`](super::nul)).

use axum::{
    extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request},
    http::{HeaderMap, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;

use super::{Access, ApiState, error::ApiError};

/// Who is calling: the operator (manages tenants) or one tenant (everything else), through which
/// API token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The tenant of a tenant token; `None` for the operator token.
    tenant_id: Option<String>,
    /// The token's id and name (what the audit trail names as the actor).
    pub token_id: String,
    pub token_name: String,
}

impl Caller {
    /// The tenant a tenant-scoped route acts for.
    pub fn tenant(&self) -> Result<&str, ApiError> {
        self.tenant_id.as_deref().ok_or_else(|| {
            ApiError::forbidden("this route acts for a tenant: call it with a tenant API token")
        })
    }

    pub fn require_operator(&self) -> Result<(), ApiError> {
        match self.tenant_id {
            None => Ok(()),
            Some(_) => Err(ApiError::forbidden("this route needs the operator token")),
        }
    }

    /// The tenant of a tenant token, `None` for the operator.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }

    /// Authenticates the request's bearer token.
    pub async fn authenticate(headers: &HeaderMap, state: &ApiState) -> Result<Self, ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("an `Authorization: Bearer <API token>` header is required")
            })?;
        let record = state
            .runtime
            .db()
            .tenants()
            .authenticate(token.as_bytes())
            .await?
            .ok_or_else(|| {
                ApiError::unauthorized("the API token is unknown, revoked or expired")
            })?;
        Ok(Caller {
            tenant_id: record.tenant_id,
            token_id: record.id,
            token_name: record.name,
        })
    }
}

/// Checks the caller against the route's access before anything else of the request is read,
/// so a wrong token is a 401 or 403 whatever the body holds.
pub async fn guard(access: Access, state: ApiState, mut request: Request, next: Next) -> Response {
    if access == Access::Public {
        return next.run(request).await;
    }
    let caller = match Caller::authenticate(request.headers(), &state).await {
        Ok(caller) => caller,
        Err(err) => return err.into_response(),
    };
    let allowed = match access {
        Access::Operator => caller.require_operator(),
        Access::Tenant => caller.tenant().map(|_| ()),
        Access::AnyToken | Access::Public => Ok(()),
    };
    if let Err(err) = allowed {
        return err.into_response();
    }
    if let Some(tenant) = caller.tenant_id() {
        tracing::Span::current().record("tenant_id", tenant);
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match parts.extensions.get::<Caller>() {
            Some(caller) => Ok(caller.clone()),
            None => Caller::authenticate(&parts.headers, state).await,
        }
    }
}

/// A JSON body: `application/json`, well formed, of the right shape (unknown fields refused by
/// the types themselves).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<ApiState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let limit = state.config.max_body_bytes;
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the body is larger than {limit} bytes"),
                )
            })?;
        if let Some(nul) = super::nul::find_in_json(&bytes) {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!(
                    "the request body has a NUL character (\\u0000) in {}; text may not \
                     contain NUL",
                    nul.describe()
                ),
            ));
        }
        use tributary_core::json::{BoundedJsonError, MAX_JSON_DEPTH, parse_bounded};
        parse_bounded(&bytes, MAX_JSON_DEPTH)
            .map(JsonBody)
            .map_err(|error| match error {
                BoundedJsonError::TooDeep(too_deep) => ApiError::bad_request(
                    "invalid_json",
                    format!("the request body is invalid: {too_deep}"),
                ),
                BoundedJsonError::Invalid(err) => {
                    let code = if err.is_data() {
                        "invalid_body"
                    } else {
                        "invalid_json"
                    };
                    ApiError::bad_request(code, format!("the request body is invalid: {err}"))
                }
            })
    }
}

/// Query parameters of the right shape.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
        if let Some(name) = super::nul::find_in_pairs(pairs.iter().map(|(k, v)| (&**k, &**v))) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "the query parameter `{name}` has a NUL character; text may not contain NUL"
                ),
            ));
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| QueryParams(value))
            .map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))
    }
}

/// Path parameters (ids are opaque strings; an undecodable one is a 400, not a plain-text
/// rejection).
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // Undecodable segments are left to `Path`, which names the problem.
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await
            && let Some(name) = super::nul::find_in_pairs(raw.iter())
        {
            return Err(ApiError::bad_request(
                "invalid_path",
                format!("the path parameter `{name}` has a NUL character; ids may not contain NUL"),
            ));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParams(value))
            .map_err(|err| ApiError::bad_request("invalid_path", err.body_text()))
    }
}
