//! Storage adapters: PostgreSQL (production) and SQLite (embedded default), both behind the
//! domain's [`Store`] port. SQL lives only here.
//!
//! Queries are runtime-checked (`query_as` with `FromRow` rows) because one crate cannot
//! compile-check against two dialects; the store contract suite in `tests/api` runs every
//! behaviour against both backends instead.

mod batch;
mod error;
mod migrations;
mod pool;
pub mod postgres;
mod rows;
pub mod sqlite;
mod store_impl;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{DatabaseUrl, SqliteSync};
use crate::domain::ports::{Store, StoreError};

pub use self::batch::BatchCounts;
pub use self::migrations::{AppliedMigration, MigrationReport};

/// An open database: the store the domain uses, plus what only start-up needs to know.
pub struct Database {
    store: Arc<dyn Store>,
    backend: Backend,
}

enum Backend {
    Postgres {
        pool: pool::Connections<sqlx::PgConnection>,
        url: DatabaseUrl,
        /// The same store the domain holds, for what it counts.
        store: postgres::PgStore,
    },
    Sqlite {
        pool: pool::Connections<sqlx::SqliteConnection>,
        file: Option<PathBuf>,
    },
}

/// The pool alone, without what else the backend holds.
enum PoolHandle {
    Postgres(pool::Connections<sqlx::PgConnection>),
    Sqlite(pool::Connections<sqlx::SqliteConnection>),
}

impl Database {
    /// Connects to the database named by `url` (`postgres://…` or `sqlite:…`), eagerly, so a
    /// wrong URL or a database that is down is reported at start-up.
    pub async fn connect(
        url: &DatabaseUrl,
        max_connections: u32,
        sqlite_sync: SqliteSync,
    ) -> Result<Self, StoreError> {
        if url.is_sqlite() {
            let (store, file) = sqlite::SqliteStore::connect(url.expose(), sqlite_sync).await?;
            let pool = store.pool().clone();
            Ok(Self {
                store: Arc::new(store),
                backend: Backend::Sqlite { pool, file },
            })
        } else {
            let store = postgres::PgStore::connect(url.expose(), max_connections).await?;
            let pool = store.pool().clone();
            Ok(Self {
                store: Arc::new(store.clone()),
                backend: Backend::Postgres {
                    pool,
                    url: url.clone(),
                    store,
                },
            })
        }
    }

    /// Applies the embedded migrations that have not been applied yet, and says which it
    /// applied. Safe to run from several processes at once: sqlx serialises them with a
    /// database lock (PostgreSQL's advisory lock; SQLite has one writer), which is held from
    /// the first look at the applied versions to the last, so each process reports only what
    /// it applied itself.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let failed = |err| StoreError::Query(Box::new(err));
        match &self.backend {
            Backend::Postgres { pool, .. } => {
                let mut connection = pool.get().await?;
                let migrator = &postgres::MIGRATOR;
                let result = async {
                    let before = migrations::begin(&mut *connection, migrator).await?;
                    let run = migrator.run(&mut *connection).await;
                    migrations::finish(&mut *connection, migrator, before, run).await
                }
                .await;
                connection.finish(result.map_err(failed))
            }
            Backend::Sqlite { pool, .. } => {
                let mut connection = pool.get().await?;
                let migrator = &sqlite::MIGRATOR;
                let result = async {
                    let before = migrations::begin(&mut *connection, migrator).await?;
                    let run = migrator.run(&mut *connection).await;
                    migrations::finish(&mut *connection, migrator, before, run).await
                }
                .await;
                connection.finish(result.map_err(failed))
            }
        }
    }

    /// The store, for the domain.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// Whether this is the PostgreSQL backend.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres { .. })
    }

    /// The SQLite database file, unless this is PostgreSQL or an in-memory database.
    pub fn sqlite_file(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite { file, .. } => file.as_deref(),
            Backend::Postgres { .. } => None,
        }
    }

    /// A listener for key changes announced by other replicas: PostgreSQL only (`None` on
    /// SQLite, a single node, where the periodic reload suffices).
    pub async fn key_change_listener(&self) -> Result<Option<KeyChangeListener>, StoreError> {
        let Backend::Postgres { url, .. } = &self.backend else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(url.expose())
            .await
            .map_err(error::store_error)?;
        listener
            .listen(postgres::KEYS_CHANNEL)
            .await
            .map_err(error::store_error)?;
        Ok(Some(KeyChangeListener(listener)))
    }

    /// A reader of the connection pool's state, for metrics read at scrape time.
    pub fn pool_status(&self) -> impl Fn() -> PoolStatus + Send + Sync + 'static {
        let backend = match &self.backend {
            Backend::Postgres { pool, .. } => PoolHandle::Postgres(pool.clone()),
            Backend::Sqlite { pool, .. } => PoolHandle::Sqlite(pool.clone()),
        };
        move || match &backend {
            PoolHandle::Postgres(pool) => pool.status(),
            PoolHandle::Sqlite(pool) => pool.status(),
        }
    }

    /// A reader of how many rotation statements were sent and how many refreshes' rotations
    /// they carried, for metrics read at scrape time. PostgreSQL only: on SQLite each rotation
    /// is its own statement, in process, with no round trip to share.
    pub fn rotation_batches(&self) -> Option<impl Fn() -> BatchCounts + Send + Sync + 'static> {
        match &self.backend {
            Backend::Postgres { store, .. } => {
                let store = store.clone();
                Some(move || store.rotation_counts())
            }
            Backend::Sqlite { .. } => None,
        }
    }

    /// Closes the pool: idle connections now, those in use as they are returned.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Postgres { pool, .. } => pool.close().await,
            Backend::Sqlite { pool, .. } => pool.close().await,
        }
    }
}

/// A connection pool's state at one moment (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Open connections, idle or in use.
    pub size: usize,
    /// Idle connections.
    pub idle: usize,
    /// The most connections the pool opens.
    pub max_size: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

/// Notifications that another replica changed the signing keys.
pub struct KeyChangeListener(sqlx::postgres::PgListener);

impl KeyChangeListener {
    /// Waits for the next change. After a lost connection it reconnects by itself (changes
    /// announced meanwhile are caught by the periodic reload).
    pub async fn changed(&mut self) -> Result<(), StoreError> {
        self.0.recv().await.map(|_| ()).map_err(error::store_error)
    }
}
