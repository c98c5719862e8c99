//! What Appwrite's webhooks ask of tokenmint, and doing it. Nothing here calls Appwrite:
//! webhooks must be answered fast or Appwrite disables them.
//!
//! Appwrite sends no delivery id or timestamp, so a delivery may be replayed by anyone who
//! captured one, and handlers must make a replay change nothing:
//! - a password change or a block acts **as of its own time** (the payload's `passwordUpdate` or
//!   `$updatedAt`): it revokes only sessions created before that time plus
//!   [`CLOCK_SKEW_MARGIN`] (erring towards revoking), and sets the user's not-before to the
//!   same instant — never later, so a replay days later spares every newer session;
//! - a user deletion, or "delete all sessions" (whose payload carries no time of its own),
//!   revokes every live session as of now;
//! - revoking is idempotent, and a snapshot only ever moves forward by `$updatedAt`.
//!
//! Appwrite signs the URL and the body, not the `X-Appwrite-Webhook-Events` header that names
//! the action, so a captured name change could be replayed labelled as a deletion. Every
//! signed body is therefore remembered in the database (shared by replicas) by its SHA-256,
//! with the event set it was first received under, for [`DELIVERY_MEMORY`]:
//! - the same body under the same events is a redelivery: applied again, and a revocation
//!   whose payload carries no time of its own acts as of the first receipt, so a replay spares
//!   sessions created since;
//! - the same body under other events is re-labelled ([`Sighting::Relabelled`]): refused —
//!   unless a server API key is configured and Appwrite itself confirms what the new label
//!   says (the user is gone, or blocked): a genuine deletion can carry the very body of an
//!   earlier update (a rename, then nothing else changed, then a deletion).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::events::{Events, NoEvents};
use super::model::audit::{Actor, AuditEvent, RequestContext};
use super::model::sessions::{RevocationReason, UserSnapshot};
use super::ports::{
    AppwriteUserState, Revocation, Store, StoreError, UserDirectory, UserRevocation,
};
use super::session::not_before_after;
use super::text::storable;
use crate::clock::{Clock, later};

/// How far Appwrite's clock may be behind tokenmint's: an event at Appwrite time `t` revokes
/// sessions created before `t` plus this, and sets the not-before to that instant. Both services
/// are expected to run NTP; 5 s is generous for that and short enough that a sign-in just after
/// a password change is rarely caught by it (such a sign-in is refused or revoked, and the app
/// simply signs in again).
pub const CLOCK_SKEW_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

/// Latest not-before an event may set, relative to now: a payload time far in the future (a
/// misconfigured clock) cannot lock a user out for longer than this.
pub const MAX_FUTURE_NOT_BEFORE: chrono::Duration = chrono::Duration::seconds(60);

/// How long a deleted Appwrite session is remembered, to refuse an exchange of it that was
/// already in flight: far longer than any Appwrite verification may take (at most 60 s).
pub const APPWRITE_SESSION_MEMORY: chrono::Duration = chrono::Duration::minutes(10);

/// How long a signed webhook body is remembered with the events it was first received under
/// (counted from that first receipt). Appwrite itself does not retry a failed delivery, but a
/// delivery may still come again later (resent from its console, retried by a proxy or queue
/// in front of tokenmint), and the longer the memory, the longer a captured delivery cannot be
/// re-labelled. A week covers any such redelivery and a weekend's incident; it also bounds the
/// table: one row (about 300 bytes) per distinct delivery of the last 7 days.
pub const DELIVERY_MEMORY: chrono::Duration = chrono::Duration::days(7);

/// What the memory of deliveries says about a signed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting {
    /// Not received before (or its memory expired): it is remembered now.
    First,
    /// Received before under the same events: a redelivery, first received at `first_seen_at`.
    Redelivery {
        /// When it was first received (tokenmint's clock, whole seconds).
        first_seen_at: DateTime<Utc>,
    },
    /// Received before under other events: re-labelled by someone else; must be refused.
    Relabelled,
}

/// One webhook's action, decided from its event names and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAction {
    /// Revoke a user's sessions (and raise their not-before).
    RevokeUser {
        /// The Appwrite user.
        user_id: String,
        /// Why.
        reason: RevocationReason,
        /// When the event happened, by Appwrite's clock; `None`: revoke everything, as of now.
        as_of: Option<DateTime<Utc>>,
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

impl WebhookAction {
    /// The Appwrite user it is about, if any.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::RevokeUser { user_id, .. }
            | Self::RevokeAppwriteSession { user_id, .. }
            | Self::UpdateSnapshot { user_id, .. } => Some(user_id),
            Self::Ignore => None,
        }
    }

    /// This action for a redelivery of a body first received at `first_seen_at`: a user
    /// revocation whose payload carries no time (a deletion, "delete all sessions") acts as of
    /// that first receipt instead of now, so a replay cannot revoke sessions created since.
    /// (A deleted Appwrite session cannot be exchanged again, and the other revocations
    /// already act as of their payload's time.)
    pub fn redelivered(self, first_seen_at: DateTime<Utc>) -> Self {
        match self {
            Self::RevokeUser {
                user_id,
                reason,
                as_of: None,
            } => Self::RevokeUser {
                user_id,
                reason,
                as_of: Some(first_seen_at),
            },
            other => other,
        }
    }
}

/// Applies webhook actions.
#[derive(Clone)]
pub struct WebhookHandler {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    access_ttl: chrono::Duration,
    events: Arc<dyn Events>,
    directory: Option<Arc<dyn UserDirectory>>,
}

