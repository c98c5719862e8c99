//! Sessions that follow Appwrite without webhooks: Appwrite sends none when a session expires,
//! when a user is blocked its sessions stay, and several other removals are silent
//! (docs/appwrite-2026.md §4). With a server API key, the reconciler asks Appwrite about each
//! live tokenmint session once per period and revokes what Appwrite no longer backs:
//!
//! - the user is gone → every session of theirs (`appwrite_user_deleted`);
//! - the user is blocked → every session of theirs (`appwrite_user_blocked`);
//! - the Appwrite session a login came from is gone or expired → the sessions created from it
//!   (`appwrite_session_expired`). A login that named no Appwrite session (an OAuth2 token)
//!   follows its user only.
//!
//! Never on a request's path. Sessions are claimed through the database, so replicas share
//! the work and each session is checked once per period whichever replica runs. Appwrite
//! unreachable, slow or refusing the key ⇒ nothing is revoked: the sessions of that round come
//! due again after [`RETRY_AFTER`] (or a period, if shorter) and the outcome is counted (`unavailable`, `misconfigured`).
//! Appwrite is asked at most twice per user per round (the user, then their sessions), one
//! call at a time.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::events::{Events, NoEvents, ReconcileOutcome};
use super::model::audit::{Actor, AuditEvent, RequestContext};
use super::model::sessions::RevocationReason;
use super::ports::{
    AppwriteUserState, IdentityError, ReconcileClaim, Revocation, Store, StoreError, UserDirectory,
    UserRevocation,
};
use super::session::not_before_after;
use super::webhook::APPWRITE_SESSION_MEMORY;
use crate::clock::{Clock, later};

/// How soon sessions whose check could not be made come due again (or after one period,
/// when that is shorter).
pub const RETRY_AFTER: chrono::Duration = chrono::Duration::minutes(1);
/// Sessions claimed per round.
pub const BATCH: u32 = 100;

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Sessions claimed.
    pub sessions: usize,
    /// Users Appwrite was asked about.
    pub users: usize,
    /// Sessions revoked.
    pub revoked: usize,
    /// Appwrite could not answer: the round stopped there, nothing more was revoked.
    pub interrupted: bool,
}

/// Checks live sessions against Appwrite's user directory.
#[derive(Clone)]
pub struct Reconciler {
    store: Arc<dyn Store>,
    directory: Arc<dyn UserDirectory>,
    clock: Arc<dyn Clock>,
    period: chrono::Duration,
    access_ttl: chrono::Duration,
    events: Arc<dyn Events>,
}

impl Reconciler {
    /// Checks each live session about once per `period`; `access_ttl` bounds how long
    /// revocations stay in the feed.
    pub fn new(
        store: Arc<dyn Store>,
        directory: Arc<dyn UserDirectory>,
        clock: Arc<dyn Clock>,
        period: chrono::Duration,
        access_ttl: chrono::Duration,
    ) -> Self {
        Self {
            store,
            directory,
            clock,
            period,
            access_ttl,
            events: Arc::new(NoEvents),
        }
    }

    /// Reports checks and revocations to `events`.
    pub fn with_events(mut self, events: Arc<dyn Events>) -> Self {
        self.events = events;
        self
    }

