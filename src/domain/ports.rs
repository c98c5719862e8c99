//! Ports: the traits the domain needs from the outside world, implemented by adapters
//! (`crate::store` for PostgreSQL and SQLite, `crate::appwrite` for Appwrite).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

use super::model::admin_keys::AdminKeyRecord;
use super::model::audit::{AuditEvent, AuditQuery, AuditRecord};
use super::model::keys::SigningKeyRecord;
use super::model::sessions::{Grant, RevocationReason, Session, UserSnapshot};
use super::model::tokens::{FamilyHash, TokenHash};

/// A boxed error from an adapter, kept for logs and never shown to clients.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure. The cause is kept as a source for logging; its text never reaches a
/// client, and it never carries row data (see `store::error`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, did not answer in time, or cannot take writes
    /// (a standby, a server shutting down). The connection is no longer trusted. Whether a
    /// write in flight was committed is unknown.
    #[error("database unavailable")]
    Unavailable(#[source] BoxError),
    /// The database answered, but a lock wait or a statement ran past its timeout: the
    /// statement was cancelled and nothing it would have written was written.
    #[error("database busy")]
    Busy(#[source] BoxError),
    /// A concurrent transaction changed the same rows first (a serialization failure or a
    /// deadlock): nothing was written, and trying again may succeed.
    #[error("concurrent update")]
    Conflict(#[source] BoxError),
    /// The database refused or failed a statement.
    #[error("database statement failed")]
    Query(#[source] BoxError),
    /// A row holds a value the domain cannot represent.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

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

/// How a webhook body was first received: what [`Store::remember_webhook_delivery`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstSighting {
    /// The normalised event set it was first received under.
    pub events: String,
    /// When it was first received (whole seconds).
    pub at: DateTime<Utc>,
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

/// Persistent state, with one implementation per database backend. Each method is one unit of
/// work: it commits entirely or not at all.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a signing key. Returns `false`, writing nothing, when the key's state is
    /// `active` or `next` and another key already holds that state: at most one key signs and
    /// at most one waits, whatever number of replicas race to create them. `audit` is recorded
    /// in the same transaction when the key is inserted.
    async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Every stored signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Under the key lock: if the `next` key may sign at `now`, retires the active key
    /// (published until `publish_until`) and activates the next one. Returns the newly active
    /// kid, or `None` when no promotion was due (including when another replica just did it).
    /// `audit` (its subject set to the promoted kid) is recorded in the same transaction.
    async fn promote_next_key(
        &self,
        now: DateTime<Utc>,
        publish_until: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<Option<String>, StoreError>;

    /// Deletes retired keys whose tokens have all expired, recording `audit` (its subject set
    /// to each kid) in the same transaction. Returns their kids.
    async fn remove_retired_keys(
        &self,
        now: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<Vec<String>, StoreError>;

    /// Emergency removal, under the key lock: deletes `kid` at once. When it was the active
    /// key, the `next` key takes over immediately, or `replacement` when there is none.
    /// Returns `false` (writing nothing) for an unknown kid; otherwise records `audit` in the
    /// same transaction.
    async fn revoke_signing_key(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        replacement: &SigningKeyRecord,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Tells other replicas that the keys changed (PostgreSQL `NOTIFY`; nothing on SQLite).
    async fn notify_keys_changed(&self) -> Result<(), StoreError>;

    /// Creates a session with its first refresh token and records `audit`, atomically —
    /// unless, checked in the same transaction (serialised with the user's revocations), the
    /// user's not-before is later than `verified_at` or the Appwrite session was revoked: then
    /// nothing is written and `false` is returned.
    async fn create_session(
        &self,
        new: &NewSession,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// The session, by id.
    async fn find_session(&self, id: Uuid) -> Result<Option<Session>, StoreError>;

    /// The session of a refresh token's family with its token state: found by `family`, or, for
    /// a session that has no family yet, by its current token `token`.
    async fn token_family(
        &self,
        family: &FamilyHash,
        token: &TokenHash,
    ) -> Result<Option<TokenFamily>, StoreError>;

    /// Rotates a refresh token in one statement: when `presented` is the family's current token,
    /// the session is live at `now` and bound to no other client, it becomes the previous token
    /// and `successor` the current one. Returns what the access token needs, or `None` (nothing
    /// written) when any condition fails or a concurrent rotation won.
    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<Option<Grant>, StoreError>;

    /// Moves a family whose current generation is still `from` (`None`: a token from before
    /// generations) forward to `rotation`: the presented token, of a later generation the
    /// database lost, becomes the previous one and `rotation.successor` the current one, under
    /// the conditions of a rotation (a live session, no other client). Returns the grant, or
    /// `None` (nothing written) when the family is no longer at `from` or a condition fails.
    async fn roll_forward(
        &self,
        rotation: &Rotation,
        from: Option<i64>,
    ) -> Result<Option<Grant>, StoreError>;

    /// Revokes a session (all its refresh tokens with it) and records `audit`, atomically.
    /// Idempotent: returns `false`, writing nothing, when it was already revoked or is unknown.
    async fn revoke_session(
        &self,
        id: Uuid,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Revokes the user's live sessions (those created before `created_before`, when set) and
    /// raises the user's not-before, recording `audit` once per revoked session (with its id
    /// filled in) and feed entries for what changed. Serialised with the user's exchanges.
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        revocation: &UserRevocation,
        audit: &AuditEvent,
    ) -> Result<RevokedUser, StoreError>;

    /// Revokes the live sessions created from one Appwrite session, recording `audit` per
    /// session, and remembers the Appwrite session as revoked until `remember_until` (so an
    /// exchange of it already in flight is refused). Returns the revoked sessions.
    async fn revoke_appwrite_session(
        &self,
        user_id: &str,
        appwrite_session_id: &str,
        revocation: &Revocation,
        remember_until: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Feed entries with an id above `after` that still matter at `now`, oldest first.
    async fn revocations_since(
        &self,
        after: i64,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FeedEntry>, StoreError>;

    /// Remembers that a webhook body with SHA-256 `body_digest` was received under `events` at
    /// `now`, until `expires_at`, unless it is remembered already (an expired row counts as
    /// absent and is replaced). Returns the first sighting: `events` and `now` when this is the
    /// first, else what was stored then. One statement, so concurrent replicas agree.
    async fn remember_webhook_delivery(
        &self,
        body_digest: &[u8; 32],
        events: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<FirstSighting, StoreError>;

    /// Deletes up to `batch` rows of each kind past its cutoff; returns how many rows went.
    async fn purge_expired(&self, cutoffs: &PurgeCutoffs, batch: u32) -> Result<u64, StoreError>;

    /// The user's not-before, if one was set.
    async fn user_not_before(&self, user_id: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Claims up to `limit` live sessions last checked against Appwrite (or, never checked,
    /// created) at or before `due_before`, oldest first, and marks them checked at `now`: each
    /// is handed to one caller only, whichever replica asks.
    async fn claim_reconciliation(
        &self,
        now: DateTime<Utc>,
        due_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReconcileClaim>, StoreError>;

    /// Marks `sessions` as last checked at `checked_at` (set back, so that they come due again
    /// soon after a check that could not be made).
    async fn postpone_reconciliation(
        &self,
        sessions: &[Uuid],
        checked_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

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

/// A span of time in which a replica of tokenmint could not use the database (or no replica
/// ran at all): answers were 503s or never came, and a client could not have retried
/// successfully. The grace window of a rotation does not run out during one (see
/// `domain::grace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// When it began: at the latest, when the first failed operation started.
    pub start: DateTime<Utc>,
    /// When the database was seen working again.
    pub end: DateTime<Utc>,
}

/// What tokenmint knows about the database's availability: each replica watches its own
/// operations and a heartbeat, and shares the outages it saw through the database.
#[async_trait]
pub trait Availability: Send + Sync + 'static {
    /// Whether this replica could write to the database at its last attempt (no round trip).
    fn writable(&self) -> bool;

    /// Writes the heartbeat of `replica` (started at `started_at`) at `now`: the proof that
    /// the database takes writes, and what lets a replica starting later tell whether any
    /// replica was running in between.
    async fn heartbeat(
        &self,
        replica: Uuid,
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The newest heartbeat of any replica other than `replica`, and whether that replica
    /// said it stopped on purpose; `None` when no other replica ever ran.
    async fn newest_heartbeat(
        &self,
        replica: Uuid,
    ) -> Result<Option<(DateTime<Utc>, bool)>, StoreError>;

    /// Marks `replica` as stopped on purpose (a graceful shutdown answers what it accepted).
    async fn mark_stopped(&self, replica: Uuid) -> Result<(), StoreError>;

    /// Writes the outages this replica saw and has not written yet, and `extra` (a span in
    /// which no replica ran), so that every replica knows them. Returns how many were written.
    async fn record_outages(&self, extra: Option<Outage>) -> Result<usize, StoreError>;

    /// The outages that overlap `from..=to`: those any replica recorded, and those this
    /// replica saw and has not recorded yet, including one still going on (ending `to`).
    async fn outages_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Outage>, StoreError>;
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

/// What Appwrite says of a user now, asked with a server API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppwriteUserState {
    /// The user exists and is not blocked; these are their sessions, expired ones included.
    Active {
        /// Each session's id and when it expires.
        sessions: Vec<(String, DateTime<Utc>)>,
    },
    /// The user is blocked (`status: false`).
    Blocked,
    /// The user does not exist (deleted).
    Deleted,
}

/// Appwrite's user directory (its Users API with a server API key): for the reconciler, never
/// on a request's path.
#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// What Appwrite says of `user_id` now.
    async fn user_state(&self, user_id: &str) -> Result<AppwriteUserState, IdentityError>;
}

/// Proof of an Appwrite login, as handed over by the app (or its back end).
#[derive(Debug, Clone)]
pub enum SubjectProof {
    /// An Appwrite JWT from `account.createJWT()` or the server's `users.createJWT()`.
    AppwriteJwt(SecretString),
    /// The session value (the `a_session_<project>` cookie value).
    AppwriteSession(SecretString),
    /// An access token of the project's Appwrite OAuth2 server.
    AppwriteOAuthAccessToken(SecretString),
    /// An ID token of the project's Appwrite OAuth2 server.
    AppwriteOAuthIdToken(SecretString),
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
    /// Who acts as the user, when Appwrite says someone does (its `impersonatorUserId`, or an
    /// OAuth2 token's `act.sub`).
    pub impersonator: Option<String>,
    /// When Appwrite vouched for the login, when that was before it was asked: the issue time
    /// of a token verified locally. `None`: Appwrite vouched just now.
    pub vouched_at: Option<DateTime<Utc>>,
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
    /// This kind of proof is not accepted by this configuration (Appwrite OAuth2 tokens
    /// without `APPWRITE_OAUTH_CLIENT_IDS`).
    #[error("this kind of subject token is not accepted")]
    NotAccepted,
    /// The provider failed repeatedly and is not being called for a while.
    #[error("the identity provider is failing; not calling it for now")]
    CircuitOpen {
        /// Seconds before a retry makes sense.
        retry_after: u64,
    },
}

/// The identity provider (Appwrite) that vouches for a login once, at exchange.
#[async_trait]
pub trait IdentityProvider: Send + Sync + 'static {
    /// Asks the provider who the proof belongs to.
    async fn verify(&self, proof: &SubjectProof) -> Result<VerifiedLogin, IdentityError>;
}
