//! The refresh grant (RFC 6749 §6) with rotation, a grace window and reuse detection.
//!
//! 1. One statement tries the rotation: when the presented token is its family's current token
//!    and the session is live and bound to no other client, the presented token becomes the
//!    previous one, a successor the current one (sealed for the presenter), and the idle end
//!    moves. That is the whole refresh in the common case: one database round trip.
//! 2. Otherwise one read finds out why, and nothing has been written:
//!    - unknown family, ended session, another client: `invalid_grant`;
//!    - the previous token within the grace window (a retry after a lost answer, or a request
//!      that lost the race): **the same** successor, opened from its sealed copy, with a fresh
//!      access token. The window does not run out while tokenmint could not answer (see
//!      [`grace`](super::grace)): a retry after a database outage or failover is a retry;
//!    - any other token of the family: a replay, however long ago it was used. The session is
//!      revoked (`refresh_token_reuse`, audited) and the answer is `invalid_grant`.
//!
//! A `scope` parameter is checked against the grant before anything is written, so a refused
//! request never burns the token (the client binding is checked inside the statement).

use chrono::{DateTime, Utc};

use super::audit::{Actor, AuditEvent, RequestContext};
use super::error::{InvalidGrantReason, TokenError};
use super::events::GrantType;
use super::grace;
use super::grants::{IssuedTokens, TokenService, check_visible_ascii};
use super::ports::{PreviousToken, Revocation, Rotation, TokenFamily};
use super::session::{Grant, RevocationReason, Session};
use super::token::{RefreshToken, parse_scope};
use crate::clock::later;
use crate::crypto::successor;

/// A refresh request, its parameters as received. `Debug` never shows the token.
#[derive(Clone, Default)]
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

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "…"))
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field("context", &self.context)
            .finish()
    }
}

impl TokenService {
    /// Runs the refresh grant.
    pub async fn refresh(&self, request: RefreshRequest) -> Result<IssuedTokens, TokenError> {
        let result = self.rotate(request).await;
        self.events
            .grant_completed(GrantType::RefreshToken, result.as_ref().map(|_| ()));
        result
    }

    async fn rotate(&self, request: RefreshRequest) -> Result<IssuedTokens, TokenError> {
        let text = request
            .refresh_token
            .as_deref()
            .ok_or_else(|| TokenError::invalid_request("refresh_token is required"))?;
        check_visible_ascii("refresh_token", text, 512)?;
        let presented = RefreshToken::parse(text)
            .ok_or_else(|| TokenError::invalid_grant(InvalidGrantReason::UnknownToken))?;
        let now = self.clock.now();
        if request.scope.is_some() {
            let family = self.live_family(&presented, &request, now).await?;
            narrowed_scope(family.session.scope.as_deref(), request.scope.as_deref())?;
        }
        let successor = presented.successor()?;
        if let Some(session) = self
            .try_rotate(&presented, &successor, false, &request, now)
            .await?
        {
            return self.issue_refreshed(&session, &request, successor, now);
        }
        let family = self.live_family(&presented, &request, now).await?;
        if family.current != Some(presented.hash()) {
            let successor = self
                .grace_successor(&presented, &family, &request, now)
                .await?;
            return self.issue_refreshed(&family.session.grant(), &request, successor, now);
        }
        // Still the current token: a session created before token families (found by its token
        // alone), or a concurrent rotation that rolled back. Try once more.
        let unmigrated = !family.has_family;
        if let Some(session) = self
            .try_rotate(&presented, &successor, unmigrated, &request, now)
            .await?
        {
            return self.issue_refreshed(&session, &request, successor, now);
        }
        let family = self.live_family(&presented, &request, now).await?;
        let successor = self
            .grace_successor(&presented, &family, &request, now)
            .await?;
        self.issue_refreshed(&family.session.grant(), &request, successor, now)
    }

    /// The presented token's family if its session can still refresh for this client;
    /// `invalid_grant` otherwise. Writes nothing.
    async fn live_family(
        &self,
        presented: &RefreshToken,
        request: &RefreshRequest,
        now: DateTime<Utc>,
    ) -> Result<TokenFamily, TokenError> {
        let family = self
            .store
            .token_family(&presented.family(), &presented.hash())
            .await?
            .ok_or_else(|| TokenError::invalid_grant(InvalidGrantReason::UnknownToken))?;
        if !family.session.is_active(now) {
            return Err(TokenError::invalid_grant(InvalidGrantReason::SessionEnded));
        }
        check_client(
            family.session.client_id.as_deref(),
            request.client_id.as_deref(),
        )?;
        Ok(family)
    }

