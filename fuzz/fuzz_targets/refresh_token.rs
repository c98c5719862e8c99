//! The refresh-token parser (`RefreshToken::parse`). It must accept exactly `tmr_` followed by
//! the canonical unpadded base64url encoding of 32 bytes (checked against the base64 crate as
//! an independent reference), and what it accepts must read back as the same text, with the
//! same family and hash, and rotate to a token of the same family that parses too.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tokenmint::domain::token::RefreshToken;

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
    let successor = token.successor().expect("random bytes");
    assert_eq!(successor.family(), token.family());
    assert_ne!(successor.hash(), token.hash());
    assert_eq!(RefreshToken::parse(successor.expose()), Some(successor));
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
