//! The health check and metadata resolution.

use serde_json::{Value, json};
use tributary_core::{IntegrationMetadata, MetadataRequest, OperationContext, OperationError};
use tributary_providerkit::{Pagination, Paginator};

use crate::{microsoft::signed_in_tenant, registration::settingless_configs};

use super::{MicrosoftGraph, MicrosoftTeamsOperatorConfig, client};

const ME: &str = "me?$select=id,displayName,userPrincipalName,mail";
const JOINED_TEAMS: &str = "me/joinedTeams?$select=id,displayName";
/// Teams named in a health check's answer; the count covers them all.
const TEAMS_SHOWN: usize = 50;

settingless_configs! {
    /// Reads the signed-in user and the teams they joined: proves the token works, that Graph
    /// accepts it, and that it carries the Teams permission.
    HealthCheck;
}

async fn me(api: &MicrosoftGraph) -> Result<Value, OperationError> {
    let me: Value = api.http.get(ME).send_json().await?;
    if me.get("id").and_then(Value::as_str).is_none() {
        return Err(OperationError::provider(
            "Microsoft Graph's answer for /me has no user id",
        ));
    }
    Ok(me)
}

pub async fn health_check(
    _ctx: OperationContext,
    api: &MicrosoftGraph,
) -> Result<Value, OperationError> {
    let user = me(api).await?;
    let teams = Paginator::new(api.http.get(JOINED_TEAMS), Pagination::odata())
        .collect_all()
        .await?;
    let shown: Vec<Value> = teams
        .iter()
        .take(TEAMS_SHOWN)
        .map(|team| json!({"id": team.get("id"), "displayName": team.get("displayName")}))
        .collect();
    Ok(json!({
        "userId": user["id"],
        "displayName": user.get("displayName"),
        "userPrincipalName": user.get("userPrincipalName"),
        "mail": user.get("mail"),
        "joinedTeamCount": teams.len(),
        "joinedTeams": shown,
    }))
}

/// The tenant (from the verified id token of the sign-in) and the user messages are sent as.
pub async fn resolve_metadata(
    request: MetadataRequest,
    operator: MicrosoftTeamsOperatorConfig,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let tenant_id = signed_in_tenant(&request.auth_input)
        .ok_or_else(|| {
            OperationError::auth("the sign-in did not identify the tenant; connect again")
        })?
        .to_owned();
    let api = client::build(&request.integration, &request.credentials, &operator)?;
    let user = me(&api).await?;
    let upn = user
        .get("userPrincipalName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(oid) = request
        .auth_input
        .get("userObjectId")
        .and_then(Value::as_str)
        && user["id"].as_str() != Some(oid)
    {
        return Err(OperationError::auth(
            "Graph's signed-in user is not the one the id token names; connect again",
        ));
    }
    Ok(Some(IntegrationMetadata {
        external_id: tenant_id.clone(),
        external_name: upn.clone(),
        attributes: json!({
            "tenantId": tenant_id,
            "userId": user["id"],
            "userPrincipalName": upn,
            "displayName": user.get("displayName"),
            "mail": user.get("mail"),
        }),
    }))
}
