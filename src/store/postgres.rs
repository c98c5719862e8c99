//! The PostgreSQL store: production, any number of replicas on one database.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::error::store_error;
use super::rows::{SigningKeyRow, records};
use crate::domain::keys::SigningKeyRecord;
use crate::domain::ports::{Store, StoreError};

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
}
