//! The SQLite store: the embedded default, one file, one node.
//!
//! WAL journal (readers never block the writer), a busy timeout (writers queue rather than
//! fail), foreign keys on (off by default in SQLite), and a small pool: SQLite has one writer
//! at a time whatever the pool size.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use chrono::{DateTime, Utc};
use sqlx::Transaction;
use uuid::Uuid;

use super::error::store_error;
use super::rows::{RefreshTokenRow, SessionRow, claims_json};
use super::rows::{SigningKeyRow, records};
use crate::domain::audit::AuditEvent;
use crate::domain::keys::SigningKeyRecord;
use crate::domain::ports::{RefreshTokenState, Rotation, RotationResult};
use crate::domain::ports::{Store, StoreError};
use crate::domain::session::{RevocationReason, Session};
use crate::domain::token::TokenHash;

/// The embedded SQLite migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_SIZE: u32 = 4;

/// [`Store`] on SQLite.
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

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

const INSERT_SIGNING_KEY: &str = "\
insert into signing_keys
    (kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until)
values (?, ?, ?, ?, ?, ?, ?, ?, ?)
on conflict do nothing";

const SELECT_SIGNING_KEYS: &str = "\
select kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until
from signing_keys
order by created_at, kid";

const SESSION_COLUMNS: &str = "\
s.session_id, s.user_id, s.client_id, s.appwrite_session_id, s.audience, s.scope,
s.auth_time, s.created_at, s.last_used_at, s.absolute_expires_at, s.idle_expires_at, s.revoked_at,
s.revoked_reason, s.device_name, s.user_agent, s.ip, s.claims, s.claims_updated_at_ms";

const INSERT_SESSION: &str = "\
insert into sessions
    (session_id, user_id, client_id, appwrite_session_id, audience, scope, auth_time, created_at,
     last_used_at, absolute_expires_at, idle_expires_at, device_name, user_agent, ip, claims,
     claims_updated_at_ms)
values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

const INSERT_REFRESH_TOKEN: &str = "\
insert into refresh_tokens (token_hash, session_id, created_at, expires_at) values (?1, ?2, ?3, ?4)";

const INSERT_AUDIT_EVENT: &str = "\
insert into audit_events
    (occurred_at, event, actor, user_id, session_id, subject, reason, request_id, ip)
values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// The conditional update that decides the single winner of a rotation.
const MARK_TOKEN_USED: &str = "\
update refresh_tokens set used_at = ?2, successor_sealed = ?3
where token_hash = ?1 and used_at is null";

const TOUCH_SESSION: &str = "\
update sessions set last_used_at = ?2, idle_expires_at = ?3
where session_id = ?1 and revoked_at is null and absolute_expires_at > ?2 and idle_expires_at > ?2";

const REVOKE_SESSION: &str = "\
update sessions set revoked_at = ?2, revoked_reason = ?3
where session_id = ?1 and revoked_at is null";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError> {
        let result = sqlx::query(INSERT_SIGNING_KEY)
            .bind(&key.kid)
            .bind(key.algorithm.as_str())
            .bind(key.state.as_str())
            .bind(&key.public_jwk)
            .bind(&key.private_key_sealed)
            .bind(key.created_at.timestamp())
            .bind(key.activates_at.map(|t| t.timestamp()))
            .bind(key.retired_at.map(|t| t.timestamp()))
            .bind(key.publish_until.map(|t| t.timestamp()))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(SELECT_SIGNING_KEYS)
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        records(rows)
    }

    async fn create_session(
        &self,
        session: &Session,
        first_token: &TokenHash,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)?;
        sqlx::query(INSERT_SESSION)
            .bind(session.id.to_string())
            .bind(&session.user_id)
            .bind(&session.client_id)
            .bind(&session.appwrite_session_id)
            .bind(&session.audience)
            .bind(&session.scope)
            .bind(session.auth_time.timestamp())
            .bind(session.created_at.timestamp())
            .bind(session.last_used_at.timestamp())
            .bind(session.absolute_expires_at.timestamp())
            .bind(session.idle_expires_at.timestamp())
            .bind(&session.device_name)
            .bind(&session.user_agent)
            .bind(&session.ip)
            .bind(claims_json(session)?)
            .bind(session.claims_updated_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query(INSERT_REFRESH_TOKEN)
            .bind(&first_token.0[..])
            .bind(session.id.to_string())
            .bind(session.created_at.timestamp())
            .bind(session.absolute_expires_at.timestamp())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn find_session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        let sql = format!("select {SESSION_COLUMNS} from sessions s where s.session_id = ?1");
        let row: Option<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.map(Session::try_from).transpose()
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshTokenState>, StoreError> {
        let sql = format!(
            "select t.used_at, t.successor_sealed, t.expires_at, {SESSION_COLUMNS} \
             from refresh_tokens t join sessions s on s.session_id = t.session_id \
             where t.token_hash = ?1"
        );
        let row: Option<RefreshTokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&hash.0[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.map(RefreshTokenState::try_from).transpose()
    }

    async fn rotate_refresh_token(
        &self,
        rotation: &Rotation,
    ) -> Result<RotationResult, StoreError> {
        let now = rotation.now.timestamp();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)?;
        // Concurrent rotations of one token queue on its row lock; after the winner commits,
        // the others re-evaluate `used_at is null`, find it false, and update nothing.
        let marked = sqlx::query(MARK_TOKEN_USED)
            .bind(&rotation.presented.0[..])
            .bind(now)
            .bind(&rotation.successor_sealed)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        if marked.rows_affected() == 0 {
            return Ok(RotationResult::AlreadyUsed);
        }
        let touched = sqlx::query(TOUCH_SESSION)
            .bind(rotation.session_id.to_string())
            .bind(now)
            .bind(rotation.idle_expires_at.timestamp())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        if touched.rows_affected() == 0 {
            return Ok(RotationResult::SessionEnded);
        }
        sqlx::query(INSERT_REFRESH_TOKEN)
            .bind(&rotation.successor.0[..])
            .bind(rotation.session_id.to_string())
            .bind(now)
            .bind(rotation.successor_expires_at.timestamp())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(RotationResult::Rotated)
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        reason: RevocationReason,
        now: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)?;
        let revoked = sqlx::query(REVOKE_SESSION)
            .bind(id.to_string())
            .bind(now.timestamp())
            .bind(reason.as_str())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        if revoked.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }
}

async fn insert_audit(
    tx: &mut Transaction<'_, sqlx::Sqlite>,
    audit: &AuditEvent,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_AUDIT_EVENT)
        .bind(audit.occurred_at.timestamp())
        .bind(audit.event)
        .bind(audit.actor.as_string())
        .bind(&audit.user_id)
        .bind(audit.session_id.map(|id| id.to_string()))
        .bind(&audit.subject)
        .bind(&audit.reason)
        .bind(&audit.request_id)
        .bind(&audit.ip)
        .execute(&mut **tx)
        .await
        .map_err(store_error)?;
    Ok(())
}
