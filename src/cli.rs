//! The command line: `tokenmint [serve]`, `migrate`, `keys list|rotate`. Commands use the same
//! configuration, store and domain services as the HTTP API.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::Config;
use crate::domain::keys::{KeyManager, NextKey, SigningAlgorithm, SigningKeyRecord};
use crate::startup::{self, App};

/// tokenmint: exchanges an Appwrite session for short-lived access JWTs and rotating refresh
/// tokens that microservices verify locally against a published JWKS.
///
/// Configuration comes from the environment (see the README for every variable) and an
/// optional tokenmint.toml.
#[derive(Debug, Parser)]
#[command(name = "tokenmint", version)]
pub struct Cli {
    /// Configuration file; defaults to ./tokenmint.toml when it exists. Environment
    /// variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A tokenmint command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default): applies migrations and creates the first signing key
    /// when needed.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `tokenmint keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their states (never shows private keys).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create the `next` key: published in the JWKS at once, signing after two JWKS cache
    /// lifetimes. Does nothing if a `next` key already exists.
    Rotate {
        /// Algorithm of the new key: ES256, EdDSA or RS256 (default: TOKENMINT_SIGNING_ALG).
        #[arg(long, value_parser = parse_algorithm)]
        alg: Option<SigningAlgorithm>,
    },
}

fn parse_algorithm(value: &str) -> Result<SigningAlgorithm, String> {
    value
        .parse()
        .map_err(|err: crate::crypto::signing::UnknownAlgorithm| err.to_string())
}

/// Runs the parsed command line with a loaded configuration.
pub async fn run(command: Option<Command>, config: Config) -> anyhow::Result<()> {
    match command.unwrap_or(Command::Serve) {
        Command::Serve => App::build(config).await?.run_until_stopped().await,
        Command::Migrate => {
            startup::open_database(&config).await?.close().await;
            println!("migrations applied; the database schema is up to date");
            Ok(())
        }
        Command::Keys(KeysCommand::List { json }) => {
            let keys = key_manager(&config).await?.list().await?;
            print_keys(&keys, json)
        }
        Command::Keys(KeysCommand::Rotate { alg }) => {
            let manager = key_manager(&config).await?;
            match manager
                .create_next_key(alg.unwrap_or(config.signing_alg))
                .await?
            {
                NextKey::Created(key) => println!(
                    "created next key {} ({}); it is published now and may sign from {}",
                    key.kid,
                    key.algorithm,
                    key.activates_at
                        .map_or_else(|| "now".into(), |t| t.to_rfc3339()),
                ),
                NextKey::AlreadyExists(key) => println!(
                    "a next key already exists: {} ({}); nothing changed",
                    key.kid, key.algorithm
                ),
            }
            Ok(())
        }
    }
}

async fn key_manager(config: &Config) -> anyhow::Result<KeyManager> {
    let database = startup::open_database(config).await?;
    let kek = startup::key_encryption_key(config, &database)?;
    Ok(KeyManager::new(
        database.store(),
        kek,
        Arc::new(SystemClock),
        config.jwks_max_age,
    ))
}

fn print_keys(keys: &[SigningKeyRecord], json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<_> = keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kid": k.kid,
                    "alg": k.algorithm.as_str(),
                    "state": k.state.as_str(),
                    "created_at": k.created_at.to_rfc3339(),
                    "activates_at": k.activates_at.map(|t| t.to_rfc3339()),
                    "retired_at": k.retired_at.map(|t| t.to_rfc3339()),
                    "publish_until": k.publish_until.map(|t| t.to_rfc3339()),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).context("cannot render JSON")?
        );
        return Ok(());
    }
    println!(
        "{:<44} {:<6} {:<8} {:<26} ACTIVATES",
        "KID", "ALG", "STATE", "CREATED"
    );
    for key in keys {
        println!(
            "{:<44} {:<6} {:<8} {:<26} {}",
            key.kid,
            key.algorithm,
            key.state,
            key.created_at.to_rfc3339(),
            key.activates_at
                .map_or_else(|| "-".into(), |t| t.to_rfc3339()),
        );
    }
    Ok(())
}