impl WebhookHandler {
    /// The handler over `store`; `access_ttl` bounds how long revocations stay in the feed.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, access_ttl: chrono::Duration) -> Self {
        Self {
            store,
            clock,
            access_ttl,
            events: Arc::new(NoEvents),
            directory: None,
        }
    }

    /// Asks Appwrite's user directory (`APPWRITE_API_KEY`) before refusing a re-labelled
    /// delivery (see [`WebhookHandler::confirmed_by_appwrite`]).
    pub fn with_directory(mut self, directory: Arc<dyn UserDirectory>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Whether Appwrite, asked now, confirms what a re-labelled delivery's `action` says: a
    /// deletion of a user Appwrite no longer has, or a block of a user it reports blocked.
    /// Without a directory, for any other action, or when Appwrite cannot answer: `false`
    /// (the delivery stays refused; the reconciler catches up when it runs).
    pub async fn confirmed_by_appwrite(&self, action: &WebhookAction) -> bool {
        let Some(directory) = &self.directory else {
            return false;
        };
        let WebhookAction::RevokeUser {
            user_id, reason, ..
        } = action
        else {
            return false;
        };
        let expected = match reason {
            RevocationReason::AppwriteUserDeleted => AppwriteUserState::Deleted,
            RevocationReason::AppwriteUserBlocked => AppwriteUserState::Blocked,
            _ => return false,
        };
        match directory.user_state(user_id).await {
            Ok(state) => state == expected,
            Err(err) => {
                tracing::warn!(error = %err, "Appwrite could not confirm a re-labelled webhook; refusing it");
                false
            }
        }
    }

    /// Reports revocations to `events` (nowhere by default). Deliveries themselves are
    /// reported by the HTTP adapter, which sees the ones refused before they get here.
    pub fn with_events(mut self, events: Arc<dyn Events>) -> Self {
        self.events = events;
        self
    }

    /// Where deliveries are reported.
    pub fn events(&self) -> &dyn Events {
        self.events.as_ref()
    }

    /// Remembers a signed delivery of `body` under `events` (the normalised event set, see
    /// `appwrite::webhook::normalised_events`) and says whether it was seen before, and under
    /// which events. The body itself is never stored, only its SHA-256.
    pub async fn sight(&self, body: &[u8], events: &str) -> Result<Sighting, StoreError> {
        let now = self.clock.now();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
        let mut body_digest = [0u8; 32];
        body_digest.copy_from_slice(digest.as_ref());
        let events = storable(events);
        let first = self
            .store
            .remember_webhook_delivery(&body_digest, &events, now, later(now, DELIVERY_MEMORY))
            .await?;
        Ok(if first.events != *events {
            Sighting::Relabelled
        } else if first.at.timestamp() < now.timestamp() {
            Sighting::Redelivery {
                first_seen_at: first.at,
            }
        } else {
            // Stored just now (or redelivered within the same second: as of now either way).
            Sighting::First
        })
    }

    /// Records in the audit log that a signed delivery was refused, about the deciding `event`
    /// (`none` when it names none) and the payload's `user_id`, with `reason`
    /// (`relabelled` or `mismatched`). Never the body.
    pub async fn record_refusal(
        &self,
        event: Option<&str>,
        user_id: Option<&str>,
        reason: &str,
        context: &RequestContext,
    ) -> Result<(), StoreError> {
        let mut audit = AuditEvent::about(
            "webhook.refused",
            Actor::Appwrite,
            event.unwrap_or("none"),
            Some(reason),
            context,
            self.clock.now(),
        );
        audit.user_id = user_id.map(str::to_owned);
        self.store.record_audit(&audit).await
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
            WebhookAction::RevokeUser {
                user_id,
                reason,
                as_of,
            } => {
                let revocation = user_revocation(reason, as_of, now, self.access_ttl);
                let audit = revoked_event(&user_id, reason, context, now);
                let revoked = self
                    .store
                    .revoke_user_sessions(&user_id, &revocation, &audit)
                    .await?;
                self.events.sessions_revoked(reason, revoked.sessions.len());
                (user_id, revoked.sessions.len())
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
                        later(now, APPWRITE_SESSION_MEMORY),
                        &audit,
                    )
                    .await?;
                self.events.sessions_revoked(reason, revoked.len());
                (user_id, revoked.len())
            }
            WebhookAction::UpdateSnapshot {
                user_id,
                snapshot,
                updated_at_ms,
            } => {
                let updated = self
                    .store
                    .update_user_snapshot(&user_id, &snapshot.into_storable(), updated_at_ms)
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

/// What revoking a user as of `as_of` means at `now` (see the module documentation).
fn user_revocation(
    reason: RevocationReason,
    as_of: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    access_ttl: chrono::Duration,
) -> UserRevocation {
    let revocation = Revocation::new(reason, now, access_ttl);
    match as_of {
        None => UserRevocation {
            revocation,
            created_before: None,
            not_before: not_before_after(now),
        },
        Some(at) => {
            let until = later(at, CLOCK_SKEW_MARGIN).min(later(now, MAX_FUTURE_NOT_BEFORE));
            // Whole seconds, rounded up: stored times and `iat` have whole seconds.
            let until = not_before_after(until - chrono::Duration::nanoseconds(1));
            UserRevocation {
                revocation,
                created_before: Some(until),
                not_before: until,
            }
        }
    }
}

fn revoked_event(
    user_id: &str,
    reason: RevocationReason,
    context: &RequestContext,
    now: DateTime<Utc>,
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

#[cfg(test)]
mod tests;
