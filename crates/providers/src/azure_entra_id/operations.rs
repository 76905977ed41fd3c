//! The health check, the directory sync and metadata resolution.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tributary_core::{
    CredentialBindings, IngestPayloadSet, IntegrationMetadata, LogLevel, MappingEnvelope,
    MetadataRequest, OperationContext, OperationError, StableName,
};
use tributary_providerkit::{Checkpoint, Page, Pagination, Paginator};

use super::{EntraGraph, EntraOperatorConfig, EntraUserInput, client};

const ORGANIZATION: &str = "organization?$select=id,displayName,verifiedDomains,countryLetterCode";
/// Every field the mappings read. Graph's default projection leaves out `accountEnabled`,
/// `userType`, `department` and more, which the original never asked for. (`signInActivity`
/// is not asked for: it needs an Entra ID P1 licence and AuditLog.Read.All, and without them
/// Graph refuses the whole listing.)
const USER_FIELDS: &str = "id,displayName,givenName,surname,mail,userPrincipalName,\
otherMails,accountEnabled,userType,jobTitle,department,companyName,employeeId,officeLocation,\
createdDateTime,externalUserState,onPremisesSyncEnabled,onPremisesSamAccountName";
const GROUP_FIELDS: &str = "id,displayName,description,mail,mailEnabled,securityEnabled,\
groupTypes,membershipRule,createdDateTime,visibility,onPremisesSyncEnabled";
const MEMBER_FIELDS: &str = "id,mail,userPrincipalName,userType";
/// The largest pages Graph serves for directory objects.
const PAGE_SIZE: &str = "999";

/// Reads the organisation with the app-only token: proves the consent and the token work.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {}

/// Lists users, then groups and their user members.
#[derive(StableName, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectorySync {}

async fn organization(api: &EntraGraph) -> Result<Value, OperationError> {
    let answer: Value = api.http.get(ORGANIZATION).send_json().await?;
    answer
        .get("value")
        .and_then(Value::as_array)
        .and_then(|orgs| orgs.first())
        .cloned()
        .ok_or_else(|| OperationError::provider("Graph's /organization answer lists no tenant"))
}

fn default_domain(org: &Value) -> Option<String> {
    let domains = org.get("verifiedDomains")?.as_array()?;
    domains
        .iter()
        .find(|d| d.get("isDefault").and_then(Value::as_bool) == Some(true))
        .or_else(|| domains.first())
        .and_then(|d| d.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub async fn health_check(
    _ctx: OperationContext,
    _config: HealthCheck,
    api: &EntraGraph,
    _credentials: CredentialBindings,
) -> Result<Value, OperationError> {
    let org = organization(api).await?;
    Ok(json!({
        "tenantId": org.get("id"),
        "displayName": org.get("displayName"),
        "defaultDomain": default_domain(&org),
        "verifiedDomainCount": org.get("verifiedDomains").and_then(Value::as_array).map(Vec::len),
    }))
}

/// The tenant id from the verified id token, checked against Graph's organisation, with its
/// name and default domain.
pub async fn resolve_metadata(
    request: MetadataRequest,
    operator: EntraOperatorConfig,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let tenant_id = request
        .auth_input
        .get("tenantId")
        .and_then(Value::as_str)
        .filter(|tid| !tid.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            client::stored(&request.credentials)
                .ok()
                .map(|consent| consent.tenant_id)
        })
        .ok_or_else(|| {
            OperationError::auth("the consent did not identify the tenant; connect again")
        })?;
    let api = client::build(&request.integration, &request.credentials, &operator)?;
    let org = organization(&api).await?;
    let graph_tenant = org
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if graph_tenant != tenant_id {
        return Err(OperationError::auth(
            "Graph answered for another tenant than the one that consented; connect again",
        ));
    }
    let name = org
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let domain = default_domain(&org);
    Ok(Some(IntegrationMetadata {
        external_id: tenant_id.clone(),
        external_name: if name.is_empty() {
            domain.clone().unwrap_or_else(|| tenant_id.clone())
        } else {
            name.clone()
        },
        attributes: json!({
            "tenantId": tenant_id,
            "displayName": name,
            "defaultDomain": domain,
            "consentedBy": request.auth_input.get("consentedBy"),
        }),
    }))
}

/// One page of a listing from `cursor` (a full `@odata.nextLink`), or the first page.
async fn fetch_page(
    api: &EntraGraph,
    path: &str,
    params: &[(&str, &str)],
    cursor: Option<String>,
) -> Result<Page, OperationError> {
    let request = api.http.get(path).query_pairs(params.iter().copied());
    Paginator::resume(request, Pagination::odata(), cursor)
        .next_page()
        .await?
        .ok_or_else(|| OperationError::internal("a Graph listing ended before its first page"))
}

fn text<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field).and_then(Value::as_str)
}

