//! The key that makes refresh tokens provable: only tokenmint can make a token of a given
//! family (selector) and generation, so only a token tokenmint issued can count as replayed.
//!
//! A refresh token's 32 bytes are the selector (16, fixed for its session), its generation (4,
//! big-endian, 1 for a session's first token and one more at each rotation) and a tag (12):
//!
//! ```text
//! tag = HMAC-SHA256(K, "tokenmint/refresh/v2" ‖ selector ‖ generation)[..12]
//! K   = HKDF-SHA256(KEK, info "tokenmint/refresh-validator/v2")
//! ```
//!
//! A truncated tag of 96 bits leaves an online forger no chance; the key never leaves the
//! process, so a database dump (which holds only hashes) plus any number of old tokens yields no
//! usable token: the successor of a token is computed, never stored.

use aws_lc_rs::hmac;

use super::CryptoError;
use super::kek::Kek;

/// Bytes of the selector.
pub const SELECTOR_LEN: usize = 16;
/// Bytes of the truncated tag.
pub const TAG_LEN: usize = 12;

const DOMAIN: &[u8] = b"tokenmint/refresh/v2";
const INFO: &[u8] = b"tokenmint/refresh-validator/v2";

/// The validator key. `Debug` never shows it.
#[derive(Clone)]
pub struct ValidatorKey(hmac::Key);

impl std::fmt::Debug for ValidatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValidatorKey([redacted])")
    }
}

impl ValidatorKey {
    /// The key derived from the KEK: every replica with the same KEK derives the same key.
    pub fn derive(kek: &Kek) -> Result<Self, CryptoError> {
        let bytes = kek.derive(INFO)?;
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    /// The tag of the token of `selector` at `generation`.
    pub fn tag(&self, selector: &[u8; SELECTOR_LEN], generation: u32) -> [u8; TAG_LEN] {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(DOMAIN);
        context.update(selector);
        context.update(&generation.to_be_bytes());
        let full = context.sign();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full.as_ref()[..TAG_LEN]);
        tag
    }

    /// Whether `tag` is the tag of `selector` at `generation`, compared in constant time.
    pub fn verify(&self, selector: &[u8; SELECTOR_LEN], generation: u32, tag: &[u8]) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.tag(selector, generation), tag)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> ValidatorKey {
        ValidatorKey::derive(&Kek::from_base64(&base64_of(byte)).unwrap()).unwrap()
    }

    fn base64_of(byte: u8) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    }

    #[test]
    fn a_tag_binds_key_selector_and_generation() {
        let (one, other) = (key(1), key(2));
        let selector = [7u8; SELECTOR_LEN];
        let tag = one.tag(&selector, 5);
        assert!(one.verify(&selector, 5, &tag));
        assert!(!one.verify(&selector, 6, &tag), "another generation");
        assert!(
            !one.verify(&[8u8; SELECTOR_LEN], 5, &tag),
            "another selector"
        );
        assert!(!other.verify(&selector, 5, &tag), "another KEK");
        assert!(
            !one.verify(&selector, 5, &tag[..TAG_LEN - 1]),
            "a shorter tag"
        );
        assert_eq!(
            key(1).tag(&selector, 5),
            tag,
            "deterministic across replicas"
        );
    }
}
