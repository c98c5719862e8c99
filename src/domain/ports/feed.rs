//! The revocation feed's entries, and what the background purge may delete.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One entry of the revocation feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEntry {
    /// A revoked session: reject access tokens with this `sid` until `until`.
    Session {
        /// The feed position.
        id: i64,
        /// The session.
        sid: Uuid,
        /// When the entry stops mattering.
        until: DateTime<Utc>,
    },
    /// A user's not-before: reject their access tokens issued earlier.
    User {
        /// The feed position.
        id: i64,
        /// The user.
        sub: String,
        /// Tokens with `iat` before this are revoked.
        not_before: DateTime<Utc>,
        /// When the entry stops mattering.
        until: DateTime<Utc>,
    },
}

impl FeedEntry {
    /// The feed position.
    pub fn id(&self) -> i64 {
        match self {
            Self::Session { id, .. } | Self::User { id, .. } => *id,
        }
    }
}

/// What the background purge may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeCutoffs {
    /// Feed entries that stopped mattering before this.
    pub feed: DateTime<Utc>,
    /// Sessions that ended before this.
    pub sessions: DateTime<Utc>,
    /// Remembered Appwrite-session revocations that stopped mattering before this.
    pub appwrite_sessions: DateTime<Utc>,
    /// Outages that ended before this (no session still alive was rotated before them).
    pub outages: DateTime<Utc>,
    /// Heartbeats of replicas last seen before this.
    pub heartbeats: DateTime<Utc>,
    /// Remembered webhook deliveries that expired before this.
    pub webhook_deliveries: DateTime<Utc>,
}
