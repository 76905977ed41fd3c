//! Google Workspace operations: the health check, the directory sync, and metadata resolution.

use std::collections::HashSet;

use serde_json::{Value, json};
use tributary_core::{
    IntegrationMetadata, LogLevel, MappingEnvelope, MetadataRequest, OperationContext,
    OperationError, StableName,
};
use tributary_providerkit::{
    GROUPS_PHASE, Listing, Page, Pagination, ResumableRun, USERS_PHASE, membership,
};

use crate::registration::settingless_configs;

use super::{
    GoogleDirectoryApi, GoogleWorkspaceOAuth, GoogleWorkspaceOperatorConfig,
    GoogleWorkspaceServiceAccount, client,
};

/// The customer of the credential's administrator.
const MY_CUSTOMER: &str = "my_customer";
const CUSTOMER_PATH: &str = "/admin/directory/v1/customers/my_customer";
const USERS_PATH: &str = "/admin/directory/v1/users";
const GROUPS_PATH: &str = "/admin/directory/v1/groups";
/// The largest pages Google serves: 500 users, 200 groups, 200 members.
const USERS_PER_PAGE: &str = "500";
const GROUPS_PER_PAGE: &str = "200";
const MEMBERS_PER_PAGE: &str = "200";

settingless_configs! {
    /// Reads the Workspace customer: proves the credential works, reaches the Directory API as an
    /// administrator, and names the customer.
    HealthCheck;

    /// Lists users, then groups and their members.
    DirectorySync;
}

async fn read_customer(api: &GoogleDirectoryApi) -> Result<Value, OperationError> {
    let customer: Value = api.http().await?.get(CUSTOMER_PATH).send_json().await?;
    if customer.get("id").and_then(Value::as_str).is_none() {
        return Err(OperationError::provider(
            "Google's customer answer has no customer id",
        ));
    }
    Ok(customer)
}

pub async fn health_check(
    _ctx: OperationContext,
    api: &GoogleDirectoryApi,
) -> Result<Value, OperationError> {
    let customer = read_customer(api).await?;
    Ok(json!({
        "customerId": customer["id"],
        "primaryDomain": customer.get("customerDomain"),
        "customerCreationTime": customer.get("customerCreationTime"),
    }))
}

/// The customer id and primary domain identify the external account (the original took them
/// from optional user input, so they were usually empty).
pub async fn resolve_metadata(
    request: MetadataRequest,
    operator: GoogleWorkspaceOperatorConfig,
) -> Result<Option<IntegrationMetadata>, OperationError> {
    let api = client::build(&request.integration, &request.credentials, &operator)?;
    let customer = read_customer(&api).await?;
    let customer_id = customer["id"].as_str().unwrap_or_default().to_owned();
    let domain = customer
        .get("customerDomain")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut attributes = json!({"customerId": customer_id, "primaryDomain": domain});
    if request.credentials.contains(GoogleWorkspaceOAuth::NAME) {
        attributes["connection"] = json!("oauth");
    } else if let Some(account) = request.credentials.get::<GoogleWorkspaceServiceAccount>()? {
        attributes["connection"] = json!("serviceAccount");
        attributes["adminEmail"] = json!(account.admin_email.trim());
    }
    Ok(Some(IntegrationMetadata {
        external_name: if domain.is_empty() {
            customer_id.clone()
        } else {
            domain
        },
        external_id: customer_id,
        attributes,
    }))
}

/// The next page of `listing` (`None` after its last). Each page gets a fresh bearer token from
/// the client, so a long sync outlives a service-account token.
async fn next_page(
    api: &GoogleDirectoryApi,
    listing: &mut Listing,
    path: &str,
    params: &[(&str, &str)],
) -> Result<Option<Page>, OperationError> {
    if listing.is_done() {
        return Ok(None);
    }
    let request = api
        .http()
        .await?
        .get(path)
        .query_pairs(params.iter().copied());
    listing.next_page(request).await
}

fn text<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field).and_then(Value::as_str)
}

