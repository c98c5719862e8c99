//! The signature of an Appwrite webhook delivery (appwrite-contract.md §5).
//!
//! `X-Appwrite-Webhook-Signature` = base64(HMAC-SHA1(key, URL + raw body)), with
//! the URL exactly as configured in Appwrite; Appwrite 1.9.6 signs its percent-decoded form,
//! `main` the stored form, so both are accepted. The check runs over the raw bytes (Appwrite's
//! PHP `json_encode` output, never re-serialised) and compares in constant time.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Whether `signature` signs `body` delivered to `url` (or its percent-decoded form).
pub fn signature_is_valid(key: &str, url: &str, body: &[u8], signature: &str) -> bool {
    let Ok(tag) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    let decoded = percent_encoding::percent_decode_str(url).decode_utf8_lossy();
    let mut candidates = vec![url];
    if decoded != url {
        candidates.push(&decoded);
    }
    candidates.into_iter().any(|candidate| {
        let mut message = Vec::with_capacity(candidate.len() + body.len());
        message.extend_from_slice(candidate.as_bytes());
        message.extend_from_slice(body);
        hmac::verify(&key, &message, &tag).is_ok()
    })
}
