//! Ports: the traits the domain needs from the outside world, implemented by adapters
//! (`crate::store` for PostgreSQL and SQLite, `crate::appwrite` for Appwrite).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

use super::admin_keys::AdminKeyRecord;
use super::audit::{AuditEvent, AuditQuery, AuditRecord};
use super::keys::SigningKeyRecord;
use super::session::{RevocationReason, Session, UserSnapshot};
use super::token::TokenHash;

/// A boxed error from an adapter, kept for logs and never shown to clients.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure. The cause is kept as a source for logging; its text never reaches a
/// client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, or did not answer in time.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    /// The database refused or failed a statement.
    #[error("database statement failed")]
    Query(#[source] BoxError),
    /// A row holds a value the domain cannot represent.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// A refresh token as stored, with its session.
#[derive(Debug, Clone)]
pub struct RefreshTokenState {
    /// The session (family) it belongs to.
    pub session: Session,
    /// When it was used (rotated), if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// Its successor, sealed under a key derived from this token (see `crypto::successor`).
    pub successor_sealed: Option<Vec<u8>>,
    /// When it stops being valid (the session's absolute end).
    pub expires_at: DateTime<Utc>,
}

/// One rotation: mark `presented` used, issue `successor`, touch the session.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The presented token.
    pub presented: TokenHash,
    /// Its session.
    pub session_id: Uuid,
    /// The new token's hash.
    pub successor: TokenHash,
    /// The new token sealed for the holder of the presented one.
    pub successor_sealed: Vec<u8>,
    /// The new token's expiry (the session's absolute end).
    pub successor_expires_at: DateTime<Utc>,
    /// The session's new idle end.
    pub idle_expires_at: DateTime<Utc>,
    /// The time of the rotation.
    pub now: DateTime<Utc>,
}

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
        Self {
            reason,
            at,
            feed_until: at + access_ttl + chrono::Duration::seconds(Self::FEED_SLACK_SECONDS),
        }
    }
}

/// What a rotation attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationResult {
    /// This request won: the token is now used and the successor stored.
    Rotated,
    /// The token was already used (another request won); nothing was written.
    AlreadyUsed,
    /// The session is revoked or expired; nothing was written.
    SessionEnded,
}

/// Which of a user's sessions to read: newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    /// The user.
    pub user_id: String,
    /// Include revoked sessions.
    pub include_revoked: bool,
    /// Only sessions with a smaller (older) id.
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
}

/// What the background purge may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeCutoffs {
    /// Feed entries that stopped mattering before this.
    pub feed: DateTime<Utc>,
    /// Sessions (with their refresh tokens) that ended before this.
    pub sessions: DateTime<Utc>,
    /// Refresh tokens used before this (kept until then for reuse detection).
    pub used_tokens: DateTime<Utc>,
}

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

