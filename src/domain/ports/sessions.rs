//! Reading sessions: a user's sessions, and those due for a check against Appwrite.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Which of a user's sessions to read: newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    /// The user.
    pub user_id: String,
    /// Only sessions active (not revoked, not expired) at this time; `None`: every session.
    pub active_at: Option<DateTime<Utc>>,
    /// Only sessions with a smaller (older) id.
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
}

/// A session claimed for a check against Appwrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileClaim {
    /// The tokenmint session.
    pub session_id: Uuid,
    /// Its Appwrite user.
    pub user_id: String,
    /// Its Appwrite session; empty when the login named none (an OAuth2 token).
    pub appwrite_session_id: String,
}
