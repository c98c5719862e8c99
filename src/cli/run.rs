//! Runs a parsed command line.

use std::sync::Arc;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::startup::{self, App};

use super::admin_keys::run_admin_keys;
use super::args::Command;
use super::keys::run_keys;
use super::sessions::run_sessions;

/// Runs the parsed command line with a loaded configuration.
pub async fn run(command: Option<Command>, config: Config) -> anyhow::Result<()> {
    match command.unwrap_or(Command::Serve) {
        Command::Serve => App::build(config).await?.run_until_stopped().await,
        Command::Migrate => run_migrate(&config).await,
        Command::Healthcheck { liveness } => {
            println!(
                "{}",
                crate::healthcheck::probe(config.listen, liveness).await?
            );
            Ok(())
        }
        #[cfg(feature = "demo")]
        Command::Demo { keep_running } => crate::demo::run(keep_running).await,
        Command::AdminKeys(command) => run_admin_keys(command, &config).await,
        Command::Sessions(command) => run_sessions(command, &config).await,
        Command::Keys(command) => run_keys(command, &config).await,
    }
}

async fn run_migrate(config: &Config) -> anyhow::Result<()> {
    let database = startup::connect_database(config, Arc::new(SystemClock)).await?;
    let report = startup::migrate_database(&database).await;
    database.close().await;
    let report = report?;
    for migration in &report.applied {
        println!(
            "applied migration {:04} {}",
            migration.version, migration.description
        );
    }
    println!("database is up to date ({} migrations)", report.total);
    Ok(())
}
