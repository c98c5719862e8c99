//! `tokenmint admin-keys create|list|revoke`.

use std::str::FromStr;
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::domain::admin_keys::AdminKeys;
use crate::domain::model::admin_keys::AdminRole;
use crate::domain::model::audit::{Actor, RequestContext};
use crate::startup::{self};

use super::args::AdminKeysCommand;
use super::output::print_rows;

/// Runs an `admin-keys` subcommand.
pub(super) async fn run_admin_keys(
    command: AdminKeysCommand,
    config: &Config,
) -> anyhow::Result<()> {
    let database = startup::open_database(config, Arc::new(SystemClock)).await?;
    let keys = AdminKeys::new(
        database.store(),
        Arc::new(SystemClock),
        config.admin_key_cache_ttl,
    );
    let context = RequestContext::default();
    match command {
        AdminKeysCommand::Create { name, role } => {
            let role = AdminRole::from_str(&role)?;
            let (record, key) = keys.create(&name, role, Actor::System, &context).await?;
            eprintln!(
                "created admin key {} ({}, role {}); it is shown once, below",
                record.id, record.name, record.role
            );
            println!("{key}");
        }
        AdminKeysCommand::List { json } => {
            let rows: Vec<_> = keys
                .list()
                .await?
                .into_iter()
                .map(|k| {
                    serde_json::json!({
                        "id": k.id, "name": k.name, "role": k.role.as_str(),
                        "created_at": k.created_at.to_rfc3339(),
                        "revoked_at": k.revoked_at.map(|t| t.to_rfc3339()),
                    })
                })
                .collect();
            print_rows(
                &rows,
                json,
                &["id", "role", "name", "created_at", "revoked_at"],
            )?;
        }
        AdminKeysCommand::Revoke { id } => {
            if keys.revoke(&id, Actor::System, &context).await? {
                println!("revoked admin key {id}");
            } else {
                println!("admin key {id} is unknown or already revoked; nothing changed");
            }
        }
    }
    database.close().await;
    Ok(())
}
