//! Token formats: opaque refresh tokens (`tmr_` + base64url of 32 random bytes, stored only
//! as SHA-256) and access-token claims (RFC 9068), plus the scope syntax of RFC 6749 §3.3.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::session::Session;
use crate::crypto::{CryptoError, random_bytes};

/// The refresh-token prefix, so leaked tokens are recognisable by secret scanners.
pub const REFRESH_TOKEN_PREFIX: &str = "tmr_";
const REFRESH_TOKEN_LEN: usize = 4 + 43;

/// A refresh token's text. `Debug` shows only its prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RefreshToken({}…)",
            &self.0[..REFRESH_TOKEN_PREFIX.len()]
        )
    }
}

impl RefreshToken {
    /// A new random token.
    pub fn generate() -> Result<Self, CryptoError> {
        let bytes = random_bytes::<32>()?;
        Ok(Self(format!(
            "{REFRESH_TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// Accepts exactly the format [`RefreshToken::generate`] produces; anything else cannot be
    /// one of ours and is rejected without a database lookup.
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(REFRESH_TOKEN_PREFIX)?;
        let well_formed = text.len() == REFRESH_TOKEN_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD
                .decode(body)
                .is_ok_and(|bytes| bytes.len() == 32);
        well_formed.then(|| Self(text.to_owned()))
    }

    /// The token text, to hand to its holder.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the text: the only form ever stored.
    pub fn hash(&self) -> TokenHash {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.0.as_bytes());
        let mut hash = [0u8; 32];
        hash.copy_from_slice(digest.as_ref());
        TokenHash(hash)
    }
}

/// The SHA-256 of a refresh token. Lookups go by this hash through a database index, so no
/// secret-dependent comparison happens in tokenmint's own code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The `client_id` claim of tokens whose exchange named no client (RFC 9068 requires one).
pub const ANONYMOUS_CLIENT: &str = "anonymous";

/// Access-token claims (RFC 9068 §2.2 plus the session id and the user snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: `TOKENMINT_ISSUER`.
    pub iss: String,
    /// The Appwrite user id.
    pub sub: String,
    /// The audience.
    pub aud: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Unique id (UUIDv7).
    pub jti: String,
    /// The client, or [`ANONYMOUS_CLIENT`].
    pub client_id: String,
    /// The tokenmint session id.
    pub sid: String,
    /// When Appwrite vouched for the login, unix seconds.
    pub auth_time: i64,
    /// Granted scope, space-separated.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    /// Snapshot: email.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    /// Snapshot: whether the email is verified.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email_verified: Option<bool>,
    /// Snapshot: display name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// Snapshot: Appwrite labels.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub labels: Option<Vec<String>>,
}

impl AccessClaims {
    /// The claims of an access token for `session`, issued at `now`, expiring after `ttl` but
    /// never after the session's absolute end. `snapshot_claims` picks the snapshot members
    /// (`TOKENMINT_CLAIMS`); empty strings are omitted rather than asserted.
    pub fn for_session(
        issuer: &str,
        session: &Session,
        scope: Option<&str>,
        snapshot_claims: &[String],
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Self {
        let wants = |claim: &str| snapshot_claims.iter().any(|c| c == claim);
        let user = &session.claims;
        let has_email = !user.email.is_empty();
        Self {
            iss: issuer.to_owned(),
            sub: session.user_id.clone(),
            aud: session.audience.clone(),
            exp: (now + ttl).min(session.absolute_expires_at).timestamp(),
            iat: now.timestamp(),
            jti: uuid::Uuid::now_v7().to_string(),
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
