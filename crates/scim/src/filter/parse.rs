//! The parser of filters, attribute paths and PATCH paths. Its input comes from the network, so
//! it is bounded: the text's size is checked before anything else, and the parser keeps the
//! groups it is inside (`(`, `not (`, `attr[`) on an explicit stack whose height is capped, so
//! no input makes it recurse. `and`/`or` chains become flat lists (see [`Filter`]).

use serde_json::Value;

use super::{AttrPath, CompareOp, Filter, FilterError, PatchPath};

/// Longest filter, in bytes.
pub const MAX_FILTER_BYTES: usize = 8 * 1024;
/// Most groups (`(`, `not (`, `attr[`) a filter may have open at once.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Most attribute expressions (`attr op value`, `attr pr`) in one filter.
pub const MAX_FILTER_TERMS: usize = 256;
/// Longest attribute path (schema URI included), in bytes.
pub const MAX_ATTR_PATH_BYTES: usize = 512;
/// Longest PATCH path (its value filter included), in bytes.
pub const MAX_PATCH_PATH_BYTES: usize = 8 * 1024;

/// The caps one parse works under: the constants above, or (in tests) a larger size so that
/// the depth and term caps are reached on huge inputs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub bytes: usize,
    pub depth: usize,
    pub terms: usize,
}

impl Limits {
    pub(crate) const FILTER: Limits = Limits {
        bytes: MAX_FILTER_BYTES,
        depth: MAX_FILTER_DEPTH,
        terms: MAX_FILTER_TERMS,
    };
    pub(crate) const PATCH_PATH: Limits = Limits {
        bytes: MAX_PATCH_PATH_BYTES,
        ..Limits::FILTER
    };
}

fn fail<T>(detail: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(detail.into()))
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
            '(' | ')' | '[' => {
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::LBracket,
                });
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
                        return fail("a sub-attribute must follow `].`");
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
                    return fail("unterminated string");
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
            other => return fail(format!("unexpected character {other:?}")),
        }
    }
    Ok(tokens)
}

