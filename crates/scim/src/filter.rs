//! SCIM filters (RFC 7644 §3.4.2.2) and attribute paths: a hand-written parser and an evaluator
//! over resources as JSON. Attribute names are case-insensitive; string comparisons are too,
//! except for the case-exact attributes (`id`, `externalId`, `meta.version`, `$ref`). The parser
//! ([`parse`]) is bounded: see its limits.

mod parse;

use std::cmp::Ordering;

use serde_json::Value;

pub use parse::{
    MAX_ATTR_PATH_BYTES, MAX_FILTER_BYTES, MAX_FILTER_DEPTH, MAX_FILTER_TERMS,
    MAX_PATCH_PATH_BYTES, parse_attr_path, parse_filter, parse_patch_path,
};

/// An attribute path: an optional schema URI, an attribute and an optional sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub uri: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A parsed filter. `and` and `or` chains are flat lists, so a long chain is a wide tree, not a
/// deep one; the parser opens at most [`MAX_FILTER_DEPTH`] groups, so every tree it builds is
/// shallow and recursing over one (matching, cloning, dropping) is bounded.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every term holds (two or more terms).
    And(Vec<Filter>),
    /// Some term holds (two or more terms).
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, CompareOp, Value),
    /// `emails[type eq "work"]`, optionally followed by `.value` (then the sub-attribute of the
    /// matching elements must satisfy nothing more than being the selected one).
    ValuePath(AttrPath, Box<Filter>),
}

/// A PATCH path: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter.
    pub sub: Option<String>,
}

/// Why a filter or path does not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError(pub String);

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The member of `object` named `name`, case-insensitively.
pub fn get_ci<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The object an attribute path starts from: the resource, or its extension object.
pub fn base_of<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    match &path.uri {
        Some(uri) if get_ci(resource, uri).is_some() => get_ci(resource, uri),
        Some(uri) if is_core_uri(uri) => Some(resource),
        Some(_) => None,
        None => Some(resource),
    }
}

fn is_core_uri(uri: &str) -> bool {
    uri.to_ascii_lowercase()
        .starts_with("urn:ietf:params:scim:schemas:core:2.0:")
}

fn case_exact(path: &AttrPath) -> bool {
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    matches!(attr.as_str(), "id" | "externalid")
        || sub.as_deref() == Some("$ref")
        || (attr == "meta" && sub.as_deref() == Some("version"))
}

