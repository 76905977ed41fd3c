//! From SCIM resources to directory records: after each write commits, the changed resources are
//! re-read and ingested through the `scim` definition's mappings (DirectoryAccount,
//! DirectoryGroup, DirectoryMembership); deleted resources and memberships that ended are
//! tombstoned. Re-reading the current state (rather than using the request's copy) makes the
//! records converge to the last committed state even when concurrent requests finish their
//! ingest out of order.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use tributary_core::{IngestPayloadSet, MappingEnvelope};
use tributary_runtime::Runtime;
use tributary_store::scim::{ScimEndpoint, ScimResource};

use crate::filter::get_ci;
use crate::resource::Kind;
use crate::schema::ENTERPRISE;

/// The operation the records are ingested under (see the `scim` definition).
pub const EMITTER: &str = "DirectorySync";
const ACCOUNT: &str = "DirectoryAccount";
const GROUP: &str = "DirectoryGroup";
const MEMBERSHIP: &str = "DirectoryMembership";

fn text(value: Option<&Value>) -> Value {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Value::String(s.clone()),
        _ => Value::Null,
    }
}

/// The flattened payload of a user (documented in the `scim` definition's mappings).
pub fn account_payload(user: &ScimResource) -> Value {
    let body = &user.body;
    let emails = get_ci(body, "emails")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let email = emails
        .iter()
        .find(|e| get_ci(e, "primary") == Some(&Value::Bool(true)))
        .or_else(|| emails.first())
        .and_then(|e| get_ci(e, "value"));
    let enterprise = get_ci(body, ENTERPRISE).cloned().unwrap_or(json!({}));
    let name = get_ci(body, "name").cloned().unwrap_or(json!({}));
    json!({
        "id": user.id,
        "userName": text(get_ci(body, "userName")),
        "externalId": text(get_ci(body, "externalId")),
        "displayName": text(get_ci(body, "displayName")),
        "givenName": text(get_ci(&name, "givenName")),
        "familyName": text(get_ci(&name, "familyName")),
        "title": text(get_ci(body, "title")),
        "userType": text(get_ci(body, "userType")),
        "active": get_ci(body, "active").and_then(Value::as_bool).unwrap_or(true),
        "email": text(email),
        "department": text(get_ci(&enterprise, "department")),
        "employeeNumber": text(get_ci(&enterprise, "employeeNumber")),
        "managerId": text(get_ci(&enterprise, "manager").and_then(|m| get_ci(m, "value"))),
        "deleted": user.deleted_at.is_some(),
        "resource": body,
    })
}

