//! The SQLite store: the embedded default, one file, one node.
//!
//! WAL journal (readers never block the writer), a busy timeout (writers queue rather than
//! fail), foreign keys on (off by default in SQLite), and a small pool: SQLite has one writer
//! at a time whatever the pool size.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::DatabaseTimeouts;
use super::availability::{Cause, Observer};
use super::error::store_error;
use super::pool::{Checked, Connections};
use super::rows::{
    AdminKeyRow, AuditRow, FeedRow, GrantRow, ReconcileRow, SessionRow, SigningKeyRow,
    TokenFamilyRow, records, snapshot_json, uuids,
};
use super::store_impl::on_connection;
use super::store_impl::{optional_text, text};
use crate::config::SqliteSync;
use crate::domain::model::admin_keys::AdminKeyRecord;
use crate::domain::model::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::domain::model::keys::SigningKeyRecord;
use crate::domain::model::sessions::{Grant, Session, UserSnapshot};
use crate::domain::model::tokens::{FamilyHash, TokenHash};
use crate::domain::ports::{
    FeedEntry, FirstSighting, NewSession, Outage, PurgeCutoffs, ReconcileClaim, Revocation,
    RevokedUser, Rotation, SessionQuery, StoreError, TokenFamily, UserRevocation,
};

/// The embedded SQLite migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const POOL_SIZE: usize = 4;

/// [`Store`](crate::domain::ports::Store) on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Connections<SqliteConnection>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database named by `url`. Returns the store and the
    /// database file, or `None` for an in-memory database.
    /// `sync` decides whether a commit waits for the disk (see `config::SqliteSync`); a writer
    /// waits for SQLite's write lock for at most the statement limit of `timeouts`.
    pub(crate) async fn connect(
        url: &str,
        sync: SqliteSync,
        timeouts: DatabaseTimeouts,
        observer: Observer,
    ) -> Result<(Self, Option<PathBuf>), StoreError> {
        let synchronous = match sync {
            SqliteSync::Normal => SqliteSynchronous::Normal,
            SqliteSync::Full => SqliteSynchronous::Full,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(store_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(timeouts.statement)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let file = (!in_memory).then(|| options.get_filename().to_path_buf());
        // An in-memory database lives only as long as a connection to it: keep exactly one
        // (idle connections are never closed, so it stays).
        let size = if in_memory { 1 } else { POOL_SIZE };
        let pool: Connections<SqliteConnection> = Connections::new(
            options,
            size,
            timeouts.statement,
            timeouts.operation_deadline(),
            observer,
        )?;
        let probe = pool.get().await?;
        probe.finish(Ok(()))?;
        Ok((Self { pool }, file))
    }

    /// The connection pool.
    pub(super) fn pool(&self) -> &Connections<SqliteConnection> {
        &self.pool
    }

    /// Rotates a session's current token with a statement of its own: SQLite runs in the
    /// process, so there is no round trip for a batch to share.
    async fn rotate_current(&self, rotation: &Rotation) -> Result<Option<Grant>, StoreError> {
        rotate_alone(self, sql::ROTATE, rotation, None).await
    }
}

impl Checked for SqliteConnection {
    /// One file, opened read-write: nothing to check.
    async fn is_writable(&mut self) -> Result<bool, StoreError> {
        Ok(true)
    }
}

/// Begins a write transaction. `BEGIN IMMEDIATE` takes SQLite's write lock at once, so
/// concurrent writers queue on the busy timeout instead of failing when a read lock cannot be
/// upgraded; it also serialises every writer, which is what `lock_user` and `lock_feed` ask for
/// on PostgreSQL.
async fn begin_write(
    connection: &mut SqliteConnection,
) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
    connection
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_error)
}

/// The SQL of this backend, one constant per statement of the shared implementation.
mod sql {
    /// The columns of a session, in `SessionRow` order. Unqualified: SQLite's `RETURNING`
    /// cannot name a table alias.
    macro_rules! session_columns {
        () => {
            "session_id, user_id, client_id, appwrite_session_id, audience, scope, auth_time, \
             created_at, last_used_at, absolute_expires_at, idle_expires_at, revoked_at, \
             revoked_reason, device_name, user_agent, ip, claims, claims_updated_at_ms, impersonator"
        };
    }

