//! Runs: list with filters and paging, detail with log lines, cancel.

use tributary_store::runs::{RunQuery, RunStatus};

use super::prelude::*;
use crate::audit::{Audit, AuditBuilder, actions, cancelled_run_details};

list_query! {
    pub struct ListRuns {
        pub integration_id: Option<String>,
        pub operation: Option<String>,
        pub status: Option<RunStatusName>,
    }
}

#[derive(Debug, Deserialize)]
struct RunPath {
    run_id: String,
}

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/v1/runs",
            "listRuns",
            "List runs, newest first",
            list,
        )
        .tag("runs")
        .query::<ListRuns>()
        .answers::<Page<RunView>>(200, "A page of runs"),
        Endpoint::new(
            Method::GET,
            "/v1/runs/{run_id}",
            "getRun",
            "Read a run with its log lines",
            get,
        )
        .tag("runs")
        .answers::<RunDetailView>(200, "The run and its log"),
        Endpoint::new(
            Method::POST,
            "/v1/runs/{run_id}/cancel",
            "cancelRun",
            "Cancel a pending or running run",
            cancel,
        )
        .tag("runs")
        .answers::<RunView>(200, "The run, cancelled (or already finished)"),
    ]
}

fn store_status(status: RunStatusName) -> RunStatus {
    match status {
        RunStatusName::Pending => RunStatus::Pending,
        RunStatusName::Running => RunStatus::Running,
        RunStatusName::Succeeded => RunStatus::Succeeded,
        RunStatusName::Failed => RunStatus::Failed,
        RunStatusName::Partial => RunStatus::Partial,
        RunStatusName::Cancelled => RunStatus::Cancelled,
    }
}

async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListRuns>,
) -> ApiResult<Page<RunView>> {
    let tenant = caller.tenant()?;
    let limit = page_limit(query.limit);
    let runs = state
        .runtime
        .db()
        .runs()
        .query(&RunQuery {
            tenant_id: tenant.to_owned(),
            integration_id: query.integration_id,
            operation: query.operation,
            status: query.status.map(store_status),
            before: query.cursor,
            limit: limit as i64 + 1,
        })
        .await?;
    Ok(Json(Page::by_id(runs, limit)))
}

async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<RunPath>,
) -> ApiResult<RunDetailView> {
    let tenant = caller.tenant()?;
    let details = state.runtime.run_details(tenant, &path.run_id).await?;
    Ok(Json(RunDetailView {
        run: details.run.into(),
        logs: details.logs.into_iter().map(Into::into).collect(),
    }))
}

async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    PathParams(path): PathParams<RunPath>,
) -> ApiResult<RunView> {
    let tenant = caller.tenant()?;
    let result = state.runtime.cancel_run(tenant, &path.run_id).await;
    Audit::api(&caller, actions::RUN_CANCEL, "run")
        .target(&path.run_id)
        .on_success(&result, cancelled_run_details)
        .record(&state, &result)
        .await;
    Ok(Json(result?.into()))
}
