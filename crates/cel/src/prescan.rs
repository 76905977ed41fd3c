//! A look at the expression's text before the parser sees it. The parser recurses once per
//! bracket, and its parse tree (which its visitor walks, and dropping frees, recursively) nests
//! once per operator of a chain (`a + a + …`), member selection (`a.b.c…`) or conditional
//! (`a ? b : c ? …`). One pass over the bytes, without recursion, measures both, so text that
//! would nest too deep is refused before it is parsed.

/// How deep the text nests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Nesting {
    /// Deepest nesting of `(`, `[` and `{`.
    pub brackets: usize,
    /// Deepest nesting the parser would build: brackets, plus, at each open bracket, the
    /// operators chained so far (binary operators between two `&&`/`||`, member selections,
    /// conditionals), plus a run of prefix operators (`!!!…`, `---…`).
    pub chains: usize,
}

/// The operators chained at one bracket level.
#[derive(Clone, Copy, Default)]
struct Level {
    /// Arithmetic, comparison and `in` operators since the last `&&`, `||`, `?`, `:` or `,`.
    binary: usize,
    /// Member selections since the last operator.
    selections: usize,
    /// Conditionals since the last `,`.
    conditionals: usize,
}

impl Level {
    fn total(&self) -> usize {
        self.binary + self.selections + self.conditionals
    }
}

/// The scan's state: the open bracket levels (the outermost, unbracketed, first).
struct Scan {
    levels: Vec<Level>,
    /// Brackets open plus the operators of every open level: kept as the levels change.
    open: usize,
    prefix_run: usize,
    deepest: Nesting,
}

impl Scan {
    fn level(&mut self) -> &mut Level {
        self.levels
            .last_mut()
            .expect("the outermost level is never closed")
    }

    fn update(&mut self, change: impl FnOnce(&mut Level)) {
        let before = self.level().total();
        change(self.level());
        let after = self.level().total();
        self.open = self.open + after - before;
        self.note();
    }

    fn note(&mut self) {
        self.deepest.chains = self.deepest.chains.max(self.open + self.prefix_run);
        self.deepest.brackets = self.deepest.brackets.max(self.levels.len() - 1);
    }

    fn push(&mut self) {
        self.levels.push(Level::default());
        self.open += 1;
        self.prefix_run = 0;
        self.note();
    }

    fn pop(&mut self) {
        if self.levels.len() > 1 {
            let level = self.levels.pop().expect("checked above");
            self.open -= 1 + level.total();
        }
    }
}

/// Measures how deep `source` nests, skipping string literals, quoted identifiers and comments.
pub(crate) fn nesting(source: &str) -> Nesting {
    let bytes = source.as_bytes();
    let mut scan = Scan {
        levels: vec![Level::default()],
        open: 0,
        prefix_run: 0,
        deepest: Nesting::default(),
    };
    // whether the last token ends an operand, so that a `-` after it is binary
    let mut after_operand = false;
    // the last byte that is not white space
    let mut previous = 0u8;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied().unwrap_or(0);
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match b {
            b'/' if next == b'/' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' | b'"' => {
                i = skip_string(bytes, i, false);
                after_operand = true;
                scan.prefix_run = 0;
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
                i += 1;
                after_operand = true;
            }
            b'(' | b'[' | b'{' => {
                scan.push();
                after_operand = false;
                i += 1;
            }
            b')' | b']' | b'}' => {
                scan.pop();
                after_operand = true;
                i += 1;
            }
            b',' => {
                scan.update(|l| *l = Level::default());
                after_operand = false;
                i += 1;
            }
            b'&' | b'|' => {
                scan.update(|l| {
                    l.binary = 0;
                    l.selections = 0;
                });
                after_operand = false;
                i += if next == b { 2 } else { 1 };
            }
            // `.?field`, `[?index]` and `{?key: value}` mark optionals, not conditionals
            b'?' if matches!(previous, b'.' | b'[' | b'{' | b',') => i += 1,
            b'?' | b':' => {
                scan.update(|l| {
                    l.binary = 0;
                    l.selections = 0;
                    if b == b'?' {
                        l.conditionals += 1;
                    }
                });
                after_operand = false;
                i += 1;
            }
            b'.' if previous.is_ascii_digit() && next.is_ascii_digit() => i += 1,
            b'.' => {
                scan.update(|l| l.selections += 1);
                after_operand = false;
                i += 1;
            }
            b'!' | b'-' if (b == b'-' && after_operand) || (b == b'!' && next == b'=') => {
                scan.update(|l| {
                    l.binary += 1;
                    l.selections = 0;
                });
                after_operand = false;
                i += if b == b'!' { 2 } else { 1 };
            }
            b'!' | b'-' => {
                scan.prefix_run += 1;
                scan.note();
                i += 1;
            }
            b'+' | b'*' | b'/' | b'%' | b'<' | b'>' | b'=' => {
                scan.update(|l| {
                    l.binary += 1;
                    l.selections = 0;
                });
                after_operand = false;
                i += if next == b'=' { 2 } else { 1 };
            }
            _ if b == b'_' || b.is_ascii_alphanumeric() => {
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                let word = &bytes[start..i];
                // a string or bytes literal's prefix: `r'…'`, `b"…"`, `br'…'`
                let is_prefix = word.len() <= 2
                    && word.iter().all(|c| b"rRbB".contains(c))
                    && matches!(bytes.get(i), Some(b'\'' | b'"'));
                if is_prefix {
                    i = skip_string(bytes, i, word.iter().any(|c| matches!(c, b'r' | b'R')));
                    after_operand = true;
                } else if word == b"in" {
                    scan.update(|l| {
                        l.binary += 1;
                        l.selections = 0;
                    });
                    after_operand = false;
                } else {
                    after_operand = true;
                }
                scan.prefix_run = 0;
            }
            _ => i += 1,
        }
        previous = bytes[i.min(bytes.len()) - 1];
        // any token but a prefix operator ends a run of them
        if !matches!(b, b'!' | b'-') || after_operand {
            scan.prefix_run = 0;
        }
    }
    scan.deepest
}

