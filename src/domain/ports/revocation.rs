//! Revocations as the store writes them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::model::sessions::RevocationReason;

/// A revocation about to be written: why, when, and until when verifiers must hear of it
/// (the revocation feed drops the entry once every access token it could affect has expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// Why.
    pub reason: RevocationReason,
    /// When.
    pub at: DateTime<Utc>,
    /// Until when the feed must carry it.
    pub feed_until: DateTime<Utc>,
}

impl Revocation {
    /// Slack added to the access-token lifetime, for verifiers' clock leeway.
    const FEED_SLACK_SECONDS: i64 = 60;

    /// A revocation at `at`, kept in the feed for `access_ttl` (plus slack).
    pub fn new(reason: RevocationReason, at: DateTime<Utc>, access_ttl: chrono::Duration) -> Self {
        let slack = chrono::Duration::seconds(Self::FEED_SLACK_SECONDS);
        Self {
            reason,
            at,
            feed_until: crate::clock::later(crate::clock::later(at, access_ttl), slack),
        }
    }
}

/// Revoking a user's sessions and raising their not-before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRevocation {
    /// Why and when.
    pub revocation: Revocation,
    /// Only live sessions created before this are revoked; `None`: every live session.
    pub created_before: Option<DateTime<Utc>>,
    /// The user's not-before becomes at least this (it never moves back).
    pub not_before: DateTime<Utc>,
}

/// What revoking a user's sessions did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedUser {
    /// The sessions revoked now.
    pub sessions: Vec<Uuid>,
    /// The user's not-before after the revocation.
    pub not_before: DateTime<Utc>,
    /// Whether the not-before moved (and so went into the revocation feed).
    pub not_before_raised: bool,
}
