//! JSON from the network, parsed within a nesting bound.
//!
//! serde_json parses by recursion and stops at 128 levels; on a small stack (a worker thread of
//! 128 KiB, say) even that can be too deep, and a value nested 128 levels deep is dropped by
//! recursion again. Every body a request reaches is therefore scanned first by
//! [`check_depth`], a loop over the bytes with a counter, which refuses the text at the first
//! bracket past the bound; only text within the bound is handed to serde_json.

use serde::de::DeserializeOwned;

/// The nesting bound of the JSON bodies Tributary accepts from the network (API requests, SCIM
/// requests, webhook deliveries): objects and arrays inside each other, the outermost counting
/// one. Provider payloads nest about ten levels; a body nested deeper than this is refused.
pub const MAX_JSON_DEPTH: usize = 64;

/// Text nested deeper than the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the JSON nests deeper than {max_depth} levels (at byte {offset})")]
pub struct TooDeep {
    pub max_depth: usize,
    /// Where the bracket past the bound is.
    pub offset: usize,
}

/// Why bounded parsing refused a body.
#[derive(Debug, thiserror::Error)]
pub enum BoundedJsonError {
    #[error(transparent)]
    TooDeep(#[from] TooDeep),
    #[error(transparent)]
    Invalid(#[from] serde_json::Error),
}

/// Scans JSON text for nesting deeper than `max_depth`, without recursion and without
/// allocating. Brackets inside strings (escapes included) do not count. This is not a
/// validator: malformed text within the bound passes, for the parser to refuse.
pub fn check_depth(bytes: &[u8], max_depth: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &byte) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(TooDeep { max_depth, offset });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses JSON text nested at most `max_depth` levels.
pub fn parse_bounded<T: DeserializeOwned>(
    bytes: &[u8],
    max_depth: usize,
) -> Result<T, BoundedJsonError> {
    check_depth(bytes, max_depth)?;
    Ok(serde_json::from_slice(bytes)?)
}

/// Whether any string of `value`, object keys included, holds a NUL character (U+0000), which
/// PostgreSQL cannot store in text. A loop with an explicit stack: no recursion on the depth.
pub fn has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(text) if text.contains('\0') => return true,
            Value::Array(items) => pending.extend(items),
            Value::Object(fields) => {
                if fields.keys().any(|key| key.contains('\0')) {
                    return true;
                }
                pending.extend(fields.values());
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    /// Runs `f` on a thread with a 128 KiB stack, as a hostile input would find a worker.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(f)
            .expect("spawn a small-stack thread")
            .join()
            .expect("the small-stack thread finished without overflowing")
    }

    #[test]
    fn the_bound_is_inclusive() {
        assert!(check_depth(nested(3).as_bytes(), 3).is_ok());
        assert_eq!(
            check_depth(nested(4).as_bytes(), 3),
            Err(TooDeep {
                max_depth: 3,
                offset: 3
            })
        );
    }

    #[test]
    fn brackets_in_strings_do_not_count() {
        let text = r#"{"a": "[[[[{{{{", "b": "\"[[[[", "c": ["\\"]}"#;
        assert!(check_depth(text.as_bytes(), 2).is_ok());
        let value: Value = parse_bounded(text.as_bytes(), 2).unwrap();
        assert_eq!(value["b"], "\"[[[[");
    }

    #[test]
    fn objects_and_arrays_both_nest() {
        let text = r#"{"a": [{"b": [1]}]}"#;
        assert!(check_depth(text.as_bytes(), 4).is_ok());
        assert!(check_depth(text.as_bytes(), 3).is_err());
    }

    #[test]
    fn a_hundred_thousand_levels_are_refused_on_a_small_stack() {
        let outcome = on_small_stack(|| {
            let arrays = nested(100_000);
            let objects = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
            (
                parse_bounded::<Value>(arrays.as_bytes(), MAX_JSON_DEPTH).map(|_| ()),
                parse_bounded::<Value>(objects.as_bytes(), MAX_JSON_DEPTH).map(|_| ()),
            )
        });
        assert!(matches!(outcome.0, Err(BoundedJsonError::TooDeep(_))));
        assert!(matches!(outcome.1, Err(BoundedJsonError::TooDeep(_))));
    }

    #[test]
    fn the_deepest_allowed_body_parses_and_drops_on_a_small_stack() {
        let parsed = on_small_stack(|| {
            let text = format!(
                "{}1{}",
                r#"{"a":["#.repeat(MAX_JSON_DEPTH / 2),
                "]}".repeat(MAX_JSON_DEPTH / 2)
            );
            parse_bounded::<Value>(text.as_bytes(), MAX_JSON_DEPTH).is_ok()
        });
        assert!(parsed);
    }

    #[test]
    fn nul_is_found_in_values_and_keys_at_any_depth() {
        let value: Value = serde_json::from_str(r#"{"a": [1, {"b": "x\u0000y"}]}"#).unwrap();
        assert!(has_nul(&value));
        let key: Value = serde_json::from_str(r#"{"a": {"k\u0000": 1}}"#).unwrap();
        assert!(has_nul(&key));
        let clean: Value = serde_json::from_str(r#"{"a": ["\\u0000", {"b": 0}]}"#).unwrap();
        assert!(!has_nul(&clean));
    }

    #[test]
    fn malformed_text_is_left_to_the_parser() {
        assert!(check_depth(b"]]]]{", 1).is_ok());
        assert!(matches!(
            parse_bounded::<Value>(b"]]]]{", 1),
            Err(BoundedJsonError::Invalid(_))
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn true_depth(value: &Value) -> usize {
            let mut deepest = 0;
            let mut pending = vec![(value, 0usize)];
            while let Some((value, depth)) = pending.pop() {
                let (depth, children): (usize, Vec<&Value>) = match value {
                    Value::Array(items) => (depth + 1, items.iter().collect()),
                    Value::Object(fields) => (depth + 1, fields.values().collect()),
                    _ => (depth, Vec::new()),
                };
                deepest = deepest.max(depth);
                pending.extend(children.into_iter().map(|child| (child, depth)));
            }
            deepest
        }

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                // Strings full of brackets, quotes and backslashes.
                "[\\[\\]{}\"\\\\a ]{0,8}".prop_map(Value::String),
            ];
            leaf.prop_recursive(12, 64, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map("[\\[{\"\\\\k]{0,4}", inner, 0..4)
                        .prop_map(|fields| Value::Object(fields.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn the_scan_agrees_with_the_parsed_depth(value in json_value(), bound in 0usize..14) {
                let text = serde_json::to_vec(&value).unwrap();
                let depth = true_depth(&value);
                prop_assert_eq!(check_depth(&text, bound).is_ok(), depth <= bound);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                let _ = parse_bounded::<Value>(&bytes, 8);
            }
        }
    }
}
