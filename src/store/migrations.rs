//! What `Database::migrate` applied: the embedded migrations compared with the versions the
//! database had before and has after sqlx's own run.

use sqlx::migrate::{Migrate, MigrateError, Migrator};

use super::dialect::Dialect;
use super::error::store_error;
use super::pool::Connections;
use crate::domain::ports::StoreError;

/// A migration applied by this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// Its version (the number in its file name, `0002_….sql` → 2).
    pub version: i64,
    /// Its description (the rest of the file name, underscores as spaces).
    pub description: String,
}

/// The outcome of applying the migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The migrations this call applied, oldest first; empty when the schema was current.
    pub applied: Vec<AppliedMigration>,
    /// How many migrations the database has applied now, these included.
    pub total: usize,
}

/// Applies `migrator`'s pending migrations on a connection of `pool`, with the connection's
/// limits lifted meanwhile (and restored whatever the outcome: the connection goes back to
/// the pool), and says which it applied.
pub(super) async fn apply<D: Dialect>(
    pool: &Connections<D::Connection>,
    migrator: &'static Migrator,
) -> Result<MigrationReport, StoreError> {
    let mut connection = pool.get().await?;
    let result = async {
        D::lift_limits(&mut *connection).await?;
        let before = begin(&mut *connection, migrator).await?;
        let run = D::run_migrations(&mut *connection, migrator).await;
        finish(&mut *connection, migrator, before, run).await
    }
    .await;
    let restored = D::restore_limits(&mut *connection).await;
    let result = result
        .map_err(|err| StoreError::Query(Box::new(err)))
        .and_then(|report| restored.map(|()| report).map_err(store_error));
    connection.finish(result)
}

/// Takes the migration lock (re-entrant on PostgreSQL: sqlx's run takes it again) and lists
/// the versions applied so far.
async fn begin<C: Migrate + ?Sized>(
    connection: &mut C,
    migrator: &Migrator,
) -> Result<Vec<i64>, MigrateError> {
    connection.lock().await?;
    let listed = async {
        connection
            .ensure_migrations_table(&migrator.table_name)
            .await?;
        connection
            .list_applied_migrations(&migrator.table_name)
            .await
    }
    .await;
    match listed {
        Ok(applied) => Ok(applied.into_iter().map(|m| m.version).collect()),
        Err(err) => {
            let _ = connection.unlock().await;
            Err(err)
        }
    }
}

/// Releases the lock taken by [`begin`] and reports what `run` applied.
async fn finish<C: Migrate + ?Sized>(
    connection: &mut C,
    migrator: &Migrator,
    before: Vec<i64>,
    run: Result<(), MigrateError>,
) -> Result<MigrationReport, MigrateError> {
    let unlocked = connection.unlock().await;
    run?;
    unlocked?;
    let after = connection
        .list_applied_migrations(&migrator.table_name)
        .await?;
    let applied = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| !before.contains(&m.version) && after.iter().any(|a| a.version == m.version))
        .map(|m| AppliedMigration {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect();
    Ok(MigrationReport {
        applied,
        total: after.len(),
    })
}
