//! Cutting secrets out of text a provider sent back (an error message that quotes the token it
//! refused), before that text reaches our errors, logs or API answers.
//!
//! Providers rarely quote a secret exactly: they show a prefix (`sk_live_4eC3...`), a suffix,
//! or an encoding of it (the query string it arrived in, the `Basic` header, a JSON string). So
//! what is cut is every run of at least [`MIN_FRAGMENT`] bytes that also occurs in the secret or
//! in one of its encodings:
//! - the secret as sent; percent-encoded (strict, with upper- or lower-case hex, and as a form
//!   value); JSON-escaped (also with `\/` and with `\uXXXX` for non-ASCII characters);
//! - base64 and base64url of each of those, at each of the three alignments a secret can have
//!   inside a longer encoded value (so `Basic base64(client_id:secret)` is caught without
//!   knowing the client id).
//!
//! Secrets (and encodings) shorter than [`MIN_FRAGMENT`] are cut only where they occur whole,
//! and aligned base64 forms are used only where they have [`MIN_FRAGMENT`] characters; secrets
//! shorter than [`MIN_SECRET`] are left alone, as they would match ordinary words.
//!
//! The work is linear in the text: every window of the secrets' forms goes into a hash set once,
//! and each position of the text is looked up once per window length.

use std::collections::{BTreeMap, HashSet};

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE},
};

/// Shortest part of a secret (or of one of its encodings) that is cut wherever it appears.
pub const MIN_FRAGMENT: usize = 8;

/// Shortest secret that is redacted at all.
pub const MIN_SECRET: usize = 4;

/// What replaces each redacted stretch of text.
pub const MARKER: &str = "[redacted]";

/// `text` with every fragment of every secret (see the module documentation) replaced by
/// [`MARKER`]. This is the one redaction of provider text: every caller goes through it.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let windows = Windows::of(secrets);
    if windows.is_empty() {
        return text.to_owned();
    }
    let hidden = windows.hidden_bytes(text.as_bytes());
    let mut out = String::with_capacity(text.len());
    let mut in_redaction = false;
    for (at, c) in text.char_indices() {
        // A character is hidden when any of its bytes is: a fragment of a multi-byte secret may
        // start or end inside a character.
        if hidden[at..at + c.len_utf8()].iter().any(|&h| h) {
            if !in_redaction {
                out.push_str(MARKER);
                in_redaction = true;
            }
        } else {
            out.push(c);
            in_redaction = false;
        }
    }
    out
}

/// Every window of every form of the secrets, by window length (at most [`MIN_FRAGMENT`]; a
/// shorter form is one window, itself).
struct Windows {
    by_length: BTreeMap<usize, HashSet<Vec<u8>>>,
}

impl Windows {
    fn of(secrets: &[&str]) -> Self {
        let mut by_length: BTreeMap<usize, HashSet<Vec<u8>>> = BTreeMap::new();
        let forms: HashSet<Vec<u8>> = secrets
            .iter()
            .filter(|secret| secret.len() >= MIN_SECRET)
            .flat_map(|secret| forms(secret))
            .filter(|form| form.len() >= MIN_SECRET)
            .collect();
        for form in &forms {
            let length = form.len().min(MIN_FRAGMENT);
            let set = by_length.entry(length).or_default();
            for window in form.windows(length) {
                set.insert(window.to_vec());
            }
        }
        Windows { by_length }
    }

    fn is_empty(&self) -> bool {
        self.by_length.is_empty()
    }

    /// Which bytes of `text` lie inside a window of a secret's form.
    fn hidden_bytes(&self, text: &[u8]) -> Vec<bool> {
        let mut hidden = vec![false; text.len()];
        for (&length, set) in &self.by_length {
            for (start, window) in text.windows(length).enumerate() {
                if set.contains(window) {
                    hidden[start..start + length].fill(true);
                }
            }
        }
        hidden
    }
}