    /// Claims the sessions now due (at most [`BATCH`]) and checks them, user by user.
    pub async fn run_once(&self) -> Result<Round, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_reconciliation(now, now - self.period, BATCH)
            .await?;
        let mut round = Round {
            sessions: claimed.len(),
            ..Round::default()
        };
        let mut by_user: BTreeMap<String, Vec<ReconcileClaim>> = BTreeMap::new();
        for claim in claimed {
            by_user
                .entry(claim.user_id.clone())
                .or_default()
                .push(claim);
        }
        let mut users = by_user.into_iter();
        while let Some((user_id, sessions)) = users.next() {
            round.users += 1;
            let asked_at = self.clock.now();
            match self.directory.user_state(&user_id).await {
                Ok(state) => {
                    round.revoked += self.apply(&user_id, &sessions, state, asked_at).await?;
                }
                Err(err) => {
                    self.events.appwrite_reconciled(outcome_of_error(&err));
                    tracing::warn!(error = %err, "Appwrite could not be asked about a user; nothing revoked, retrying in a minute");
                    // This user's sessions and the rest of the round come due again soon.
                    let mut postponed: Vec<_> =
                        sessions.iter().map(|claim| claim.session_id).collect();
                    postponed.extend(
                        users
                            .by_ref()
                            .flat_map(|(_, rest)| rest)
                            .map(|claim| claim.session_id),
                    );
                    self.store
                        .postpone_reconciliation(
                            &postponed,
                            now - self.period + RETRY_AFTER.min(self.period),
                        )
                        .await?;
                    round.interrupted = true;
                    break;
                }
            }
        }
        Ok(round)
    }

    /// Revokes what `state` (Appwrite's answer at `asked_at`) no longer backs among the
    /// user's claimed `sessions`; returns how many sessions were revoked.
    async fn apply(
        &self,
        user_id: &str,
        sessions: &[ReconcileClaim],
        state: AppwriteUserState,
        asked_at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let reason = match state {
            AppwriteUserState::Deleted => RevocationReason::AppwriteUserDeleted,
            AppwriteUserState::Blocked => RevocationReason::AppwriteUserBlocked,
            AppwriteUserState::Active {
                sessions: appwrite_sessions,
            } => {
                let ended = ended_appwrite_sessions(sessions, &appwrite_sessions, asked_at);
                let mut revoked = 0;
                for appwrite_session_id in &ended {
                    revoked += self
                        .revoke_appwrite_session(user_id, appwrite_session_id, now)
                        .await?;
                }
                self.events.appwrite_reconciled(if ended.is_empty() {
                    ReconcileOutcome::Active
                } else {
                    ReconcileOutcome::SessionEnded
                });
                return Ok(revoked);
            }
        };
        self.events.appwrite_reconciled(match reason {
            RevocationReason::AppwriteUserBlocked => ReconcileOutcome::UserBlocked,
            _ => ReconcileOutcome::UserDeleted,
        });
        // As of Appwrite's answer: a session created after it (the user unblocked and signed
        // in again meanwhile) is not Appwrite's answer's to revoke.
        let until = not_before_after(asked_at);
        let revocation = UserRevocation {
            revocation: Revocation::new(reason, now, self.access_ttl),
            created_before: Some(until),
            not_before: until,
        };
        let revoked = self
            .store
            .revoke_user_sessions(user_id, &revocation, &self.audit(user_id, reason, now))
            .await?;
        self.events.sessions_revoked(reason, revoked.sessions.len());
        Ok(revoked.sessions.len())
    }

    async fn revoke_appwrite_session(
        &self,
        user_id: &str,
        appwrite_session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let reason = RevocationReason::AppwriteSessionExpired;
        let revoked = self
            .store
            .revoke_appwrite_session(
                user_id,
                appwrite_session_id,
                &Revocation::new(reason, now, self.access_ttl),
                later(now, APPWRITE_SESSION_MEMORY),
                &self.audit(user_id, reason, now),
            )
            .await?;
        self.events.sessions_revoked(reason, revoked.len());
        Ok(revoked.len())
    }

    fn audit(&self, user_id: &str, reason: RevocationReason, now: DateTime<Utc>) -> AuditEvent {
        let mut audit = AuditEvent::about(
            "session.revoked",
            Actor::System,
            user_id,
            Some(reason.as_str()),
            &RequestContext::default(),
            now,
        );
        audit.user_id = Some(user_id.to_owned());
        audit.subject = None;
        audit
    }
}

/// The Appwrite sessions among `claimed` that Appwrite no longer lists, or lists as expired
/// at `asked_at`; each once.
fn ended_appwrite_sessions(
    claimed: &[ReconcileClaim],
    listed: &[(String, DateTime<Utc>)],
    asked_at: DateTime<Utc>,
) -> Vec<String> {
    let mut ended: Vec<String> = claimed
        .iter()
        .map(|claim| claim.appwrite_session_id.as_str())
        .filter(|id| !id.is_empty())
        .filter(|id| {
            !listed
                .iter()
                .any(|(listed, expires)| listed == id && *expires > asked_at)
        })
        .map(str::to_owned)
        .collect();
    ended.sort();
    ended.dedup();
    ended
}

fn outcome_of_error(err: &IdentityError) -> ReconcileOutcome {
    match err {
        IdentityError::Misconfigured | IdentityError::Rejected | IdentityError::NotAccepted => {
            ReconcileOutcome::Misconfigured
        }
        _ => ReconcileOutcome::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(appwrite_session_id: &str) -> ReconcileClaim {
        ReconcileClaim {
            session_id: uuid::Uuid::now_v7(),
            user_id: "u1".into(),
            appwrite_session_id: appwrite_session_id.into(),
        }
    }

    #[test]
    fn a_session_ends_when_appwrite_no_longer_lists_it_or_lists_it_expired() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let listed = vec![
            ("live".to_owned(), now + chrono::Duration::days(1)),
            ("expired".to_owned(), now - chrono::Duration::seconds(1)),
        ];
        let claimed = [
            claim("live"),
            claim("expired"),
            claim("gone"),
            claim("gone"),
            claim(""),
        ];
        assert_eq!(
            ended_appwrite_sessions(&claimed, &listed, now),
            ["expired", "gone"]
        );
    }
}
