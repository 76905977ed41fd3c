//! The PATCH engine (RFC 7644 §3.5.2): `add`, `replace` and `remove`, with or without a path,
//! paths into sub-attributes, schema-qualified paths and value filters (`emails[type eq
//! "work"].value`, `members[value eq "..."]`), applied to a resource as JSON.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::filter::{self, AttrPath, CompareOp, Filter, PatchPath};

/// Why an operation cannot be applied; `scim_type` is the SCIM error type.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchError {
    pub scim_type: &'static str,
    pub detail: String,
}

fn error(scim_type: &'static str, detail: impl Into<String>) -> PatchError {
    PatchError {
        scim_type,
        detail: detail.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

/// One parsed operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Parses the `Operations` of a PatchOp message.
pub fn parse_operations(body: &Value) -> Result<Vec<Operation>, PatchError> {
    let schemas_ok = body
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|s| s == crate::schema::PATCH_OP));
    if !schemas_ok {
        return Err(error("invalidSyntax", "the body is not a PatchOp message"));
    }
    let operations = filter::get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| error("invalidSyntax", "Operations must be an array"))?;
    if operations.is_empty() {
        return Err(error("invalidSyntax", "Operations is empty"));
    }
    operations
        .iter()
        .map(|operation| {
            let op = match filter::get_ci(operation, "op").and_then(Value::as_str) {
                Some(op) if op.eq_ignore_ascii_case("add") => Op::Add,
                Some(op) if op.eq_ignore_ascii_case("replace") => Op::Replace,
                Some(op) if op.eq_ignore_ascii_case("remove") => Op::Remove,
                _ => return Err(error("invalidSyntax", "op must be add, replace or remove")),
            };
            let path = match filter::get_ci(operation, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(path)) if path.trim().is_empty() => None,
                Some(Value::String(path)) => Some(
                    filter::parse_patch_path(path)
                        .map_err(|e| error("invalidPath", e.to_string()))?,
                ),
                Some(_) => return Err(error("invalidPath", "path must be a string")),
            };
            let value = filter::get_ci(operation, "value").cloned();
            if op != Op::Remove && value.is_none() {
                return Err(error("invalidValue", "add and replace need a value"));
            }
            if op == Op::Remove && path.is_none() {
                return Err(error("noTarget", "remove needs a path"));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// Describes the attributes of the resource being patched.
pub trait Attributes {
    /// Whether the top-level attribute (of the core schema, or of the extension `uri`) is
    /// multi-valued.
    fn multi_valued(&self, uri: Option<&str>, name: &str) -> bool;
    /// Whether the attribute may not be written by a client.
    fn read_only(&self, uri: Option<&str>, name: &str) -> bool;
    /// Whether `uri` is a schema extension of the resource (a path naming a whole extension).
    fn is_extension(&self, uri: &str) -> bool;
    /// Whether a path names attributes of the resource; the error says what does not.
    fn check_path(&self, path: &PatchPath) -> Result<(), String>;
}

/// Applies `operations` in order to `resource`.
pub fn apply(
    resource: &mut Value,
    operations: &[Operation],
    attributes: &dyn Attributes,
) -> Result<(), PatchError> {
    for operation in operations {
        let primaries_before = primaries(resource);
        apply_one(resource, operation, attributes)?;
        if operation.op != Op::Remove {
            demote_earlier_primaries(resource, &primaries_before)?;
        }
    }
    Ok(())
}

/// Whether an element of a multi-valued attribute is its primary value (`"True"` counts: Entra
/// ID sends booleans as strings, converted when the resource is normalised).
fn is_primary(element: &Value) -> bool {
    match filter::get_ci(element, "primary") {
        Some(Value::Bool(primary)) => *primary,
        Some(Value::String(primary)) => primary.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The primary elements of the resource's multi-valued attributes, as (attribute, element
/// JSON) pairs.
fn primaries(resource: &Value) -> HashSet<(String, String)> {
    let Some(object) = resource.as_object() else {
        return HashSet::new();
    };
    object
        .iter()
        .filter_map(|(key, value)| Some((key, value.as_array()?)))
        .flat_map(|(key, items)| {
            items
                .iter()
                .filter(|item| is_primary(item))
                .map(move |item| (key.to_ascii_lowercase(), item.to_string()))
        })
        .collect()
}

/// RFC 7643 §2.4: the primary value "MUST appear no more than once". When an operation made a
/// value primary, the values that were primary before it are set `primary: false`; an
/// operation making two values of one attribute primary is refused. Attributes the operation
/// gave no new primary value are left as they are.
fn demote_earlier_primaries(
    resource: &mut Value,
    before: &HashSet<(String, String)>,
) -> Result<(), PatchError> {
    let Some(object) = resource.as_object_mut() else {
        return Ok(());
    };
    for (key, value) in object.iter_mut() {
        let Some(items) = value.as_array_mut() else {
            continue;
        };
        let lowered = key.to_ascii_lowercase();
        let primary: Vec<usize> = (0..items.len())
            .filter(|&i| is_primary(&items[i]))
            .collect();
        if primary.len() < 2 {
            continue;
        }
        let (new, earlier): (Vec<usize>, Vec<usize>) = primary
            .into_iter()
            .partition(|&i| !before.contains(&(lowered.clone(), items[i].to_string())));
        match new.len() {
            0 => continue,
            1 => {}
            _ => {
                return Err(error(
                    "invalidValue",
                    format!("more than one value of {key} is primary"),
                ));
            }
        }
        for i in earlier {
            if let Some(map) = items[i].as_object_mut() {
                remove_ci(map, "primary");
                map.insert("primary".into(), Value::Bool(false));
            }
        }
    }
    Ok(())
}

fn remove_ci(object: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let key = object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))?
        .clone();
    object.remove(&key)
}

fn entry_ci<'a>(object: &'a mut Map<String, Value>, name: &str) -> &'a mut Value {
    let key = object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned());
    object.entry(key).or_insert(Value::Null)
}

