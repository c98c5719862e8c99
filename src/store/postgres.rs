//! The PostgreSQL store: production, any number of replicas on one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Arguments, Connection, Postgres};

use self::rotations::{BatchedRotation, Rotations};
use super::availability::Observer;
use super::batch::{BatchCounts, Batcher};
use super::dialect::{Dialect, Param, Record, Sql, Statements};
use super::error::store_error;
use super::options::DatabaseTimeouts;
use super::pool::{Checked, Connections};
use super::shared::{Backend, rotate_alone};
use crate::domain::model::sessions::Grant;
use crate::domain::ports::{Rotation, StoreError};

mod rotations;
mod sql;

/// The embedded PostgreSQL migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory-lock key that serialises revocation-feed writers (see `sql::LOCK_FEED`).
pub const FEED_LOCK_KEY: i64 = 7_305_135_110_520_627_025;

/// The `NOTIFY` channel announcing key changes (see `sql::NOTIFY_KEYS`).
pub const KEYS_CHANNEL: &str = "tokenmint_keys";

/// How long a request waits for a pooled connection before the database counts as
/// unavailable: short, so clients get a quick 503 instead of a hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How many rotation batches may run at once: half the connections (they get a pool of their
/// own), so exchanges and admin requests still find connections under refresh load. A second
/// batch starts only when more rotations wait than the running batches can take (see
/// `batch`): on the benchmark machine one batch at a time, as large as the queue, did the most
/// refreshes per second for the least CPU on both sides (docs/design/decisions.md, "Group rotation").
fn rotation_workers(pool_size: usize) -> usize {
    pool_size.div_ceil(2)
}

/// The longest a batch of rotations waits for a row lock. A row is locked for longer only by a
/// stalled or slow transaction (another rotation of the same token commits in milliseconds);
/// the batch then gives up, nothing of it written, and each of its rotations runs alone
/// (`ROTATE_ONE`, with the usual lock timeout), so the locked row delays the others by this
/// much and then only its own refresh. (Skipping locked rows inside the statement would spare
/// the others even that, but taking the rows' locks first cost every rotation 15–50 % more
/// database CPU and 8–10 % more WAL on the benchmark machine: docs/reliability.md.)
const BATCH_LOCK_TIMEOUT: Duration = Duration::from_millis(200);

/// At most this many refreshes share one statement.
const ROTATION_BATCH: usize = 64;

/// [`Store`](crate::domain::ports::Store) on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// Connections for everything but the batched rotations.
    pool: Connections<PgConnection>,
    rotations: Batcher<Rotations>,
}

impl PgStore {
    /// Connects to `url` with at most `max_connections` (half of them for batched rotations,
    /// at least one for everything else), opening one connection now so that a wrong URL or a
    /// database that is down (or only a standby) is reported at once.
    ///
    /// Every connection carries the server-side limits of `timeouts` (`statement_timeout`,
    /// `lock_timeout`, `idle_in_transaction_session_timeout`, sent with the start-up packet:
    /// no extra round trip), so a stalled statement or a row locked by a stuck transaction
    /// costs its request a 503 within the limit, never the request timeout. The batches'
    /// connections wait for a lock at most [`BATCH_LOCK_TIMEOUT`].
    pub(crate) async fn connect(
        url: &str,
        max_connections: u32,
        timeouts: DatabaseTimeouts,
        observer: Observer,
    ) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(store_error)?;
        let size = usize::try_from(max_connections).unwrap_or(usize::MAX);
        let workers = rotation_workers(size);
        let pool: Connections<PgConnection> = Connections::new(
            options
                .clone()
                .options(timeouts.postgres_settings(timeouts.lock())),
            size.saturating_sub(workers).max(1),
            ACQUIRE_TIMEOUT,
            timeouts.operation_deadline(),
            observer,
        )?;
        let probe = pool.get().await?;
        probe.finish(Ok(()))?;
        let batch_lock = BATCH_LOCK_TIMEOUT.min(timeouts.lock());
        let batch_pool = pool.sibling(
            options.options(timeouts.postgres_settings(batch_lock)),
            workers,
        )?;
        let rotations = Batcher::new(Rotations { pool: batch_pool }, workers, ROTATION_BATCH);
        Ok(Self { pool, rotations })
    }

    /// The rotation statements sent so far, and the rotations they carried.
    pub(super) fn rotation_counts(&self) -> BatchCounts {
        self.rotations.counts()
    }
}

