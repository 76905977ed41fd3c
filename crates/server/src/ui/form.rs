//! Forms generated from JSON Schemas, and the submitted values turned back into JSON.
//!
//! A definition's user input, credential slots and operation configs are JSON Schemas derived
//! from Rust types (`tributary_core::schema`). The same schema draws the form (labels,
//! descriptions, required marks, enums as selects, booleans as checkboxes, secrets as password
//! inputs, defaults filled in) and reads the submission back into the JSON object the runtime
//! validates. Field names are JSON Pointers under a prefix (`input/orgUrl`, `cred/okta/apiToken`),
//! so a schema violation's path names its field directly.

use std::{collections::BTreeMap, fmt::Write};

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Number, Value};

use super::html::esc;

/// The largest form accepted (a pasted private key fits many times over).
const MAX_FORM_BYTES: usize = 256 * 1024;

/// A submitted `application/x-www-form-urlencoded` body; a repeated name keeps its last value.
#[derive(Debug, Default)]
pub struct FormData {
    pairs: Vec<(String, String)>,
}

impl FormData {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let bytes = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large").into_response()
            })?;
        let _ = state;
        let form = Self::parse(&bytes);
        // PostgreSQL cannot store U+0000 and SQLite can: refuse it on both alike, as the API does.
        if let Some((name, _)) = form
            .pairs
            .iter()
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            let shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
            return Err((
                StatusCode::BAD_REQUEST,
                format!("the form field `{shown}` has a NUL character; text may not contain NUL"),
            )
                .into_response());
        }
        Ok(form)
    }
}

impl FormData {
    fn parse(bytes: &Bytes) -> Self {
        Self {
            pairs: form_urlencoded::parse(bytes).into_owned().collect(),
        }
    }
}

/// Field errors by field name (`input/orgUrl`), and errors that belong to no one field.
#[derive(Debug, Default)]
pub struct FieldErrors {
    pub fields: BTreeMap<String, String>,
    pub general: Vec<String>,
}

impl FieldErrors {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    /// Files schema violations (JSON Pointer paths) under the fields of `prefix`.
    pub fn add_violations(
        &mut self,
        prefix: &str,
        violations: &[tributary_core::schema::Violation],
    ) {
        for violation in violations {
            if violation.path.is_empty() {
                // A missing required property is reported on the object: name the property.
                if let Some(property) = quoted(&violation.message) {
                    self.fields
                        .entry(format!("{prefix}/{property}"))
                        .or_insert_with(|| "This field is required.".to_owned());
                    continue;
                }
                self.general.push(violation.message.clone());
            } else {
                self.fields
                    .entry(format!("{prefix}{}", violation.path))
                    .or_insert_with(|| violation.message.clone());
            }
        }
    }

    /// The general errors as an alert list.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut html = String::from(
            "<div class=\"alert\" role=\"alert\"><p>Please fix the following:</p><ul>",
        );
        for message in &self.general {
            let _ = write!(html, "<li>{}</li>", esc(message));
        }
        if !self.fields.is_empty() {
            let _ = write!(
                html,
                "<li>{} field(s) below need attention.</li>",
                self.fields.len()
            );
        }
        html.push_str("</ul></div>");
        html
    }
}

fn quoted(message: &str) -> Option<&str> {
    let start = message.find('"')? + 1;
    let end = start + message[start..].find('"')?;
    Some(&message[start..end])
}

/// Follows `$ref` into `$defs` and unwraps optional (`T | null`) schemas.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..8 {
        if let Some(reference) = current.get("$ref").and_then(Value::as_str) {
            let target = reference
                .strip_prefix('#')
                .and_then(|pointer| root.pointer(pointer));
            match target {
                Some(target) => {
                    current = target;
                    continue;
                }
                None => return current,
            }
        }
        for combinator in ["anyOf", "oneOf"] {
            if let Some(options) = current.get(combinator).and_then(Value::as_array) {
                let non_null: Vec<&Value> = options
                    .iter()
                    .filter(|option| option.get("type").and_then(Value::as_str) != Some("null"))
                    .collect();
                if non_null.len() == 1 && options.len() == 2 {
                    current = non_null[0];
                    continue;
                }
            }
        }
        return current;
    }
    current
}