/// The user ids among a group's members.
pub fn member_user_ids(group: &ScimResource) -> BTreeSet<String> {
    get_ci(&group.body, "members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| {
            get_ci(m, "type")
                .and_then(Value::as_str)
                .is_none_or(|t| t == "User")
        })
        .filter_map(|m| {
            get_ci(m, "value")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

pub fn group_payload(group: &ScimResource) -> Value {
    let body = &group.body;
    json!({
        "id": group.id,
        "displayName": text(get_ci(body, "displayName")),
        "externalId": text(get_ci(body, "externalId")),
        "memberCount": get_ci(body, "members").and_then(Value::as_array).map_or(0, Vec::len),
        "deleted": group.deleted_at.is_some(),
        "resource": body,
    })
}

fn membership_key(user_id: &str, group_id: &str) -> String {
    serde_json::to_string(&[user_id, group_id]).expect("strings serialize")
}

/// The in-process lock of an endpoint's record syncs.
fn local_lock(endpoint_id: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if locks.len() > 10_000 {
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
    }
    Arc::clone(locks.entry(endpoint_id.to_owned()).or_default())
}

/// Brings the directory records of the resources `changed` up to their stored state. Syncs of
/// one endpoint run one at a time (in this process, and across processes on PostgreSQL through
/// an advisory lock held by a transaction of its own), so that a sync that read an older state
/// cannot write after one that read a newer state.
pub async fn sync(runtime: &Runtime, endpoint: &ScimEndpoint, changed: &[(Kind, String)]) {
    let lock = local_lock(&endpoint.id);
    let _local = lock.lock().await;
    let db = runtime.db();
    let mut shared = None;
    if db.backend() == tributary_store::Backend::Postgres {
        match db.begin().await {
            Ok(mut tx) => match tx.lock_key(&format!("scim-records:{}", endpoint.id)).await {
                Ok(()) => shared = Some(tx),
                Err(error) => tracing::warn!(error = %error, "SCIM records lock not taken"),
            },
            Err(error) => tracing::warn!(error = %error, "SCIM records lock not taken"),
        }
    }
    let result = sync_inner(runtime, endpoint, changed).await;
    if let Some(tx) = shared {
        let _ = tx.rollback().await;
    }
    if let Err(error) = result {
        // The SCIM answer stands (the resource is stored); the records catch up on the next
        // write of the resource.
        tracing::error!(endpoint = %endpoint.id, error = %error, "SCIM records could not be ingested");
    }
}

async fn sync_inner(
    runtime: &Runtime,
    endpoint: &ScimEndpoint,
    changed: &[(Kind, String)],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let db = runtime.db();
    let (tenant, integration) = (&endpoint.tenant_id, &endpoint.integration_id);
    let mut accounts = Vec::new();
    let mut groups = Vec::new();
    let mut memberships = Vec::new();
    let mut tombstones: Vec<(&str, String)> = Vec::new();
    let mut live_memberships: Option<Vec<(String, String)>> = None;
    for (kind, id) in changed {
        let Some(resource) = db.scim().get(&endpoint.id, kind.name(), id, true).await? else {
            continue;
        };
        let deleted = resource.deleted_at.is_some();
        match kind {
            Kind::User => {
                accounts
                    .push(MappingEnvelope::new(account_payload(&resource)).resource(id.clone()));
                if deleted {
                    tombstones.push((ACCOUNT, id.clone()));
                }
            }
            Kind::Group => {
                groups.push(MappingEnvelope::new(group_payload(&resource)).resource(id.clone()));
                let members = if deleted {
                    tombstones.push((GROUP, id.clone()));
                    BTreeSet::new()
                } else {
                    member_user_ids(&resource)
                };
                for user in &members {
                    memberships.push(
                        MappingEnvelope::new(json!({"userId": user, "groupId": id}))
                            .resource(id.clone()),
                    );
                }
                if live_memberships.is_none() {
                    let keys = db
                        .scim()
                        .live_record_keys(tenant, integration, MEMBERSHIP)
                        .await?;
                    live_memberships = Some(
                        keys.iter()
                            .filter_map(|k| serde_json::from_str::<(String, String)>(k).ok())
                            .collect(),
                    );
                }
                for (user, group) in live_memberships.as_deref().unwrap_or_default() {
                    if group == id && !members.contains(user) {
                        tombstones.push((MEMBERSHIP, membership_key(user, group)));
                    }
                }
            }
        }
    }
    let mut sets = Vec::new();
    if !accounts.is_empty() {
        sets.push(IngestPayloadSet::new(ACCOUNT, accounts));
    }
    if !groups.is_empty() {
        sets.push(IngestPayloadSet::new(GROUP, groups));
    }
    if !memberships.is_empty() {
        sets.push(IngestPayloadSet::new(MEMBERSHIP, memberships));
    }
    if !sets.is_empty() {
        let report = runtime
            .ingest_pushed(tenant, integration, EMITTER, &sets)
            .await?;
        if report.counters.failed > 0 {
            tracing::warn!(endpoint = %endpoint.id, failed = report.counters.failed, "some SCIM records were not ingested; see the ingest failures");
        }
    }
    for (model, key) in tombstones {
        db.scim()
            .tombstone_records(tenant, integration, model, &[key], "deleted through SCIM")
            .await?;
    }
    Ok(())
}