/// The object holding the attribute: the resource or (created if missing) its extension.
fn container<'a>(
    resource: &'a mut Value,
    path: &AttrPath,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let object = resource.as_object_mut()?;
    match &path.uri {
        Some(uri)
            if uri
                .to_ascii_lowercase()
                .starts_with("urn:ietf:params:scim:schemas:core:2.0:") =>
        {
            Some(object)
        }
        Some(uri) => {
            let exists = object.keys().any(|k| k.eq_ignore_ascii_case(uri));
            if !exists && !create {
                return None;
            }
            let slot = entry_ci(object, uri);
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot.as_object_mut()
        }
        None => Some(object),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Merges `value` into a multi-valued attribute: elements already present are not repeated.
/// Elements are compared by their JSON text (objects' keys are sorted, so equal elements have
/// the same text) through a set, so adding many members costs linear time, not quadratic.
fn append(slot: &mut Value, value: Value) {
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    let list = slot.as_array_mut().expect("an array");
    let mut present: HashSet<String> = list.iter().map(Value::to_string).collect();
    for item in items {
        if present.insert(item.to_string()) {
            list.push(item);
        }
    }
}

fn set_attribute(
    resource: &mut Value,
    path: &AttrPath,
    value: Value,
    op: Op,
    attributes: &dyn Attributes,
) -> Result<(), PatchError> {
    if path.uri.is_none()
        && path.sub.is_none()
        && path.attr.to_ascii_lowercase().starts_with("urn:")
    {
        return Err(error("invalidPath", "a schema URI is not an attribute"));
    }
    let uri = path.uri.as_deref().filter(|u| {
        !u.to_ascii_lowercase()
            .starts_with("urn:ietf:params:scim:schemas:core:2.0:")
    });
    if attributes.read_only(uri, &path.attr) {
        return Err(error("mutability", format!("{} is read-only", path.attr)));
    }
    let multi = attributes.multi_valued(uri, &path.attr);
    let object = container(resource, path, true)
        .ok_or_else(|| error("invalidPath", "the resource is not an object"))?;
    match &path.sub {
        Some(sub) => {
            let slot = entry_ci(object, &path.attr);
            match slot {
                Value::Array(items) => {
                    for item in items.iter_mut().filter(|i| i.is_object()) {
                        let map = item.as_object_mut().expect("an object");
                        remove_ci(map, sub);
                        map.insert(sub.clone(), value.clone());
                    }
                }
                _ => {
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    let map = slot.as_object_mut().expect("an object");
                    remove_ci(map, sub);
                    map.insert(sub.clone(), value);
                }
            }
        }
        None => {
            if multi && op == Op::Add {
                append(entry_ci(object, &path.attr), value);
            } else if !multi && value.is_object() {
                // A complex attribute: `add` and `replace` alike set the sub-attributes the
                // value names and keep the others (RFC 7644 §3.5.2.1, §3.5.2.3: "Sub-attributes
                // that are not specified in the value parameter are left unchanged").
                let slot = entry_ci(object, &path.attr);
                if let (Some(existing), Value::Object(new)) = (slot.as_object_mut(), &value) {
                    for (key, v) in new {
                        remove_ci(existing, key);
                        existing.insert(key.clone(), v.clone());
                    }
                } else {
                    *slot = value;
                }
            } else {
                let key = object
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(&path.attr))
                    .cloned()
                    .unwrap_or_else(|| path.attr.clone());
                let value = if multi && !value.is_array() && !value.is_null() {
                    Value::Array(vec![value])
                } else {
                    value
                };
                object.insert(key, value);
            }
        }
    }
    Ok(())
}

