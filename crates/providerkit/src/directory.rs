//! What the directory syncs (users, groups and memberships) of identity providers share: the
//! names of their checkpoint phases, the models they ingest and the shape of a membership.

use crate::{Listing, ResumableRun};
use serde_json::{Value, json};
use tributary_core::{IngestPayloadSet, MappingEnvelope, OperationError};
use tributary_model::{DirectoryAccount, DirectoryGroup, DirectoryMembership, IngestModel};

/// The checkpoint phase listing the accounts.
pub const USERS_PHASE: &str = "users";
/// The checkpoint phase listing the groups, each with its members.
pub const GROUPS_PHASE: &str = "groups";

/// The models a users, groups and memberships sync ingests (its operation's `.ingests`).
pub use tributary_model::DIRECTORY_SCHEMAS;

/// A page of accounts.
pub fn accounts(envelopes: Vec<MappingEnvelope>) -> IngestPayloadSet {
    IngestPayloadSet::new(DirectoryAccount::METADATA.schema, envelopes)
}

/// A page of groups and the memberships of those groups, groups first: memberships reference
/// them.
pub fn groups_and_memberships(
    groups: Vec<MappingEnvelope>,
    memberships: Vec<MappingEnvelope>,
) -> [IngestPayloadSet; 2] {
    [
        IngestPayloadSet::new(DirectoryGroup::METADATA.schema, groups),
        IngestPayloadSet::new(DirectoryMembership::METADATA.schema, memberships),
    ]
}

/// A membership payload as the membership mappings read it: `payload.group` (the fields of the
/// group the mapping needs) and `payload.member`, under `resource`.
pub fn membership(group: Value, member: Value, resource: String) -> MappingEnvelope {
    MappingEnvelope::new(json!({ "group": group, "member": member })).resource(resource)
}

impl ResumableRun<'_> {
    /// Hands a page of accounts to ingest and saves where the users phase stands.
    pub async fn users_page_done(
        &mut self,
        users: &Listing,
        envelopes: Vec<MappingEnvelope>,
    ) -> Result<(), OperationError> {
        self.page_done(USERS_PHASE, users, [accounts(envelopes)])
            .await
    }

    /// Hands a page of groups and their memberships to ingest and saves where the groups phase
    /// stands.
    pub async fn groups_page_done(
        &mut self,
        groups_listing: &Listing,
        groups: Vec<MappingEnvelope>,
        memberships: Vec<MappingEnvelope>,
    ) -> Result<(), OperationError> {
        let sets = groups_and_memberships(groups, memberships);
        self.page_done(GROUPS_PHASE, groups_listing, sets).await
    }
}
