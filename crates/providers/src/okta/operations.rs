//! Okta operations: the health check and the directory sync, and metadata resolution.

use std::collections::HashSet;

use serde_json::{Value, json};
use tributary_core::{
    IntegrationMetadata, MappingEnvelope, MetadataRequest, OperationContext, OperationError,
};
use tributary_providerkit::{
    GROUPS_PHASE, Pagination, Paginator, ResumableRun, USERS_PHASE, membership,
};

use crate::registration::settingless_configs;

use super::{
    OktaApi,
    client::{self, AuthMode},
};

const PAGE_SIZE: &str = "200";
/// Every user, deprovisioned ones included, so deactivations reach the directory.
const ALL_USERS: &str = "status pr";

settingless_configs! {
    /// Proves the credential reads the org: an API token reads its own administrator; a service app
    /// (no user behind it) reads one user, and one group when groups are synced, so a missing scope
    /// shows at connect time rather than in the first sync.
    HealthCheck;

    /// Lists users, then groups and their members.
    DirectorySync;
}

pub async fn health_check(_ctx: OperationContext, api: &OktaApi) -> Result<Value, OperationError> {
    match api.mode {
        AuthMode::ApiToken => {
            let me: Value = api.http.get("/api/v1/users/me").send_json().await?;
            Ok(json!({
                "orgUrl": api.org_url,
                "mode": "apiToken",
                "userId": me.get("id"),
                "login": me.pointer("/profile/login"),
            }))
        }
        AuthMode::ServiceApp => {
            let users: Vec<Value> = api
                .http
                .get("/api/v1/users")
                .query("limit", "1")
                .send_json()
                .await?;
            let groups_readable = if api.input.sync_groups == Some(false) {
                None
            } else {
                api.http
                    .get("/api/v1/groups")
                    .query("limit", "1")
                    .send_json::<Vec<Value>>()
                    .await?;
                Some(true)
            };
            Ok(json!({
                "orgUrl": api.org_url,
                "mode": "serviceApp",
                "usersReadable": true,
                "groupsReadable": groups_readable,
                "sampleUserId": users.first().and_then(|user| user.get("id")),
            }))
        }
    }
}

/// The org id (from Okta's org document) identifies the external account, the host names it;
/// nothing secret goes into metadata. An org that does not answer the document is identified by
/// its host.
pub async fn resolve_metadata(
    request: MetadataRequest,
    allow_loopback: bool,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let input = client::user_input(&request.integration.user_input)?;
    let (http, url) = client::org_client(&input, allow_loopback).await?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let org_url = url.as_str().trim_end_matches('/').to_owned();
    let org_id = client::org_id(&http).await;
    Ok(Some(IntegrationMetadata {
        external_id: org_id.clone().unwrap_or_else(|| host.clone()),
        external_name: host,
        attributes: json!({ "orgUrl": org_url, "orgId": org_id }),
    }))
}

/// Emits each page as it arrives and saves the page cursor after it, so a throttled or
/// interrupted run resumes where it stopped and memory stays bounded by a page.
pub async fn directory_sync(ctx: OperationContext, api: &OktaApi) -> Result<(), OperationError> {
    let mut run = ResumableRun::load(&ctx);
    let search = api
        .input
        .search
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| ALL_USERS.to_owned());
    let scoped_search = search != ALL_USERS;

    // Users seen by this attempt, to keep memberships to the synced users when a search narrows
    // them. A resumed attempt that finished the users phase earlier keeps every membership.
    let mut user_ids = HashSet::new();
    let users_listed_here = !run.is_done(USERS_PHASE);
    if let Some(mut users) = run.phase(USERS_PHASE, Pagination::link_header()) {
        let request = api
            .http
            .get("/api/v1/users")
            .query("limit", PAGE_SIZE)
            .query("search", &search);
        while let Some(page) = users.next_page(request.clone()).await? {
            let mut envelopes = Vec::with_capacity(page.items.len());
            for user in page.items {
                if let Some(id) = user.get("id").and_then(Value::as_str) {
                    user_ids.insert(id.to_owned());
                }
                let resource = user
                    .pointer("/profile/login")
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
                    .unwrap_or_default();
                envelopes.push(MappingEnvelope::new(user).resource(resource));
            }
            run.users_page_done(&users, envelopes).await?;
        }
    }

    if api.input.sync_groups == Some(false) {
        return Ok(());
    }

    if let Some(mut listing) = run.phase(GROUPS_PHASE, Pagination::link_header()) {
        let request = api.http.get("/api/v1/groups").query("limit", PAGE_SIZE);
        while let Some(page) = listing.next_page(request.clone()).await? {
            let mut groups = Vec::with_capacity(page.items.len());
            let mut memberships = Vec::new();
            for group in page.items {
                let Some(group_id) = group.get("id").and_then(Value::as_str).map(str::to_owned)
                else {
                    continue;
                };
                let members = api
                    .http
                    .get(&format!("/api/v1/groups/{group_id}/users"))
                    .query("limit", PAGE_SIZE);
                let all = Paginator::new(members, Pagination::link_header())
                    .collect_all()
                    .await?;
                for member in all {
                    let member_id = member.get("id").and_then(Value::as_str).unwrap_or_default();
                    if scoped_search && users_listed_here && !user_ids.contains(member_id) {
                        continue;
                    }
                    let resource = format!("{group_id}:{member_id}");
                    memberships.push(membership(json!({ "id": group_id }), member, resource));
                }
                groups.push(MappingEnvelope::new(group).resource(group_id));
            }
            run.groups_page_done(&listing, groups, memberships).await?;
        }
    }
    Ok(())
}