    /// Tries to win the rotation of `presented` to `successor`; the updated session if it did.
    async fn try_rotate(
        &self,
        presented: &RefreshToken,
        successor: &RefreshToken,
        unmigrated: bool,
        request: &RefreshRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<Grant>, TokenError> {
        let presented_hash = presented.hash();
        let rotation = Rotation {
            family: presented.family(),
            presented: presented_hash,
            unmigrated,
            successor: successor.hash(),
            successor_sealed: successor::seal(
                presented.expose(),
                &presented_hash.0,
                successor.expose(),
            )?,
            client_id: request.client_id.clone(),
            idle_expires_at: later(now, self.policy.idle_ttl),
            now,
        };
        Ok(self.store.rotate_refresh_token(&rotation).await?)
    }

    /// A token of a live family that is not its current one: the same successor when it is the
    /// previous token within the grace window (extended by outages); a replay otherwise, which
    /// revokes the session.
    async fn grace_successor(
        &self,
        presented: &RefreshToken,
        family: &TokenFamily,
        request: &RefreshRequest,
        now: DateTime<Utc>,
    ) -> Result<RefreshToken, TokenError> {
        let hash = presented.hash();
        // The previous token: its successor (the current token) has never been used.
        if let Some(previous) = family.previous.as_ref().filter(|p| p.hash == hash) {
            let grace = self.policy.grace;
            if grace::within_window(previous.used_at, grace, now) {
                self.events.grace_window_hit();
                return open_successor(presented, previous);
            }
            // Past the window: still a retry if tokenmint could not answer during part of it.
            // (Rare: only such a retry, or a replay of the previous token, reads this.)
            let outages = self
                .availability
                .outages_between(previous.used_at, now)
                .await?;
            if grace::within_extended_window(previous.used_at, grace, &outages, now) {
                self.events.grace_window_hit_after_outage();
                tracing::info!(
                    sid = %family.session.id,
                    "a refresh retried after an outage got the successor it had lost"
                );
                return open_successor(presented, previous);
            }
        }
        if family.current == Some(hash) {
            // Current, yet two rotations in a row failed: something is contending; let the
            // client retry rather than call it reuse.
            return Err(TokenError::TemporarilyUnavailable {
                what: "the database",
                retry_after: super::error::DATABASE_RETRY_AFTER,
            });
        }
        self.events.refresh_reuse_detected();
        self.revoke_for_reuse(&family.session, &request.context, now)
            .await?;
        Err(TokenError::invalid_grant(InvalidGrantReason::TokenReuse))
    }

    async fn revoke_for_reuse(
        &self,
        session: &Session,
        context: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), TokenError> {
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
        let revocation = Revocation::new(reason, now, self.policy.access_ttl);
        if self
            .store
            .revoke_session(session.id, &revocation, &audit)
            .await?
        {
            self.events.sessions_revoked(reason, 1);
            tracing::warn!(sid = %session.id, "refresh token reuse detected; session revoked");
        }
        Ok(())
    }

    fn issue_refreshed(
        &self,
        session: &Grant,
        request: &RefreshRequest,
        successor: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, TokenError> {
        let scope = narrowed_scope(session.scope.as_deref(), request.scope.as_deref())?;
        self.issue(session, scope.as_deref(), successor, now)
    }
}

/// The successor of `presented` (the family's previous token), opened from its sealed copy.
fn open_successor(
    presented: &RefreshToken,
    previous: &PreviousToken,
) -> Result<RefreshToken, TokenError> {
    let hash = presented.hash();
    let text = successor::open(presented.expose(), &hash.0, &previous.successor_sealed)?;
    RefreshToken::parse(&text).ok_or(TokenError::Crypto(crate::crypto::CryptoError))
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
            InvalidGrantReason::ClientMismatch,
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

    #[test]
    fn the_request_debug_hides_the_token() {
        let request = RefreshRequest {
            refresh_token: Some("tmr_secret-token-text".into()),
            ..RefreshRequest::default()
        };
        assert!(!format!("{request:?}").contains("secret"));
    }
}
