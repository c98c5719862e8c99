//! The PostgreSQL store: production, any number of replicas on one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

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

/// The embedded PostgreSQL migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory-lock key that serialises revocation-feed writers (see `sql::LOCK_FEED`).
pub const FEED_LOCK_KEY: i64 = 7_305_135_110_520_627_025;

/// The `NOTIFY` channel announcing key changes (see `sql::NOTIFY_KEYS`).
pub const KEYS_CHANNEL: &str = "tokenmint_keys";

/// How long a request waits for a pooled connection before the database counts as
/// unavailable: short, so clients get a quick 503 instead of a hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// [`Store`](crate::domain::ports::Store) on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects a pool of at most `max_connections` to `url`, opening one connection now.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(store_error)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(store_error)?;
        Ok(Self { pool })
    }

    /// A store over an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Begins a write transaction. READ COMMITTED: a conditional update waits for a concurrent writer of the same row, then
    /// re-evaluates its condition, which is what makes rotation's single winner.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The SQL of this backend, one constant per statement of the shared implementation.
mod sql {
    pub const INSERT_SIGNING_KEY: &str = "\
insert into signing_keys
    (kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
values ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16)";

    pub const INSERT_REFRESH_TOKEN: &str = "\
insert into refresh_tokens (token_hash, session_id, created_at, expires_at) values ($1, $2::uuid, $3, $4)";

    pub const INSERT_AUDIT_EVENT: &str = "\
insert into audit_events
    (occurred_at, event, actor, user_id, session_id, subject, reason, request_id, ip)
values ($1, $2, $3, $4, $5::uuid, $6, $7, $8, $9)";

    /// The conditional update that decides the single winner of a rotation.
    pub const MARK_TOKEN_USED: &str = "\
update refresh_tokens set used_at = $2, successor_sealed = $3
where token_hash = $1 and used_at is null";

    pub const TOUCH_SESSION: &str = "\
update sessions set last_used_at = $2, idle_expires_at = $3
where session_id = $1::uuid and revoked_at is null and absolute_expires_at > $2 and idle_expires_at > $2";

    pub const REVOKE_SESSION: &str = "\
update sessions set revoked_at = $2, revoked_reason = $3
where session_id = $1::uuid and revoked_at is null";

    pub const FIND_SESSION: &str = "\
select s.session_id::text as session_id, s.user_id, s.client_id, s.appwrite_session_id, s.audience, s.scope,
s.auth_time, s.created_at, s.last_used_at, s.absolute_expires_at, s.idle_expires_at, s.revoked_at,
s.revoked_reason, s.device_name, s.user_agent, s.ip, s.claims::text as claims, s.claims_updated_at_ms
from sessions s
where s.session_id = $1::uuid";

    pub const FIND_REFRESH_TOKEN: &str = "\
select t.used_at, t.successor_sealed, t.expires_at,
s.session_id::text as session_id, s.user_id, s.client_id, s.appwrite_session_id, s.audience, s.scope,
s.auth_time, s.created_at, s.last_used_at, s.absolute_expires_at, s.idle_expires_at, s.revoked_at,
s.revoked_reason, s.device_name, s.user_agent, s.ip, s.claims::text as claims, s.claims_updated_at_ms
from refresh_tokens t join sessions s on s.session_id = t.session_id
where t.token_hash = $1";

    pub const REVOKE_USER_SESSIONS: &str = "\
update sessions set revoked_at = $2, revoked_reason = $3
where user_id = $1 and revoked_at is null
returning session_id::text";

    pub const RAISE_NOT_BEFORE: &str = "\
insert into user_not_before (user_id, not_before) values ($1, $2)
on conflict (user_id) do update set not_before = greatest(user_not_before.not_before, excluded.not_before)";

    pub const REVOKE_APPWRITE_SESSION: &str = "\
update sessions set revoked_at = $2, revoked_reason = $3
where user_id = $1 and appwrite_session_id = $4 and revoked_at is null
returning session_id::text";

    pub const USER_NOT_BEFORE: &str = "select not_before from user_not_before where user_id = $1";

    pub const UPDATE_USER_SNAPSHOT: &str = "\
update sessions set claims = $2::jsonb, claims_updated_at_ms = $3
where user_id = $1 and revoked_at is null and claims_updated_at_ms < $3";