/// The values an attribute path selects in `resource` (flattened over multi-valued attributes).
pub fn select<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(base) = base_of(resource, path) else {
        return Vec::new();
    };
    let Some(value) = get_ci(base, &path.attr) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    match &path.sub {
        Some(sub) => items
            .into_iter()
            .filter_map(|item| get_ci(item, sub))
            .flat_map(|v| match v {
                Value::Array(inner) => inner.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect(),
        // A complex multi-valued attribute compares through its `value` sub-attribute.
        None => items
            .into_iter()
            .map(|item| {
                if item.is_object() {
                    get_ci(item, "value").unwrap_or(item)
                } else {
                    item
                }
            })
            .collect(),
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn as_instant(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(text).ok()
}

fn compare_one(actual: &Value, op: CompareOp, expected: &Value, exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = if exact {
                (a.clone(), e.clone())
            } else {
                (a.to_lowercase(), e.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                _ => {
                    let ordering = match (as_instant(&a), as_instant(&e)) {
                        (Some(a), Some(e)) => a.cmp(&e),
                        _ => a.cmp(&e),
                    };
                    ordered(ordering, op)
                }
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            let (a, e) = (a.as_f64().unwrap_or(0.0), e.as_f64().unwrap_or(0.0));
            match a.partial_cmp(&e) {
                Some(ordering) => match op {
                    CompareOp::Eq => ordering == Ordering::Equal,
                    CompareOp::Ne => ordering != Ordering::Equal,
                    CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
                    _ => ordered(ordering, op),
                },
                None => false,
            }
        }
        (Value::Bool(a), Value::Bool(e)) => match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            _ => false,
        },
        (_, Value::Null) => match op {
            CompareOp::Eq => !present(actual),
            CompareOp::Ne => present(actual),
            _ => false,
        },
        _ => op == CompareOp::Ne,
    }
}

fn ordered(ordering: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        _ => false,
    }
}

/// Whether `resource` (or an element of a multi-valued attribute, inside a value filter)
/// satisfies `filter`.
pub fn matches(filter: &Filter, resource: &Value) -> bool {
    match filter {
        Filter::And(terms) => terms.iter().all(|term| matches(term, resource)),
        Filter::Or(terms) => terms.iter().any(|term| matches(term, resource)),
        Filter::Not(inner) => !matches(inner, resource),
        Filter::Present(path) => select(resource, path).into_iter().any(present),
        Filter::Compare(path, op, expected) => {
            let values = select(resource, path);
            let exact = case_exact(path);
            if *op == CompareOp::Ne {
                // `ne` holds when no value equals the operand (an absent attribute included).
                !values
                    .iter()
                    .any(|v| compare_one(v, CompareOp::Eq, expected, exact))
            } else if expected.is_null() && *op == CompareOp::Eq {
                !values.into_iter().any(present)
            } else {
                values
                    .into_iter()
                    .any(|v| compare_one(v, *op, expected, exact))
            }
        }
        Filter::ValuePath(path, inner) => {
            let Some(base) = base_of(resource, path) else {
                return false;
            };
            match get_ci(base, &path.attr) {
                Some(Value::Array(items)) => items.iter().any(|item| matches(inner, item)),
                Some(item @ Value::Object(_)) => matches(inner, item),
                _ => false,
            }
        }
    }
}

/// Orders two resources by the value at `path` (missing values last).
pub fn compare_by(a: &Value, b: &Value, path: &AttrPath) -> Ordering {
    let key = |resource: &Value| -> Option<String> {
        select(resource, path).first().map(|value| match value {
            Value::String(s) if case_exact(path) => s.clone(),
            Value::String(s) => s.to_lowercase(),
            other => other.to_string(),
        })
    };
    match (key(a), key(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "ABC", "userName": "Bjensen@example.com", "active": true,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@home.example", "type": "home"}],
            "meta": {"created": "2026-01-02T03:04:05Z", "lastModified": "2026-02-01T00:00:00Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984", "manager": {"value": "M1"}}
        })
    }

    fn check(filter: &str) -> bool {
        matches(&parse_filter(filter).unwrap(), &user())
    }

    #[test]
    fn operators() {
        assert!(check(r#"userName eq "bjensen@EXAMPLE.com""#));
        assert!(!check(r#"id eq "abc""#));
        assert!(check(r#"id eq "ABC""#));
        assert!(check(r#"userName ne "x""#));
        assert!(check(r#"name.familyName co "ense""#));
        assert!(check(r#"userName sw "bj""#));
        assert!(check(r#"userName ew "example.com""#));
        assert!(!check("title pr"));
        assert!(check("name.givenName pr"));
        assert!(check("active eq true"));
        assert!(check(r#"meta.lastModified gt "2026-01-31T23:00:00Z""#));
        assert!(check(r#"meta.created le "2026-01-02T03:04:05+00:00""#));
        assert!(!check(r#"meta.created lt "2026-01-02T03:04:05Z""#));
        assert!(check(r#"meta.created ge "2025-12-31T00:00:00-05:00""#));
    }

    #[test]
    fn logic_and_value_paths() {
        assert!(check(
            r#"emails[type eq "work" and value co "@example.com"]"#
        ));
        assert!(!check(r#"emails[type eq "other"]"#));
        assert!(check(
            r#"not (userName eq "x") and (active eq false or name.givenName sw "B")"#
        ));
        assert!(check(r#"emails.value eq "babs@home.example""#));
        assert!(check(r#"emails[type eq "work"].value ew "example.com""#));
        assert!(!check(r#"emails[type eq "home"].value ew "example.com""#));
        assert!(check(
            r#"emails[type eq "home"].value pr and active eq true"#
        ));
        assert!(check(r#"emails eq "babs@home.example""#));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
        ));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "M1""#
        ));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#
        ));
    }

    #[test]
    fn invalid_filters() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName xx "a""#,
            r#"userName eq "a" and"#,
            r#"(userName eq "a""#,
            r#"emails[type eq "work""#,
            "active gt true",
            r#"userName eq "unterminated"#,
            "userName co 1",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patch_paths() {
        let path = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(path.attr.attr, "emails");
        assert_eq!(path.sub.as_deref(), Some("value"));
        assert!(path.filter.is_some());
        let path = parse_patch_path("name.givenName").unwrap();
        assert_eq!(path.attr.sub.as_deref(), Some("givenName"));
        let path = parse_patch_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert!(path.sub.is_none());
        assert!(parse_patch_path("emails[type eq]").is_err());
    }
}
