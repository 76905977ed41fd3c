//! The mapping playground: pick a definition and one of its mappings, paste a provider payload,
//! and see the mapped record, that the filter dropped it, or why the mapping failed. Nothing is
//! stored. The API route `POST /v1/mappings/evaluate` does the evaluation for both.

use std::fmt::Write;

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use serde_json::Value;

use super::{
    html::{Page, csrf_field, esc, json_block},
    session::{CheckedForm, UiSession},
};
use crate::{
    AppState,
    api::mappings::{EvaluateMapping, evaluate_mapping},
};

/// What the form shows: the chosen definition and mapping, the payload, and an outcome.
#[derive(Default)]
struct Playground {
    definition: String,
    mapping: String,
    payload: String,
    outcome: Option<Result<Value, String>>,
}

fn mapping_key(schema: &str, variant: &str) -> String {
    if variant.is_empty() {
        schema.to_owned()
    } else {
        format!("{schema}/{variant}")
    }
}

fn render(
    state: &AppState,
    session: &UiSession,
    view: &Playground,
    status: StatusCode,
) -> Response {
    let mut definitions: Vec<_> = state.runtime.registry().definitions().collect();
    definitions.sort_by_key(|d| d.id());
    let chosen = definitions
        .iter()
        .find(|d| d.id() == view.definition)
        .or(definitions.first())
        .cloned();
    let mut html = String::from(
        "<form method=\"get\" action=\"/playground\" class=\"filters\" data-autosubmit><div class=\"field\">\
         <label for=\"definition\">Definition</label><select id=\"definition\" name=\"definition\">",
    );
    for definition in &definitions {
        let _ = write!(
            html,
            "<option value=\"{}\"{}>{}</option>",
            esc(definition.id()),
            if chosen.as_ref().is_some_and(|c| c.id() == definition.id()) {
                " selected"
            } else {
                ""
            },
            esc(&definition.definition.spec.display_name)
        );
    }
    html.push_str(
        "</select></div><button type=\"submit\" class=\"secondary\">Choose</button></form>",
    );
    let Some(definition) = chosen else {
        return Page::signed_in(
            "Mapping playground",
            "<p>No definitions are registered.</p>",
            session,
        );
    };
    let mappings = &definition.definition.mappings;
    let _ = write!(
        html,
        "<form method=\"post\" action=\"/playground\" class=\"card\">{}\
         <input type=\"hidden\" name=\"definition\" value=\"{}\"><div class=\"field\">\
         <label for=\"mapping\">Mapping</label><select id=\"mapping\" name=\"mapping\">",
        csrf_field(session),
        esc(definition.id())
    );
    for mapping in mappings.iter() {
        let key = mapping_key(&mapping.schema, &mapping.variant);
        let _ = write!(
            html,
            "<option value=\"{0}\"{1}>{0}</option>",
            esc(&key),
            if key == view.mapping { " selected" } else { "" }
        );
    }
    let payload = if view.payload.is_empty() {
        "{}"
    } else {
        &view.payload
    };
    let _ = write!(
        html,
        "</select></div><div class=\"field\"><label for=\"payload\">Provider payload (JSON)</label>\
         <textarea id=\"payload\" name=\"payload\" rows=\"14\" class=\"code\" spellcheck=\"false\">{}</textarea></div>\
         <button type=\"submit\">Evaluate</button></form>",
        esc(payload)
    );
    match &view.outcome {
        Some(Ok(result)) => {
            html.push_str("<section class=\"card\" aria-live=\"polite\"><h2>Output</h2>");
            html.push_str(&json_block(result, "Output"));
            html.push_str("</section>");
        }
        Some(Err(message)) => {
            let _ = write!(
                html,
                "<section class=\"card\" aria-live=\"polite\"><h2>Error</h2><p class=\"alert\" role=\"alert\">{}</p></section>",
                esc(message)
            );
        }
        None => {}
    }
    html.push_str("<details class=\"card\"><summary>The definition's mappings (CEL)</summary>");
    for mapping in mappings.iter() {
        let _ = write!(
            html,
            "<h3>{}</h3>{}<pre class=\"code\">{}</pre>",
            esc(&mapping_key(&mapping.schema, &mapping.variant)),
            if mapping.filter.is_empty() {
                String::new()
            } else {
                format!("<p>Filter: <code>{}</code></p>", esc(&mapping.filter))
            },
            esc(&mapping.map)
        );
    }
    html.push_str("</details>");
    Page::new("Mapping playground")
        .status(status)
        .with_body(&html)
        .render(Some(session))
}

pub async fn form(
    State(state): State<AppState>,
    session: UiSession,
    RawQuery(query): RawQuery,
) -> Response {
    let definition = crate::query_pairs(query.as_deref())
        .into_iter()
        .find(|(key, _)| key == "definition")
        .map(|(_, value)| value)
        .unwrap_or_default();
    render(
        &state,
        &session,
        &Playground {
            definition,
            ..Playground::default()
        },
        StatusCode::OK,
    )
}

pub async fn evaluate(
    State(state): State<AppState>,
    session: UiSession,
    CheckedForm(form): CheckedForm,
) -> Response {
    let mut view = Playground {
        definition: form.get("definition").unwrap_or_default().to_owned(),
        mapping: form.get("mapping").unwrap_or_default().to_owned(),
        payload: form.get("payload").unwrap_or_default().to_owned(),
        outcome: None,
    };
    let outcome = match serde_json::from_str::<Value>(&view.payload) {
        Err(err) => Err(format!("The payload is not valid JSON: {err}")),
        Ok(payload) => {
            let (model, variant) = match view.mapping.split_once('/') {
                Some((model, variant)) => (model.to_owned(), Some(variant.to_owned())),
                None => (view.mapping.clone(), None),
            };
            evaluate_mapping(
                &state,
                EvaluateMapping {
                    definition_id: view.definition.clone(),
                    model,
                    variant,
                    payload,
                },
            )
            .await
            .map(|result| serde_json::to_value(result).unwrap_or_default())
            .map_err(|err| err.message)
        }
    };
    let status = if outcome.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    view.outcome = Some(outcome);
    render(&state, &session, &view, status)
}
