//! The catalog: every active, visible definition a tenant can connect.

use std::fmt::Write;

use axum::{extract::State, response::Response};

use super::{
    html::{Page, esc, url_part},
    session::UiSession,
};
use crate::AppState;

pub async fn list(State(state): State<AppState>, session: UiSession) -> Response {
    let mut definitions: Vec<_> = state
        .runtime
        .registry()
        .definitions()
        .filter(|definition| {
            definition.definition.spec.visible && definition.definition.spec.active
        })
        .collect();
    definitions.sort_by(|a, b| {
        a.definition
            .spec
            .display_name
            .cmp(&b.definition.spec.display_name)
    });
    let mut html = String::from("<ul class=\"cards\">");
    for definition in definitions {
        let spec = &definition.definition.spec;
        let initial: String = spec.display_name.chars().take(1).collect();
        let logo = if spec.logo_url.is_empty() {
            format!(
                "<span class=\"logo\" aria-hidden=\"true\">{}</span>",
                esc(&initial)
            )
        } else {
            format!(
                "<img class=\"logo\" src=\"{}\" alt=\"\" width=\"40\" height=\"40\" loading=\"lazy\">",
                esc(&spec.logo_url)
            )
        };
        let tags: String = spec
            .tags
            .iter()
            .map(|tag| format!("<li>{}</li>", esc(tag)))
            .collect();
        let docs = if spec.docs_url.is_empty() {
            String::new()
        } else {
            format!(
                " <a href=\"{}\" rel=\"noopener noreferrer\" target=\"_blank\">Docs<span class=\"visually-hidden\"> for {}</span></a>",
                esc(&spec.docs_url),
                esc(&spec.display_name)
            )
        };
        let _ = write!(
            html,
            "<li class=\"card\" data-definition=\"{id}\">{logo}<h2>{name}</h2>\
             <p class=\"muted\">{category}</p><p>{description}</p><ul class=\"tags\" aria-label=\"Tags\">{tags}</ul>\
             <p><a class=\"button\" href=\"/catalog/{id_url}/connect\">Connect<span class=\"visually-hidden\"> {name}</span></a>{docs}</p></li>",
            id = esc(spec.id),
            id_url = url_part(spec.id),
            name = esc(&spec.display_name),
            category = esc(&spec.category),
            description = esc(&spec.description),
        );
    }
    html.push_str("</ul>");
    Page::signed_in("Catalog", &html, &session)
}
