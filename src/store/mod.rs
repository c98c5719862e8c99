//! Storage adapters: PostgreSQL (production) and SQLite (embedded default), both behind the
//! domain's [`Store`] port. SQL lives only here.
//!
//! Queries are runtime-checked (`query_as` with `FromRow` rows) because one crate cannot
//! compile-check against two dialects; the store contract suite in `tests/api` runs every
//! behaviour against both backends instead.

mod availability;
mod batch;
mod error;
mod migrations;
mod pool;
pub mod postgres;
mod rows;
mod shared_sql;
pub mod sqlite;
mod store_impl;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::{DatabaseUrl, SqliteSync};
use crate::domain::ports::{Availability, Store, StoreError};

pub use self::batch::BatchCounts;
pub use self::migrations::{AppliedMigration, MigrationReport};

/// How long tokenmint lets the database take, from `TOKENMINT_DB_TIMEOUT`.
///
/// A refresh should take milliseconds; a database that takes seconds is stalled, and the
/// client is better served by a quick 503 and a retry than by a request that runs into the
/// request timeout. Every limit is derived from the one setting:
///
/// | limit | value | what happens when it runs out |
/// |---|---|---|
/// | `statement_timeout` (PostgreSQL, per statement) | the setting | the server cancels and rolls back; 503 |
/// | `lock_timeout` (PostgreSQL, per lock wait) | half of it | the same |
/// | `lock_timeout` of a batch of rotations | 200 ms at most | the batch is rolled back and each of its rotations runs alone |
/// | SQLite's busy timeout (waiting for the write lock) | the setting | the same |
/// | `idle_in_transaction_session_timeout` | twice it | a transaction left open by a vanished replica releases its locks |
/// | operation deadline (in tokenmint) | the setting + 1 s | no answer at all (a dead connection): the connection is closed; 503 |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseTimeouts {
    /// `TOKENMINT_DB_TIMEOUT`: the longest one statement may run.
    pub statement: Duration,
}

impl DatabaseTimeouts {
    /// The longest an operation waits for the database's answer before tokenmint gives up on
    /// the connection: a little longer than the server's own limit, which should fire first.
    pub fn operation_deadline(self) -> Duration {
        self.statement + Duration::from_secs(1)
    }

    /// The longest one statement waits for a lock.
    pub fn lock(self) -> Duration {
        self.statement / 2
    }

    /// The PostgreSQL settings of a connection that waits at most `lock` for a lock.
    fn postgres_settings(self, lock: Duration) -> [(&'static str, String); 3] {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        [
            ("statement_timeout", ms(self.statement)),
            ("lock_timeout", ms(lock)),
            (
                "idle_in_transaction_session_timeout",
                ms(self.statement * 2),
            ),
        ]
    }
}

/// What [`Database::connect`] needs.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// `DATABASE_URL`.
    pub url: DatabaseUrl,
    /// `TOKENMINT_DB_MAX_CONNECTIONS` (PostgreSQL).
    pub max_connections: u32,
    /// `TOKENMINT_SQLITE_SYNCHRONOUS`.
    pub sqlite_sync: SqliteSync,
    /// `TOKENMINT_DB_TIMEOUT` and what follows from it.
    pub timeouts: DatabaseTimeouts,
}

/// An open database: the store the domain uses, plus what only start-up needs to know.
pub struct Database {
    store: Arc<dyn Store>,
    availability: Arc<dyn Availability>,
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
                backend: Backend::Sqlite { pool, file },
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
                // A migration may take longer than a request's statement, and may have to wait
                // for replicas' locks: no limit while migrating, then the usual ones again
                // (whatever the outcome: the connection goes back to the pool).
                let result = async {
                    sqlx::raw_sql("set statement_timeout = 0; set lock_timeout = 0")
                        .execute(&mut *connection)
                        .await?;
                    let before = migrations::begin(&mut *connection, migrator).await?;
                    let run = migrator.run(&mut *connection).await;
                    migrations::finish(&mut *connection, migrator, before, run).await
                }
                .await;
                let reset = sqlx::raw_sql("reset statement_timeout; reset lock_timeout")
                    .execute(&mut *connection)
                    .await;
                let result = result
                    .map_err(failed)
                    .and_then(|report| reset.map(|_| report).map_err(error::store_error));
                connection.finish(result)
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

    /// What this replica knows of the database's availability, for the domain.
    pub fn availability(&self) -> Arc<dyn Availability> {
        Arc::clone(&self.availability)
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

    /// A reader of the database's health as this replica sees it, for metrics read at scrape
    /// time.
    pub fn health(&self) -> impl Fn() -> DatabaseHealth + Send + Sync + 'static {
        let observer = match &self.backend {
            Backend::Postgres { pool, .. } => pool.observer().clone(),
            Backend::Sqlite { pool, .. } => pool.observer().clone(),
        };
        move || DatabaseHealth {
            writable: observer.writable(),
            outages: observer.outages_begun(),
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

/// The database's health as one replica sees it (for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseHealth {
    /// Whether the last attempt to write worked.
    pub writable: bool,
    /// Outages begun since start-up.
    pub outages: u64,
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
