//! Opening the configured database: connecting and applying migrations.

use std::sync::Arc;

use anyhow::Context;

use crate::clock::Clock;
use crate::config::Config;
use crate::store::{Database, DatabaseOptions, DatabaseTimeouts, MigrationReport};

/// Connects to the configured database and applies pending migrations. The database's
/// availability is measured on `clock`.
pub async fn open_database(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Database> {
    let database = connect_database(config, clock).await?;
    migrate_database(&database).await?;
    Ok(database)
}

/// What `Database::connect` needs, from the configuration.
pub fn database_options(config: &Config) -> DatabaseOptions {
    DatabaseOptions {
        url: config.database_url.clone(),
        max_connections: config.db_max_connections,
        sqlite_sync: config.sqlite_synchronous,
        timeouts: DatabaseTimeouts {
            statement: config.db_timeout,
        },
    }
}

/// Connects to the configured database, without migrating it.
pub async fn connect_database(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Database> {
    Database::connect(&database_options(config), clock)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {} (DATABASE_URL)",
                config.database_url
            )
        })
}

/// Applies pending migrations, logging each one applied.
pub async fn migrate_database(database: &Database) -> anyhow::Result<MigrationReport> {
    let report = database
        .migrate()
        .await
        .context("cannot apply the database migrations")?;
    for migration in &report.applied {
        tracing::info!(
            version = migration.version,
            description = %migration.description,
            "applied a database migration"
        );
    }
    Ok(report)
}
