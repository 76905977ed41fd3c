//! Resources: validating and normalising what a client sends, rendering what we answer
//! (`id`, `meta`, computed `groups` and member `$ref`s), projection by `attributes` /
//! `excludedAttributes`.

use serde_json::{Map, Value, json};

use crate::error::ScimError;
use crate::filter::{self, AttrPath};
use crate::schema::{self, ENTERPRISE, GROUP, USER};

/// The two resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    pub fn schema(self) -> &'static str {
        match self {
            Kind::User => USER,
            Kind::Group => GROUP,
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }

    /// The attribute that must be unique (case-insensitively).
    pub fn unique_attribute(self) -> &'static str {
        match self {
            Kind::User => "userName",
            Kind::Group => "displayName",
        }
    }
}

/// The patch engine's view of the schema.
pub struct Rules(pub Kind);

impl crate::patch::Attributes for Rules {
    fn multi_valued(&self, uri: Option<&str>, name: &str) -> bool {
        schema::attribute_kind(self.0.schema(), uri.is_some(), name).is_some_and(|(_, multi)| multi)
    }

    fn read_only(&self, uri: Option<&str>, name: &str) -> bool {
        if uri.is_some() {
            return false;
        }
        ["id", "meta"].iter().any(|n| n.eq_ignore_ascii_case(name))
            || (self.0 == Kind::User && name.eq_ignore_ascii_case("groups"))
    }

    fn is_extension(&self, uri: &str) -> bool {
        self.0 == Kind::User && uri.eq_ignore_ascii_case(ENTERPRISE)
    }

    fn check_path(&self, path: &filter::PatchPath) -> Result<(), String> {
        schema::check_patch_path(self.0.schema(), path)
    }
}

fn canonical_name(kind: Kind, extension: bool, name: &str) -> Option<String> {
    let rules = schema::attribute_rules(kind.schema());
    rules.into_iter().find_map(|(n, _, _)| {
        let bare = n.rsplit(':').next().unwrap_or(&n).to_owned();
        let is_ext = n.contains(':');
        (is_ext == extension && bare.eq_ignore_ascii_case(name)).then_some(bare)
    })
}

/// Checks a value against its attribute's type; booleans sent as "true"/"false" (Entra ID) are
/// converted.
fn check_type(kind: &str, multi: bool, name: &str, value: Value) -> Result<Value, ScimError> {
    let invalid = || ScimError::invalid_value(format!("{name} has the wrong type"));
    if value.is_null() {
        return Ok(value);
    }
    if multi {
        let Value::Array(items) = value else {
            return Err(invalid());
        };
        let items = items
            .into_iter()
            .map(|item| check_type(kind, false, name, item))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(items));
    }
    match (kind, value) {
        ("boolean", Value::Bool(b)) => Ok(Value::Bool(b)),
        ("boolean", Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        ("boolean", Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        ("complex", Value::Object(map)) => {
            let mut map = map;
            // A boolean `primary` may also arrive as a string.
            if let Some(key) = map
                .keys()
                .find(|k| k.eq_ignore_ascii_case("primary"))
                .cloned()
            {
                let primary = map.remove(&key).unwrap_or(Value::Null);
                map.insert(
                    "primary".into(),
                    check_type("boolean", false, "primary", primary)?,
                );
            }
            Ok(Value::Object(map))
        }
        // Entra ID sends the Enterprise User manager as its id alone.
        ("complex", Value::String(s)) if name == "manager" => Ok(json!({"value": s})),
        ("string" | "reference" | "binary" | "dateTime", Value::String(s)) => Ok(Value::String(s)),
        _ => Err(invalid()),
    }
}

/// Validates and normalises a client's resource: required attributes, types, canonical
/// attribute names; read-only and unknown attributes and `password` (never stored) are dropped.
pub fn normalize(kind: Kind, body: &Value) -> Result<Value, ScimError> {
    let Value::Object(input) = body else {
        return Err(ScimError::invalid_syntax(
            "the resource must be a JSON object",
        ));
    };
    let schemas: Vec<String> = match filter::get_ci(body, "schemas") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ScimError::invalid_syntax("schemas must list URIs"))?,
        _ => return Err(ScimError::invalid_syntax("schemas is required")),
    };
    if !schemas
        .iter()
        .any(|s| s.eq_ignore_ascii_case(kind.schema()))
    {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must include {}",
            kind.schema()
        )));
    }
    let mut out = Map::new();
    let mut extension_present = false;
    for (key, value) in input {
        if ["schemas", "id", "meta", "password"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            continue;
        }
        if key.eq_ignore_ascii_case("externalId") {
            match value {
                Value::String(_) | Value::Null => {
                    if !value.is_null() {
                        out.insert("externalId".into(), value.clone());
                    }
                }
                _ => return Err(ScimError::invalid_value("externalId must be a string")),
            }
            continue;
        }
        if kind == Kind::User && key.eq_ignore_ascii_case(ENTERPRISE) {
            let Value::Object(fields) = value else {
                return Err(ScimError::invalid_value(
                    "the enterprise extension must be an object",
                ));
            };
            let mut ext = Map::new();
            for (name, v) in fields {
                let Some(canonical) = canonical_name(kind, true, name) else {
                    continue;
                };
                let (k, multi) = schema::attribute_kind(USER, true, &canonical).expect("known");
                let v = check_type(&k, multi, &canonical, v.clone())?;
                if !v.is_null() {
                    ext.insert(canonical, v);
                }
            }
            if !ext.is_empty() {
                extension_present = true;
                out.insert(ENTERPRISE.into(), Value::Object(ext));
            }
            continue;
        }
        let Some(canonical) = canonical_name(kind, false, key) else {
            continue;
        };
        if kind == Kind::User && canonical == "groups" {
            continue;
        }
        let (k, multi) = schema::attribute_kind(kind.schema(), false, &canonical).expect("known");
        let v = check_type(&k, multi, &canonical, value.clone())?;
        if !v.is_null() {
            out.insert(canonical, v);
        }
    }
    let unique = kind.unique_attribute();
    match out.get(unique) {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ScimError::invalid_value(format!("{unique} is required")));
        }
    }
    let mut schemas = vec![Value::String(kind.schema().into())];
    if extension_present {
        schemas.push(Value::String(ENTERPRISE.into()));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    Ok(Value::Object(out))
}

