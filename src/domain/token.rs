//! Token formats: opaque refresh tokens (`tmr_` + base64url of 32 bytes, stored only as
//! SHA-256) and access-token claims (RFC 9068), plus the scope syntax of RFC 6749 §3.3.
//!
//! A refresh token's 32 bytes are a **selector** (16 random bytes, fixed for its session: the
//! refresh-token family), its **generation** (4 bytes: 1 for the session's first token, one
//! more at each rotation) and a **tag** (12 bytes) that only tokenmint can make
//! (`crypto::validator`). The store finds the session by SHA-256 of the selector and compares
//! SHA-256 of the whole token with the session's current one. A token whose tag is genuine is
//! one tokenmint issued: an older generation presented again is a replay, for the session's
//! whole life, with constant storage per session; a token whose tag is not genuine was never
//! issued (a forgery on a leaked selector) and changes nothing. The successor of a token is
//! computed from it, never stored.
//!
//! Tokens issued before generations (32 random bytes, *legacy*) still parse; their tag is not
//! genuine, and the store's hash comparison alone decides whether they are current.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::model::sessions::Grant;
use super::model::tokens::{FamilyHash, TokenHash};
use crate::crypto::validator::{SELECTOR_LEN, TAG_LEN, ValidatorKey};
use crate::crypto::{CryptoError, random_bytes};

/// The refresh-token prefix, so leaked tokens are recognisable by secret scanners.
pub const REFRESH_TOKEN_PREFIX: &str = "tmr_";
const REFRESH_TOKEN_LEN: usize = 4 + 43;
const GENERATION_END: usize = SELECTOR_LEN + 4;

/// A refresh token. `Debug` shows only its prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    text: String,
    bytes: [u8; 32],
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefreshToken({REFRESH_TOKEN_PREFIX}…)")
    }
}

impl RefreshToken {
    /// The first token of a new family: a random selector, generation 1.
    pub fn first(key: &ValidatorKey) -> Result<Self, CryptoError> {
        Ok(Self::issue(key, random_bytes::<SELECTOR_LEN>()?, 1))
    }

    /// The token of this token's family at `generation`.
    pub fn at_generation(&self, key: &ValidatorKey, generation: u32) -> Self {
        Self::issue(key, self.selector(), generation)
    }

    fn issue(key: &ValidatorKey, selector: [u8; SELECTOR_LEN], generation: u32) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..SELECTOR_LEN].copy_from_slice(&selector);
        bytes[SELECTOR_LEN..GENERATION_END].copy_from_slice(&generation.to_be_bytes());
        bytes[GENERATION_END..].copy_from_slice(&key.tag(&selector, generation));
        Self::from_bytes(bytes)
    }

    /// The generation of this token if tokenmint issued it (its tag is genuine); `None` for a
    /// token it never issued, or one issued before generations.
    pub fn generation(&self, key: &ValidatorKey) -> Option<u32> {
        let generation = self.stated_generation();
        key.verify(&self.selector(), generation, &self.bytes[GENERATION_END..])
            .then_some(generation)
    }

    /// The generation this token states, genuine or not: for a token tokenmint just made.
    /// (Anything presented is judged by [`RefreshToken::generation`].)
    pub fn stated_generation(&self) -> u32 {
        u32::from_be_bytes(self.generation_bytes())
    }

    /// The generation a token from before generations (or one tokenmint never issued) rotates
    /// into: drawn from the token itself, so a retry computes the same successor, and at least
    /// 2³¹, far above any generation a session reaches by rotating from 1 — so it can never be
    /// a token issued before (a session that ran on an older build after a newer one keeps its
    /// generations apart).
    pub fn first_generation_after_legacy(&self) -> u32 {
        let digest = self.hash().0;
        let drawn = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        (1 << 31) | (drawn & 0x3fff_ffff)
    }

    fn selector(&self) -> [u8; SELECTOR_LEN] {
        let mut selector = [0u8; SELECTOR_LEN];
        selector.copy_from_slice(&self.bytes[..SELECTOR_LEN]);
        selector
    }

    fn generation_bytes(&self) -> [u8; 4] {
        let mut generation = [0u8; 4];
        generation.copy_from_slice(&self.bytes[SELECTOR_LEN..GENERATION_END]);
        generation
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            text: format!("{REFRESH_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)),
            bytes,
        }
    }

    /// Accepts exactly the format tokenmint issues (and issued before generations): `tmr_` and
    /// the canonical base64url of 32 bytes; anything else cannot be one of ours and is rejected
    /// without a database lookup.
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(REFRESH_TOKEN_PREFIX)?;
        if text.len() != REFRESH_TOKEN_LEN
            || !body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(body).ok()?.try_into().ok()?;
        // Only the canonical encoding: a token must have exactly one spelling.
        let token = Self::from_bytes(bytes);
        (token.text == text).then_some(token)
    }

    /// The token text, to hand to its holder.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// SHA-256 of the text: the only form of the token ever stored.
    pub fn hash(&self) -> TokenHash {
        TokenHash(sha256(self.text.as_bytes()))
    }

    /// SHA-256 of the selector: how the store finds the token's session.
    pub fn family(&self) -> FamilyHash {
        FamilyHash(sha256(&self.bytes[..SELECTOR_LEN]))
    }
}

const _: () = assert!(GENERATION_END + TAG_LEN == 32);

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

pub use tokenmint_token::{ACCESS_TOKEN_TYPE, ANONYMOUS_CLIENT};

