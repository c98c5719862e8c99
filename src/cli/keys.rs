//! `tokenmint keys list|rotate|revoke`.

use std::sync::Arc;

use anyhow::Context;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::domain::keys::{KeyManager, NextKey};
use crate::domain::model::audit::{Actor, RequestContext};
use crate::domain::model::keys::SigningKeyRecord;
use crate::startup::{self};

use super::args::KeysCommand;

/// Runs a `keys` subcommand.
pub(super) async fn run_keys(command: KeysCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        KeysCommand::List { json } => {
            let keys = key_manager(config).await?.list().await?;
            print_keys(&keys, json)
        }
        KeysCommand::Revoke { kid } => {
            let manager = key_manager(config).await?;
            if manager
                .revoke(
                    &kid,
                    config.signing_alg,
                    Actor::System,
                    &RequestContext::default(),
                )
                .await?
            {
                println!("revoked key {kid}; it is no longer published and no longer signs");
                Ok(())
            } else {
                anyhow::bail!("no signing key {kid}")
            }
        }
        KeysCommand::Rotate { alg } => {
            let manager = key_manager(config).await?;
            match manager
                .create_next_key(
                    alg.unwrap_or(config.signing_alg),
                    Actor::System,
                    &RequestContext::default(),
                )
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
    let database = startup::open_database(config, Arc::new(SystemClock)).await?;
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
