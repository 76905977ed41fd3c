//! The OpenAPI 3.1 document served at `/openapi.json`, built from the API's route table (every
//! `/v1` route, with its parameters, body and answers as JSON Schema 2020-12 from the same types
//! the handlers use) plus the fixed system routes (health, metrics, the OAuth callback, webhook
//! intake).

use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use crate::api::{Access, Endpoint, ErrorBody, endpoints};

/// Error statuses every authenticated route may answer, with why.
const AUTHENTICATED_ERRORS: &[(u16, &str)] = &[
    (
        400,
        "Malformed JSON, wrong types, unknown fields or bad parameters",
    ),
    (401, "Missing, unknown, revoked or expired API token"),
    (
        403,
        "The token may not call this route (operator versus tenant)",
    ),
    (404, "No such resource for the calling tenant"),
    (
        409,
        "Conflicts with the current state (a taken name, an integration needing re-auth)",
    ),
    (410, "An expired single-use item"),
    (413, "The body is too large"),
    (415, "The body is not JSON"),
    (
        422,
        "Valid JSON that the definition or the provider refused (the message says why)",
    ),
    (
        429,
        "Too many requests; retry after the `Retry-After` seconds",
    ),
];

fn generator() -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    settings.into_generator()
}

fn schema_ref<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    generator.subschema_for::<T>().to_value()
}

/// `Option<T>` makes `T | null`; a query parameter is absent instead, so null is removed.
fn without_null(mut schema: Value) -> Value {
    if let Some(types) = schema.get("type").and_then(Value::as_array) {
        let kept: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        schema["type"] = if kept.len() == 1 {
            kept[0].clone()
        } else {
            Value::Array(kept)
        };
    }
    let any_of = schema
        .get("anyOf")
        .and_then(Value::as_array)
        .map(|variants| {
            variants
                .iter()
                .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                .cloned()
                .collect::<Vec<_>>()
        });
    if let Some(mut variants) = any_of {
        if variants.len() == 1 {
            let only = variants.remove(0);
            let object = schema
                .as_object_mut()
                .expect("a schema with anyOf is an object");
            object.remove("anyOf");
            if let Value::Object(fields) = only {
                object.extend(fields);
            }
        } else {
            schema["anyOf"] = Value::Array(variants);
        }
    }
    if let Some(object) = schema.as_object_mut() {
        object.remove("default");
    }
    schema
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": {"type": "string", "minLength": 1},
            })
        })
        .collect()
}

fn query_parameters(endpoint: &Endpoint, generator: &mut SchemaGenerator) -> Vec<Value> {
    let Some(query) = endpoint.query else {
        return Vec::new();
    };
    let schema = query(generator).to_value();
    let object = match schema.get("$ref").and_then(Value::as_str) {
        // The query type's own schema lives in the definitions; parameters are inlined.
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            generator
                .definitions()
                .get(name)
                .cloned()
                .unwrap_or(Value::Null)
        }
        None => schema,
    };
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    object
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| {
                    let mut parameter = json!({
                        "name": name,
                        "in": "query",
                        "required": required.contains(&name.as_str()),
                        "schema": without_null(property.clone()),
                    });
                    if let Some(description) = property.get("description") {
                        parameter["description"] = description.clone();
                    }
                    parameter
                })
                .collect()
        })
        .unwrap_or_default()
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn operation(endpoint: &Endpoint, generator: &mut SchemaGenerator, error: &Value) -> Value {
    let mut parameters = path_parameters(endpoint.path);
    parameters.extend(query_parameters(endpoint, generator));
    let mut responses = Map::new();
    for (status, description, body) in
        std::iter::once(&endpoint.success).chain(endpoint.also.iter())
    {
        let mut response = json!({"description": description});
        if let Some(body) = body {
            let schema = body(generator).to_value();
            response["content"] = if endpoint.success_media == "application/json" {
                json_content(schema)
            } else {
                json!({endpoint.success_media: {"schema": {"type": "string"}}})
            };
        }
        responses.insert(status.to_string(), response);
    }
    if endpoint.access != Access::Public {
        for (status, description) in AUTHENTICATED_ERRORS {
            responses.insert(
                status.to_string(),
                json!({"description": description, "content": json_content(error.clone())}),
            );
        }
    }
    let mut operation = json!({
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": parameters,
        "responses": responses,
        "security": if endpoint.access == Access::Public { json!([]) } else { json!([{"bearer": []}]) },
    });
    if let Some(body) = endpoint.body {
        operation["requestBody"] = json!({
            "required": true,
            "content": json_content(body(generator).to_value()),
        });
    }
    operation
}

