//! The tenant's integrations: the list, and each one's page (status with a Reconnect button,
//! metadata, connection mode, operations with a Run form, webhook endpoints, recent runs,
//! disconnect).

use std::fmt::Write;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde_json::Value;
use tributary_runtime::{RunRequest, RuntimeError};
use tributary_store::{
    integrations::{Integration, IntegrationStatus},
    runs::RunQuery,
};

use super::{
    form::{FieldErrors, read_fields, render_fields},
    html::{Page, badge, csrf_field, esc, json_block, time, url_part},
    or_page,
    runs::runs_table,
    session::{CheckedForm, UiSession},
};
use crate::{
    AppState,
    audit::{Audit, AuditBuilder, actions},
};

fn display_name(state: &AppState, definition_id: &str) -> String {
    state
        .runtime
        .registry()
        .definition(definition_id)
        .map(|d| d.definition.spec.display_name.clone())
        .unwrap_or_else(|| definition_id.to_owned())
}

pub async fn list(State(state): State<AppState>, session: UiSession) -> Response {
    let integrations = or_page!(
        session,
        state
            .runtime
            .db()
            .integrations()
            .list(&session.tenant_id, None)
            .await
    );
    let mut html =
        String::from("<p><a class=\"button\" href=\"/catalog\">Connect a provider</a></p>");
    if integrations.is_empty() {
        html.push_str("<p>No integrations yet: pick a provider in the catalog.</p>");
    } else {
        html.push_str(
            "<div class=\"table\"><table><caption class=\"visually-hidden\">Integrations</caption>\
             <thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Provider</th>\
             <th scope=\"col\">Status</th><th scope=\"col\">Updated</th></tr></thead><tbody>",
        );
        for integration in &integrations {
            let _ = write!(
                html,
                "<tr><td><a href=\"/integrations/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                url_part(&integration.id),
                esc(&integration.name),
                esc(&display_name(&state, &integration.definition_id)),
                badge(integration.status.as_str()),
                time(integration.updated_at)
            );
        }
        html.push_str("</tbody></table></div>");
    }
    Page::signed_in("Integrations", &html, &session)
}

pub async fn show(
    State(state): State<AppState>,
    session: UiSession,
    Path(integration_id): Path<String>,
) -> Response {
    let integration = or_page!(
        session,
        state
            .runtime
            .integration(&session.tenant_id, &integration_id)
            .await
    );
    page(
        &state,
        &session,
        &integration,
        None,
        &FieldErrors::default(),
        StatusCode::OK,
    )
    .await
}

