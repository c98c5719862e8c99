//! The PostgreSQL store: production, any number of replicas on one database.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

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

/// The embedded PostgreSQL migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a pooled connection before the database counts as
/// unavailable: short, so clients get a quick 503 instead of a hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// [`Store`] on PostgreSQL.
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

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

const INSERT_SIGNING_KEY: &str = "\
insert into signing_keys
    (kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
on conflict do nothing";

const SELECT_SIGNING_KEYS: &str = "\
select kid, alg, state, public_jwk, private_key_sealed, created_at, activates_at, retired_at, publish_until
from signing_keys
order by created_at, kid";

const SESSION_COLUMNS: &str = "\
s.session_id::text as session_id, s.user_id, s.client_id, s.appwrite_session_id, s.audience, s.scope,
s.auth_time, s.created_at, s.last_used_at, s.absolute_expires_at, s.idle_expires_at, s.revoked_at,
s.revoked_reason, s.device_name, s.user_agent, s.ip, s.claims::text as claims, s.claims_updated_at_ms";

const INSERT_SESSION: &str = "\
insert into sessions
    (session_id, user_id, client_id, appwrite_session_id, audience, scope, auth_time, created_at,
     last_used_at, absolute_expires_at, idle_expires_at, device_name, user_agent, ip, claims,
     claims_updated_at_ms)
values ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16)";

const INSERT_REFRESH_TOKEN: &str = "\
insert into refresh_tokens (token_hash, session_id, created_at, expires_at) values ($1, $2::uuid, $3, $4)";

const INSERT_AUDIT_EVENT: &str = "\
insert into audit_events
    (occurred_at, event, actor, user_id, session_id, subject, reason, request_id, ip)
values ($1, $2, $3, $4, $5::uuid, $6, $7, $8, $9)";

/// The conditional update that decides the single winner of a rotation.
const MARK_TOKEN_USED: &str = "\
update refresh_tokens set used_at = $2, successor_sealed = $3
where token_hash = $1 and used_at is null";

const TOUCH_SESSION: &str = "\
update sessions set last_used_at = $2, idle_expires_at = $3
where session_id = $1::uuid and revoked_at is null and absolute_expires_at > $2 and idle_expires_at > $2";

const REVOKE_SESSION: &str = "\
update sessions set revoked_at = $2, revoked_reason = $3
where session_id = $1::uuid and revoked_at is null";

#[async_trait]
impl Store for PgStore {
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
        let mut tx = self.pool.begin().await.map_err(store_error)?;
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
        let sql = format!("select {SESSION_COLUMNS} from sessions s where s.session_id = $1::uuid");
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
             where t.token_hash = $1"
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
        let mut tx = self.pool.begin().await.map_err(store_error)?;
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
        let mut tx = self.pool.begin().await.map_err(store_error)?;
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
    tx: &mut Transaction<'_, sqlx::Postgres>,
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
