//! The refresh grant (RFC 6749 §6) with rotation, a grace window and reuse detection.
//!
//! 1. One statement tries the rotation: when the presented token is its family's current token
//!    and the session is live and bound to no other client, the presented token becomes the
//!    previous one, its next generation the current one, and the idle end moves. That is the
//!    whole refresh in the common case: one database round trip.
//! 2. Otherwise one read finds out why, and nothing has been written:
//!    - unknown family, ended session, another client: `invalid_grant`;
//!    - the previous token within the grace window (a retry after a lost answer, or a request
//!      that lost the race): **the same** successor — computed again from the presented token
//!      (its next generation) — with a fresh access token. The window does not run out while
//!      tokenmint could not answer (see [`grace`](super::grace)): a retry after a database
//!      outage or failover is a retry;
//!    - a token tokenmint issued for this family at an older generation (its tag proves it):
//!      a replay, however long ago it was used. The session is revoked (`refresh_token_reuse`,
//!      audited) and the answer is `invalid_grant`;
//!    - a token tokenmint issued at a *later* generation than the stored one: a rotation the
//!      database lost (a failover of asynchronous replication, a restored backup). The session
//!      rolls forward to it (audited) and the refresh succeeds;
//!    - a token tokenmint never issued (a leaked selector with a made-up tail): `invalid_grant`,
//!      audited as a forgery attempt, and nothing changes — a guess cannot revoke a session.
//!
//! A `scope` parameter is checked against the grant before anything is written, so a refused
//! request never burns the token (the client binding is checked inside the statement).

mod reuse;

use chrono::{DateTime, Utc};

