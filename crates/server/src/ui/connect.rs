//! The connect flow: a form generated from the definition's schemas (user input, then the
//! credential slots of the chosen connection mode), checked on the server with field errors shown
//! next to their fields; OAuth and app-install modes send the browser through the keymaker and
//! the callback brings it back to the integration's page.

use std::{collections::BTreeMap, fmt::Write};

use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde_json::{Value, json};
use tributary_core::registry::{CatalogConnection, RegisteredDefinition};
use tributary_runtime::{ConnectOutcome, ConnectRequest, Connected, RuntimeError};
use tributary_store::integrations::Integration;

use super::{
    form::{FieldErrors, FormData, read_fields, render_fields},
    html::{Page, csrf_field, esc, url_part},
    session::{CheckedForm, UiSession},
};
use crate::{
    AppState,
    audit::{Audit, AuditBuilder, actions},
};

/// What the form is for: a new integration of a definition, or connecting an existing one again.
struct Target<'a> {
    definition: &'a RegisteredDefinition,
    integration: Option<&'a Integration>,
}

impl Target<'_> {
    fn action(&self) -> String {
        match self.integration {
            Some(integration) => format!("/integrations/{}/connect", url_part(&integration.id)),
            None => format!("/catalog/{}/connect", url_part(self.definition.id())),
        }
    }
}

/// What the user typed, to show back after an error (secrets are never shown back).
#[derive(Default)]
struct Typed {
    name: String,
    input: Value,
    credentials: BTreeMap<String, Value>,
}

fn connections(definition: &RegisteredDefinition) -> Vec<CatalogConnection> {
    definition.catalog_entry().connections
}

fn chosen(definition: &RegisteredDefinition, query: Option<&str>) -> Option<CatalogConnection> {
    let all = connections(definition);
    let wanted = crate::query_pairs(query)
        .into_iter()
        .find(|(key, _)| key == "connection")
        .map(|(_, value)| value);
    match wanted {
        Some(wanted) => all.into_iter().find(|c| c.credential_ref == wanted),
        None => all.into_iter().next(),
    }
}