    /// What an access token is made from, in `GrantRow` order.
    macro_rules! grant_columns {
        () => {
            "session_id, user_id, client_id, audience, scope, auth_time, absolute_expires_at, claims, \
             impersonator"
        };
    }

    /// A session's columns and its refresh-token state, in `TokenFamilyRow` order.
    macro_rules! token_family_columns {
        () => {
            concat!(
                session_columns!(),
                ", family_hash is not null as has_family, token_hash, previous_token_hash, \
                 previous_used_at_ms, successor_sealed, generation"
            )
        };
    }

    pub const INSERT_SIGNING_KEY: &str = "\
insert into signing_keys
    (kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until)
values (?, ?, ?, ?, ?, ?, ?, ?, ?)
on conflict do nothing";

    pub const SELECT_SIGNING_KEYS: &str = "\
select kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until
from signing_keys
order by created_at, kid";

    pub const INSERT_SESSION: &str = "\
insert into sessions
    (session_id, user_id, client_id, appwrite_session_id, audience, scope, auth_time, created_at,
     last_used_at, absolute_expires_at, idle_expires_at, device_name, user_agent, ip, claims,
     claims_updated_at_ms, family_hash, token_hash, generation, impersonator)
select ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20
where not exists (select 1 from user_not_before where user_id = ?2 and not_before > ?21)
    and not exists (select 1 from appwrite_session_revocations where appwrite_session_id = ?4)";

    /// `BEGIN IMMEDIATE` already serialises writers; nothing more to take (the parameter is
    /// read so that the statement accepts it).
    pub const LOCK_USER: &str = "select ?1 is null";

    pub const INSERT_AUDIT_EVENT: &str = "\
insert into audit_events
    (occurred_at, event, actor, user_id, session_id, subject, reason, request_id, ip)
values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

    pub const FIND_TOKEN_FAMILY: &str = concat!(
        "select ",
        token_family_columns!(),
        " from sessions where family_hash = ?1 union all select ",
        token_family_columns!(),
        " from sessions where family_hash is null and session_id = \
         (select session_id from unmigrated_refresh_tokens where token_hash = ?2) limit 1"
    );

    /// On the right of `set`, columns hold their old values (as in PostgreSQL).
    pub const ROTATE: &str = concat!(
        "update sessions set token_hash = ?3, previous_token_hash = token_hash, \
         previous_used_at_ms = ?4, successor_sealed = null, generation = ?5, last_used_at = ?6, \
         idle_expires_at = min(?7, absolute_expires_at) \
         where family_hash = ?1 and token_hash = ?2 and revoked_at is null \
         and absolute_expires_at > ?6 and idle_expires_at > ?6 \
         and (client_id is null or client_id = ?8) returning ",
        grant_columns!()
    );

    pub const ROTATE_UNMIGRATED: &str = concat!(
        "update sessions set family_hash = ?1, token_hash = ?3, \
         previous_token_hash = token_hash, previous_used_at_ms = ?4, successor_sealed = null, \
         generation = ?5, last_used_at = ?6, idle_expires_at = min(?7, absolute_expires_at) \
         where session_id = (select session_id from unmigrated_refresh_tokens \
         where token_hash = ?2) and family_hash is null and token_hash = ?2 \
         and revoked_at is null \
         and absolute_expires_at > ?6 and idle_expires_at > ?6 \
         and (client_id is null or client_id = ?8) returning ",
        grant_columns!()
    );

    pub const ROLL_FORWARD: &str = concat!(
        "update sessions set token_hash = ?3, previous_token_hash = ?2, \
         previous_used_at_ms = ?4, successor_sealed = null, generation = ?5, last_used_at = ?6, \
         idle_expires_at = min(?7, absolute_expires_at) \
         where family_hash = ?1 and generation is ?9 \
         and revoked_at is null and absolute_expires_at > ?6 and idle_expires_at > ?6 \
         and (client_id is null or client_id = ?8) returning ",
        grant_columns!()
    );

    pub const REVOKE_SESSION: &str = "\
update sessions set revoked_at = ?2, revoked_reason = ?3
where session_id = ?1 and revoked_at is null";

