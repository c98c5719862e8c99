//! Reading Appwrite's JSON when a user's own text in it is not valid Unicode.
//!
//! Users choose their names. Appwrite can answer 200 with text that JSON parsers refuse: a lone
//! UTF-16 surrogate escape (`"name":"\ud800"`), or bytes that are not UTF-8. One user's record
//! must not turn into an outage, so before parsing, such text is made valid: each lone
//! surrogate escape becomes `\ufffd`, each invalid byte sequence U+FFFD (as a NUL is replaced
//! wherever tokenmint stores text). A valid body is returned as it is, without copying.

use std::borrow::Cow;

/// `body` with lone surrogate escapes inside JSON strings replaced by `\ufffd`, and invalid
/// UTF-8 by U+FFFD.
pub fn repair(body: &[u8]) -> Cow<'_, [u8]> {
    let text = String::from_utf8_lossy(body);
    match repair_surrogates(text.as_bytes()) {
        Some(repaired) => Cow::Owned(repaired),
        None => match text {
            Cow::Borrowed(_) => Cow::Borrowed(body),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        },
    }
}

/// The code unit of the `\uXXXX` escape at `at` (which points at the backslash), if there is one.
fn escape_at(bytes: &[u8], at: usize) -> Option<u16> {
    let digits = bytes.get(at + 2..at + 6)?;
    if bytes.get(at) != Some(&b'\\') || bytes.get(at + 1) != Some(&b'u') {
        return None;
    }
    u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// `bytes` (valid UTF-8) with every lone surrogate escape in a string replaced, or `None` when
/// there is none.
fn repair_surrogates(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                in_string = !in_string;
                i += 1;
            }
            b'\\' if in_string => match escape_at(bytes, i) {
                // A high surrogate followed by a low one: a valid pair.
                Some(0xD800..=0xDBFF)
                    if escape_at(bytes, i + 6)
                        .is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) =>
                {
                    i += 12;
                }
                Some(0xD800..=0xDFFF) => {
                    let buffer = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                    buffer.extend_from_slice(&bytes[copied..i]);
                    buffer.extend_from_slice(b"\\ufffd");
                    i += 6;
                    copied = i;
                }
                Some(_) => i += 6,
                // Any other escape is two characters (`\"`, `\\`, `\n`, …): skipping both keeps
                // an escaped quote from ending the string.
                None => i += 2,
            },
            _ => i += 1,
        }
    }
    let mut buffer = out?;
    buffer.extend_from_slice(&bytes[copied.min(bytes.len())..]);
    Some(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(body: &str) -> String {
        String::from_utf8(repair(body.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        assert_eq!(repaired(r#"{"name":"\ud800"}"#), r#"{"name":"\ufffd"}"#);
        assert_eq!(repaired(r#"{"name":"a\udc00b"}"#), r#"{"name":"a\ufffdb"}"#);
        assert_eq!(
            repaired(r#"{"name":"\ud800\ud800\udc00"}"#),
            r#"{"name":"\ufffd\ud800\udc00"}"#
        );
        let pair = r#"{"name":"\ud83d\ude00 \u00e9"}"#;
        assert_eq!(repaired(pair), pair);
        let parsed: serde_json::Value =
            serde_json::from_slice(&repair(br#"{"name":"x\ud800y"}"#)).unwrap();
        assert_eq!(parsed["name"], "x\u{fffd}y");
    }

    #[test]
    fn escapes_that_only_look_like_surrogates_are_left_alone() {
        // An escaped backslash followed by `ud800` is text, not an escape.
        let text = r#"{"name":"\\ud800","note":"\"\ud800"}"#;
        assert_eq!(repaired(text), r#"{"name":"\\ud800","note":"\"\ufffd"}"#);
        // Outside strings nothing is touched (and the parser will judge it).
        assert_eq!(repaired(r#"{"a":1}"#), r#"{"a":1}"#);
    }

    #[test]
    fn a_valid_body_is_not_copied_and_invalid_utf8_is_replaced() {
        let body = br#"{"name":"ok"}"#;
        assert!(matches!(repair(body), Cow::Borrowed(_)));
        let invalid = b"{\"name\":\"a\xffb\"}";
        let parsed: serde_json::Value = serde_json::from_slice(&repair(invalid)).unwrap();
        assert_eq!(parsed["name"], "a\u{fffd}b");
        // A truncated escape at the end does not panic.
        assert_eq!(repaired(r#""\ud8"#), r#""\ud8"#);
    }
}
