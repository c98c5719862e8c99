//! Text from outside — Appwrite's answers and webhooks, request parameters — made safe to store
//! and to put in tokens.
//!
//! - **U+0000 becomes U+FFFD** (the replacement character) wherever text is stored: PostgreSQL
//!   cannot store NUL in `text` or `jsonb` (SQLSTATE 22021 / 22P05), and a user who can put one
//!   in their own name must not be able to make an exchange or a webhook fail. Replacing rather
//!   than removing keeps the change visible. Both backends store the same text, so tokens do not
//!   differ between them. Rust strings cannot hold lone surrogates, the only other characters a
//!   UTF-8 database refuses.
//! - **Identifiers** (Appwrite user and session ids, key ids) are refused, not repaired, when they
//!   could not be Appwrite's: empty, longer than [`MAX_ID_LEN`] bytes, or holding control
//!   characters. Appwrite's own ids are at most 36 characters of `[a-zA-Z0-9._-]`; the looser
//!   rule here leaves room for other id schemes while keeping every id indexable.

use std::borrow::Cow;

/// Longest identifier accepted, in bytes: far beyond Appwrite's 36 characters, far below what a
/// database index entry can hold.
pub const MAX_ID_LEN: usize = 255;

/// `text` with every U+0000 replaced by U+FFFD; borrowed when there is none (the usual case).
pub fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Like [`storable`], for an owned string.
pub fn into_storable(text: String) -> String {
    match storable(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(replaced) => replaced,
    }
}

/// Whether `id` can be an identifier from Appwrite or an operator: 1 to [`MAX_ID_LEN`] bytes,
/// no control characters.
pub fn is_identifier(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control)
}

/// `text` cut to at most `max_chars` characters.
pub fn truncated(text: String, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_becomes_the_replacement_character() {
        assert_eq!(storable("Jane\0Doe"), "Jane\u{FFFD}Doe");
        assert!(matches!(storable("Jane Doe"), Cow::Borrowed("Jane Doe")));
        assert_eq!(into_storable("\0\0".into()), "\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn identifiers_are_short_and_printable() {
        assert!(is_identifier("u1"));
        assert!(is_identifier(&"a".repeat(255)));
        for bad in ["", "u\0", "u\n1", "\u{7f}"] {
            assert!(!is_identifier(bad), "{bad:?}");
        }
        assert!(!is_identifier(&"a".repeat(256)));
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncated("héllo".into(), 2), "hé");
        assert_eq!(truncated("hi".into(), 5), "hi");
    }
}
