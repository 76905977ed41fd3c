//! NUL characters in request input. PostgreSQL cannot store U+0000 in text (SQLite can, so the
//! backends would disagree), and no field has a use for it: a NUL anywhere in a JSON body (keys
//! included, at any depth), in a query parameter or in a path segment is refused with a 400 that
//! says where, before anything reaches the store.

/// Deepest nesting whose keys and indexes are named in the answer; deeper places are shown as
/// their ancestor at this depth followed by `/…` (serde refuses such bodies anyway).
const NAMED_DEPTH: usize = 128;

/// Longest key shown in a location (keys are the caller's input).
const SHOWN_KEY_CHARS: usize = 64;

/// Where a NUL was found in a JSON body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NulInJson {
    /// JSON Pointer of the string (`/userInput/names/2`); `""` for the body itself.
    pub pointer: String,
    /// Whether the NUL is in an object key (`pointer` names the object) rather than a value.
    pub in_key: bool,
}

impl NulInJson {
    /// `` `/userInput/name` `` or `a key of `/userInput``, for messages.
    pub fn describe(&self) -> String {
        let place = if self.pointer.is_empty() {
            "the body".to_owned()
        } else {
            format!("`{}`", self.pointer)
        };
        if self.in_key {
            format!("a key of {place}")
        } else {
            place
        }
    }
}

enum Frame {
    Object {
        /// The raw text of the current key (escapes as written).
        key: Option<Vec<u8>>,
        expecting_key: bool,
    },
    Array {
        index: usize,
    },
}