use super::error::{InvalidGrantReason, TokenError};
use super::events::GrantType;
use super::grace;
use super::grants::{IssuedTokens, TokenService, check_visible_ascii};
use super::model::audit::{Actor, AuditEvent, RequestContext};
use super::model::sessions::Grant;
use super::ports::{Rotation, TokenFamily};
use super::token::{RefreshToken, parse_scope};
use crate::clock::later;
use crate::crypto::successor;
use reuse::Replayed;

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
        // What tokenmint issued the presented token as: its generation, or nothing (a token
        // from before generations, or one it never issued).
        let issued_as = presented.generation(&self.validators);
        let successor = self.successor_of(&presented, issued_as)?;
        if let Some(session) = self
            .try_rotate(&presented, &successor, false, &request, now)
            .await?
        {
            return self.issue_refreshed(&session, &request, successor, now);
        }
        let family = self.live_family(&presented, &request, now).await?;
        if family.current != Some(presented.hash()) {
            let (grant, successor) = self
                .not_current(&presented, issued_as, &family, &request, now)
                .await?;
            return self.issue_refreshed(&grant, &request, successor, now);
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
        let (grant, successor) = self
            .not_current(&presented, issued_as, &family, &request, now)
            .await?;
        self.issue_refreshed(&grant, &request, successor, now)
    }

    /// The successor of `presented`: its next generation; for a token from before generations
    /// (or one tokenmint never issued: its rotation then matches nothing), a first generation
    /// drawn from the token (see [`RefreshToken::first_generation_after_legacy`]).
    fn successor_of(
        &self,
        presented: &RefreshToken,
        issued_as: Option<u32>,
    ) -> Result<RefreshToken, TokenError> {
        let generation = match issued_as {
            Some(generation) => generation
                .checked_add(1)
                .ok_or_else(|| TokenError::invalid_grant(InvalidGrantReason::UnknownToken))?,
            None => presented.first_generation_after_legacy(),
        };
        Ok(presented.at_generation(&self.validators, generation))
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
        let rotation = self.rotation(presented, successor, unmigrated, request, now);
        Ok(self.store.rotate_refresh_token(&rotation).await?)
    }

    /// The rotation of `presented` to `successor` at `now`.
    fn rotation(
        &self,
        presented: &RefreshToken,
        successor: &RefreshToken,
        unmigrated: bool,
        request: &RefreshRequest,
        now: DateTime<Utc>,
    ) -> Rotation {
        // The successor was just made by tokenmint: its stated generation is its generation.
        let generation = successor.stated_generation();
        Rotation {
            family: presented.family(),
            presented: presented.hash(),
            unmigrated,
            successor: successor.hash(),
            generation: i64::from(generation),
            client_id: request.client_id.clone(),
            idle_expires_at: later(now, self.policy.idle_ttl),
            now,
        }
    }

    /// A token of a live family that is not its current one (see the module's documentation):
    /// the grant and the refresh token to answer with, or why not.
    async fn not_current(
        &self,
        presented: &RefreshToken,
        issued_as: Option<u32>,
        family: &TokenFamily,
        request: &RefreshRequest,
        now: DateTime<Utc>,
    ) -> Result<(Grant, RefreshToken), TokenError> {
        let hash = presented.hash();
        let previous = family.previous.as_ref().filter(|p| p.hash == hash);
        // The previous token: its successor (the current token) has never been used.
        if let Some(previous) = previous {
            let grace = self.policy.grace;
            if grace::within_window(previous.used_at, grace, now) {
                self.events.grace_window_hit();
                let successor = self.previous_successor(presented, issued_as, family)?;
                return Ok((family.session.grant(), successor));
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
                let successor = self.previous_successor(presented, issued_as, family)?;
                return Ok((family.session.grant(), successor));
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
        let replayed = Replayed {
            generation: issued_as,
            stored: family.generation,
            previous_used_at: previous.map(|p| p.used_at),
        };
        match issued_as {
            // Issued later than the stored state: the database lost the rotations since.
            Some(generation) if family.generation.is_none_or(|g| i64::from(generation) > g) => {
                self.roll_forward(presented, generation, family, request, now)
                    .await
            }
            // Issued by tokenmint at an older generation, or the previous token after its
            // window: a replay.
            Some(_) => Err(self
                .replay(family, &replayed, &request.context, now)
                .await?),
            None if previous.is_some() => Err(self
                .replay(family, &replayed, &request.context, now)
                .await?),
            // Never issued: a guess on a leaked selector. It must not revoke anything.
            None => Err(self.forgery(family, &request.context, now).await?),
        }
    }

    /// The successor a retry of the previous token gets: its next generation, which the
    /// current token is. (Rows rotated before generations keep that successor sealed.)
    fn previous_successor(
        &self,
        presented: &RefreshToken,
        issued_as: Option<u32>,
        family: &TokenFamily,
    ) -> Result<RefreshToken, TokenError> {
        let successor = self.successor_of(presented, issued_as)?;
        if family.current == Some(successor.hash()) {
            return Ok(successor);
        }
        let sealed = family
            .previous
            .as_ref()
            .and_then(|p| p.successor_sealed.as_deref())
            .ok_or(TokenError::Crypto(crate::crypto::CryptoError))?;
        let hash = presented.hash();
        let text = successor::open(presented.expose(), &hash.0, sealed)?;
        RefreshToken::parse(&text).ok_or(TokenError::Crypto(crate::crypto::CryptoError))
    }

    /// A genuine token of a later generation than the stored one: the database lost the
    /// rotations that issued it (asynchronous replication failed over, a backup was restored).
    /// Its holder is the only one who can have it, so the session moves forward to it.
    async fn roll_forward(
        &self,
        presented: &RefreshToken,
        generation: u32,
        family: &TokenFamily,
        request: &RefreshRequest,
        now: DateTime<Utc>,
    ) -> Result<(Grant, RefreshToken), TokenError> {
        let successor = self.successor_of(presented, Some(generation))?;
        let rotation = self.rotation(presented, &successor, false, request, now);
        let Some(grant) = self
            .store
            .roll_forward(&rotation, family.generation)
            .await?
        else {
            // The family changed meanwhile (a concurrent rotation or roll-forward): the client
            // may retry and be judged against what is there now.
            return Err(TokenError::TemporarilyUnavailable {
                what: "the database",
                retry_after: super::error::DATABASE_RETRY_AFTER,
            });
        };
        self.events.refresh_rolled_forward();
        let audit = AuditEvent::session(
            "refresh_token.rolled_forward",
            Actor::System,
            &family.session.user_id,
            family.session.id,
            None,
            &request.context,
            now,
        );
        if let Err(err) = self.store.record_audit(&audit).await {
            tracing::warn!(error = %err, "cannot record the roll-forward in the audit log");
        }
        tracing::warn!(
            sid = %family.session.id,
            stored = ?family.generation,
            presented = generation,
            "a refresh token newer than the stored state was presented: the database lost \
             rotations (a failover, a restored backup); the session moved forward to it"
        );
        Ok((grant, successor))
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
mod tests;