/// The integration's page; `failed_operation` with `errors` shows a Run form's field errors.
async fn page(
    state: &AppState,
    session: &UiSession,
    integration: &Integration,
    failed_operation: Option<(&str, &Value)>,
    errors: &FieldErrors,
    status: StatusCode,
) -> Response {
    let id = url_part(&integration.id);
    let definition = state
        .runtime
        .registry()
        .definition(&integration.definition_id);
    let entry = definition.map(|d| d.catalog_entry());
    let connection = integration
        .provider_state
        .get("connection")
        .and_then(Value::as_str);
    let connection_name = connection
        .and_then(|slot| {
            entry
                .as_ref()?
                .connections
                .iter()
                .find(|c| c.credential_ref == slot)
                .map(|c| c.name.clone())
        })
        .or(connection.map(str::to_owned))
        .unwrap_or_else(|| "not connected".to_owned());
    let mut html = String::new();
    let _ = write!(
        html,
        "<section class=\"card\" aria-labelledby=\"status-heading\"><h2 id=\"status-heading\">Status</h2>\
         <p>{} <span class=\"muted\">{}</span></p>",
        badge(integration.status.as_str()),
        esc(integration.status_reason.as_deref().unwrap_or_default())
    );
    let needs_connect = matches!(
        integration.status,
        IntegrationStatus::NeedsReauth
            | IntegrationStatus::Pending
            | IntegrationStatus::Errored
            | IntegrationStatus::Disconnected
    );
    let _ = write!(
        html,
        "<p><a class=\"button{}\" href=\"/integrations/{id}/connect\">{}</a></p></section>",
        if needs_connect { "" } else { " secondary" },
        if integration.status == IntegrationStatus::NeedsReauth {
            "Reconnect"
        } else if needs_connect {
            "Connect"
        } else {
            "Change credentials"
        }
    );
    let _ = write!(
        html,
        "<section class=\"card\"><h2>Details</h2><dl class=\"details\">\
         <dt>Provider</dt><dd>{}</dd><dt>Connection mode</dt><dd>{}</dd>\
         <dt>Created</dt><dd>{}</dd><dt>Updated</dt><dd>{}</dd>",
        esc(&display_name(state, &integration.definition_id)),
        esc(&connection_name),
        time(integration.created_at),
        time(integration.updated_at),
    );
    if let Some(metadata) = integration.metadata.as_object() {
        for (key, value) in metadata {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let _ = write!(
                html,
                "<dt>{}</dt><dd>{}</dd>",
                esc(&super::form::humanize(key)),
                esc(&text)
            );
        }
    }
    html.push_str("</dl>");
    if integration
        .user_input
        .as_object()
        .is_some_and(|input| !input.is_empty())
    {
        html.push_str("<h3>Settings</h3>");
        html.push_str(&json_block(&integration.user_input, "Settings"));
    }
    html.push_str("</section>");

    if let (Some(entry), Some(definition)) = (&entry, definition) {
        html.push_str("<section class=\"card\"><h2>Operations</h2>");
        for operation in &entry.operations {
            let _ = write!(
                html,
                "<form method=\"post\" action=\"/integrations/{id}/operations/{}\" class=\"operation\" novalidate>{}\
                 <h3>{}</h3><p class=\"muted\">{}</p>",
                url_part(operation.name),
                csrf_field(session),
                esc(operation.name),
                esc(&operation.description)
            );
            let typed = match failed_operation {
                Some((name, typed)) if name == operation.name => typed.clone(),
                _ => Value::Null,
            };
            let schema = definition
                .operation_schema(operation.name)
                .map(|s| s.schema().clone());
            if let Some(schema) = schema {
                render_fields(&schema, &schema, operation.name, &typed, errors, &mut html);
            }
            if failed_operation.is_some_and(|(name, _)| name == operation.name) {
                html.push_str(&errors.summary());
            }
            let _ = write!(
                html,
                "<button type=\"submit\">Run<span class=\"visually-hidden\"> {}</span></button></form>",
                esc(operation.name)
            );
        }
        html.push_str("</section>");
    }

    if let Ok(endpoints) = state
        .runtime
        .list_webhook_endpoints(&session.tenant_id, &integration.id)
        .await
        && !endpoints.is_empty()
    {
        html.push_str(
            "<section class=\"card\"><h2>Webhook endpoints</h2><p class=\"muted\">Rotating a \
             secret shows the new one once; the provider must be given it.</p><ul class=\"plain\">",
        );
        for endpoint in endpoints {
            let _ = write!(
                html,
                "<li><strong>{}</strong> {}<br><code>{}</code>\
                 <form method=\"post\" action=\"/integrations/{id}/webhooks/{}/rotate\" data-confirm=\"Rotate this secret? The provider must be given the new one.\">{}\
                 <button type=\"submit\" class=\"secondary\">Rotate secret<span class=\"visually-hidden\"> of {}</span></button></form></li>",
                esc(&endpoint.name),
                if endpoint.enabled { "" } else { "(disabled)" },
                esc(&endpoint.url),
                url_part(&endpoint.id),
                csrf_field(session),
                esc(&endpoint.name)
            );
        }
        html.push_str("</ul></section>");
    }

    let runs = state
        .runtime
        .db()
        .runs()
        .query(&RunQuery {
            tenant_id: session.tenant_id.clone(),
            integration_id: Some(integration.id.clone()),
            operation: None,
            status: None,
            before: None,
            limit: 10,
        })
        .await
        .unwrap_or_default();
    let _ = write!(
        html,
        "<section class=\"card\"><h2>Recent runs</h2>{}<p><a href=\"/runs?integration={id}\">All runs</a> · \
         <a href=\"/records?integration={id}\">Records</a> · <a href=\"/audit?target={id}\">Audit log</a></p></section>",
        runs_table(&runs, None)
    );
    if integration.status != IntegrationStatus::Disconnected {
        let _ = write!(
            html,
            "<section class=\"card danger\"><h2>Disconnect</h2><p>Deletes the stored credentials \
             and webhook endpoints and stops the schedules; records are kept and marked \
             disconnected.</p><form method=\"post\" action=\"/integrations/{id}/disconnect\" \
             data-confirm=\"Disconnect {}?\">{}<button type=\"submit\" class=\"danger\">Disconnect</button></form></section>",
            esc(&integration.name),
            csrf_field(session)
        );
    }
    Page::new(integration.name.clone())
        .status(status)
        .with_body(&html)
        .render(Some(session))
}

