//! `#[derive(IngestModel)]` on a model declared outside the model crate, as a host application
//! could do, with every attribute.

use tributary_derive::IngestModel;
use tributary_model::{ContextSource, IngestModel as _, KeyType, ValueType};

/// A thing a host application ingests.
#[allow(dead_code)]
#[derive(IngestModel)]
#[ingest(schema = "Widget", directory)]
struct HostWidget {
    #[ingest(context = "tenant", upsert)]
    tenant_id: String,
    #[ingest(context = "run")]
    run_id: Option<String>,
    /// Serial number.
    #[ingest(lookup)]
    serial_number: String,
    #[ingest(lookup, key = "siteCode")]
    site: String,
    #[ingest(default = "LOW")]
    criticality: tributary_model::Level,
    weight: Option<f64>,
    count: i64,
    labels: Option<Vec<String>>,
    #[ingest(skip)]
    cache: std::cell::Cell<u8>,
}

#[test]
fn derived_metadata_reflects_the_attributes() {
    let meta = HostWidget::METADATA;
    assert_eq!(meta.schema, "Widget");
    assert!(meta.directory);
    assert_eq!(meta.doc, "A thing a host application ingests.");
    assert_eq!(
        meta.lookup_keys().collect::<Vec<_>>(),
        ["serialNumber", "siteCode"]
    );
    assert_eq!(
        meta.upsert_keys().collect::<Vec<_>>(),
        ["tenantID", "serialNumber", "siteCode"]
    );
    assert_eq!(
        meta.required_keys().collect::<Vec<_>>(),
        ["serialNumber", "siteCode", "count"]
    );
    assert_eq!(
        meta.allowed_keys().collect::<Vec<_>>(),
        [
            "serialNumber",
            "siteCode",
            "criticality",
            "weight",
            "count",
            "labels"
        ]
    );
    assert_eq!(
        meta.field("runID").unwrap().context,
        Some(ContextSource::Run)
    );
    for (field, ty) in [
        ("weight", KeyType::One(ValueType::Float)),
        ("count", KeyType::One(ValueType::Int)),
        ("labels", KeyType::List(ValueType::String)),
    ] {
        assert_eq!(meta.field(field).unwrap().ty, ty, "{field}");
    }
    assert_eq!(meta.field("criticality").unwrap().default, Some("LOW"));
    assert_eq!(meta.field("serialNumber").unwrap().doc, "Serial number.");
    assert!(meta.field("cache").is_none());
}