/// The names of the properties an object schema requires.
fn required_names(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The schema's type, ignoring `null` in a type list.
fn type_of(schema: &Value) -> &str {
    match schema.get("type") {
        Some(Value::String(kind)) => kind,
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("string"),
        _ if schema.get("properties").is_some() => "object",
        _ => "",
    }
}

/// The allowed values of an enum field, with a label each.
fn choices(schema: &Value) -> Option<Vec<(Value, String)>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .filter(|value| !value.is_null())
                .map(|value| (value.clone(), label_of_value(value)))
                .collect(),
        );
    }
    let options = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)?;
    let mut out = Vec::new();
    for option in options {
        let value = option
            .get("const")
            .cloned()
            .or_else(|| option.get("enum")?.as_array()?.first().cloned())?;
        let label = option
            .get("description")
            .and_then(Value::as_str)
            .map(|description| format!("{} ({description})", label_of_value(&value)))
            .unwrap_or_else(|| label_of_value(&value));
        out.push((value, label));
    }
    Some(out)
}

fn label_of_value(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `orgUrl` as `Org URL`.
pub fn humanize(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in name.chars() {
        if c == '_' || c == '-' {
            words.push(std::mem::take(&mut word));
        } else if c.is_uppercase() && !word.is_empty() {
            words.push(std::mem::take(&mut word));
            word.push(c);
        } else {
            word.push(c);
        }
    }
    words.push(word);
    let words: Vec<String> = words
        .into_iter()
        .filter(|w| !w.is_empty())
        .map(|w| match w.to_ascii_lowercase().as_str() {
            "url" | "id" | "api" | "cel" | "jwk" | "pem" | "json" | "sso" | "oauth" => {
                w.to_ascii_uppercase()
            }
            _ => w.to_ascii_lowercase(),
        })
        .collect();
    let mut text = words.join(" ");
    if let Some(first) = text.get(0..1) {
        text = first.to_ascii_uppercase() + &text[1..];
    }
    text
}

fn is_secret(schema: &Value) -> bool {
    schema.get("writeOnly").and_then(Value::as_bool) == Some(true)
        || schema.get("format").and_then(Value::as_str) == Some("password")
}

/// Secrets that are documents (private keys, key files) get a text area instead of one line.
fn is_multiline_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["key", "json", "pem", "certificate"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
        && !lower.ends_with("apikey")
}

fn field_id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Draws the fields of an object schema. `values` are what to show (a default, or what was
/// submitted; secrets are never shown back), `errors` are keyed by field name.
pub fn render_fields(
    root: &Value,
    schema: &Value,
    prefix: &str,
    values: &Value,
    errors: &FieldErrors,
    out: &mut String,
) {
    let schema = resolve(root, schema);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required = required_names(schema);
    for (property, property_schema) in properties {
        let name = format!("{prefix}/{property}");
        let property_schema_resolved = resolve(root, property_schema);
        render_field(
            root,
            property,
            &name,
            property_schema,
            property_schema_resolved,
            required.contains(&property.as_str()),
            values.get(property),
            errors,
            out,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn render_field(
    root: &Value,
    property: &str,
    name: &str,
    declared: &Value,
    schema: &Value,
    required: bool,
    value: Option<&Value>,
    errors: &FieldErrors,
    out: &mut String,
) {
    let id = field_id(name);
    let label = declared
        .get("title")
        .or_else(|| schema.get("title"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| humanize(property));
    let description = declared
        .get("description")
        .or_else(|| schema.get("description"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let default = declared
        .get("default")
        .or_else(|| schema.get("default"))
        .filter(|default| !default.is_null());
    let secret = is_secret(schema);
    let shown = if secret { None } else { value.or(default) };
    let error = errors.fields.get(name);
    let mut described = Vec::new();
    if !description.is_empty() {
        described.push(format!("{id}-help"));
    }
    if error.is_some() {
        described.push(format!("{id}-error"));
    }
    let aria = format!(
        "{}{}{}",
        if described.is_empty() {
            String::new()
        } else {
            format!(" aria-describedby=\"{}\"", described.join(" "))
        },
        if error.is_some() {
            " aria-invalid=\"true\""
        } else {
            ""
        },
        if required {
            " required aria-required=\"true\""
        } else {
            ""
        },
    );
    let kind = type_of(schema);
    if kind == "object" && schema.get("properties").is_some() {
        let _ = write!(out, "<fieldset><legend>{}</legend>", esc(&label));
        if !description.is_empty() {
            let _ = write!(out, "<small>{}</small>", esc(description));
        }
        render_fields(
            root,
            schema,
            name,
            value.unwrap_or(&Value::Null),
            errors,
            out,
        );
        out.push_str("</fieldset>");
        return;
    }
    out.push_str("<div class=\"field\">");
    let mark = if required {
        " <span class=\"required\" aria-hidden=\"true\">*</span>"
    } else {
        ""
    };
    // An optional yes/no without a default has three states (yes, no, the provider's default),
    // which a checkbox cannot show: it gets a select.
    let tri_state = kind == "boolean" && !required && default.is_none();
    if kind == "boolean" && !tri_state {
        let checked = shown.and_then(Value::as_bool).unwrap_or(false);
        // The hidden `false` goes first: an unticked box sends nothing, a ticked one overrides it.
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{n}\" value=\"false\">\
             <label class=\"check\"><input type=\"checkbox\" id=\"{id}\" name=\"{n}\" value=\"true\"{c}{aria_b}> {l}</label>",
            n = esc(name),
            c = if checked { " checked" } else { "" },
            aria_b = aria.replace(" required aria-required=\"true\"", ""),
            l = esc(&label),
        );
    } else {
        let _ = write!(out, "<label for=\"{id}\">{}{mark}</label>", esc(&label));
        if tri_state {
            let current = shown.and_then(Value::as_bool);
            let _ = write!(
                out,
                "<select id=\"{id}\" name=\"{}\"{aria}><option value=\"\">(default)</option>\
                 <option value=\"true\"{}>Yes</option><option value=\"false\"{}>No</option></select>",
                esc(name),
                if current == Some(true) {
                    " selected"
                } else {
                    ""
                },
                if current == Some(false) {
                    " selected"
                } else {
                    ""
                },
            );
        } else if let Some(options) = choices(schema) {
            let _ = write!(out, "<select id=\"{id}\" name=\"{}\"{aria}>", esc(name));
            if !required {
                out.push_str("<option value=\"\">(not set)</option>");
            }
            for (option, option_label) in options {
                let selected = shown == Some(&option);
                let _ = write!(
                    out,
                    "<option value=\"{}\"{}>{}</option>",
                    esc(&label_of_value(&option)),
                    if selected { " selected" } else { "" },
                    esc(&option_label)
                );
            }
            out.push_str("</select>");
        } else {
            match kind {
                "integer" | "number" => {
                    let text = shown.map(label_of_value).unwrap_or_default();
                    let mut bounds = String::new();
                    for (key, attribute) in [("minimum", "min"), ("maximum", "max")] {
                        if let Some(bound) = schema.get(key) {
                            let _ = write!(bounds, " {attribute}=\"{bound}\"");
                        }
                    }
                    let _ = write!(
                        out,
                        "<input id=\"{id}\" name=\"{}\" type=\"number\" step=\"{}\" value=\"{}\"{bounds}{aria}>",
                        esc(name),
                        if kind == "integer" { "1" } else { "any" },
                        esc(&text)
                    );
                }
                "array" => {
                    let text = shown
                        .and_then(Value::as_array)
                        .map(|items| {
                            items
                                .iter()
                                .map(label_of_value)
                                .collect::<Vec<_>>()
                                .join("\n")
                        })
                        .unwrap_or_default();
                    let _ = write!(
                        out,
                        "<textarea id=\"{id}\" name=\"{}\" rows=\"3\"{aria}>{}</textarea><small>One per line.</small>",
                        esc(name),
                        esc(&text)
                    );
                }
                "string" | "" => {
                    let text = shown.map(label_of_value).unwrap_or_default();
                    if secret && is_multiline_secret(property) {
                        let _ = write!(
                            out,
                            "<textarea id=\"{id}\" name=\"{}\" rows=\"6\" autocomplete=\"off\" spellcheck=\"false\" class=\"secret\"{aria}></textarea>",
                            esc(name)
                        );
                    } else {
                        let input_type = if secret { "password" } else { "text" };
                        let _ = write!(
                            out,
                            "<input id=\"{id}\" name=\"{}\" type=\"{input_type}\" value=\"{}\"{}{aria}>",
                            esc(name),
                            esc(&text),
                            if secret { " autocomplete=\"off\"" } else { "" }
                        );
                    }
                }
                _ => {
                    // Anything else (maps, mixed types) is typed as JSON.
                    let text = shown
                        .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
                        .unwrap_or_default();
                    let _ = write!(
                        out,
                        "<textarea id=\"{id}\" name=\"{}\" rows=\"4\" class=\"code\"{aria}>{}</textarea><small>JSON.</small>",
                        esc(name),
                        esc(&text)
                    );
                }
            }
        }
    }
    if !description.is_empty() {
        let _ = write!(out, "<small id=\"{id}-help\">{}</small>", esc(description));
    }
    if let Some(error) = error {
        let _ = write!(
            out,
            "<p class=\"field-error\" id=\"{id}-error\">{}</p>",
            esc(error)
        );
    }
    out.push_str("</div>");
}

/// Reads the fields of an object schema back from a form into a JSON object. Empty optional
/// fields are left out; values that cannot be read as their type are reported per field.
pub fn read_fields(
    root: &Value,
    schema: &Value,
    prefix: &str,
    form: &FormData,
    errors: &mut FieldErrors,
) -> Value {
    let schema = resolve(root, schema);
    let mut object = Map::new();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Value::Object(object);
    };
    let required = required_names(schema);
    for (property, property_schema) in properties {
        let name = format!("{prefix}/{property}");
        let property_schema = resolve(root, property_schema);
        let is_required = required.contains(&property.as_str());
        let kind = type_of(property_schema);
        if kind == "object" && property_schema.get("properties").is_some() {
            let nested = read_fields(root, property_schema, &name, form, errors);
            if is_required || nested.as_object().is_some_and(|map| !map.is_empty()) {
                object.insert(property.clone(), nested);
            }
            continue;
        }
        let raw = form.get(&name).unwrap_or_default();
        let text = if is_secret(property_schema) {
            raw.to_owned()
        } else {
            raw.trim().to_owned()
        };
        if text.is_empty() {
            if is_required {
                errors
                    .fields
                    .insert(name, "This field is required.".to_owned());
            }
            continue;
        }
        let value = if choices(property_schema).is_some() {
            choices(property_schema)
                .unwrap_or_default()
                .into_iter()
                .map(|(value, _)| value)
                .find(|value| label_of_value(value) == text)
                .ok_or("Choose one of the listed values.")
        } else {
            match kind {
                "boolean" => Ok(Value::Bool(text == "true")),
                "integer" => text
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| "Enter a whole number."),
                "number" => text
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or("Enter a number."),
                "array" => Ok(Value::Array(
                    text.lines()
                        .map(str::trim)
                        .filter(|line| !line.is_empty())
                        .map(|line| Value::String(line.to_owned()))
                        .collect(),
                )),
                "string" | "" => Ok(Value::String(text)),
                _ => serde_json::from_str(&text).map_err(|_| "Enter valid JSON."),
            }
        };
        match value {
            Ok(value) => {
                object.insert(property.clone(), value);
            }
            Err(message) => {
                errors.fields.insert(name, message.to_owned());
            }
        }
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> FormData {
        FormData {
            pairs: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[tokio::test]
    async fn a_nul_character_in_a_form_is_refused_with_400() {
        let submit = |body: &'static str| async move {
            let request = axum::http::Request::post("/")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(body))
                .unwrap();
            FormData::from_request(request, &()).await
        };
        let refused = submit("name=acme%00&input%2ForgUrl=x").await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let refused = submit("na%00me=acme").await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let accepted = submit("name=acme&input%2ForgUrl=x").await.unwrap();
        assert_eq!(accepted.get("name"), Some("acme"));
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "orgUrl": {"type": "string", "description": "The org URL."},
                "apiToken": {"type": "string", "writeOnly": true, "format": "password"},
                "pageSize": {"type": ["integer", "null"], "minimum": 1},
                "syncGroups": {"type": "boolean", "default": true},
                "search": {"type": ["string", "null"], "default": null},
                "includeBots": {"type": ["boolean", "null"], "default": null},
                "region": {"$ref": "#/$defs/Region"},
                "accounts": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["orgUrl", "apiToken"],
            "$defs": {"Region": {"type": "string", "enum": ["us", "eu"]}}
        })
    }

    #[test]
    fn fields_are_drawn_from_the_schema_without_showing_secrets_back() {
        let root = schema();
        let mut html = String::new();
        render_fields(
            &root,
            &root,
            "input",
            &json!({"orgUrl": "https://a<b", "apiToken": "s3cret"}),
            &FieldErrors::default(),
            &mut html,
        );
        assert!(html.contains("<label for=\"input-orgUrl\">Org URL"));
        assert!(html.contains("value=\"https://a&lt;b\""));
        assert!(html.contains("type=\"password\""));
        assert!(!html.contains("s3cret"));
        assert!(html.contains("<option value=\"eu\">eu</option>"));
        assert!(html.contains("type=\"number\" step=\"1\""));
        assert!(
            html.contains("checked"),
            "the default ticks the box: {html}"
        );
        assert!(
            html.contains("id=\"input-search\" name=\"input/search\" type=\"text\" value=\"\""),
            "a null default shows an empty field: {html}"
        );
        assert!(
            html.contains("<select id=\"input-includeBots\" name=\"input/includeBots\"><option value=\"\">(default)</option>"),
            "an optional yes/no without a default is a select: {html}"
        );
    }

    #[test]
    fn submitted_values_are_read_as_their_types_and_problems_named_per_field() {
        let root = schema();
        let mut errors = FieldErrors::default();
        let value = read_fields(
            &root,
            &root,
            "input",
            &form(&[
                ("input/orgUrl", " https://acme.okta.com "),
                ("input/apiToken", "tok"),
                ("input/pageSize", "50"),
                ("input/syncGroups", "false"),
                ("input/syncGroups", "true"),
                ("input/region", "eu"),
                ("input/accounts", "1\n\n2 \n"),
                ("input/search", ""),
                ("input/includeBots", ""),
            ]),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            value,
            json!({"orgUrl": "https://acme.okta.com", "apiToken": "tok", "pageSize": 50,
                   "syncGroups": true, "region": "eu", "accounts": ["1", "2"]})
        );

        let mut errors = FieldErrors::default();
        read_fields(
            &root,
            &root,
            "input",
            &form(&[("input/pageSize", "many"), ("input/region", "mars")]),
            &mut errors,
        );
        assert_eq!(errors.fields["input/orgUrl"], "This field is required.");
        assert_eq!(errors.fields["input/apiToken"], "This field is required.");
        assert_eq!(errors.fields["input/pageSize"], "Enter a whole number.");
        assert_eq!(
            errors.fields["input/region"],
            "Choose one of the listed values."
        );
    }

    #[test]
    fn names_read_as_words() {
        assert_eq!(humanize("orgUrl"), "Org URL");
        assert_eq!(humanize("client_id"), "Client ID");
        assert_eq!(humanize("privateKeyJwk"), "Private key JWK");
    }
}