    pub const FIND_SESSION: &str = concat!(
        "select ",
        session_columns!(),
        " from sessions where session_id = ?1"
    );

    pub const REVOKE_USER_SESSIONS: &str = "\
update sessions set revoked_at = ?2, revoked_reason = ?3
where user_id = ?1 and revoked_at is null and created_at < ?4
returning session_id";

    pub const NOT_BEFORE: &str = "select not_before from user_not_before where user_id = ?1";

    pub const SET_NOT_BEFORE: &str = "\
insert into user_not_before (user_id, not_before) values (?1, ?2)
on conflict (user_id) do update set not_before = excluded.not_before";

    pub const REMEMBER_APPWRITE_SESSION_REVOCATION: &str = "\
insert into appwrite_session_revocations (appwrite_session_id, user_id, revoked_at, expires_at)
values (?1, ?2, ?3, ?4)
on conflict (appwrite_session_id) do update set expires_at = excluded.expires_at";

    pub const REVOKE_APPWRITE_SESSION: &str = "\
update sessions set revoked_at = ?2, revoked_reason = ?3
where user_id = ?1 and appwrite_session_id = ?4 and revoked_at is null
returning session_id";

    pub const UPDATE_USER_SNAPSHOT: &str = "\
update sessions set claims = ?2, claims_updated_at_ms = ?3
where user_id = ?1 and revoked_at is null and claims_updated_at_ms < ?3";

    /// Claims due sessions (`BEGIN IMMEDIATE` is not needed: one statement, and SQLite has
    /// one writer).
    pub const CLAIM_RECONCILIATION: &str = "\
update sessions set reconciled_at = ?1
where session_id in (
    select session_id from sessions
    where revoked_at is null and coalesce(reconciled_at, created_at) <= ?2
        and absolute_expires_at > ?1 and idle_expires_at > ?1
    order by coalesce(reconciled_at, created_at)
    limit ?3)
returning session_id, user_id, appwrite_session_id";

    pub const POSTPONE_RECONCILIATION: &str = "\
update sessions set reconciled_at = ?1
where session_id in (select value from json_each(?2))";

    pub const USER_SESSIONS: &str = concat!(
        "select ",
        session_columns!(),
        " from sessions where user_id = ?1 \
         and (?2 is null or (revoked_at is null and absolute_expires_at > ?2 \
         and idle_expires_at > ?2)) \
         and (?3 is null or session_id < ?3) \
         order by session_id desc limit ?4"
    );

    pub const AUDIT_EVENTS: &str = "\
select audit_event_id, occurred_at, event, actor, user_id, session_id, subject,
    reason, request_id, ip
from audit_events
where (?1 is null or user_id = ?1) and (?2 is null or session_id = ?2)
    and (?3 is null or audit_event_id < ?3)
order by audit_event_id desc
limit ?4";

    pub const INSERT_ADMIN_KEY: &str = "\
insert into admin_keys (admin_key_id, name, role, secret_hash, created_at) values (?1, ?2, ?3, ?4, ?5)";

    pub const FIND_ADMIN_KEY: &str = "\
select admin_key_id, name, role, secret_hash, created_at, revoked_at, last_used_at
from admin_keys where admin_key_id = ?1";

    pub const ADMIN_KEYS: &str = "\
select admin_key_id, name, role, secret_hash, created_at, revoked_at, last_used_at
from admin_keys order by created_at, admin_key_id";

    pub const REVOKE_ADMIN_KEY: &str = "\
update admin_keys set revoked_at = ?2 where admin_key_id = ?1 and revoked_at is null";

    /// `BEGIN IMMEDIATE` already serialises writers; nothing more to take.
    pub const LOCK_FEED: &str = "select 1";

    pub const INSERT_SESSION_REVOCATION: &str = "\
insert into revocations (kind, session_id, created_at, expires_at) values ('session', ?1, ?2, ?3)";

    pub const INSERT_USER_REVOCATION: &str = "\
insert into revocations (kind, user_id, not_before, created_at, expires_at) values ('user', ?1, ?2, ?3, ?4)";

    pub const REVOCATIONS_SINCE: &str = "\
select revocation_id, kind, session_id, user_id, not_before, expires_at
from revocations
where revocation_id > ?1 and expires_at > ?2
order by revocation_id
limit ?3";

