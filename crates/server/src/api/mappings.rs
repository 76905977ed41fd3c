//! Mapping evaluation: a definition's mapping over a pasted payload, without storing anything.
//! The payload is the caller's, so the evaluation runs off the async runtime with the runtime's
//! engine and under the ingest evaluation time limit, like a run's.

use std::sync::Arc;

use tributary_ingest::{IngestError, evaluate_off_runtime, map_one};

use super::prelude::*;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvaluateMapping {
    pub definition_id: String,
    /// The model the mapping produces (`DirectoryAccount`).
    pub model: String,
    /// The mapping's variant, if the definition has several for the model.
    #[serde(default)]
    pub variant: Option<String>,
    /// A provider payload.
    pub payload: Value,
}

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::POST,
            "/v1/mappings/evaluate",
            "evaluateMapping",
            "Evaluate a definition's mapping over a payload",
            evaluate,
        )
        .tag("mappings")
        .access(Access::AnyToken)
        .body::<EvaluateMapping>()
        .answers::<MappingResultView>(200, "The mapped record, or that the filter dropped it"),
    ]
}

async fn evaluate(
    State(state): State<ApiState>,
    _caller: Caller,
    JsonBody(body): JsonBody<EvaluateMapping>,
) -> ApiResult<MappingResultView> {
    evaluate_mapping(&state, body).await.map(Json)
}

/// Runs a definition's mapping over a payload (the API route and the UI's playground).
pub(crate) async fn evaluate_mapping(
    state: &ApiState,
    body: EvaluateMapping,
) -> Result<MappingResultView, ApiError> {
    let definition = state
        .runtime
        .registry()
        .definition(&body.definition_id)
        .map(Arc::clone)
        .ok_or_else(|| ApiError::not_found(&format!("definition `{}`", body.definition_id)))?;
    let variant = body.variant.unwrap_or_default();
    if definition
        .definition
        .mapping_for(&body.model, &variant)
        .is_none()
    {
        return Err(ApiError::not_found(&format!(
            "mapping `{}{}` of definition `{}`",
            body.model,
            if variant.is_empty() {
                String::new()
            } else {
                format!("/{variant}")
            },
            body.definition_id
        )));
    }
    let limit = state.runtime.config().ingest_evaluation_timeout;
    // Compiled once per (definition, model) and reused: compiling every mapping of a definition
    // costs milliseconds of CPU, evaluating one a few microseconds.
    let mapper = state
        .runtime
        .model_mapper(&definition, &body.model)
        .map_err(|error| ApiError::unprocessable("mapping_failed", error.to_string()))?;
    let evaluated = evaluate_off_runtime("the mapping", limit, move |_| {
        map_one(
            &mapper,
            definition.id(),
            &body.model,
            &variant,
            &body.payload,
        )
    })
    .await
    .map_err(|error| ApiError::unprocessable("mapping_failed", error.to_string()))?;
    match evaluated {
        Ok(record) => Ok(MappingResultView {
            passed_filter: true,
            model: Some(record.schema.to_owned()),
            variant: Some(record.variant),
            lookup_key: Some(record.lookup_key),
            fields: Some(Value::Object(record.fields)),
        }),
        Err(IngestError::FilteredOut { .. }) => Ok(MappingResultView {
            passed_filter: false,
            model: None,
            variant: None,
            lookup_key: None,
            fields: None,
        }),
        Err(err) => Err(ApiError::unprocessable(
            "mapping_failed",
            format!("the mapping failed: {err}"),
        )),
    }
}