/// The secret and the encodings of it that a provider may quote.
fn forms(secret: &str) -> Vec<Vec<u8>> {
    let mut texts = vec![
        secret.to_owned(),
        percent_encoded(secret, false),
        percent_encoded(secret, true),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
    ];
    let json = json_escaped(secret);
    texts.push(json.replace('/', "\\/"));
    texts.push(ascii_json_escaped(&json));
    texts.push(json);
    texts.sort();
    texts.dedup();
    let mut forms: Vec<Vec<u8>> = Vec::new();
    for text in &texts {
        for engine in [&STANDARD, &URL_SAFE] {
            forms.extend(base64_cores(engine, text.as_bytes()));
        }
    }
    forms.extend(texts.into_iter().map(String::into_bytes));
    forms
}

/// Percent-encoding of every byte outside RFC 3986's unreserved set.
fn percent_encoded(text: &str, lower_hex: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else if lower_hex {
            out.push_str(&format!("%{byte:02x}"));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The secret as it appears inside a JSON string (without the quotes).
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// A JSON-escaped text with its non-ASCII characters as `\uXXXX` (UTF-16) escapes, as
/// ASCII-only JSON encoders write them.
fn ascii_json_escaped(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The base64 characters that depend only on `bytes`, for each of the three offsets (modulo 3)
/// `bytes` can have inside a longer encoded value; at offset 0 the whole padded encoding.
fn base64_cores(engine: &base64::engine::GeneralPurpose, bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut cores = vec![engine.encode(bytes).into_bytes()];
    for offset in 1..3usize {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(bytes);
        let encoded = engine.encode(&shifted).into_bytes();
        // Characters are 6 bits: skip those touching the filler bytes in front, and the last
        // one(s) that would mix in whatever follows the secret.
        // A short core would be a few base64 characters likely to occur by chance.
        let first = (8 * offset).div_ceil(6);
        let end = 8 * (offset + bytes.len()) / 6;
        if end >= first + MIN_FRAGMENT {
            cores.push(encoded[first..end].to_vec());
        }
    }
    cores
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    use proptest::prelude::*;

    const SECRET: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";

    #[test]
    fn exact_copies_are_cut() {
        assert_eq!(
            redact(&format!("token {SECRET} refused"), &[SECRET]),
            "token [redacted] refused"
        );
        assert_eq!(redact("bad abcd", &["abcd"]), "bad [redacted]");
        // Too short to tell from ordinary words.
        assert_eq!(redact("bad abc", &["abc"]), "bad abc");
    }

    #[test]
    fn quoted_prefixes_suffixes_and_truncations_are_cut() {
        for quoted in [
            format!("invalid key {}", &SECRET[..12]),
            format!("invalid key ...{}", &SECRET[SECRET.len() - 9..]),
            format!("invalid key {}...", &SECRET[..20]),
            format!("invalid key {}…", &SECRET[4..14]),
        ] {
            let redacted = redact(&quoted, &[SECRET]);
            assert!(redacted.contains(MARKER), "{redacted}");
            assert!(!redacted.contains(&SECRET[4..12]), "{redacted}");
            assert!(redacted.starts_with("invalid key "), "{redacted}");
        }
        // Fewer than MIN_FRAGMENT characters of it stay.
        assert_eq!(redact("key sk_live", &[SECRET]), "key sk_live");
    }

    #[test]
    fn short_secrets_are_cut_whole_only() {
        assert_eq!(redact("pw hunter2!", &["hunter2"]), "pw [redacted]!");
        assert_eq!(redact("pw hunter", &["hunter2"]), "pw hunter");
    }

    #[test]
    fn encoded_copies_are_cut() {
        let secret = "p@ss/word+=é 9kX";
        let basic = STANDARD.encode(format!("client-id:{secret}"));
        let encodings = [
            utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            STANDARD.encode(secret),
            URL_SAFE.encode(secret),
            serde_json::to_string(secret).unwrap(),
        ];
        for encoded in encodings {
            let redacted = redact(&format!("said: {encoded} end"), &[secret]);
            assert!(redacted.starts_with("said: "), "{encoded}: {redacted}");
            assert!(redacted.ends_with(" end"), "{encoded}: {redacted}");
            assert!(redacted.contains(MARKER), "{encoded}: {redacted}");
            assert!(redacted.len() < 30, "{encoded}: {redacted}");
        }
        // Of the Basic value only the characters that depend on the client id survive: the
        // first 14 (`client-id:` is 80 bits; the 14th character holds bits of both).
        let redacted = redact(&format!("Authorization: Basic {basic}"), &[secret]);
        assert_eq!(
            redacted,
            format!("Authorization: Basic {}{MARKER}", &basic[..14])
        );
    }

    #[test]
    fn nothing_to_cut_leaves_the_text_alone() {
        assert_eq!(redact("plain text", &[]), "plain text");
        assert_eq!(redact("plain text", &[SECRET]), "plain text");
        assert_eq!(redact("", &[SECRET]), "");
    }

    /// Characters of secrets and texts; no `[` or `]` (the marker's), so a window that touches
    /// a marker cannot be mistaken for a piece of the secret.
    const ALPHABET: &str = "a-zA-Z0-9 _.~!*'();:@&=+$,/?%#{}\"\\^|<>`é€中";

    /// Texts of `min` to `max` characters of [`ALPHABET`].
    fn text_of(min: usize, max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[{ALPHABET}]{{{min},{max}}}"))
            .expect("a valid pattern")
    }

    fn windows_of(form: &str) -> Vec<String> {
        let chars: Vec<char> = form.chars().collect();
        chars
            .windows(MIN_FRAGMENT)
            .map(|window| window.iter().collect())
            .collect()
    }

    /// Every form a provider might quote of `secret` (computed with other code than the
    /// redaction's), as the part that depends on the secret alone.
    fn quotable_forms(secret: &str, client_id: &str) -> Vec<String> {
        const STRICT: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let strict = utf8_percent_encode(secret, STRICT).to_string();
        let basic = STANDARD.encode(format!("{client_id}:{secret}"));
        // The Basic value's characters that encode only bits of the secret.
        let before = client_id.len() + 1;
        let basic_core =
            basic[(8 * before).div_ceil(6)..8 * (before + secret.len()) / 6].to_owned();
        let json = serde_json::to_string(secret).unwrap();
        vec![
            secret.to_owned(),
            lower_hex(&strict),
            strict,
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            STANDARD.encode(secret),
            URL_SAFE.encode(secret),
            json[1..json.len() - 1].to_owned(),
            basic_core,
        ]
    }

    /// `%2F` as `%2f`, leaving everything else as it is.
    fn lower_hex(encoded: &str) -> String {
        let mut out = String::new();
        let mut hex_left = 0;
        for c in encoded.chars() {
            if hex_left > 0 {
                out.push(c.to_ascii_lowercase());
                hex_left -= 1;
            } else {
                out.push(c);
                hex_left = if c == '%' { 2 } else { 0 };
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_fragment_of_a_secret_or_its_encodings_survives(
            secret in text_of(8, 40),
            client_id in "[a-zA-Z0-9_.-]{1,20}",
            before in text_of(0, 40),
            after in text_of(0, 40),
            which in 0usize..8,
            cut in (0usize..64, 0usize..64),
        ) {
            let forms = quotable_forms(&secret, &client_id);
            // Quote all of one form, or a piece of it (prefix, suffix or middle).
            let chars: Vec<char> = forms[which].chars().collect();
            let start = cut.0 % chars.len();
            let end = (start + MIN_FRAGMENT + cut.1).min(chars.len());
            let quoted: String = chars[start..end].iter().collect();
            let text = format!("{before}{quoted}{after} and again {}", forms[which]);
            let redacted = redact(&text, &[&secret]).replace(MARKER, "[]");
            for form in &forms {
                for window in windows_of(form) {
                    prop_assert!(
                        !redacted.contains(&window),
                        "{window:?} of {form:?} survived in {redacted:?}"
                    );
                }
            }
        }
    }
}
