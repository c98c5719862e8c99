//! Token formats: opaque refresh tokens (`tmr_` + base64url of 32 random bytes, stored only
//! as SHA-256) and access-token claims (RFC 9068), plus the scope syntax of RFC 6749 §3.3.
//!
//! A refresh token's 32 bytes are a **selector** (the first 16, fixed for its session: the
//! refresh-token family) and a **validator** (the last 16, new at every rotation). The store
//! finds the session by SHA-256 of the selector and compares SHA-256 of the whole token with the
//! session's current one, so a token of the family that is not current is recognised as a
//! replay for the session's whole life, with constant storage per session. Knowing a selector
//! means having held a token of that family: nobody else can make a "replay" that revokes it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::session::Grant;
use crate::crypto::{CryptoError, random_bytes};

/// The refresh-token prefix, so leaked tokens are recognisable by secret scanners.
pub const REFRESH_TOKEN_PREFIX: &str = "tmr_";
const REFRESH_TOKEN_LEN: usize = 4 + 43;
const SELECTOR_LEN: usize = 16;

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
    /// A new random token, the first of a new family.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self::from_bytes(random_bytes::<32>()?))
    }

    /// The next token of this token's family: the same selector, a new random validator.
    pub fn successor(&self) -> Result<Self, CryptoError> {
        let mut bytes = self.bytes;
        bytes[SELECTOR_LEN..].copy_from_slice(&random_bytes::<16>()?);
        Ok(Self::from_bytes(bytes))
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            text: format!("{REFRESH_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)),
            bytes,
        }
    }

    /// Accepts exactly the format [`RefreshToken::generate`] produces; anything else cannot be
    /// one of ours and is rejected without a database lookup.
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

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

/// The SHA-256 of a refresh token. Lookups go by hashes through a database index, so no
/// secret-dependent comparison happens in tokenmint's own code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// The SHA-256 of a refresh token's selector: names its family (its session).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FamilyHash(pub [u8; 32]);

impl fmt::Debug for FamilyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FamilyHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
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

    #[test]
    fn refresh_tokens_have_the_documented_format_and_parse_back() {
        let token = RefreshToken::generate().unwrap();
        assert!(token.expose().starts_with("tmr_"));
        assert_eq!(token.expose().len(), 47);
        assert_eq!(RefreshToken::parse(token.expose()), Some(token.clone()));
        assert_ne!(RefreshToken::generate().unwrap(), token);
        assert_eq!(format!("{token:?}"), "RefreshToken(tmr_…)");
    }

    #[test]
    fn a_successor_keeps_the_family_and_changes_the_token() {
        let token = RefreshToken::generate().unwrap();
        let next = token.successor().unwrap();
        assert_eq!(next.family(), token.family());
        assert_ne!(next.hash(), token.hash());
        assert_eq!(next.expose()[..4 + 21], token.expose()[..4 + 21]);
        assert_ne!(RefreshToken::generate().unwrap().family(), token.family());
        assert_eq!(RefreshToken::parse(next.expose()), Some(next));
    }

    #[test]
    fn malformed_refresh_tokens_do_not_parse() {
        let good = RefreshToken::generate().unwrap().expose().to_owned();
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
