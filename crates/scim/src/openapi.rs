//! The SCIM routes in the server's OpenAPI document. Their bodies are the RFC 7643 resources and
//! RFC 7644 messages (described by the endpoint's own `/Schemas`), so the document gives their
//! media type and statuses, not their attributes. They authenticate with the SCIM endpoint's
//! bearer secret, not an API token.

use serde_json::{Map, Value, json};

use crate::error::SCIM_JSON;
use crate::routes::{BASE_PATH, MAX_BODY_BYTES, MAX_URI_BYTES};

fn scim_content() -> Value {
    json!({SCIM_JSON: {"schema": {"type": "object"}}})
}

fn answer(description: &str) -> Value {
    json!({"description": description, "content": scim_content()})
}

fn operation(id: &str, summary: &str, path: &str, success: &[(&str, &str)], body: bool) -> Value {
    let mut responses = Map::new();
    for (status, description) in success {
        let response = if matches!(*status, "204" | "304") {
            json!({"description": description})
        } else {
            answer(description)
        };
        responses.insert((*status).to_owned(), response);
    }
    for (status, description) in [
        (
            "400",
            "Invalid request (scimType invalidFilter, invalidValue, invalidSyntax, invalidPath, noTarget or mutability)",
        ),
        (
            "401",
            "Missing or wrong bearer secret, or an unknown endpoint",
        ),
        ("403", "The integration is not connected"),
        ("404", "No such resource"),
        (
            "409",
            "The userName or displayName is taken (scimType uniqueness)",
        ),
        ("412", "If-Match does not match the resource's version"),
        (
            "429",
            "Too many failed authentications from this address; retry after `Retry-After` seconds",
        ),
    ] {
        responses.insert(status.to_owned(), answer(description));
    }
    responses.insert(
        "414".to_owned(),
        answer(&format!(
            "The request target is longer than {MAX_URI_BYTES} bytes"
        )),
    );
    if body {
        responses.insert(
            "413".to_owned(),
            answer(&format!(
                "The request body is larger than {MAX_BODY_BYTES} bytes"
            )),
        );
    }
    let parameters: Vec<Value> = path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}))
        .collect();
    let mut op = json!({
        "operationId": id,
        "summary": summary,
        "tags": ["scim"],
        "security": [{"bearer": []}],
        "parameters": parameters,
        "responses": responses,
    });
    if body {
        op["requestBody"] = json!({
            "required": true,
            "content": {SCIM_JSON: {"schema": {"type": "object"}}, "application/json": {"schema": {"type": "object"}}},
        });
    }
    op
}

/// The SCIM paths (absolute, with `{endpoint}`), to merge into the document's `paths`.
pub fn paths() -> Map<String, Value> {
    let ok = [("200", "The document or resource")];
    let list = [("200", "A ListResponse")];
    let mut paths = Map::new();
    let mut add = |suffix: &str, item: Value| {
        paths.insert(format!("{BASE_PATH}{suffix}"), item);
    };
    let p = |suffix: &str| format!("{BASE_PATH}{suffix}");
    add(
        "/ServiceProviderConfig",
        json!({"get": operation("scimServiceProviderConfig", "SCIM service provider configuration", &p(""), &ok, false)}),
    );
    add(
        "/ResourceTypes",
        json!({"get": operation("scimResourceTypes", "SCIM resource types", &p(""), &list, false)}),
    );
    add(
        "/ResourceTypes/{id}",
        json!({"get": operation("scimResourceType", "A SCIM resource type", &p("/ResourceTypes/{id}"), &ok, false)}),
    );
    add(
        "/Schemas",
        json!({"get": operation("scimSchemas", "SCIM schemas", &p(""), &list, false)}),
    );
    add(
        "/Schemas/{id}",
        json!({"get": operation("scimSchema", "A SCIM schema", &p("/Schemas/{id}"), &ok, false)}),
    );
    for (name, kind) in [("Users", "User"), ("Groups", "Group")] {
        let collection = p(&format!("/{name}"));
        let item = p(&format!("/{name}/{{id}}"));
        let mut list_op = operation(
            &format!("scimList{name}"),
            &format!("List or filter {name}"),
            &collection,
            &list,
            false,
        );
        list_op["parameters"]
            .as_array_mut()
            .expect("an array")
            .extend(["filter", "sortBy", "sortOrder", "startIndex", "count", "attributes", "excludedAttributes"].map(|q| {
                json!({"name": q, "in": "query", "required": false, "schema": {"type": "string"}})
            }));
        add(
            &format!("/{name}"),
            json!({
                "get": list_op,
                "post": operation(&format!("scimCreate{kind}"), &format!("Create a {kind}"), &collection, &[("201", "The created resource")], true),
            }),
        );
        add(
            &format!("/{name}/.search"),
            json!({
                "post": operation(&format!("scimSearch{name}"), &format!("Search {name} (SearchRequest)"), &collection, &list, true),
            }),
        );
        add(
            &format!("/{name}/{{id}}"),
            json!({
                "get": operation(&format!("scimGet{kind}"), &format!("Get a {kind}"), &item, &[("200", "The resource"), ("304", "Not modified (If-None-Match)")], false),
                "put": operation(&format!("scimReplace{kind}"), &format!("Replace a {kind}"), &item, &ok, true),
                "patch": operation(&format!("scimPatch{kind}"), &format!("Patch a {kind} (PatchOp)"), &item, &ok, true),
                "delete": operation(&format!("scimDelete{kind}"), &format!("Delete a {kind}"), &item, &[("204", "Deleted")], false),
            }),
        );
    }
    add(
        "/.search",
        json!({"post": operation("scimSearch", "Search Users and Groups (SearchRequest)", &p(""), &list, true)}),
    );
    paths
}