    pub const USER_SESSIONS: &str = "\
select s.session_id::text as session_id, s.user_id, s.client_id, s.appwrite_session_id, s.audience, s.scope,
s.auth_time, s.created_at, s.last_used_at, s.absolute_expires_at, s.idle_expires_at, s.revoked_at,
s.revoked_reason, s.device_name, s.user_agent, s.ip, s.claims::text as claims, s.claims_updated_at_ms
from sessions s
where s.user_id = $1 and ($2 or s.revoked_at is null) and ($3::uuid is null or s.session_id < $3::uuid)
order by s.session_id desc
limit $4";

    pub const AUDIT_EVENTS: &str = "\
select audit_event_id, occurred_at, event, actor, user_id, session_id::text as session_id, subject,
    reason, request_id, ip
from audit_events
where ($1::text is null or user_id = $1) and ($2::uuid is null or session_id = $2::uuid)
    and ($3::bigint is null or audit_event_id < $3)
order by audit_event_id desc
limit $4";

    pub const INSERT_ADMIN_KEY: &str = "\
insert into admin_keys (admin_key_id, name, role, secret_hash, created_at) values ($1, $2, $3, $4, $5)";

    pub const FIND_ADMIN_KEY: &str = "\
select admin_key_id, name, role, secret_hash, created_at, revoked_at, last_used_at
from admin_keys where admin_key_id = $1";

    pub const ADMIN_KEYS: &str = "\
select admin_key_id, name, role, secret_hash, created_at, revoked_at, last_used_at
from admin_keys order by created_at, admin_key_id";

    pub const REVOKE_ADMIN_KEY: &str = "\
update admin_keys set revoked_at = $2 where admin_key_id = $1 and revoked_at is null";

    /// Serialises feed writers for the rest of the transaction (see `publish_sessions`).
    pub const LOCK_FEED: &str = "select pg_advisory_xact_lock(7305135110520627025)";

    #[test]
    fn the_feed_lock_uses_the_published_key() {
        assert!(LOCK_FEED.contains(&super::FEED_LOCK_KEY.to_string()));
    }

    pub const INSERT_SESSION_REVOCATION: &str = "\
insert into revocations (kind, session_id, created_at, expires_at) values ('session', $1::uuid, $2, $3)";

    pub const INSERT_USER_REVOCATION: &str = "\
insert into revocations (kind, user_id, not_before, created_at, expires_at) values ('user', $1, $2, $3, $4)";

    pub const REVOCATIONS_SINCE: &str = "\
select revocation_id, kind, session_id::text as session_id, user_id, not_before, expires_at
from revocations
where revocation_id > $1 and expires_at > $2
order by revocation_id
limit $3";

    pub const PURGE_REVOCATIONS: &str = "\
delete from revocations where revocation_id in
    (select revocation_id from revocations where expires_at <= $1 limit $2)";

    pub const PURGE_SESSIONS: &str = "\
delete from sessions where session_id in
    (select session_id from sessions where least(absolute_expires_at, idle_expires_at) <= $1 limit $2)";

    pub const PURGE_USED_TOKENS: &str = "\
delete from refresh_tokens where token_hash in
    (select token_hash from refresh_tokens where used_at <= $1 limit $2)";

    /// Serialises key-lifecycle changes across replicas for the rest of the transaction.
    pub const LOCK_KEYS: &str = "select pg_advisory_xact_lock(7305135110520627026)";

    pub const DUE_NEXT_KEY: &str = "\
select kid from signing_keys where state = 'next' and activates_at <= $1";

    pub const NEXT_KEY: &str = "select kid from signing_keys where state = 'next'";

    pub const RETIRE_ACTIVE_KEY: &str = "\
update signing_keys set state = 'retired', retired_at = $1, publish_until = $2 where state = 'active'";

    pub const ACTIVATE_KEY: &str = "\
update signing_keys set state = 'active', activates_at = $2 where kid = $1";

    pub const REMOVE_RETIRED_KEYS: &str = "\
delete from signing_keys where state = 'retired' and publish_until <= $1 returning kid";

    pub const DELETE_KEY: &str = "delete from signing_keys where kid = $1 returning state";

    pub const NOTIFY_KEYS: &str = "select pg_notify('tokenmint_keys', '')";
}

super::store_impl::impl_store!(PgStore, sqlx::Postgres, sql);
