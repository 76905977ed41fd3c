//! Records of each model, filterable by integration and lookup key, and each record's mapped
//! fields beside the raw provider payload they came from.

use std::fmt::Write;

use axum::{
    extract::{Path, State},
    response::Response,
};
use serde_json::Value;
use tributary_store::records::{RecordQuery, RecordsError, StoredRecord, get_record, list_records};

use super::{
    html::{Page, badge, esc, json_block, time, url_part},
    or_page,
    paging::{cut_page, page_link},
    session::UiSession,
};
use crate::{AppState, QueryValues, api::ApiError};

const PAGE_SIZE: u32 = 50;

fn records_error(err: RecordsError) -> ApiError {
    match err {
        RecordsError::Store(err) => err.into(),
        RecordsError::Database(err) => tributary_store::StoreError::from(err).into(),
        other => ApiError::bad_request("invalid_query", other.to_string()),
    }
}

/// A few fields that tell records apart in a list.
fn summary(record: &StoredRecord) -> String {
    let Some(fields) = record.fields.as_object() else {
        return String::new();
    };
    fields
        .iter()
        .filter(|(_, value)| matches!(value, Value::String(s) if !s.is_empty()))
        .take(3)
        .map(|(key, value)| format!("{key}: {}", value.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(" · ")
}

pub async fn list(
    State(state): State<AppState>,
    session: UiSession,
    values: QueryValues,
) -> Response {
    let models: Vec<&str> = tributary_model::models().iter().map(|m| m.schema).collect();
    let model = values
        .get("model")
        .filter(|m| models.contains(&m.as_str()))
        .unwrap_or_else(|| "DirectoryAccount".to_owned());
    let integration = values.get("integration");
    let lookup = values.get("lookup");
    let include_deleted = values.get("deleted").is_some();
    let integrations = state
        .runtime
        .db()
        .integrations()
        .list(&session.tenant_id, None)
        .await
        .unwrap_or_default();
    let mut records = or_page!(
        session,
        list_records(
            state.runtime.db(),
            &RecordQuery {
                tenant_id: session.tenant_id.clone(),
                integration_id: integration.clone(),
                model: Some(model.clone()),
                lookup_key: lookup.clone(),
                include_deleted,
                after: values.get("after"),
                limit: PAGE_SIZE + 1,
            },
        )
        .await
        .map_err(records_error)
    );
    let more = cut_page(&mut records, PAGE_SIZE as usize);

    let mut html = String::from(
        "<form method=\"get\" action=\"/records\" class=\"filters\"><div class=\"field\">\
         <label for=\"model\">Model</label><select id=\"model\" name=\"model\">",
    );
    for name in &models {
        let _ = write!(
            html,
            "<option{}>{}</option>",
            if *name == model { " selected" } else { "" },
            esc(name)
        );
    }
    html.push_str(
        "</select></div><div class=\"field\"><label for=\"integration\">Integration</label>\
         <select id=\"integration\" name=\"integration\"><option value=\"\">all</option>",
    );
    for candidate in &integrations {
        let _ = write!(
            html,
            "<option value=\"{}\"{}>{}</option>",
            esc(&candidate.id),
            if integration.as_deref() == Some(candidate.id.as_str()) {
                " selected"
            } else {
                ""
            },
            esc(&candidate.name)
        );
    }
    let _ = write!(
        html,
        "</select></div><div class=\"field\"><label for=\"lookup\">Lookup key</label>\
         <input id=\"lookup\" name=\"lookup\" value=\"{}\"></div>\
         <label class=\"check\"><input type=\"checkbox\" name=\"deleted\" value=\"on\"{}> Include deleted</label>\
         <button type=\"submit\">Filter</button></form>",
        esc(lookup.as_deref().unwrap_or_default()),
        if include_deleted { " checked" } else { "" }
    );
    if records.is_empty() {
        html.push_str("<p>No records.</p>");
    } else {
        html.push_str(
            "<div class=\"table\"><table><caption class=\"visually-hidden\">Records</caption><thead><tr>\
             <th scope=\"col\">Lookup key</th><th scope=\"col\">Fields</th><th scope=\"col\">Last seen</th>\
             <th scope=\"col\">State</th></tr></thead><tbody>",
        );
        for record in &records {
            let state_badge = if record.deleted_at.is_some() {
                badge("deleted")
            } else if record.disconnected_at.is_some() {
                badge("disconnected")
            } else {
                badge("current")
            };
            let _ = write!(
                html,
                "<tr><td><a href=\"/records/{}\">{}</a>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                url_part(&record.id),
                esc(&record.lookup_key),
                if record.variant.is_empty() {
                    String::new()
                } else {
                    format!(" <span class=\"muted\">{}</span>", esc(&record.variant))
                },
                esc(&summary(record)),
                time(record.last_seen_at),
                state_badge
            );
        }
        html.push_str("</tbody></table></div>");
        if more && let Some(last) = records.last() {
            let link = page_link(
                "/records",
                &[
                    ("model", Some(model.as_str())),
                    ("after", Some(last.id.as_str())),
                    ("integration", integration.as_deref()),
                    ("lookup", lookup.as_deref()),
                    ("deleted", include_deleted.then_some("on")),
                ],
            );
            let _ = write!(html, "<p><a href=\"{}\">Next page</a></p>", esc(&link));
        }
    }
    Page::signed_in(format!("Records: {model}"), &html, &session)
}

pub async fn show(
    State(state): State<AppState>,
    session: UiSession,
    Path(record_id): Path<String>,
) -> Response {
    let record = or_page!(
        session,
        get_record(state.runtime.db(), &session.tenant_id, &record_id)
            .await
            .map_err(records_error)
            .and_then(|record| record.ok_or_else(|| ApiError::not_found("record")))
    );
    let integration_name = state
        .runtime
        .integration(&session.tenant_id, &record.integration_id)
        .await
        .map(|integration| integration.name)
        .unwrap_or_else(|_| record.integration_id.clone());
    let mut html = format!(
        "<dl class=\"details card\"><dt>Model</dt><dd>{}{}</dd><dt>Integration</dt>\
         <dd><a href=\"/integrations/{}\">{}</a></dd><dt>First seen</dt><dd>{}</dd>\
         <dt>Last seen</dt><dd>{}</dd><dt>Changed</dt><dd>{}</dd>",
        esc(&record.model),
        if record.variant.is_empty() {
            String::new()
        } else {
            format!(" / {}", esc(&record.variant))
        },
        url_part(&record.integration_id),
        esc(&integration_name),
        time(record.first_seen_at),
        time(record.last_seen_at),
        time(record.changed_at),
    );
    if let Some(deleted) = record.deleted_at {
        let _ = write!(
            html,
            "<dt>Deleted</dt><dd>{} {}</dd>",
            time(deleted),
            esc(record.deleted_reason.as_deref().unwrap_or_default())
        );
    }
    html.push_str(
        "</dl><div class=\"side-by-side\"><section class=\"card\"><h2>Mapped fields</h2>",
    );
    html.push_str(&json_block(&record.fields, "Mapped fields"));
    html.push_str("</section><section class=\"card\"><h2>Raw payload</h2>");
    html.push_str(&json_block(&record.raw_payload, "Raw payload"));
    html.push_str("</section></div>");
    Page::signed_in(record.lookup_key.clone(), &html, &session)
}