/// Access-token claims: the one type the server signs and `tokenmint-verify` hands out.
pub type AccessClaims = tokenmint_token::Claims;

/// The claims of access token `jti` for `session`, issued at `now`, expiring after `ttl` but
/// never after the session's absolute end. `snapshot_claims` picks the snapshot members
/// (`TOKENMINT_CLAIMS`); empty strings are omitted rather than asserted.
pub fn access_claims(
    issuer: &str,
    session: &Grant,
    scope: Option<&str>,
    snapshot_claims: &[String],
    (now, ttl): (DateTime<Utc>, chrono::Duration),
    jti: uuid::Uuid,
) -> AccessClaims {
    let wants = |claim: &str| snapshot_claims.iter().any(|c| c == claim);
    let user = &session.claims;
    let has_email = !user.email.is_empty();
    AccessClaims {
        iss: issuer.to_owned(),
        sub: session.user_id.clone(),
        aud: session.audience.clone(),
        exp: crate::clock::later(now, ttl)
            .min(session.absolute_expires_at)
            .timestamp(),
        iat: now.timestamp(),
        jti: jti.to_string(),
        client_id: session
            .client_id
            .clone()
            .unwrap_or_else(|| ANONYMOUS_CLIENT.to_owned()),
        sid: session.id.to_string(),
        auth_time: session.auth_time.timestamp(),
        scope: scope.map(str::to_owned),
        email: (wants("email") && has_email).then(|| user.email.clone()),
        email_verified: (wants("email_verified") && has_email).then_some(user.email_verified),
        name: (wants("name") && !user.name.is_empty()).then(|| user.name.clone()),
        labels: wants("labels").then(|| user.labels.clone()),
        act: session
            .impersonator
            .clone()
            .map(|sub| tokenmint_token::Actor { sub }),
    }
}

/// Parses a scope parameter (RFC 6749 §3.3): space-separated tokens of printable ASCII other
/// than `"` and `\`. Returns the distinct tokens in order, or `None` when malformed.
pub fn parse_scope(scope: &str) -> Option<Vec<String>> {
    let valid_char = |c: char| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c);
    let mut tokens: Vec<String> = Vec::new();
    for token in scope.split(' ') {
        if token.is_empty() || !token.chars().all(valid_char) {
            return None;
        }
        if !tokens.iter().any(|t| t == token) {
            tokens.push(token.to_owned());
        }
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ValidatorKey {
        ValidatorKey::derive(&crate::crypto::kek::Kek::generate().unwrap()).unwrap()
    }

    #[test]
    fn refresh_tokens_have_the_documented_format_and_parse_back() {
        let key = key();
        let token = RefreshToken::first(&key).unwrap();
        assert!(token.expose().starts_with("tmr_"));
        assert_eq!(token.expose().len(), 47);
        assert_eq!(RefreshToken::parse(token.expose()), Some(token.clone()));
        assert_ne!(RefreshToken::first(&key).unwrap(), token);
        assert_eq!(format!("{token:?}"), "RefreshToken(tmr_…)");
        assert_eq!(token.generation(&key), Some(1));
    }

    #[test]
    fn a_later_generation_keeps_the_family_and_only_the_key_makes_it() {
        let key = key();
        let token = RefreshToken::first(&key).unwrap();
        let next = token.at_generation(&key, 2);
        assert_eq!(next.family(), token.family());
        assert_ne!(next.hash(), token.hash());
        assert_eq!(next.expose()[..4 + 21], token.expose()[..4 + 21]);
        assert_eq!(next.generation(&key), Some(2));
        assert_eq!(
            token.at_generation(&key, 2),
            next,
            "computed, the same every time"
        );
        assert_ne!(RefreshToken::first(&key).unwrap().family(), token.family());
        assert_eq!(RefreshToken::parse(next.expose()), Some(next.clone()));
        // Another key (another deployment's KEK) did not issue it.
        assert_eq!(next.generation(&self::key()), None);
        // Nor is a token with the right selector and a made-up tail one tokenmint issued.
        let mut forged = next.bytes;
        forged[31] ^= 1;
        assert_eq!(RefreshToken::from_bytes(forged).generation(&key), None);
        forged = next.bytes;
        forged[SELECTOR_LEN + 3] ^= 1;
        assert_eq!(
            RefreshToken::from_bytes(forged).generation(&key),
            None,
            "the generation is under the tag"
        );
    }

    #[test]
    fn malformed_refresh_tokens_do_not_parse() {
        let good = RefreshToken::first(&key()).unwrap().expose().to_owned();
        for bad in [
            "",
            "tmr_",
            &good[4..],
            &format!("tmx_{}", &good[4..]),
            &format!("{good}A"),
            &good[..46],
            &format!("{}\r\n", &good[..45]),
            &format!("tmr_{}", "+".repeat(43)),
            // 43 base64url characters carry 258 bits: the last one's spare bits must be zero.
            &format!("tmr_{}B", "A".repeat(42)),
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn scope_syntax_follows_rfc_6749() {
        assert_eq!(parse_scope("read write read").unwrap(), ["read", "write"]);
        assert_eq!(parse_scope("a:b/c").unwrap(), ["a:b/c"]);
        for bad in [
            "",
            " read",
            "read  write",
            "re\"ad",
            "re\\ad",
            "caf\u{e9}",
            "a\tb",
        ] {
            assert!(parse_scope(bad).is_none(), "{bad:?}");
        }
    }
}
