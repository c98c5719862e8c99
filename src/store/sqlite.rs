//! The SQLite store: the embedded default, one file, one node.
//!
//! WAL journal (readers never block the writer), a busy timeout (writers queue rather than
//! fail), foreign keys on (off by default in SQLite), and a small pool: SQLite has one writer
//! at a time whatever the pool size.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::store_error;
use super::rows::{
    AdminKeyRow, AuditRow, RefreshTokenRow, SessionRow, claims_json, snapshot_json, uuids,
};
use super::rows::{FeedRow, SigningKeyRow, records};
use super::store_impl::not_before_after;
use crate::domain::admin_keys::AdminKeyRecord;
use crate::domain::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::domain::keys::SigningKeyRecord;
use crate::domain::ports::StoreError;
use crate::domain::ports::{
    FeedEntry, PurgeCutoffs, RefreshTokenState, Revocation, Rotation, RotationResult, SessionQuery,
};
use crate::domain::session::{Session, UserSnapshot};
use crate::domain::token::TokenHash;

/// The embedded SQLite migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_SIZE: u32 = 4;

/// [`Store`](crate::domain::ports::Store) on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database named by `url`. Returns the store and the
    /// database file, or `None` for an in-memory database.
    pub async fn connect(url: &str) -> Result<(Self, Option<PathBuf>), StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(store_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let file = (!in_memory).then(|| options.get_filename().to_path_buf());
        // An in-memory database lives only as long as a connection to it: keep exactly one.
        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(POOL_SIZE)
        };
        let pool = pool_options
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(store_error)?;
        Ok((Self { pool }, file))
    }

    /// Begins a write transaction. `BEGIN IMMEDIATE` takes SQLite's write lock at once, so concurrent writers queue on the
    /// busy timeout instead of failing when a read lock cannot be upgraded.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The SQL of this backend, one constant per statement of the shared implementation.
mod sql {
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
     claims_updated_at_ms)
values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

    pub const INSERT_REFRESH_TOKEN: &str = "\
insert into refresh_tokens (token_hash, session_id, created_at, expires_at) values (?1, ?2, ?3, ?4)";

    pub const INSERT_AUDIT_EVENT: &str = "\
insert into audit_events
    (occurred_at, event, actor, user_id, session_id, subject, reason, request_id, ip)
values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

    /// The conditional update that decides the single winner of a rotation.
    pub const MARK_TOKEN_USED: &str = "\
update refresh_tokens set used_at = ?2, successor_sealed = ?3
where token_hash = ?1 and used_at is null";

    pub const TOUCH_SESSION: &str = "\
update sessions set last_used_at = ?2, idle_expires_at = ?3
where session_id = ?1 and revoked_at is null and absolute_expires_at > ?2 and idle_expires_at > ?2";

    pub const REVOKE_SESSION: &str = "\
update sessions set revoked_at = ?2, revoked_reason = ?3
where session_id = ?1 and revoked_at is null";

    pub const FIND_SESSION: &str = "\
select s.session_id, s.user_id, s.client_id, s.appwrite_session_id, s.audience, s.scope,
s.auth_time, s.created_at, s.last_used_at, s.absolute_expires_at, s.idle_expires_at, s.revoked_at,
s.revoked_reason, s.device_name, s.user_agent, s.ip, s.claims, s.claims_updated_at_ms
from sessions s
where s.session_id = ?1";

    pub const FIND_REFRESH_TOKEN: &str = "\
select t.used_at, t.successor_sealed, t.expires_at,
s.session_id, s.user_id, s.client_id, s.appwrite_session_id, s.audience, s.scope,
s.auth_time, s.created_at, s.last_used_at, s.absolute_expires_at, s.idle_expires_at, s.revoked_at,
s.revoked_reason, s.device_name, s.user_agent, s.ip, s.claims, s.claims_updated_at_ms
from refresh_tokens t join sessions s on s.session_id = t.session_id
where t.token_hash = ?1";

    pub const REVOKE_USER_SESSIONS: &str = "\
update sessions set revoked_at = ?2, revoked_reason = ?3
where user_id = ?1 and revoked_at is null
returning session_id";

    pub const RAISE_NOT_BEFORE: &str = "\
insert into user_not_before (user_id, not_before) values (?1, ?2)
on conflict (user_id) do update set not_before = max(user_not_before.not_before, excluded.not_before)";

    pub const REVOKE_APPWRITE_SESSION: &str = "\
update sessions set revoked_at = ?2, revoked_reason = ?3
where user_id = ?1 and appwrite_session_id = ?4 and revoked_at is null
returning session_id";

    pub const USER_NOT_BEFORE: &str = "select not_before from user_not_before where user_id = ?1";

    pub const UPDATE_USER_SNAPSHOT: &str = "\
update sessions set claims = ?2, claims_updated_at_ms = ?3
where user_id = ?1 and revoked_at is null and claims_updated_at_ms < ?3";

    pub const USER_SESSIONS: &str = "\
select s.session_id, s.user_id, s.client_id, s.appwrite_session_id, s.audience, s.scope,
s.auth_time, s.created_at, s.last_used_at, s.absolute_expires_at, s.idle_expires_at, s.revoked_at,
s.revoked_reason, s.device_name, s.user_agent, s.ip, s.claims, s.claims_updated_at_ms
from sessions s
where s.user_id = ?1 and (?2 or s.revoked_at is null) and (?3 is null or s.session_id < ?3)
order by s.session_id desc
limit ?4";

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
    (select session_id from sessions where min(absolute_expires_at, idle_expires_at) <= ?1 limit ?2)";

    pub const PURGE_USED_TOKENS: &str = "\
delete from refresh_tokens where token_hash in
    (select token_hash from refresh_tokens where used_at <= ?1 limit ?2)";

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
}

super::store_impl::impl_store!(SqliteStore, sqlx::Sqlite, sql);
