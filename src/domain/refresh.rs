//! The refresh grant (RFC 6749 §6) with rotation, a grace window and reuse detection.
//!
//! 1. Read the presented token and its session (immutable facts: client, scope, state), and
//!    refuse without side effects what can be refused: unknown token, ended session, another
//!    client, a wider scope.
//! 2. An unused token: mint a successor, seal it for the presenter, and let the store's
//!    conditional update decide the one winner. A loser falls through to step 3.
//! 3. A used token within the grace window: open the winner's sealed successor and return
//!    **the same** refresh token with a fresh access token. Beyond the window (or with no
//!    successor to give): reuse — revoke the whole session, answer `invalid_grant`.

use chrono::{DateTime, Utc};

use super::audit::{Actor, AuditEvent, RequestContext};
use super::error::TokenError;
use super::grants::{IssuedTokens, TokenService, check_visible_ascii};
use super::ports::{RefreshTokenState, Revocation, Rotation, RotationResult};
use super::session::RevocationReason;
use super::token::{RefreshToken, TokenHash, parse_scope};
use crate::crypto::successor;

/// A refresh request, its parameters as received.
#[derive(Debug, Clone, Default)]
pub struct RefreshRequest {
    /// `refresh_token`.
    pub refresh_token: Option<String>,
    /// `scope`: may only narrow what the session was granted.
    pub scope: Option<String>,
    /// `client_id`: must match the session's when it has one.
    pub client_id: Option<String>,
    /// Where the request came from.
    pub context: RequestContext,
}

const INVALID_TOKEN: &str = "the refresh token is invalid, expired or revoked";

impl TokenService {
    /// Runs the refresh grant.
    pub async fn refresh(&self, request: RefreshRequest) -> Result<IssuedTokens, TokenError> {
        let text = request
            .refresh_token
            .as_deref()
            .ok_or_else(|| TokenError::invalid_request("refresh_token is required"))?;
        check_visible_ascii("refresh_token", text, 512)?;
        let presented =
            RefreshToken::parse(text).ok_or_else(|| TokenError::invalid_grant(INVALID_TOKEN))?;
        let hash = presented.hash();
        let now = self.clock.now();
        let state = self.refreshable_state(&hash, now).await?;
        let scope = narrowed_scope(state.session.scope.as_deref(), request.scope.as_deref())?;
        check_client(
            state.session.client_id.as_deref(),
            request.client_id.as_deref(),
        )?;

        let state = if state.used_at.is_none() {
            match self.rotate(&presented, &hash, &state, now).await? {
                Ok(successor) => {
                    return self.issue(&state.session, scope.as_deref(), successor, now);
                }
                Err(()) => self.refreshable_state(&hash, now).await?,
            }
        } else {
            state
        };
        let successor = self
            .grace_successor(&presented, &hash, &state, now, &request.context)
            .await?;
        self.issue(&state.session, scope.as_deref(), successor, now)
    }

