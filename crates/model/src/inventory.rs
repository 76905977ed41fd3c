//! Inventory models: assets, contacts and third-party entities.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tributary_derive::IngestModel;

use crate::{AssetType, ContactStatus, EntityStatus, EntityType, Level};

/// Something the organisation owns or runs: a device, server, cloud resource, repository,
/// application or domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IngestModel)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Asset {
    #[serde(rename = "tenantID")]
    #[ingest(context = "tenant", upsert)]
    pub tenant_id: String,
    #[serde(rename = "integrationID")]
    #[ingest(context = "integration", upsert)]
    pub integration_id: String,
    #[serde(rename = "runID")]
    #[ingest(context = "run")]
    pub run_id: Option<String>,
    /// The provider's stable id (an ARN, a device id, a repository node id).
    #[serde(rename = "externalID")]
    #[ingest(lookup)]
    pub external_id: String,
    pub name: String,
    pub asset_type: AssetType,
    /// The provider's own type name (`AWS::S3::Bucket`).
    pub resource_type: Option<String>,
    pub source: Option<String>,
    pub description: Option<String>,
    /// The cloud account, project or subscription holding the asset.
    #[serde(rename = "cloudAccountID")]
    pub cloud_account_id: Option<String>,
    pub region: Option<String>,
    pub environment: Option<String>,
    pub hostname: Option<String>,
    pub ip_addresses: Option<Vec<String>>,
    pub operating_system: Option<String>,
    /// Email of the person or team responsible for the asset.
    pub owner_email: Option<String>,
    pub criticality: Option<Level>,
    /// Whether the asset is reachable from the internet.
    pub internet_facing: Option<bool>,
    /// Whether the asset stores data at rest encrypted, where known.
    pub encrypted: Option<bool>,
    pub source_created_at: Option<DateTime<Utc>>,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub tags: Option<Vec<String>>,
    pub properties: Option<Map<String, Value>>,
}

/// A person at a customer, vendor or partner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IngestModel)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Contact {
    #[serde(rename = "tenantID")]
    #[ingest(context = "tenant", upsert)]
    pub tenant_id: String,
    #[serde(rename = "integrationID")]
    #[ingest(context = "integration", upsert)]
    pub integration_id: String,
    #[serde(rename = "runID")]
    #[ingest(context = "run")]
    pub run_id: Option<String>,
    /// The provider's stable id of the contact (use the lower-cased email when it has none).
    #[serde(rename = "externalID")]
    #[ingest(lookup)]
    pub external_id: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
    pub phone_number: Option<String>,
    pub address: Option<String>,
    #[ingest(default = "ACTIVE")]
    pub status: ContactStatus,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub properties: Option<Map<String, Value>>,
}

/// A third party the organisation deals with: a vendor, customer or partner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IngestModel)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entity {
    #[serde(rename = "tenantID")]
    #[ingest(context = "tenant", upsert)]
    pub tenant_id: String,
    #[serde(rename = "integrationID")]
    #[ingest(context = "integration", upsert)]
    pub integration_id: String,
    #[serde(rename = "runID")]
    #[ingest(context = "run")]
    pub run_id: Option<String>,
    #[serde(rename = "externalID")]
    #[ingest(lookup)]
    pub external_id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub entity_type: Option<EntityType>,
    pub status: Option<EntityStatus>,
    pub domains: Option<Vec<String>>,
    #[serde(rename = "websiteURL")]
    pub website_url: Option<String>,
    pub contact_email: Option<String>,
    /// How critical the third party is to the business.
    pub criticality: Option<Level>,
    pub source: Option<String>,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub tags: Option<Vec<String>>,
    pub properties: Option<Map<String, Value>>,
}
