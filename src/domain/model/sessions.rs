//! Sessions as stored: one per token exchange, the family of every refresh token rotated from
//! it, with the user snapshot its access tokens are made from.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// Longest display name kept in a snapshot, in characters (Appwrite allows 128).
pub const MAX_NAME_CHARS: usize = 256;
/// Longest email kept (RFC 5321's path limit); a longer one is dropped, not cut.
pub const MAX_EMAIL_CHARS: usize = 320;
/// Most labels kept, and the longest label (Appwrite allows 36 alphanumerics).
pub const MAX_LABELS: usize = 100;
/// See [`MAX_LABELS`].
pub const MAX_LABEL_CHARS: usize = 128;

impl UserSnapshot {
    /// The snapshot as it may be stored and issued in tokens: U+0000 replaced (see
    /// [`crate::domain::text`]), the name cut to [`MAX_NAME_CHARS`], an email longer than
    /// [`MAX_EMAIL_CHARS`] dropped, at most [`MAX_LABELS`] labels of at most
    /// [`MAX_LABEL_CHARS`] (longer ones dropped). Appwrite's own limits are tighter, so this
    /// changes nothing Appwrite itself would send; it bounds what a misbehaving upstream could
    /// put into every access token.
    pub fn storable(&self) -> Self {
        self.clone().into_storable()
    }

    /// [`UserSnapshot::storable`], consuming the snapshot.
    pub fn into_storable(self) -> Self {
        use crate::domain::text::{into_storable, truncated};
        let email = if self.email.chars().count() <= MAX_EMAIL_CHARS {
            into_storable(self.email)
        } else {
            String::new()
        };
        Self {
            email,
            email_verified: self.email_verified,
            name: truncated(into_storable(self.name), MAX_NAME_CHARS),
            labels: self
                .labels
                .into_iter()
                .filter(|label| label.chars().count() <= MAX_LABEL_CHARS)
                .take(MAX_LABELS)
                .map(into_storable)
                .collect(),
        }
    }
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
    /// Appwrite: the Appwrite session behind it expired or is gone, found by the reconciler
    /// (Appwrite sends no webhook for either).
    AppwriteSessionExpired,
}

impl RevocationReason {
    /// Every reason.
    pub const ALL: [Self; 10] = [
        Self::Logout,
        Self::Admin,
        Self::RefreshTokenReuse,
        Self::UserRevokeAll,
        Self::AppwriteUserDeleted,
        Self::AppwriteUserBlocked,
        Self::AppwritePasswordChanged,
        Self::AppwriteSessionDeleted,
        Self::AppwriteSessionsDeleted,
        Self::AppwriteSessionExpired,
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
            Self::AppwriteSessionExpired => "appwrite_session_expired",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// Who acted as the user when the session was created, when Appwrite reported an
    /// impersonation; its access tokens carry it as `act`.
    pub impersonator: Option<String>,
}

/// What an access token is made from: the part of a session the grants need. The refresh
/// statement returns exactly this, not the whole session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The session id; the `sid` claim.
    pub id: Uuid,
    /// The `sub` claim.
    pub user_id: String,
    /// The client the session is bound to, if any.
    pub client_id: Option<String>,
    /// The `aud` claim.
    pub audience: String,
    /// The scope granted at exchange, if any.
    pub scope: Option<String>,
    /// The `auth_time` claim.
    pub auth_time: DateTime<Utc>,
    /// No access token outlives this.
    pub absolute_expires_at: DateTime<Utc>,
    /// The snapshot claims.
    pub claims: UserSnapshot,
    /// The `act.sub` claim: who acts as the user, if anyone.
    pub impersonator: Option<String>,
}

impl Session {
    /// The part of the session an access token is made from.
    pub fn grant(&self) -> Grant {
        Grant {
            id: self.id,
            user_id: self.user_id.clone(),
            client_id: self.client_id.clone(),
            audience: self.audience.clone(),
            scope: self.scope.clone(),
            auth_time: self.auth_time,
            absolute_expires_at: self.absolute_expires_at,
            claims: self.claims.clone(),
            impersonator: self.impersonator.clone(),
        }
    }

    /// Whether refresh tokens of this session may still be used at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.absolute_expires_at && now < self.idle_expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storable_snapshot_has_no_nul_and_bounded_text() {
        let snapshot = UserSnapshot {
            email: "a\0b@example.com".into(),
            email_verified: true,
            name: "N\0".repeat(300),
            labels: (0..150)
                .map(|i| format!("l{i}\0"))
                .chain(["x".repeat(129)])
                .collect(),
        }
        .into_storable();
        assert_eq!(snapshot.email, "a\u{FFFD}b@example.com");
        assert_eq!(snapshot.name.chars().count(), MAX_NAME_CHARS);
        assert!(!snapshot.name.contains('\0'));
        assert_eq!(snapshot.labels.len(), MAX_LABELS);
        assert_eq!(snapshot.labels[0], "l0\u{FFFD}");
        let long_email = UserSnapshot {
            email: format!("{}@example.com", "a".repeat(400)),
            ..UserSnapshot::default()
        };
        assert_eq!(long_email.into_storable().email, "");
    }
}
