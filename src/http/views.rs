//! JSON views of domain objects for the admin and self-service APIs. Times are RFC 3339.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::model::audit::AuditRecord;
use crate::domain::model::keys::SigningKeyRecord;
use crate::domain::model::sessions::Session;

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A session as operators and users see it (never a token). Times are RFC 3339.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionView {
    /// The session id (UUIDv7; the access token's `sid`).
    #[schema(format = "uuid")]
    id: String,
    /// The Appwrite user id (the access token's `sub`).
    user_id: String,
    /// The client given at exchange.
    client_id: Option<String>,
    /// The Appwrite session the login came from; empty for a login by an Appwrite OAuth2
    /// token, which names no Appwrite session.
    appwrite_session_id: String,
    /// Who acted as the user at sign-in, when Appwrite reported an impersonation (the access
    /// tokens' `act.sub`); null for the user themselves.
    impersonator: Option<String>,
    /// The access tokens' audience.
    audience: String,
    /// The granted scope.
    scope: Option<String>,
    /// The device name given at exchange.
    device_name: Option<String>,
    /// The `User-Agent` of the exchange.
    user_agent: Option<String>,
    /// The client IP of the exchange.
    ip: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// The last exchange or refresh.
    #[schema(format = DateTime)]
    last_used_at: String,
    /// The earlier of the absolute and the idle expiry.
    #[schema(format = DateTime)]
    expires_at: String,
    #[schema(format = DateTime)]
    absolute_expires_at: String,
    #[schema(format = DateTime)]
    idle_expires_at: String,
    #[schema(format = DateTime)]
    revoked_at: Option<String>,
    /// `logout`, `admin`, `refresh_token_reuse`, `user_revoke_all` or an `appwrite_*` reason.
    revoked_reason: Option<&'static str>,
    /// Neither revoked nor expired.
    active: bool,
    /// On `/v1/me/sessions` only: whether this is the caller's own session.
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
            impersonator: session.impersonator.clone(),
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

/// A signing key's metadata (never the private key). Times are RFC 3339.
#[derive(Serialize, ToSchema)]
#[schema(as = SigningKey)]
pub struct KeyView {
    /// The key id (the JWT header's `kid`).
    kid: String,
    /// `ES256`, `EdDSA` or `RS256`.
    alg: &'static str,
    /// The key's state in its lifecycle (`next`, `active`, `retired`, …).
    state: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    activates_at: Option<String>,
    #[schema(format = DateTime)]
    retired_at: Option<String>,
    /// Until when the JWKS keeps publishing it.
    #[schema(format = DateTime)]
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
#[derive(Serialize, ToSchema)]
#[schema(as = AuditEvent)]
pub struct AuditView {
    /// Increasing; pass the last one as `before` for the next page.
    id: i64,
    #[schema(format = DateTime)]
    occurred_at: String,
    /// What happened (`session.created`, `session.revoked`, `refresh_token.reuse_detected`,
    /// `key.rotated`, …).
    event: String,
    /// Who did it (`user`, `system`, `appwrite`, `admin:<key id>`, `impersonator:<Appwrite
    /// user id>`, …).
    actor: String,
    user_id: Option<String>,
    #[schema(format = "uuid")]
    session_id: Option<String>,
    /// What was acted on, when not a session or a user (a key id, for example).
    subject: Option<String>,
    reason: Option<String>,
    /// The `X-Request-Id` of the request that caused it.
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
