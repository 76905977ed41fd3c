//! Tenants and their API tokens (operator token), and the calling tenant itself.

use super::prelude::*;

/// A new tenant.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// A unique name (1 to 100 characters).
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
}

/// A new API token for a tenant.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueToken {
    /// A label for people (1 to 100 characters).
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// Unix ms after which the token stops working; absent: never.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct TenantPath {
    tenant_id: String,
}

#[derive(Debug, Deserialize)]
struct TokenPath {
    tenant_id: String,
    token_id: String,
}

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::POST,
            "/v1/tenants",
            "createTenant",
            "Create a tenant",
            create,
        )
        .tag("tenants")
        .access(Access::Operator)
        .body::<CreateTenant>()
        .answers::<TenantView>(201, "The tenant"),
        Endpoint::new(
            Method::GET,
            "/v1/tenants",
            "listTenants",
            "List tenants",
            list,
        )
        .tag("tenants")
        .access(Access::Operator)
        .answers::<Vec<TenantView>>(200, "Every tenant"),
        Endpoint::new(
            Method::GET,
            "/v1/tenants/{tenant_id}",
            "getTenant",
            "Read a tenant",
            get,
        )
        .tag("tenants")
        .access(Access::Operator)
        .answers::<TenantView>(200, "The tenant"),
        Endpoint::new(
            Method::DELETE,
            "/v1/tenants/{tenant_id}",
            "deleteTenant",
            "Delete a tenant and everything it owns",
            delete,
        )
        .tag("tenants")
        .access(Access::Operator)
        .answers_empty(204, "Deleted"),
        Endpoint::new(
            Method::POST,
            "/v1/tenants/{tenant_id}/tokens",
            "issueTenantToken",
            "Issue an API token for a tenant (shown once)",
            issue_token,
        )
        .tag("tenants")
        .access(Access::Operator)
        .body::<IssueToken>()
        .answers::<IssuedToken>(201, "The token, shown this once, and its record"),
        Endpoint::new(
            Method::GET,
            "/v1/tenants/{tenant_id}/tokens",
            "listTenantTokens",
            "List a tenant's API tokens (never the tokens themselves)",
            list_tokens,
        )
        .tag("tenants")
        .access(Access::Operator)
        .answers::<Vec<TokenView>>(200, "The token records"),
        Endpoint::new(
            Method::DELETE,
            "/v1/tenants/{tenant_id}/tokens/{token_id}",
            "revokeTenantToken",
            "Revoke a tenant's API token",
            revoke_token,
        )
        .tag("tenants")
        .access(Access::Operator)
        .answers_empty(204, "Revoked"),
        Endpoint::new(
            Method::GET,
            "/v1/tenant",
            "getCallingTenant",
            "Read the tenant of the calling token",
            current,
        )
        .tag("tenants")
        .answers::<TenantView>(200, "The calling tenant"),
    ]
}

async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    caller.require_operator()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "invalid_body",
            "name must be 1 to 100 characters",
        ));
    }
    let tenant = state.runtime.db().tenants().create(name).await?;
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Vec<TenantView>> {
    caller.require_operator()?;
    let tenants = state.runtime.db().tenants().list().await?;
    Ok(Json(tenants.into_iter().map(Into::into).collect()))
}

async fn tenant(state: &ApiState, id: &str) -> Result<TenantView, ApiError> {
    state
        .runtime
        .db()
        .tenants()
        .get(id)
        .await?
        .map(Into::into)
        .ok_or_else(|| ApiError::not_found("tenant"))
}

async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<TenantPath>,
) -> ApiResult<TenantView> {
    caller.require_operator()?;
    tenant(&state, &path.tenant_id).await.map(Json)
}

async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<TenantPath>,
) -> Result<StatusCode, ApiError> {
    caller.require_operator()?;
    if state.runtime.db().tenants().delete(&path.tenant_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("tenant"))
    }
}

async fn issue_token(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<TenantPath>,
    JsonBody(body): JsonBody<IssueToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    caller.require_operator()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "invalid_body",
            "name must be 1 to 100 characters",
        ));
    }
    if body
        .expires_at
        .is_some_and(|at| at <= tributary_store::now_ms())
    {
        return Err(ApiError::bad_request(
            "invalid_body",
            "expiresAt must be in the future",
        ));
    }
    tenant(&state, &path.tenant_id).await?;
    let (record, token) = state
        .runtime
        .db()
        .tenants()
        .issue_token(Some(&path.tenant_id), name, body.expires_at)
        .await?;
    let token = String::from_utf8_lossy(token.expose()).into_owned();
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token,
            record: record.into(),
        }),
    ))
}

async fn list_tokens(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<TenantPath>,
) -> ApiResult<Vec<TokenView>> {
    caller.require_operator()?;
    tenant(&state, &path.tenant_id).await?;
    let tokens = state
        .runtime
        .db()
        .tenants()
        .list_tokens(Some(&path.tenant_id))
        .await?;
    Ok(Json(tokens.into_iter().map(Into::into).collect()))
}

async fn revoke_token(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<TokenPath>,
) -> Result<StatusCode, ApiError> {
    caller.require_operator()?;
    if state
        .runtime
        .db()
        .tenants()
        .revoke_token(Some(&path.tenant_id), &path.token_id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("token"))
    }
}

async fn current(State(state): State<ApiState>, caller: Caller) -> ApiResult<TenantView> {
    let tenant_id = caller.tenant()?;
    tenant(&state, tenant_id).await.map(Json)
}