fn render(
    session: &UiSession,
    target: &Target<'_>,
    connection: &CatalogConnection,
    typed: &Typed,
    errors: &FieldErrors,
    status: StatusCode,
) -> Response {
    let spec = &target.definition.definition.spec;
    let entry = target.definition.catalog_entry();
    let title = match target.integration {
        Some(integration) => format!("Connect {} again", integration.name),
        None => format!("Connect {}", spec.display_name),
    };
    let mut html = String::new();
    if !spec.description.is_empty() {
        let _ = write!(html, "<p>{}</p>", esc(&spec.description));
    }
    html.push_str(&errors.summary());
    let all = connections(target.definition);
    if all.len() > 1 {
        html.push_str(
            "<nav class=\"modes\" aria-label=\"Connection mode\"><p>Connection mode:</p><ul>",
        );
        for mode in &all {
            let current = mode.credential_ref == connection.credential_ref;
            let _ = write!(
                html,
                "<li><a href=\"{}?connection={}\"{}>{}</a></li>",
                target.action(),
                url_part(mode.credential_ref),
                if current {
                    " aria-current=\"page\""
                } else {
                    ""
                },
                esc(&mode.name)
            );
        }
        html.push_str("</ul></nav>");
    }
    let _ = write!(
        html,
        "<form method=\"post\" action=\"{}\" class=\"card\" novalidate>{}\
         <input type=\"hidden\" name=\"connection\" value=\"{}\">",
        target.action(),
        csrf_field(session),
        esc(connection.credential_ref)
    );
    if target.integration.is_none() {
        let name_error = errors.fields.get("name");
        let _ = write!(
            html,
            "<div class=\"field\"><label for=\"name\">Name</label>\
             <input id=\"name\" name=\"name\" type=\"text\" maxlength=\"200\" value=\"{}\" \
             placeholder=\"{}\" aria-describedby=\"name-help{}\"{}>\
             <small id=\"name-help\">How this integration is called here (default: {}).</small>{}</div>",
            esc(&typed.name),
            esc(&spec.display_name),
            if name_error.is_some() {
                " name-error"
            } else {
                ""
            },
            if name_error.is_some() {
                " aria-invalid=\"true\""
            } else {
                ""
            },
            esc(&spec.display_name),
            name_error
                .map(|e| format!("<p class=\"field-error\" id=\"name-error\">{}</p>", esc(e)))
                .unwrap_or_default()
        );
    }
    if let Some(schema) = &entry.user_input_schema {
        let shown = match target.integration {
            Some(integration) if typed.input.is_null() => &integration.user_input,
            _ => &typed.input,
        };
        html.push_str("<fieldset><legend>Settings</legend>");
        render_fields(schema, schema, "input", shown, errors, &mut html);
        html.push_str("</fieldset>");
    }
    let _ = write!(html, "<fieldset><legend>{}</legend>", esc(&connection.name));
    if !connection.description.is_empty() {
        let _ = write!(
            html,
            "<p class=\"muted\">{}</p>",
            esc(&connection.description)
        );
    }
    if connection.auth == "redirect" {
        let _ = write!(
            html,
            "<p>You will be sent to {} to approve access, then brought back here.</p></fieldset>\
             <button type=\"submit\">Connect with {}</button>",
            esc(&spec.display_name),
            esc(&spec.display_name)
        );
    } else {
        for slot in &connection.credential_refs {
            let Some(credential) = entry.credentials.iter().find(|c| c.slot == *slot) else {
                continue;
            };
            let Some(schema) = &credential.schema else {
                continue;
            };
            if connection.credential_refs.len() > 1 {
                let _ = write!(html, "<h3>{}</h3>", esc(&credential.name));
            }
            if !credential.description.is_empty()
                && credential.description != connection.description
            {
                let _ = write!(
                    html,
                    "<p class=\"muted\">{}</p>",
                    esc(&credential.description)
                );
            }
            let prefix = format!("cred/{slot}");
            let shown = typed.credentials.get(*slot).cloned().unwrap_or(Value::Null);
            render_fields(schema, schema, &prefix, &shown, errors, &mut html);
        }
        html.push_str("</fieldset><button type=\"submit\">Connect</button>");
    }
    html.push_str("</form>");
    Page::new(title)
        .status(status)
        .with_body(&html)
        .render(Some(session))
}

fn definition_for_tenant<'a>(
    state: &'a AppState,
    session: &UiSession,
    definition_id: &str,
) -> Result<&'a std::sync::Arc<RegisteredDefinition>, Response> {
    state
        .runtime
        .registry()
        .definition(definition_id)
        .filter(|d| d.definition.spec.visible && d.definition.spec.active)
        .ok_or_else(|| {
            super::error_page(
                session,
                crate::api::ApiError::not_found(&format!("definition `{definition_id}`")),
            )
        })
}

/// The tenant's integration `integration_id` and its definition, or the page saying which is
/// missing (the forms and submits of an existing integration).
async fn integration_with_definition<'a>(
    state: &'a AppState,
    session: &UiSession,
    integration_id: &str,
) -> Result<(Integration, &'a std::sync::Arc<RegisteredDefinition>), Response> {
    let integration = state
        .runtime
        .integration(&session.tenant_id, integration_id)
        .await
        .map_err(|err| super::error_page(session, err))?;
    let definition = definition_for_tenant(state, session, &integration.definition_id)?;
    Ok((integration, definition))
}