/// Refuses a normalised resource with two primary values in one multi-valued attribute: RFC
/// 7643 §2.4, the primary value "MUST appear no more than once". (A PATCH demotes the earlier
/// primary instead, see [`crate::patch::apply`].)
pub fn check_single_primary(body: &Value) -> Result<(), ScimError> {
    let Some(object) = body.as_object() else {
        return Ok(());
    };
    for (key, value) in object {
        let Some(items) = value.as_array() else {
            continue;
        };
        if items.iter().filter(|item| item["primary"] == true).count() > 1 {
            return Err(ScimError::invalid_value(format!(
                "more than one value of {key} is primary"
            )));
        }
    }
    Ok(())
}

/// The case-insensitive uniqueness key of a normalised resource.
pub fn unique_key(kind: Kind, body: &Value) -> String {
    body[kind.unique_attribute()]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

/// RFC 3339 (UTC, milliseconds) of a Unix ms time.
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The answer for a stored resource: its attributes, `id` and `meta`.
pub fn render(
    kind: Kind,
    stored: &tributary_store::scim::ScimResource,
    base: &str,
    extra: Option<(&str, Value)>,
) -> Value {
    let mut body = stored.body.clone();
    let object = body.as_object_mut().expect("stored resources are objects");
    object.insert("id".into(), Value::String(stored.id.clone()));
    if let Some((key, value)) = extra {
        object.insert(key.into(), value);
    }
    object.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": timestamp(stored.created_at),
            "lastModified": timestamp(stored.updated_at),
            "location": format!("{base}/{}/{}", kind.endpoint(), stored.id),
            "version": etag(stored.version),
        }),
    );
    body
}

/// Longest `attributes` / `excludedAttributes` list, in bytes.
pub const MAX_ATTRIBUTE_LIST_BYTES: usize = 8 * 1024;
/// Most paths in one `attributes` / `excludedAttributes` list.
pub const MAX_ATTRIBUTE_LIST_PATHS: usize = 128;

/// Parses `attributes` / `excludedAttributes` (comma-separated paths), at most
/// [`MAX_ATTRIBUTE_LIST_BYTES`] and [`MAX_ATTRIBUTE_LIST_PATHS`] paths.
pub fn parse_attribute_list(text: Option<&str>) -> Result<Vec<AttrPath>, ScimError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    if text.len() > MAX_ATTRIBUTE_LIST_BYTES {
        return Err(ScimError::invalid_value(format!(
            "an attribute list is longer than {MAX_ATTRIBUTE_LIST_BYTES} bytes"
        )));
    }
    if text.split(',').filter(|s| !s.trim().is_empty()).count() > MAX_ATTRIBUTE_LIST_PATHS {
        return Err(ScimError::invalid_value(format!(
            "an attribute list names more than {MAX_ATTRIBUTE_LIST_PATHS} paths"
        )));
    }
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.to_ascii_lowercase().starts_with("urn:")
                && (s.eq_ignore_ascii_case(ENTERPRISE)
                    || s.eq_ignore_ascii_case(USER)
                    || s.eq_ignore_ascii_case(GROUP))
            {
                // A whole schema: the extension object (or the core attributes).
                return Ok(AttrPath {
                    uri: None,
                    attr: s.to_owned(),
                    sub: None,
                });
            }
            filter::parse_attr_path(s).map_err(|e| ScimError::invalid_value(e.to_string()))
        })
        .collect()
}

