//! Runs: the list with status, duration and counters, and each run's detail with its log lines,
//! reloading itself while the run is still going.

use std::fmt::Write;

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use serde_json::Value;
use tributary_store::runs::{Run, RunQuery, RunStatus};

use super::{
    html::{Page, badge, csrf_field, esc, json_block, time, url_part},
    or_page,
    paging::{cut_page, page_link},
    session::{CheckedForm, UiSession},
};
use crate::{
    AppState, QueryValues,
    audit::{Audit, AuditBuilder, actions, cancelled_run_details},
};

const PAGE_SIZE: i64 = 50;

fn counters(value: &Value) -> String {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(key, value)| format!("{key} {value}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn duration(run: &Run) -> String {
    match run.duration_ms {
        Some(ms) if ms >= 1000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{ms} ms"),
        None => "–".to_owned(),
    }
}

/// A table of runs; `more` is the link to the next page.
pub fn runs_table(runs: &[Run], more: Option<String>) -> String {
    if runs.is_empty() {
        return "<p>No runs.</p>".to_owned();
    }
    let mut html = String::from(
        "<div class=\"table\"><table><caption class=\"visually-hidden\">Runs</caption><thead><tr>\
         <th scope=\"col\">Operation</th><th scope=\"col\">Status</th><th scope=\"col\">Started</th>\
         <th scope=\"col\">Duration</th><th scope=\"col\">Counters</th></tr></thead><tbody>",
    );
    for run in runs {
        let _ = write!(
            html,
            "<tr><td><a href=\"/runs/{}\">{}</a> <span class=\"muted\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            url_part(&run.id),
            esc(&run.operation),
            esc(&run.run_type),
            badge(run.status.as_str()),
            time(run.started_at.unwrap_or(run.created_at)),
            duration(run),
            esc(&counters(&run.counters))
        );
    }
    html.push_str("</tbody></table></div>");
    if let Some(more) = more {
        let _ = write!(html, "<p><a href=\"{}\">Older runs</a></p>", esc(&more));
    }
    html
}

pub async fn list(
    State(state): State<AppState>,
    session: UiSession,
    values: QueryValues,
) -> Response {
    let status = values
        .get("status")
        .and_then(|s| RunStatus::ALL.into_iter().find(|x| x.as_str() == s));
    let integration = values.get("integration");
    let operation = values.get("operation");
    let mut runs = or_page!(
        session,
        state
            .runtime
            .db()
            .runs()
            .query(&RunQuery {
                tenant_id: session.tenant_id.clone(),
                integration_id: integration.clone(),
                operation: operation.clone(),
                status,
                before: values.get("before"),
                limit: PAGE_SIZE + 1,
            })
            .await
    );
    let more = cut_page(&mut runs, PAGE_SIZE as usize).then(|| {
        page_link(
            "/runs",
            &[
                ("before", runs.last().map(|run| run.id.as_str())),
                ("integration", integration.as_deref()),
                ("operation", operation.as_deref()),
                ("status", status.map(|status| status.as_str())),
            ],
        )
    });
    let mut html = String::from("<form method=\"get\" action=\"/runs\" class=\"filters\">");
    if let Some(integration) = &integration {
        let _ = write!(
            html,
            "<input type=\"hidden\" name=\"integration\" value=\"{}\">",
            esc(integration)
        );
    }
    let _ = write!(
        html,
        "<div class=\"field\"><label for=\"operation\">Operation</label>\
         <input id=\"operation\" name=\"operation\" value=\"{}\"></div>\
         <div class=\"field\"><label for=\"status\">Status</label><select id=\"status\" name=\"status\">\
         <option value=\"\">any</option>",
        esc(operation.as_deref().unwrap_or_default())
    );
    for choice in RunStatus::ALL {
        let _ = write!(
            html,
            "<option value=\"{0}\"{1}>{0}</option>",
            choice.as_str(),
            if Some(choice) == status {
                " selected"
            } else {
                ""
            }
        );
    }
    html.push_str("</select></div><button type=\"submit\">Filter</button></form>");
    html.push_str(&runs_table(&runs, more));
    Page::signed_in("Runs", &html, &session)
}

pub async fn show(
    State(state): State<AppState>,
    session: UiSession,
    Path(run_id): Path<String>,
) -> Response {
    let details = or_page!(
        session,
        state.runtime.run_details(&session.tenant_id, &run_id).await
    );
    let run = &details.run;
    let integration_name = state
        .runtime
        .integration(&session.tenant_id, &run.integration_id)
        .await
        .map(|i| i.name)
        .unwrap_or_else(|_| run.integration_id.clone());
    let mut html = format!(
        "<section class=\"card\"><dl class=\"details\"><dt>Status</dt><dd>{}</dd>\
         <dt>Integration</dt><dd><a href=\"/integrations/{}\">{}</a></dd>\
         <dt>Started by</dt><dd>{}</dd><dt>Attempt</dt><dd>{}</dd>\
         <dt>Created</dt><dd>{}</dd><dt>Duration</dt><dd>{}</dd><dt>Counters</dt><dd>{}</dd></dl>",
        badge(run.status.as_str()),
        url_part(&run.integration_id),
        esc(&integration_name),
        esc(&run.run_type),
        run.attempt,
        time(run.created_at),
        duration(run),
        esc(&counters(&run.counters)),
    );
    if let Some(message) = &run.error_message {
        let _ = write!(
            html,
            "<p class=\"alert\" role=\"alert\">{}{}</p>",
            run.error_kind
                .as_deref()
                .map(|kind| format!("[{}] ", esc(kind)))
                .unwrap_or_default(),
            esc(message)
        );
    }
    if !run.status.is_terminal() {
        let _ = write!(
            html,
            "<form method=\"post\" action=\"/runs/{}/cancel\">{}<button type=\"submit\" class=\"secondary\">Cancel</button></form>",
            url_part(&run.id),
            csrf_field(&session)
        );
    }
    html.push_str("</section>");
    if let Some(result) = &run.result {
        html.push_str("<section class=\"card\"><h2>Result</h2>");
        html.push_str(&json_block(result, "Result"));
        html.push_str("</section>");
    }
    html.push_str("<section class=\"card\"><h2>Log</h2>");
    if details.logs.is_empty() {
        html.push_str(if run.status.is_terminal() {
            "<p>The run logged nothing (errors and warnings are logged here).</p>"
        } else {
            "<p>No log lines yet.</p>"
        });
    } else {
        html.push_str("<ol class=\"log\">");
        for line in &details.logs {
            let fields = match &line.fields {
                Value::Object(map) if !map.is_empty() => {
                    format!(" <code>{}</code>", esc(&line.fields.to_string()))
                }
                _ => String::new(),
            };
            let _ = write!(
                html,
                "<li class=\"{}\"><time>{}</time> <strong>{}</strong> {}{}</li>",
                esc(&line.level),
                time(line.at),
                esc(&line.level),
                esc(&line.message),
                fields
            );
        }
        html.push_str("</ol>");
    }
    html.push_str("</section>");
    let mut page = Page::new(format!("Run of {}", run.operation)).with_body(&html);
    if !run.status.is_terminal() {
        page = page.refresh_every(2);
    }
    page.render(Some(&session))
}

pub async fn cancel(
    State(state): State<AppState>,
    session: UiSession,
    Path(run_id): Path<String>,
    CheckedForm(_): CheckedForm,
) -> Response {
    let result = state.runtime.cancel_run(&session.tenant_id, &run_id).await;
    Audit::ui(&session, actions::RUN_CANCEL, "run")
        .target(&run_id)
        .on_success(&result, cancelled_run_details)
        .record(&state, &result)
        .await;
    or_page!(session, result);
    Redirect::to(&format!("/runs/{}", url_part(&run_id))).into_response()
}