pub async fn new_form(
    State(state): State<AppState>,
    session: UiSession,
    Path(definition_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let definition = match definition_for_tenant(&state, &session, &definition_id) {
        Ok(definition) => definition,
        Err(page) => return page,
    };
    let target = Target {
        definition,
        integration: None,
    };
    blank_form(&session, &target, query.as_deref())
}

pub async fn existing_form(
    State(state): State<AppState>,
    session: UiSession,
    Path(integration_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (integration, definition) =
        match integration_with_definition(&state, &session, &integration_id).await {
            Ok(found) => found,
            Err(page) => return page,
        };
    // Default to the integration's current mode.
    let current = integration
        .provider_state
        .get("connection")
        .and_then(Value::as_str)
        .map(|c| format!("connection={}", url_part(c)));
    let target = Target {
        definition,
        integration: Some(&integration),
    };
    blank_form(&session, &target, query.as_deref().or(current.as_deref()))
}

/// The empty form of the connection mode `query` names (by default the definition's first).
fn blank_form(session: &UiSession, target: &Target<'_>, query: Option<&str>) -> Response {
    let Some(connection) = chosen(target.definition, query) else {
        return super::error_page(session, crate::api::ApiError::not_found("connection mode"));
    };
    render(
        session,
        target,
        &connection,
        &Typed::default(),
        &FieldErrors::default(),
        StatusCode::OK,
    )
}

pub async fn submit_new(
    State(state): State<AppState>,
    session: UiSession,
    Path(definition_id): Path<String>,
    CheckedForm(form): CheckedForm,
) -> Response {
    let definition = match definition_for_tenant(&state, &session, &definition_id) {
        Ok(definition) => definition,
        Err(page) => return page,
    };
    submit(
        &state,
        &session,
        Target {
            definition,
            integration: None,
        },
        &form,
    )
    .await
}

pub async fn submit_existing(
    State(state): State<AppState>,
    session: UiSession,
    Path(integration_id): Path<String>,
    CheckedForm(form): CheckedForm,
) -> Response {
    let (integration, definition) =
        match integration_with_definition(&state, &session, &integration_id).await {
            Ok(found) => found,
            Err(page) => return page,
        };
    submit(
        &state,
        &session,
        Target {
            definition,
            integration: Some(&integration),
        },
        &form,
    )
    .await
}

async fn submit(
    state: &AppState,
    session: &UiSession,
    target: Target<'_>,
    form: &FormData,
) -> Response {
    let connection_name = form.get("connection").unwrap_or_default();
    let Some(connection) = connections(target.definition)
        .into_iter()
        .find(|c| c.credential_ref == connection_name)
    else {
        return super::error_page(session, crate::api::ApiError::not_found("connection mode"));
    };
    let mut errors = FieldErrors::default();
    let mut typed = Typed::default();
    let entry = target.definition.catalog_entry();
    if target.integration.is_none() {
        typed.name = form.get("name").unwrap_or_default().trim().to_owned();
        if typed.name.chars().count() > 200 {
            errors
                .fields
                .insert("name".into(), "Use at most 200 characters.".into());
        }
    }
    if let Some(schema) = &entry.user_input_schema {
        typed.input = read_fields(schema, schema, "input", form, &mut errors);
        if let Some(compiled) = target.definition.user_input_schema()
            && let Err(violations) = compiled.validate(&typed.input)
        {
            errors.add_violations("input", &violations);
        }
    }
    if connection.auth != "redirect" {
        for slot in &connection.credential_refs {
            let Some(schema) = entry
                .credentials
                .iter()
                .find(|c| c.slot == *slot)
                .and_then(|c| c.schema.as_ref())
            else {
                continue;
            };
            let prefix = format!("cred/{slot}");
            let value = read_fields(schema, schema, &prefix, form, &mut errors);
            if let Some(compiled) = target.definition.credential_schema(slot)
                && let Err(violations) = compiled.validate(&value)
            {
                errors.add_violations(&prefix, &violations);
            }
            typed.credentials.insert((*slot).to_owned(), value);
        }
    }
    if !errors.is_empty() {
        return render(
            session,
            &target,
            &connection,
            &typed,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    // A new integration is created first (pending), so a failed attempt is retried on the same
    // integration instead of leaving one behind per attempt.
    let created;
    let integration = match target.integration {
        Some(integration) => integration,
        None => {
            let name = (!typed.name.is_empty()).then_some(typed.name.as_str());
            let input = if typed.input.is_null() {
                json!({})
            } else {
                typed.input.clone()
            };
            let result = state
                .runtime
                .create_integration(&session.tenant_id, target.definition.id(), name, &input)
                .await;
            Audit::ui(session, actions::INTEGRATION_CREATE, "integration")
                .meta("definitionId", target.definition.id())
                .meta(
                    "fields",
                    input
                        .as_object()
                        .map(|map| map.keys().cloned().collect::<Vec<_>>())
                        .unwrap_or_default(),
                )
                .on_success(&result, |audit, integration| audit.target(&integration.id))
                .record(state, &result)
                .await;
            created = match result {
                Ok(integration) => integration,
                // Refused user input (a broken filter expression): nothing was saved, and the
                // form comes back with what was typed.
                Err(err) => {
                    return refused(session, &target, &connection, &typed, &mut errors, err);
                }
            };
            &created
        }
    };
    let target = Target {
        definition: target.definition,
        integration: Some(integration),
    };
    let request = ConnectRequest {
        tenant_id: session.tenant_id.clone(),
        integration_id: Some(integration.id.clone()),
        definition_id: target.definition.id().to_owned(),
        name: None,
        user_input: entry
            .user_input_schema
            .is_some()
            .then(|| typed.input.clone()),
        connection: connection.credential_ref.to_owned(),
        credentials: std::mem::take(&mut typed.credentials),
    };
    // Slot names only: the credentials themselves never reach the trail.
    let audit = Audit::ui(session, actions::connect_action(integration), "integration")
        .target(&integration.id)
        .meta("connection", connection.credential_ref)
        .meta(
            "slots",
            request.credentials.keys().cloned().collect::<Vec<_>>(),
        );
    let result = state.runtime.connect(request).await;
    audit
        .on_success(&result, |audit, outcome| match outcome {
            // The connection completes at the callback, which records it again.
            ConnectOutcome::Redirect(_) => audit.meta("authorization", "started"),
            ConnectOutcome::Connected(_) => audit,
        })
        .record(state, &result)
        .await;
    match result {
        Ok(ConnectOutcome::Redirect(redirect)) => Redirect::to(&redirect.url).into_response(),
        Ok(ConnectOutcome::Connected(connected)) => connected_page(session, &connected),
        Err(err) => {
            // The stored user input is what the next attempt starts from.
            typed.input = Value::Null;
            refused(session, &target, &connection, &typed, &mut errors, err)
        }
    }
}

/// The form again with the setup step that refused it named on top, or the error page for a
/// failure that is not the user's to fix.
fn refused(
    session: &UiSession,
    target: &Target<'_>,
    connection: &CatalogConnection,
    typed: &Typed,
    errors: &mut FieldErrors,
    err: RuntimeError,
) -> Response {
    match err {
        RuntimeError::Setup {
            step,
            kind,
            message,
        } if kind != tributary_core::ErrorKind::Internal => {
            errors.general.push(format!(
                "The connection failed at step “{}”: {message}",
                step.as_str().replace('_', " ")
            ));
            render(
                session,
                target,
                connection,
                typed,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        err => super::error_page(session, err),
    }
}

/// After a form connection: where to go next, and each new webhook endpoint's secret, shown once.
fn connected_page(session: &UiSession, connected: &Connected) -> Response {
    let integration = &connected.integration;
    let mut html = format!(
        "<p role=\"status\">{} is connected.</p>",
        esc(&integration.name)
    );
    if !connected.webhook_endpoints.is_empty() {
        html.push_str(
            "<section class=\"card\"><h2>Webhook endpoints</h2><p>Configure these at the \
             provider. <strong>Each secret is shown only now</strong>; you can rotate it later \
             from the integration's page.</p><dl>",
        );
        for endpoint in &connected.webhook_endpoints {
            let _ = write!(
                html,
                "<dt>{}</dt><dd><code>{}</code></dd><dd>Secret: <code class=\"secret-once\">{}</code></dd>",
                esc(&endpoint.name),
                esc(&endpoint.url),
                esc(endpoint.secret.expose())
            );
        }
        html.push_str("</dl></section>");
    }
    if !connected.scheduled.is_empty() {
        let _ = write!(
            html,
            "<p>Scheduled to run regularly: {}.</p>",
            esc(&connected.scheduled.join(", "))
        );
    }
    let _ = write!(
        html,
        "<p><a class=\"button\" href=\"/integrations/{}\">Open the integration</a></p>",
        url_part(&integration.id)
    );
    Page::signed_in("Connected", &html, session)
}