fn always_returned(key: &str) -> bool {
    ["id", "schemas"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key))
}

/// The resource reduced to `attributes` (plus `id`, `schemas`), or without `excluded`.
pub fn project(resource: Value, attributes: &[AttrPath], excluded: &[AttrPath]) -> Value {
    let Value::Object(mut object) = resource else {
        return resource;
    };
    if !attributes.is_empty() {
        let mut kept = Map::new();
        for (key, value) in std::mem::take(&mut object) {
            if always_returned(&key) {
                kept.insert(key, value);
                continue;
            }
            let is_ext = key.to_ascii_lowercase().starts_with("urn:");
            if is_ext {
                // The extension object, whole or by attribute.
                if attributes
                    .iter()
                    .any(|p| p.uri.is_none() && p.attr.eq_ignore_ascii_case(&key))
                {
                    kept.insert(key, value);
                    continue;
                }
                let wanted: Vec<&AttrPath> = attributes
                    .iter()
                    .filter(|p| {
                        p.uri
                            .as_deref()
                            .is_some_and(|u| u.eq_ignore_ascii_case(&key))
                    })
                    .collect();
                if wanted.is_empty() {
                    continue;
                }
                let Value::Object(fields) = value else {
                    continue;
                };
                let reduced = reduce(fields, &wanted);
                if !reduced.is_empty() {
                    kept.insert(key, Value::Object(reduced));
                }
                continue;
            }
            let wanted: Vec<&AttrPath> = attributes
                .iter()
                .filter(|p| {
                    p.attr.eq_ignore_ascii_case(&key)
                        && p.uri
                            .as_deref()
                            .is_none_or(|u| !u.eq_ignore_ascii_case(ENTERPRISE))
                })
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let mut single = Map::new();
            single.insert(key.clone(), value);
            let reduced = reduce(single, &wanted);
            kept.extend(reduced);
        }
        object = kept;
    }
    for path in excluded {
        if always_returned(&path.attr) && path.uri.is_none() {
            continue;
        }
        let container = match &path.uri {
            Some(uri)
                if !uri
                    .to_ascii_lowercase()
                    .starts_with("urn:ietf:params:scim:schemas:core:") =>
            {
                match object.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(uri)) {
                    Some((_, Value::Object(map))) => map,
                    _ => continue,
                }
            }
            _ => &mut object,
        };
        let Some(key) = container
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&path.attr))
            .cloned()
        else {
            continue;
        };
        match &path.sub {
            None => {
                container.remove(&key);
            }
            Some(sub) => match container.get_mut(&key) {
                Some(Value::Object(map)) => {
                    map.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                }
                Some(Value::Array(items)) => {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        item.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                    }
                }
                _ => {}
            },
        }
    }
    list_returned_extensions(&mut object);
    Value::Object(object)
}

/// RFC 7643 §3: `schemas` names the schemas the answer is made of. An extension whose
/// attributes were all left out (by `attributes` / `excludedAttributes`) or that the resource
/// has none of is dropped from it, with its object if that is left empty.
fn list_returned_extensions(object: &mut Map<String, Value>) {
    object.retain(|key, value| {
        !(key.to_ascii_lowercase().starts_with("urn:") && is_empty_extension(value))
    });
    let returned: Vec<String> = object
        .keys()
        .filter(|key| key.to_ascii_lowercase().starts_with("urn:"))
        .cloned()
        .collect();
    if let Some(Value::Array(schemas)) = object.get_mut("schemas") {
        schemas.retain(|schema| {
            let Some(uri) = schema.as_str() else {
                return true;
            };
            let core = uri.eq_ignore_ascii_case(USER) || uri.eq_ignore_ascii_case(GROUP);
            core || returned.iter().any(|key| key.eq_ignore_ascii_case(uri))
        });
    }
}

