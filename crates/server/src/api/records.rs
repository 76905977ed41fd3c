//! Ingested records of each model: list with filters and cursor paging, detail.

use tributary_store::records::{RecordQuery, RecordsError, get_record, list_records};

use super::prelude::*;

list_query! {
    pub struct ListRecords {
        pub integration_id: Option<String>,
        /// The record's identity within its integration (usually the provider's id).
        pub lookup_key: Option<String>,
        /// Include tombstoned records (gone at the provider).
        pub include_deleted: Option<bool>,
    }
}

#[derive(Debug, Deserialize)]
struct ModelPath {
    model: String,
}

#[derive(Debug, Deserialize)]
struct RecordPath {
    model: String,
    record_id: String,
}

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/v1/records/{model}",
            "listRecords",
            "List the tenant's records of a model (`DirectoryAccount`, `Finding`, ...)",
            list,
        )
        .tag("records")
        .query::<ListRecords>()
        .answers::<Page<RecordView>>(200, "A page of records, oldest first"),
        Endpoint::new(
            Method::GET,
            "/v1/records/{model}/{record_id}",
            "getRecord",
            "Read a record with its mapped fields and raw payload",
            get,
        )
        .tag("records")
        .answers::<RecordView>(200, "The record"),
    ]
}

fn known_model(model: &str) -> Result<(), ApiError> {
    if tributary_model::metadata_for(model).is_some() {
        Ok(())
    } else {
        Err(ApiError::not_found(&format!("model `{model}`")))
    }
}

fn store_error(err: RecordsError) -> ApiError {
    match err {
        RecordsError::Store(err) => err.into(),
        RecordsError::Database(err) => tributary_store::StoreError::from(err).into(),
        other => tributary_store::StoreError::Config(other.to_string()).into(),
    }
}

async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<ModelPath>,
    QueryParams(query): QueryParams<ListRecords>,
) -> ApiResult<Page<RecordView>> {
    let tenant = caller.tenant()?;
    known_model(&path.model)?;
    let limit = page_limit(query.limit);
    let records = list_records(
        state.runtime.db(),
        &RecordQuery {
            tenant_id: tenant.to_owned(),
            integration_id: query.integration_id,
            model: Some(path.model),
            lookup_key: query.lookup_key,
            include_deleted: query.include_deleted.unwrap_or(false),
            after: query.cursor,
            limit: limit as u32 + 1,
        },
    )
    .await
    .map_err(store_error)?;
    Ok(Json(Page::by_id(records, limit)))
}

async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<RecordPath>,
) -> ApiResult<RecordView> {
    let tenant = caller.tenant()?;
    known_model(&path.model)?;
    get_record(state.runtime.db(), tenant, &path.record_id)
        .await
        .map_err(store_error)?
        .filter(|record| record.model == path.model)
        .map(|record| Json(record.into()))
        .ok_or_else(|| ApiError::not_found("record"))
}
