//! The open database: the store the domain uses, and what start-up, metrics and shutdown need
//! of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::{Postgres, Sqlite};

use super::availability;
use super::batch::BatchCounts;
use super::error;
use super::migrations::{self, MigrationReport};
use super::options::DatabaseOptions;
use super::pool;
use super::postgres;
use super::shared::Backend as _;
use super::sqlite;
use super::status::{DatabaseHealth, PoolStatus};
use crate::clock::Clock;
use crate::config::DatabaseUrl;
use crate::domain::ports::{Availability, Store, StoreError};

/// An open database: the store the domain uses, plus what only start-up needs to know.
pub struct Database {
    store: Arc<dyn Store>,
    availability: Arc<dyn Availability>,
    backend: Opened,
}

/// The open backend: its pool, and what else only it has.
enum Opened {
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
    /// Connects to the database named by `options.url` (`postgres://…` or `sqlite:…`),
    /// eagerly, so a wrong URL or a database that is down is reported at start-up. What the
    /// database's availability looks like over time is measured on `clock`.
    pub async fn connect(
        options: &DatabaseOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let observer = availability::Observer::new(clock);
        let url = &options.url;
        if url.is_sqlite() {
            let (store, file) = sqlite::SqliteStore::connect(
                url.expose(),
                options.sqlite_sync,
                options.timeouts,
                observer,
            )
            .await?;
            let pool = store.pool().clone();
            let store = Arc::new(store);
            Ok(Self {
                availability: store.clone(),
                store,
                backend: Opened::Sqlite { pool, file },
            })
        } else {
            let store = postgres::PgStore::connect(
                url.expose(),
                options.max_connections,
                options.timeouts,
                observer,
            )
            .await?;
            let pool = store.pool().clone();
            let shared = Arc::new(store.clone());
            Ok(Self {
                availability: shared.clone(),
                store: shared,
                backend: Opened::Postgres {
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
        match &self.backend {
            Opened::Postgres { pool, .. } => {
                migrations::apply::<Postgres>(pool, &postgres::MIGRATOR).await
            }
            Opened::Sqlite { pool, .. } => {
                migrations::apply::<Sqlite>(pool, &sqlite::MIGRATOR).await
            }
        }
    }

    /// The store, for the domain.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// What this replica knows of the database's availability, for the domain.
    pub fn availability(&self) -> Arc<dyn Availability> {
        Arc::clone(&self.availability)
    }

    /// Whether this is the PostgreSQL backend.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Opened::Postgres { .. })
    }

    /// The SQLite database file, unless this is PostgreSQL or an in-memory database.
    pub fn sqlite_file(&self) -> Option<&Path> {
        match &self.backend {
            Opened::Sqlite { file, .. } => file.as_deref(),
            Opened::Postgres { .. } => None,
        }
    }

    /// A listener for key changes announced by other replicas: PostgreSQL only (`None` on
    /// SQLite, a single node, where the periodic reload suffices).
    pub async fn key_change_listener(&self) -> Result<Option<KeyChangeListener>, StoreError> {
        let Opened::Postgres { url, .. } = &self.backend else {
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
            Opened::Postgres { pool, .. } => PoolHandle::Postgres(pool.clone()),
            Opened::Sqlite { pool, .. } => PoolHandle::Sqlite(pool.clone()),
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
            Opened::Postgres { store, .. } => {
                let store = store.clone();
                Some(move || store.rotation_counts())
            }
            Opened::Sqlite { .. } => None,
        }
    }

    /// A reader of the database's health as this replica sees it, for metrics read at scrape
    /// time.
    pub fn health(&self) -> impl Fn() -> DatabaseHealth + Send + Sync + 'static {
        let observer = match &self.backend {
            Opened::Postgres { pool, .. } => pool.observer().clone(),
            Opened::Sqlite { pool, .. } => pool.observer().clone(),
        };
        move || DatabaseHealth {
            writable: observer.writable(),
            outages: observer.outages_begun(),
        }
    }

    /// Closes the pool: idle connections now, those in use as they are returned.
    pub async fn close(&self) {
        match &self.backend {
            Opened::Postgres { pool, .. } => pool.close().await,
            Opened::Sqlite { pool, .. } => pool.close().await,
        }
    }
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
