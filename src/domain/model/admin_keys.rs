//! Admin keys as stored: their role and the hash of their secret, never the secret.

use std::fmt;

use chrono::{DateTime, Utc};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRole {
    /// Everything under `/admin/v1`, introspection and the revocation feed.
    Admin,
    /// Introspection and the revocation feed.
    Introspect,
    /// The revocation feed (`GET /v1/revocations`) only: what a verifier needs, and nothing
    /// that could read or revoke sessions.
    Feed,
}

impl AdminRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Introspect => "introspect",
            Self::Feed => "feed",
        }
    }

    /// Whether this role may call `POST /oauth/introspect` (`admin` and `introspect`).
    pub fn may_introspect(self) -> bool {
        matches!(self, Self::Admin | Self::Introspect)
    }

    /// Whether this role may read the revocation feed: every role may.
    pub fn may_read_feed(self) -> bool {
        matches!(self, Self::Admin | Self::Introspect | Self::Feed)
    }
}

impl fmt::Display for AdminRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An admin key as stored: never the secret, only its hash (which `Debug` does not show).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminKeyRecord {
    /// The public id (the part after `tma_`).
    pub id: String,
    /// A name for humans.
    pub name: String,
    /// What it may do.
    pub role: AdminRole,
    /// Argon2id PHC string of the secret.
    pub secret_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last successful (uncached) verification.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for AdminKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminKeyRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .field("revoked_at", &self.revoked_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_debug_never_shows_the_secret_hash() {
        let record = AdminKeyRecord {
            id: "0123456789abcdef".into(),
            name: "ops".into(),
            role: AdminRole::Admin,
            secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: DateTime::<Utc>::MIN_UTC,
            revoked_at: None,
            last_used_at: None,
        };
        assert!(!format!("{record:?}").contains("argon2"));
    }
}
