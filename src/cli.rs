//! The command line: `tokenmint [serve]`, `migrate`, `keys list|rotate|revoke`, `admin-keys
//! create|list|revoke`, `sessions list|revoke`, `healthcheck`, `demo`. Commands use the same
//! configuration, store and domain services as the HTTP API.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::admin_keys::AdminKeys;
use crate::domain::keys::{KeyManager, NextKey, SigningAlgorithm};
use crate::domain::model::admin_keys::AdminRole;
use crate::domain::model::audit::{Actor, RequestContext};
use crate::domain::model::keys::SigningKeyRecord;
use crate::domain::model::sessions::{RevocationReason, Session};
use crate::domain::session_admin::SessionAdmin;
use crate::startup::{self, App};

/// tokenmint: exchanges an Appwrite session for short-lived access JWTs and rotating refresh
/// tokens that microservices verify locally against a published JWKS.
///
/// Configuration comes from the environment (see docs/reference/configuration.md for every
/// variable) and an optional tokenmint.toml.
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
    /// Manage admin keys (credentials for the admin API and introspection).
    #[command(subcommand, name = "admin-keys")]
    AdminKeys(AdminKeysCommand),
    /// See and revoke sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Probe the server on TOKENMINT_LISTEN (a container health check: the image has no curl):
    /// exit 0 when GET /readyz answers 200, 1 otherwise.
    Healthcheck {
        /// Probe liveness (GET /healthz) instead of readiness.
        #[arg(long)]
        liveness: bool,
    },
    /// Try tokenmint in one command: starts it on a throw-away SQLite file beside a local
    /// Appwrite stand-in (NOT Appwrite), then walks through exchange, verification, refresh,
    /// grace retry, reuse detection, admin revocation and the revocation feed, printing each
    /// step as a curl command and its answer. Ignores the configuration of this shell.
    Demo {
        /// Leave both servers up afterwards, with a fresh Appwrite JWT to exchange, until
        /// ctrl-c.
        #[arg(long)]
        keep_running: bool,
    },
}

/// `tokenmint admin-keys …`
#[derive(Debug, Subcommand)]
pub enum AdminKeysCommand {
    /// Create a key and print it, alone, on standard output. It is shown this once only.
    Create {
        /// A name for humans, e.g. "ops laptop" or "billing-service introspection".
        #[arg(long)]
        name: String,
        /// `admin` (the whole admin API, introspection and the revocation feed), `introspect`
        /// (introspection and the feed) or `feed` (the revocation feed only, for verifiers).
        #[arg(long, default_value = "admin", value_parser = ["admin", "introspect", "feed"])]
        role: String,
    },
    /// List keys (ids, names, roles, states; never secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id. Other replicas stop accepting it within TOKENMINT_ADMIN_KEY_CACHE_TTL.
    Revoke {
        /// The key id (the 16 hex digits after `tma_`).
        id: String,
    },
}

/// `tokenmint sessions …`
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List a user's sessions, newest first.
    List {
        /// The Appwrite user id.
        #[arg(long)]
        user: String,
        /// Include revoked and expired sessions.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one session, or all of a user's sessions (which also sets the user's not-before).
    #[command(group(clap::ArgGroup::new("target").required(true).args(["session", "user"])))]
    Revoke {
        /// The session id.
        #[arg(long)]
        session: Option<uuid::Uuid>,
        /// The Appwrite user id.
        #[arg(long)]
        user: Option<String>,
    },
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
    /// Remove a key at once (emergency: it leaked). It leaves the JWKS immediately; if it was
    /// signing, the `next` key, or a new key, signs from now on. Verifiers reject its tokens
    /// once they refetch the JWKS.
    Revoke {
        /// The key id.
        kid: String,
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
        Command::Migrate => run_migrate(&config).await,
        Command::Healthcheck { liveness } => {
            println!(
                "{}",
                crate::healthcheck::probe(config.listen, liveness).await?
            );
            Ok(())
        }
        Command::Demo { keep_running } => crate::demo::run(keep_running).await,
        Command::AdminKeys(command) => run_admin_keys(command, &config).await,
        Command::Sessions(command) => run_sessions(command, &config).await,
        Command::Keys(KeysCommand::List { json }) => {
            let keys = key_manager(&config).await?.list().await?;
            print_keys(&keys, json)
        }
        Command::Keys(KeysCommand::Revoke { kid }) => {
            let manager = key_manager(&config).await?;
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
        Command::Keys(KeysCommand::Rotate { alg }) => {
            let manager = key_manager(&config).await?;
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

/// `tokenmint migrate`: one line per migration applied, then the state of the schema.
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

async fn run_admin_keys(command: AdminKeysCommand, config: &Config) -> anyhow::Result<()> {
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

async fn run_sessions(command: SessionsCommand, config: &Config) -> anyhow::Result<()> {
    let database = startup::open_database(config, Arc::new(SystemClock)).await?;
    let clock = Arc::new(SystemClock);
    let access_ttl = startup::token_policy(config).access_ttl;
    let sessions = SessionAdmin::new(database.store(), clock.clone(), access_ttl);
    let context = RequestContext::default();
    match command {
        SessionsCommand::List { user, all, json } => {
            let mut rows = Vec::new();
            let mut cursor = None;
            loop {
                let page = sessions.list(&user, all, cursor, Some(200)).await?;
                rows.extend(page.items.iter().map(|s| session_row(s, clock.now())));
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            print_rows(
                &rows,
                json,
                &[
                    "id",
                    "active",
                    "created_at",
                    "last_used_at",
                    "device_name",
                    "revoked_reason",
                ],
            )?;
        }
        SessionsCommand::Revoke {
            session: Some(id), ..
        } => {
            match sessions
                .revoke(id, RevocationReason::Admin, Actor::System, &context)
                .await?
            {
                Some(_) => println!("session {id} is revoked"),
                None => anyhow::bail!("no session {id}"),
            }
        }
        SessionsCommand::Revoke {
            user: Some(user), ..
        } => {
            let revoked = sessions
                .revoke_all(
                    &user,
                    RevocationReason::UserRevokeAll,
                    Actor::System,
                    &context,
                )
                .await?;
            println!(
                "revoked {} session(s) of user {user}; access tokens issued before {} are no longer valid",
                revoked.sessions.len(),
                revoked.not_before.to_rfc3339()
            );
        }
        SessionsCommand::Revoke { .. } => anyhow::bail!("give --session ID or --user ID"),
    }
    database.close().await;
    Ok(())
}

fn session_row(session: &Session, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    serde_json::json!({
        "id": session.id.to_string(), "user_id": session.user_id, "active": session.is_active(now),
        "client_id": session.client_id, "device_name": session.device_name,
        "created_at": session.created_at.to_rfc3339(), "last_used_at": session.last_used_at.to_rfc3339(),
        "revoked_at": session.revoked_at.map(|t| t.to_rfc3339()),
        "revoked_reason": session.revoked_reason.map(|r| r.as_str()),
    })
}

/// JSON, or a plain table of the given columns.
fn print_rows(rows: &[serde_json::Value], json: bool, columns: &[&str]) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(rows).context("cannot render JSON")?
        );
        return Ok(());
    }
    println!(
        "{}",
        columns
            .iter()
            .map(|c| c.to_uppercase())
            .collect::<Vec<_>>()
            .join("\t")
    );
    for row in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match &row[*c] {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            })
            .collect();
        println!("{}", cells.join("\t"));
    }
    Ok(())
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
