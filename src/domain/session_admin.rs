//! Seeing and ending sessions: for operators (admin API, CLI), for users (their own
//! sessions), and for Appwrite (webhooks). Every revocation is idempotent and audited, and
//! operators read that audit trail here too.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::events::{Events, NoEvents};
use super::model::audit::{Actor, AuditEvent, AuditQuery, AuditRecord, RequestContext};
use super::model::sessions::{RevocationReason, Session};
use super::ports::{Revocation, SessionQuery, Store, StoreError, UserRevocation};
use super::session::not_before_after;
use crate::clock::Clock;

/// Largest page of sessions or audit events.
pub const MAX_PAGE: u32 = 200;
/// Page size when none is asked for.
pub const DEFAULT_PAGE: u32 = 50;

/// A page of results and the cursor of the next one.
#[derive(Debug, Clone)]
pub struct Page<T, C> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as the cursor to get the next page; `None` on the last page.
    pub next: Option<C>,
}

/// What revoking all of a user's sessions did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedAll {
    /// The sessions that were live and are now revoked.
    pub sessions: Vec<Uuid>,
    /// The user's new not-before: access tokens issued earlier are no longer valid.
    pub not_before: DateTime<Utc>,
}

/// Session administration.
#[derive(Clone)]
pub struct SessionAdmin {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    access_ttl: chrono::Duration,
    events: Arc<dyn Events>,
}

impl SessionAdmin {
    /// The service over `store`; `access_ttl` bounds how long revocations stay in the feed.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, access_ttl: chrono::Duration) -> Self {
        Self {
            store,
            clock,
            access_ttl,
            events: Arc::new(NoEvents),
        }
    }

    /// Reports revocations to `events` (nowhere by default).
    pub fn with_events(mut self, events: Arc<dyn Events>) -> Self {
        self.events = events;
        self
    }

    /// A user's sessions, newest first; live only unless `include_revoked`.
    pub async fn list(
        &self,
        user_id: &str,
        include_revoked: bool,
        after: Option<Uuid>,
        limit: Option<u32>,
    ) -> Result<Page<Session, Uuid>, StoreError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        // Expired sessions are as dead as revoked ones, whatever the purge has reached; the
        // query leaves them out itself, so a page is never cut short by them.
        let query = SessionQuery {
            user_id: user_id.to_owned(),
            active_at: (!include_revoked).then(|| self.clock.now()),
            before: after,
            limit: limit + 1,
        };
        let mut items = self.store.user_sessions(&query).await?;
        let next = (items.len() > limit as usize).then(|| {
            items.truncate(limit as usize);
            items.last().map(|s| s.id)
        });
        Ok(Page {
            items,
            next: next.flatten(),
        })
    }

    /// Audit events, newest first, as `query` filters them. The next cursor (the id to pass
    /// as `before`) is given whenever the page is full, so the last page may be empty.
    pub async fn audit_events(
        &self,
        query: &AuditQuery,
    ) -> Result<Page<AuditRecord, i64>, StoreError> {
        let items = self.store.audit_events(query).await?;
        let next = (items.len() == query.limit as usize)
            .then(|| items.last().map(|e| e.id))
            .flatten();
        Ok(Page { items, next })
    }

    /// One session.
    pub async fn get(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        self.store.find_session(id).await
    }

    /// Revokes one session; `None` when it does not exist. Revoking a revoked session
    /// changes nothing and still answers the session.
    pub async fn revoke(
        &self,
        id: Uuid,
        reason: RevocationReason,
        actor: Actor,
        context: &RequestContext,
    ) -> Result<Option<Session>, StoreError> {
        let Some(session) = self.store.find_session(id).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let audit = AuditEvent::session(
            "session.revoked",
            actor,
            &session.user_id,
            id,
            Some(reason.as_str()),
            context,
            now,
        );
        if self
            .store
            .revoke_session(id, &Revocation::new(reason, now, self.access_ttl), &audit)
            .await?
        {
            self.events.sessions_revoked(reason, 1);
        }
        self.store.find_session(id).await
    }

    /// Revokes every live session of a user and sets the user's not-before to now.
    pub async fn revoke_all(
        &self,
        user_id: &str,
        reason: RevocationReason,
        actor: Actor,
        context: &RequestContext,
    ) -> Result<RevokedAll, StoreError> {
        let now = self.clock.now();
        let mut audit = AuditEvent::about(
            "session.revoked",
            actor,
            user_id,
            Some(reason.as_str()),
            context,
            now,
        );
        audit.user_id = Some(user_id.to_owned());
        audit.subject = None;
        let revocation = UserRevocation {
            revocation: Revocation::new(reason, now, self.access_ttl),
            created_before: None,
            not_before: not_before_after(now),
        };
        let revoked = self
            .store
            .revoke_user_sessions(user_id, &revocation, &audit)
            .await?;
        self.events.sessions_revoked(reason, revoked.sessions.len());
        let (sessions, not_before) = (revoked.sessions, revoked.not_before);
        Ok(RevokedAll {
            sessions,
            not_before,
        })
    }
}
