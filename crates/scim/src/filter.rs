//! SCIM filters (RFC 7644 §3.4.2.2) and attribute paths: a hand-written parser and an evaluator
//! over resources as JSON. Attribute names are case-insensitive; string comparisons are too,
//! except for the case-exact attributes (`id`, `externalId`, `meta.version`, `$ref`).

use std::cmp::Ordering;

use serde_json::Value;

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

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
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

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Value(Value),
    Open,
    Close,
    LBracket,
    RBracket,
    /// `.sub` right after `]`.
    Sub(String),
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '$')
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '[' => {
                tokens.push(Token::LBracket);
                i += 1;
            }
            ']' => {
                tokens.push(Token::RBracket);
                i += 1;
                if chars.get(i) == Some(&'.') {
                    let start = i + 1;
                    let mut end = start;
                    while end < chars.len() && is_name_char(chars[end]) {
                        end += 1;
                    }
                    if end == start {
                        return Err(FilterError("a sub-attribute must follow `].`".into()));
                    }
                    tokens.push(Token::Sub(chars[start..end].iter().collect()));
                    i = end;
                }
            }
            '"' => {
                let start = i;
                i += 1;
                let mut escaped = false;
                while i < chars.len() {
                    match chars[i] {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(FilterError("unterminated string".into()));
                }
                let literal: String = chars[start..=i].iter().collect();
                let value: Value = serde_json::from_str(&literal)
                    .map_err(|_| FilterError(format!("bad string literal {literal}")))?;
                tokens.push(Token::Value(value));
                i += 1;
            }
            _ if is_name_char(c) || c == '+' => {
                let start = i;
                while i < chars.len() && (is_name_char(chars[i]) || chars[i] == '+') {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(FilterError(format!("unexpected character {other:?}"))),
        }
    }
    Ok(tokens)
}

/// Parses an attribute path (`name.givenName`, `urn:...:User:userName`, `urn:...:enterprise:2.0:User:manager.value`).
pub fn parse_attr_path(text: &str) -> Result<AttrPath, FilterError> {
    let invalid = || FilterError(format!("invalid attribute path {text:?}"));
    if text.is_empty() {
        return Err(invalid());
    }
    let (uri, rest) = if text.to_ascii_lowercase().starts_with("urn:") {
        let cut = text.rfind(':').ok_or_else(invalid)?;
        (Some(text[..cut].to_owned()), &text[cut + 1..])
    } else {
        (None, text)
    };
    let mut parts = rest.split('.');
    let attr = parts.next().ok_or_else(invalid)?;
    let sub = parts.next();
    if parts.next().is_some() {
        return Err(invalid());
    }
    let valid_name = |name: &str| {
        let mut chars = name.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
        return Err(invalid());
    }
    Ok(AttrPath {
        uri,
        attr: attr.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.peek_word("not") && matches!(self.tokens.get(self.pos + 1), Some(Token::Open)) {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.group()?)));
        }
        if matches!(self.peek(), Some(Token::Open)) {
            return self.group();
        }
        self.attr_expression()
    }

    fn group(&mut self) -> Result<Filter, FilterError> {
        if self.next() != Some(Token::Open) {
            return Err(FilterError("expected `(`".into()));
        }
        let inner = self.or()?;
        if self.next() != Some(Token::Close) {
            return Err(FilterError("expected `)`".into()));
        }
        Ok(inner)
    }

    fn attr_expression(&mut self) -> Result<Filter, FilterError> {
        let Some(Token::Word(name)) = self.next() else {
            return Err(FilterError("expected an attribute path".into()));
        };
        let path = parse_attr_path(&name)?;
        if matches!(self.peek(), Some(Token::LBracket)) {
            self.pos += 1;
            let inner = self.or()?;
            if self.next() != Some(Token::RBracket) {
                return Err(FilterError("expected `]`".into()));
            }
            if path.sub.is_some() {
                return Err(FilterError(
                    "a value filter follows an attribute, not a sub-attribute".into(),
                ));
            }
            // `emails[type eq "work"].value co "x"`: the sub-attribute of the selected elements.
            if let Some(Token::Sub(sub)) = self.peek().cloned() {
                self.pos += 1;
                let sub_path = parse_attr_path(&sub)?;
                let condition = self.comparison(sub_path)?;
                let both = Filter::And(Box::new(inner), Box::new(condition));
                return Ok(Filter::ValuePath(path, Box::new(both)));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        let name = path.attr.clone();
        let Some(Token::Word(op)) = self.next() else {
            return Err(FilterError(format!("expected an operator after {name}")));
        };
        let op = match op.to_ascii_lowercase().as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            other => return Err(FilterError(format!("unknown operator {other:?}"))),
        };
        let value = match self.next() {
            Some(Token::Value(value)) => value,
            Some(Token::Word(word)) => match word.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                number => serde_json::from_str::<serde_json::Number>(number)
                    .map(Value::Number)
                    .map_err(|_| FilterError(format!("invalid comparison value {number:?}")))?,
            },
            _ => return Err(FilterError("expected a comparison value".into())),
        };
        if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) && !value.is_string() {
            return Err(FilterError("co, sw and ew compare strings".into()));
        }
        if matches!(
            op,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        ) && (value.is_boolean() || value.is_null())
        {
            return Err(FilterError(
                "gt, ge, lt and le do not compare booleans or null".into(),
            ));
        }
        Ok(Filter::Compare(path, op, value))
    }
}

/// Parses a filter expression.
pub fn parse_filter(text: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        pos: 0,
    };
    if parser.tokens.is_empty() {
        return Err(FilterError("empty filter".into()));
    }
    let filter = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(FilterError("unexpected text after the filter".into()));
    }
    Ok(filter)
}

/// Parses a PATCH operation path.
pub fn parse_patch_path(text: &str) -> Result<PatchPath, FilterError> {
    let text = text.trim();
    let Some(open) = text.find('[') else {
        return Ok(PatchPath {
            attr: parse_attr_path(text)?,
            filter: None,
            sub: None,
        });
    };
    let close = text
        .rfind(']')
        .ok_or_else(|| FilterError(format!("invalid path {text:?}")))?;
    let attr = parse_attr_path(&text[..open])?;
    let filter = parse_filter(&text[open + 1..close])?;
    let rest = &text[close + 1..];
    let sub = match rest.strip_prefix('.') {
        Some(sub) if !sub.is_empty() => Some(sub.to_owned()),
        None if rest.is_empty() => None,
        _ => return Err(FilterError(format!("invalid path {text:?}"))),
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub,
    })
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
        Filter::And(a, b) => matches(a, resource) && matches(b, resource),
        Filter::Or(a, b) => matches(a, resource) || matches(b, resource),
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
