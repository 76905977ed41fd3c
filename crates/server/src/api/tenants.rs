//! Tenants and their API tokens (operator token), and the calling tenant itself.

use super::prelude::*;
use crate::audit::{Audit, AuditBuilder, actions};

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
    let name = body.name.trim().to_owned();
    let audit = Audit::api(&caller, actions::TENANT_CREATE, "tenant").meta("name", name.as_str());
    let tenant = audit
        .within(
            &state,
            async |tx| {
                ApiError::check_name(&name, 100)?;
                Ok(tx.tenants().create(&name).await?)
            },
            |audit, tenant| audit.tenant(&tenant.id).target(&tenant.id),
        )
        .await?;
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
    // The event outlives the tenant: the trail has no foreign key to it.
    Audit::api(&caller, actions::TENANT_DELETE, "tenant")
        .tenant(&path.tenant_id)
        .target(&path.tenant_id)
        .within(
            &state,
            async |tx| {
                ApiError::unless_found(tx.tenants().delete(&path.tenant_id).await?, "tenant")
            },
            |audit, ()| audit,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn issue_token(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<TenantPath>,
    JsonBody(body): JsonBody<IssueToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    caller.require_operator()?;
    let name = body.name.trim().to_owned();
    // The token itself never reaches the trail: only its record's id and name.
    let audit = Audit::api(&caller, actions::TOKEN_ISSUE, "api_token")
        .tenant(&path.tenant_id)
        .meta("name", name.as_str())
        .meta("expiresAt", body.expires_at);
    let (record, token) = audit
        .within(
            &state,
            async |tx| {
                ApiError::check_name(&name, 100)?;
                if body
                    .expires_at
                    .is_some_and(|at| at <= tributary_store::now_ms())
                {
                    return Err(ApiError::bad_request(
                        "invalid_body",
                        "expiresAt must be in the future",
                    ));
                }
                if tx.tenants().get(&path.tenant_id).await?.is_none() {
                    return Err(ApiError::not_found("tenant"));
                }
                Ok(tx
                    .tenants()
                    .issue_token(Some(&path.tenant_id), &name, body.expires_at)
                    .await?)
            },
            |audit, (record, _)| audit.target(&record.id),
        )
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
    Audit::api(&caller, actions::TOKEN_REVOKE, "api_token")
        .tenant(&path.tenant_id)
        .target(&path.token_id)
        .within(
            &state,
            async |tx| {
                let revoked = tx
                    .tenants()
                    .revoke_token(Some(&path.tenant_id), &path.token_id)
                    .await?;
                ApiError::unless_found(revoked, "token")
            },
            |audit, ()| audit,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn current(State(state): State<ApiState>, caller: Caller) -> ApiResult<TenantView> {
    let tenant_id = caller.tenant()?;
    tenant(&state, tenant_id).await.map(Json)
}