/// An attribute or sub-attribute name (RFC 7643 §2.1 ATTRNAME, plus `$ref`).
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parses an attribute path (`name.givenName`, `urn:...:User:userName`,
/// `urn:...:enterprise:2.0:User:manager.value`) of at most [`MAX_ATTR_PATH_BYTES`].
pub fn parse_attr_path(text: &str) -> Result<AttrPath, FilterError> {
    if text.len() > MAX_ATTR_PATH_BYTES {
        return fail(format!(
            "an attribute path is longer than {MAX_ATTR_PATH_BYTES} bytes"
        ));
    }
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
    if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
        return Err(invalid());
    }
    Ok(AttrPath {
        uri,
        attr: attr.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

/// What opened a group the parser is inside.
enum Opened {
    /// The filter itself.
    Top,
    /// `(`.
    Group,
    /// `not (`.
    Not,
    /// `attr[`: a value filter over the elements of `attr`.
    Values(AttrPath),
}

/// A group being parsed: `any` holds its finished `or` terms, `all` the `and` terms of the `or`
/// term being read.
struct Level {
    opened: Opened,
    any: Vec<Filter>,
    all: Vec<Filter>,
}

impl Level {
    fn new(opened: Opened) -> Self {
        Level {
            opened,
            any: Vec::new(),
            all: Vec::new(),
        }
    }

    /// Ends the `or` term being read (at `or` or at the end of the group).
    fn end_term(&mut self) {
        let all = std::mem::take(&mut self.all);
        self.any.push(one_or(all, Filter::And));
    }

    fn finish(mut self) -> (Opened, Filter) {
        self.end_term();
        let any = std::mem::take(&mut self.any);
        (self.opened, one_or(any, Filter::Or))
    }
}

/// A single term as itself, several as `combine(terms)`.
fn one_or(mut terms: Vec<Filter>, combine: fn(Vec<Filter>) -> Filter) -> Filter {
    match terms.len() {
        1 => terms.pop().expect("one term"),
        _ => combine(terms),
    }
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    limits: Limits,
    /// The open groups, innermost last; the bottom one is the filter itself.
    stack: Vec<Level>,
    terms: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn top(&mut self) -> &mut Level {
        self.stack.last_mut().expect("the filter's own level")
    }

    /// Enters a group, unless that would open more than the depth cap allows.
    fn open(&mut self, opened: Opened) -> Result<(), FilterError> {
        if self.stack.len() > self.limits.depth {
            return fail(format!(
                "the filter nests more than {} groups deep",
                self.limits.depth
            ));
        }
        self.stack.push(Level::new(opened));
        Ok(())
    }

    /// Counts an attribute expression against the term cap.
    fn count_term(&mut self) -> Result<(), FilterError> {
        self.terms += 1;
        if self.terms > self.limits.terms {
            return fail(format!(
                "the filter has more than {} comparisons",
                self.limits.terms
            ));
        }
        Ok(())
    }

    fn parse(mut self) -> Result<Filter, FilterError> {
        loop {
            let operand = self.operand()?;
            self.top().all.push(operand);
            // After an operand: `and`, `or`, closing groups, or the end.
            loop {
                if self.peek_word("and") {
                    self.pos += 1;
                    break;
                }
                if self.peek_word("or") {
                    self.pos += 1;
                    self.top().end_term();
                    break;
                }
                match self.peek() {
                    Some(Token::Close) | Some(Token::RBracket) => {
                        let closed = self.close()?;
                        self.top().all.push(closed);
                    }
                    None if self.stack.len() == 1 => {
                        let (_, filter) = self.stack.pop().expect("the filter's level").finish();
                        return Ok(filter);
                    }
                    None => {
                        return match self.top().opened {
                            Opened::Values(_) => fail("expected `]`"),
                            _ => fail("expected `)`"),
                        };
                    }
                    Some(_) => return fail("unexpected text after a comparison"),
                }
            }
        }
    }

    /// Reads up to the next attribute expression, entering the groups before it.
    fn operand(&mut self) -> Result<Filter, FilterError> {
        loop {
            match self.peek() {
                Some(Token::Word(word))
                    if word.eq_ignore_ascii_case("not")
                        && self.tokens.get(self.pos + 1) == Some(&Token::Open) =>
                {
                    self.open(Opened::Not)?;
                    self.pos += 2;
                }
                Some(Token::Open) => {
                    self.open(Opened::Group)?;
                    self.pos += 1;
                }
                Some(Token::Word(name)) => {
                    let path = parse_attr_path(name)?;
                    self.pos += 1;
                    if self.peek() == Some(&Token::LBracket) {
                        if path.sub.is_some() {
                            return fail(
                                "a value filter follows an attribute, not a sub-attribute",
                            );
                        }
                        self.open(Opened::Values(path))?;
                        self.pos += 1;
                        continue;
                    }
                    return self.comparison(path);
                }
                _ => return fail("expected an attribute path, `(` or `not (`"),
            }
        }
    }

    /// Closes the innermost group at `)` or `]`.
    fn close(&mut self) -> Result<Filter, FilterError> {
        let bracket = self.peek() == Some(&Token::RBracket);
        self.pos += 1;
        if self.stack.len() == 1 {
            return fail(if bracket {
                "unexpected `]`"
            } else {
                "unexpected `)`"
            });
        }
        let (opened, inner) = self.stack.pop().expect("an open group").finish();
        match (opened, bracket) {
            (Opened::Group, false) => Ok(inner),
            (Opened::Not, false) => Ok(Filter::Not(Box::new(inner))),
            (Opened::Values(path), true) => {
                // `emails[type eq "work"].value co "x"`: the sub-attribute of the selected
                // elements.
                if let Some(Token::Sub(sub)) = self.peek() {
                    let sub_path = parse_attr_path(sub)?;
                    self.pos += 1;
                    let condition = self.comparison(sub_path)?;
                    let both = Filter::And(vec![inner, condition]);
                    return Ok(Filter::ValuePath(path, Box::new(both)));
                }
                Ok(Filter::ValuePath(path, Box::new(inner)))
            }
            (Opened::Values(_), false) => fail("expected `]`"),
            _ => fail("expected `)`"),
        }
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        self.count_term()?;
        let Some(Token::Word(op)) = self.peek() else {
            return fail(format!("expected an operator after {}", path.attr));
        };
        let op = match op.to_ascii_lowercase().as_str() {
            "pr" => {
                self.pos += 1;
                return Ok(Filter::Present(path));
            }
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            other => return fail(format!("unknown operator {other:?}")),
        };
        let value = match self.tokens.get(self.pos + 1) {
            Some(Token::Value(value)) => value.clone(),
            Some(Token::Word(word)) => match word.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                number => serde_json::from_str::<serde_json::Number>(number)
                    .map(Value::Number)
                    .map_err(|_| FilterError(format!("invalid comparison value {number:?}")))?,
            },
            _ => return fail("expected a comparison value"),
        };
        self.pos += 2;
        if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) && !value.is_string() {
            return fail("co, sw and ew compare strings");
        }
        if matches!(
            op,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        ) && (value.is_boolean() || value.is_null())
        {
            return fail("gt, ge, lt and le do not compare booleans or null");
        }
        Ok(Filter::Compare(path, op, value))
    }
}

/// Parses a filter expression of at most [`MAX_FILTER_BYTES`], [`MAX_FILTER_DEPTH`] nested
/// groups and [`MAX_FILTER_TERMS`] comparisons.
pub fn parse_filter(text: &str) -> Result<Filter, FilterError> {
    parse_filter_within(text, Limits::FILTER)
}

pub(crate) fn parse_filter_within(text: &str, limits: Limits) -> Result<Filter, FilterError> {
    if text.len() > limits.bytes {
        return fail(format!("the filter is longer than {} bytes", limits.bytes));
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return fail("empty filter");
    }
    Parser {
        tokens: &tokens,
        pos: 0,
        limits,
        stack: vec![Level::new(Opened::Top)],
        terms: 0,
    }
    .parse()
}

/// Parses a PATCH operation path of at most [`MAX_PATCH_PATH_BYTES`]; its value filter has the
/// filter's depth and term caps.
pub fn parse_patch_path(text: &str) -> Result<PatchPath, FilterError> {
    parse_patch_path_within(text, Limits::PATCH_PATH)
}

pub(crate) fn parse_patch_path_within(
    text: &str,
    limits: Limits,
) -> Result<PatchPath, FilterError> {
    if text.len() > limits.bytes {
        return fail(format!("the path is longer than {} bytes", limits.bytes));
    }
    let text = text.trim();
    let Some(open) = text.find('[') else {
        return Ok(PatchPath {
            attr: parse_attr_path(text)?,
            filter: None,
            sub: None,
        });
    };
    let close = match text.rfind(']') {
        Some(close) if close > open => close,
        _ => return fail("a value filter's `[` needs its `]`"),
    };
    let attr = parse_attr_path(&text[..open])?;
    if attr.sub.is_some() {
        return fail("a value filter follows an attribute, not a sub-attribute");
    }
    let filter = parse_filter_within(&text[open + 1..close], limits)?;
    let rest = &text[close + 1..];
    let sub = match rest.strip_prefix('.') {
        Some(sub) if valid_name(sub) => Some(sub.to_owned()),
        None if rest.is_empty() => None,
        _ => return fail("only `.subAttribute` may follow a value filter's `]`"),
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::matches;
    use proptest::prelude::*;
    use serde_json::json;

    /// Limits with no size cap, so that huge inputs reach the depth and term caps.
    const UNSIZED: Limits = Limits {
        bytes: usize::MAX,
        ..Limits::FILTER
    };
    /// Limits with neither a size nor a term cap (the depth cap stays).
    const UNCOUNTED: Limits = Limits {
        bytes: usize::MAX,
        depth: MAX_FILTER_DEPTH,
        terms: usize::MAX,
    };
    const HUGE: usize = 100_000;

    /// Runs `work` on a thread with a 128 KiB stack: recursion whose depth the input controls
    /// would overflow it (and abort the test binary).
    fn on_small_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(work)
            .expect("a thread")
            .join()
            .expect("no panic")
    }

    fn user() -> Value {
        json!({"userName": "a", "active": true,
               "emails": [{"value": "a@x", "type": "work"}, {"value": "b@y", "type": "home"}]})
    }

    fn nested(opener: &str, core: &str, closer: &str, depth: usize) -> String {
        format!("{}{core}{}", opener.repeat(depth), closer.repeat(depth))
    }

    fn chain(term: &str, operator: &str, terms: usize) -> String {
        vec![term; terms].join(operator)
    }

    fn error_of<T: std::fmt::Debug>(result: Result<T, FilterError>) -> String {
        result.expect_err("refused").0
    }

    #[test]
    fn huge_nesting_is_refused_without_recursion() {
        on_small_stack(|| {
            let work = r#"type eq "work""#;
            let inputs = [
                nested("(", work, ")", HUGE),
                nested("not (", work, ")", HUGE),
                nested("emails[", work, "]", HUGE),
                format!("emails[{}]", nested("(", work, ")", HUGE)),
                format!("emails[{}]", nested("not (", work, ")", HUGE)),
                // Unbalanced: only openers.
                "(".repeat(HUGE),
                "not (".repeat(HUGE),
            ];
            for input in &inputs {
                let sized = error_of(parse_filter(input));
                assert!(sized.contains("longer than 8192 bytes"), "{sized}");
                let deep = error_of(parse_filter_within(input, UNSIZED));
                assert!(deep.contains("more than 32 groups deep"), "{deep}");
            }
            for depth in [2_000, HUGE] {
                let path = format!(
                    "emails[{}].value",
                    nested("(", r#"type eq "work""#, ")", depth)
                );
                assert!(parse_patch_path(&path).is_err());
                let unsized_deep = error_of(parse_patch_path_within(&path, UNSIZED));
                assert!(unsized_deep.contains("more than 32 groups deep"));
                let nested_values =
                    format!("emails[{}]", nested("emails[", "value pr", "]", depth));
                assert!(
                    error_of(parse_patch_path_within(&nested_values, UNSIZED))
                        .contains("more than 32 groups deep")
                );
            }
            // Attribute paths have no nesting, only length.
            for path in [
                "a.".repeat(HUGE),
                format!("urn:{}x", "a:".repeat(HUGE)),
                "a".repeat(HUGE),
            ] {
                assert!(error_of(parse_attr_path(&path)).contains("longer than 512 bytes"));
                assert!(error_of(parse_patch_path(&path)).contains("longer than"));
            }
        });
    }

    #[test]
    fn huge_chains_are_refused_without_recursion() {
        on_small_stack(|| {
            for operator in [" or ", " and "] {
                let input = chain(r#"userName eq "x""#, operator, HUGE);
                assert!(error_of(parse_filter(&input)).contains("longer than 8192 bytes"));
                let counted = error_of(parse_filter_within(&input, UNSIZED));
                assert!(counted.contains("more than 256 comparisons"), "{counted}");
                let path = format!("emails[{}]", chain("value pr", operator, HUGE));
                assert!(
                    error_of(parse_patch_path_within(&path, UNSIZED))
                        .contains("more than 256 comparisons")
                );
            }
            // 256 short terms fit in 8 KiB: the term cap is the one reached.
            let input = chain("a pr", " or ", MAX_FILTER_TERMS + 1);
            assert!(input.len() < MAX_FILTER_BYTES);
            assert!(error_of(parse_filter(&input)).contains("more than 256 comparisons"));
            assert!(parse_filter(&chain("a pr", " or ", MAX_FILTER_TERMS)).is_ok());
        });
    }

    #[test]
    fn chains_are_wide_trees_that_match_and_drop_on_a_small_stack() {
        on_small_stack(|| {
            for (operator, expected) in [(" or ", true), (" and ", false)] {
                let input = format!(
                    "{}{operator}userName eq \"a\"",
                    chain(r#"userName eq "x""#, operator, HUGE)
                );
                let filter = parse_filter_within(&input, UNCOUNTED).expect("a chain");
                let (Filter::Or(terms) | Filter::And(terms)) = &filter else {
                    panic!("a flat chain");
                };
                assert_eq!(terms.len(), HUGE + 1);
                assert_eq!(matches(&filter, &user()), expected);
                drop(filter.clone());
            }
            // `and` binds tighter: a mixed chain is two levels deep, however long.
            let mixed = chain("a pr and userName pr", " or ", HUGE / 2);
            let filter = parse_filter_within(&mixed, UNCOUNTED).expect("a chain");
            let Filter::Or(terms) = &filter else {
                panic!("an or of ands");
            };
            assert!(
                terms
                    .iter()
                    .all(|t| matches!(t, Filter::And(all) if all.len() == 2))
            );
        });
    }

    /// A filter `depth` groups deep, cycling through `not (`, `(` and `emails[` and through
    /// `and` and `or`.
    fn deepest(depth: usize) -> String {
        let mut open = String::new();
        let mut close = String::new();
        for level in 0..depth {
            let operator = if level % 2 == 0 { "and" } else { "or" };
            let (opener, closer) = match level % 3 {
                0 => ("not (", ")"),
                1 => ("(", ")"),
                _ => ("emails[", "]"),
            };
            open.push_str(&format!("value pr {operator} {opener}"));
            close.insert_str(0, closer);
        }
        format!(r#"{open}type eq "work"{close}"#)
    }

    #[test]
    fn the_deepest_filter_allowed_parses_matches_and_drops_on_a_small_stack() {
        on_small_stack(|| {
            let filter = parse_filter(&deepest(MAX_FILTER_DEPTH)).expect("at the cap");
            matches(&filter, &user());
            let path = format!("emails[{}].value", deepest(MAX_FILTER_DEPTH));
            parse_patch_path(&path).expect("at the cap");
            drop(filter.clone());
            let over = error_of(parse_filter(&deepest(MAX_FILTER_DEPTH + 1)));
            assert!(over.contains("more than 32 groups deep"), "{over}");
        });
    }

    #[test]
    fn precedence_and_grouping() {
        let p = |text: &str| parse_filter(text).unwrap();
        let a = || Filter::Present(parse_attr_path("a").unwrap());
        let b = || Filter::Present(parse_attr_path("b").unwrap());
        let c = || Filter::Present(parse_attr_path("c").unwrap());
        assert_eq!(
            p("a pr or b pr and c pr"),
            Filter::Or(vec![a(), Filter::And(vec![b(), c()])])
        );
        assert_eq!(
            p("(a pr or b pr) and c pr"),
            Filter::And(vec![Filter::Or(vec![a(), b()]), c()])
        );
        assert_eq!(
            p("not (a pr) and ((b pr))"),
            Filter::And(vec![Filter::Not(Box::new(a())), b()])
        );
        assert_eq!(
            p("a pr and b pr and c pr"),
            Filter::And(vec![a(), b(), c()])
        );
        let path = parse_attr_path("emails").unwrap();
        assert_eq!(
            p("emails[a pr or b pr].c pr"),
            Filter::ValuePath(
                path,
                Box::new(Filter::And(vec![Filter::Or(vec![a(), b()]), c()]))
            )
        );
        for bad in [
            "()",
            "(a pr",
            "a pr)",
            "emails[a pr)",
            "(a pr]",
            "emails[a pr",
            "a pr b pr",
            "not a pr",
            "name.givenName[a pr]",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
        for bad in ["a]b[c", "emails[a pr].", "emails[a pr].x y", "name.x[a pr]"] {
            assert!(parse_patch_path(bad).is_err(), "{bad}");
        }
    }

    /// How many groups deep a parsed filter is (the parser caps this, so recursing is fine).
    fn tree_depth(filter: &Filter) -> usize {
        match filter {
            Filter::And(terms) | Filter::Or(terms) => {
                1 + terms.iter().map(tree_depth).max().unwrap_or(0)
            }
            Filter::Not(inner) | Filter::ValuePath(_, inner) => 1 + tree_depth(inner),
            Filter::Present(_) | Filter::Compare(..) => 0,
        }
    }

    fn fragment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "(",
            ")",
            "[",
            "]",
            "].",
            "not ",
            "not (",
            "NOT(",
            " and ",
            " or ",
            " AND ",
            " Or ",
            "\"",
            "\"x\"",
            "\"\\\"\"",
            "\"\\u00e9\"",
            "userName",
            "emails",
            "name.givenName",
            ".value",
            "value",
            "type",
            "meta.created",
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            " eq ",
            " ne ",
            " co ",
            " sw ",
            " ew ",
            " gt ",
            " ge ",
            " lt ",
            " le ",
            " pr",
            " zz ",
            "1",
            "-2.5e+3",
            "true",
            "null",
            " ",
            ".",
            "$ref",
            ":",
            "\\",
            "é",
            ",",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        #[test]
        fn token_soup_parses_or_is_refused(parts in prop::collection::vec(fragment(), 0..300)) {
            let text = parts.concat();
            if let Ok(filter) = parse_filter(&text) {
                // Each group adds at most four levels (`not` or the value path, the `and` of a
                // trailing `.sub` comparison, an `or` and an `and` inside).
                prop_assert!(tree_depth(&filter) <= 4 * MAX_FILTER_DEPTH + 2);
                matches(&filter, &user());
            }
            if let Ok(path) = parse_patch_path(&format!("emails[{text}]")) {
                prop_assert!(path.filter.is_some());
            }
            let _ = parse_patch_path(&text);
            let _ = parse_attr_path(&text);
        }

        #[test]
        fn random_text_parses_or_is_refused(text in "\\PC{0,200}") {
            let _ = parse_filter(&text);
            let _ = parse_patch_path(&text);
            let _ = parse_attr_path(&text);
        }

        #[test]
        fn nesting_is_refused_exactly_beyond_the_cap(
            openers in prop::collection::vec(0..3usize, 0..(2 * MAX_FILTER_DEPTH)),
            operator in prop::sample::select(vec!["and", "or"]),
        ) {
            let mut text = String::new();
            let mut closers = String::new();
            for opener in &openers {
                let (open, close) = [("(", ")"), ("not (", ")"), ("emails[", "]")][*opener];
                text.push_str(&format!("a pr {operator} {open}"));
                closers.insert_str(0, close);
            }
            text.push_str(r#"type eq "work""#);
            text.push_str(&closers);
            let within = openers.len() <= MAX_FILTER_DEPTH;
            prop_assert_eq!(parse_filter(&text).is_ok(), within);
            prop_assert_eq!(parse_patch_path(&format!("emails[{text}]")).is_ok(), within);
        }

        #[test]
        fn chains_are_refused_exactly_beyond_the_term_cap(
            operators in prop::collection::vec(prop::sample::select(vec![" and ", " or "]), 0..400),
        ) {
            let mut text = String::from("a pr");
            for operator in &operators {
                text.push_str(operator);
                text.push_str("a pr");
            }
            prop_assert_eq!(parse_filter(&text).is_ok(), operators.len() < MAX_FILTER_TERMS);
        }
    }
}