/// A path segment: group ids are alphanumeric, but a key is escaped all the same before it goes
/// into a URL.
fn path_segment(value: &str) -> String {
    value
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// Emits each page as it arrives and saves the page token after it, so a throttled or
/// interrupted run resumes where it stopped and memory stays bounded by a page (plus the ids of
/// the users, to keep memberships to accounts this integration has).
pub async fn directory_sync(
    ctx: OperationContext,
    api: &GoogleDirectoryApi,
) -> Result<(), OperationError> {
    let mut run = ResumableRun::load(&ctx);
    let user_params = [
        ("customer", MY_CUSTOMER),
        ("maxResults", USERS_PER_PAGE),
        ("projection", "full"),
    ];
    let users_from_start = !run.is_resumed(USERS_PHASE);
    let mut user_ids = HashSet::new();

    if let Some(mut users) = run.phase(USERS_PHASE, Pagination::google("/users")) {
        while let Some(page) = next_page(api, &mut users, USERS_PATH, &user_params).await? {
            let mut envelopes = Vec::with_capacity(page.items.len());
            for user in page.items {
                if let Some(id) = text(&user, "id") {
                    user_ids.insert(id.to_owned());
                }
                let resource = text(&user, "primaryEmail")
                    .or_else(|| text(&user, "id"))
                    .unwrap_or_default()
                    .to_lowercase();
                envelopes.push(MappingEnvelope::new(user).resource(resource));
            }
            run.users_page_done(&users, envelopes).await?;
        }
    }

    if run.is_done(GROUPS_PHASE) {
        return Ok(());
    }
    // A resumed run did not see every user: list the ids again (ids only) so memberships of
    // people outside the directory are still left out.
    if !users_from_start {
        let id_params = [
            ("customer", MY_CUSTOMER),
            ("maxResults", USERS_PER_PAGE),
            ("fields", "users(id),nextPageToken"),
        ];
        let mut ids = Listing::new(Pagination::google("/users"));
        while let Some(page) = next_page(api, &mut ids, USERS_PATH, &id_params).await? {
            user_ids.extend(
                page.items
                    .iter()
                    .filter_map(|user| text(user, "id"))
                    .map(str::to_owned),
            );
        }
    }

    let group_params = [("customer", MY_CUSTOMER), ("maxResults", GROUPS_PER_PAGE)];
    let mut skipped = 0usize;
    if let Some(mut listing) = run.phase(GROUPS_PHASE, Pagination::google("/groups")) {
        while let Some(page) = next_page(api, &mut listing, GROUPS_PATH, &group_params).await? {
            let mut groups = Vec::with_capacity(page.items.len());
            let mut memberships = Vec::new();
            for group in page.items {
                let Some(group_id) = text(&group, "id").map(str::to_owned) else {
                    continue;
                };
                let group_email = text(&group, "email").unwrap_or_default().to_lowercase();
                let group_key = if group_email.is_empty() {
                    group_id.clone()
                } else {
                    group_email
                };
                let members_path = format!("{GROUPS_PATH}/{}/members", path_segment(&group_id));
                let member_params = [("maxResults", MEMBERS_PER_PAGE)];
                let mut members = Listing::new(Pagination::google("/members"));
                while let Some(page) =
                    next_page(api, &mut members, &members_path, &member_params).await?
                {
                    for member in page.items {
                        // Nested groups, the whole customer and people outside the directory
                        // are not accounts of this integration.
                        let is_user = text(&member, "type") == Some("USER");
                        let member_id = text(&member, "id").unwrap_or_default().to_owned();
                        if !is_user || !user_ids.contains(&member_id) {
                            skipped += 1;
                            continue;
                        }
                        let member_key = text(&member, "email")
                            .map(str::to_lowercase)
                            .unwrap_or(member_id);
                        memberships.push(membership(
                            json!({"id": group_id, "email": group.get("email")}),
                            member,
                            format!("{group_key}:{member_key}"),
                        ));
                    }
                }
                groups.push(MappingEnvelope::new(group).resource(group_key));
            }
            run.groups_page_done(&listing, groups, memberships).await?;
        }
    }
    if skipped > 0 {
        ctx.log(
            LogLevel::Info,
            &format!(
                "left out {skipped} group members that are not users of this directory \
                 (nested groups, the whole organisation, outside members)"
            ),
        );
    }
    Ok(())
}
