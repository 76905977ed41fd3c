//! The internal data model that provider payloads are mapped into.
//!
//! Each model is a plain struct deriving [`IngestModel`], which gives its key metadata: the keys a
//! mapping may emit ([`ModelMetadata::allowed_keys`]), must emit ([`ModelMetadata::required_keys`]),
//! the keys that identify a record within its integration ([`ModelMetadata::lookup_keys`]), and the
//! fields the runtime fills from the integration context (tenant, integration, run).
//!
//! # Mapping key rule
//!
//! A mapping key is the Rust field name in lowerCamel case, where every word after the first that
//! is a well-known initialism is written in capitals: `external_id` is `externalID`,
//! `avatar_url` is `avatarURL`, `cve_id` is `cveID`, `canonical_email` is `canonicalEmail`. The
//! first word is always lower case (`ip_addresses` is `ipAddresses`). The initialisms are listed in
//! [`INITIALISMS`]. The serde names of the structs follow the same rule, so a stored record
//! deserializes straight into its struct.

extern crate self as tributary_model;

mod directory;
mod enums;
mod inventory;
mod meta;
mod security;

pub use directory::{DirectoryAccount, DirectoryGroup, DirectoryMembership};
pub use enums::{
    AccountStatus, AccountType, AssetType, ContactStatus, EntityStatus, EntityType, FindingStatus,
    GroupClassification, GroupStatus, Level, MembershipRole, MfaState, RiskStatus, Severity,
    UnknownEnumValue, VulnerabilityStatus,
};
pub use inventory::{Asset, Contact, Entity};
pub use meta::{
    ContextSource, FieldMetadata, IngestField, IngestModel, KeyType, ModelMetadata, ValueType,
};
pub use security::{Finding, Risk, Vulnerability};

/// Words written in capitals when they are not the first word of a mapping key.
pub const INITIALISMS: &[&str] = &[
    "api", "cve", "dns", "html", "http", "https", "id", "ip", "json", "mfa", "os", "sql", "sso",
    "uri", "url", "uuid", "vm",
];

/// Schema names of the directory models, whose records a complete directory sync tombstones.
pub const DIRECTORY_SCHEMAS: [&str; 3] = [
    DirectoryAccount::METADATA.schema,
    DirectoryGroup::METADATA.schema,
    DirectoryMembership::METADATA.schema,
];

static MODELS: &[&ModelMetadata] = &[
    DirectoryAccount::METADATA,
    DirectoryGroup::METADATA,
    DirectoryMembership::METADATA,
    Finding::METADATA,
    Vulnerability::METADATA,
    Risk::METADATA,
    Asset::METADATA,
    Contact::METADATA,
    Entity::METADATA,
];

/// Metadata of every internal model, in a fixed order.
pub fn models() -> &'static [&'static ModelMetadata] {
    MODELS
}

/// Every schema name a mapping or ingest contract may target.
pub fn schema_names() -> impl Iterator<Item = &'static str> {
    MODELS.iter().map(|model| model.schema)
}

/// The metadata of a schema name, if it is an internal model.
pub fn metadata_for(schema: &str) -> Option<&'static ModelMetadata> {
    MODELS.iter().copied().find(|model| model.schema == schema)
}

/// The mapping key of a Rust field name, by the rule in the crate docs. The derive applies the
/// same rule at compile time; this copy serves tools and tests.
pub fn mapping_key(field: &str) -> String {
    let mut key = String::with_capacity(field.len());
    for (index, word) in field.split('_').filter(|w| !w.is_empty()).enumerate() {
        if index == 0 {
            key.push_str(&word.to_ascii_lowercase());
        } else if INITIALISMS.contains(&word.to_ascii_lowercase().as_str()) {
            key.push_str(&word.to_ascii_uppercase());
        } else {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                key.push(first.to_ascii_uppercase());
                key.push_str(&chars.as_str().to_ascii_lowercase());
            }
        }
    }
    key
}