impl Backend for PgStore {
    type Db = Postgres;

    fn pool(&self) -> &Connections<PgConnection> {
        &self.pool
    }

    /// In a batch with the rotations waiting beside it; alone when the batch found a row
    /// locked by another transaction.
    async fn rotate_current(&self, rotation: &Rotation) -> Result<Option<Grant>, StoreError> {
        let deadline = self.pool.deadline();
        let submitted = tokio::time::timeout(deadline, self.rotations.submit(rotation.clone()));
        let outcome = match submitted.await {
            Ok(outcome) => outcome?,
            // Dropping the submission withdraws the rotation if no batch has taken it yet;
            // if one has, it may still commit — the outage this reports covers the retry.
            Err(_) => {
                return Err(StoreError::Unavailable(
                    format!(
                        "no answer from the database within {} ms",
                        deadline.as_millis()
                    )
                    .into(),
                ));
            }
        };
        match outcome {
            BatchedRotation::Rotated(row) => Grant::try_from(row).map(Some),
            BatchedRotation::NotRotated => Ok(None),
            // Its batch gave up on a locked row; this rotation alone waits for its own (for at
            // most `lock_timeout`). Boxed: this rare path's future is large.
            BatchedRotation::Locked => {
                Box::pin(rotate_alone(self, sql::ROTATE_ONE, rotation, None)).await
            }
        }
    }
}

impl Checked for PgConnection {
    /// A standby (or a primary set read-only) is no use to tokenmint: every refresh writes.
    async fn is_writable(&mut self) -> Result<bool, StoreError> {
        let read_only: bool = sqlx::query_scalar(sql::READ_ONLY)
            .fetch_one(&mut *self)
            .await
            .map_err(store_error)?;
        Ok(!read_only)
    }
}

impl Dialect for Postgres {
    const SQL: Statements = sql::STATEMENTS;

    /// READ COMMITTED whatever the database's default: each statement then sees what committed
    /// before it, so a conditional update waits for a concurrent writer of the same row and
    /// re-evaluates its condition, and a read after a lock sees what the lock's previous
    /// holder wrote.
    async fn begin_write(
        connection: &mut PgConnection,
    ) -> Result<sqlx::Transaction<'_, Postgres>, StoreError> {
        connection
            .begin_with("begin isolation level read committed")
            .await
            .map_err(store_error)
    }

    async fn run_migrations(
        connection: &mut PgConnection,
        migrator: &'static Migrator,
    ) -> Result<(), MigrateError> {
        migrator.run(connection).await
    }

    /// A migration may take longer than a request's statement, and may have to wait for
    /// replicas' locks.
    async fn lift_limits(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::raw_sql("set statement_timeout = 0; set lock_timeout = 0")
            .execute(connection)
            .await
            .map(drop)
    }

    async fn restore_limits(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::raw_sql("reset statement_timeout; reset lock_timeout")
            .execute(connection)
            .await
            .map(drop)
    }

    fn add<'q, T: Param<'q>>(arguments: &mut Self::Arguments, value: T) -> Result<(), BoxDynError> {
        arguments.add(value)
    }

    async fn execute(
        connection: &mut PgConnection,
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
        connection: &mut PgConnection,
        statement: Sql<Self>,
    ) -> Result<Vec<R>, StoreError> {
        let (text, arguments) = statement.into_parts()?;
        sqlx::query_as_with(text, arguments)
            .fetch_all(connection)
            .await
            .map_err(store_error)
    }

    async fn fetch_optional<R: Record>(
        connection: &mut PgConnection,
        statement: Sql<Self>,
    ) -> Result<Option<R>, StoreError> {
        let (text, arguments) = statement.into_parts()?;
        sqlx::query_as_with(text, arguments)
            .fetch_optional(connection)
            .await
            .map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::postgres::{FEED_LOCK_KEY, sql};

    #[test]
    fn the_feed_lock_uses_the_published_key() {
        assert!(sql::LOCK_FEED.contains(&FEED_LOCK_KEY.to_string()));
    }
}
