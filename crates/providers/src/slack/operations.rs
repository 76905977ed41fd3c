//! Slack operations: the health check, the members sync, and metadata resolution.

use serde_json::{Value, json};
use tributary_core::{
    IntegrationMetadata, MappingEnvelope, MetadataRequest, OperationContext, OperationError,
};
use tributary_providerkit::{Pagination, ProviderHttp, ResumableRun, USERS_PHASE};

use crate::registration::settingless_configs;

use super::{EVENTS_TEAM_ATTRIBUTE, SlackApi, SlackOperatorConfig, client};

/// Members per `users.list` page: Slack recommends no more than 200 (it caps at 1,000).
const PAGE_SIZE: &str = "200";

settingless_configs! {
    /// `auth.test` (is the token good, whose is it), then `team.info` (the workspace).
    HealthCheck;

    /// Lists the workspace's members, deactivated ones, guests and bots included.
    DirectorySync;
}

/// The workspace the token belongs to, as `auth.test` and `team.info` tell it.
struct Workspace {
    team_id: String,
    team_name: String,
    domain: Value,
    enterprise_id: Value,
    enterprise_name: Value,
    bot_user_id: Value,
    bot_id: Value,
    url: Value,
}

async fn workspace(http: &ProviderHttp) -> Result<Workspace, OperationError> {
    let identity: Value = http.get("auth.test").send_json().await?;
    let info: Value = http.get("team.info").send_json().await?;
    let team = &info["team"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let team_id = text(team.get("id").unwrap_or(&identity["team_id"]));
    if team_id.is_empty() {
        return Err(OperationError::provider(
            "Slack's team.info answer has no workspace id",
        ));
    }
    // An org-wide (Enterprise Grid) installation has an enterprise and no single workspace;
    // team.info then describes the workspace of the token's user.
    let enterprise_id = team
        .get("enterprise_id")
        .or_else(|| identity.get("enterprise_id"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(Workspace {
        team_name: text(team.get("name").unwrap_or(&identity["team"])),
        team_id,
        domain: team.get("domain").cloned().unwrap_or(Value::Null),
        enterprise_id,
        enterprise_name: team.get("enterprise_name").cloned().unwrap_or(Value::Null),
        bot_user_id: identity.get("user_id").cloned().unwrap_or(Value::Null),
        bot_id: identity.get("bot_id").cloned().unwrap_or(Value::Null),
        url: identity.get("url").cloned().unwrap_or(Value::Null),
    })
}

impl Workspace {
    fn attributes(&self) -> Value {
        json!({
            "teamId": self.team_id,
            "teamName": self.team_name,
            "teamDomain": self.domain,
            "enterpriseId": self.enterprise_id,
            "enterpriseName": self.enterprise_name,
            "botUserId": self.bot_user_id,
            "botId": self.bot_id,
            "url": self.url,
        })
    }
}

pub async fn health_check(_ctx: OperationContext, api: &SlackApi) -> Result<Value, OperationError> {
    Ok(workspace(&api.http).await?.attributes())
}

/// The workspace identifies the external account. When the connection `takes_events`, the
/// team id is also recorded under the attribute Events API deliveries are routed by.
pub async fn resolve_metadata(
    request: MetadataRequest,
    operator: SlackOperatorConfig,
    takes_events: bool,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let token = client::bot_token(&request.credentials)?;
    let http = client::api_http(&operator, &request.integration, token)?;
    let workspace = workspace(&http).await?;
    let mut attributes = workspace.attributes();
    if takes_events {
        attributes[EVENTS_TEAM_ATTRIBUTE] = json!(workspace.team_id);
    }
    Ok(Some(IntegrationMetadata {
        external_id: workspace.team_id.clone(),
        external_name: workspace.team_name.clone(),
        attributes,
    }))
}

/// Emits each page of members as it arrives and saves the cursor after it, so a throttled run
/// resumes where it stopped.
pub async fn directory_sync(ctx: OperationContext, api: &SlackApi) -> Result<(), OperationError> {
    let mut run = ResumableRun::load(&ctx);
    let Some(mut users) = run.phase(USERS_PHASE, Pagination::slack("/members")) else {
        return Ok(());
    };
    let request = api.http.get("users.list").query("limit", PAGE_SIZE);
    while let Some(page) = users.next_page(request.clone()).await? {
        let envelopes = page
            .items
            .into_iter()
            .map(|user| {
                let resource = format!(
                    "{}/{}",
                    user["team_id"].as_str().unwrap_or_default(),
                    user["id"].as_str().unwrap_or_default()
                );
                MappingEnvelope::new(user).resource(resource)
            })
            .collect();
        run.users_page_done(&users, envelopes).await?;
    }
    Ok(())
}
