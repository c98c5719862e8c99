//! The token service: the grants of `POST /oauth/token` and revocation. Each grant lives in
//! its own module (`exchange`, `refresh`, `revoke`); this one holds what they share.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::TokenError;
use super::events::{Events, NoEvents};
use super::keys::KeyRing;
use super::model::sessions::Grant;
use super::ports::{Availability, IdentityProvider, Store};
use super::rate_limit::{Unlimited, UserRateLimit};
use super::token::{ACCESS_TOKEN_TYPE, RefreshToken, access_claims};
use crate::clock::Clock;
use crate::crypto::validator::ValidatorKey;

/// The rules the grants follow. Start-up builds it from the configuration (see
/// `startup::token_policy`); the domain never reads the configuration itself.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// `iss`.
    pub issuer: String,
    /// Allowed audiences; the first is the default.
    pub audiences: Vec<String>,
    /// Access-token lifetime.
    pub access_ttl: chrono::Duration,
    /// Absolute session lifetime.
    pub refresh_ttl: chrono::Duration,
    /// Idle session lifetime.
    pub idle_ttl: chrono::Duration,
    /// Grace window for a used refresh token.
    pub grace: chrono::Duration,
    /// Snapshot claims copied into access tokens.
    pub claims: Vec<String>,
    /// `TOKENMINT_SELF_SERVICE_AUDIENCE`: when set, the only audience whose access tokens may
    /// act on their user's own sessions (`/v1/me`, revocation by access token).
    pub self_service_audience: Option<String>,
    /// `TOKENMINT_IMPERSONATION`: whether a login Appwrite reports as an impersonation may be
    /// exchanged (its tokens then carry `act`).
    pub allow_impersonation: bool,
}

impl TokenPolicy {
    /// Whether an access token minted for `audience` may act on its user's own sessions.
    pub fn allows_self_service(&self, audience: &str) -> bool {
        self.self_service_audience
            .as_deref()
            .is_none_or(|allowed| allowed == audience)
    }
}

/// A successful grant: what `POST /oauth/token` returns. `Debug` never shows the tokens.
#[derive(Clone)]
pub struct IssuedTokens {
    /// The signed access token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// The refresh token to use next.
    pub refresh_token: RefreshToken,
    /// The access token's scope, if any.
    pub scope: Option<String>,
    /// The session these tokens belong to.
    pub session_id: uuid::Uuid,
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token)
            .field("scope", &self.scope)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// Runs the grants. Cheap to clone.
#[derive(Clone)]
pub struct TokenService {
    pub(super) store: Arc<dyn Store>,
    pub(super) availability: Arc<dyn Availability>,
    pub(super) identity: Option<Arc<dyn IdentityProvider>>,
    /// Makes and checks the tags of refresh tokens (derived from the KEK).
    pub(super) validators: ValidatorKey,
    pub(super) keys: KeyRing,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) policy: Arc<TokenPolicy>,
    pub(super) user_limit: Arc<dyn UserRateLimit>,
    pub(super) events: Arc<dyn Events>,
}

impl TokenService {
    /// A service over its ports. Without an identity provider (no `APPWRITE_PROJECT_ID`),
    /// token exchange answers [`TokenError::ExchangeNotConfigured`] and everything else works.
    pub fn new(
        store: Arc<dyn Store>,
        availability: Arc<dyn Availability>,
        identity: Option<Arc<dyn IdentityProvider>>,
        validators: ValidatorKey,
        keys: KeyRing,
        clock: Arc<dyn Clock>,
        policy: TokenPolicy,
    ) -> Self {
        Self {
            store,
            availability,
            identity,
            validators,
            keys,
            clock,
            policy: Arc::new(policy),
            user_limit: Arc::new(Unlimited),
            events: Arc::new(NoEvents),
        }
    }

    /// Limits each Appwrite user's token exchanges with `limit` (none by default).
    pub fn with_user_rate_limit(mut self, limit: Arc<dyn UserRateLimit>) -> Self {
        self.user_limit = limit;
        self
    }

    /// Reports the grants' outcomes, reuse detections, grace-window hits and revocations to
    /// `events` (nowhere by default).
    pub fn with_events(mut self, events: Arc<dyn Events>) -> Self {
        self.events = events;
        self
    }

    /// The key set the service signs with (also used to verify its own access tokens).
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Signs an access token for `session` with the active key.
    pub(super) fn issue(
        &self,
        session: &Grant,
        scope: Option<&str>,
        refresh_token: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, TokenError> {
        let keys = self.keys.current();
        let signer = keys.active().ok_or(TokenError::NoSigningKey)?;
        let policy = &self.policy;
        let claims = access_claims(
            &policy.issuer,
            session,
            scope,
            &policy.claims,
            (now, policy.access_ttl),
            crate::crypto::uuid_v7(now)?,
        );
        let access_token = signer.sign_jwt(ACCESS_TOKEN_TYPE, &claims)?;
        Ok(IssuedTokens {
            access_token,
            expires_in: claims.exp - claims.iat,
            refresh_token,
            scope: scope.map(str::to_owned),
            session_id: session.id,
        })
    }
}

/// Rejects text that cannot be a token or identifier: empty, too long, or holding anything
/// but visible ASCII (so no CR/LF ever reaches a header or a log line).
pub(super) fn check_visible_ascii(
    name: &str,
    value: &str,
    max_len: usize,
) -> Result<(), TokenError> {
    if value.is_empty() {
        return Err(TokenError::invalid_request(format!("{name} is empty")));
    }
    if value.len() > max_len {
        return Err(TokenError::invalid_request(format!("{name} is too long")));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::invalid_request(format!(
            "{name} contains invalid characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_debug_never_shows_the_tokens() {
        let key = ValidatorKey::derive(&crate::crypto::kek::Kek::generate().unwrap()).unwrap();
        let refresh_token = RefreshToken::first(&key).unwrap();
        let issued = IssuedTokens {
            access_token: "eyJhbGciOiJFUzI1NiJ9.claims.signature".into(),
            expires_in: 900,
            refresh_token: refresh_token.clone(),
            scope: None,
            session_id: uuid::Uuid::nil(),
        };
        let debug = format!("{issued:?}");
        assert!(!debug.contains("signature"), "{debug}");
        assert!(!debug.contains(&refresh_token.expose()[4..]), "{debug}");
    }
}