/// The system routes, which are not part of the `/v1` table: their answers are not all JSON.
fn system_paths(error: &Value) -> Value {
    let error_response = |description: &str| json!({"description": description, "content": json_content(error.clone())});
    let intake = |operation_id: &str, summary: &str, params: Vec<Value>| {
        let responses = json!({
            "200": {
                "description": "Accepted (or a provider handshake answered)",
                "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "text/plain": {"schema": {"type": "string"}},
                },
            },
            "401": error_response("The signature or token did not verify"),
            "404": error_response("No such endpoint"),
            "413": error_response("The body is too large"),
            "429": error_response("Too many requests for this endpoint"),
            "431": error_response("The headers are too large"),
            "503": error_response("The delivery could not be stored; the provider should retry"),
        });
        let op = |method: &str| {
            json!({
                "operationId": format!("{operation_id}{method}"),
                "summary": summary,
                "tags": ["webhook intake"],
                "parameters": params,
                "security": [],
                "requestBody": {
                    "required": false,
                    "content": {"*/*": {"schema": {"type": "string"}}},
                },
                "responses": responses,
            })
        };
        json!({"post": op("Post"), "get": op("Get")})
    };
    let text = |description: &str| json!({"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}});
    // The process's own routes: no token, no parameters.
    let system = |operation_id: &str, summary: &str, responses: Value| {
        json!({"get": {
            "operationId": operation_id, "summary": summary, "tags": ["system"],
            "security": [], "responses": responses,
        }})
    };
    json!({
        "/healthz": system("health", "The process is up", json!({"200": text("ok")})),
        "/readyz": system(
            "ready",
            "The database answers",
            json!({"200": text("ready"), "503": text("database unavailable")}),
        ),
        "/metrics": system(
            "metrics",
            "Prometheus metrics",
            json!({"200": text("Prometheus text exposition")}),
        ),
        "/openapi.json": system(
            "openapi",
            "This document",
            json!({"200": {"description": "OpenAPI 3.1", "content": json_content(json!({"type": "object"}))}}),
        ),
        "/v1/auth/callback": {"get": {
            "operationId": "authCallback",
            "summary": "Where providers send the browser back after an OAuth or app-install consent",
            "tags": ["integrations"],
            "security": [],
            "parameters": [
                {"name": "state", "in": "query", "required": false, "schema": {"type": "string"}},
                {"name": "code", "in": "query", "required": false, "schema": {"type": "string"}},
                {"name": "error", "in": "query", "required": false, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "Connected", "content": {"text/html": {"schema": {"type": "string"}}}},
                "303": {"description": "Connected or failed; back to the page that started the flow"},
                "400": {"description": "The flow failed", "content": {"text/html": {"schema": {"type": "string"}}}},
            },
        }},
        "/v1/webhooks/{endpoint_id}": intake(
            "receiveWebhook",
            "Receive a provider's webhook delivery for one integration's endpoint",
            path_parameters("/v1/webhooks/{endpoint_id}"),
        ),
        "/v1/webhooks/apps/{definition_id}/{webhook}": intake(
            "receiveAppWebhook",
            "Receive an app-level webhook delivery (routed to the installation's integration)",
            path_parameters("/v1/webhooks/apps/{definition_id}/{webhook}"),
        ),
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut generator = generator();
    let error = schema_ref::<ErrorBody>(&mut generator);
    let mut paths = match system_paths(&error) {
        Value::Object(paths) => paths,
        _ => Map::new(),
    };
    paths.extend(tributary_scim::openapi::paths());
    for endpoint in endpoints() {
        let operation = operation(&endpoint, &mut generator, &error);
        let item = paths
            .entry(endpoint.path.to_owned())
            .or_insert_with(|| json!({}));
        item[endpoint.method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tributary API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Connect tenants' third-party providers, run their operations and read \
                what was ingested. Authenticate with `Authorization: Bearer <API token>`: the \
                operator token manages tenants, a tenant token everything else.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}
