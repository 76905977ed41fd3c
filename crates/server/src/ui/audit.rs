//! The tenant's audit log: who did what, when, to which target, and how it ended, newest first,
//! filtered by action or target, with a link to older events.

use std::fmt::Write;

use axum::{extract::State, response::Response};
use serde_json::Value;
use tributary_store::audit::{ActorKind, AuditEvent, AuditQuery};

use super::{
    html::{Page, badge, esc, time, url_part},
    or_page,
    paging::{cut_page, page_link},
    session::UiSession,
};
use crate::{AppState, QueryValues, audit::actions};

const PAGE_SIZE: i64 = 50;

/// Who acted, for people.
fn actor(event: &AuditEvent) -> String {
    let name = esc(event.actor.token_name.as_deref().unwrap_or("unnamed token"));
    match event.actor.kind {
        // The name is the operating-system user who ran the command.
        ActorKind::LocalCli => format!("{name} <span class=\"muted\">via command line</span>"),
        ActorKind::UiSession => format!("{name} <span class=\"muted\">via UI session</span>"),
        ActorKind::TenantToken => format!("{name} <span class=\"muted\">API token</span>"),
        ActorKind::OperatorToken => format!("{name} <span class=\"muted\">operator token</span>"),
        ActorKind::AuthCallback => "<span class=\"muted\">authorization callback</span>".into(),
    }
}

/// The target, linked where it has a page.
fn target(event: &AuditEvent) -> String {
    let Some(id) = &event.target_id else {
        return esc(&event.target_type);
    };
    let page = match event.target_type.as_str() {
        "integration" => Some("integrations"),
        "run" => Some("runs"),
        _ => None,
    };
    match page {
        Some(page) => format!(
            "{} <a href=\"/{page}/{}\"><code>{}</code></a>",
            esc(&event.target_type),
            url_part(id),
            esc(id)
        ),
        None => format!("{} <code>{}</code>", esc(&event.target_type), esc(id)),
    }
}

/// The details of an event: its non-secret metadata, as `key value` pairs.
fn details(metadata: &Value) -> String {
    metadata
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    format!("{key} {text}")
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn events_table(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "<p>No events.</p>".to_owned();
    }
    let mut html = String::from(
        "<div class=\"table\"><table><caption class=\"visually-hidden\">Audit events</caption>\
         <thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Action</th>\
         <th scope=\"col\">Target</th><th scope=\"col\">Actor</th><th scope=\"col\">Outcome</th>\
         <th scope=\"col\">Details</th><th scope=\"col\">Request</th></tr></thead><tbody>",
    );
    for event in events {
        let reason = event
            .outcome
            .reason()
            .map(|reason| format!(" <span class=\"muted\">{}</span>", esc(reason)))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td>\
             <td><code>{}</code></td></tr>",
            time(event.occurred_at),
            esc(&event.action),
            target(event),
            actor(event),
            badge(event.outcome.as_str()),
            reason,
            esc(&details(&event.metadata)),
            esc(event.request_id.as_deref().unwrap_or_default()),
        );
    }
    html.push_str("</tbody></table></div>");
    html
}

pub async fn list(
    State(state): State<AppState>,
    session: UiSession,
    values: QueryValues,
) -> Response {
    // Only the actions the trail knows: anything else would only ever list nothing.
    let action = values
        .get("action")
        .filter(|action| actions::ALL.contains(&action.as_str()));
    let target_id = values.get("target");
    let before = crate::api::event_cursor(values.get("before"))
        .ok()
        .flatten();
    let mut events = or_page!(
        session,
        state
            .runtime
            .db()
            .audit()
            .list(&AuditQuery {
                tenant_id: Some(session.tenant_id.clone()),
                action: action.clone(),
                target_type: None,
                target_id: target_id.clone(),
                since: None,
                before,
                limit: PAGE_SIZE + 1,
            })
            .await
    );
    let more = cut_page(&mut events, PAGE_SIZE as usize).then(|| {
        page_link(
            "/audit",
            &[
                ("before", events.last().map(|event| event.id.as_str())),
                ("action", action.as_deref()),
                ("target", target_id.as_deref()),
            ],
        )
    });
    let mut html = String::from(
        "<p class=\"muted\">Every change made to this tenant, through the API, here or with the \
         command line: who made it, when, and how it ended. Secrets are never recorded.</p>\
         <form method=\"get\" action=\"/audit\" class=\"filters\">",
    );
    if let Some(target_id) = &target_id {
        let _ = write!(
            html,
            "<input type=\"hidden\" name=\"target\" value=\"{}\">",
            esc(target_id)
        );
    }
    html.push_str(
        "<div class=\"field\"><label for=\"action\">Action</label>\
         <select id=\"action\" name=\"action\"><option value=\"\">any</option>",
    );
    for choice in actions::ALL {
        let _ = write!(
            html,
            "<option value=\"{0}\"{1}>{0}</option>",
            esc(choice),
            if action.as_deref() == Some(choice) {
                " selected"
            } else {
                ""
            }
        );
    }
    html.push_str("</select></div><button type=\"submit\">Filter</button></form>");
    if let Some(target_id) = &target_id {
        let _ = write!(
            html,
            "<p>Events on <code>{}</code> only. <a href=\"/audit\">All events</a></p>",
            esc(target_id)
        );
    }
    html.push_str(&events_table(&events));
    if let Some(more) = more {
        let _ = write!(html, "<p><a href=\"{}\">Older events</a></p>", esc(&more));
    }
    Page::signed_in("Audit log", &html, &session)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tributary_store::audit::{Actor, Outcome};

    use super::*;

    #[test]
    fn a_command_line_action_names_the_user_via_the_command_line() {
        let event = AuditEvent {
            id: "0193".into(),
            tenant_id: Some("t1".into()),
            occurred_at: 0,
            actor: Actor {
                kind: ActorKind::LocalCli,
                token_id: None,
                token_name: Some("ops<admin>".into()),
            },
            request_id: Some("0194".into()),
            action: "run.cancel".into(),
            target_type: "run".into(),
            target_id: Some("r1".into()),
            outcome: Outcome::Succeeded,
            metadata: json!({}),
        };
        let shown = actor(&event);
        assert!(shown.contains("via command line"), "{shown}");
        assert!(shown.contains("ops&lt;admin&gt;"), "escaped: {shown}");
    }
}
