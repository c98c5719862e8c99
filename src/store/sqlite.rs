//! The SQLite store: the embedded default, one file, one node.
//!
//! WAL journal (readers never block the writer), a busy timeout (writers queue rather than
//! fail), foreign keys on (off by default in SQLite), and a small pool: SQLite has one writer
//! at a time whatever the pool size.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Arguments, Connection, Sqlite};

use super::availability::Observer;
use super::dialect::{Dialect, Param, Record, Sql, Statements};
use super::error::store_error;
use super::options::DatabaseTimeouts;
use super::pool::{Checked, Connections};
use super::shared::{Backend, rotate_alone};
use crate::config::SqliteSync;
use crate::domain::model::sessions::Grant;
use crate::domain::ports::{Rotation, StoreError};

mod sql;

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
}

impl Backend for SqliteStore {
    type Db = Sqlite;

    fn pool(&self) -> &Connections<SqliteConnection> {
        &self.pool
    }

    /// With a statement of its own: SQLite runs in the process, so there is no round trip for
    /// a batch to share.
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

impl Dialect for Sqlite {
    const SQL: Statements = sql::STATEMENTS;

    /// `BEGIN IMMEDIATE` takes SQLite's write lock at once, so concurrent writers queue on the
    /// busy timeout instead of failing when a read lock cannot be upgraded; it also serialises
    /// every writer, which is what `lock_user` and `lock_feed` ask for on PostgreSQL.
    async fn begin_write(
        connection: &mut SqliteConnection,
    ) -> Result<sqlx::Transaction<'_, Sqlite>, StoreError> {
        connection
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)
    }

    async fn run_migrations(
        connection: &mut SqliteConnection,
        migrator: &'static Migrator,
    ) -> Result<(), MigrateError> {
        migrator.run(connection).await
    }

    /// SQLite sets no limit but the busy timeout, which a migration keeps.
    async fn lift_limits(_: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }

    async fn restore_limits(_: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }

    fn add<'q, T: Param<'q>>(arguments: &mut Self::Arguments, value: T) -> Result<(), BoxDynError> {
        arguments.add(value)
    }

    async fn execute(
        connection: &mut SqliteConnection,
        statement: Sql<Self>,
    ) -> Result<u64, StoreError> {
        let (text, arguments) = statement.into_parts()?;
        let done = sqlx::query_with(text, arguments)
            .execute(connection)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn fetch_all<R: Record>(
        connection: &mut SqliteConnection,
        statement: Sql<Self>,
    ) -> Result<Vec<R>, StoreError> {
        let (text, arguments) = statement.into_parts()?;
        sqlx::query_as_with(text, arguments)
            .fetch_all(connection)
            .await
            .map_err(store_error)
    }

    async fn fetch_optional<R: Record>(
        connection: &mut SqliteConnection,
        statement: Sql<Self>,
    ) -> Result<Option<R>, StoreError> {
        let (text, arguments) = statement.into_parts()?;
        sqlx::query_as_with(text, arguments)
            .fetch_optional(connection)
            .await
            .map_err(store_error)
    }
}
