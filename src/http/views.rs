//! JSON views of domain objects for the admin and self-service APIs. Times are RFC 3339.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::audit::AuditRecord;
use crate::domain::keys::SigningKeyRecord;
use crate::domain::session::Session;

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A session as operators and users see it (never a token).
#[derive(Serialize)]
pub struct SessionView {
    id: String,
    user_id: String,
    client_id: Option<String>,
    appwrite_session_id: String,
    audience: String,
    scope: Option<String>,
    device_name: Option<String>,
    user_agent: Option<String>,
    ip: Option<String>,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    absolute_expires_at: String,
    idle_expires_at: String,
    revoked_at: Option<String>,
    revoked_reason: Option<&'static str>,
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<bool>,
}

impl SessionView {
    /// The view of `session` at `now`; `current` marks the caller's own session.
    pub fn new(session: &Session, now: DateTime<Utc>, current: Option<bool>) -> Self {
        Self {
            id: session.id.to_string(),
            user_id: session.user_id.clone(),
            client_id: session.client_id.clone(),
            appwrite_session_id: session.appwrite_session_id.clone(),
            audience: session.audience.clone(),
            scope: session.scope.clone(),
            device_name: session.device_name.clone(),
            user_agent: session.user_agent.clone(),
            ip: session.ip.clone(),
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            expires_at: rfc3339(session.absolute_expires_at.min(session.idle_expires_at)),
            absolute_expires_at: rfc3339(session.absolute_expires_at),
            idle_expires_at: rfc3339(session.idle_expires_at),
            revoked_at: session.revoked_at.map(rfc3339),
            revoked_reason: session.revoked_reason.map(|r| r.as_str()),
            active: session.is_active(now),
            current,
        }
    }
}

/// A signing key's metadata.
#[derive(Serialize)]
pub struct KeyView {
    kid: String,
    alg: &'static str,
    state: &'static str,
    created_at: String,
    activates_at: Option<String>,
    retired_at: Option<String>,
    publish_until: Option<String>,
}

impl From<&SigningKeyRecord> for KeyView {
    fn from(key: &SigningKeyRecord) -> Self {
        Self {
            kid: key.kid.clone(),
            alg: key.algorithm.as_str(),
            state: key.state.as_str(),
            created_at: rfc3339(key.created_at),
            activates_at: key.activates_at.map(rfc3339),
            retired_at: key.retired_at.map(rfc3339),
            publish_until: key.publish_until.map(rfc3339),
        }
    }
}

/// An audit event.
#[derive(Serialize)]
pub struct AuditView {
    id: i64,
    occurred_at: String,
    event: String,
    actor: String,
    user_id: Option<String>,
    session_id: Option<String>,
    subject: Option<String>,
    reason: Option<String>,
    request_id: Option<String>,
    ip: Option<String>,
}

impl From<AuditRecord> for AuditView {
    fn from(record: AuditRecord) -> Self {
        Self {
            id: record.id,
            occurred_at: rfc3339(record.occurred_at),
            event: record.event,
            actor: record.actor,
            user_id: record.user_id,
            session_id: record.session_id.map(|id| id.to_string()),
            subject: record.subject,
            reason: record.reason,
            request_id: record.request_id,
            ip: record.ip,
        }
    }
}