/// The index just past the string literal whose opening quote is at `i`. Raw strings (an `r`
/// in the prefix) have no escapes; triple quotes end only at a triple quote.
fn skip_string(bytes: &[u8], i: usize, raw: bool) -> usize {
    let quote = bytes[i];
    let triple = bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote);
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < bytes.len() {
        match bytes[j] {
            b'\\' if !raw => j += 2,
            c if c == quote => {
                if !triple {
                    return j + 1;
                }
                if bytes.get(j + 1) == Some(&quote) && bytes.get(j + 2) == Some(&quote) {
                    return j + 3;
                }
                j += 1;
            }
            _ => j += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brackets(source: &str) -> usize {
        nesting(source).brackets
    }

    fn chains(source: &str) -> usize {
        nesting(source).chains
    }

    #[test]
    fn brackets_in_string_literals_and_comments_do_not_count() {
        assert_eq!(brackets("((1))"), 2);
        assert_eq!(brackets("f('(((((') + [x]"), 1);
        assert_eq!(brackets(r#""\"(((" + {'a': [1]}"#), 2);
        assert_eq!(brackets(r"r'\' + [1]"), 1);
        assert_eq!(brackets(r"rb'\' + [1]"), 1);
        assert_eq!(brackets(r"'\' + [1]'"), 0);
        assert_eq!(brackets("'''a ' (( '''+ [1]"), 1);
        assert_eq!(brackets("[1] // (((((\n + [2]"), 1);
        assert_eq!(brackets("a.`b(`.c"), 0);
    }

    #[test]
    fn chains_of_operators_selections_and_conditionals_count() {
        assert_eq!(chains("a + b + c"), 2);
        assert_eq!(chains("a.b.c.d"), 3);
        assert_eq!(chains("a ? b : c ? d : e"), 2);
        assert_eq!(chains("!!!!a"), 4);
        assert_eq!(chains("a - -b"), 2);
        assert_eq!(chains("a != b"), 1);
        assert_eq!(chains("a in b"), 1);
        // `&&` and `||` chains are balanced by the parser, and reset the count
        assert_eq!(chains("a + b && c + d || e + f"), 1);
        // each argument, element or entry starts afresh
        assert_eq!(chains("f(a + b, c + d)"), 2);
        assert_eq!(chains("{'a': x.y, 'b': x.y}"), 2);
        // nested chains add up
        assert_eq!(chains("a + (b + (c + d))"), 5);
        // optionals and decimals are not chains
        assert_eq!(chains("a.?b"), 1);
        assert_eq!(chains("1.5 + 2.25"), 1);
        assert_eq!(chains("{?'k': v}"), 1);
    }

    #[test]
    fn long_inputs_are_scanned_without_recursion() {
        let deep = "(".repeat(1_000_000);
        assert_eq!(brackets(&deep), 1_000_000);
        assert_eq!(chains(&"!".repeat(1_000_000)), 1_000_000);
        assert_eq!(chains(&format!("a{}", " + a".repeat(100_000))), 100_000);
    }
}
