//! Sessions: one per token exchange, the family of every refresh token rotated from it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ports::StoreError;

/// The user as Appwrite described them at exchange time (updated later by webhooks): the
/// source of the snapshot claims in access tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSnapshot {
    /// The user's email, `""` when none.
    pub email: String,
    /// Whether Appwrite has verified the email.
    pub email_verified: bool,
    /// Display name, `""` when none.
    pub name: String,
    /// Appwrite labels, usable as roles.
    pub labels: Vec<String>,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// The user logged out (`/oauth/revoke`, `DELETE /v1/me/sessions/{id}`).
    Logout,
    /// An operator revoked it.
    Admin,
    /// A used refresh token was presented after the grace window.
    RefreshTokenReuse,
    /// An operator or the user revoked all of the user's sessions.
    UserRevokeAll,
    /// Appwrite: the user was deleted.
    AppwriteUserDeleted,
    /// Appwrite: the user was blocked.
    AppwriteUserBlocked,
    /// Appwrite: the password changed.
    AppwritePasswordChanged,
    /// Appwrite: the Appwrite session behind it was deleted.
    AppwriteSessionDeleted,
    /// Appwrite: all the user's Appwrite sessions were deleted.
    AppwriteSessionsDeleted,
}

impl RevocationReason {
    const ALL: [Self; 9] = [
        Self::Logout,
        Self::Admin,
        Self::RefreshTokenReuse,
        Self::UserRevokeAll,
        Self::AppwriteUserDeleted,
        Self::AppwriteUserBlocked,
        Self::AppwritePasswordChanged,
        Self::AppwriteSessionDeleted,
        Self::AppwriteSessionsDeleted,
    ];

    /// The stored and published name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Admin => "admin",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::UserRevokeAll => "user_revoke_all",
            Self::AppwriteUserDeleted => "appwrite_user_deleted",
            Self::AppwriteUserBlocked => "appwrite_user_blocked",
            Self::AppwritePasswordChanged => "appwrite_password_changed",
            Self::AppwriteSessionDeleted => "appwrite_session_deleted",
            Self::AppwriteSessionsDeleted => "appwrite_sessions_deleted",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RevocationReason {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown revocation reason {s:?}")))
    }
}

/// A session: created by one token exchange, ended by expiry or revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// UUIDv7; the `sid` claim.
    pub id: Uuid,
    /// The Appwrite user `$id`; the `sub` claim.
    pub user_id: String,
    /// The client the session is bound to (RFC 9700 §4.14), if it named one.
    pub client_id: Option<String>,
    /// The Appwrite session the exchange proved.
    pub appwrite_session_id: String,
    /// The `aud` of its access tokens.
    pub audience: String,
    /// The scope granted at exchange (space-separated), if any.
    pub scope: Option<String>,
    /// When Appwrite vouched for the login (the exchange).
    pub auth_time: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last exchange or refresh.
    pub last_used_at: DateTime<Utc>,
    /// Hard end, fixed at creation; rotation never extends it.
    pub absolute_expires_at: DateTime<Utc>,
    /// End if unused; moved forward by each refresh, never past the absolute end.
    pub idle_expires_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoked_reason: Option<RevocationReason>,
    /// A name the app gave the device.
    pub device_name: Option<String>,
    /// The exchange request's `User-Agent`.
    pub user_agent: Option<String>,
    /// The exchange request's peer address.
    pub ip: Option<String>,
    /// The user snapshot for claims.
    pub claims: UserSnapshot,
    /// Appwrite's `$updatedAt` of the snapshot, in unix milliseconds.
    pub claims_updated_at_ms: i64,
}

impl Session {
    /// Whether refresh tokens of this session may still be used at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.absolute_expires_at && now < self.idle_expires_at
    }
}
