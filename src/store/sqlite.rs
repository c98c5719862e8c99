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

use super::error::store_error;
use super::rows::{SigningKeyRow, records};
use crate::domain::keys::SigningKeyRecord;
use crate::domain::ports::{Store, StoreError};

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
}
