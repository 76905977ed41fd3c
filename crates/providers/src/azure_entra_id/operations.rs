//! The health check, the directory sync and metadata resolution.

use std::collections::HashSet;

use serde_json::{Value, json};
use tributary_core::{
    IntegrationMetadata, LogLevel, MappingEnvelope, MetadataRequest, OperationContext,
    OperationError,
};
use tributary_providerkit::{
    GROUPS_PHASE, Listing, Pagination, ProviderRequest, ResumableRun, USERS_PHASE, membership,
};

use crate::{microsoft::signed_in_tenant, registration::settingless_configs};

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

settingless_configs! {
    /// Reads the organisation with the app-only token: proves the consent and the token work.
    HealthCheck;

    /// Lists users, then groups and their user members.
    DirectorySync;
}

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
    api: &EntraGraph,
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
    let tenant_id = signed_in_tenant(&request.auth_input)
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

/// The first-page request of a Graph listing of `fields`, in the largest pages Graph serves.
fn listing_request(api: &EntraGraph, path: &str, fields: &str) -> ProviderRequest {
    api.http
        .get(path)
        .query_pairs([("$select", fields), ("$top", PAGE_SIZE)])
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
pub async fn directory_sync(ctx: OperationContext, api: &EntraGraph) -> Result<(), OperationError> {
    let input: EntraUserInput =
        serde_json::from_value(ctx.integration.user_input.clone()).unwrap_or_default();
    let include_guests = input.include_guests.unwrap_or(true);
    let sync_groups = input.sync_groups.unwrap_or(true);
    let mut run = ResumableRun::load(&ctx);
    let users_from_start = !run.is_resumed(USERS_PHASE);
    let mut user_ids = HashSet::new();
    let mut guests_left_out = 0usize;

    if let Some(mut users) = run.phase(USERS_PHASE, Pagination::odata()) {
        let request = listing_request(api, "users", USER_FIELDS);
        while let Some(page) = users.next_page(request.clone()).await? {
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
            run.users_page_done(&users, envelopes).await?;
        }
    }
    if guests_left_out > 0 {
        ctx.log(
            LogLevel::Info,
            &format!("left out {guests_left_out} guest accounts (includeGuests is off)"),
        );
    }
    if !sync_groups || run.is_done(GROUPS_PHASE) {
        return Ok(());
    }
    // A resumed run did not see every user: list the ids again so memberships reference only
    // accounts this integration has.
    if !users_from_start {
        let request = listing_request(api, "users", "id,userType");
        let mut ids = Listing::new(Pagination::odata());
        while let Some(page) = ids.next_page(request.clone()).await? {
            user_ids.extend(
                page.items
                    .iter()
                    .filter(|user| include_guests || !is_guest(user))
                    .filter_map(|user| text(user, "id"))
                    .map(str::to_owned),
            );
        }
    }

    let mut skipped = 0usize;
    if let Some(mut listing) = run.phase(GROUPS_PHASE, Pagination::odata()) {
        let request = listing_request(api, "groups", GROUP_FIELDS);
        while let Some(page) = listing.next_page(request.clone()).await? {
            let mut groups = Vec::with_capacity(page.items.len());
            let mut memberships = Vec::new();
            for group in page.items {
                let Some(group_id) = text(&group, "id").map(str::to_owned) else {
                    continue;
                };
                // Only user members: nested groups, devices and service principals are not
                // accounts of this directory sync.
                let members_path = format!("groups/{group_id}/members/microsoft.graph.user");
                let members_request = listing_request(api, &members_path, MEMBER_FIELDS);
                let mut members = Listing::new(Pagination::odata());
                while let Some(page) = members.next_page(members_request.clone()).await? {
                    for member in page.items {
                        let member_id = text(&member, "id").unwrap_or_default().to_owned();
                        if !user_ids.contains(&member_id) {
                            skipped += 1;
                            continue;
                        }
                        memberships.push(membership(
                            json!({"id": group_id, "mail": group.get("mail")}),
                            member,
                            format!("{group_id}:{member_id}"),
                        ));
                    }
                }
                groups.push(MappingEnvelope::new(group).resource(group_id));
            }
            run.groups_page_done(&listing, groups, memberships).await?;
        }
    }
    if skipped > 0 {
        ctx.log(
            LogLevel::Info,
            &format!("left out {skipped} group members that are not synced accounts"),
        );
    }
    Ok(())
}
