//! Cloudflare operations: the health check, the members sync, and metadata resolution.

use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    IntegrationMetadata, MappingEnvelope, MetadataRequest, OperationContext, OperationError,
};
use tributary_providerkit::{Pagination, ResumableRun, accounts};

use crate::registration::settingless_configs;

use super::{CloudflareApi, client};

/// Members per page (Cloudflare allows 5 to 50).
const PAGE_SIZE: &str = "50";
/// The checkpoint phase listing the account's members.
const MEMBERS_PHASE: &str = "members";

settingless_configs! {
    /// Verifies the token is active, then reads the account: proves the token works and reaches
    /// the account (user-owned and account-owned tokens alike).
    HealthCheck;

    /// Lists the account's members.
    DirectorySync;
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    result: Value,
}

/// Token verification: account-owned tokens verify under the account, user-owned ones under the
/// user (the original only tried the user endpoint, so account tokens never verified).
async fn verify_token(api: &CloudflareApi) -> Result<Value, OperationError> {
    let account = api
        .http
        .get(&format!("/accounts/{}/tokens/verify", api.account_id))
        .accept_status(401)
        .accept_status(403)
        .accept_status(404)
        .send()
        .await?;
    let body: Envelope = if account.status().is_success() {
        account.json()?
    } else {
        api.http.get("/user/tokens/verify").send_json().await?
    };
    let status = body.result["status"].as_str().unwrap_or_default();
    if status != "active" {
        return Err(OperationError::auth(format!(
            "the Cloudflare token is {}",
            if status.is_empty() {
                "not active"
            } else {
                status
            }
        )));
    }
    Ok(body.result)
}

pub async fn health_check(
    _ctx: OperationContext,
    api: &CloudflareApi,
) -> Result<Value, OperationError> {
    let token = verify_token(api).await?;
    let account: Envelope = api
        .http
        .get(&format!("/accounts/{}", api.account_id))
        .send_json()
        .await?;
    Ok(json!({
        "status": token["status"],
        "expiresOn": token.get("expires_on"),
        "accountId": api.account_id,
        "accountName": account.result.get("name"),
    }))
}

/// The account id and name identify the external account.
pub async fn resolve_metadata(
    request: MetadataRequest,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let input = client::user_input(&request.integration.user_input)?;
    let account_id = client::account_id(&input)?;
    Ok(Some(IntegrationMetadata {
        external_name: account_id.clone(),
        attributes: json!({ "accountId": account_id }),
        external_id: account_id,
    }))
}

/// Emits each page of members as it arrives and saves the page number after it.
pub async fn directory_sync(
    ctx: OperationContext,
    api: &CloudflareApi,
) -> Result<(), OperationError> {
    let mut run = ResumableRun::load(&ctx);
    let Some(mut members) = run.phase(MEMBERS_PHASE, Pagination::cloudflare()) else {
        return Ok(());
    };
    let request = api
        .http
        .get(&format!("/accounts/{}/members", api.account_id))
        .query("per_page", PAGE_SIZE);
    while let Some(page) = members.next_page(request.clone()).await? {
        let envelopes = page
            .items
            .into_iter()
            .map(|member| {
                let email = member
                    .pointer("/user/email")
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
                    .unwrap_or_default();
                MappingEnvelope::new(member).resource(format!("{}/{email}", api.account_id))
            })
            .collect();
        run.page_done(MEMBERS_PHASE, &members, [accounts(envelopes)])
            .await?;
    }
    Ok(())
}
