//! What Appwrite's webhooks ask of tokenmint, and doing it. Handlers are idempotent: Appwrite
//! sends no delivery id, so a replayed delivery must change nothing (revoking is idempotent;
//! a snapshot only ever moves forward by Appwrite's `$updatedAt`). Nothing here calls
//! Appwrite: webhooks must be answered fast or Appwrite disables them.

use std::sync::Arc;

use super::audit::{Actor, AuditEvent, RequestContext};
use super::ports::{Revocation, Store, StoreError};
use super::session::{RevocationReason, UserSnapshot};
use crate::clock::Clock;

/// One webhook's action, decided from its event names and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAction {
    /// Revoke all of a user's sessions (and set their not-before).
    RevokeUser {
        /// The Appwrite user.
        user_id: String,
        /// Why.
        reason: RevocationReason,
    },
    /// Revoke the sessions created from one Appwrite session.
    RevokeAppwriteSession {
        /// The Appwrite user.
        user_id: String,
        /// The Appwrite session.
        appwrite_session_id: String,
    },
    /// Refresh the claims snapshot of the user's live sessions, if newer.
    UpdateSnapshot {
        /// The Appwrite user.
        user_id: String,
        /// The user as Appwrite now describes them.
        snapshot: UserSnapshot,
        /// Appwrite's `$updatedAt`, unix milliseconds.
        updated_at_ms: i64,
    },
    /// An event tokenmint does not act on.
    Ignore,
}

/// Applies webhook actions.
#[derive(Clone)]
pub struct WebhookHandler {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    access_ttl: chrono::Duration,
}

impl WebhookHandler {
    /// The handler over `store`; `access_ttl` bounds how long revocations stay in the feed.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, access_ttl: chrono::Duration) -> Self {
        Self {
            store,
            clock,
            access_ttl,
        }
    }

    /// Applies `action` for delivery `event`; returns how many sessions it changed.
    pub async fn apply(
        &self,
        event: &str,
        action: WebhookAction,
        context: &RequestContext,
    ) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let (user_id, changed) = match action {
            WebhookAction::Ignore => return Ok(0),
            WebhookAction::RevokeUser { user_id, reason } => {
                let audit = revoked_event(&user_id, reason, context, now);
                let revoked = self
                    .store
                    .revoke_user_sessions(
                        &user_id,
                        &Revocation::new(reason, now, self.access_ttl),
                        &audit,
                    )
                    .await?;
                (user_id, revoked.len())
            }
            WebhookAction::RevokeAppwriteSession {
                user_id,
                appwrite_session_id,
            } => {
                let reason = RevocationReason::AppwriteSessionDeleted;
                let audit = revoked_event(&user_id, reason, context, now);
                let revoked = self
                    .store
                    .revoke_appwrite_session(
                        &user_id,
                        &appwrite_session_id,
                        &Revocation::new(reason, now, self.access_ttl),
                        &audit,
                    )
                    .await?;
                (user_id, revoked.len())
            }
            WebhookAction::UpdateSnapshot {
                user_id,
                snapshot,
                updated_at_ms,
            } => {
                let updated = self
                    .store
                    .update_user_snapshot(&user_id, &snapshot, updated_at_ms)
                    .await?;
                (user_id, usize::try_from(updated).unwrap_or(usize::MAX))
            }
        };
        if changed > 0 {
            let mut audit = AuditEvent::about(
                "webhook.applied",
                Actor::Appwrite,
                event,
                None,
                context,
                now,
            );
            audit.user_id = Some(user_id);
            self.store.record_audit(&audit).await?;
        }
        Ok(changed)
    }
}

fn revoked_event(
    user_id: &str,
    reason: RevocationReason,
    context: &RequestContext,
    now: chrono::DateTime<chrono::Utc>,
) -> AuditEvent {
    let mut audit = AuditEvent::about(
        "session.revoked",
        Actor::Appwrite,
        user_id,
        Some(reason.as_str()),
        context,
        now,
    );
    audit.user_id = Some(user_id.to_owned());
    audit.subject = None;
    audit
}
