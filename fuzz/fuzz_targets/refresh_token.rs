//! The refresh-token parser (`RefreshToken::parse`). It must accept exactly `tmr_` followed by
//! the canonical unpadded base64url encoding of 32 bytes (checked against the base64 crate as
//! an independent reference), and what it accepts must read back as the same text, with the
//! same family and hash, and its next generation must be a token of the same family that
//! parses too and that the key says it issued.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

use tokenmint::crypto::kek::Kek;
use tokenmint::crypto::validator::ValidatorKey;
use tokenmint::domain::token::RefreshToken;

/// A fixed key: the fuzzer's inputs are tokens, not keys.
static KEY: LazyLock<ValidatorKey> = LazyLock::new(|| {
    let kek = Kek::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("a KEK");
    ValidatorKey::derive(&kek).expect("a key")
});

/// The reference: `tmr_` and 43 characters that decode, canonically, to 32 bytes.
fn is_canonical_token(text: &str) -> bool {
    text.strip_prefix("tmr_").is_some_and(|body| {
        URL_SAFE_NO_PAD
            .decode(body)
            .is_ok_and(|bytes| bytes.len() == 32 && URL_SAFE_NO_PAD.encode(&bytes) == body)
    })
}

fn check(text: &str) {
    let parsed = RefreshToken::parse(text);
    assert_eq!(parsed.is_some(), is_canonical_token(text), "{text:?}");
    let Some(token) = parsed else {
        return;
    };
    assert_eq!(token.expose(), text);
    let again = RefreshToken::parse(token.expose()).expect("its own text");
    assert_eq!(
        (again.family(), again.hash()),
        (token.family(), token.hash())
    );
    let generation = token.generation(&KEY).map_or(1, |g| g.wrapping_add(1));
    let successor = token.at_generation(&KEY, generation);
    assert_eq!(successor.family(), token.family());
    assert_eq!(successor.generation(&KEY), Some(generation));
    assert_eq!(RefreshToken::parse(successor.expose()), Some(successor.clone()));
    assert_eq!(successor.at_generation(&KEY, generation), successor);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    // Any 32 bytes are a token: its text must parse.
    if let Some(bytes) = data.get(..32) {
        let text = format!("tmr_{}", URL_SAFE_NO_PAD.encode(bytes));
        assert!(RefreshToken::parse(&text).is_some(), "{text}");
        check(&text);
    }
});
