//! A reader for the YAML that `compose.yaml` is written in, and nothing more: block mappings and
//! sequences by indentation, plain and double-quoted scalars, JSON-like flow sequences, full-line
//! comments, anchors (`&name`), aliases (`*name`) and merge keys (`<<: *name`). Every scalar
//! stays text. Anything else stops the test naming the line, so a construct this reader does not
//! know can never be half-read. (The workspace has no YAML crate; the file is small and ours.)

use std::collections::HashMap;

use serde_json::{Map, Value};

struct Line {
    number: usize,
    indent: usize,
    text: String,
}

/// `text` as JSON values: mappings become objects, sequences arrays, scalars strings.
pub fn parse(text: &str) -> Value {
    let lines: Vec<Line> = text
        .lines()
        .enumerate()
        .filter_map(|(index, raw)| {
            assert!(!raw.contains('\t'), "line {}: a tab", index + 1);
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                return None;
            }
            Some(Line {
                number: index + 1,
                indent: raw.len() - trimmed.len(),
                text: trimmed.trim_end().to_owned(),
            })
        })
        .collect();
    let mut reader = Reader {
        lines,
        at: 0,
        anchors: HashMap::new(),
    };
    let value = reader.block(0);
    if let Some(line) = reader.lines.get(reader.at) {
        panic!("line {}: unexpected indentation", line.number);
    }
    value
}

struct Reader {
    lines: Vec<Line>,
    at: usize,
    anchors: HashMap<String, Value>,
}

impl Reader {
    fn block(&mut self, indent: usize) -> Value {
        match self.lines.get(self.at) {
            Some(line) if line.text.starts_with("- ") => self.sequence(indent),
            Some(_) => self.mapping(indent),
            None => Value::Null,
        }
    }

    fn sequence(&mut self, indent: usize) -> Value {
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.at) {
            if line.indent != indent || !line.text.starts_with("- ") {
                break;
            }
            items.push(self.scalar(&line.text[2..], line.number));
            self.at += 1;
        }
        Value::Array(items)
    }

    fn mapping(&mut self, indent: usize) -> Value {
        let mut map = Map::new();
        while let Some(line) = self.lines.get(self.at) {
            if line.indent < indent {
                break;
            }
            let number = line.number;
            assert_eq!(line.indent, indent, "line {number}: unexpected indentation");
            let (key, rest) = line
                .text
                .split_once(':')
                .unwrap_or_else(|| panic!("line {number}: not `key: value`"));
            let (key, rest) = (key.trim().to_owned(), rest.trim().to_owned());
            self.at += 1;
            if key == "<<" {
                // Keys of the mapping itself win over merged ones, wherever they stand.
                let Value::Object(merged) = self.alias(&rest, number) else {
                    panic!("line {number}: merging something that is not a mapping");
                };
                for (name, value) in merged {
                    map.entry(name).or_insert(value);
                }
                continue;
            }
            let value = if rest.is_empty() || rest.starts_with('&') {
                let nested = match self.lines.get(self.at) {
                    Some(next) if next.indent > indent => self.block(next.indent),
                    _ => Value::Null,
                };
                if let Some(anchor) = rest.strip_prefix('&') {
                    self.anchors.insert(anchor.to_owned(), nested.clone());
                }
                nested
            } else {
                self.scalar(&rest, number)
            };
            map.insert(key, value);
        }
        Value::Object(map)
    }

    fn scalar(&self, text: &str, number: usize) -> Value {
        if text.starts_with('*') {
            return self.alias(text, number);
        }
        if text.starts_with('"') || text.starts_with('[') {
            // Double-quoted scalars and flow sequences of them are written as JSON would be.
            return serde_json::from_str(text)
                .unwrap_or_else(|error| panic!("line {number}: `{text}`: {error}"));
        }
        let unknown = ['\'', '{', '|', '>', '&', '!', '%', '@', '`'];
        assert!(
            !text.starts_with(unknown) && !text.contains(" #"),
            "line {number}: `{text}` is YAML this reader does not know"
        );
        Value::String(text.to_owned())
    }

    fn alias(&self, text: &str, number: usize) -> Value {
        let name = text
            .strip_prefix('*')
            .unwrap_or_else(|| panic!("line {number}: `{text}` is not an alias"));
        self.anchors
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("line {number}: no anchor `{name}` before"))
    }
}

#[test]
fn the_reader_reads_anchors_merges_sequences_and_quoted_scalars() {
    let value = parse(
        r#"
# a comment
base: &base
  image: x
  env: &env
    A: "1"
one:
  <<: *base
  image: y
  env:
    <<: *env
    B: plain text
  command: ["serve", "--role", "api"]
  ports:
    - "8080:8080"
"#,
    );
    assert_eq!(value["one"]["image"], "y", "the mapping's own key wins");
    assert_eq!(value["one"]["env"]["A"], "1");
    assert_eq!(value["one"]["env"]["B"], "plain text");
    assert_eq!(
        value["one"]["command"],
        serde_json::json!(["serve", "--role", "api"])
    );
    assert_eq!(value["one"]["ports"][0], "8080:8080");
    let unknown = std::panic::catch_unwind(|| parse("a: |\n  text\n"));
    assert!(unknown.is_err(), "a block scalar is refused, not misread");
}