pub async fn run_operation(
    State(state): State<AppState>,
    session: UiSession,
    Path((integration_id, operation)): Path<(String, String)>,
    CheckedForm(form): CheckedForm,
) -> Response {
    let integration = or_page!(
        session,
        state
            .runtime
            .integration(&session.tenant_id, &integration_id)
            .await
    );
    let Some(definition) = state
        .runtime
        .registry()
        .definition(&integration.definition_id)
    else {
        return super::error_page(&session, RuntimeError::NotFound("definition"));
    };
    let Some(registered) = definition.definition.operation_named(&operation) else {
        return super::error_page(&session, RuntimeError::NotFound("operation"));
    };
    let inline = registered.policy.inline;
    let mut errors = FieldErrors::default();
    let config = match definition.operation_schema(&operation) {
        Some(compiled) => {
            let schema = compiled.schema().clone();
            let config = read_fields(&schema, &schema, &operation, &form, &mut errors);
            if let Err(violations) = compiled.validate(&config) {
                errors.add_violations(&operation, &violations);
            }
            config
        }
        None => Value::Object(Default::default()),
    };
    if !errors.is_empty() {
        return page(
            &state,
            &session,
            &integration,
            Some((&operation, &config)),
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let request = RunRequest {
        tenant_id: session.tenant_id.clone(),
        integration_id: integration.id.clone(),
        operation: operation.clone(),
        config,
        workflow: None,
    };
    let audit = Audit::ui(&session, actions::RUN_START, "run")
        .meta("integrationId", integration.id.as_str())
        .meta("operation", operation.as_str())
        .meta("mode", if inline { "inline" } else { "queued" });
    let answer = if inline {
        let result = state.runtime.run_inline(request).await;
        audit
            .on_success(&result, |audit, done| audit.target(&done.run.id))
            .record(&state, &result)
            .await;
        result.map(|done| {
            let html = format!(
                "<p role=\"status\">{} {}.</p>{}<p><a href=\"/runs/{}\">The run</a> · \
                 <a href=\"/integrations/{}\">Back to {}</a></p>",
                esc(&operation),
                super::html::badge(done.run.status.as_str()),
                json_block(&done.output, "Output"),
                url_part(&done.run.id),
                url_part(&integration.id),
                esc(&integration.name)
            );
            Page::signed_in(
                format!("{operation} on {}", integration.name),
                &html,
                &session,
            )
        })
    } else {
        let result = state.runtime.queue_run(request).await;
        audit
            .on_success(&result, |audit, run| audit.target(&run.id))
            .record(&state, &result)
            .await;
        result.map(|run| Redirect::to(&format!("/runs/{}", url_part(&run.id))).into_response())
    };
    match answer {
        Ok(response) => response,
        Err(err) => {
            errors.general.push(crate::api::ApiError::from(err).message);
            page(
                &state,
                &session,
                &integration,
                Some((&operation, &Value::Null)),
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    session: UiSession,
    Path((integration_id, endpoint_id)): Path<(String, String)>,
    CheckedForm(_): CheckedForm,
) -> Response {
    let result = state
        .runtime
        .rotate_webhook_secret(&session.tenant_id, &integration_id, &endpoint_id)
        .await;
    // The new secret is on the page only, never in the trail.
    Audit::ui(&session, actions::WEBHOOK_SECRET_ROTATE, "webhook_endpoint")
        .target(&endpoint_id)
        .meta("integrationId", integration_id.as_str())
        .record(&state, &result)
        .await;
    let rotated = or_page!(session, result);
    let html = format!(
        "<p role=\"status\">The secret of <strong>{}</strong> was replaced. Give the provider the \
         new one now: <strong>it is shown only this once</strong>.</p><dl><dt>URL</dt><dd><code>{}</code></dd>\
         <dt>Secret</dt><dd><code class=\"secret-once\">{}</code></dd></dl>\
         <p><a href=\"/integrations/{}\">Back to the integration</a></p>",
        esc(&rotated.name),
        esc(&rotated.url),
        esc(rotated.secret.expose()),
        url_part(&integration_id)
    );
    Page::signed_in("New webhook secret", &html, &session)
}

pub async fn disconnect(
    State(state): State<AppState>,
    session: UiSession,
    Path(integration_id): Path<String>,
    CheckedForm(_): CheckedForm,
) -> Response {
    let result = state
        .runtime
        .disconnect(&session.tenant_id, &integration_id)
        .await;
    Audit::ui(&session, actions::INTEGRATION_DISCONNECT, "integration")
        .target(&integration_id)
        .on_success(&result, |audit, report| {
            audit.meta("remoteTeardownFailed", report.remote_error.is_some())
        })
        .record(&state, &result)
        .await;
    or_page!(session, result);
    Redirect::to(&format!("/integrations/{}", url_part(&integration_id))).into_response()
}