    pub const PURGE_REVOCATIONS: &str = "\
delete from revocations where revocation_id in
    (select revocation_id from revocations where expires_at <= ?1 limit ?2)";

    pub const PURGE_SESSIONS: &str = "\
delete from sessions where session_id in
    (select session_id from sessions where absolute_expires_at <= ?1 limit ?2)";

    /// Remembers a webhook body (`?1` digest, `?2` events, `?3` now, `?4` expiry, in
    /// seconds) and returns its first sighting. A row already expired counts as absent and is
    /// replaced; otherwise the row stays as it was (the no-op update only makes `returning`
    /// yield it).
    pub const REMEMBER_WEBHOOK_DELIVERY: &str = "\
insert into webhook_deliveries (body_digest, events, first_seen_at, expires_at)
values (?1, ?2, ?3, ?4)
on conflict (body_digest) do update set
    events = case when webhook_deliveries.expires_at <= excluded.first_seen_at
        then excluded.events else webhook_deliveries.events end,
    first_seen_at = case when webhook_deliveries.expires_at <= excluded.first_seen_at
        then excluded.first_seen_at else webhook_deliveries.first_seen_at end,
    expires_at = case when webhook_deliveries.expires_at <= excluded.first_seen_at
        then excluded.expires_at else webhook_deliveries.expires_at end
returning events, first_seen_at";

    /// Remembered webhook deliveries expired at `?1` (seconds).
    pub const PURGE_WEBHOOK_DELIVERIES: &str = "\
delete from webhook_deliveries where body_digest in
    (select body_digest from webhook_deliveries where expires_at <= ?1 limit ?2)";

    pub const PURGE_APPWRITE_SESSION_REVOCATIONS: &str = "\
delete from appwrite_session_revocations where appwrite_session_id in
    (select appwrite_session_id from appwrite_session_revocations where expires_at <= ?1 limit ?2)";

    /// `BEGIN IMMEDIATE` already serialises writers; nothing more to take.
    pub const LOCK_KEYS: &str = "select 1";

    pub const DUE_NEXT_KEY: &str = "\
select kid from signing_keys where state = 'next' and activates_at <= ?1";

    pub const NEXT_KEY: &str = "select kid from signing_keys where state = 'next'";

    pub const RETIRE_ACTIVE_KEY: &str = "\
update signing_keys set state = 'retired', retired_at = ?1, publish_until = ?2 where state = 'active'";

    pub const ACTIVATE_KEY: &str = "\
update signing_keys set state = 'active', activates_at = ?2 where kid = ?1";

    pub const REMOVE_RETIRED_KEYS: &str = "\
delete from signing_keys where state = 'retired' and publish_until <= ?1 returning kid";

    pub const DELETE_KEY: &str = "delete from signing_keys where kid = ?1 returning state";

    pub const NOTIFY_KEYS: &str = "select 1";

    pub const HEARTBEAT: &str = "\
insert into replicas (replica_id, started_at_ms, seen_at_ms, stopped) values (?1, ?2, ?3, 0)
on conflict (replica_id) do update set seen_at_ms = excluded.seen_at_ms, stopped = 0";

    pub const NEWEST_HEARTBEAT: &str = "\
select seen_at_ms, stopped from replicas where replica_id <> ?1
order by seen_at_ms desc limit 1";

    pub const MARK_STOPPED: &str = "update replicas set stopped = 1 where replica_id = ?1";

    pub const INSERT_OUTAGE: &str =
        "insert into outages (started_at_ms, ended_at_ms) values (?1, ?2)";

    pub const OUTAGES_BETWEEN: &str = "\
select started_at_ms, ended_at_ms from outages where ended_at_ms >= ?1 and started_at_ms <= ?2
order by started_at_ms limit 10000";

    pub const PURGE_OUTAGES: &str = "\
delete from outages where outage_id in
    (select outage_id from outages where ended_at_ms < ?1 * 1000 limit ?2)";

    pub const PURGE_REPLICAS: &str = "\
delete from replicas where replica_id in
    (select replica_id from replicas where seen_at_ms < ?1 * 1000 limit ?2)";
}

super::store_impl::impl_store!(SqliteStore, sqlx::Sqlite, sql);
