//! A refresh token that comes back when it should not: a replay of one tokenmint issued
//! revokes its session; one tokenmint never issued is recorded and changes nothing.

use chrono::{DateTime, Utc};

use crate::domain::error::{InvalidGrantReason, TokenError};
use crate::domain::grants::TokenService;
use crate::domain::model::audit::{Actor, AuditEvent, RequestContext};
use crate::domain::model::sessions::{RevocationReason, Session};
use crate::domain::ports::{Revocation, TokenFamily};

/// What a replayed token was, for the log line that says so.
pub(super) struct Replayed {
    /// The generation it was issued at (none: a token from before generations).
    pub(super) generation: Option<u32>,
    /// The family's stored generation.
    pub(super) stored: Option<i64>,
    /// When it was rotated, if it is the family's previous token (then past its window).
    pub(super) previous_used_at: Option<DateTime<Utc>>,
}

impl TokenService {
    /// A replay of a token tokenmint issued: the session is revoked.
    pub(super) async fn replay(
        &self,
        family: &TokenFamily,
        replayed: &Replayed,
        context: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<TokenError, TokenError> {
        self.events.refresh_reuse_detected();
        // What an operator needs to tell theft from a fault: which token came back, and how
        // late (no token or hash is logged).
        tracing::warn!(
            sid = %family.session.id,
            presented_generation = ?replayed.generation,
            stored_generation = ?replayed.stored,
            previous_used_ms_ago = ?replayed
                .previous_used_at
                .map(|at| (now - at).num_milliseconds()),
            "a refresh token already rotated was presented again"
        );
        self.revoke_for_reuse(&family.session, context, now).await?;
        Ok(TokenError::invalid_grant(InvalidGrantReason::TokenReuse))
    }

    /// A token of the family tokenmint never issued: recorded, nothing else changes.
    pub(super) async fn forgery(
        &self,
        family: &TokenFamily,
        context: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<TokenError, TokenError> {
        let audit = AuditEvent::session(
            "refresh_token.forgery_rejected",
            Actor::System,
            &family.session.user_id,
            family.session.id,
            None,
            context,
            now,
        );
        self.store.record_audit(&audit).await?;
        tracing::warn!(
            sid = %family.session.id,
            "a refresh token with this session's selector that tokenmint never issued was \
             presented (a leaked prefix?); refused, the session is unchanged"
        );
        Ok(TokenError::invalid_grant(InvalidGrantReason::ForgedToken))
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
}