    /// The token's state if its session can still refresh; `invalid_grant` otherwise.
    async fn refreshable_state(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<RefreshTokenState, TokenError> {
        match self.store.find_refresh_token(hash).await? {
            Some(state) if state.session.is_active(now) && state.expires_at > now => Ok(state),
            _ => Err(TokenError::invalid_grant(INVALID_TOKEN)),
        }
    }

    /// Tries to win the rotation. `Ok(Ok(successor))` when this request won, `Ok(Err(()))`
    /// when another request used the token first.
    async fn rotate(
        &self,
        presented: &RefreshToken,
        hash: &TokenHash,
        state: &RefreshTokenState,
        now: DateTime<Utc>,
    ) -> Result<Result<RefreshToken, ()>, TokenError> {
        let successor = RefreshToken::generate()?;
        let session = &state.session;
        let rotation = Rotation {
            presented: *hash,
            session_id: session.id,
            successor: successor.hash(),
            successor_sealed: successor::seal(presented.expose(), &hash.0, successor.expose())?,
            successor_expires_at: session.absolute_expires_at,
            idle_expires_at: (now + self.policy.idle_ttl).min(session.absolute_expires_at),
            now,
        };
        match self.store.rotate_refresh_token(&rotation).await? {
            RotationResult::Rotated => Ok(Ok(successor)),
            RotationResult::AlreadyUsed => Ok(Err(())),
            RotationResult::SessionEnded => Err(TokenError::invalid_grant(INVALID_TOKEN)),
        }
    }

    /// A used token: the same successor within the grace window, reuse detection beyond it.
    async fn grace_successor(
        &self,
        presented: &RefreshToken,
        hash: &TokenHash,
        state: &RefreshTokenState,
        now: DateTime<Utc>,
        context: &RequestContext,
    ) -> Result<RefreshToken, TokenError> {
        let within_grace = state
            .used_at
            .is_some_and(|used| now - used <= self.policy.grace);
        if let (true, Some(sealed)) = (within_grace, &state.successor_sealed) {
            let text = successor::open(presented.expose(), &hash.0, sealed)?;
            return RefreshToken::parse(&text)
                .ok_or(TokenError::Crypto(crate::crypto::CryptoError));
        }
        let session = &state.session;
        let reason = RevocationReason::RefreshTokenReuse;
        let audit = AuditEvent::session(
            "refresh_token.reuse_detected",
            Actor::System,
            &session.user_id,
            session.id,
            Some(reason.as_str()),
            context,
            now,
        );
        if self
            .store
            .revoke_session(
                session.id,
                &Revocation::new(reason, now, self.policy.access_ttl),
                &audit,
            )
            .await?
        {
            tracing::warn!(sid = %session.id, "refresh token reuse detected; session revoked");
        }
        Err(TokenError::invalid_grant(INVALID_TOKEN))
    }
}

/// RFC 6749 §6: the requested scope must not exceed the granted one; omitted means granted.
fn narrowed_scope(
    granted: Option<&str>,
    requested: Option<&str>,
) -> Result<Option<String>, TokenError> {
    let Some(requested) = requested else {
        return Ok(granted.map(str::to_owned));
    };
    let requested = parse_scope(requested)
        .ok_or_else(|| TokenError::InvalidScope("scope is malformed".into()))?;
    let granted: Vec<&str> = granted.map(|g| g.split(' ').collect()).unwrap_or_default();
    if requested.iter().all(|s| granted.contains(&s.as_str())) {
        Ok(Some(requested.join(" ")))
    } else {
        Err(TokenError::InvalidScope(
            "the requested scope exceeds the granted scope".into(),
        ))
    }
}

/// RFC 9700 §4.14: a session bound to a client refreshes only for that client.
fn check_client(bound: Option<&str>, presented: Option<&str>) -> Result<(), TokenError> {
    match bound {
        Some(bound) if presented != Some(bound) => Err(TokenError::invalid_grant(
            "the refresh token was issued to another client",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_may_only_narrow() {
        assert_eq!(
            narrowed_scope(Some("a b"), None).unwrap(),
            Some("a b".into())
        );
        assert_eq!(
            narrowed_scope(Some("a b"), Some("b")).unwrap(),
            Some("b".into())
        );
        assert!(matches!(
            narrowed_scope(Some("a b"), Some("a c")),
            Err(TokenError::InvalidScope(_))
        ));
        assert!(matches!(
            narrowed_scope(None, Some("a")),
            Err(TokenError::InvalidScope(_))
        ));
        assert!(matches!(
            narrowed_scope(Some("a"), Some("a  b")),
            Err(TokenError::InvalidScope(_))
        ));
    }

    #[test]
    fn a_bound_session_needs_its_client() {
        assert!(check_client(None, None).is_ok());
        assert!(check_client(None, Some("x")).is_ok());
        assert!(check_client(Some("app"), Some("app")).is_ok());
        assert!(check_client(Some("app"), None).is_err());
        assert!(check_client(Some("app"), Some("other")).is_err());
    }
}
