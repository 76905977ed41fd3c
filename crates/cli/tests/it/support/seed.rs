//! Rows a test writes straight into the embedded database that `tributary init` created.

use std::path::Path;

use tributary_store::{Db, integrations::Integration, runs::Run, tenants::Tenant};

/// The URL of the embedded SQLite database in `data_dir`.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("tributary.db").display())
}

/// The tenant `acme` and an Okta integration of it, with no user input.
pub async fn acme_with_okta(db: &Db) -> (Tenant, Integration) {
    let tenant = db.tenants().create("acme").await.unwrap();
    let integration = db
        .integrations()
        .create(&tenant.id, "okta", "Okta", &serde_json::json!({}))
        .await
        .unwrap();
    (tenant, integration)
}

/// A run of `operation` of the integration, of type `run_type`, with no configuration.
pub async fn run_of(
    db: &Db,
    tenant_id: &str,
    integration_id: &str,
    operation: &str,
    run_type: &str,
) -> Run {
    db.runs()
        .create(
            tenant_id,
            integration_id,
            operation,
            run_type,
            &serde_json::json!({}),
            None,
        )
        .await
        .unwrap()
}