fn is_guest(user: &Value) -> bool {
    text(user, "userType").is_some_and(|t| t.eq_ignore_ascii_case("guest"))
}

/// Lists users (then groups and their user members) page by page: each page is emitted as it
/// arrives and its `@odata.nextLink` saved, so a throttled or interrupted run resumes where it
/// stopped.
pub async fn directory_sync(
    ctx: OperationContext,
    _config: DirectorySync,
    api: &EntraGraph,
    _credentials: CredentialBindings,
) -> Result<Vec<IngestPayloadSet>, OperationError> {
    let input: EntraUserInput =
        serde_json::from_value(ctx.integration.user_input.clone()).unwrap_or_default();
    let include_guests = input.include_guests.unwrap_or(true);
    let sync_groups = input.sync_groups.unwrap_or(true);
    let mut checkpoint = Checkpoint::load(&ctx);
    let users_from_start = !checkpoint.is_done("users") && checkpoint.cursor("users").is_none();
    let mut user_ids = HashSet::new();
    let mut guests_left_out = 0usize;

    if !checkpoint.is_done("users") {
        let mut cursor = checkpoint.cursor("users");
        loop {
            let params = [("$select", USER_FIELDS), ("$top", PAGE_SIZE)];
            let page = fetch_page(api, "users", &params, cursor.take()).await?;
            let mut envelopes = Vec::with_capacity(page.items.len());
            for user in page.items {
                if !include_guests && is_guest(&user) {
                    guests_left_out += 1;
                    continue;
                }
                let Some(id) = text(&user, "id").map(str::to_owned) else {
                    continue;
                };
                user_ids.insert(id.clone());
                envelopes.push(MappingEnvelope::new(user).resource(id));
            }
            ctx.emit(IngestPayloadSet::new("DirectoryAccount", envelopes))
                .await?;
            checkpoint
                .set("users", page.next_cursor.as_deref())
                .save(&ctx)
                .await?;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    if guests_left_out > 0 {
        ctx.log(
            LogLevel::Info,
            &format!("left out {guests_left_out} guest accounts (includeGuests is off)"),
        );
    }
    if !sync_groups || checkpoint.is_done("groups") {
        return Ok(Vec::new());
    }
    // A resumed run did not see every user: list the ids again so memberships reference only
    // accounts this integration has.
    if !users_from_start {
        let mut cursor = None;
        loop {
            let params = [("$select", "id,userType"), ("$top", PAGE_SIZE)];
            let page = fetch_page(api, "users", &params, cursor.take()).await?;
            user_ids.extend(
                page.items
                    .iter()
                    .filter(|user| include_guests || !is_guest(user))
                    .filter_map(|user| text(user, "id"))
                    .map(str::to_owned),
            );
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }

    let mut cursor = checkpoint.cursor("groups");
    let mut skipped = 0usize;
    loop {
        let params = [("$select", GROUP_FIELDS), ("$top", PAGE_SIZE)];
        let page = fetch_page(api, "groups", &params, cursor.take()).await?;
        let mut groups = Vec::with_capacity(page.items.len());
        let mut memberships = Vec::new();
        for group in page.items {
            let Some(group_id) = text(&group, "id").map(str::to_owned) else {
                continue;
            };
            // Only user members: nested groups, devices and service principals are not
            // accounts of this directory sync.
            let members_path = format!("groups/{group_id}/members/microsoft.graph.user");
            let mut member_cursor = None;
            loop {
                let params = [("$select", MEMBER_FIELDS), ("$top", PAGE_SIZE)];
                let members = fetch_page(api, &members_path, &params, member_cursor.take()).await?;
                for member in members.items {
                    let member_id = text(&member, "id").unwrap_or_default().to_owned();
                    if !user_ids.contains(&member_id) {
                        skipped += 1;
                        continue;
                    }
                    memberships.push(
                        MappingEnvelope::new(json!({
                            "group": {"id": group_id, "mail": group.get("mail")},
                            "member": member,
                        }))
                        .resource(format!("{group_id}:{member_id}")),
                    );
                }
                match members.next_cursor {
                    Some(next) => member_cursor = Some(next),
                    None => break,
                }
            }
            groups.push(MappingEnvelope::new(group).resource(group_id));
        }
        // Groups first: memberships reference them.
        ctx.emit(IngestPayloadSet::new("DirectoryGroup", groups))
            .await?;
        ctx.emit(IngestPayloadSet::new("DirectoryMembership", memberships))
            .await?;
        checkpoint
            .set("groups", page.next_cursor.as_deref())
            .save(&ctx)
            .await?;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if skipped > 0 {
        ctx.log(
            LogLevel::Info,
            &format!("left out {skipped} group members that are not synced accounts"),
        );
    }
    Ok(Vec::new())
}