/// For a filter `attr eq "x"` (possibly and-ed), the element a write to a missing target creates.
fn seed_from_filter(filter: &Filter, seed: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::Compare(path, CompareOp::Eq, value) if path.uri.is_none() && path.sub.is_none() => {
            seed.insert(path.attr.clone(), value.clone());
            true
        }
        Filter::And(terms) => terms.iter().all(|term| seed_from_filter(term, seed)),
        _ => false,
    }
}

fn apply_one(
    resource: &mut Value,
    operation: &Operation,
    attributes: &dyn Attributes,
) -> Result<(), PatchError> {
    let Some(path) = &operation.path else {
        // No path: the value is a map of attributes (add merges, replace replaces).
        let Some(Value::Object(values)) = &operation.value else {
            return Err(error(
                "invalidValue",
                "without a path the value must be an object",
            ));
        };
        for (key, value) in values {
            if ["id", "meta", "schemas"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(key))
            {
                continue;
            }
            if attributes.is_extension(key) && value.is_object() {
                // An extension object: each of its attributes in turn.
                for (sub_key, sub_value) in value.as_object().expect("an object") {
                    let path = AttrPath {
                        uri: Some(key.clone()),
                        attr: sub_key.clone(),
                        sub: None,
                    };
                    set_attribute(resource, &path, sub_value.clone(), operation.op, attributes)?;
                }
                continue;
            }
            let path =
                filter::parse_attr_path(key).map_err(|e| error("invalidPath", e.to_string()))?;
            if attributes.read_only(path.uri.as_deref(), &path.attr) {
                continue;
            }
            set_attribute(resource, &path, value.clone(), operation.op, attributes)?;
        }
        return Ok(());
    };
    let value = operation.value.clone().unwrap_or(Value::Null);
    // A path naming a whole extension (`urn:...:enterprise:2.0:User`): its object.
    if let (None, None, Some(uri)) = (&path.filter, &path.attr.sub, &path.attr.uri) {
        let full = format!("{uri}:{}", path.attr.attr);
        if attributes.is_extension(&full) {
            let object = resource
                .as_object_mut()
                .ok_or_else(|| error("invalidPath", "the resource is not an object"))?;
            if operation.op != Op::Add {
                remove_ci(object, &full);
            }
            if operation.op == Op::Remove {
                return Ok(());
            }
            if !value.is_object() {
                return Err(error(
                    "invalidValue",
                    "an extension's value must be an object",
                ));
            }
            let mut values = Map::new();
            values.insert(full, value);
            let whole = Operation {
                op: operation.op,
                path: None,
                value: Some(Value::Object(values)),
            };
            return apply_one(resource, &whole, attributes);
        }
    }
    // A path naming no attribute would otherwise be a silent no-op (or a value dropped when
    // the resource is normalised).
    attributes
        .check_path(path)
        .map_err(|detail| error("invalidPath", detail))?;
    match (&path.filter, operation.op) {
        (None, Op::Remove) => {
            if attributes.read_only(path.attr.uri.as_deref(), &path.attr.attr) {
                return Err(error(
                    "mutability",
                    format!("{} is read-only", path.attr.attr),
                ));
            }
            let Some(object) = container(resource, &path.attr, false) else {
                return Ok(());
            };
            match &path.attr.sub {
                Some(sub) => {
                    if let Some(slot) = object
                        .iter_mut()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&path.attr.attr))
                        .map(|(_, v)| v)
                    {
                        match slot {
                            Value::Object(map) => {
                                remove_ci(map, sub);
                            }
                            Value::Array(items) => {
                                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                                    remove_ci(item, sub);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                None => match (
                    &value,
                    object
                        .iter_mut()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&path.attr.attr)),
                ) {
                    // `remove members` with a value: only the listed elements.
                    (Value::Array(listed), Some((_, Value::Array(items))))
                        if !listed.is_empty() =>
                    {
                        let listed: HashSet<String> = listed.iter().map(element_key).collect();
                        items.retain(|item| !listed.contains(&element_key(item)));
                    }
                    _ => {
                        remove_ci(object, &path.attr.attr);
                    }
                },
            }
            prune(resource, &path.attr);
            Ok(())
        }
        (None, op) => set_attribute(resource, &path.attr, value, op, attributes),
        (Some(value_filter), op) => {
            let object = container(resource, &path.attr, op != Op::Remove)
                .ok_or_else(|| error("noTarget", "no such attribute"))?;
            let slot = entry_ci(object, &path.attr.attr);
            if slot.is_null() {
                *slot = Value::Array(Vec::new());
            }
            let Value::Array(items) = slot else {
                return Err(error(
                    "invalidPath",
                    "a value filter needs a multi-valued attribute",
                ));
            };
            let hits: Vec<usize> = (0..items.len())
                .filter(|&i| filter::matches(value_filter, &items[i]))
                .collect();
            match op {
                Op::Remove => {
                    if hits.is_empty() {
                        return Ok(());
                    }
                    match &path.sub {
                        Some(sub) => {
                            for &i in &hits {
                                if let Some(map) = items[i].as_object_mut() {
                                    remove_ci(map, sub);
                                }
                            }
                        }
                        None => {
                            let hits: HashSet<usize> = hits.iter().copied().collect();
                            let mut index = 0;
                            items.retain(|_| {
                                let keep = !hits.contains(&index);
                                index += 1;
                                keep
                            });
                        }
                    }
                }
                Op::Add | Op::Replace => {
                    if hits.is_empty() && op == Op::Replace {
                        // RFC 7644 §3.5.2.3: "no record match was made" is a failure.
                        return Err(error("noTarget", "the value filter matched nothing"));
                    }
                    if hits.is_empty() {
                        // `add` through a filter matching nothing creates the element the
                        // filter describes: Entra ID adds `emails[type eq "work"].value` so
                        // (RFC 7644 leaves `add` with a value filter open; errata 8097).
                        let mut seed = Map::new();
                        if !seed_from_filter(value_filter, &mut seed) {
                            return Err(error("noTarget", "the value filter matched nothing"));
                        }
                        match (&path.sub, value) {
                            (Some(sub), value) => {
                                seed.insert(sub.clone(), value);
                            }
                            (None, Value::Object(fields)) => seed.extend(fields),
                            (None, _) => {
                                return Err(error("invalidValue", "the value must be an object"));
                            }
                        }
                        items.push(Value::Object(seed));
                    } else {
                        for &i in &hits {
                            let Some(map) = items[i].as_object_mut() else {
                                continue;
                            };
                            match (&path.sub, &value) {
                                (Some(sub), value) => {
                                    remove_ci(map, sub);
                                    map.insert(sub.clone(), value.clone());
                                }
                                (None, Value::Object(fields)) => {
                                    if op == Op::Replace {
                                        map.clear();
                                    }
                                    for (key, v) in fields {
                                        remove_ci(map, key);
                                        map.insert(key.clone(), v.clone());
                                    }
                                }
                                (None, _) => {
                                    return Err(error(
                                        "invalidValue",
                                        "the value must be an object",
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            prune(resource, &path.attr);
            Ok(())
        }
    }
}

/// What identifies a multi-valued element: its `value` when it has one, else the whole
/// element (two elements are the same when their keys are).
fn element_key(element: &Value) -> String {
    match filter::get_ci(element, "value") {
        Some(value) => format!("value {value}"),
        None => format!("element {element}"),
    }
}

/// Drops an attribute left empty (`[]`, `{}`) and an empty extension object.
fn prune(resource: &mut Value, path: &AttrPath) {
    if let Some(object) = container(resource, path, false) {
        let empty = object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&path.attr))
            .is_some_and(|(_, v)| is_empty(v));
        if empty {
            remove_ci(object, &path.attr);
        }
    }
    if let (Some(uri), Some(object)) = (&path.uri, resource.as_object_mut()) {
        let empty = object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(uri))
            .is_some_and(|(_, v)| is_empty(v));
        if empty {
            remove_ci(object, uri);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Rules;
    impl Attributes for Rules {
        fn multi_valued(&self, _uri: Option<&str>, name: &str) -> bool {
            ["emails", "members", "phoneNumbers"]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
        }
        fn read_only(&self, _uri: Option<&str>, name: &str) -> bool {
            ["id", "meta", "groups"]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
        }
        fn is_extension(&self, uri: &str) -> bool {
            uri.eq_ignore_ascii_case(crate::schema::ENTERPRISE)
        }
        fn check_path(&self, path: &PatchPath) -> Result<(), String> {
            // These tests patch Users and Groups.
            crate::schema::check_patch_path(crate::schema::USER, path)
                .or_else(|_| crate::schema::check_patch_path(crate::schema::GROUP, path))
        }
    }

    fn patch(resource: &mut Value, ops: Value) -> Result<(), PatchError> {
        let body = json!({"schemas": [crate::schema::PATCH_OP], "Operations": ops});
        apply(resource, &parse_operations(&body)?, &Rules)
    }

    #[test]
    fn add_replace_remove() {
        let mut user = json!({"userName": "a", "emails": [{"value": "a@x", "type": "work"}]});
        patch(&mut user, json!([
            {"op": "replace", "value": {"active": false, "name.givenName": "A"}},
            {"op": "Add", "path": "emails", "value": [{"value": "b@x", "type": "home"}]},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "c@x"},
            {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1"},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
        ])).unwrap();
        assert_eq!(user["active"], false);
        assert_eq!(user["name"]["givenName"], "A");
        assert_eq!(
            user["emails"],
            json!([{"value": "c@x", "type": "work"}, {"value": "b@x", "type": "home"}])
        );
        assert_eq!(
            user["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1"}])
        );
        assert_eq!(
            user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "R&D"
        );
        patch(&mut user, json!([
            {"op": "remove", "path": "emails[type eq \"home\"]"},
            {"op": "remove", "path": "name.givenName"},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
        ])).unwrap();
        assert_eq!(user["emails"], json!([{"value": "c@x", "type": "work"}]));
        assert!(user.get("name").is_none());
        assert!(
            user.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
                .is_none()
        );
        let ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        patch(
            &mut user,
            json!([{"op": "add", "path": ext, "value": {"division": "D", "costCenter": "C"}}]),
        )
        .unwrap();
        patch(
            &mut user,
            json!([{"op": "replace", "path": ext, "value": {"division": "E"}}]),
        )
        .unwrap();
        assert_eq!(user[ext], json!({"division": "E"}));
        patch(&mut user, json!([{"op": "remove", "path": ext}])).unwrap();
        assert!(user.get(ext).is_none());
    }

    #[test]
    fn members() {
        let mut group = json!({"displayName": "g", "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        patch(
            &mut group,
            json!([
                {"op": "add", "path": "members", "value": [{"value": "2"}, {"value": "4"}]},
                {"op": "remove", "path": "members[value eq \"1\"]"},
                {"op": "remove", "path": "members", "value": [{"value": "3"}]},
            ]),
        )
        .unwrap();
        assert_eq!(group["members"], json!([{"value": "2"}, {"value": "4"}]));
        patch(&mut group, json!([{"op": "remove", "path": "members"}])).unwrap();
        assert!(group.get("members").is_none());
    }

    /// Adding and removing many members costs linear time: with the quadratic way (each new
    /// element compared with every present one) these take minutes in a debug build.
    #[test]
    fn many_members_are_added_and_removed_in_linear_time() {
        let members = |range: std::ops::Range<usize>| -> Vec<Value> {
            range.map(|i| json!({"value": format!("u{i}")})).collect()
        };
        let started = std::time::Instant::now();
        let mut group = json!({"displayName": "g", "members": members(0..60_000)});
        patch(
            &mut group,
            json!([
                {"op": "add", "path": "members", "value": members(30_000..90_000)},
                {"op": "remove", "path": "members", "value": members(0..45_000)},
                {"op": "remove", "path": "members[value sw \"u8\"]"},
            ]),
        )
        .unwrap();
        let left = group["members"].as_array().unwrap();
        // u45000..u89999 without the 10,000 from u80000.
        assert_eq!(left.len(), 35_000);
        assert!(
            left.iter()
                .all(|m| !m["value"].as_str().unwrap().starts_with("u8"))
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn errors() {
        let mut user = json!({"userName": "a"});
        let e = patch(&mut user, json!([{"op": "remove"}])).unwrap_err();
        assert_eq!(e.scim_type, "noTarget");
        let e = patch(
            &mut user,
            json!([{"op": "replace", "path": "emails[type eq]", "value": 1}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, "invalidPath");
        let e = patch(
            &mut user,
            json!([{"op": "replace", "path": "emails[value co \"x\"].type", "value": "w"}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, "noTarget");
        // A filter `add` could seed from is no target for `replace` either.
        let e = patch(
            &mut user,
            json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "h@x"}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, "noTarget");
        let e = patch(
            &mut user,
            json!([{"op": "replace", "path": "id", "value": "x"}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, "mutability");
        for path in [
            "nosuch",
            "name.nosuch",
            "emails[nosuch eq \"x\"]",
            "emails[type eq \"x\"].nosuch",
        ] {
            let e = patch(&mut user, json!([{"op": "remove", "path": path}])).unwrap_err();
            assert_eq!(e.scim_type, "invalidPath", "{path}");
        }
        let e = patch(&mut user, json!([{"op": "jump", "path": "id"}])).unwrap_err();
        assert_eq!(e.scim_type, "invalidSyntax");
    }
}