fn is_empty_extension(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

/// Keeps the attributes of `fields` the paths name (whole, or only named sub-attributes).
fn reduce(fields: Map<String, Value>, wanted: &[&AttrPath]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in fields {
        let paths: Vec<&&AttrPath> = wanted
            .iter()
            .filter(|p| p.attr.eq_ignore_ascii_case(&key))
            .collect();
        if paths.is_empty() {
            continue;
        }
        if paths.iter().any(|p| p.sub.is_none()) {
            out.insert(key, value);
            continue;
        }
        let subs: Vec<&str> = paths.iter().filter_map(|p| p.sub.as_deref()).collect();
        let keep = |map: &Map<String, Value>| -> Map<String, Value> {
            map.iter()
                .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        match value {
            Value::Object(map) => {
                let kept = keep(&map);
                if !kept.is_empty() {
                    out.insert(key, Value::Object(kept));
                }
            }
            Value::Array(items) => {
                let kept: Vec<Value> = items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|m| Value::Object(keep(m)))
                    .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
                    .collect();
                if !kept.is_empty() {
                    out.insert(key, Value::Array(kept));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names_types_and_drops_read_only() {
        let body = json!({
            "schemas": [USER], "USERNAME": "bjensen", "active": "False", "password": "p",
            "groups": [{"value": "g"}], "id": "x", "unknown": 1,
            "emails": [{"value": "b@x", "primary": "true"}],
            ENTERPRISE: {"Department": "R&D", "manager": "m1"}
        });
        let out = normalize(Kind::User, &body).unwrap();
        assert_eq!(out["userName"], "bjensen");
        assert_eq!(out["active"], false);
        assert_eq!(out["emails"][0]["primary"], true);
        assert_eq!(out[ENTERPRISE]["department"], "R&D");
        assert_eq!(out[ENTERPRISE]["manager"], json!({"value": "m1"}));
        assert_eq!(out["schemas"], json!([USER, ENTERPRISE]));
        for gone in ["password", "groups", "id", "unknown"] {
            assert!(out.get(gone).is_none(), "{gone}");
        }
        assert_eq!(
            normalize(Kind::User, &json!({"schemas": [USER]}))
                .unwrap_err()
                .scim_type,
            Some("invalidValue")
        );
        assert_eq!(
            normalize(Kind::User, &json!({"userName": "a"}))
                .unwrap_err()
                .scim_type,
            Some("invalidSyntax")
        );
        assert_eq!(
            normalize(
                Kind::User,
                &json!({"schemas": [USER], "userName": "a", "active": 3})
            )
            .unwrap_err()
            .scim_type,
            Some("invalidValue")
        );
        assert_eq!(
            normalize(
                Kind::User,
                &json!({"schemas": [USER], "userName": "a", "emails": {"value": "x"}})
            )
            .unwrap_err()
            .scim_type,
            Some("invalidValue")
        );
    }

    #[test]
    fn projection() {
        let user = json!({"id": "1", "schemas": [USER], "userName": "a", "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@x", "type": "work"}], "meta": {"version": "W/\"1\""},
            ENTERPRISE: {"department": "d", "costCenter": "c"}});
        let only = |attrs: &str| {
            project(
                user.clone(),
                &parse_attribute_list(Some(attrs)).unwrap(),
                &[],
            )
        };
        assert_eq!(
            only("userName"),
            json!({"id": "1", "schemas": [USER], "userName": "a"})
        );
        assert_eq!(
            only("name.givenName,emails.value")["name"],
            json!({"givenName": "A"})
        );
        assert_eq!(only("emails.value")["emails"], json!([{"value": "a@x"}]));
        assert_eq!(
            only(&format!("{ENTERPRISE}:department"))[ENTERPRISE],
            json!({"department": "d"})
        );
        let without = project(
            user.clone(),
            &[],
            &parse_attribute_list(Some("name,emails.type,meta")).unwrap(),
        );
        assert!(without.get("name").is_none() && without.get("meta").is_none());
        assert_eq!(without["emails"], json!([{"value": "a@x"}]));
        // The extension is listed while some attribute of it is returned.
        let mut both = user.clone();
        both["schemas"] = json!([USER, ENTERPRISE]);
        let excluding = |attrs: &str| {
            project(
                both.clone(),
                &[],
                &parse_attribute_list(Some(attrs)).unwrap(),
            )
        };
        assert_eq!(
            excluding(&format!("{ENTERPRISE}:department"))["schemas"],
            json!([USER, ENTERPRISE])
        );
        let none = excluding(&format!("{ENTERPRISE}:department,{ENTERPRISE}:costCenter"));
        assert_eq!(none["schemas"], json!([USER]));
        assert!(none.get(ENTERPRISE).is_none());
    }
}
