//! Directory models: who has an account at a provider, which groups exist, who is in which group.
//! A complete directory sync tombstones the records of these models that it did not see.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tributary_derive::IngestModel;

use crate::{
    AccountStatus, AccountType, GroupClassification, GroupStatus, MembershipRole, MfaState,
};

/// An identity at a provider: a person, service account, guest or bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IngestModel)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ingest(directory)]
pub struct DirectoryAccount {
    /// The tenant that owns the integration.
    #[serde(rename = "tenantID")]
    #[ingest(context = "tenant", upsert)]
    pub tenant_id: String,
    /// The integration the account was read from.
    #[serde(rename = "integrationID")]
    #[ingest(context = "integration", upsert)]
    pub integration_id: String,
    /// The run that last wrote the record.
    #[serde(rename = "runID")]
    #[ingest(context = "run")]
    pub run_id: Option<String>,
    /// The provider's stable id of the account (not its email, which can change).
    #[serde(rename = "externalID")]
    #[ingest(lookup)]
    pub external_id: String,
    /// The primary email, lower-cased by the mapping where the provider is case-insensitive.
    pub canonical_email: Option<String>,
    /// The login name at the provider, when it differs from the email.
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    /// The external id of the account's manager.
    #[serde(rename = "managerExternalID")]
    pub manager_external_id: Option<String>,
    #[ingest(default = "USER")]
    pub account_type: AccountType,
    #[ingest(default = "ACTIVE")]
    pub status: AccountStatus,
    #[ingest(default = "UNKNOWN")]
    pub mfa_state: MfaState,
    /// Holds administrative rights at the provider.
    pub is_admin: Option<bool>,
    /// Provider role names (`Super Admin`, `org:owner`).
    pub roles: Option<Vec<String>>,
    /// The directory, organisation or workspace the account belongs to.
    pub directory_name: Option<String>,
    #[serde(rename = "avatarURL")]
    pub avatar_url: Option<String>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub source_created_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
    /// Extra provider attributes worth keeping next to the normalised ones.
    pub profile: Option<Map<String, Value>>,
}

/// A group, team or organisational unit at a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IngestModel)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ingest(directory)]
pub struct DirectoryGroup {
    #[serde(rename = "tenantID")]
    #[ingest(context = "tenant", upsert)]
    pub tenant_id: String,
    #[serde(rename = "integrationID")]
    #[ingest(context = "integration", upsert)]
    pub integration_id: String,
    #[serde(rename = "runID")]
    #[ingest(context = "run")]
    pub run_id: Option<String>,
    /// The provider's stable id of the group.
    #[serde(rename = "externalID")]
    #[ingest(lookup)]
    pub external_id: String,
    pub display_name: Option<String>,
    /// The group's mailing address, for groups that have one.
    pub email: Option<String>,
    pub description: Option<String>,
    #[ingest(default = "UNKNOWN")]
    pub classification: GroupClassification,
    #[ingest(default = "ACTIVE")]
    pub status: GroupStatus,
    /// The member count the provider reports (memberships are ingested separately).
    pub member_count: Option<i64>,
    /// Whether people outside the organisation may be members.
    pub allows_external_members: Option<bool>,
    pub directory_name: Option<String>,
    pub source_created_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub profile: Option<Map<String, Value>>,
}

/// An account's membership in a group. Both sides are named by their provider external ids and
/// resolved to the account and group records of the same integration when stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IngestModel)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ingest(directory)]
pub struct DirectoryMembership {
    #[serde(rename = "tenantID")]
    #[ingest(context = "tenant", upsert)]
    pub tenant_id: String,
    #[serde(rename = "integrationID")]
    #[ingest(context = "integration", upsert)]
    pub integration_id: String,
    #[serde(rename = "runID")]
    #[ingest(context = "run")]
    pub run_id: Option<String>,
    /// The `externalID` of the member account.
    #[serde(rename = "accountExternalID")]
    #[ingest(lookup)]
    pub account_external_id: String,
    /// The `externalID` of the group.
    #[serde(rename = "groupExternalID")]
    #[ingest(lookup)]
    pub group_external_id: String,
    #[ingest(default = "MEMBER")]
    pub role: MembershipRole,
    /// When the account joined the group, if the provider says.
    pub joined_at: Option<DateTime<Utc>>,
    pub profile: Option<Map<String, Value>>,
}