/// Persistent state, with one implementation per database backend. Each method is one unit of
/// work: it commits entirely or not at all.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Inserts a signing key. Returns `false`, writing nothing, when the key's state is
    /// `active` or `next` and another key already holds that state: at most one key signs and
    /// at most one waits, whatever number of replicas race to create them.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError>;

    /// Every stored signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Under the key lock: if the `next` key may sign at `now`, retires the active key
    /// (published until `publish_until`) and activates the next one. Returns the newly active
    /// kid, or `None` when no promotion was due (including when another replica just did it).
    async fn promote_next_key(
        &self,
        now: DateTime<Utc>,
        publish_until: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// Deletes retired keys whose tokens have all expired. Returns their kids.
    async fn remove_retired_keys(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError>;

    /// Emergency removal, under the key lock: deletes `kid` at once. When it was the active
    /// key, the `next` key takes over immediately, or `replacement` when there is none.
    /// Returns `false` (writing nothing) for an unknown kid.
    async fn revoke_signing_key(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        replacement: &SigningKeyRecord,
    ) -> Result<bool, StoreError>;

    /// Tells other replicas that the keys changed (PostgreSQL `NOTIFY`; nothing on SQLite).
    async fn notify_keys_changed(&self) -> Result<(), StoreError>;

    /// Creates a session with its first refresh token (expiring with the session) and records
    /// `audit`, atomically.
    async fn create_session(
        &self,
        session: &Session,
        first_token: &TokenHash,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The session, by id.
    async fn find_session(&self, id: Uuid) -> Result<Option<Session>, StoreError>;

    /// The refresh token with this hash, with its session.
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshTokenState>, StoreError>;

    /// Rotates a refresh token. A conditional update (`… where used_at is null`) decides the
    /// single winner among any number of concurrent attempts, across processes.
    async fn rotate_refresh_token(&self, rotation: &Rotation)
    -> Result<RotationResult, StoreError>;

    /// Revokes a session (all its refresh tokens with it) and records `audit`, atomically.
    /// Idempotent: returns `false`, writing nothing, when it was already revoked or is unknown.
    async fn revoke_session(
        &self,
        id: Uuid,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Revokes every live session of a user and moves the user's not-before forward to the
    /// second after the revocation (so tokens issued within that second are covered),
    /// recording `audit` once per revoked session (with its id filled in). Returns their ids.
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Revokes the live sessions created from one Appwrite session, recording `audit` per
    /// session. Returns their ids.
    async fn revoke_appwrite_session(
        &self,
        user_id: &str,
        appwrite_session_id: &str,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Feed entries with an id above `after` that still matter at `now`, oldest first.
    async fn revocations_since(
        &self,
        after: i64,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FeedEntry>, StoreError>;

    /// Deletes up to `batch` rows of each kind past its cutoff; returns how many rows went.
    async fn purge_expired(&self, cutoffs: &PurgeCutoffs, batch: u32) -> Result<u64, StoreError>;

    /// The user's not-before, if one was set.
    async fn user_not_before(&self, user_id: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Replaces the claims snapshot of the user's live sessions whose snapshot is older than
    /// `updated_at_ms`. Returns how many sessions changed.
    async fn update_user_snapshot(
        &self,
        user_id: &str,
        snapshot: &UserSnapshot,
        updated_at_ms: i64,
    ) -> Result<u64, StoreError>;

    /// A user's sessions, newest first.
    async fn user_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError>;

    /// Records one audit event on its own.
    async fn record_audit(&self, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Audit events, newest first.
    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;

    /// Stores a new admin key and records `audit`, atomically.
    async fn insert_admin_key(
        &self,
        key: &AdminKeyRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// An admin key by id.
    async fn find_admin_key(&self, id: &str) -> Result<Option<AdminKeyRecord>, StoreError>;

    /// Every admin key, oldest first.
    async fn admin_keys(&self) -> Result<Vec<AdminKeyRecord>, StoreError>;

    /// Revokes an admin key and records `audit`, atomically. `false` when unknown or already
    /// revoked (and then nothing is written).
    async fn revoke_admin_key(
        &self,
        id: &str,
        now: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
}

/// Proof of an Appwrite session, as handed over by the app.
#[derive(Debug, Clone)]
pub enum SubjectProof {
    /// An Appwrite JWT from `account.createJWT()`.
    AppwriteJwt(SecretString),
    /// The session value (the `a_session_<project>` cookie value).
    AppwriteSession(SecretString),
}

/// What the identity provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLogin {
    /// The Appwrite user `$id`.
    pub user_id: String,
    /// The Appwrite session `$id` the proof belongs to.
    pub appwrite_session_id: String,
    /// The user as Appwrite describes them now.
    pub snapshot: UserSnapshot,
    /// The user's `$updatedAt`, in unix milliseconds.
    pub updated_at_ms: i64,
}

/// Why the identity provider did not vouch for a proof.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The proof is invalid, expired, or its session is gone.
    #[error("the subject token was rejected")]
    Rejected,
    /// The user is blocked.
    #[error("the user is blocked")]
    Blocked,
    /// The user must reset their password first.
    #[error("the user must reset their password")]
    PasswordResetRequired,
    /// The user must complete multi-factor authentication first.
    #[error("the user must complete multi-factor authentication")]
    MoreFactorsRequired,
    /// The provider rate-limited tokenmint.
    #[error("rate limited by the identity provider")]
    RateLimited {
        /// Seconds before a retry makes sense.
        retry_after: u64,
    },
    /// tokenmint's configuration is wrong (unknown project).
    #[error("the identity provider does not know tokenmint's project")]
    Misconfigured,
    /// The provider is down, slow, or answered something unreadable.
    #[error("the identity provider is unavailable")]
    Unavailable(#[source] BoxError),
}

/// The identity provider (Appwrite) that vouches for a login once, at exchange.
#[async_trait]
pub trait IdentityProvider: Send + Sync + 'static {
    /// Asks the provider who the proof belongs to.
    async fn verify(&self, proof: &SubjectProof) -> Result<VerifiedLogin, IdentityError>;
}
