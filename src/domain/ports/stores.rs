//! The storage ports, one trait per concern, and [`Store`]: all of them, as one database
//! backend implements them. Each method is one unit of work: it commits entirely or not at
//! all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::StoreError;
use super::feed::{FeedEntry, PurgeCutoffs};
use super::revocation::{Revocation, RevokedUser, UserRevocation};
use super::sessions::{ReconcileClaim, SessionQuery};
use super::tokens::{NewSession, Rotation, TokenFamily};
use super::webhook::FirstSighting;
use crate::domain::model::admin_keys::AdminKeyRecord;
use crate::domain::model::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::domain::model::keys::SigningKeyRecord;
use crate::domain::model::sessions::{Grant, Session, UserSnapshot};
use crate::domain::model::tokens::{FamilyHash, TokenHash};

/// Every storage port: what a database backend implements, and what the wiring hands to the
/// domain. Implemented for every type that implements all of them. Through `dyn Store` each
/// method is callable without naming its trait; a service that needs one concern can hold
/// that trait alone (`Arc<dyn KeyStore>`).
pub trait Store:
    KeyStore
    + SessionStore
    + RefreshTokenStore
    + RevocationStore
    + ReconcileStore
    + FeedStore
    + WebhookStore
    + AuditStore
    + AdminKeyStore
{
}

impl<T> Store for T where
    T: KeyStore
        + SessionStore
        + RefreshTokenStore
        + RevocationStore
        + ReconcileStore
        + FeedStore
        + WebhookStore
        + AuditStore
        + AdminKeyStore
{
}

/// The signing keys, shared by every replica.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
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
}

/// Sessions: created by an exchange, read by id or by user, their claims kept current.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
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

    /// A user's sessions, newest first.
    async fn user_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError>;

    /// Replaces the claims snapshot of the user's live sessions whose snapshot is older than
    /// `updated_at_ms`. Returns how many sessions changed.
    async fn update_user_snapshot(
        &self,
        user_id: &str,
        snapshot: &UserSnapshot,
        updated_at_ms: i64,
    ) -> Result<u64, StoreError>;
}

/// A session's refresh-token family: read, rotated, rolled forward. The refresh path.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync + 'static {
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
}

/// Revoking sessions, by id, by user or by Appwrite session, and the users' not-befores.
#[async_trait]
pub trait RevocationStore: Send + Sync + 'static {
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

    /// The user's not-before, if one was set.
    async fn user_not_before(&self, user_id: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// Handing out sessions for their periodic check against Appwrite.
#[async_trait]
pub trait ReconcileStore: Send + Sync + 'static {
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
}

/// The revocation feed read by verifiers, and the purge of what no longer matters.
#[async_trait]
pub trait FeedStore: Send + Sync + 'static {
    /// Feed entries with an id above `after` that still matter at `now`, oldest first.
    async fn revocations_since(
        &self,
        after: i64,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FeedEntry>, StoreError>;

    /// Deletes up to `batch` rows of each kind past its cutoff; returns how many rows went.
    async fn purge_expired(&self, cutoffs: &PurgeCutoffs, batch: u32) -> Result<u64, StoreError>;
}

/// The memory of webhook deliveries, so that a redelivered body is recognised.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
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
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Records one audit event on its own.
    async fn record_audit(&self, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Audit events, newest first.
    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
}

/// The admin API keys.
#[async_trait]
pub trait AdminKeyStore: Send + Sync + 'static {
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