/// The first string of `body` (a JSON text) holding a `\u0000` escape, if any. A raw NUL byte is
/// not valid JSON and is left to the parser. The scan is a loop over the bytes with an explicit
/// stack (bounded by [`NAMED_DEPTH`]), so no input can make it recurse; malformed JSON is
/// scanned as far as it goes and left to the parser too.
pub(crate) fn find_in_json(body: &[u8]) -> Option<NulInJson> {
    let mut frames: Vec<Frame> = Vec::new();
    // Depth beyond the named frames.
    let mut unnamed_depth = 0usize;
    let mut at = 0;
    while at < body.len() {
        match body[at] {
            open @ (b'{' | b'[') => {
                if frames.len() < NAMED_DEPTH {
                    frames.push(if open == b'{' {
                        Frame::Object {
                            key: None,
                            expecting_key: true,
                        }
                    } else {
                        Frame::Array { index: 0 }
                    });
                } else {
                    unnamed_depth += 1;
                }
            }
            b'}' | b']' => {
                if unnamed_depth > 0 {
                    unnamed_depth -= 1;
                } else {
                    frames.pop();
                }
            }
            b',' if unnamed_depth == 0 => match frames.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { expecting_key, .. }) => *expecting_key = true,
                None => {}
            },
            b':' if unnamed_depth == 0 => {
                if let Some(Frame::Object { expecting_key, .. }) = frames.last_mut() {
                    *expecting_key = false;
                }
            }
            b'"' => {
                let (end, raw, has_nul) = string_at(body, at + 1);
                let is_key = unnamed_depth == 0
                    && matches!(
                        frames.last(),
                        Some(Frame::Object {
                            expecting_key: true,
                            ..
                        })
                    );
                if has_nul {
                    return Some(NulInJson {
                        pointer: pointer(&frames, unnamed_depth > 0, is_key),
                        in_key: is_key,
                    });
                }
                if is_key && let Some(Frame::Object { key, .. }) = frames.last_mut() {
                    *key = Some(raw.to_vec());
                }
                at = end;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    None
}

/// The string whose contents start at `start`: the index after its closing quote (or the end
/// of the body), its raw contents, and whether it has a `\u0000` escape.
fn string_at(body: &[u8], start: usize) -> (usize, &[u8], bool) {
    let mut at = start;
    let mut has_nul = false;
    while at < body.len() {
        match body[at] {
            b'"' => return (at + 1, &body[start..at], has_nul),
            b'\\' => {
                if body.get(at + 1) == Some(&b'u') {
                    has_nul |= body.get(at + 2..at + 6) == Some(b"0000".as_slice());
                    at += 6;
                } else {
                    at += 2;
                }
            }
            _ => at += 1,
        }
    }
    (body.len(), &body[start..], has_nul)
}

/// The JSON Pointer of the innermost value (of the object, for a key).
fn pointer(frames: &[Frame], truncated: bool, in_key: bool) -> String {
    let mut pointer = String::new();
    let last = frames.len().saturating_sub(1);
    for (depth, frame) in frames.iter().enumerate() {
        match frame {
            // The object whose key holds the NUL is the place: its own key is not part of it.
            Frame::Object { .. } if in_key && depth == last && !truncated => {}
            Frame::Object { key: Some(key), .. } => {
                let key: String = String::from_utf8_lossy(key)
                    .chars()
                    .take(SHOWN_KEY_CHARS)
                    .collect();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => {
                pointer.push('/');
                pointer.push_str(&index.to_string());
            }
        }
    }
    if truncated {
        pointer.push_str("/…");
    }
    pointer
}

/// The first `(name, value)` pair with a NUL in its name or value: `Some(name)` (the name shown
/// without its NUL characters, as `?` in their place).
pub(crate) fn find_in_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    pairs
        .into_iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| {
            name.replace('\0', "?")
                .chars()
                .take(SHOWN_KEY_CHARS)
                .collect()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(body: &str) -> Option<(String, bool)> {
        find_in_json(body.as_bytes()).map(|found| (found.pointer, found.in_key))
    }

    #[test]
    fn nul_in_values_is_found_with_its_place() {
        assert_eq!(at(r#"{"name": "a\u0000b"}"#), Some(("/name".into(), false)));
        assert_eq!(
            at(r#"{"a": 1, "userInput": {"tags": ["x", "y\u0000"]}}"#),
            Some(("/userInput/tags/1".into(), false))
        );
        assert_eq!(at(r#""\u0000""#), Some(("".into(), false)));
        assert_eq!(
            at(r#"[{"a/b~": "\u0000"}]"#),
            Some(("/0/a~1b~0".into(), false))
        );
    }

    #[test]
    fn nul_in_keys_names_the_object() {
        assert_eq!(at(r#"{"\u0000": 1}"#), Some(("".into(), true)));
        assert_eq!(
            at(r#"{"config": {"ok": 1, "b\u0000d": 2}}"#),
            Some(("/config".into(), true))
        );
    }

    #[test]
    fn other_escapes_and_lookalikes_are_not_nul() {
        assert_eq!(at(r#"{"a": "\\u0000", "b": "\u0001", "c": "u0000"}"#), None);
        assert_eq!(
            at(r#"{"a\"": ["\"\u0000x"]}"#),
            Some(("/a\\\"/0".into(), false))
        );
        assert_eq!(at(r#"{"a": "\u00001"}"#), Some(("/a".into(), false)));
        assert_eq!(at(r#"{"a": "\u0000"#), Some(("/a".into(), false)));
        assert_eq!(at("{\"a\": \"\\u00"), None);
    }

    #[test]
    fn deep_bodies_are_scanned_without_recursion() {
        let depth = 100_000;
        let body = format!("{}\"\\u0000\"{}", "[".repeat(depth), "]".repeat(depth));
        let found = find_in_json(body.as_bytes()).unwrap();
        assert!(found.pointer.ends_with("/0/…"), "{}", found.pointer);
        let clean = format!("{}{}", "{\"a\":[".repeat(depth), "]}".repeat(depth));
        assert_eq!(find_in_json(clean.as_bytes()), None);
    }

    #[test]
    fn pairs_with_nul_are_named() {
        assert_eq!(
            find_in_pairs([("limit", "5"), ("cursor", "a\0")]),
            Some("cursor".into())
        );
        assert_eq!(find_in_pairs([("a\0b", "1")]), Some("a?b".into()));
        assert_eq!(find_in_pairs([("limit", "5")]), None);
    }
}
