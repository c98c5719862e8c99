//! Audit events: one row per security event, with who did it and why. Never a token or a
//! secret: events carry ids, reasons and request metadata only.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The user, through their own tokens.
    User,
    /// Appwrite, through a webhook.
    Appwrite,
    /// tokenmint itself (reuse detection, rotation).
    System,
    /// An operator, by admin key id.
    Admin(String),
    /// Someone Appwrite reported as impersonating the user, by Appwrite user id.
    Impersonator(String),
}

impl Actor {
    /// The stored form: `user`, `appwrite`, `system`, `admin:<key id>` or
    /// `impersonator:<Appwrite user id>`.
    pub fn as_string(&self) -> String {
        match self {
            Self::User => "user".into(),
            Self::Appwrite => "appwrite".into(),
            Self::System => "system".into(),
            Self::Admin(id) => format!("admin:{id}"),
            Self::Impersonator(id) => format!("impersonator:{id}"),
        }
    }
}

/// Where a request came from, for sessions and audit events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id (`x-request-id`).
    pub request_id: Option<String>,
    /// The peer address.
    pub ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

/// One security event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// What happened, e.g. `session.created`.
    pub event: &'static str,
    /// Who caused it.
    pub actor: Actor,
    /// The user concerned.
    pub user_id: Option<String>,
    /// The session concerned.
    pub session_id: Option<Uuid>,
    /// Another subject (a key id, an admin key id).
    pub subject: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The request it came from.
    pub request_id: Option<String>,
    /// The peer address of that request.
    pub ip: Option<String>,
}

impl AuditEvent {
    /// An event about a session, from a request.
    pub fn session(
        event: &'static str,
        actor: Actor,
        user_id: &str,
        session_id: Uuid,
        reason: Option<&str>,
        context: &RequestContext,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            occurred_at: now,
            event,
            actor,
            user_id: Some(user_id.to_owned()),
            session_id: Some(session_id),
            subject: None,
            reason: reason.map(str::to_owned),
            request_id: context.request_id.clone(),
            ip: context.ip.clone(),
        }
    }
}

impl AuditEvent {
    /// An event about something other than a session (a key, an admin key).
    pub fn about(
        event: &'static str,
        actor: Actor,
        subject: &str,
        reason: Option<&str>,
        context: &RequestContext,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            occurred_at: now,
            event,
            actor,
            user_id: None,
            session_id: None,
            subject: Some(subject.to_owned()),
            reason: reason.map(str::to_owned),
            request_id: context.request_id.clone(),
            ip: context.ip.clone(),
        }
    }
}

/// A stored audit event, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Increasing id: the pagination cursor.
    pub id: i64,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// What happened.
    pub event: String,
    /// Who caused it (`user`, `appwrite`, `system`, `admin:<key id>`).
    pub actor: String,
    /// The user concerned.
    pub user_id: Option<String>,
    /// The session concerned.
    pub session_id: Option<Uuid>,
    /// Another subject.
    pub subject: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The request it came from.
    pub request_id: Option<String>,
    /// The peer address of that request.
    pub ip: Option<String>,
}

/// Which audit events to read: newest first, optionally filtered, before a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events about this user.
    pub user_id: Option<String>,
    /// Only events about this session.
    pub session_id: Option<Uuid>,
    /// Only events with a smaller id (the previous page's last id).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
}
