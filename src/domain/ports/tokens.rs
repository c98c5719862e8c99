//! A refresh-token family as the store holds it, and what changes it.

use chrono::{DateTime, Utc};

use crate::domain::model::sessions::Session;
use crate::domain::model::tokens::{FamilyHash, TokenHash};

/// A session with the state of its refresh-token family.
#[derive(Debug, Clone)]
pub struct TokenFamily {
    /// The session.
    pub session: Session,
    /// Whether the session has its family yet: sessions created before tokens had selectors get
    /// theirs at their first rotation (see migration 0002).
    pub has_family: bool,
    /// The hash of the current (unused) refresh token.
    pub current: Option<TokenHash>,
    /// The current token's generation; `None` while it is one from before generations.
    pub generation: Option<i64>,
    /// The token rotated last, kept for the grace window.
    pub previous: Option<PreviousToken>,
}

/// The refresh token rotated last: what a retry within the grace window needs.
#[derive(Clone)]
pub struct PreviousToken {
    /// Its hash.
    pub hash: TokenHash,
    /// When it was used, to the millisecond (the grace window is compared at this precision).
    pub used_at: DateTime<Utc>,
    /// Its successor (the current token), sealed under a key derived from it: only for rows
    /// rotated before generations (a successor is now computed from the token it follows).
    pub successor_sealed: Option<Vec<u8>>,
}

impl std::fmt::Debug for PreviousToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviousToken")
            .field("hash", &self.hash)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// One rotation: the presented token becomes the previous one, `successor` the current one, and
/// the session's idle end moves forward. A conditional update decides the single winner.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The family (session) the presented token claims to belong to.
    pub family: FamilyHash,
    /// The presented token: it must be the family's current token.
    pub presented: TokenHash,
    /// `true` for a session that has no family yet (created before tokens had selectors): it is
    /// found by `presented` alone and gets `family`.
    pub unmigrated: bool,
    /// The new current token.
    pub successor: TokenHash,
    /// The successor's generation.
    pub generation: i64,
    /// The client presenting it: a session bound to a client rotates only for that client.
    pub client_id: Option<String>,
    /// The session's new idle end (the store keeps it within the absolute end).
    pub idle_expires_at: DateTime<Utc>,
    /// The time of the rotation.
    pub now: DateTime<Utc>,
}

/// A session about to be created by an exchange, with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session.
    pub session: Session,
    /// Its family.
    pub family: FamilyHash,
    /// Its first refresh token.
    pub token: TokenHash,
    /// That token's generation.
    pub generation: i64,
    /// When Appwrite was asked about the proof: a revocation of the user (their not-before) or
    /// of the Appwrite session recorded after this refuses the session.
    pub verified_at: DateTime<Utc>,
}
